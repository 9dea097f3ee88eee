//! [`Escaped`]: untrusted text on one log line.
//!
//! Webhook fields, URLs, error bodies and agent output come from whoever sent them. Written
//! into a log as they are, a CR or LF in them starts a line the attacker wrote (a forged
//! `INFO` line, a fake "pairing approved"), and bidirectional controls can make a line read
//! differently from what it holds. Every place that writes such a value into a log or an error
//! message wraps it in [`Escaped`]; `TwilioError`'s `Display` (feature `client`) escapes the
//! text Twilio sent back the same way.
//!
//! ```
//! use openclaw_twilio::escape::Escaped;
//!
//! let sid = "SM1\r\n2026-01-01T00:00:00Z  INFO pairing approved";
//! assert_eq!(
//!     Escaped(sid).to_string(),
//!     r"SM1\r\n2026-01-01T00:00:00Z  INFO pairing approved"
//! );
//! assert_eq!(Escaped("Grüße, 日本 👋").to_string(), "Grüße, 日本 👋");
//! ```

use std::fmt::{self, Write as _};

/// Displays the wrapped value with every character that could break or disguise a log line
/// escaped, and everything else (non-ASCII letters, emoji) as it is:
///
/// - `\r`, `\n`, `\t` as those two-character escapes;
/// - the other C0 controls, DEL and the C1 controls (U+0080–U+009F, NEL among them) as
///   `\u{…}`;
/// - U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR, and the bidirectional controls
///   (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) as `\u{…}`.
///
/// A backslash is kept as it is, so escaping twice changes nothing (a Twilio error, escaped by
/// its own `Display`, inside a pipeline message escaped where it is logged): a literal `\n` in
/// the input then reads like an escaped line feed, but stays on its line.
///
/// Works for any `Display` value (a `&str`, a URL, an error) without allocating.
#[derive(Clone, Copy)]
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            EscapingWriter {
                inner: f,
                escapes: needs_escape
            },
            "{}",
            self.0
        )
    }
}

/// Displays the wrapped value with only the characters that start a new line escaped (CR, LF,
/// VT, FF, NEL, U+2028, U+2029), as [`Escaped`] writes them.
///
/// For a whole formatted log line, which may carry other controls on purpose (ANSI colours on
/// a terminal): the gateway's log writer uses it as a backstop, so that a value that reached
/// a log line without [`Escaped`] still cannot start a line of its own.
#[derive(Clone, Copy)]
pub struct LineBreaksEscaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for LineBreaksEscaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            EscapingWriter {
                inner: f,
                escapes: is_line_break
            },
            "{}",
            self.0
        )
    }
}

/// Whether `c` ends a line for some reader of a log: a terminal, `less`, an editor, a log
/// viewer that follows Unicode.
#[must_use]
pub fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

impl<T: fmt::Display> fmt::Debug for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether `c` is escaped by [`Escaped`].
#[must_use]
pub fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

struct EscapingWriter<'a, 'b> {
    inner: &'a mut fmt::Formatter<'b>,
    escapes: fn(char) -> bool,
}

impl fmt::Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain_from = 0;
        for (at, c) in s.char_indices() {
            if !(self.escapes)(c) {
                continue;
            }
            self.inner
                .write_str(s.get(plain_from..at).unwrap_or_default())?;
            plain_from = at + c.len_utf8();
            match c {
                '\r' => self.inner.write_str(r"\r")?,
                '\n' => self.inner.write_str(r"\n")?,
                '\t' => self.inner.write_str(r"\t")?,
                other => write!(self.inner, "\\u{{{:x}}}", u32::from(other))?,
            }
        }
        self.inner
            .write_str(s.get(plain_from..).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(Escaped(input).to_string(), expected, "{input:?}");
    }

    #[test]
    fn line_breaks_and_tabs() {
        check("a\rb", r"a\rb");
        check("a\nb", r"a\nb");
        check("a\r\nb", r"a\r\nb");
        check("\n", r"\n");
        check("a\tb", r"a\tb");
        check("end\n", r"end\n");
    }

    #[test]
    fn escaping_twice_changes_nothing() {
        for input in [
            "a\r\nb",
            "\u{0}\u{85}\u{2028}\u{202e}",
            "\\",
            r"C:\dir",
            "plain é",
        ] {
            let once = Escaped(input).to_string();
            assert_eq!(Escaped(&once).to_string(), once, "{input:?}");
        }
        check(r"a\nb", r"a\nb");
    }

    #[test]
    fn other_c0_controls_del_and_c1() {
        check("\u{0}", r"\u{0}");
        check("\u{7}", r"\u{7}");
        check("\u{b}\u{c}", r"\u{b}\u{c}");
        check("\u{1b}[31mred", r"\u{1b}[31mred");
        check("\u{1f}", r"\u{1f}");
        check("\u{7f}", r"\u{7f}");
        check("\u{80}", r"\u{80}");
        check("a\u{85}b", r"a\u{85}b");
        check("\u{9f}", r"\u{9f}");
    }

    #[test]
    fn unicode_line_separators_and_bidi_controls() {
        check("a\u{2028}b", r"a\u{2028}b");
        check("a\u{2029}b", r"a\u{2029}b");
        check("\u{202e}txt.exe", r"\u{202e}txt.exe");
        check("\u{2066}\u{2069}", r"\u{2066}\u{2069}");
        check("\u{200e}\u{200f}\u{61c}", r"\u{200e}\u{200f}\u{61c}");
    }

    #[test]
    fn printable_text_is_kept_readable() {
        check("", "");
        check("SM0123456789abcdef", "SM0123456789abcdef");
        check("it's \"quoted\"", "it's \"quoted\"");
        check("Grüße, 日本 👋 é", "Grüße, 日本 👋 é");
        // Just outside the escaped ranges.
        check(
            "\u{20}\u{7e}\u{a0}\u{2027}\u{202f}\u{2065}\u{206a}",
            "\u{20}\u{7e}\u{a0}\u{2027}\u{202f}\u{2065}\u{206a}",
        );
    }

    #[test]
    fn line_breaks_only() {
        let line =
            "\u{1b}[32m INFO\u{1b}[0m a\tb\rc\nd\u{b}e\u{c}f\u{85}g\u{2028}h\u{2029}i\u{202e}";
        assert_eq!(
            LineBreaksEscaped(line).to_string(),
            "\u{1b}[32m INFO\u{1b}[0m a\tb\\rc\\nd\\u{b}e\\u{c}f\\u{85}g\\u{2028}h\\u{2029}i\u{202e}"
        );
        // Whatever Escaped lets through, LineBreaksEscaped does too.
        for c in [
            '\r', '\n', '\u{b}', '\u{c}', '\u{85}', '\u{2028}', '\u{2029}',
        ] {
            assert!(is_line_break(c) && needs_escape(c), "{c:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_escaped_character_survives_and_twice_is_once(input in "\\PC*|[\\x00-\\x{9f}\\x{2028}\\x{2029}\\x{202e} a\\\\]*") {
            let once = Escaped(&input).to_string();
            proptest::prop_assert!(!once.contains(needs_escape), "{:?}", once);
            proptest::prop_assert_eq!(Escaped(&once).to_string(), once.clone());
            // Text without anything to escape is written as it is.
            if !input.contains(needs_escape) {
                proptest::prop_assert_eq!(once, input);
            }
        }
    }

    #[test]
    fn wraps_any_display_value() {
        let err = std::io::Error::other("bad\nline");
        assert_eq!(Escaped(&err).to_string(), r"bad\nline");
        assert_eq!(format!("{:?}", Escaped("a\nb")), r"a\nb");
        assert_eq!(
            format!("[{}]", Escaped(format_args!("{}\n{}", 1, 2))),
            r"[1\n2]"
        );
    }
}
