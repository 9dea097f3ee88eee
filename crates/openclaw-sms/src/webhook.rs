//! The webhook: one exact route per account path, answering in upstream's order.
//!
//! 405 for non-POST; at most `preAuthInFlight` unauthenticated requests in flight *per client
//! address* (429, `Connection: close`): a client that opens many connections and stalls them
//! holds only its own slots, so it cannot starve Twilio's genuine requests; the body read
//! within 5 s and at most `maxBodyBytes` (413; a slow body is a 500 so that Twilio retries);
//! the signature against `publicWebhookUrl` (403, or 429 once a client has failed
//! `invalidPerClientPerMinute` times); delivery callbacks to the delivery reducer;
//! `perSenderPerMinute` and `perRoutePerMinute` (429); a missing MessageSid is 400; then the
//! durable enqueue, and only then 200 with empty TwiML. A duplicate MessageSid is acknowledged
//! the same way and not run again.
//!
//! The client address is the connection's peer, or, when the peer is one of
//! `gateway.trustedProxies`, the client the proxy names (see [`crate::proxies`]).
//!
//! A rejection is logged once per client per minute (its first failure in the window, with
//! the arrived query and the URL candidates cut to a bounded length); the others are only
//! counted in `openclaw_sms_webhooks_total`, so forged requests cannot flood the log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::any;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use openclaw_sms_target::InboundSender;
use openclaw_store::{DeliveryObservation, Enqueued, NewIngress};
use openclaw_twilio::escape::Escaped;
use openclaw_twilio::form::Form;
use openclaw_twilio::signature::{
    Keys, SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, VerifyRequest, verify_urls,
};
use openclaw_twilio::webhook::{EMPTY_TWIML, TWIML_CONTENT_TYPE};
use openclaw_twilio::webhook::{StatusCallback, WebhookKind};

use crate::account::AccountRuntime;
use crate::channel::SmsChannel;
use crate::metrics::names;

/// Time allowed to read a webhook body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The header that tells the caller the message is durable.
pub const DURABLE_HEADER: &str = "x-openclaw-delivery-accepted";

#[derive(Clone)]
struct RouteState {
    channel: Arc<SmsChannel>,
    account: Arc<AccountRuntime>,
}

/// The router with one webhook route per enabled account.
pub fn router(channel: &Arc<SmsChannel>) -> Router {
    let mut router = Router::new();
    for account in channel.accounts() {
        let state = RouteState {
            channel: Arc::clone(channel),
            account: Arc::clone(account),
        };
        router = router.route(
            &account.settings.webhook_path,
            any(handle).with_state(state),
        );
    }
    router
}

fn text(status: StatusCode, body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn twiml(durable: bool) -> Response {
    let mut response = Response::new(Body::from(EMPTY_TWIML));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TWIML_CONTENT_TYPE),
    );
    if durable {
        response
            .headers_mut()
            .insert(DURABLE_HEADER, HeaderValue::from_static("durable"));
    }
    response
}

async fn handle(State(state): State<RouteState>, request: Request) -> Response {
    let started = Instant::now();
    let (outcome, response) = handle_inner(&state, request).await;
    let metrics = state.channel.metrics();
    metrics.inc(
        names::WEBHOOKS,
        &[("account", state.account.id()), ("outcome", outcome)],
        1,
    );
    metrics.observe(names::WEBHOOK_SECONDS, &[], started.elapsed());
    response
}

#[allow(
    clippy::too_many_lines,
    reason = "one function reads in the order of the protocol"
)]
async fn handle_inner(state: &RouteState, request: Request) -> (&'static str, Response) {
    let account = &state.account;
    let channel = &state.channel;
    let limits = &account.limiters;
    if request.method() != Method::POST {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return ("method_not_allowed", response);
    }
    let (parts, body) = request.into_parts();
    let client = client_address(channel, &parts);
    let client_key = format!(
        "{}:{}:{client}",
        account.id(),
        account.settings.webhook_path
    );
    let now = Instant::now();

    // Unauthenticated work is bounded per client: the permit is held until the signature is
    // checked, so one client's stalled bodies take only its own slots.
    let Some(permit) = limits.pre_auth.try_acquire(&client_key) else {
        return (
            "pre_auth_limited",
            closing(text(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded")),
        );
    };
    let max = u64::from(account.settings.limits.max_body_bytes);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        limits.invalid.hit(&client_key, now);
        return (
            "too_large",
            closing(text(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large")),
        );
    }
    let bytes = match tokio::time::timeout(BODY_READ_TIMEOUT, read_limited(body, max)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(ReadError::TooLarge)) => {
            limits.invalid.hit(&client_key, now);
            return (
                "too_large",
                closing(text(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large")),
            );
        }
        Ok(Err(ReadError::Body)) => {
            return (
                "body_error",
                closing(text(StatusCode::BAD_REQUEST, "Invalid request body")),
            );
        }
        Err(_) => {
            return (
                "body_timeout",
                closing(text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                )),
            );
        }
    };
    let Ok(form) = Form::parse(&bytes) else {
        let over = limits.invalid.hit(&client_key, now);
        return if over {
            (
                "invalid_limited",
                text(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
            )
        } else {
            (
                "bad_request",
                text(StatusCode::BAD_REQUEST, "Invalid request body"),
            )
        };
    };

    if account.settings.signature_validation {
        if let Err(rejected) = check_signature(account, &parts, &bytes, &form) {
            let hit = limits.invalid.record(&client_key, now);
            if hit.first {
                rejected.log(account, client, parts.uri.query());
            }
            return if hit.over {
                (
                    "invalid_limited",
                    text(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
                )
            } else {
                (
                    "forbidden",
                    text(StatusCode::FORBIDDEN, "Invalid signature"),
                )
            };
        }
    } else if limits.invalid.is_over(&client_key, now) {
        return (
            "invalid_limited",
            text(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
        );
    }
    drop(permit);

    if WebhookKind::of(&form) == WebhookKind::StatusCallback {
        return status_callback(state, &form, &client_key, now).await;
    }

    // Inbound quotas: by validated sender (by client address when validation is off, since
    // From is then not trusted), then per route.
    let sender = form
        .get("From")
        .and_then(|f| InboundSender::parse(f).ok())
        .map(|s| s.number().to_string());
    let sender_key = if account.settings.signature_validation {
        format!(
            "{}:{}:{}",
            account.id(),
            account.settings.webhook_path,
            sender.as_deref().unwrap_or("")
        )
    } else {
        client_key.clone()
    };
    if limits.per_sender.hit(&sender_key, now) {
        tracing::warn!(
            account = account.id(),
            "SMS webhook callback rate limit exceeded"
        );
        return (
            "sender_limited",
            text(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
        );
    }
    let route_key = format!("{}:{}", account.id(), account.settings.webhook_path);
    if limits.per_route.hit(&route_key, now) {
        tracing::warn!(
            account = account.id(),
            "SMS webhook callback rate limit exceeded"
        );
        return (
            "route_limited",
            text(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
        );
    }
    let message_sid = ["MessageSid", "SmsSid", "SmsMessageSid"]
        .iter()
        .filter_map(|k| form.get(k))
        .map(str::trim)
        .find(|v| !v.is_empty());
    let Some(message_sid) = message_sid else {
        return (
            "missing_sid",
            text(StatusCode::BAD_REQUEST, "Missing MessageSid"),
        );
    };
    let lane = match &sender {
        Some(number) => format!("{}/sender:{number}", account.id()),
        None => format!("{}/event:{message_sid}", account.id()),
    };
    let item = NewIngress {
        account: account.id().to_owned(),
        event_id: message_sid.to_owned(),
        lane,
        payload: bytes.to_vec(),
        received_at: channel.clock().now_ms(),
    };
    match channel.store().enqueue(item).await {
        Ok(Enqueued::Accepted { .. }) => {
            channel.wake();
            ("accepted", twiml(true))
        }
        Ok(Enqueued::Duplicate { .. }) => {
            tracing::warn!(
                account = account.id(),
                "SMS webhook ignored replayed message {}",
                Escaped(message_sid)
            );
            ("duplicate", twiml(true))
        }
        Err(err) => {
            tracing::error!(
                account = account.id(),
                "SMS webhook could not store message {}: {err}",
                Escaped(message_sid)
            );
            (
                "store_error",
                text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
            )
        }
    }
}

/// The client of a request: the peer address, or the client a trusted proxy names.
fn client_address(channel: &SmsChannel, parts: &http::request::Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(
            || "unknown".to_owned(),
            |peer| {
                channel
                    .options
                    .trusted_proxies
                    .client(peer.0.ip(), &parts.headers)
                    .to_string()
            },
        )
}

/// Longest part of an arrived query that a rejection log line shows, in bytes.
const MAX_LOGGED_QUERY_BYTES: usize = 160;

/// Why a request's signature was refused.
enum SignatureRejection {
    /// `publicWebhookUrl` is not set, so nothing can be checked.
    NoPublicUrl,
    /// The signature did not verify.
    Invalid(openclaw_twilio::signature::VerifySignatureError),
}

impl SignatureRejection {
    /// One bounded line: the error shows each URL candidate cut to a bounded length, and the
    /// arrived query is cut and written as a field (escaped by the log formatter).
    fn log(&self, account: &AccountRuntime, client: String, query: Option<&str>) {
        match self {
            Self::NoPublicUrl => tracing::warn!(
                account = account.id(),
                client,
                "SMS webhook rejected: publicWebhookUrl is not configured, so no signature can be checked (further rejections of this client in the next minute are counted in {}, not logged)",
                names::WEBHOOKS
            ),
            Self::Invalid(err) => tracing::warn!(
                account = account.id(),
                client,
                query = shorten(query.unwrap_or_default(), MAX_LOGGED_QUERY_BYTES).as_str(),
                "SMS webhook rejected invalid Twilio signature: {err}; request arrived at {} (further rejections of this client in the next minute are counted in {}, not logged)",
                account.settings.webhook_path,
                names::WEBHOOKS
            ),
        }
    }
}

/// `s` cut to at most `max` bytes on a character boundary, saying how much was cut.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…(+{} bytes)", &s[..end], s.len() - end)
}

/// Verifies the request's signature against the URLs Twilio may have signed: the configured
/// `publicWebhookUrl` (with the request's query when it has none), and the configured URL
/// with the request's query (what Twilio signs for a JSON body: the configured query plus
/// `bodySHA256`).
fn check_signature(
    account: &AccountRuntime,
    parts: &http::request::Parts,
    bytes: &[u8],
    form: &Form,
) -> Result<(), SignatureRejection> {
    let public = account
        .settings
        .public_webhook_url
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or(SignatureRejection::NoPublicUrl)?;
    let urls = openclaw_twilio::signature::webhook_urls(public, parts.uri.query());
    let signature = parts
        .headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let settings = parts
        .headers
        .get(SIGNATURE_SETTINGS_HEADER)
        .and_then(|v| v.to_str().ok());
    let request = VerifyRequest::new(public, bytes)
        .form(form)
        .signature(signature)
        .signature_settings(settings);
    let keys = Keys::new(&account.auth_token);
    verify_urls(&urls, &request, &keys)
        .map(|_| ())
        .map_err(SignatureRejection::Invalid)
}

async fn status_callback(
    state: &RouteState,
    form: &Form,
    client_key: &str,
    now: Instant,
) -> (&'static str, Response) {
    let account = &state.account;
    if !account.settings.signature_validation && account.limiters.per_sender.hit(client_key, now) {
        return (
            "callback_limited",
            text(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
        );
    }
    let Ok(callback) = StatusCallback::from_form(form) else {
        return (
            "missing_sid",
            text(StatusCode::BAD_REQUEST, "Missing MessageSid"),
        );
    };
    if callback
        .account_sid
        .as_ref()
        .map(openclaw_twilio::sid::AccountSid::as_str)
        != Some(account.settings.account_sid.as_str())
    {
        tracing::warn!(
            account = account.id(),
            "SMS delivery callback ignored: it is for another Twilio account"
        );
        return ("callback_foreign", twiml(false));
    }
    let route_key = format!("{}:{}", account.id(), account.settings.webhook_path);
    if account.limiters.callbacks.hit(&route_key, now) {
        return (
            "callback_limited",
            text(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        );
    }
    let observation = DeliveryObservation {
        account: account.id().to_owned(),
        message_sid: callback.message_sid.as_str().to_owned(),
        status: callback.status.as_str().to_owned(),
        error_code: callback.error_code.map(|c| c.to_string()),
        at: state.channel.clock().now_ms(),
    };
    match state.channel.store().record_delivery(observation).await {
        Ok(_) => ("callback", twiml(true)),
        Err(err) => {
            tracing::error!(
                account = account.id(),
                "could not record a delivery callback: {err}"
            );
            (
                "store_error",
                text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
            )
        }
    }
}

enum ReadError {
    TooLarge,
    Body,
}

async fn read_limited(mut body: Body, max: u64) -> Result<bytes::Bytes, ReadError> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReadError::Body)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > max {
                return Err(ReadError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}
