//! What an operator should do about a Twilio error code. Pure.
//!
//! Twilio documents each code at `https://www.twilio.com/docs/api/errors/<code>`; a hint here
//! is one line of what to change, for the codes an operator of an SMS or voice channel meets and
//! can fix. Codes without a hint answer `None`: show the code and Twilio's own message.

/// The operator hint for a Twilio error code (messaging, voice and account codes).
///
/// ```
/// assert!(openclaw_twilio::hint_for_code(21610).unwrap().contains("STOP"));
/// assert!(openclaw_twilio::hint_for_code(12100).unwrap().contains("TwiML"));
/// assert_eq!(openclaw_twilio::hint_for_code(1), None);
/// ```
#[must_use]
pub fn hint_for_code(code: u32) -> Option<&'static str> {
    Some(match code {
        // Account and REST API.
        20003 => {
            "authentication failed: check the Account SID and Auth Token (or API Key SID and secret)"
        }
        20429 => "too many concurrent requests to Twilio: retry with backoff",
        // Webhooks (any product): Twilio could not fetch or read our answer.
        11200 => {
            "Twilio could not fetch the webhook: check that the public URL reaches the gateway and answers 200"
        }
        12100 => {
            "the webhook answered a document that is not valid TwiML: check the XML it returns"
        }
        12300 => {
            "the webhook answered with a Content-Type Twilio cannot read: answer text/xml TwiML"
        }
        // Messaging.
        21211 => "the To number is not a valid phone number",
        21408 => "sending to this region is not enabled: enable it in Twilio Geo Permissions",
        21606 => {
            "the From number is not an SMS-capable Twilio number of this account for this destination"
        }
        21608 => "trial account: verify the recipient number or upgrade the account",
        21610 => "the recipient replied STOP: no messages until they send START",
        21611 => "the sender's queue is full (over 10 hours of messages): send later",
        21612 => "Twilio cannot route to this To number",
        21614 => "the To number cannot receive SMS (e.g. a landline)",
        21617 => "the message body exceeds 1600 characters: split it first",
        21658 => "a parameter exceeded its character limit (Body over 1600 characters)",
        21659 => "the From number is not a Twilio number or does not match the destination country",
        21661 => "the From number cannot send SMS",
        // Messaging: delivery (status callbacks' ErrorCode).
        30003 => {
            "the handset is unreachable (off, no signal, or cannot take SMS): usually temporary; the text is not retried by Twilio"
        }
        30004 => "the message was blocked: the recipient blocked the sender, or the carrier did",
        30005 => "the destination number is unknown to its carrier or no longer in service",
        30006 => "the destination is a landline or a carrier the sender cannot reach: do not retry",
        30007 => {
            "the carrier filtered the message: register the sender (A2P 10DLC or toll-free verification) and review the content"
        }
        30008 => "unknown delivery error: retry once; if it repeats, ask Twilio support",
        30032 => "the toll-free sender is not verified: complete toll-free verification",
        30034 => "US A2P 10DLC: the sender is not registered to an approved campaign",
        // Voice: call set-up.
        21205 => {
            "the call's Url is not a valid URL: give an absolute http(s) URL that serves TwiML"
        }
        21210 => {
            "the From number is not a Twilio number or verified caller ID of this account: verify it or use one of yours"
        }
        21215 => {
            "calling this country is not enabled: enable it in the Voice Geo Permissions of the Twilio console"
        }
        21216 => "this account may not call that number (e.g. a premium or blocked destination)",
        21217 => "the To number is not a valid phone number for a call",
        21219 => "trial account: verify the number you call or upgrade the account",
        21220 => "the call is not in a state that allows this change (e.g. it has already ended)",
        // Voice: TwiML at run time.
        13224 => "<Dial>: the number is not valid or Twilio does not call it",
        13227 => "<Dial>: calling this country is not enabled in the Voice Geo Permissions",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::hint_for_code;

    #[test]
    fn the_delivery_codes_of_status_callbacks_have_hints() {
        // The codes an owner meets most in `ErrorCode` of undelivered or failed messages.
        for code in [30003, 30004, 30005, 30006, 30007, 30008, 30032, 30034] {
            assert!(hint_for_code(code).is_some(), "{code} has no hint");
        }
        assert!(hint_for_code(30007).unwrap().contains("filtered"));
        assert_eq!(hint_for_code(30009), None);
    }
}
