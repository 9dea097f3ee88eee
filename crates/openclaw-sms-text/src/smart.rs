//! Twilio Smart Encoding: GSM-7 look-alikes for typographic and fullwidth characters.
//!
//! The table is Twilio's "List of characters replaced by Smart Encoding"
//! (<https://twilio.com/docs/messaging/services/smart-encoding-char-list>) as emulated by
//! TwilioDevEd/message-segment-calculator `src/libs/SmartEncodingMap.ts` (270 entries), with one
//! deliberate difference: the calculator maps `‹` (U+2039) to `>` and `›` (U+203A) to `<`,
//! which reverses them; here `‹` becomes `<` and `›` becomes `>`.
//!
//! Four additions that the table lacks and model replies are full of (see
//! [`SMART_ENCODING_ADDITIONS`]): the non-breaking hyphen U+2011, the figure dash U+2012 and the
//! minus sign U+2212 become `-`; the soft hyphen U+00AD is removed. Without them one `‑` keeps a
//! whole reply in UCS-2.

use std::borrow::Cow;

use crate::gsm;

/// The Smart Encoding table, sorted by character: each character and its replacement.
///
/// Some replacements are longer than the character (`…` -> `...`, `½` -> `1/2`, a no-break
/// space -> two spaces, TAB -> seven spaces), some are empty (zero-width spaces, word joiner,
/// BOM and a few C0 controls are removed).
pub const SMART_ENCODING_TABLE: &[(char, &str)] = &[
    ('\u{0000}', ""),
    ('\u{0003}', ""),
    ('\u{0004}', ""),
    ('\u{0009}', "       "),
    ('\u{0010}', ""),
    ('\u{0011}', ""),
    ('\u{0012}', ""),
    ('\u{0013}', ""),
    ('\u{0014}', ""),
    ('\u{0017}', ""),
    ('\u{0019}', ""),
    ('\u{0060}', "'"),
    ('\u{0080}', "  "),
    ('\u{008d}', "  "),
    ('\u{0090}', "  "),
    ('\u{009b}', "  "),
    ('\u{009f}', "  "),
    ('\u{00a0}', "  "),
    ('\u{00ab}', "\""),
    ('\u{00b4}', "'"),
    ('\u{00bb}', "\""),
    ('\u{00bc}', "1/4"),
    ('\u{00bd}', "1/2"),
    ('\u{00be}', "3/4"),
    ('\u{00f7}', "/"),
    ('\u{01c3}', "!"),
    ('\u{0262}', "G"),
    ('\u{026a}', "I"),
    ('\u{0274}', "N"),
    ('\u{0280}', "R"),
    ('\u{028f}', "Y"),
    ('\u{0299}', "B"),
    ('\u{029c}', "H"),
    ('\u{029f}', "L"),
    ('\u{02b9}', "'"),
    ('\u{02ba}', "\""),
    ('\u{02bb}', "'"),
    ('\u{02bc}', "'"),
    ('\u{02bd}', "'"),
    ('\u{02c6}', "^"),
    ('\u{02c8}', "'"),
    ('\u{02ca}', "'"),
    ('\u{02cb}', "'"),
    ('\u{02d0}', ":"),
    ('\u{02d6}', "+"),
    ('\u{02dc}', "~"),
    ('\u{02ee}', "\""),
    ('\u{02f7}', "~"),
    ('\u{02f8}', ":"),
    ('\u{0302}', "^"),
    ('\u{0303}', "~"),
    ('\u{0313}', "'"),
    ('\u{0314}', "'"),
    ('\u{0326}', ","),
    ('\u{0330}', "~"),
    ('\u{0332}', "_"),
    ('\u{0334}', "~"),
    ('\u{0337}', "/"),
    ('\u{0338}', "/"),
    ('\u{0347}', "="),
    ('\u{1d00}', "A"),
    ('\u{1d04}', "C"),
    ('\u{1d05}', "D"),
    ('\u{1d07}', "E"),
    ('\u{1d0a}', "J"),
    ('\u{1d0b}', "K"),
    ('\u{1d0d}', "M"),
    ('\u{1d0f}', "O"),
    ('\u{1d18}', "P"),
    ('\u{1d1b}', "T"),
    ('\u{1d1c}', "U"),
    ('\u{1d20}', "V"),
    ('\u{1d21}', "W"),
    ('\u{1d22}', "Z"),
    ('\u{1dcd}', "^"),
    ('\u{2000}', "  "),
    ('\u{2001}', " "),
    ('\u{2002}', "  "),
    ('\u{2003}', "  "),
    ('\u{2004}', "  "),
    ('\u{2005}', "  "),
    ('\u{2006}', "  "),
    ('\u{2007}', "  "),
    ('\u{2008}', "  "),
    ('\u{2009}', "  "),
    ('\u{200a}', "  "),
    ('\u{200b}', ""),
    ('\u{2010}', "-"),
    ('\u{2013}', "-"),
    ('\u{2014}', "-"),
    ('\u{2015}', "-"),
    ('\u{2017}', "_"),
    ('\u{2018}', "'"),
    ('\u{2019}', "'"),
    ('\u{201a}', ","),
    ('\u{201b}', "'"),
    ('\u{201c}', "\""),
    ('\u{201d}', "\""),
    ('\u{201e}', "\""),
    ('\u{201f}', "\""),
    ('\u{2022}', "-"),
    ('\u{2026}', "..."),
    ('\u{2028}', " "),
    ('\u{2029}', " "),
    ('\u{202f}', "  "),
    ('\u{2039}', "<"),
    ('\u{203a}', ">"),
    ('\u{203c}', "!!"),
    ('\u{2043}', "-"),
    ('\u{2044}', "/"),
    ('\u{204e}', "*"),
    ('\u{204f}', ";"),
    ('\u{205f}', "  "),
    ('\u{2060}', ""),
    ('\u{20d2}', "|"),
    ('\u{20d3}', "|"),
    ('\u{20e5}', "\\"),
    ('\u{2215}', "/"),
    ('\u{2217}', "*"),
    ('\u{2223}', "|"),
    ('\u{223c}', "~"),
    ('\u{229b}', "*"),
    ('\u{239c}', "|"),
    ('\u{239f}', "|"),
    ('\u{23b8}', "|"),
    ('\u{23b9}', "|"),
    ('\u{23bc}', "-"),
    ('\u{23bd}', "-"),
    ('\u{23d0}', "|"),
    ('\u{2722}', "*"),
    ('\u{2723}', "*"),
    ('\u{2724}', "*"),
    ('\u{2725}', "*"),
    ('\u{2731}', "*"),
    ('\u{2732}', "*"),
    ('\u{2733}', "*"),
    ('\u{273a}', "*"),
    ('\u{273b}', "*"),
    ('\u{273c}', "*"),
    ('\u{273d}', "*"),
    ('\u{2743}', "*"),
    ('\u{2749}', "*"),
    ('\u{274a}', "*"),
    ('\u{274b}', "*"),
    ('\u{275b}', "'"),
    ('\u{275c}', "'"),
    ('\u{275d}', "\""),
    ('\u{275e}', "\""),
    ('\u{2768}', "("),
    ('\u{2769}', ")"),
    ('\u{276a}', "("),
    ('\u{276b}', ")"),
    ('\u{2774}', "{"),
    ('\u{2775}', "}"),
    ('\u{27ee}', "("),
    ('\u{27ef}', ")"),
    ('\u{2982}', ":"),
    ('\u{2985}', "("),
    ('\u{2986}', ")"),
    ('\u{29c6}', "*"),
    ('\u{29f5}', "\\"),
    ('\u{29f8}', "/"),
    ('\u{29f9}', "\\"),
    ('\u{3000}', "  "),
    ('\u{3001}', ","),
    ('\u{3002}', "."),
    ('\u{301d}', "\""),
    ('\u{301e}', "\""),
    ('\u{a730}', "F"),
    ('\u{a731}', "S"),
    ('\u{a789}', ":"),
    ('\u{a78a}', "="),
    ('\u{fe10}', "'"),
    ('\u{fe11}', "'"),
    ('\u{fe13}', ":"),
    ('\u{fe14}', ";"),
    ('\u{fe15}', "!"),
    ('\u{fe16}', "?"),
    ('\u{fe50}', ","),
    ('\u{fe51}', ","),
    ('\u{fe52}', "."),
    ('\u{fe54}', ";"),
    ('\u{fe56}', "?"),
    ('\u{fe57}', "!"),
    ('\u{fe59}', "("),
    ('\u{fe5a}', ")"),
    ('\u{fe5b}', "{"),
    ('\u{fe5c}', "}"),
    ('\u{fe5f}', "#"),
    ('\u{fe60}', "&"),
    ('\u{fe61}', "*"),
    ('\u{fe62}', "+"),
    ('\u{fe63}', "-"),
    ('\u{fe64}', "<"),
    ('\u{fe65}', ">"),
    ('\u{fe66}', "="),
    ('\u{fe68}', "\\"),
    ('\u{fe69}', "$"),
    ('\u{fe6a}', "%"),
    ('\u{fe6b}', "@"),
    ('\u{feff}', ""),
    ('\u{ff01}', "!"),
    ('\u{ff02}', "\""),
    ('\u{ff03}', "#"),
    ('\u{ff04}', "$"),
    ('\u{ff05}', "%"),
    ('\u{ff06}', "&"),
    ('\u{ff07}', "'"),
    ('\u{ff08}', "("),
    ('\u{ff09}', ")"),
    ('\u{ff0a}', "*"),
    ('\u{ff0b}', "+"),
    ('\u{ff0c}', ","),
    ('\u{ff0d}', "-"),
    ('\u{ff0e}', "."),
    ('\u{ff0f}', "/"),
    ('\u{ff10}', "0"),
    ('\u{ff11}', "1"),
    ('\u{ff12}', "2"),
    ('\u{ff13}', "3"),
    ('\u{ff14}', "4"),
    ('\u{ff15}', "5"),
    ('\u{ff16}', "6"),
    ('\u{ff17}', "7"),
    ('\u{ff18}', "8"),
    ('\u{ff19}', "9"),
    ('\u{ff1a}', ":"),
    ('\u{ff1b}', ";"),
    ('\u{ff1c}', "<"),
    ('\u{ff1d}', "="),
    ('\u{ff1e}', ">"),
    ('\u{ff1f}', "?"),
    ('\u{ff20}', "@"),
    ('\u{ff21}', "A"),
    ('\u{ff22}', "B"),
    ('\u{ff23}', "C"),
    ('\u{ff24}', "D"),
    ('\u{ff25}', "E"),
    ('\u{ff26}', "F"),
    ('\u{ff27}', "G"),
    ('\u{ff28}', "H"),
    ('\u{ff29}', "I"),
    ('\u{ff2a}', "J"),
    ('\u{ff2b}', "K"),
    ('\u{ff2c}', "L"),
    ('\u{ff2d}', "M"),
    ('\u{ff2e}', "N"),
    ('\u{ff2f}', "O"),
    ('\u{ff30}', "P"),
    ('\u{ff31}', "Q"),
    ('\u{ff32}', "R"),
    ('\u{ff33}', "S"),
    ('\u{ff34}', "T"),
    ('\u{ff35}', "U"),
    ('\u{ff36}', "V"),
    ('\u{ff37}', "W"),
    ('\u{ff38}', "X"),
    ('\u{ff39}', "Y"),
    ('\u{ff3a}', "Z"),
    ('\u{ff3b}', "["),
    ('\u{ff3c}', "\\"),
    ('\u{ff3d}', "]"),
    ('\u{ff3e}', "^"),
    ('\u{ff3f}', "_"),
    ('\u{ff5b}', "{"),
    ('\u{ff5c}', "|"),
    ('\u{ff5d}', "}"),
    ('\u{ff5e}', "~"),
    ('\u{ff61}', "."),
    ('\u{ff64}', ","),
];

/// Replacements this crate adds to Twilio's table (sorted by character).
pub const SMART_ENCODING_ADDITIONS: &[(char, &str)] = &[
    ('\u{00ad}', ""),
    ('\u{2011}', "-"),
    ('\u{2012}', "-"),
    ('\u{2212}', "-"),
];

/// The replacement of one character, from [`SMART_ENCODING_TABLE`] or
/// [`SMART_ENCODING_ADDITIONS`].
#[must_use]
pub fn smart_replacement(c: char) -> Option<&'static str> {
    if c.is_ascii() && !c.is_ascii_control() && c != '`' {
        return None;
    }
    let find = |table: &'static [(char, &'static str)]| {
        table
            .binary_search_by_key(&c, |&(k, _)| k)
            .ok()
            .map(|i| table[i].1)
    };
    find(SMART_ENCODING_TABLE).or_else(|| find(SMART_ENCODING_ADDITIONS))
}

/// Replaces every character that has an entry in the Smart Encoding table, unconditionally.
///
/// This is what the calculator's `smartEncoding` flag does. Most callers want
/// [`smart_encode`], which, like Twilio, only keeps the replacements when they make the whole
/// text GSM-7.
#[must_use]
pub fn transliterate(text: &str) -> Cow<'_, str> {
    // Printable ASCII other than the backtick never changes: copy such runs whole.
    let plain = |b: u8| (0x20..0x7f).contains(&b) && b != b'`' || b == b'\n' || b == b'\r';
    let bytes = text.as_bytes();
    let Some(first) = text
        .char_indices()
        .find(|&(i, c)| !plain(bytes[i]) && smart_replacement(c).is_some())
        .map(|(i, _)| i)
    else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    let mut rest = &text[first..];
    while !rest.is_empty() {
        let run = rest.bytes().position(|b| !plain(b)).unwrap_or(rest.len());
        out.push_str(&rest[..run]);
        rest = &rest[run..];
        let Some(c) = rest.chars().next() else { break };
        match smart_replacement(c) {
            Some(r) => out.push_str(r),
            None => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// Twilio Smart Encoding: replaces look-alikes (curly quotes, dashes, ellipsis, unusual spaces,
/// fullwidth ASCII, …) when, and only when, that makes the whole text GSM-7.
///
/// Text that truly needs UCS-2 (emoji, Japanese, Chinese, accented letters outside GSM-7)
/// comes back unchanged, as Twilio does ("if there are GSM7/ASCII alternatives and no
/// characters that can't be converted in the message"): there the replacements would not save
/// a segment, and `…` -> `...` would even cost two more units.
///
/// ```
/// use openclaw_sms_text::smart_encode;
///
/// assert_eq!(smart_encode("It’s “fine” — really…"), "It's \"fine\" - really...");
/// assert_eq!(smart_encode("It’s fine 👍"), "It’s fine 👍");
/// ```
#[must_use]
pub fn smart_encode(text: &str) -> Cow<'_, str> {
    if gsm::is_gsm7(text) {
        return Cow::Borrowed(text);
    }
    let replaced = transliterate(text);
    if gsm::is_gsm7(&replaced) {
        replaced
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_maps_to_gsm() {
        assert_eq!(SMART_ENCODING_TABLE.len(), 270);
        for pair in SMART_ENCODING_TABLE.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} before {:?}", pair[0], pair[1]);
        }
        for pair in SMART_ENCODING_ADDITIONS.windows(2) {
            assert!(pair[0].0 < pair[1].0);
        }
        for &(c, r) in SMART_ENCODING_TABLE.iter().chain(SMART_ENCODING_ADDITIONS) {
            assert!(gsm::is_gsm7(r), "{c:?} -> {r:?}");
            assert!(gsm::septets(c).is_none(), "{c:?} is already GSM-7");
        }
        for (c, _) in SMART_ENCODING_ADDITIONS {
            assert!(
                SMART_ENCODING_TABLE
                    .binary_search_by_key(c, |&(k, _)| k)
                    .is_err(),
                "{c:?} is in Twilio's table"
            );
        }
    }

    fn check(input: &str, expected: &str) {
        assert_eq!(smart_encode(input), expected, "{input:?}");
    }

    #[test]
    fn smart_encode_cases() {
        check("plain", "plain");
        check("“Hello”! Can’t wait…", "\"Hello\"! Can't wait...");
        check("a\u{a0}b", "a  b");
        check("x\u{200b}y", "xy");
        check("‹a› «b»", "<a> \"b\"");
        check("ＡＢＣ１２３", "ABC123");
        check("½ • ‼", "1/2 - !!");
        check("`code`", "'code'");
        check("Can’t 😀", "Can’t 😀");
        check("日本語です。", "日本語です。");
        check("Café crème", "Café crème");
        check(
            "non\u{2011}breaking, 2\u{2212}1, soft\u{ad}hyphen",
            "non-breaking, 2-1, softhyphen",
        );
    }
}
