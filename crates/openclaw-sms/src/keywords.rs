//! SMS keywords handled by the channel itself: opt-out, opt-in and help. None of them reaches
//! the agent.
//!
//! Matched on the whole message (trimmed, case-insensitive), as carriers and Twilio's Advanced
//! Opt-Out do, or taken from Twilio's `OptOutType` field when present.

/// Keywords that opt the sender out.
pub const OPT_OUT_KEYWORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Keywords that opt the sender back in.
pub const OPT_IN_KEYWORDS: &[&str] = &["START", "YES", "UNSTOP"];
/// Keywords that ask for help.
pub const HELP_KEYWORDS: &[&str] = &["HELP", "INFO"];

/// What a keyword message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Stop sending to me; the keyword as received (upper-cased).
    OptOut(&'static str),
    /// Start sending again.
    OptIn(&'static str),
    /// Help.
    Help,
}

/// Classifies a message by `OptOutType` (Twilio's Advanced Opt-Out) first, then by its body.
pub fn classify(body: &str, opt_out_type: Option<&str>) -> Option<Keyword> {
    match opt_out_type
        .map(|t| t.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("STOP") => {
            return Some(Keyword::OptOut(
                find(body, OPT_OUT_KEYWORDS).unwrap_or("STOP"),
            ));
        }
        Some("START") => {
            return Some(Keyword::OptIn(
                find(body, OPT_IN_KEYWORDS).unwrap_or("START"),
            ));
        }
        Some("HELP") => return Some(Keyword::Help),
        _ => {}
    }
    if let Some(k) = find(body, OPT_OUT_KEYWORDS) {
        return Some(Keyword::OptOut(k));
    }
    if let Some(k) = find(body, OPT_IN_KEYWORDS) {
        return Some(Keyword::OptIn(k));
    }
    find(body, HELP_KEYWORDS).map(|_| Keyword::Help)
}

fn find(body: &str, list: &[&'static str]) -> Option<&'static str> {
    let word = body.trim();
    list.iter().copied().find(|k| k.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, Option<&str>, Option<Keyword>)] = &[
            ("STOP", None, Some(Keyword::OptOut("STOP"))),
            ("  stop \n", None, Some(Keyword::OptOut("STOP"))),
            ("Unsubscribe", None, Some(Keyword::OptOut("UNSUBSCRIBE"))),
            ("optout", None, Some(Keyword::OptOut("OPTOUT"))),
            ("please stop", None, None),
            ("STOP!", None, None),
            ("start", None, Some(Keyword::OptIn("START"))),
            ("Yes", None, Some(Keyword::OptIn("YES"))),
            ("unstop", None, Some(Keyword::OptIn("UNSTOP"))),
            ("help", None, Some(Keyword::Help)),
            ("INFO", None, Some(Keyword::Help)),
            ("what is the weather", None, None),
            ("arrêt", Some("STOP"), Some(Keyword::OptOut("STOP"))),
            ("go", Some("start"), Some(Keyword::OptIn("START"))),
            ("aide", Some("HELP"), Some(Keyword::Help)),
            ("hello", Some(""), None),
        ];
        for (body, opt_out_type, expected) in cases {
            assert_eq!(
                classify(body, *opt_out_type),
                *expected,
                "{body:?} {opt_out_type:?}"
            );
        }
    }
}
