//! Voice caller ids: what Twilio puts in a call's `From`.

use std::fmt;

use crate::e164::E164;
use crate::error::ParseTargetError;

/// Longest caller id accepted, in bytes (a SIP URI with parameters is the longest form).
pub const MAX_CALLER_ID_LEN: usize = 256;

/// Longest `client:` identity accepted, in bytes (Twilio Client identities are short names).
const MAX_CLIENT_NAME_LEN: usize = 121;

/// Words carriers and Twilio use for a number the caller withheld, compared case-insensitively.
const WITHHELD_WORDS: &[&str] = &[
    "anonymous",
    "restricted",
    "unknown",
    "unavailable",
    "blocked",
    "private",
];

/// The number Twilio reports for a withheld caller id (`ANONYMOUS` spelled on a keypad); it is
/// not a caller anyone can pair or allow.
const WITHHELD_NUMBER: &str = "+266696687";

/// Who is calling, as a voice channel sees it.
///
/// `From` of a Twilio voice webhook is a phone number, a Twilio Client identity, a SIP URI, or
/// a word for a withheld number. Parse it once; then [`CallerId::sender_id`] gives the opaque
/// id the access policy works with (none for a withheld caller, who can be neither paired nor
/// allowed).
///
/// ```
/// use openclaw_sms_target::CallerId;
///
/// assert_eq!(CallerId::parse("+14155552671")?.sender_id().as_deref(), Some("+14155552671"));
/// assert_eq!(CallerId::parse("client:alice")?.sender_id().as_deref(), Some("client:alice"));
/// assert_eq!(
///     CallerId::parse("SIP:Alice@PBX.Example.com;transport=tls")?.sender_id().as_deref(),
///     Some("sip:Alice@pbx.example.com")
/// );
/// assert!(CallerId::parse("Anonymous")?.is_withheld());
/// assert!(CallerId::parse("whatsapp:+1555").is_err());
/// # Ok::<(), openclaw_sms_target::ParseTargetError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallerId {
    /// A phone number.
    Number(E164),
    /// A Twilio Client (browser or app) identity: `client:NAME`.
    Client(String),
    /// A SIP caller: the scheme (`sip` or `sips`), the user part (may be empty) and the host,
    /// lower-cased; URI parameters and headers are dropped.
    Sip {
        /// `sip` or `sips`.
        scheme: &'static str,
        /// The user part before `@`, as sent (empty when the URI has none).
        user: String,
        /// The host (and port, when given), lower-cased.
        host: String,
    },
    /// The caller withheld their number (`anonymous`, `restricted`, …).
    Withheld,
}

fn invalid(input: &str, reason: &'static str) -> ParseTargetError {
    ParseTargetError::InvalidCallerId {
        input: input.chars().take(MAX_CALLER_ID_LEN).collect(),
        reason,
    }
}

/// Splits `scheme:rest` when `scheme` is one of `schemes` (any case).
fn strip_scheme<'a>(input: &'a str, schemes: &[&'static str]) -> Option<(&'static str, &'a str)> {
    let (scheme, rest) = input.split_once(':')?;
    schemes
        .iter()
        .find(|s| s.eq_ignore_ascii_case(scheme))
        .map(|s| (*s, rest))
}

fn parse_client(input: &str, name: &str) -> Result<CallerId, ParseTargetError> {
    if name.is_empty() {
        return Err(invalid(input, "client: needs a name"));
    }
    if name.len() > MAX_CLIENT_NAME_LEN {
        return Err(invalid(
            input,
            "the client name is longer than 121 characters",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
    {
        return Err(invalid(
            input,
            "a client name has letters, digits, _, -, . and @ only",
        ));
    }
    Ok(CallerId::Client(name.to_owned()))
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
}

fn parse_sip(input: &str, scheme: &'static str, rest: &str) -> Result<CallerId, ParseTargetError> {
    // `user@host:port;params?headers`: parameters and headers are not part of who calls.
    let address = rest.split([';', '?']).next().unwrap_or_default();
    let (user, host) = match address.rsplit_once('@') {
        Some((user, host)) => (user, host),
        None => ("", address),
    };
    if host.is_empty() {
        return Err(invalid(input, "a SIP caller needs a host after @"));
    }
    if !host.bytes().all(is_host_byte) {
        return Err(invalid(
            input,
            "the SIP host has a character a host cannot have",
        ));
    }
    if user
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'@')
    {
        return Err(invalid(
            input,
            "the SIP user part has a space or control character",
        ));
    }
    Ok(CallerId::Sip {
        scheme,
        user: user.to_owned(),
        host: host.to_ascii_lowercase(),
    })
}

impl CallerId {
    /// Parses a voice webhook's `From`.
    ///
    /// Accepted: an E.164 number (as [`E164::parse`] takes it), `client:NAME` (letters,
    /// digits, `_`, `-`, `.`, `@`; at most 121), `sip:` or `sips:` URIs with a host (any
    /// case; parameters and headers dropped), and the words carriers use for a withheld
    /// number (`anonymous`, `restricted`, `unknown`, `unavailable`, `blocked`, `private`, any
    /// case) or Twilio's `+266696687`. Surrounding whitespace is ignored.
    ///
    /// # Errors
    /// [`ParseTargetError::Empty`], [`ParseTargetError::InputTooLong`] over
    /// [`MAX_CALLER_ID_LEN`], [`ParseTargetError::InvalidCallerId`] for a `client:` or `sip:`
    /// id that is malformed, and the number errors of [`E164::parse`] (which say what to
    /// write) for anything else.
    pub fn parse(input: &str) -> Result<Self, ParseTargetError> {
        if input.len() > MAX_CALLER_ID_LEN {
            return Err(ParseTargetError::InputTooLong {
                len: input.len(),
                max: MAX_CALLER_ID_LEN,
            });
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ParseTargetError::Empty);
        }
        if trimmed == WITHHELD_NUMBER
            || WITHHELD_WORDS
                .iter()
                .any(|w| w.eq_ignore_ascii_case(trimmed))
        {
            return Ok(Self::Withheld);
        }
        if let Some((_, name)) = strip_scheme(trimmed, &["client"]) {
            return parse_client(trimmed, name);
        }
        if let Some((scheme, rest)) = strip_scheme(trimmed, &["sip", "sips"]) {
            return parse_sip(trimmed, scheme, rest);
        }
        E164::parse(trimmed).map(Self::Number)
    }

    /// The opaque sender id for the access policy and the store: the E.164 number,
    /// `client:NAME` or `sip:user@host`; `None` for a withheld caller.
    #[must_use]
    pub fn sender_id(&self) -> Option<String> {
        match self {
            Self::Number(number) => Some(number.as_str().to_owned()),
            Self::Client(name) => Some(format!("client:{name}")),
            Self::Sip { scheme, user, host } if user.is_empty() => Some(format!("{scheme}:{host}")),
            Self::Sip { scheme, user, host } => Some(format!("{scheme}:{user}@{host}")),
            Self::Withheld => None,
        }
    }

    /// Whether the caller withheld their number.
    #[must_use]
    pub fn is_withheld(&self) -> bool {
        matches!(self, Self::Withheld)
    }

    /// The phone number, when the caller is one.
    #[must_use]
    pub fn number(&self) -> Option<&E164> {
        match self {
            Self::Number(number) => Some(number),
            _ => None,
        }
    }
}

impl fmt::Display for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sender_id() {
            Some(id) => f.write_str(&id),
            None => f.write_str("anonymous"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_id_table() {
        let ok = [
            ("+14155552671", Some("+14155552671")),
            (" +1 (415) 555-2671 ", Some("+14155552671")),
            ("client:alice", Some("client:alice")),
            (
                "CLIENT:support_desk-1.eu@acme",
                Some("client:support_desk-1.eu@acme"),
            ),
            (
                "sip:alice@pbx.example.com",
                Some("sip:alice@pbx.example.com"),
            ),
            (
                "SIPS:Bob@PBX.example.com:5061;transport=tls?x=y",
                Some("sips:Bob@pbx.example.com:5061"),
            ),
            ("sip:10.0.0.1", Some("sip:10.0.0.1")),
            (
                "sip:+14155552671@[2001:db8::1]",
                Some("sip:+14155552671@[2001:db8::1]"),
            ),
            ("anonymous", None),
            ("Restricted", None),
            ("UNKNOWN", None),
            ("unavailable", None),
            ("blocked", None),
            ("private", None),
            ("+266696687", None),
        ];
        for (input, id) in ok {
            let caller = CallerId::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(caller.sender_id().as_deref(), id, "{input:?}");
            assert_eq!(caller.is_withheld(), id.is_none(), "{input:?}");
        }
    }

    #[test]
    fn refusals_say_what_to_write() {
        let refused = [
            ("client:", "client: needs a name"),
            ("client:al ice", "letters, digits"),
            ("client:a<b>", "letters, digits"),
            ("sip:alice@", "needs a host"),
            ("sip:", "needs a host"),
            ("sip:alice@evil host", "cannot have"),
            ("sip:al\u{7}ice@pbx", "control character"),
        ];
        for (input, reason) in refused {
            let e = CallerId::parse(input).unwrap_err();
            let text = e.to_string();
            assert!(
                matches!(e, ParseTargetError::InvalidCallerId { .. }),
                "{input:?}: {e:?}"
            );
            assert!(text.contains(reason), "{input:?}: {text}");
            assert!(
                text.contains("client:NAME, sip:user@host, or anonymous"),
                "{text}"
            );
        }
        assert_eq!(CallerId::parse("  "), Err(ParseTargetError::Empty));
        assert!(matches!(
            CallerId::parse(&"a".repeat(MAX_CALLER_ID_LEN + 1)),
            Err(ParseTargetError::InputTooLong {
                max: MAX_CALLER_ID_LEN,
                ..
            })
        ));
        assert!(CallerId::parse(&format!("client:{}", "a".repeat(122))).is_err());
        assert!(CallerId::parse(&format!("client:{}", "a".repeat(121))).is_ok());
        // Not a caller id form: the number parser's own advice.
        assert!(CallerId::parse("whatsapp:+14155552671").is_err());
        assert!(
            CallerId::parse("(415) 555-2671")
                .unwrap_err()
                .to_string()
                .contains("country code")
        );
        assert!(CallerId::parse("anonymous2").is_err());
    }

    #[test]
    fn display_is_the_sender_id_or_anonymous() {
        assert_eq!(
            CallerId::parse("client:bob").unwrap().to_string(),
            "client:bob"
        );
        assert_eq!(CallerId::parse("Private").unwrap().to_string(), "anonymous");
        assert_eq!(
            CallerId::parse("+14155552671")
                .unwrap()
                .number()
                .map(E164::as_str),
            Some("+14155552671")
        );
    }
}
