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

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::any;
use http::{HeaderValue, StatusCode, header};
use openclaw_channel::guard::{Admitted, WebhookGuard, plain};
use openclaw_sms_target::InboundSender;
use openclaw_store::{DeliveryObservation, Enqueued, NewIngress};
use openclaw_twilio::escape::Escaped;
use openclaw_twilio::form::Form;
use openclaw_twilio::webhook::{EMPTY_TWIML, TWIML_CONTENT_TYPE};
use openclaw_twilio::webhook::{StatusCallback, WebhookKind, message_sid_field};

use crate::account::AccountRuntime;
use crate::channel::SmsChannel;
use crate::metrics::names;

/// Time allowed to read a webhook body (the guard's).
pub use openclaw_channel::guard::BODY_READ_TIMEOUT;
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

async fn handle_inner(state: &RouteState, request: Request) -> (&'static str, Response) {
    let account = &state.account;
    let guard = WebhookGuard {
        name: "SMS webhook",
        account: account.id(),
        path: &account.settings.webhook_path,
        public_url: account.settings.public_webhook_url.as_deref(),
        auth_token: &account.auth_token,
        signature_validation: account.settings.signature_validation,
        max_body_bytes: u64::from(account.settings.limits.max_body_bytes),
        pre_auth: &account.limiters.pre_auth,
        invalid: &account.limiters.invalid,
        proxies: &state.channel.options.trusted_proxies,
        counted_in: names::WEBHOOKS,
    };
    let admitted = match guard.admit(request).await {
        Ok(admitted) => admitted,
        Err(rejection) => return (rejection.label(), rejection.into_response()),
    };
    if WebhookKind::of(&admitted.form) == WebhookKind::StatusCallback {
        return status_callback(state, &admitted.form, &admitted.client_key, admitted.at).await;
    }
    let sender = admitted
        .form
        .get("From")
        .and_then(|f| InboundSender::parse(f).ok())
        .map(|s| s.number().to_string());
    if let Some(limited) = inbound_quota_exceeded(account, sender.as_deref(), &admitted) {
        tracing::warn!(
            account = account.id(),
            "SMS webhook callback rate limit exceeded"
        );
        return (
            limited,
            plain(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
        );
    }
    let Some((_, message_sid)) = message_sid_field(&admitted.form) else {
        return (
            "missing_sid",
            plain(StatusCode::BAD_REQUEST, "Missing MessageSid"),
        );
    };
    enqueue(state, sender.as_deref(), message_sid, &admitted.body).await
}

/// Inbound quotas: by validated sender (by client when validation is off, since `From` is then
/// not trusted), then per route. The outcome label of the quota exceeded, if one is.
fn inbound_quota_exceeded(
    account: &AccountRuntime,
    sender: Option<&str>,
    admitted: &Admitted,
) -> Option<&'static str> {
    let limits = &account.limiters;
    let route_key = format!("{}:{}", account.id(), account.settings.webhook_path);
    let sender_key = if account.settings.signature_validation {
        format!("{route_key}:{}", sender.unwrap_or(""))
    } else {
        admitted.client_key.clone()
    };
    if limits.per_sender.hit(&sender_key, admitted.at) {
        Some("sender_limited")
    } else if limits.per_route.hit(&route_key, admitted.at) {
        Some("route_limited")
    } else {
        None
    }
}

/// The durable enqueue, and only then 200 with empty TwiML (a duplicate the same, not run
/// again).
async fn enqueue(
    state: &RouteState,
    sender: Option<&str>,
    message_sid: &str,
    body: &[u8],
) -> (&'static str, Response) {
    let (account, channel) = (&state.account, &state.channel);
    let lane = match sender {
        Some(number) => format!("{}/sender:{number}", account.id()),
        None => format!("{}/event:{message_sid}", account.id()),
    };
    let item = NewIngress {
        account: account.id().to_owned(),
        event_id: message_sid.to_owned(),
        lane,
        payload: body.to_vec(),
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
                plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
            )
        }
    }
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
            plain(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
        );
    }
    let Ok(callback) = StatusCallback::from_form(form) else {
        return (
            "missing_sid",
            plain(StatusCode::BAD_REQUEST, "Missing MessageSid"),
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
            plain(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
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
                plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
            )
        }
    }
}
