//! The public webhook URL: whether it is fit to receive delivery
//! callbacks, and the per-message `StatusCallback` URL with Twilio connection overrides.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest StatusCallback URL we hand to Twilio (upstream's safety limit).
pub const MAX_CALLBACK_URL_LEN: usize = 4_000;
/// Connection-override read timeout default (ms) and its allowed range.
pub const DEFAULT_READ_TIMEOUT_MS: u32 = 5_000;
const READ_TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 100..=15_000;
/// Connection-override retry count default and its allowed range.
pub const DEFAULT_RETRY_COUNT: u32 = 1;
const RETRY_COUNT_RANGE: std::ops::RangeInclusive<u32> = 1..=5;

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

/// Checks `url` the way upstream does before using it as a callback target: `http(s)://`, only
/// URL-safe characters, no credentials, and a public host name.
pub fn check_public_url(url: &str, policy: UrlPolicy) -> Result<(), UrlProblem> {
    let problem = |m: &str| Err(UrlProblem(m.to_owned()));
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return problem("must start with https:// (or http://)");
    };
    let (authority, tail) = rest
        .find(['/', '?', '#'])
        .map_or((rest, ""), |i| rest.split_at(i));
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
    if !tail
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~%!$&'()*+,;=:@/?#".contains(c))
    {
        return problem(
            "must be properly percent-encoded (no spaces, quotes, backslashes or control characters)",
        );
    }
    let bytes = tail.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return problem("has an invalid % escape");
        }
    }
    let host = host_of(authority);
    if host.is_empty() {
        return problem("has no host");
    }
    if let Some(ip) = parse_ip(host) {
        if !policy.allow_private_hosts && !is_public_ip(ip) {
            return problem(
                "points at a loopback, private or reserved address that Twilio cannot reach",
            );
        }
        return Ok(());
    }
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return if policy.allow_private_hosts {
            Ok(())
        } else {
            problem("points at localhost, which Twilio cannot reach")
        };
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') || host.starts_with("0x") {
        return problem("uses a numeric host form; write the address or a host name");
    }
    if !host.contains('.') && !policy.allow_private_hosts {
        return problem("needs a fully qualified host name (with a dot)");
    }
    if host.len() > 253 || !host.split('.').all(valid_label) {
        return problem("has an invalid host name");
    }
    Ok(())
}

/// The path of an `http(s)://` URL as written (`/` when it has none), without query or
/// fragment; `None` for anything else.
pub fn url_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let tail = rest.find(['/', '?', '#']).map_or("", |i| &rest[i..]);
    let path = tail.split(['?', '#']).next().unwrap_or_default();
    Some(if path.is_empty() { "/" } else { path })
}

/// Whether Twilio's requests to a URL with `public_path` reach the route `webhook_path`: the
/// same path, or the route behind a prefix that a reverse proxy strips at a segment boundary
/// (`/gateway/webhooks/sms` in front of `/webhooks/sms`).
pub fn path_reaches_route(public_path: &str, webhook_path: &str) -> bool {
    public_path == webhook_path
        || public_path
            .strip_suffix(webhook_path)
            .is_some_and(|prefix| prefix.starts_with('/') && !prefix.ends_with('/'))
}

fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.rsplit_once(':').map_or(authority, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    })
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    host.parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .ok()
        .or_else(|| host.parse::<Ipv6Addr>().map(IpAddr::V6).ok())
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

/// The `StatusCallback` URL for outbound messages: the public webhook URL with a fragment of
/// Twilio connection overrides (retry on connect timeout, read timeout and 5xx; read timeout
/// 5 s; one retry), keeping overrides the operator already wrote. `None` when the URL is not
/// fit for callbacks or the result is over [`MAX_CALLBACK_URL_LEN`].
pub fn status_callback_url(public_webhook_url: &str, policy: UrlPolicy) -> Option<String> {
    check_public_url(public_webhook_url, policy).ok()?;
    let (base, fragment) = public_webhook_url
        .split_once('#')
        .unwrap_or((public_webhook_url, ""));
    let mut params: Vec<(String, String)> = fragment
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.replace("%2C", ",").replace("%2c", ","))
        })
        .collect();
    let mut set = |key: &str, value: String| match params.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value,
        None => params.push((key.to_owned(), value)),
    };
    let existing = |key: &str| -> Option<String> {
        fragment.split('&').find_map(|p| {
            p.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v.replace("%2C", ","))
        })
    };
    let mut policies: Vec<String> = Vec::new();
    for p in existing("rp")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !policies.iter().any(|q| q == p) {
            policies.push(p.to_owned());
        }
    }
    if policies.is_empty() {
        policies.push("ct".to_owned());
    }
    if !policies.iter().any(|p| p == "all") {
        for needed in ["ct", "rt", "5xx"] {
            if !policies.iter().any(|p| p == needed) {
                policies.push(needed.to_owned());
            }
        }
    }
    set("rp", policies.join(","));
    let rt = existing("rt")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|v| READ_TIMEOUT_RANGE.contains(v))
        .unwrap_or(DEFAULT_READ_TIMEOUT_MS);
    set("rt", rt.to_string());
    let rc = existing("rc")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|v| RETRY_COUNT_RANGE.contains(v))
        .unwrap_or(DEFAULT_RETRY_COUNT);
    set("rc", rc.to_string());
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
            assert_eq!(path_reaches_route(path, route), reaches, "{url} {route}");
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
}
