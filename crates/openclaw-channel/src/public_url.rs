//! The public webhook URL: whether it is fit to receive Twilio's callbacks, the path Twilio's
//! requests arrive on, and the `StatusCallback` URL with Twilio connection overrides.
//!
//! The URL's structure (scheme, credentials, host, port, path, fragment) is read by the `url`
//! crate, the WHATWG parser that the HTTP clients use, so a trust decision here sees the host
//! that a request would go to. On top of it, upstream's stricter character rules are checked
//! on the text as written (the standard would percent-encode a space or read a backslash as a
//! slash; upstream refuses both).

use std::net::{IpAddr, Ipv4Addr};

use url::{Host, Url};

/// Longest StatusCallback URL we hand to Twilio (upstream's safety limit).
pub const MAX_CALLBACK_URL_LEN: usize = 4_000;
/// Connection-override read timeout default (ms) and its allowed range.
pub const DEFAULT_READ_TIMEOUT_MS: u32 = 5_000;
const READ_TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 100..=15_000;
/// Connection-override retry count default and its allowed range.
pub const DEFAULT_RETRY_COUNT: u32 = 1;
const RETRY_COUNT_RANGE: std::ops::RangeInclusive<u32> = 1..=5;

/// Characters upstream allows after the host, besides ASCII letters and digits.
const TAIL_PUNCTUATION: &str = "-._~%!$&'()*+,;=:@/?#";

/// How strict [`check_public_url`] is about hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Accept loopback and private hosts: only when the Twilio API itself is local (the
    /// simulator), because real Twilio can never reach them.
    pub allow_private_hosts: bool,
}

/// Why a public URL cannot receive callbacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlProblem(pub String);

/// A URL with an `http` or `https` scheme written as such, and the text after `://`.
fn http_url(url: &str) -> Option<(Url, &str)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    Url::parse(url).ok().map(|parsed| (parsed, rest))
}

/// Checks `url` the way upstream does before using it as a callback target: `http(s)://`, only
/// URL-safe characters, no credentials, and a public host name.
///
/// # Errors
///
/// A [`UrlProblem`] saying what is wrong, in words for a config error.
pub fn check_public_url(url: &str, policy: UrlPolicy) -> Result<(), UrlProblem> {
    let problem = |m: &str| Err(UrlProblem(m.to_owned()));
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return problem("must start with https:// (or http://)");
    };
    // Upstream's character rules, on the text as written.
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return problem("has no host");
    }
    if authority.contains('@') {
        return problem("must not contain credentials (user:password@)");
    }
    if !authority
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']' | '-'))
    {
        return problem("has characters that are not allowed in a host name");
    }
    let tail = &rest[authority.len()..];
    if !tail
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || TAIL_PUNCTUATION.contains(c))
    {
        return problem(
            "must be properly percent-encoded (no spaces, quotes, backslashes or control characters)",
        );
    }
    if !escapes_are_valid(tail) {
        return problem("has an invalid % escape");
    }
    // The structure, as the HTTP client will read it.
    let parsed = match Url::parse(url) {
        Ok(parsed) => parsed,
        Err(url::ParseError::EmptyHost) => return problem("has no host"),
        Err(_) => return problem("has an invalid host name"),
    };
    match parsed.host() {
        None => problem("has no host"),
        Some(Host::Ipv4(ip)) if !is_dotted_quad(authority, ip) => {
            problem("uses a numeric host form; write the address or a host name")
        }
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy),
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy),
        Some(Host::Domain(domain)) => check_domain(domain, policy),
    }
}

/// Whether every `%` in `text` starts a two-hex-digit escape.
fn escapes_are_valid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// Whether the host was written as the dotted quad the parser read (not `0x7f.1`, a bare
/// number or another legacy form that the URL standard also reads as IPv4).
fn is_dotted_quad(authority: &str, ip: Ipv4Addr) -> bool {
    let written = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _port)| host);
    written.parse::<Ipv4Addr>() == Ok(ip)
}

fn check_ip(ip: IpAddr, policy: UrlPolicy) -> Result<(), UrlProblem> {
    if !policy.allow_private_hosts && !is_public_ip(ip) {
        return Err(UrlProblem(
            "points at a loopback, private or reserved address that Twilio cannot reach".to_owned(),
        ));
    }
    Ok(())
}

/// A host name (the parser has lower-cased it): not localhost unless private hosts are
/// allowed, fully qualified, and made of valid labels.
fn check_domain(host: &str, policy: UrlPolicy) -> Result<(), UrlProblem> {
    let problem = |m: &str| Err(UrlProblem(m.to_owned()));
    if host == "localhost" || host.ends_with(".localhost") {
        return if policy.allow_private_hosts {
            Ok(())
        } else {
            problem("points at localhost, which Twilio cannot reach")
        };
    }
    if !host.contains('.') && !policy.allow_private_hosts {
        return problem("needs a fully qualified host name (with a dot)");
    }
    if host.len() > 253 || !host.split('.').all(valid_label) {
        return problem("has an invalid host name");
    }
    Ok(())
}

/// The path of an `http(s)://` URL, as the HTTP client sends it (`/` when it has none),
/// without query or fragment; `None` for anything else.
#[must_use]
pub fn url_path(url: &str) -> Option<String> {
    http_url(url).map(|(parsed, _)| parsed.path().to_owned())
}

/// Whether Twilio's requests to a URL with `public_path` reach the route `webhook_path`: the
/// same path, or the route behind a prefix that a reverse proxy strips at a segment boundary
/// (`/gateway/webhooks/sms` in front of `/webhooks/sms`).
#[must_use]
pub fn path_reaches_route(public_path: &str, webhook_path: &str) -> bool {
    public_path == webhook_path
        || public_path
            .strip_suffix(webhook_path)
            .is_some_and(|prefix| prefix.starts_with('/') && !prefix.ends_with('/'))
}

fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
                && v6
                    .to_ipv4_mapped()
                    .is_none_or(|v4| is_public_ip(IpAddr::V4(v4)))
        }
    }
}

fn valid_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// One connection override in a URL fragment (`rt=5000`), its value with `%2C` read as `,`.
fn fragment_params(fragment: &str) -> Vec<(String, String)> {
    fragment
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.replace("%2C", ",").replace("%2c", ","))
        })
        .collect()
}

/// The retry policies (`rp`): the operator's, de-duplicated, with `ct`, `rt` and `5xx` added
/// unless `all` is there.
fn retry_policies(written: Option<&str>) -> String {
    let mut policies: Vec<&str> = Vec::new();
    for p in written
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !policies.contains(&p) {
            policies.push(p);
        }
    }
    if policies.is_empty() {
        policies.push("ct");
    }
    if !policies.contains(&"all") {
        for needed in ["ct", "rt", "5xx"] {
            if !policies.contains(&needed) {
                policies.push(needed);
            }
        }
    }
    policies.join(",")
}

/// A numeric override within `range`, else `default`.
fn bounded(written: Option<&str>, range: std::ops::RangeInclusive<u32>, default: u32) -> String {
    written
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|v| range.contains(v))
        .unwrap_or(default)
        .to_string()
}

/// The `StatusCallback` URL for outbound messages: the public webhook URL with a fragment of
/// Twilio connection overrides (retry on connect timeout, read timeout and 5xx; read timeout
/// 5 s; one retry), keeping overrides the operator already wrote. `None` when the URL is not
/// fit for callbacks or the result is over [`MAX_CALLBACK_URL_LEN`].
#[must_use]
pub fn status_callback_url(public_webhook_url: &str, policy: UrlPolicy) -> Option<String> {
    check_public_url(public_webhook_url, policy).ok()?;
    let (parsed, _) = http_url(public_webhook_url)?;
    let fragment = parsed.fragment().unwrap_or_default();
    // The URL as written up to its fragment (the parser's serialization would normalise it).
    let base = public_webhook_url
        .split_once('#')
        .map_or(public_webhook_url, |(base, _)| base);
    let mut params = fragment_params(fragment);
    let written = |key: &str| {
        fragment_params(fragment)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    };
    let overrides = [
        ("rp", retry_policies(written("rp").as_deref())),
        (
            "rt",
            bounded(
                written("rt").as_deref(),
                READ_TIMEOUT_RANGE,
                DEFAULT_READ_TIMEOUT_MS,
            ),
        ),
        (
            "rc",
            bounded(
                written("rc").as_deref(),
                RETRY_COUNT_RANGE,
                DEFAULT_RETRY_COUNT,
            ),
        ),
    ];
    for (key, value) in overrides {
        match params.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => params.push((key.to_owned(), value)),
        }
    }
    let fragment: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let url = format!("{base}#{}", fragment.join("&"));
    (url.len() <= MAX_CALLBACK_URL_LEN).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_checks() {
        let strict = UrlPolicy::default();
        let ok = [
            "https://gateway.example.com/webhooks/sms",
            "https://gw.example.com:8443/a?b=c#rp=ct",
            "http://203.0.113.9/x",
            "https://[2001:db8::1]/x",
        ];
        for url in ok {
            assert_eq!(check_public_url(url, strict), Ok(()), "{url}");
        }
        let bad = [
            ("ftp://x.example.com", "must start with"),
            ("https://user:pw@x.example.com/", "credentials"),
            ("https://127.0.0.1/x", "loopback"),
            ("https://10.1.2.3/x", "private"),
            ("https://100.64.0.1/x", "reserved"),
            ("https://localhost/x", "localhost"),
            ("https://gateway/x", "with a dot"),
            ("https://x.example.com/a b", "percent-encoded"),
            ("https://x.example.com/a%zz", "invalid % escape"),
            (
                "https://bad_host.example.com/",
                "not allowed in a host name",
            ),
            ("https://-x.example.com/", "invalid host name"),
            ("https://[::1]/", "loopback"),
        ];
        for (url, needle) in bad {
            let err = check_public_url(url, strict).unwrap_err();
            assert!(err.0.contains(needle), "{url}: {}", err.0);
        }
        let local = UrlPolicy {
            allow_private_hosts: true,
        };
        assert_eq!(
            check_public_url("http://127.0.0.1:18789/webhooks/sms", local),
            Ok(())
        );
        assert_eq!(
            check_public_url("http://localhost:18789/webhooks/sms", local),
            Ok(())
        );
    }

    #[test]
    fn public_path_against_the_route() {
        let check = |url: &str, route: &str, reaches: bool| {
            let path = url_path(url).unwrap();
            assert_eq!(path_reaches_route(&path, route), reaches, "{url} {route}");
        };
        check("https://gw.example.com/webhooks/sms", "/webhooks/sms", true);
        check(
            "https://gw.example.com/webhooks/sms?x=1#rp=ct",
            "/webhooks/sms",
            true,
        );
        check(
            "https://gw.example.com/gw/webhooks/sms",
            "/webhooks/sms",
            true,
        );
        check(
            "https://gw.example.com/webhooks/sms/",
            "/webhooks/sms",
            false,
        );
        check("https://gw.example.com/sms", "/webhooks/sms", false);
        check(
            "https://gw.example.com/xwebhooks/sms",
            "/webhooks/sms",
            false,
        );
        check(
            "https://gw.example.com//webhooks/sms",
            "/webhooks/sms",
            false,
        );
        check("https://gw.example.com", "/webhooks/sms", false);
        check("https://gw.example.com?a=b", "/", true);
        assert_eq!(url_path("ftp://x/y"), None);
    }

    #[test]
    fn status_callback_overrides() {
        let strict = UrlPolicy::default();
        let cases = [
            (
                "https://gw.example.com/webhooks/sms",
                Some("https://gw.example.com/webhooks/sms#rp=ct,rt,5xx&rt=5000&rc=1"),
            ),
            (
                "https://gw.example.com/webhooks/sms#rp=rt&rc=3&x=y",
                Some("https://gw.example.com/webhooks/sms#rp=rt,ct,5xx&rc=3&x=y&rt=5000"),
            ),
            (
                "https://gw.example.com/webhooks/sms#rp=all&rt=99999",
                Some("https://gw.example.com/webhooks/sms#rp=all&rt=5000&rc=1"),
            ),
            (
                "https://gw.example.com/webhooks/sms#rp=ct%2Crt&rt=1200",
                Some("https://gw.example.com/webhooks/sms#rp=ct,rt,5xx&rt=1200&rc=1"),
            ),
            ("http://127.0.0.1/webhooks/sms", None),
        ];
        for (url, expected) in cases {
            assert_eq!(
                status_callback_url(url, strict).as_deref(),
                expected,
                "{url}"
            );
        }
        let long = format!("https://gw.example.com/{}", "a".repeat(4_000));
        assert_eq!(status_callback_url(&long, strict), None);
    }

    /// The host is the one the HTTP client would call: legacy numeric forms that the URL
    /// standard reads as IPv4 are refused even where private hosts are allowed, a backslash
    /// never hides a host, and the path is the one sent (dot segments resolved).
    #[test]
    fn hosts_and_paths_as_the_client_reads_them() {
        let local = UrlPolicy {
            allow_private_hosts: true,
        };
        for url in [
            "https://0x7f.1/x",
            "http://2130706433/x",
            "http://127.1:80/x",
        ] {
            let err = check_public_url(url, local).unwrap_err();
            assert!(err.0.contains("numeric host form"), "{url}: {}", err.0);
        }
        let err = check_public_url(r"https://evil.example\.twilio.com/", UrlPolicy::default());
        assert!(err.unwrap_err().0.contains("not allowed in a host name"));
        assert_eq!(
            url_path("https://gw.example.com/a/../webhooks/sms?x").as_deref(),
            Some("/webhooks/sms")
        );
    }
}
