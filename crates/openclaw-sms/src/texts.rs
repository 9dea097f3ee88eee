//! The texts the channel itself sends: plain GSM-7, no markdown.

/// The reply a new sender gets under `pairing`: what happened, their number, the code, and
/// the exact command the owner runs.
pub fn pairing_reply(sender: &str, code: &str) -> String {
    format!(
        "OpenClaw: access not configured.\n\nYour SMS phone number: {sender}\n\nPairing code: {code}\n\n\
         Ask the bot owner to approve with:\nopenclaw pairing approve sms {code}"
    )
}

/// The text `pairing approve --notify` sends.
pub const APPROVED_NOTICE: &str = "OpenClaw: your SMS access has been approved.";

/// The text an owner number gets about a new pairing request.
pub fn owner_notice(sender: &str, code: &str) -> String {
    format!(
        "{sender} asks to talk to your agent; reply APPROVE {code} or run openclaw pairing approve sms {code}"
    )
}

/// The answer to an owner's `APPROVE` that approved `sender`.
pub fn owner_approved(sender: &str) -> String {
    format!("OpenClaw: approved {sender}.")
}

/// The answer to an owner's `DENY` that denied `sender`.
pub fn owner_denied(sender: &str) -> String {
    format!("OpenClaw: denied {sender}.")
}

/// The answer to an owner's command whose code matches no live request.
pub fn owner_no_such_code(code: &str) -> String {
    format!("OpenClaw: no pending pairing request has code {code}.")
}

/// The answer to an owner's command whose code is not a pairing code at all (the text is not
/// quoted back).
pub fn owner_not_a_code() -> String {
    "OpenClaw: that is not a pairing code (8 letters and digits).".to_owned()
}

/// The notice appended to an agent turn when attachments could not be fetched.
pub fn unavailable_media_notice(count: u32) -> String {
    let noun = if count == 1 {
        "attachment"
    } else {
        "attachments"
    };
    format!("[{count} Twilio MMS {noun} unavailable]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_reply_is_plain_gsm7_and_names_the_command() {
        let text = pairing_reply("+15557654321", "ABCD2345");
        assert_eq!(
            text,
            "OpenClaw: access not configured.\n\nYour SMS phone number: +15557654321\n\nPairing code: ABCD2345\n\nAsk the bot owner to approve with:\nopenclaw pairing approve sms ABCD2345"
        );
        let report = openclaw_sms_text::analyze(&text);
        assert_eq!(report.encoding, openclaw_sms_text::Encoding::Gsm7);
        assert_eq!(report.segments, 2);
        assert_eq!(
            unavailable_media_notice(1),
            "[1 Twilio MMS attachment unavailable]"
        );
        assert_eq!(
            unavailable_media_notice(3),
            "[3 Twilio MMS attachments unavailable]"
        );
    }
}
