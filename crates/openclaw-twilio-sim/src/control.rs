//! The control API under `/_sim/`: JSON over HTTP so that other processes (the gateway's
//! `openclaw sim text`, `cargo xtask e2e`) can drive the simulator. No authentication: the
//! simulator only listens on loopback. Documented in the crate README.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::WebhookMethod;
use crate::error::RunSimulatorError;
use crate::faults::Faults;
use crate::model::{DeliveryOutcome, ReceivedSms, StatusCallbackRecord};
use crate::phone::{OutgoingText, Phone};
use crate::state::Shared;

/// Longest wait `next-reply` accepts.
pub const MAX_REPLY_WAIT: Duration = Duration::from_secs(120);

type AppState = Arc<Shared>;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/_sim/health", get(health))
        .route("/_sim/phones/{number}/text", post(text))
        .route("/_sim/phones/{number}/messages", get(phone_messages))
        .route("/_sim/phones/{number}/next-reply", get(next_reply))
        .route("/_sim/phones/{number}/delivery", put(set_delivery))
        .route("/_sim/numbers/{number}/webhook", put(set_webhook))
        .route("/_sim/messages", get(messages))
        .route("/_sim/callbacks", get(callbacks))
        .route("/_sim/opt-outs", get(opt_outs))
        .route("/_sim/faults", get(faults).post(set_faults))
        .route("/_sim/faults/counts", get(fault_counts))
        .route("/_sim/media/{media}", put(put_media))
}

/// A control-API error: `{"error": "..."}` with a status.
struct ControlError(StatusCode, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<RunSimulatorError> for ControlError {
    fn from(e: RunSimulatorError) -> Self {
        let status = match &e {
            RunSimulatorError::DeliverWebhook { .. } => StatusCode::BAD_GATEWAY,
            RunSimulatorError::UnknownNumber(_) => StatusCode::NOT_FOUND,
            RunSimulatorError::NoWebhook(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        Self(status, e.to_string())
    }
}

pub(crate) fn received_json(r: &ReceivedSms) -> Value {
    json!({ "sid": r.sid, "from": r.from, "to": r.to, "body": r.body, "media_urls": r.media_urls })
}

fn callback_json(c: &StatusCallbackRecord) -> Value {
    json!({
        "message_sid": c.message_sid,
        "status": c.status.as_str(),
        "url": c.url,
        "response_status": c.response_status,
        "error": c.error,
    })
}

async fn health() -> Json<Value> {
    Json(json!({ "ok": true }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaBody {
    url: String,
    content_type: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextBody {
    to: String,
    body: String,
    #[serde(default)]
    media: Vec<MediaBody>,
    #[serde(default)]
    message_sid: Option<String>,
}

async fn text(
    State(shared): State<AppState>,
    Path(number): Path<String>,
    Json(request): Json<TextBody>,
) -> Result<Json<Value>, ControlError> {
    let phone = Phone::new(shared, &number)?;
    let mut outgoing = OutgoingText::new(request.to, request.body);
    for m in request.media {
        outgoing = outgoing.with_media(m.url, m.content_type);
    }
    if let Some(sid) = request.message_sid {
        outgoing = outgoing.with_sid(sid);
    }
    let result = phone.send(outgoing).await?;
    let headers: serde_json::Map<String, Value> = result
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    Ok(Json(json!({
        "message_sid": result.message_sid,
        "status": result.status,
        "body": result.body,
        "headers": headers,
    })))
}

/// Stores an MMS attachment that `/2010-04-01/Accounts/{AC}/Messages/{SM}/Media/{media}`
/// then serves; `media` is `ME` and 32 hex digits, the body at most `MAX_MEDIA_BYTES`.
async fn put_media(
    State(shared): State<AppState>,
    Path(media): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, ControlError> {
    let valid = crate::sid::is_sid(&media, "ME");
    if !valid {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            "a media id is ME and 32 hex digits".to_owned(),
        ));
    }
    if body.len() > crate::state::MAX_MEDIA_BYTES {
        return Err(ControlError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "media is limited to {} bytes",
                crate::state::MAX_MEDIA_BYTES
            ),
        ));
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let mut state = shared.lock();
    if state.media.len() >= crate::state::MAX_MEDIA_ITEMS && !state.media.contains_key(&media) {
        return Err(ControlError(
            StatusCode::INSUFFICIENT_STORAGE,
            format!(
                "the simulator keeps at most {} media items",
                crate::state::MAX_MEDIA_ITEMS
            ),
        ));
    }
    state.media.insert(media, (content_type, body.to_vec()));
    Ok(StatusCode::NO_CONTENT)
}

async fn phone_messages(
    State(shared): State<AppState>,
    Path(number): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let phone = Phone::new(shared, &number)?;
    Ok(Json(Value::from(
        phone
            .replies()
            .iter()
            .map(received_json)
            .collect::<Vec<_>>(),
    )))
}

#[derive(Deserialize)]
struct WaitQuery {
    timeout_ms: Option<u64>,
}

async fn next_reply(
    State(shared): State<AppState>,
    Path(number): Path<String>,
    Query(query): Query<WaitQuery>,
) -> Result<Response, ControlError> {
    let phone = Phone::new(shared, &number)?;
    let wait = Duration::from_millis(query.timeout_ms.unwrap_or(0)).min(MAX_REPLY_WAIT);
    Ok(match phone.next_reply(wait).await {
        Some(r) => Json(received_json(&r)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum OutcomeWord {
    Delivered,
    Undelivered,
    Failed,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryBody {
    outcome: OutcomeWord,
    #[serde(default)]
    error_code: Option<u32>,
}

/// Default error code of a configured undelivered outcome (unreachable handset).
const DEFAULT_UNDELIVERED_CODE: u32 = 30003;
/// Default error code of a configured failed outcome (unknown error).
const DEFAULT_FAILED_CODE: u32 = 30008;

async fn set_delivery(
    State(shared): State<AppState>,
    Path(number): Path<String>,
    Json(body): Json<DeliveryBody>,
) -> Result<StatusCode, ControlError> {
    let phone = Phone::new(shared, &number)?;
    phone.set_delivery(match body.outcome {
        OutcomeWord::Delivered => DeliveryOutcome::Delivered,
        OutcomeWord::Undelivered => DeliveryOutcome::Undelivered {
            error_code: body.error_code.unwrap_or(DEFAULT_UNDELIVERED_CODE),
        },
        OutcomeWord::Failed => DeliveryOutcome::Failed {
            error_code: body.error_code.unwrap_or(DEFAULT_FAILED_CODE),
        },
    });
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    sms_url: Option<String>,
    #[serde(default)]
    sms_method: Option<String>,
}

async fn set_webhook(
    State(shared): State<AppState>,
    Path(number): Path<String>,
    Json(body): Json<WebhookBody>,
) -> Result<StatusCode, ControlError> {
    let method = match body
        .sms_method
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("POST") => WebhookMethod::Post,
        Some("GET") => WebhookMethod::Get,
        Some(other) => {
            return Err(ControlError(
                StatusCode::BAD_REQUEST,
                format!("unknown sms_method {other:?}"),
            ));
        }
    };
    crate::sim::set_number_webhook(&shared, &number, body.sms_url, method)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn messages(State(shared): State<AppState>) -> Json<Value> {
    let state = shared.lock();
    Json(Value::from(
        state
            .messages
            .iter()
            .map(crate::json::message)
            .collect::<Vec<_>>(),
    ))
}

async fn callbacks(State(shared): State<AppState>) -> Json<Value> {
    let state = shared.lock();
    Json(Value::from(
        state
            .callbacks
            .iter()
            .map(callback_json)
            .collect::<Vec<_>>(),
    ))
}

async fn opt_outs(State(shared): State<AppState>) -> Json<Value> {
    let state = shared.lock();
    Json(Value::from(
        state
            .opt_outs
            .iter()
            .map(|o| json!({ "phone": o.phone, "sender": o.sender }))
            .collect::<Vec<_>>(),
    ))
}

async fn faults(State(shared): State<AppState>) -> Json<Faults> {
    Json(shared.lock().faults.faults.clone())
}

async fn set_faults(
    State(shared): State<AppState>,
    Json(faults): Json<Faults>,
) -> Result<Json<Faults>, ControlError> {
    faults
        .validate()
        .map_err(|e| ControlError(StatusCode::BAD_REQUEST, e))?;
    shared.lock().faults.faults = faults.clone();
    Ok(Json(faults))
}

async fn fault_counts(State(shared): State<AppState>) -> Json<Value> {
    let c = shared.lock().faults.counts;
    Json(json!({
        "create_requests": c.create_requests,
        "rate_limited": c.rate_limited,
        "server_errors": c.server_errors,
        "timeouts": c.timeouts,
    }))
}
