//! Twilio's message-segment-calculator, its own published test cases.
//!
//! Source: TwilioDevEd/message-segment-calculator, `tests/index.test.js` at commit 29a4bc2f
//! (`TestData`, "GSM-7 Escape Characters", "One grapheme UCS-2 characters", "Special tests",
//! "Line break styles tests", "Smart Encoding") and `tests/segments.test.js` at 4c1e2687.
//! The bodies there are runs of `1234567890…`; `digits(n)` rebuilds them. Not taken: the
//! Malaysian case (country-specific rules the calculator adds behind a flag, not Twilio's
//! default) and the bit sizes (`messageSize`, `totalSize`), which this crate does not expose.

use openclaw_sms_text::{Encoding, analyze, transliterate};

/// `"1234567890"` repeated and cut to `n` characters.
fn digits(n: usize) -> String {
    "1234567890".chars().cycle().take(n).collect()
}

/// `prefix` in place of the first digit of `digits(n)`.
fn led(prefix: &str, n: usize) -> String {
    format!("{prefix}{}", &digits(n)[1..])
}

fn check(body: &str, encoding: Encoding, segments: u32, characters: u32, scalars: usize) {
    let report = analyze(body);
    assert_eq!(
        (
            report.encoding,
            report.segments,
            report.characters,
            body.chars().count()
        ),
        (encoding, segments, characters, scalars),
        "{body:?}"
    );
}

#[test]
fn basic_tests() {
    use Encoding::{Gsm7, Ucs2};
    // (body, encoding, segments, characters, unicodeScalars) as in `TestData`.
    check(&digits(160), Gsm7, 1, 160, 160); // GSM-7 in one segment
    check(&digits(161), Gsm7, 2, 161, 161); // GSM-7 in two segments
    check(&digits(307), Gsm7, 3, 307, 307); // GSM-7 in three segments
    check(&led("😜", 69), Ucs2, 1, 69, 69); // UCS-2 message in one segment
    check(&led("😜", 70), Ucs2, 2, 70, 70); // UCS-2 message in two segments
    check(&led("😜", 134), Ucs2, 3, 134, 134); // UCS-2 message in three segments
    check(&led("🇮🇹", 67), Ucs2, 1, 67, 68); // two-scalar flag, one-segment boundary
    check(&led("🇮🇹", 68), Ucs2, 2, 68, 69); // two-scalar flag, two-segment boundary
    check(&led("🏳\u{fe0f}\u{200d}🌈", 65), Ucs2, 1, 65, 68); // four-scalar ZWJ flag, one segment
    check(&led("🏳\u{fe0f}\u{200d}🌈", 66), Ucs2, 2, 66, 69); // four-scalar ZWJ flag, two segments
}

#[test]
fn gsm7_escape_characters() {
    for escape in ['|', '^', '€', '{', '}', '[', ']', '~', '\\'] {
        let one = format!("{escape}{}", digits(158));
        let two = format!("{escape}{}", digits(159));
        assert_eq!(
            (analyze(&one).encoding, analyze(&one).segments),
            (Encoding::Gsm7, 1),
            "{escape}"
        );
        assert_eq!(
            (analyze(&two).encoding, analyze(&two).segments),
            (Encoding::Gsm7, 2),
            "{escape}"
        );
    }
}

#[test]
fn one_grapheme_ucs2_characters() {
    for c in ['Á', 'Ú', 'ú', 'ç', 'í', 'Í', 'ó', 'Ó'] {
        let seventy: String = std::iter::repeat_n(c, 70).collect();
        let seventy_one: String = std::iter::repeat_n(c, 71).collect();
        assert_eq!(
            (analyze(&seventy).encoding, analyze(&seventy).segments),
            (Encoding::Ucs2, 1),
            "{c}"
        );
        assert_eq!(analyze(&seventy_one).segments, 2, "{c}");
    }
}

#[test]
fn special_and_line_break_tests() {
    // Issue #18: GSM extension characters in a UCS-2 message cost one unit each.
    assert_eq!(analyze(&format!("😀{}", "]".repeat(68))).segments, 1);
    assert_eq!(analyze(&format!("😀{}", "]".repeat(69))).segments, 2);
    assert_eq!(analyze("\rabcde\r\n123").characters, 11);
    assert_eq!(analyze("\nabcde\n\n123\n").characters, 12);
    let accents = "e\u{301}\u{301}\u{301}";
    check(accents, Encoding::Ucs2, 1, 1, 4);
    // Issue #17: a grapheme of four units never splits.
    assert_eq!(analyze(&format!("{accents}{}", "a".repeat(66))).segments, 1);
    assert_eq!(analyze(&format!("{accents}{}", "a".repeat(67))).segments, 2);
}

#[test]
fn segments_analysis() {
    // segments.test.js: 307 GSM-7 characters and 😜 + 133 digits both end with a last segment
    // holding one character; in counts, three segments.
    assert_eq!(analyze(&digits(307)).segments, 3);
    assert_eq!(analyze(&digits(306)).segments, 2);
    assert_eq!(analyze(&led("😜", 134)).segments, 3);
    assert_eq!(analyze(&led("😜", 133)).segments, 2);
}

/// The calculator's Smart Encoding map, one line per character (`tests/data`).
fn smart_map() -> Vec<(char, String)> {
    include_str!("../data/smart-encoding-map.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|line| {
            let (code, value) = line.split_once('\t').expect("two columns");
            let code = u32::from_str_radix(code.trim_start_matches("U+"), 16).expect("hex");
            let value: String = serde_json::from_str(value).expect("JSON string");
            (char::from_u32(code).expect("scalar"), value)
        })
        .collect()
}

#[test]
fn smart_encoding_maps_every_entry() {
    let map = smart_map();
    assert_eq!(map.len(), 270);
    for (c, expected) in &map {
        let expected = match c {
            // Deliberate difference: the calculator reverses these two; we keep their direction.
            '\u{2039}' => "<",
            '\u{203a}' => ">",
            _ => expected.as_str(),
        };
        assert_eq!(
            transliterate(&c.to_string()),
            expected,
            "U+{:04X}",
            u32::from(*c)
        );
    }
    let all: String = map.iter().map(|(c, _)| *c).collect();
    let replaced: String = map
        .iter()
        .map(|(_, v)| v.as_str())
        .collect::<String>()
        .replace("><", "<>");
    assert_eq!(transliterate(&all), replaced);
}
