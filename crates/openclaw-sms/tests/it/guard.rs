//! The webhook guard against hostile clients: stalled bodies, forged requests that would
//! flood the log, JSON signatures over a public URL with a query, and client addresses behind
//! a reverse proxy.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use openclaw_sms::SmsChannel;
use openclaw_sms::metrics::names;
use openclaw_store::{IngressQueue as _, SqliteStore};
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::*;

const PUBLIC: &str = "https://gateway.example.com/webhooks/sms";
const PATH: &str = "/webhooks/sms";
const CLIENT: [u8; 4] = [203, 0, 113, 7];

struct Route {
    router: Router,
    channel: Arc<SmsChannel>,
    store: Arc<SqliteStore>,
}

fn route_with(public: &str, overrides: &Value, options: openclaw_sms::ChannelOptions) -> Route {
    let config = sms_config("http://127.0.0.1:9", public, overrides);
    let store = memory_store();
    let channel = channel(
        &config,
        store.clone(),
        Arc::new(TestAgent::default()),
        Default::default(),
        options,
    );
    Route {
        router: openclaw_sms::webhook::router(&channel),
        channel,
        store,
    }
}

async fn call(router: &Router, request: Request<Body>) -> Response<Body> {
    router.clone().oneshot(request).await.unwrap()
}

async fn body_text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A log sink for a `tracing` subscriber: every line written, kept in memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures what the gateway would log (INFO and up, as its default filter) on this thread.
fn capture_log() -> (LogBuffer, tracing::subscriber::DefaultGuard) {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn forged_requests_with_a_20_kb_query_log_a_bounded_line_per_client_and_window() {
    let r = route_with(PUBLIC, &json!({}), channel_options());
    let query = format!("pad={}", "q".repeat(20 * 1024));
    let forged = 100;
    let params = inbound_form(&message_sid(1), ALICE, "hi");
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = encode_form(&pairs);
    let mut sent = 0;
    let (log, guard) = capture_log();
    for _ in 0..forged {
        let request = post(
            &format!("{PATH}?{query}"),
            body.clone(),
            Some("forged/signature/AAAAAAAAAAAAAAAAA="),
            CLIENT,
        );
        sent += PATH.len() + 1 + query.len() + body.len();
        let response = call(&r.router, request).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    drop(guard);
    let logged = log.len();
    println!(
        "log bytes per forged request: {} ({} bytes sent per request)",
        logged / forged,
        sent / forged
    );
    assert!(
        logged / forged < 1024,
        "{logged} log bytes for {forged} forged requests:\n{}",
        log.text().chars().take(2000).collect::<String>()
    );
    assert!(
        logged * 20 < sent,
        "{logged} log bytes for {sent} bytes sent"
    );
    // The operator still learns why: the first rejection of the client is logged, with the
    // query cut and written as a quoted (escaped) field.
    assert!(
        log.text().contains("invalid Twilio signature"),
        "{}",
        log.text()
    );
    assert!(log.text().contains("query=\"pad=qqq"), "{}", log.text());
    assert!(log.text().contains("…(+"), "{}", log.text());
    // And every rejection is counted.
    let counted = r.channel.metrics().counter(
        names::WEBHOOKS,
        &[("account", ACCOUNT), ("outcome", "forbidden")],
    );
    assert_eq!(counted, forged as u64);
    assert_eq!(r.store.queue_depth(ACCOUNT).await.unwrap(), 0);

    // The worst case: every forged request from a new address logs its one bounded line.
    let (log, guard) = capture_log();
    for i in 0..forged {
        let request = post(
            &format!("{PATH}?{query}"),
            body.clone(),
            Some("forged/signature/AAAAAAAAAAAAAAAAA="),
            [198, 51, 100, u8::try_from(i).unwrap()],
        );
        assert_eq!(
            call(&r.router, request).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    drop(guard);
    println!(
        "log bytes per forged request, each from a new address: {}",
        log.len() / forged
    );
    assert!(
        log.len() / forged < 1024,
        "{}",
        log.text().lines().next().unwrap_or("")
    );
    assert_eq!(log.text().lines().count(), forged);
}

#[tokio::test]
async fn a_client_over_its_invalid_budget_adds_nothing_to_the_log() {
    let r = route_with(
        PUBLIC,
        &json!({"limits": {"invalidPerClientPerMinute": 2}}),
        channel_options(),
    );
    let forged = || {
        post(
            &format!("{PATH}?pad={}", "q".repeat(2048)),
            encode_form(&[("MessageSid", "SM1")]),
            Some("forged"),
            CLIENT,
        )
    };
    for _ in 0..2 {
        assert_eq!(
            call(&r.router, forged()).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    let (log, guard) = capture_log();
    for _ in 0..50 {
        let response = call(&r.router, forged()).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    drop(guard);
    assert_eq!(log.text(), "", "a limited client is counted, not logged");
    let counted = r.channel.metrics().counter(
        names::WEBHOOKS,
        &[("account", ACCOUNT), ("outcome", "invalid_limited")],
    );
    assert_eq!(counted, 50);
}

#[tokio::test]
async fn a_json_webhook_signed_over_a_public_url_with_a_query_passes_the_signature_check() {
    // Twilio signs a JSON webhook's URL with `&bodySHA256=<hex>` added to the configured
    // query; the gateway must verify the URL it called, not the configured one as it is.
    let public = "https://gateway.example.com/webhooks/sms?foo=1";
    let r = route_with(public, &json!({}), channel_options());
    let body = r#"{"MessageSid": "SM1", "Body": "hi"}"#;
    let token = SecretString::from(TOKEN);
    let (signed_url, signature) =
        openclaw_twilio::signature::sign_json(public, body.as_bytes(), &token);
    let query = signed_url.split_once('?').unwrap().1;
    assert!(query.starts_with("foo=1&bodySHA256="), "{signed_url}");
    let mut request = post(
        &format!("{PATH}?{query}"),
        body.to_owned(),
        Some(&signature),
        CLIENT,
    );
    request.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let response = call(&r.router, request).await;
    // Past the signature check; a JSON body has no form MessageSid, so the route answers
    // as it does for any signed request without one.
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_text(response).await, "Missing MessageSid");

    // The same request with the hash of another body is still refused.
    let (_, signature) = openclaw_twilio::signature::sign_json(public, b"{\"other\": 1}", &token);
    let request = post(
        &format!("{PATH}?{query}"),
        body.to_owned(),
        Some(&signature),
        CLIENT,
    );
    assert_eq!(
        call(&r.router, request).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_form_webhook_on_a_public_url_with_a_query_still_verifies_against_it() {
    // Today's candidate stays: the configured URL as it is, whatever query the request has.
    let public = "https://gateway.example.com/webhooks/sms?foo=1";
    let r = route_with(public, &json!({}), channel_options());
    let params = inbound_form(&message_sid(3), ALICE, "hi");
    let request = signed_post(public, &format!("{PATH}?foo=1"), &params, CLIENT);
    assert_eq!(call(&r.router, request).await.status(), StatusCode::OK);
}

/// Opens a connection to `server` from the loopback address `from` (127.0.0.0/8 is all ours).
async fn connect_from(from: [u8; 4], server: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    socket.connect(server).await.unwrap()
}

/// Sends headers that announce a 1,000-byte body and then nothing.
async fn stall(from: [u8; 4], server: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = connect_from(from, server).await;
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: stalled\r\nContent-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// POSTs `body` signed for `public` from `from` over a fresh connection; the status code.
async fn raw_signed_post(
    from: [u8; 4],
    server: std::net::SocketAddr,
    public: &str,
    params: &[(String, String)],
) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = encode_form(&pairs);
    let signature = sign(public, &pairs);
    let mut stream = connect_from(from, server).await;
    let request = format!(
        "POST {PATH} HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    let status = response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    status.parse().unwrap()
}

#[tokio::test]
async fn stalled_bodies_from_one_client_do_not_starve_a_signed_webhook() {
    // A real server on loopback: 100 connections from 127.0.0.2 send headers with
    // `Content-Length: 1000` and stall; Twilio (127.0.0.1) still gets its 200.
    let overall = async {
        let (listener, public) = webhook_listener().await;
        let server = listener.local_addr().unwrap();
        let config = sms_config("http://127.0.0.1:9", &public, &json!({}));
        let gateway = Gateway::start(
            listener,
            &config,
            memory_store(),
            GatewayOptions {
                pump: false,
                ..GatewayOptions::default()
            },
        );
        let mut stalled = Vec::new();
        for _ in 0..100 {
            stalled.push(stall([127, 0, 0, 2], server).await);
        }
        let account = gateway.channel.account(ACCOUNT).unwrap().clone();
        eventually("the stalled client to hold its 64 slots", || {
            let n = account.limiters.pre_auth.in_flight();
            async move { n == 64 }
        })
        .await;
        let params = inbound_form(&message_sid(7), ALICE, "hi");
        let status = raw_signed_post([127, 0, 0, 1], server, &public, &params).await;
        assert_eq!(
            status, 200,
            "a signed webhook is accepted while bodies stall"
        );
        assert_eq!(gateway.store.queue_depth(ACCOUNT).await.unwrap(), 1);
        // The staller's own extra connections were refused, not queued behind its slots.
        let extra = raw_signed_post([127, 0, 0, 2], server, &public, &params).await;
        assert_eq!(extra, 429);
        drop(stalled);
        gateway.shutdown().await;
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), overall)
        .await
        .expect("the test finishes");
}

fn behind_proxy(trusted: &[&str]) -> openclaw_sms::ChannelOptions {
    openclaw_sms::ChannelOptions {
        trusted_proxies: openclaw_sms::TrustedProxies::parse(
            trusted,
            openclaw_sms::ForwardedHeader::XForwardedFor,
            "gateway.trustedProxies",
        )
        .unwrap(),
        ..channel_options()
    }
}

/// A forged request from `peer` carrying `X-Forwarded-For: forwarded_for`.
fn forged_via(peer: [u8; 4], forwarded_for: &str) -> Request<Body> {
    let params = inbound_form(&message_sid(9), ALICE, "hi");
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut request = post(PATH, encode_form(&pairs), Some("forged"), peer);
    request.headers_mut().insert(
        "x-forwarded-for",
        http::HeaderValue::from_str(forwarded_for).unwrap(),
    );
    request
}

const PROXY: [u8; 4] = [10, 0, 0, 2];

#[tokio::test]
async fn an_attacker_behind_a_trusted_proxy_does_not_throttle_another_client_behind_it() {
    let r = route_with(
        PUBLIC,
        &json!({"limits": {"invalidPerClientPerMinute": 3}}),
        behind_proxy(&["10.0.0.0/8"]),
    );
    // The attacker spoofs a hop to the left; the proxy appends its real address.
    let attacker = "192.0.2.1, 203.0.113.66";
    for _ in 0..3 {
        let status = call(&r.router, forged_via(PROXY, attacker)).await.status();
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let status = call(&r.router, forged_via(PROXY, attacker)).await.status();
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker is limited"
    );
    // Rotating the spoofed part does not give the attacker a fresh budget.
    let rotated = "192.0.2.99, 203.0.113.66";
    let status = call(&r.router, forged_via(PROXY, rotated)).await.status();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy has its own budget.
    let other = call(&r.router, forged_via(PROXY, "203.0.113.77")).await;
    assert_eq!(
        other.status(),
        StatusCode::FORBIDDEN,
        "not throttled by the attacker"
    );
    // And Twilio behind the proxy is accepted.
    let params = inbound_form(&message_sid(10), ALICE, "hi");
    let mut genuine = signed_post(PUBLIC, PATH, &params, PROXY);
    genuine.headers_mut().insert(
        "x-forwarded-for",
        http::HeaderValue::from_static("203.0.113.88"),
    );
    assert_eq!(call(&r.router, genuine).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_untrusted_peers_x_forwarded_for_is_ignored() {
    let r = route_with(
        PUBLIC,
        &json!({"limits": {"invalidPerClientPerMinute": 3}}),
        behind_proxy(&["10.0.0.0/8"]),
    );
    let peer = [198, 51, 100, 9];
    for i in 0..3 {
        let status = call(&r.router, forged_via(peer, &format!("203.0.113.{i}")))
            .await
            .status();
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // A new X-Forwarded-For each time: still the same client (the peer), so limited.
    let status = call(&r.router, forged_via(peer, "203.0.113.200"))
        .await
        .status();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Hostile headers from a trusted proxy fall back to a trusted address: no panic, and no
    // fresh budget (garbage, a huge header and many hops all key on the proxy).
    let r = route_with(
        PUBLIC,
        &json!({"limits": {"invalidPerClientPerMinute": 3}}),
        behind_proxy(&["10.0.0.0/8"]),
    );
    let many_hops = vec!["10.9.9.9"; 5_000].join(", ");
    let huge = "9".repeat(30_000);
    for hostile in ["garbage", "203.0.113.5, unknown", huge.as_str()] {
        let status = call(&r.router, forged_via(PROXY, hostile)).await.status();
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{}",
            &hostile[..hostile.len().min(40)]
        );
    }
    let status = call(&r.router, forged_via(PROXY, &many_hops))
        .await
        .status();
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "all four keyed on the proxy"
    );
}
