//! Fuzz the client address behind trusted proxies (`openclaw-sms` `proxies`): `X-Forwarded-For`
//! and `Forwarded` values. Input: `header-kind byte, value \n value \n …`.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use openclaw_sms::{ForwardedHeader, TrustedProxies};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let (header, name) = if kind & 1 == 0 {
        (ForwardedHeader::XForwardedFor, "x-forwarded-for")
    } else {
        (ForwardedHeader::Forwarded, "forwarded")
    };
    let mut headers = http::HeaderMap::new();
    for value in rest.split(|&b| b == b'\n') {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let proxies = TrustedProxies::parse(&["10.0.0.0/8", "2001:db8::/32"], header, "fuzz")
        .expect("valid CIDRs");
    let peer: IpAddr = "10.0.0.1".parse().expect("an address");
    let client = proxies.client(peer, &headers);
    // An untrusted peer is always its own client.
    let outsider: IpAddr = "198.51.100.1".parse().expect("an address");
    assert_eq!(proxies.client(outsider, &headers), outsider);
    // Behind the trusted peer, the client is the peer or an address that appears in a value.
    let text = String::from_utf8_lossy(rest);
    assert!(client == peer || text.contains(&client.to_string()) || text.contains(':'));
});
