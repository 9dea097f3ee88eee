//! A small segment counter for `num_segments` and `NumSegments`.
//!
//! It follows Twilio's model closely enough for a simulator (GSM-7: 160/153 septets with
//! extension characters counted twice; otherwise UTF-16: 70/67 units) but is not the exact
//! splitter: the production one is `openclaw-sms-text`.

/// GSM-7 basic characters outside printable ASCII (ASCII minus backtick is all GSM-7).
const GSM_EXTRA: &str = "£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r";
/// GSM-7 extension characters (two septets each).
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// Number of SMS segments Twilio would bill for `body`; at least 1 for a non-empty body.
pub(crate) fn count(body: &str) -> u32 {
    if body.is_empty() {
        return 0;
    }
    let mut septets = 0usize;
    let mut gsm = true;
    for c in body.chars() {
        if GSM_EXTENSION.contains(c) {
            septets += 2;
        } else if (c.is_ascii_graphic() && c != '`') || c == ' ' || GSM_EXTRA.contains(c) {
            septets += 1;
        } else {
            gsm = false;
            break;
        }
    }
    let (units, single, multi) = if gsm {
        (septets, 160, 153)
    } else {
        (body.encode_utf16().count(), 70, 67)
    };
    let segments = if units <= single {
        1
    } else {
        units.div_ceil(multi)
    };
    u32::try_from(segments).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: u32) {
        assert_eq!(count(body), expected, "{body:?}");
    }

    #[test]
    fn segment_table() {
        check("", 0);
        check("hello", 1);
        check(&"a".repeat(160), 1);
        check(&"a".repeat(161), 2);
        check(&"a".repeat(306), 2);
        check(&"a".repeat(307), 3);
        check(&"[".repeat(80), 1);
        check(&"[".repeat(81), 2);
        check(&"é".repeat(160), 1);
        check(&"😀".repeat(35), 1);
        check(&"😀".repeat(36), 2);
        check("`", 1);
        check(&"`".repeat(71), 2);
    }
}
