//! `application/x-www-form-urlencoded` bodies as ordered name/value pairs.
//!
//! Twilio webhooks are form POSTs. The signature covers every received parameter, repeated
//! names included, so [`Form`] keeps the pairs exactly as they arrived: in order, repeats kept,
//! values untrimmed. Parsing is strict: a malformed percent escape or a value that is not UTF-8
//! is an error value, never a panic and never silently replaced.
//!
//! The parser does not bound the input: the caller reads the body with its own limit.

use std::fmt;

/// A form body that could not be parsed, or a webhook form that lacks what its type needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseFormError {
    /// A `%` not followed by two hexadecimal digits.
    #[error("invalid percent escape at byte {offset} of the form body")]
    InvalidPercentEncoding {
        /// Byte offset of the `%` in the body.
        offset: usize,
    },
    /// A decoded name or value is not valid UTF-8.
    #[error("form field #{index} is not valid UTF-8 after decoding")]
    InvalidUtf8 {
        /// Zero-based index of the pair in the body.
        index: usize,
    },
    /// A field the webhook type requires is absent or blank.
    #[error("webhook form is missing {name}")]
    MissingField {
        /// The Twilio parameter name, e.g. `MessageSid`.
        name: &'static str,
    },
    /// A field is present but its value is not what Twilio sends (a SID of the wrong kind, a
    /// count that is not a non-negative integer).
    #[error("webhook form field {name} is invalid: {reason}")]
    InvalidField {
        /// The Twilio parameter name, e.g. `NumMedia`.
        name: &'static str,
        /// Why the value was refused (never the value itself).
        reason: String,
    },
    /// An inbound message without text and without media.
    #[error("inbound message has neither a Body nor media")]
    EmptyMessage,
}

/// An ordered list of form pairs: arrival order and repeated names kept, values untrimmed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.pairs.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// Parses an `application/x-www-form-urlencoded` body.
///
/// Same as [`Form::parse`].
///
/// # Errors
/// [`ParseFormError::InvalidPercentEncoding`] or [`ParseFormError::InvalidUtf8`].
pub fn parse(body: &[u8]) -> Result<Form, ParseFormError> {
    Form::parse(body)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one name or value: `+` is a space, `%XX` a byte. `base` is the offset of `raw` in
/// the body, for error messages.
fn decode(raw: &[u8], base: usize, index: usize) -> Result<String, ParseFormError> {
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| ParseFormError::InvalidUtf8 { index });
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex_value);
                let lo = raw.get(i + 2).copied().and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(ParseFormError::InvalidPercentEncoding { offset: base + i });
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ParseFormError::InvalidUtf8 { index })
}

impl Form {
    /// An empty form.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses an `application/x-www-form-urlencoded` body: pairs separated by `&`, name and
    /// value by the first `=`, `+` decoded as a space, `%XX` as a byte. Empty pieces (`a=1&&b=2`)
    /// are skipped, a piece without `=` is a name with an empty value.
    ///
    /// # Errors
    /// [`ParseFormError::InvalidPercentEncoding`] for a `%` not followed by two hexadecimal
    /// digits, [`ParseFormError::InvalidUtf8`] when a decoded name or value is not UTF-8.
    pub fn parse(body: &[u8]) -> Result<Self, ParseFormError> {
        let mut pairs = Vec::new();
        let mut start = 0;
        for piece in body.split(|&b| b == b'&') {
            let base = start;
            start += piece.len() + 1;
            if piece.is_empty() {
                continue;
            }
            let index = pairs.len();
            let (name, value, value_base) = match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..], base + eq + 1),
                None => (piece, &[][..], base + piece.len()),
            };
            pairs.push((
                decode(name, base, index)?,
                decode(value, value_base, index)?,
            ));
        }
        Ok(Self { pairs })
    }

    /// Builds a form from pairs, kept in the given order.
    #[must_use]
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// Appends a pair (a repeated name is kept as a second pair).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((name.into(), value.into()));
    }

    /// The first value of `name`, if present (names are case-sensitive).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in arrival order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs in arrival order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The pairs as a slice, in arrival order.
    #[must_use]
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Number of pairs (repeats counted).
    #[must_use]
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the form has no pairs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Consumes the form, returning its pairs.
    #[must_use]
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }

    /// Encodes the form as `application/x-www-form-urlencoded` (space as `+`), in order.
    /// [`Form::parse`] of the result gives back an equal form.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            ser.append_pair(k, v);
        }
        ser.finish()
    }
}

impl<'a> IntoIterator for &'a Form {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a str, &'a str),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl FromIterator<(String, String)> for Form {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self {
            pairs: iter.into_iter().collect(),
        }
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Form {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        Self {
            pairs: iter
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expected: &[(&str, &str)]) {
        let form = Form::parse(input.as_bytes()).unwrap();
        let got: Vec<(&str, &str)> = form.iter().collect();
        assert_eq!(got, expected, "{input:?}");
    }

    fn check_err(input: &[u8], expected: &ParseFormError) {
        assert_eq!(&Form::parse(input).unwrap_err(), expected, "{input:?}");
    }

    #[test]
    fn parse_table() {
        check("", &[]);
        check("a=1", &[("a", "1")]);
        check("a=1&b=2", &[("a", "1"), ("b", "2")]);
        check("b=2&a=1", &[("b", "2"), ("a", "1")]);
        check("a=1&a=2&a=1", &[("a", "1"), ("a", "2"), ("a", "1")]);
        check("a=&b", &[("a", ""), ("b", "")]);
        check("a=1&&b=2&", &[("a", "1"), ("b", "2")]);
        check("Body=Hello+world", &[("Body", "Hello world")]);
        check("Body=a%2Bb%20c", &[("Body", "a+b c")]);
        check("Body=+padded+", &[("Body", " padded ")]);
        check("From=%2B14155550100", &[("From", "+14155550100")]);
        check("a=b=c", &[("a", "b=c")]);
        check("Body=%E2%9C%93%F0%9F%98%80", &[("Body", "✓😀")]);
        check("Body=caf\u{e9}", &[("Body", "café")]);
        check("N%61me=v", &[("Name", "v")]);
        check("body=x&Body=y", &[("body", "x"), ("Body", "y")]);
        check("=v", &[("", "v")]);
    }

    #[test]
    fn parse_errors() {
        check_err(
            b"a=%",
            &ParseFormError::InvalidPercentEncoding { offset: 2 },
        );
        check_err(
            b"a=1&b=%zz",
            &ParseFormError::InvalidPercentEncoding { offset: 6 },
        );
        check_err(
            b"a=%4",
            &ParseFormError::InvalidPercentEncoding { offset: 2 },
        );
        check_err(
            b"a%g0=1",
            &ParseFormError::InvalidPercentEncoding { offset: 1 },
        );
        check_err(b"a=1&b=%FF", &ParseFormError::InvalidUtf8 { index: 1 });
        check_err(b"a=\xff", &ParseFormError::InvalidUtf8 { index: 0 });
        check_err(b"%C3=1", &ParseFormError::InvalidUtf8 { index: 0 });
    }

    #[test]
    fn accessors() {
        let form = Form::parse(b"To=%2B1&Body=hi&MediaUrl=a&MediaUrl=b").unwrap();
        assert_eq!(form.get("Body"), Some("hi"));
        assert_eq!(form.get("body"), None);
        assert_eq!(form.get_all("MediaUrl").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(form.len(), 4);
        assert!(!form.is_empty());
        assert_eq!(form.encode(), "To=%2B1&Body=hi&MediaUrl=a&MediaUrl=b");
        assert_eq!(
            format!("{:?}", Form::parse(b"a=1").unwrap()),
            r#"{"a": "1"}"#
        );
    }

    #[test]
    fn encode_spaces_and_specials() {
        let form: Form = [("Body", "It's a+b & c=d ✓"), ("E", "")]
            .into_iter()
            .collect();
        assert_eq!(form.encode(), "Body=It%27s+a%2Bb+%26+c%3Dd+%E2%9C%93&E=");
    }

    proptest! {
        #[test]
        fn encode_then_parse_round_trips(pairs in proptest::collection::vec((".*", ".*"), 0..8)) {
            let form = Form::from_pairs(pairs);
            let back = Form::parse(form.encode().as_bytes()).unwrap();
            // Empty names with empty values encode to "=", which parses back to ("", "").
            prop_assert_eq!(back, form);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Form::parse(&bytes);
        }
    }
}
