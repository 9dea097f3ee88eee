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
    let tally = Tally::of(text);
    let (encoding, characters) = if tally.gsm {
        (Encoding::Gsm7, tally.septets)
    } else {
        (Encoding::Ucs2, tally.graphemes)
    };
    let segments = if tally.units == 0 {
        0
    } else if tally.gsm && !tally.escape {
        // Every character is 7 bits: 160, then 153 a segment.
        closed_form(tally.septets, GSM7_SINGLE_SEGMENT, GSM7_MULTI_SEGMENT)
    } else if !tally.gsm && !tally.multi_unit {
        // Every grapheme is 16 bits: 70, then 67 a segment.
        closed_form(tally.graphemes, UCS2_SINGLE_SEGMENT, UCS2_MULTI_SEGMENT)
    } else {
        pack(text, encoding)
    };
    SegmentReport {
        encoding,
        segments,
        characters,
        units: tally.units,
    }
}

fn closed_form(n: u32, single: u32, multi: u32) -> u32 {
    if n <= single { 1 } else { n.div_ceil(multi) }
}

/// What one pass over the graphemes learns.
#[derive(Debug, Default)]
struct Tally {
    septets: u32,
    graphemes: u32,
    units: u32,
    gsm: bool,
    /// A GSM-7 extension character (2 septets) occurs.
    escape: bool,
    /// A grapheme of more than one UTF-16 unit occurs.
    multi_unit: bool,
}

impl Tally {
    fn of(text: &str) -> Self {
        let mut t = Self {
            gsm: true,
            ..Self::default()
        };
        for_each_piece(text, |piece| match piece {
            Piece::Ascii(run) => {
                // Saturate rather than wrap for absurd (over 4 GB) inputs.
                let len = u32::try_from(run.len()).unwrap_or(u32::MAX);
                t.graphemes = t.graphemes.saturating_add(len);
                t.units = t.units.saturating_add(len);
                let (mut septets, mut zero, mut two) = (0u32, false, false);
                for &b in run {
                    let sep = gsm::ascii_septets(b);
                    septets += u32::from(sep);
                    zero |= sep == 0;
                    two |= sep == 2;
                }
                t.septets = t.septets.saturating_add(septets);
                t.gsm &= !zero;
                t.escape |= two;
            }
            Piece::Other(g) => {
                let n = utf16_len(g);
                t.graphemes = t.graphemes.saturating_add(1);
                t.units = t.units.saturating_add(n);
                t.multi_unit |= n > 1;
                let sep = if n == 1 {
                    g.chars().next().and_then(gsm::septets).unwrap_or(0)
                } else {
                    0
                };
                t.gsm &= sep != 0;
                t.escape |= sep == 2;
                t.septets = t.septets.saturating_add(u32::from(sep));
            }
        });
        t
    }
}

/// A run of ASCII characters that are each a grapheme of their own (CR LF counted as two), or
/// one other grapheme cluster.
enum Piece<'a> {
    Ascii(&'a [u8]),
    Other(&'a str),
}

/// Calls `f` with the pieces of `text`, in order.
fn for_each_piece<'a>(text: &'a str, mut f: impl FnMut(Piece<'a>)) {
    let bytes = text.as_bytes();
    let len = bytes.len();
    let mut i = 0;
    while i < len {
        // ASCII bytes followed by ASCII (or the end) stand alone.
        let run_end = bytes[i..]
            .iter()
            .position(|&b| b >= 0x80)
            .map_or(len, |p| i + p);
        let lone_end = if run_end == len {
            len
        } else {
            run_end.saturating_sub(1).max(i)
        };
        if lone_end > i {
            f(Piece::Ascii(&bytes[i..lone_end]));
            i = lone_end;
            continue;
        }
        let start = i;
        for (offset, g) in text[start..].grapheme_indices(true) {
            match g.as_bytes() {
                b @ ([_] | b"\r\n") => f(Piece::Ascii(b)),
                _ => f(Piece::Other(g)),
            }
            i = start + offset + g.len();
            if i < len && bytes[i] < 0x80 && (i + 1 == len || bytes[i + 1] < 0x80) {
                break;
            }
        }
    }
}

/// Segments by the calculator's packing, for texts whose graphemes differ in size.
fn pack(text: &str, encoding: Encoding) -> u32 {
    let mut packer = Packer::new();
    for_each_piece(text, |piece| match (encoding, piece) {
        // In UCS-2 a GSM-7 character (even an extension one) costs 16 bits: one unit.
        (Encoding::Ucs2, Piece::Ascii(run)) => packer.push_many(16, run.len()),
        (Encoding::Ucs2, Piece::Other(g)) => packer.push(16u32.saturating_mul(utf16_len(g))),
        (Encoding::Gsm7, Piece::Ascii(run)) => {
            let mut rest = run;
            while let Some(&first) = rest.first() {
                let sep = gsm::ascii_septets(first);
                let same = rest
                    .iter()
                    .position(|&b| gsm::ascii_septets(b) != sep)
                    .unwrap_or(rest.len());
                packer.push_many(7 * u32::from(sep), same);
                rest = &rest[same..];
            }
        }
        (Encoding::Gsm7, Piece::Other(g)) => {
            packer.push(7 * u32::from(g.chars().next().and_then(gsm::septets).unwrap_or(1)));
        }
    });
    packer.segments
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

    /// Pushes `count` graphemes of `bits` each: the same as `count` calls to [`push`], in
    /// constant time once past the first segment.
    ///
    /// [`push`]: Self::push
    fn push_many(&mut self, bits: u32, count: usize) {
        let mut count = u32::try_from(count).unwrap_or(u32::MAX);
        while count > 0 && self.first {
            self.push(bits);
            count -= 1;
        }
        if count == 0 || bits == 0 {
            return;
        }
        let fit_now = SEGMENT_BITS.saturating_sub(self.used) / bits;
        if count <= fit_now {
            self.used += count * bits;
            return;
        }
        count -= fit_now;
        // Every later segment starts with its header and takes `per` graphemes.
        let per = ((SEGMENT_BITS - UDH_BITS) / bits).max(1);
        let (full, rest) = (count / per, count % per);
        if rest == 0 {
            self.segments = self.segments.saturating_add(full);
            self.used = UDH_BITS + per * bits;
        } else {
            self.segments = self.segments.saturating_add(full + 1);
            self.used = UDH_BITS + rest * bits;
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

/// Extended grapheme clusters of `text` from byte `start` (a cluster boundary), with their
/// byte offsets, as `unicode-segmentation` finds them, but fast on ASCII.
///
/// An ASCII character followed by another ASCII character (or the end) is a cluster of its
/// own, except CR LF; and once the Unicode segmenter has found a boundary before such a pair
/// (always the case after ASCII), the pair's first character is a cluster. So the segmenter
/// only runs over the non-ASCII stretches and the ASCII character before each.
pub(crate) struct Graphemes<'a> {
    text: &'a str,
    pos: usize,
    slow: Option<(usize, unicode_segmentation::GraphemeIndices<'a>)>,
}

impl<'a> Graphemes<'a> {
    pub(crate) fn new(text: &'a str, start: usize) -> Self {
        Self {
            text,
            pos: start,
            slow: None,
        }
    }

    /// Whether an ASCII character at `i` is a cluster of its own.
    #[inline]
    fn lone_ascii_at(&self, i: usize) -> bool {
        let b = self.text.as_bytes();
        b[i] < 0x80
            && b.get(i + 1).is_none_or(|&n| n < 0x80)
            && !(b[i] == b'\r' && b.get(i + 1) == Some(&b'\n'))
    }
}

impl<'a> Iterator for Graphemes<'a> {
    type Item = (usize, &'a str);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some((base, slow)) = &mut self.slow {
            if let Some((offset, g)) = slow.next() {
                let start = *base + offset;
                self.pos = start + g.len();
                if self.pos < self.text.len() && self.lone_ascii_at(self.pos) {
                    self.slow = None;
                }
                return Some((start, g));
            }
            self.slow = None;
            self.pos = self.text.len();
            return None;
        }
        let pos = self.pos;
        if pos >= self.text.len() {
            return None;
        }
        if self.lone_ascii_at(pos) {
            self.pos = pos + 1;
            return Some((pos, &self.text[pos..=pos]));
        }
        self.slow = Some((pos, self.text[pos..].grapheme_indices(true)));
        self.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calculator's graphemes (CR LF split), through `for_each_piece`.
    fn graphemes(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_piece(text, |piece| match piece {
            Piece::Ascii(run) => out.extend(run.iter().map(|&b| char::from(b).to_string())),
            Piece::Other(g) => out.push(g.to_owned()),
        });
        out
    }

    #[test]
    fn fast_iterator_agrees_with_the_segmenter() {
        for text in [
            "",
            "a\r\nb\r",
            "\r\n\r\n",
            "e\u{301}x",
            "🇮🇹🇫🇷a",
            "x👩‍👩‍👧y",
            "\u{600}1 a",
            "日本語です。abc",
        ] {
            let ours: Vec<(usize, &str)> = Graphemes::new(text, 0).collect();
            let theirs: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
            assert_eq!(ours, theirs, "{text:?}");
        }
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
    fn packing_agrees_with_the_closed_forms() {
        for n in 1..=700 {
            let gsm = "a".repeat(n);
            let ucs = "ж".repeat(n);
            let n = u32::try_from(n).unwrap();
            assert_eq!(pack(&gsm, Encoding::Gsm7), closed_form(n, 160, 153), "{n}");
            assert_eq!(pack(&ucs, Encoding::Ucs2), closed_form(n, 70, 67), "{n}");
        }
    }

    #[test]
    fn push_many_is_repeated_push() {
        for start in [0u32, 1, 100, 159, 160, 161, 400] {
            for (bits, count) in [
                (7, 0),
                (7, 1),
                (7, 152),
                (7, 153),
                (7, 154),
                (14, 77),
                (16, 67),
                (16, 200),
                (32, 33),
                (32, 34),
            ] {
                let mut one = Packer::new();
                let mut many = Packer::new();
                for _ in 0..start {
                    one.push(if start % 2 == 0 { 7 } else { 16 });
                    many.push(if start % 2 == 0 { 7 } else { 16 });
                }
                for _ in 0..count {
                    one.push(bits);
                }
                many.push_many(bits, count as usize);
                assert_eq!(
                    (one.segments, one.used),
                    (many.segments, many.used),
                    "{start} then {count} x {bits}"
                );
            }
        }
    }

    #[test]
    fn units_count_utf16() {
        assert_eq!(analyze("a😀é").units, 4);
        assert_eq!(utf16_len("a😀é"), 4);
    }
}
