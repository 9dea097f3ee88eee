//! The client address of a webhook request behind trusted reverse proxies
//! (`gateway.trustedProxies`, `gateway.forwardedHeader`).
//!
//! Only when the connection comes from a trusted proxy is the forwarding header read, and then
//! from the right: each proxy appends the address it received the request from, so the
//! rightmost hop that is not itself a trusted proxy is the client. Hops to its left were
//! written by that client and are never believed. Exactly one header is read (the one the
//! proxy writes, `X-Forwarded-For` unless configured otherwise): reading whichever is present
//! would let a client send the other header through a proxy that only sets one.
//!
//! Hostile headers fall back to a trusted address, never to a chosen one: a hop that is not an
//! address (garbage, `unknown`, an obfuscated `_id`) ends the walk at the trusted hop to its
//! right, and a chain of more than [`MAX_FORWARDED_HOPS`] trusted hops is not believed at all
//! (the client is then the peer).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;

use crate::SmsError;

/// At most this many hops are walked from the right of a forwarding header.
pub const MAX_FORWARDED_HOPS: usize = 32;
/// At most this many entries in `gateway.trustedProxies`.
pub const MAX_TRUSTED_PROXIES: usize = 256;

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in this network (IPv4-mapped IPv6 addresses count as IPv4).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Why a CIDR did not parse; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseCidrError(String);

impl fmt::Display for ParseCidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Cidr {
    type Err = ParseCidrError;

    /// Strict: an address, or an address and a prefix length, with no host bits set (so a
    /// typo such as `10.0.0.1/8` is refused instead of silently meaning `10.0.0.0/8`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = address.parse().map_err(|_| {
            ParseCidrError(format!(
                "{s:?} is not an IP address or CIDR (write e.g. \"10.0.0.0/8\", \"192.0.2.7\" or \"2001:db8::/32\")"
            ))
        })?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max && !p.starts_with('+'))
                .ok_or_else(|| {
                    ParseCidrError(format!(
                        "{s:?}: the prefix length must be a whole number from 0 to {max}"
                    ))
                })?,
        };
        let cidr = Self { network, prefix };
        let truncated = truncate(network, prefix);
        if truncated != network {
            return Err(ParseCidrError(format!(
                "{s:?} has host bits set: write \"{truncated}/{prefix}\" for the network, or \"{network}\" for the one address"
            )));
        }
        Ok(cidr)
    }
}

fn truncate(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// Which forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (nginx, HAProxy, Caddy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    /// Parses the `gateway.forwardedHeader` value (case-insensitive).
    ///
    /// # Errors
    /// [`SmsError::Config`] naming `path` when it is neither header.
    pub fn parse(value: &str, path: &str) -> Result<Self, SmsError> {
        if value.eq_ignore_ascii_case("x-forwarded-for") {
            Ok(Self::XForwardedFor)
        } else if value.eq_ignore_ascii_case("forwarded") {
            Ok(Self::Forwarded)
        } else {
            Err(SmsError::invalid(
                path,
                &format!(
                    "{value:?} is not a forwarding header: use \"X-Forwarded-For\" or \"Forwarded\""
                ),
            ))
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

/// The reverse proxies whose forwarding header is believed. Empty (the default): none, and
/// the client is always the connection's peer address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<Cidr>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Parses `entries` (from the config key `path`, a list of CIDRs or addresses).
    ///
    /// # Errors
    /// [`SmsError::Config`] naming the entry (`gateway.trustedProxies[1]`) and the fix.
    pub fn parse<S: AsRef<str>>(
        entries: &[S],
        header: ForwardedHeader,
        path: &str,
    ) -> Result<Self, SmsError> {
        if entries.len() > MAX_TRUSTED_PROXIES {
            return Err(SmsError::invalid(
                path,
                &format!(
                    "{} entries, at most {MAX_TRUSTED_PROXIES} are allowed: use wider networks (\"10.0.0.0/8\")",
                    entries.len()
                ),
            ));
        }
        let networks = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                entry
                    .as_ref()
                    .trim()
                    .parse::<Cidr>()
                    .map_err(|err| SmsError::invalid(&format!("{path}[{i}]"), &err.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { networks, header })
    }

    /// Whether no proxy is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// The trusted networks.
    #[must_use]
    pub fn networks(&self) -> &[Cidr] {
        &self.networks
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(ip))
    }

    /// The client of a request that arrived from `peer` with `headers`: `peer` itself unless
    /// it is a trusted proxy; then the rightmost hop of the forwarding header that is not a
    /// trusted proxy (see the module documentation for hostile headers).
    #[must_use]
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let header = self.header;
        let hops = headers
            .get_all(header.name())
            .iter()
            .rev()
            .flat_map(|value| value.as_bytes().rsplit(|b| *b == b','))
            .map(|hop| match header {
                ForwardedHeader::XForwardedFor => parse_node(hop),
                ForwardedHeader::Forwarded => forwarded_for(hop).and_then(parse_node),
            });
        let mut client = peer;
        for (walked, hop) in hops.enumerate() {
            if walked == MAX_FORWARDED_HOPS {
                // More trusted hops than any real chain has: believe none of them.
                return peer;
            }
            let Some(ip) = hop else {
                return client;
            };
            let ip = ip.to_canonical();
            if !self.trusts(ip) {
                return ip;
            }
            client = ip;
        }
        client
    }
}

/// The `for=` value of one `Forwarded` element (`for=192.0.2.60;proto=http`).
fn forwarded_for(element: &[u8]) -> Option<&[u8]> {
    element.split(|b| *b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let (name, value) = pair.split_at_checked(4)?;
        name.eq_ignore_ascii_case(b"for=").then_some(value)
    })
}

/// An address from a hop: `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1`, `[2001:db8::1]:4711`,
/// optionally in double quotes. Anything else (`unknown`, `_hidden`, garbage) is `None`.
fn parse_node(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop.trim_ascii()).ok()?;
    let hop = hop
        .strip_prefix('"')
        .and_then(|h| h.strip_suffix('"'))
        .unwrap_or(hop);
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = hop.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(entries: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::parse(entries, header, "gateway.trustedProxies").unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parse_table() {
        fn check(input: &str, expected: Result<&str, &str>) {
            let got = input
                .parse::<Cidr>()
                .map(|c| c.to_string())
                .map_err(|e| e.0);
            match (got, expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{input}: {got}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
        check("10.0.0.0/8", Ok("10.0.0.0/8"));
        check("192.0.2.7", Ok("192.0.2.7/32"));
        check("0.0.0.0/0", Ok("0.0.0.0/0"));
        check("2001:db8::/32", Ok("2001:db8::/32"));
        check("::1", Ok("::1/128"));
        check("::/0", Ok("::/0"));
        check("10.0.0.1/8", Err("host bits set: write \"10.0.0.0/8\""));
        check("10.0.0.0/33", Err("from 0 to 32"));
        check("2001:db8::/129", Err("from 0 to 128"));
        check("10.0.0.0/+8", Err("from 0 to 32"));
        check("10.0.0.0/", Err("from 0 to 32"));
        check("10.0.0.0/8/8", Err("from 0 to 32"));
        check("10.0.0/8", Err("not an IP address or CIDR"));
        check("localhost", Err("not an IP address or CIDR"));
        check("", Err("not an IP address or CIDR"));
        check("[::1]/128", Err("not an IP address or CIDR"));
    }

    #[test]
    fn cidr_contains_at_the_edges() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.0.0")));
        assert!(net.contains(ip("10.1.255.255")));
        assert!(!net.contains(ip("10.2.0.0")));
        assert!(!net.contains(ip("10.0.255.255")));
        assert!(
            net.contains(ip("::ffff:10.1.2.3")),
            "IPv4-mapped counts as IPv4"
        );
        assert!(!net.contains(ip("2001:db8::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("255.255.255.255")));
        let v6: Cidr = "2001:db8::/127".parse().unwrap();
        assert!(v6.contains(ip("2001:db8::1")));
        assert!(!v6.contains(ip("2001:db8::2")));
    }

    #[test]
    fn bad_entries_name_their_key() {
        let err = TrustedProxies::parse(
            &["10.0.0.0/8", "10.0.0.1/8"],
            ForwardedHeader::default(),
            "gateway.trustedProxies",
        )
        .unwrap_err();
        assert_eq!(err.config_path(), Some("gateway.trustedProxies[1]"));
        let many = vec!["10.0.0.0/8"; MAX_TRUSTED_PROXIES + 1];
        let err =
            TrustedProxies::parse(&many, ForwardedHeader::default(), "gateway.trustedProxies")
                .unwrap_err();
        assert_eq!(err.config_path(), Some("gateway.trustedProxies"));
        let err = ForwardedHeader::parse("X-Real-IP", "gateway.forwardedHeader").unwrap_err();
        assert!(
            err.to_string().starts_with("gateway.forwardedHeader: "),
            "{err}"
        );
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        map
    }

    #[test]
    fn client_table() {
        let xff = proxies(
            &["10.0.0.0/8", "2001:db8::/32"],
            ForwardedHeader::XForwardedFor,
        );
        let fwd = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let check = |p: &TrustedProxies, peer: &str, name: &str, values: &[&str], want: &str| {
            assert_eq!(
                p.client(ip(peer), &headers(name, values)),
                ip(want),
                "{peer} {name}: {values:?}"
            );
        };
        let h = "x-forwarded-for";
        // An untrusted peer: its header is ignored.
        check(&xff, "198.51.100.9", h, &["203.0.113.5"], "198.51.100.9");
        // A trusted peer: the rightmost untrusted hop; spoofed hops to its left are ignored.
        check(&xff, "10.0.0.2", h, &["203.0.113.5"], "203.0.113.5");
        check(
            &xff,
            "10.0.0.2",
            h,
            &["1.1.1.1, 203.0.113.5"],
            "203.0.113.5",
        );
        check(
            &xff,
            "10.0.0.2",
            h,
            &["1.1.1.1", "203.0.113.5, 10.0.0.3"],
            "203.0.113.5",
        );
        check(&xff, "::ffff:10.0.0.2", h, &["203.0.113.5"], "203.0.113.5");
        check(
            &xff,
            "2001:db8::1",
            h,
            &["[2001:db8:1::9]:443, 203.0.113.5:4711"],
            "203.0.113.5",
        );
        // No header, or only trusted hops: the leftmost trusted hop.
        check(&xff, "10.0.0.2", h, &[], "10.0.0.2");
        check(&xff, "10.0.0.2", h, &["10.0.0.7, 10.0.0.3"], "10.0.0.7");
        // Garbage ends the walk at the trusted hop to its right, never at a chosen address.
        check(&xff, "10.0.0.2", h, &["203.0.113.5, garbage"], "10.0.0.2");
        check(
            &xff,
            "10.0.0.2",
            h,
            &["203.0.113.5, unknown, 10.0.0.3"],
            "10.0.0.3",
        );
        check(&xff, "10.0.0.2", h, &[""], "10.0.0.2");
        check(&xff, "10.0.0.2", h, &[",,,"], "10.0.0.2");
        // The other header is not read.
        check(
            &xff,
            "10.0.0.2",
            "forwarded",
            &["for=203.0.113.5"],
            "10.0.0.2",
        );
        check(&fwd, "10.0.0.2", h, &["203.0.113.5"], "10.0.0.2");
        // Forwarded: for= of each element, quoted, with ports, case-insensitive names.
        let f = "forwarded";
        check(
            &fwd,
            "10.0.0.2",
            f,
            &["for=203.0.113.5;proto=https"],
            "203.0.113.5",
        );
        check(
            &fwd,
            "10.0.0.2",
            f,
            &["for=1.1.1.1, For=\"203.0.113.5:4711\""],
            "203.0.113.5",
        );
        check(
            &fwd,
            "10.0.0.2",
            f,
            &["for=\"[2001:db8::7]:1\""],
            "2001:db8::7",
        );
        check(&fwd, "10.0.0.2", f, &["proto=https"], "10.0.0.2");
        check(&fwd, "10.0.0.2", f, &["for=_hidden"], "10.0.0.2");
        check(
            &fwd,
            "10.0.0.2",
            f,
            &["for=unknown, for=10.0.0.3"],
            "10.0.0.3",
        );
        // Nothing trusted: the peer, whatever the header says.
        let none = TrustedProxies::default();
        check(&none, "10.0.0.2", h, &["203.0.113.5"], "10.0.0.2");
    }

    #[test]
    fn many_trusted_hops_stop_at_the_bound() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let mut hops: Vec<String> = vec!["203.0.113.5".to_owned()];
        hops.extend((0..10_000).map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1)));
        let value = hops.join(",");
        let client = p.client(ip("10.0.0.1"), &headers("x-forwarded-for", &[&value]));
        assert_eq!(client, ip("10.0.0.1"), "past the bound: the peer itself");
        // At the bound: the leftmost of 32 trusted hops.
        let value = (1..=MAX_FORWARDED_HOPS)
            .map(|i| format!("10.0.1.{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let client = p.client(ip("10.0.0.1"), &headers("x-forwarded-for", &[&value]));
        assert_eq!(client, ip("10.0.1.1"));
        // A huge header of one garbage hop is just garbage.
        let huge = "9".repeat(100_000);
        assert_eq!(
            p.client(ip("10.0.0.1"), &headers("x-forwarded-for", &[&huge])),
            ip("10.0.0.1")
        );
    }
}
