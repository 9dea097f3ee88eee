//! Twilio-style identifiers: a two-letter prefix and 32 lowercase hex digits.

/// A fresh random SID with `prefix` (`SM`, `PN`, `MG`, ...).
pub(crate) fn new_sid(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// Whether `value` is `prefix` followed by exactly 32 hex digits (Twilio's one SID rule, from
/// `openclaw-twilio`).
pub(crate) fn is_sid(value: &str, prefix: &str) -> bool {
    openclaw_twilio::sid::is_sid(value, &[prefix])
}

/// Whether `value` looks like an E.164 number: `+`, a non-zero digit, then 7 to 14 more digits.
pub(crate) fn is_e164(value: &str) -> bool {
    let Some(digits) = value.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_e164(input: &str, expected: bool) {
        assert_eq!(is_e164(input), expected, "{input}");
    }

    #[test]
    fn e164_table() {
        check_e164("+15557654321", true);
        check_e164("+4915112345678", true);
        check_e164("15557654321", false);
        check_e164("+0555765432", false);
        check_e164("+1555", false);
        check_e164("+1555765432100000", false);
        check_e164("+1555-765-4321", false);
        check_e164("", false);
    }

    #[test]
    fn sids_have_prefix_and_hex() {
        let sid = new_sid("SM");
        assert!(is_sid(&sid, "SM"), "{sid}");
        assert!(!is_sid(&sid, "MM"));
        assert!(!is_sid("SMxyz", "SM"));
        assert!(!is_sid(&format!("{sid}0"), "SM"));
    }
}
