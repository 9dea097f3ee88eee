//! `gateway.trustedProxies`: refused when malformed, and, in a running gateway, the client a
//! trusted proxy names is what the invalid-request limiter counts.

use std::io::{Read as _, Write as _};

use serde_json::json;

use crate::harness::{FakeTwilio, Sandbox};
use crate::state::{Background, wait_for_the_gateway};

#[test]
fn a_malformed_trusted_proxy_is_refused_naming_the_key() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"gateway": {"trustedProxies": ["10.0.0.0/8", "10.0.0.1/8"]}}));
    let out = sandbox.run(&["config", "validate"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(
        out.stderr
            .contains("gateway.trustedProxies[1]: \"10.0.0.1/8\" has host bits set"),
        "{}",
        out.render()
    );
    let out = sandbox.run(&["gateway", "--port", "0"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(
        out.stderr.contains("gateway.trustedProxies[1]"),
        "{}",
        out.render()
    );
    // `config patch` writes nothing that would be refused.
    sandbox.write_config(&json!({}));
    let patch = sandbox.write("p.json", r#"{"gateway": {"trustedProxies": "10.0.0.0/8"}}"#);
    let out = sandbox.run(&["config", "patch", "--file", patch.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(
        out.stderr
            .contains("gateway.trustedProxies: expected a list"),
        "{}",
        out.render()
    );
    assert_eq!(sandbox.config_json(), json!({}));
}

/// A forged webhook to the gateway on `port` as if a proxy forwarded it for `client`.
fn forged_via_proxy(port: u16, client: &str) -> u16 {
    let body = "MessageSid=SM1&From=%2B15557654321&Body=hi";
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "POST /webhooks/sms HTTP/1.1\r\nHost: gateway.example.com\r\nX-Forwarded-For: {client}\r\nX-Twilio-Signature: forged\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"))
}

#[test]
fn behind_a_trusted_proxy_each_client_has_its_own_invalid_budget() {
    let sandbox = Sandbox::new();
    let twilio = FakeTwilio::start(None);
    let mut sms = twilio.sms_section();
    sms["limits"] = json!({"invalidPerClientPerMinute": 2});
    sandbox.write_config(&json!({
        "gateway": {"trustedProxies": ["127.0.0.1"]},
        "channels": {"sms": sms},
        "agents": {"defaults": {"model": {"primary": "echo"}}},
    }));
    let port = sandbox.gateway_port();
    let _gateway = Background(sandbox.spawn_background(&["gateway", "--port", &port.to_string()]));
    wait_for_the_gateway(&sandbox);
    assert_eq!(forged_via_proxy(port, "203.0.113.66"), 403);
    assert_eq!(forged_via_proxy(port, "203.0.113.66"), 403);
    assert_eq!(
        forged_via_proxy(port, "203.0.113.66"),
        429,
        "the attacker is limited"
    );
    assert_eq!(
        forged_via_proxy(port, "198.51.100.1, 203.0.113.66"),
        429,
        "a spoofed hop to the left changes nothing"
    );
    assert_eq!(
        forged_via_proxy(port, "203.0.113.77"),
        403,
        "another client behind the proxy is not throttled"
    );
}
