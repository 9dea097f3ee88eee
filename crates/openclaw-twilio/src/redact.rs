//! Credentials out of what is shown: the `user:password@` of every URL in a text.
//!
//! One function for every place that prints a URL from config or from Twilio (signature
//! failures, client errors, `config get`, `channels status`): a webhook URL may carry Basic-auth
//! credentials (`https://user:pass@host/sms`), and those must never reach a log, an error or
//! the terminal.

/// What replaces the userinfo of a URL.
const HIDDEN: &str = "***";

/// Replaces the userinfo (`user:pass@`, `user@`) of every `scheme://authority` in `text` with
/// `***@`; the rest of the text is kept as it is. Works on a single URL and on a message that
/// quotes URLs.
///
/// ```
/// use openclaw_twilio::redact::redact_userinfo;
///
/// assert_eq!(
///     redact_userinfo("expected https://u:p@example.com/sms, got http://a/b"),
///     "expected https://***@example.com/sms, got http://a/b"
/// );
/// ```
#[must_use]
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let start = pos + 3;
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let authority_len = tail
            .find(|c: char| !is_authority_char(c))
            .unwrap_or(tail.len());
        let authority = &tail[..authority_len];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(HIDDEN);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_len..];
    }
    out.push_str(rest);
    out
}

/// Characters that may appear in a URL's authority (RFC 3986: unreserved, percent escapes,
/// sub-delims, `:`, `@`, and the brackets of an IPv6 host).
fn is_authority_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~%!$&'()*+,;=:@[]".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_table() {
        fn check(text: &str, expected: &str) {
            assert_eq!(redact_userinfo(text), expected, "{text}");
        }
        check("https://user:pass@a.com/p", "https://***@a.com/p");
        check("https://user@a.com", "https://***@a.com");
        check(
            "https://u:p%40ss@a.com:8443/p?q=1",
            "https://***@a.com:8443/p?q=1",
        );
        check("https://a.com/p?x=a@b", "https://a.com/p?x=a@b");
        check("https://a.com/p#x@y", "https://a.com/p#x@y");
        check("https://a.com", "https://a.com");
        check("https://u:p@[::1]:80/x", "https://***@[::1]:80/x");
        check("relative", "relative");
        check("", "");
        check("://", "://");
        check(
            "points at https://u:p@a.com/s; expected \"http://v:q@b.com/t\".",
            "points at https://***@a.com/s; expected \"http://***@b.com/t\".",
        );
        check("a@b c://d e@f", "a@b c://d e@f");
        check("http://x:y@h/ http://h2/", "http://***@h/ http://h2/");
    }
}
