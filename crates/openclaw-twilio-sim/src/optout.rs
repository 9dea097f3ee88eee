//! Twilio's default keyword handling (STOP / START / HELP) and its standard replies.

/// The three keyword classes of Twilio's opt-out handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT.
    Stop,
    /// START, YES, UNSTOP.
    Start,
    /// HELP, INFO.
    Help,
}

/// Opt-out keywords, as Twilio's Advanced Opt-Out defaults list them
/// (<https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out>).
const STOP_WORDS: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Opt-in keywords.
const START_WORDS: [&str; 3] = ["START", "YES", "UNSTOP"];
/// Help keywords.
const HELP_WORDS: [&str; 2] = ["HELP", "INFO"];

/// Twilio's default reply to an opt-out keyword.
pub const STOP_REPLY: &str = "You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe.";
/// Twilio's default reply to an opt-in keyword.
pub const START_REPLY: &str = "You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.";
/// Twilio's default reply to a help keyword.
pub const HELP_REPLY: &str = "Reply STOP to unsubscribe. Msg&Data Rates May Apply.";

impl Keyword {
    /// Classifies a whole message body: only a message that is exactly one keyword
    /// (case-insensitive, surrounding whitespace ignored) counts; "STOP PLEASE" does not.
    pub(crate) fn classify(body: &str) -> Option<Self> {
        let word = body.trim().to_ascii_uppercase();
        if STOP_WORDS.contains(&word.as_str()) {
            Some(Self::Stop)
        } else if START_WORDS.contains(&word.as_str()) {
            Some(Self::Start)
        } else if HELP_WORDS.contains(&word.as_str()) {
            Some(Self::Help)
        } else {
            None
        }
    }

    /// The `OptOutType` webhook value.
    pub(crate) fn opt_out_type(self) -> &'static str {
        match self {
            Self::Stop => "STOP",
            Self::Start => "START",
            Self::Help => "HELP",
        }
    }

    /// Twilio's standard reply.
    pub(crate) fn reply(self) -> &'static str {
        match self {
            Self::Stop => STOP_REPLY,
            Self::Start => START_REPLY,
            Self::Help => HELP_REPLY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Option<Keyword>) {
        assert_eq!(Keyword::classify(body), expected, "{body:?}");
    }

    #[test]
    fn keyword_table() {
        check("STOP", Some(Keyword::Stop));
        check("stop", Some(Keyword::Stop));
        check(" Stop\n", Some(Keyword::Stop));
        check("unsubscribe", Some(Keyword::Stop));
        check("OptOut", Some(Keyword::Stop));
        check("revoke", Some(Keyword::Stop));
        check("STOP PLEASE", None);
        check("please stop", None);
        check("start", Some(Keyword::Start));
        check("YES", Some(Keyword::Start));
        check("unstop", Some(Keyword::Start));
        check("help", Some(Keyword::Help));
        check("INFO", Some(Keyword::Help));
        check("hello", None);
        check("", None);
    }
}
