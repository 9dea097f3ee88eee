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
    // The operator still learns why: the first rejection of the client is logged.
    assert!(
        log.text().contains("invalid Twilio signature"),
        "{}",
        log.text()
    );
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
