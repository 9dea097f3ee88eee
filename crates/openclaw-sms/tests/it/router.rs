//! The webhook route in upstream's answer order (the order the module doc of
//! `openclaw_sms::webhook` lists), in process with `oneshot`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use openclaw_sms::SmsChannel;
use openclaw_sms::webhook::DURABLE_HEADER;
use openclaw_store::{DeliveryStore as _, IngressQueue as _, SqliteStore};
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

fn route(overrides: &Value) -> Route {
    let config = sms_config("http://127.0.0.1:9", PUBLIC, overrides);
    let store = memory_store();
    let channel = channel(
        &config,
        store.clone(),
        Arc::new(TestAgent::default()),
        Default::default(),
        channel_options(),
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

fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

fn text_from(n: u32, from: &str) -> Request<Body> {
    signed_post(
        PUBLIC,
        PATH,
        &inbound_form(&message_sid(n), from, "hi"),
        CLIENT,
    )
}

/// The phone of sender `i` (distinct senders keep under the per-sender quota).
fn sender(i: u32) -> String {
    format!("+1555800{i:04}")
}

async fn depth(store: &SqliteStore) -> u64 {
    store.queue_depth(ACCOUNT).await.unwrap()
}

async fn assert_accepted(response: Response<Body>) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "content-type"),
        Some("text/xml; charset=utf-8")
    );
    assert_eq!(header(&response, DURABLE_HEADER), Some("durable"));
    assert_eq!(body_text(response).await, "<Response></Response>");
}

#[tokio::test]
async fn get_is_405_with_allow_post() {
    let r = route(&json!({}));
    let request = Request::get(PATH).body(Body::empty()).unwrap();
    let response = call(&r.router, request).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&response, "allow"), Some("POST"));
}

/// A request whose body arrives only when the test says so.
fn held_request(
    signature: Option<&str>,
) -> (http_body_util::channel::Sender<Bytes>, Request<Body>) {
    let (tx, body) = http_body_util::channel::Channel::<Bytes>::new(1);
    let mut builder =
        Request::post(PATH).header("content-type", "application/x-www-form-urlencoded");
    if let Some(s) = signature {
        builder = builder.header("x-twilio-signature", s);
    }
    let mut request = builder.body(Body::new(body)).unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            CLIENT, 40_000,
        ))));
    (tx, request)
}

#[tokio::test]
async fn sixty_four_in_flight_are_accepted_and_the_65th_is_429_with_connection_close() {
    let r = route(&json!({}));
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    for n in 0..64 {
        let params = inbound_form(&message_sid(n), &sender(n), "hi");
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (tx, request) = held_request(Some(&sign(PUBLIC, &pairs)));
        senders.push((encode_form(&pairs), tx));
        let router = r.router.clone();
        tasks.push(tokio::spawn(async move {
            router.oneshot(request).await.unwrap()
        }));
    }
    let account = r.channel.account(ACCOUNT).unwrap().clone();
    eventually("64 requests in flight", || {
        let n = account.limiters.pre_auth.in_flight();
        async move { n == 64 }
    })
    .await;
    let response = call(&r.router, text_from(1000, &sender(1000))).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, "connection"), Some("close"));
    assert_eq!(depth(&r.store).await, 0, "the 65th was not stored");

    // Now every held request gets its body and is accepted.
    for (body, mut tx) in senders {
        tx.send_data(Bytes::from(body)).await.unwrap();
        drop(tx);
    }
    for task in tasks {
        assert_accepted(task.await.unwrap()).await;
    }
    assert_eq!(account.limiters.pre_auth.in_flight(), 0);
    assert_eq!(depth(&r.store).await, 64);
    // With the door free again, the 65th sender's text is accepted.
    assert_accepted(call(&r.router, text_from(1000, &sender(1000))).await).await;
}

fn padded_text(total: usize) -> Request<Body> {
    // Pad the Body field so that the encoded form is exactly `total` bytes.
    let params = |pad: &str| inbound_form(&message_sid(1), ALICE, pad);
    let encoded_len = |pad: &str| {
        let p = params(pad);
        let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        encode_form(&pairs).len()
    };
    let base = encoded_len("");
    let pad = "a".repeat(total - base);
    assert_eq!(encoded_len(&pad), total);
    signed_post(PUBLIC, PATH, &params(&pad), CLIENT)
}

#[tokio::test]
async fn a_body_of_32768_bytes_is_accepted_and_32769_is_413() {
    let r = route(&json!({}));
    assert_accepted(call(&r.router, padded_text(32_768)).await).await;
    let response = call(&r.router, padded_text(32_769)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(header(&response, "connection"), Some("close"));
}

#[tokio::test]
async fn an_oversized_body_without_content_length_is_413() {
    let r = route(&json!({}));
    let (mut tx, request) = held_request(None);
    let task = tokio::spawn(r.router.clone().oneshot(request));
    tx.send_data(Bytes::from(vec![b'a'; 32_768])).await.unwrap();
    tx.send_data(Bytes::from_static(b"a")).await.unwrap();
    let response = task.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(start_paused = true)]
async fn a_body_not_read_within_5_s_is_500() {
    let r = route(&json!({}));
    let (mut tx, request) = held_request(None);
    tx.send_data(Bytes::from_static(b"MessageSid=SM"))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let response = call(&r.router, request).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(started.elapsed() >= openclaw_sms::webhook::BODY_READ_TIMEOUT);
    assert_eq!(header(&response, "connection"), Some("close"));
    drop(tx);
    assert_eq!(depth(&r.store).await, 0);
}

#[tokio::test]
async fn a_bad_signature_is_403_and_stores_nothing() {
    let r = route(&json!({}));
    let params = inbound_form(&message_sid(1), ALICE, "hi");
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let wrong = sign("https://elsewhere.example.com/webhooks/sms", &pairs);
    let response = call(
        &r.router,
        post(PATH, encode_form(&pairs), Some(&wrong), CLIENT),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let unsigned = call(&r.router, post(PATH, encode_form(&pairs), None, CLIENT)).await;
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    assert_eq!(depth(&r.store).await, 0);
    // The same MessageSid, signed, is new to the store.
    assert_accepted(call(&r.router, text_from(1, ALICE)).await).await;
    assert_eq!(depth(&r.store).await, 1);
}

#[tokio::test]
async fn after_300_failures_a_client_gets_429_and_another_client_does_not() {
    let r = route(&json!({}));
    let bad = |client| post(PATH, "MessageSid=SM1".to_owned(), Some("bm9wZQ=="), client);
    for i in 1..=300 {
        let response = call(&r.router, bad(CLIENT)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "failure {i}");
    }
    let response = call(&r.router, bad(CLIENT)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = call(&r.router, bad([198, 51, 100, 1])).await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_30th_text_from_one_sender_is_accepted_and_the_31st_is_429() {
    let r = route(&json!({}));
    for n in 1..=30 {
        let response = call(&r.router, text_from(n, ALICE)).await;
        assert_eq!(response.status(), StatusCode::OK, "text {n}");
    }
    let response = call(&r.router, text_from(31, ALICE)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(depth(&r.store).await, 30);
    // Another sender has its own quota.
    assert_accepted(call(&r.router, text_from(32, BOB)).await).await;
}

#[tokio::test]
async fn the_route_takes_300_texts_a_minute() {
    let r = route(&json!({}));
    for n in 0..300 {
        let response = call(&r.router, text_from(n, &sender(n / 25))).await;
        assert_eq!(response.status(), StatusCode::OK, "text {n}");
    }
    let response = call(&r.router, text_from(300, &sender(100))).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(depth(&r.store).await, 300);
}

#[tokio::test]
async fn limits_come_from_config() {
    let r = route(&json!({"limits": {"perSenderPerMinute": 2, "maxBodyBytes": 400}}));
    assert_eq!(
        call(&r.router, text_from(1, ALICE)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&r.router, text_from(2, ALICE)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&r.router, text_from(3, ALICE)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        call(&r.router, padded_text(401)).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn a_missing_message_sid_is_400() {
    let r = route(&json!({}));
    let params: Vec<(String, String)> = inbound_form("x", ALICE, "hi")
        .into_iter()
        .filter(|(k, _)| k != "MessageSid" && k != "SmsSid")
        .collect();
    let response = call(&r.router, signed_post(PUBLIC, PATH, &params, CLIENT)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_text(response).await, "Missing MessageSid");
}

#[tokio::test]
async fn a_text_is_200_empty_twiml_durable_and_a_duplicate_is_acknowledged_alike() {
    let r = route(&json!({}));
    assert_accepted(call(&r.router, text_from(7, ALICE)).await).await;
    assert_accepted(call(&r.router, text_from(7, ALICE)).await).await;
    assert_eq!(
        depth(&r.store).await,
        1,
        "the duplicate is not queued again"
    );
}

#[tokio::test]
async fn with_validation_disabled_an_unsigned_text_is_accepted() {
    let r = route(&json!({"dangerouslyDisableSignatureValidation": true}));
    let params = inbound_form(&message_sid(1), ALICE, "hi");
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_accepted(call(&r.router, post(PATH, encode_form(&pairs), None, CLIENT)).await).await;
    assert_eq!(depth(&r.store).await, 1);
}

fn callback(sid: &str, status: &str, account_sid: &str) -> Vec<(String, String)> {
    vec![
        ("SmsSid".into(), sid.into()),
        ("SmsStatus".into(), status.into()),
        ("MessageStatus".into(), status.into()),
        ("To".into(), ALICE.into()),
        ("MessageSid".into(), sid.into()),
        ("AccountSid".into(), account_sid.into()),
        ("From".into(), OUR.into()),
        ("ApiVersion".into(), "2010-04-01".into()),
    ]
}

#[tokio::test]
async fn a_status_callback_updates_delivery_and_a_foreign_one_is_ignored() {
    let r = route(&json!({}));
    let sid = message_sid(42);
    for status in ["sent", "delivered"] {
        let response = call(
            &r.router,
            signed_post(PUBLIC, PATH, &callback(&sid, status, AC), CLIENT),
        )
        .await;
        assert_accepted(response).await;
    }
    let record = r.store.delivery(ACCOUNT, &sid).await.unwrap().unwrap();
    assert_eq!(record.status, "delivered");
    assert_eq!(
        depth(&r.store).await,
        0,
        "a callback is not an inbound text"
    );

    let foreign = message_sid(43);
    let response = call(
        &r.router,
        signed_post(
            PUBLIC,
            PATH,
            &callback(&foreign, "delivered", AC_OTHER),
            CLIENT,
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, DURABLE_HEADER), None);
    assert_eq!(body_text(response).await, "<Response></Response>");
    assert!(r.store.delivery(ACCOUNT, &foreign).await.unwrap().is_none());
}

#[tokio::test]
async fn a_signature_over_the_query_string_is_accepted() {
    // Twilio signs the URL it called, query included; the route appends the request's query
    // to publicWebhookUrl as upstream does.
    let r = route(&json!({}));
    let params = inbound_form(&message_sid(5), ALICE, "hi");
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let signature = sign(&format!("{PUBLIC}?a=1"), &pairs);
    let request = post(
        &format!("{PATH}?a=1"),
        encode_form(&pairs),
        Some(&signature),
        CLIENT,
    );
    assert_accepted(call(&r.router, request).await).await;
}
