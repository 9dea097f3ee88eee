//! Encoding detection and segment counting, as Twilio's message-segment-calculator does it.
//!
//! Model (TwilioDevEd/message-segment-calculator `SegmentedMessage.ts`, `Segment.ts`,
//! `EncodedChar.ts`): a segment holds [`SEGMENT_BITS`] bits; a message of more than one segment
//! reserves a [`UDH_BITS`]-bit User Data Header in every segment. The text is cut into grapheme
//! clusters (CR LF counts as two); a grapheme never straddles two segments: when it does not
//! fit, it moves whole to the next one. In GSM-7 a character costs 7 bits per septet (2 septets
//! for the extension table); in UCS-2 every grapheme costs 16 bits per UTF-16 unit.

use std::fmt;

use serde::Serialize;
use unicode_segmentation::UnicodeSegmentation;

use crate::gsm;

/// Bits in one SMS segment: 140 octets.
pub const SEGMENT_BITS: u32 = 1120;
/// Bits reserved in each segment of a concatenated message for the User Data Header (6 octets).
pub const UDH_BITS: u32 = 48;
/// GSM-7 characters (septets) in a single-segment message.
pub const GSM7_SINGLE_SEGMENT: u32 = 160;
/// GSM-7 septets per segment of a concatenated message.
pub const GSM7_MULTI_SEGMENT: u32 = 153;
/// UCS-2 (UTF-16) units in a single-segment message.
pub const UCS2_SINGLE_SEGMENT: u32 = 70;
/// UCS-2 (UTF-16) units per segment of a concatenated message.
pub const UCS2_MULTI_SEGMENT: u32 = 67;

/// The character encoding of a message on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Encoding {
    /// The GSM 03.38 7-bit default alphabet: 160 characters a segment, 153 when concatenated.
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UCS-2 (really UTF-16): 70 units a segment, 67 when concatenated.
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl Encoding {
    /// The name Twilio and the calculator use: `"GSM-7"` or `"UCS-2"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one message costs: its encoding, segments and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SegmentReport {
    /// GSM-7 if every grapheme is a single GSM-7 character, else UCS-2.
    pub encoding: Encoding,
    /// Segments Twilio bills for the text sent as one message (0 for the empty text, which
    /// cannot be sent; the calculator would say 1).
    pub segments: u32,
    /// The calculator's `numberOfCharacters`: septets in GSM-7 (an extension character counts
    /// 2), grapheme clusters in UCS-2 (CR LF counts 2).
    pub characters: u32,
    /// UTF-16 code units: what Twilio's 1,600-character `Body` limit counts.
    pub units: u32,
}

/// Encoding and segment count of `text` sent as one message.
///
/// ```
/// use openclaw_sms_text::{analyze, Encoding};
///
/// let report = analyze("Meet at 5 [room 2]");
/// assert_eq!((report.encoding, report.segments, report.characters), (Encoding::Gsm7, 1, 20));
/// let report = analyze(&"😀".repeat(40));
/// assert_eq!((report.encoding, report.segments, report.units), (Encoding::Ucs2, 2, 80));
/// ```
#[must_use]
pub fn analyze(text: &str) -> SegmentReport {
    let mut gsm = Packer::new();
    let mut ucs = Packer::new();
    let mut is_gsm = true;
    let mut septets: u32 = 0;
    let mut graphemes: u32 = 0;
    let mut units: u32 = 0;
    for_each_grapheme(text, |g| {
        graphemes += 1;
        let (g_units, g_septets) = match g {
            Grapheme::Ascii(b) => (1, gsm::ascii_septets(b)),
            Grapheme::Other(s) => {
                let n = utf16_len(s);
                let mut chars = s.chars();
                let sep = match (chars.next(), chars.next()) {
                    (Some(c), None) if n == 1 => gsm::septets(c).unwrap_or(0),
                    _ => 0,
                };
                (n, sep)
            }
        };
        units = units.saturating_add(g_units);
        if is_gsm {
            if g_septets == 0 {
                is_gsm = false;
            } else {
                septets += u32::from(g_septets);
                gsm.push(7 * u32::from(g_septets));
            }
        }
        // In UCS-2 a GSM-7 character (even an extension one) costs 16 bits: one unit.
        ucs.push(16u32.saturating_mul(g_units));
    });
    let (encoding, packer, characters) = if is_gsm {
        (Encoding::Gsm7, gsm, septets)
    } else {
        (Encoding::Ucs2, ucs, graphemes)
    };
    SegmentReport {
        encoding,
        segments: if units == 0 { 0 } else { packer.segments },
        characters,
        units,
    }
}

/// UTF-16 code units of `text` (what JavaScript's `length` and Twilio's `Body` limit count).
#[must_use]
pub fn utf16_len(text: &str) -> u32 {
    let n: usize = text.chars().map(char::len_utf16).sum();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The calculator's segment builder, without keeping the characters: only the sizes of the
/// last few graphemes of the first segment are kept, for the moment a User Data Header is
/// added to it and graphemes that no longer fit move to the second segment.
#[derive(Debug, Clone, Copy)]
struct Packer {
    segments: u32,
    /// Bits used in the current segment, header included (may exceed a segment when a single
    /// grapheme is larger than one, as in the calculator).
    used: u32,
    /// The current segment is the first one and has no header yet.
    first: bool,
    /// Sizes of the last graphemes of the first segment (a stack; the oldest drop off).
    recent: [u32; RECENT],
    recent_len: usize,
}

/// Graphemes to remember: at most [`UDH_BITS`] must be freed and every grapheme is at least 7
/// bits, so 7 suffice.
const RECENT: usize = 8;

impl Packer {
    const fn new() -> Self {
        Self {
            segments: 1,
            used: 0,
            first: true,
            recent: [0; RECENT],
            recent_len: 0,
        }
    }

    #[inline]
    fn push(&mut self, bits: u32) {
        if SEGMENT_BITS.saturating_sub(self.used) < bits || self.used > SEGMENT_BITS {
            let mut carried = 0;
            if self.first {
                // `addHeader`: the first segment gets its header, and graphemes move to the
                // new segment until the first one fits again.
                let mut used = self.used + UDH_BITS;
                while used > SEGMENT_BITS && self.recent_len > 0 {
                    self.recent_len -= 1;
                    let moved = self.recent[self.recent_len];
                    used -= moved;
                    carried += moved;
                }
                self.first = false;
            }
            self.segments += 1;
            self.used = UDH_BITS + carried;
        }
        self.used = self.used.saturating_add(bits);
        if self.first {
            if self.recent_len == RECENT {
                self.recent.copy_within(1.., 0);
                self.recent_len -= 1;
            }
            self.recent[self.recent_len] = bits;
            self.recent_len += 1;
        }
    }
}

/// One grapheme cluster, with a fast path for lone ASCII characters.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Grapheme<'a> {
    /// An ASCII character that is a grapheme on its own.
    Ascii(u8),
    /// Any other grapheme cluster.
    Other(&'a str),
}

/// Calls `f` for each grapheme cluster of `text`, in order, with CR LF split into two (as the
/// calculator does).
///
/// An ASCII character followed by another ASCII character (or the end) is a grapheme of its
/// own (the only exception, CR LF, is split anyway), and there is always a boundary before an
/// ASCII character that starts such a pair when the previous cluster was found by the
/// Unicode segmenter, so the segmenter only runs over the non-ASCII stretches.
pub(crate) fn for_each_grapheme<'a>(text: &'a str, mut f: impl FnMut(Grapheme<'a>)) {
    let bytes = text.as_bytes();
    let len = bytes.len();
    let ascii_pair_at = |i: usize| bytes[i] < 0x80 && (i + 1 == len || bytes[i + 1] < 0x80);
    let mut i = 0;
    while i < len {
        if ascii_pair_at(i) {
            f(Grapheme::Ascii(bytes[i]));
            i += 1;
            continue;
        }
        let start = i;
        for (offset, g) in text[start..].grapheme_indices(true) {
            if g == "\r\n" {
                f(Grapheme::Ascii(b'\r'));
                f(Grapheme::Ascii(b'\n'));
            } else if g.len() == 1 {
                f(Grapheme::Ascii(g.as_bytes()[0]));
            } else {
                f(Grapheme::Other(g));
            }
            i = start + offset + g.len();
            if i < len && ascii_pair_at(i) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graphemes(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_grapheme(text, |g| {
            out.push(match g {
                Grapheme::Ascii(b) => char::from(b).to_string(),
                Grapheme::Other(s) => s.to_owned(),
            });
        });
        out
    }

    #[test]
    fn fast_path_agrees_with_the_segmenter() {
        for text in [
            "",
            "abc",
            "a\r\nb",
            "e\u{301}x",
            "🇮🇹🇫🇷a",
            "x👩‍👩‍👧y",
            "\u{600}1 a",
            "日本語です。abc",
            "a\u{301}\u{301}\r\n",
        ] {
            let expected: Vec<String> = text
                .graphemes(true)
                .flat_map(|g| {
                    if g == "\r\n" {
                        vec!["\r".to_owned(), "\n".to_owned()]
                    } else {
                        vec![g.to_owned()]
                    }
                })
                .collect();
            assert_eq!(graphemes(text), expected, "{text:?}");
        }
    }

    fn check(text: &str, encoding: Encoding, segments: u32, characters: u32) {
        let r = analyze(text);
        assert_eq!(
            (r.encoding, r.segments, r.characters),
            (encoding, segments, characters),
            "{text:?}"
        );
    }

    #[test]
    fn boundaries() {
        use Encoding::{Gsm7, Ucs2};
        check("", Gsm7, 0, 0);
        check(&"a".repeat(160), Gsm7, 1, 160);
        check(&"a".repeat(161), Gsm7, 2, 161);
        check(&"a".repeat(306), Gsm7, 2, 306);
        check(&"a".repeat(307), Gsm7, 3, 307);
        check(&"[".repeat(80), Gsm7, 1, 160);
        // 152 septets then an escape pair: the pair does not fit in 153, so it moves whole.
        check(
            &format!("{}{}", "a".repeat(152), "[".repeat(5)),
            Gsm7,
            2,
            162,
        );
        check(&"é".repeat(160), Gsm7, 1, 160);
        check(&"ê".repeat(70), Ucs2, 1, 70);
        check(&"ê".repeat(71), Ucs2, 2, 71);
        check(&"ê".repeat(134), Ucs2, 2, 134);
        check(&"ê".repeat(135), Ucs2, 3, 135);
        check(&"😀".repeat(35), Ucs2, 1, 35);
        check(&"😀".repeat(36), Ucs2, 2, 36);
        // 66 units then an emoji: the surrogate pair never splits, so it moves to segment 2.
        check(&format!("{}😀", "ê".repeat(66)), Ucs2, 1, 67);
        check(&format!("{}😀", "ê".repeat(69)), Ucs2, 2, 70);
    }

    #[test]
    fn units_count_utf16() {
        assert_eq!(analyze("a😀é").units, 4);
        assert_eq!(utf16_len("a😀é"), 4);
    }
}
