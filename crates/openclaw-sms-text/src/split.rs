//! Splitting a reply into SMS parts that Twilio accepts, on readable boundaries; see [`split`].

use std::ops::Range;
use std::str::FromStr;

use serde::Serialize;

use crate::error::ParseChunkLimitError;
use crate::gsm;
use crate::segments::{Encoding, Graphemes, analyze, utf16_len};
use crate::smart;

/// Default part size in UTF-16 units (upstream `textChunkLimit` default).
pub const DEFAULT_CHUNK_LIMIT: u32 = 1500;
/// Twilio's `Body` limit in UTF-16 units: no part is ever larger.
pub const MAX_CHUNK_LIMIT: u32 = 1600;
/// The smallest part size: one UCS-2 segment. A smaller part is still billed a whole
/// segment, so a smaller limit would only multiply messages (upstream once sent one message
/// per character for a limit of 0).
pub const MIN_CHUNK_LIMIT: u32 = 70;
/// A kind of break is preferred only if the part is at least this full (percent of the limit).
pub const MIN_FILL_PERCENT: usize = 50;
/// Appended, on its own line, to the last part of a reply cut by the segment budget.
pub const TRUNCATION_NOTICE: &str = "(reply shortened to fit the SMS budget)";
/// Longest input echoed back in a [`ParseChunkLimitError`].
const ECHO_LIMIT: usize = 32;

/// The largest part, in UTF-16 units: `min(textChunkLimit, 1600)`, never below
/// [`MIN_CHUNK_LIMIT`]; 0 and nonsense mean [`DEFAULT_CHUNK_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ChunkLimit(u32);

impl ChunkLimit {
    /// [`DEFAULT_CHUNK_LIMIT`] units.
    pub const DEFAULT: Self = Self(DEFAULT_CHUNK_LIMIT);
    /// [`MAX_CHUNK_LIMIT`] units.
    pub const MAX: Self = Self(MAX_CHUNK_LIMIT);
    /// [`MIN_CHUNK_LIMIT`] units.
    pub const MIN: Self = Self(MIN_CHUNK_LIMIT);

    /// A limit of `units`: 0 means the default, values above 1600 are capped at 1600, values
    /// below 70 are raised to 70.
    ///
    /// ```
    /// use openclaw_sms_text::ChunkLimit;
    ///
    /// assert_eq!(ChunkLimit::new(0), ChunkLimit::DEFAULT);
    /// assert_eq!(ChunkLimit::new(5).units(), 70);
    /// assert_eq!(ChunkLimit::new(10_000).units(), 1600);
    /// ```
    #[must_use]
    pub const fn new(units: u64) -> Self {
        if units == 0 {
            Self::DEFAULT
        } else if units > MAX_CHUNK_LIMIT as u64 {
            Self::MAX
        } else if units < MIN_CHUNK_LIMIT as u64 {
            Self::MIN
        } else {
            // In range 70..=1600 by the checks above.
            Self(units as u32)
        }
    }

    /// A limit from a configuration number (JSON numbers are floats): NaN, infinities, zero
    /// and negative values mean the default; fractions are rounded down; then as [`new`].
    ///
    /// [`new`]: Self::new
    #[must_use]
    pub fn from_number(value: f64) -> Self {
        if !value.is_finite() || value < 1.0 {
            return Self::DEFAULT;
        }
        if value >= f64::from(MAX_CHUNK_LIMIT) {
            return Self::MAX;
        }
        // 1.0 <= value < 1600.0 here, so the conversion is exact after `floor`.
        Self::new(value.floor() as u64)
    }

    /// The limit in UTF-16 units.
    #[must_use]
    pub const fn units(self) -> u32 {
        self.0
    }
}

impl Default for ChunkLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl FromStr for ChunkLimit {
    type Err = ParseChunkLimitError;

    /// Reads a decimal number (as an environment variable would hold it), then as
    /// [`ChunkLimit::from_number`]: `"0"`, `"-5"` and `"inf"` give the default; `"abc"` is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse::<f64>().map(Self::from_number).map_err(|_| {
            ParseChunkLimitError::NotANumber {
                input: s.chars().take(ECHO_LIMIT).collect(),
            }
        })
    }
}

/// Whether and where parts carry their number, such as `(1/3)`. Only replies of two or more
/// parts are numbered; the numbering counts toward the part's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Numbering {
    /// No numbering (the default, as upstream).
    #[default]
    Off,
    /// `(1/3) ` before the text: the reader sees the order first.
    Prefix,
    /// ` (1/3)` after the text.
    Suffix,
}

impl Numbering {
    fn label(self, index: usize, count: usize) -> Option<String> {
        match self {
            Self::Off => None,
            _ if count < 2 => None,
            Self::Prefix => Some(format!("({index}/{count}) ")),
            Self::Suffix => Some(format!(" ({index}/{count})")),
        }
    }
}

/// How to split a text into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SplitOptions {
    /// Largest part in UTF-16 units (default 1500, at most 1600).
    pub chunk_limit: ChunkLimit,
    /// Part numbering (off by default).
    pub numbering: Numbering,
    /// Most segments the whole reply may cost (the sum over its parts). When the reply would
    /// cost more, it is cut at a boundary and the last part ends with [`TRUNCATION_NOTICE`].
    /// `None` or `Some(0)`: no budget.
    pub max_segments: Option<u32>,
}

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Part {
    /// The text to send: the body, plus numbering and the budget notice where they apply.
    pub text: String,
    /// The encoding of this part on its own (each SMS is encoded separately).
    pub encoding: Encoding,
    /// Segments this part costs.
    pub segments: u32,
    /// UTF-16 units of `text` (at most the chunk limit).
    pub units: u32,
    /// Byte range of the body within the text that was split (not serialised).
    #[serde(skip)]
    pub source: Range<usize>,
}

impl Part {
    fn new(text: String, source: Range<usize>) -> Self {
        let report = analyze(&text);
        Self {
            text,
            encoding: report.encoding,
            segments: report.segments,
            units: report.units,
            source,
        }
    }
}

/// Splits `text` into parts. A text that is empty or only whitespace gives no parts.
///
/// # Where a part ends
///
/// A part holds at most [`ChunkLimit`] UTF-16 units (numbering and the budget notice
/// included). Within that window the splitter looks for, in this order, a paragraph break (a
/// whitespace run with two or more line feeds), a line break (one line feed), a sentence end
/// (`.` `!` `?` `…` possibly followed by closing quotes or brackets, then whitespace; or a
/// fullwidth `。` `！` `？`, where no whitespace follows) and a word break (any other
/// whitespace run). A kind of break is taken if it leaves the part at least half full
/// ([`MIN_FILL_PERCENT`]), or if the rest of the text after it needs no more parts than after
/// the furthest break (judged by length, looking at most [`LOOKAHEAD_LIMITS`] limits ahead);
/// when no kind qualifies, the furthest break of any kind is taken. Only when
/// the window holds no break at all is the text cut hard, at the last grapheme-cluster
/// boundary that fits, and never inside a URL (`http://…`, `https://…`) unless the URL starts
/// the part and alone is over the limit.
///
/// # Which whitespace a break drops
///
/// A break drops exactly the maximal run of *breaking whitespace* it sits in: every grapheme
/// cluster made only of characters with the Unicode `White_Space` property (space, TAB, LF,
/// CR, CR LF, U+2028, U+3000, …) **except** the no-break spaces U+00A0, U+2007 and U+202F,
/// which never break and are never dropped. Whitespace at the start and end of the whole text
/// is dropped too. Nothing else is ever dropped: a hard cut or a break after `。` drops
/// nothing. Hence the parts re-join to the text: `text[part.source]` is each part's body, and
/// between two consecutive parts (and before the first and after the last) lies only breaking
/// whitespace.
///
/// # The one exception to grapheme clusters
///
/// A part never ends inside a grapheme cluster, except when one cluster alone is longer than
/// the limit (possible only with pathological runs of combining marks): Twilio would refuse
/// such a part, so the cluster is cut between code points (never inside a surrogate pair).
///
/// ```
/// use openclaw_sms_text::{split, ChunkLimit, Numbering, SplitOptions};
///
/// let text = "First paragraph.\n\nSecond one, which is a little longer than the first one.";
/// let options = SplitOptions { chunk_limit: ChunkLimit::new(70), numbering: Numbering::Suffix, ..SplitOptions::default() };
/// let parts = split(text, &options);
/// assert_eq!(parts.len(), 2);
/// assert_eq!(parts[0].text, "First paragraph. (1/2)");
/// assert_eq!(&text[parts[1].source.clone()], "Second one, which is a little longer than the first one.");
/// ```
#[must_use]
pub fn split(text: &str, options: &SplitOptions) -> Vec<Part> {
    split_with(text, options, false).0
}

/// Splits, and tells whether the budget cut the text. With `smart`, each part is smart-encoded
/// on its own when that makes it GSM-7 and it still fits.
pub(crate) fn split_with(text: &str, options: &SplitOptions, smart: bool) -> (Vec<Part>, bool) {
    let limit = options.chunk_limit.units() as usize;
    let budget = options.max_segments.filter(|&b| b > 0);
    let mut reserve = 0usize;
    let mut cut_budget = budget;
    // Each round either settles or widens the numbering reserve (by a digit) or tightens the
    // budget by the overshoot; a few rounds always suffice, the bound only guards the loop.
    for _ in 0..MAX_ROUNDS {
        let plan = Planner {
            text,
            limit,
            reserve,
            numbering: options.numbering,
            smart,
        };
        let (bodies, truncated) = plan.plan(cut_budget);
        let count = bodies.len();
        let needed = options
            .numbering
            .label(count, count)
            .map_or(0, |l| utf16_len(&l) as usize);
        if needed > reserve {
            reserve = needed;
            continue;
        }
        let parts: Vec<Part> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let label = options.numbering.label(i + 1, count);
                Part::new(plan.render(b, label.as_deref()), b.range.clone())
            })
            .collect();
        let spent: u32 = parts.iter().map(|p| p.segments).sum();
        match (budget, cut_budget) {
            (Some(b), Some(c)) if spent > b && c > 1 => {
                cut_budget = Some(c.saturating_sub(spent - b).max(1));
            }
            _ => return (parts, truncated),
        }
    }
    // Not reached in practice. Fall back to what always holds: no numbering, and with a budget
    // a single one-segment part.
    let plan = Planner {
        text,
        limit,
        reserve: 0,
        numbering: Numbering::Off,
        smart,
    };
    let (bodies, truncated) = plan.plan(budget.map(|_| 1));
    let parts = bodies
        .iter()
        .map(|b| Part::new(plan.render(b, None), b.range.clone()))
        .collect();
    (parts, truncated)
}

/// Planning rounds before the fallback; numbering width and budget tightening settle in 2 to 4.
const MAX_ROUNDS: usize = 8;

/// A part before rendering: a range of the text and whether it carries the budget notice.
#[derive(Debug, Clone)]
struct Body {
    range: Range<usize>,
    notice: bool,
}

struct Planner<'a> {
    text: &'a str,
    limit: usize,
    /// Units kept free in every part for the numbering label.
    reserve: usize,
    numbering: Numbering,
    smart: bool,
}

impl Planner<'_> {
    fn body_limit(&self) -> usize {
        self.limit.saturating_sub(self.reserve).max(1)
    }

    fn plan(&self, budget: Option<u32>) -> (Vec<Body>, bool) {
        let text = self.text;
        let mut bodies = Vec::new();
        let mut pos = skip_whitespace(text, 0);
        while pos < text.len() {
            let cut = next_cut(text, pos, self.body_limit());
            bodies.push(Body {
                range: pos..cut.end,
                notice: false,
            });
            pos = skip_whitespace(text, cut.resume);
        }
        let Some(budget) = budget else {
            return (bodies, false);
        };
        let costs: Vec<u32> = bodies.iter().map(|b| self.cost(b)).collect();
        if costs.iter().sum::<u32>() <= budget {
            return (bodies, false);
        }
        // Keep whole parts while at least one segment is left for the last, noticed, part.
        let mut kept = 0;
        let mut spent = 0u32;
        while kept < bodies.len() && spent + costs[kept] < budget {
            spent += costs[kept];
            kept += 1;
        }
        loop {
            let start = bodies.get(kept).map_or(text.len(), |b| b.range.start);
            let left = budget - spent;
            if let Some(last) = self.last_part(start, left) {
                bodies.truncate(kept);
                bodies.push(last);
                return (bodies, true);
            }
            if kept == 0 {
                bodies.clear();
                bodies.push(Body {
                    range: start..start,
                    notice: true,
                });
                return (bodies, true);
            }
            kept -= 1;
            spent -= costs[kept];
        }
    }

    /// The longest body from `start`, cut at a boundary, that fits in `left` segments with the
    /// notice; `None` if only an empty body would.
    fn last_part(&self, start: usize, left: u32) -> Option<Body> {
        let notice_units = utf16_len(TRUNCATION_NOTICE) as usize + 1;
        let mut limit = self.body_limit().checked_sub(notice_units)?;
        while limit > 0 && start < self.text.len() {
            let cut = next_cut(self.text, start, limit);
            let body = Body {
                range: start..cut.end,
                notice: true,
            };
            if cut.end > start && self.cost(&body) <= left {
                return Some(body);
            }
            let units = utf16_len(&self.text[start..cut.end]) as usize;
            limit = limit.min(units).saturating_sub(1);
        }
        None
    }

    /// Segments of a body rendered with a worst-case numbering label.
    fn cost(&self, body: &Body) -> u32 {
        let pad = match self.numbering {
            Numbering::Off => None,
            _ if self.reserve == 0 => None,
            Numbering::Prefix => Some(format!("({}) ", "9".repeat(self.reserve.saturating_sub(3)))),
            Numbering::Suffix => Some(format!(" ({})", "9".repeat(self.reserve.saturating_sub(3)))),
        };
        analyze(&self.render(body, pad.as_deref())).segments
    }

    fn render(&self, body: &Body, label: Option<&str>) -> String {
        let raw = &self.text[body.range.clone()];
        let extra = label.map_or(0, |l| utf16_len(l) as usize)
            + if body.notice {
                utf16_len(TRUNCATION_NOTICE) as usize + 1
            } else {
                0
            };
        let mut out = String::with_capacity(raw.len() + extra + 8);
        if let (Some(l), Numbering::Prefix) = (label, self.numbering) {
            out.push_str(l);
        }
        let encoded = if self.smart && !gsm::is_gsm7(raw) {
            let t = smart::transliterate(raw);
            (gsm::is_gsm7(&t) && utf16_len(&t) as usize + extra <= self.limit).then_some(t)
        } else {
            None
        };
        out.push_str(encoded.as_deref().unwrap_or(raw));
        if body.notice {
            if !raw.is_empty() {
                out.push('\n');
            }
            out.push_str(TRUNCATION_NOTICE);
        }
        if let (Some(l), Numbering::Suffix) = (label, self.numbering) {
            out.push_str(l);
        }
        out
    }
}

/// How far ahead, in limits, the splitter counts the rest of the text to see whether an
/// earlier, better break would cost an extra part.
pub const LOOKAHEAD_LIMITS: usize = 4;

/// UTF-16 units of `text`, or `None` once they exceed `cap`.
fn units_up_to(text: &str, cap: usize) -> Option<usize> {
    let mut units = 0;
    for c in text.chars() {
        units += c.len_utf16();
        if units > cap {
            return None;
        }
    }
    Some(units)
}

/// Where a part ends (`end`) and where the search for the next part starts (`resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    pub(crate) end: usize,
    pub(crate) resume: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Word = 0,
    Sentence = 1,
    Line = 2,
    Paragraph = 3,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    end: usize,
    resume: usize,
    /// Units of the part if it ends here.
    units: usize,
}

/// Whether a grapheme cluster is breaking whitespace (see the module documentation).
fn is_breaking_whitespace(g: &str) -> bool {
    if let [b] = g.as_bytes() {
        return matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    }
    g.chars()
        .all(|c| c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}'))
}

/// The first position at or after `pos` that does not start breaking whitespace.
pub(crate) fn skip_whitespace(text: &str, pos: usize) -> usize {
    let mut end = pos;
    for (_, g) in Graphemes::new(text, pos) {
        if !is_breaking_whitespace(g) {
            break;
        }
        end += g.len();
    }
    end
}

fn ends_sentence(before: &str) -> bool {
    let trimmed = before.trim_end_matches(['"', '\'', ')', ']', '”', '’', '»', '*', '_']);
    trimmed.ends_with(['.', '!', '?', '…', '。', '！', '？'])
}

/// Finds the end of the part that starts at `from` (which is not whitespace) and holds at
/// most `limit` UTF-16 units.
pub(crate) fn next_cut(text: &str, from: usize, limit: usize) -> Cut {
    let mut units = 0usize;
    let mut run: Option<(usize, usize, usize)> = None; // (start byte, units before, line feeds)
    let mut best: [Option<Candidate>; 4] = [None; 4];
    let mut content_end = from;
    let mut fits_all = true;
    for (pos, g) in Graphemes::new(text, from) {
        let g_units = if g.len() == 1 {
            1
        } else {
            utf16_len(g) as usize
        };
        if is_breaking_whitespace(g) {
            let r = run.get_or_insert((pos, units, 0));
            r.2 += g.matches('\n').count();
            units += g_units;
            continue;
        }
        if let Some((start, before, feeds)) = run.take()
            && before <= limit
            && start > from
        {
            let kind = match feeds {
                0 if ends_sentence(&text[..start]) => Kind::Sentence,
                0 => Kind::Word,
                1 => Kind::Line,
                _ => Kind::Paragraph,
            };
            best[kind as usize] = Some(Candidate {
                end: start,
                resume: pos,
                units: before,
            });
        }
        if units + g_units > limit {
            fits_all = false;
            break;
        }
        units += g_units;
        content_end = pos + g.len();
        if matches!(g, "。" | "！" | "？") {
            best[Kind::Sentence as usize] = Some(Candidate {
                end: content_end,
                resume: content_end,
                units,
            });
        }
    }
    if fits_all {
        return Cut {
            end: content_end,
            resume: text.len(),
        };
    }
    let half = limit * MIN_FILL_PERCENT / 100;
    let furthest = best.iter().flatten().max_by_key(|c| c.end).copied();
    // Parts still needed after a break, if the rest is short enough to look at.
    let parts_after = |c: &Candidate| {
        units_up_to(&text[c.resume..], LOOKAHEAD_LIMITS * limit).map(|u| u.div_ceil(limit))
    };
    let furthest_parts = std::cell::OnceCell::new();
    let furthest_parts = || *furthest_parts.get_or_init(|| furthest.as_ref().and_then(parts_after));
    let chosen = [Kind::Paragraph, Kind::Line, Kind::Sentence, Kind::Word]
        .iter()
        .find_map(|&k| {
            best[k as usize].filter(|c| {
                c.units >= half
                    || furthest_parts().is_some_and(|f| parts_after(c).is_some_and(|p| p <= f))
            })
        })
        .or(furthest);
    if let Some(c) = chosen {
        return Cut {
            end: c.end,
            resume: c.resume,
        };
    }
    if content_end == from {
        // One grapheme cluster alone is over the limit: cut it between code points.
        let mut end = from;
        let mut used = 0;
        for (i, c) in text[from..].char_indices() {
            if used + c.len_utf16() > limit && i > 0 {
                break;
            }
            used += c.len_utf16();
            end = from + i + c.len_utf8();
        }
        return Cut { end, resume: end };
    }
    let end = match url_start(text, from, content_end) {
        Some(start) if start > from => start,
        _ => content_end,
    };
    Cut { end, resume: end }
}

/// The start of a URL that runs through `cut` (a `http://` or `https://` with no whitespace
/// between it and `cut`), searching from `from`.
fn url_start(text: &str, from: usize, cut: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let window = &bytes[from..cut];
    let ws = window
        .iter()
        .rposition(u8::is_ascii_whitespace)
        .map_or(from, |p| from + p + 1);
    (ws..cut).rev().find(|&i| {
        let rest = &bytes[i..];
        rest.starts_with(b"https://") || rest.starts_with(b"http://")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str, limit: usize) -> Vec<&str> {
        let mut out = Vec::new();
        let mut pos = skip_whitespace(text, 0);
        while pos < text.len() {
            let cut = next_cut(text, pos, limit);
            out.push(&text[pos..cut.end]);
            pos = skip_whitespace(text, cut.resume);
        }
        out
    }

    fn check(text: &str, limit: usize, expected: &[&str]) {
        assert_eq!(pieces(text, limit), expected, "{text:?} at {limit}");
    }

    #[test]
    fn breaks() {
        // Upstream's case (send.test.ts): limit 5, "alpha beta" -> ["alpha", "beta"].
        check("alpha beta", 5, &["alpha", "beta"]);
        check("  alpha  ", 5, &["alpha"]);
        check("one two three", 9, &["one two", "three"]);
        check("aaaa bb.\ncc dd", 12, &["aaaa bb.", "cc dd"]);
        check("aa. bb cc dd", 10, &["aa.", "bb cc dd"]);
        check("aa bb. cc dd ee ff", 10, &["aa bb.", "cc dd ee", "ff"]);
        check(
            "Para one.\n\nPara two is long",
            16,
            &["Para one.", "Para two is long"],
        );
        check("abcdefghij", 4, &["abcd", "efgh", "ij"]);
        check(
            "日本語です。次の文です。",
            8,
            &["日本語です。", "次の文です。"],
        );
        check(
            "see https://example.com/abc",
            20,
            &["see", "https://example.com/", "abc"],
        );
        check(
            "see:https://example.com/a",
            20,
            &["see:", "https://example.com/", "a"],
        );
        check("😀😀😀", 3, &["😀", "😀", "😀"]);
        check("e\u{301}e\u{301}", 3, &["e\u{301}", "e\u{301}"]);
        check("a\u{a0}b c", 3, &["a\u{a0}b", "c"]);
    }

    #[test]
    fn break_choice_rules() {
        // A short first paragraph is its own part when that costs no extra part ...
        check("ab\n\ncdefghij klm\nnop", 16, &["ab", "cdefghij klm\nnop"]);
        // ... but not when it would: then the later line break, which fills half, wins.
        check(
            "ab\n\ncdefghij klm\nnop qrstuvwx yz",
            16,
            &["ab\n\ncdefghij klm", "nop qrstuvwx yz"],
        );
        // ... but a paragraph break past half wins over a later word break.
        check("abcdefghi\n\njk lm no", 16, &["abcdefghi", "jk lm no"]);
    }

    #[test]
    fn chunk_limit_parsing() {
        for (input, units) in [
            ("1500", 1500),
            ("0", 1500),
            ("-3", 1500),
            ("inf", 1500),
            ("NaN", 1500),
            ("5", 70),
            ("99999", 1600),
            (" 160 ", 160),
            ("160.7", 160),
        ] {
            assert_eq!(
                input.parse::<ChunkLimit>().map(ChunkLimit::units),
                Ok(units),
                "{input}"
            );
        }
        assert!("abc".parse::<ChunkLimit>().is_err());
        assert_eq!(ChunkLimit::from_number(f64::INFINITY), ChunkLimit::DEFAULT);
    }
}
