//! The Twilio REST surface: Messages, Account, IncomingPhoneNumbers (api.twilio.com paths)
//! and Messaging Services (messaging.twilio.com paths), on one server.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use crate::faults::FaultDecision;
use crate::json;
use crate::state::{ApiError, CreateMessage, Shared, date_sent_ymd};
use crate::webhook;

/// Default `PageSize` of list endpoints.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest `PageSize` Twilio allows.
pub const MAX_PAGE_SIZE: usize = 1000;

type AppState = Arc<Shared>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(json::error(&self))).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == 401 {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        response
    }
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/2010-04-01/Accounts/{file}", get(fetch_account))
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            get(list_messages).post(create_message),
        )
        .route(
            "/2010-04-01/Accounts/{sid}/Messages/{file}",
            get(fetch_message),
        )
        .route(
            "/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}",
            get(fetch_media),
        )
        .route(
            "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
            get(list_numbers),
        )
        .route("/v1/Services/{sid}", get(fetch_service))
}

/// The Twilio-shaped 404 for everything else.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// Applies the configured latency, then checks credentials for `account_sid`.
async fn admit(shared: &Shared, headers: &HeaderMap, account_sid: &str) -> Result<(), ApiError> {
    let latency = shared.lock().faults.faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    shared
        .lock()
        .authenticate(authorization(headers), account_sid)
}

fn ok_json(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

async fn fetch_account(
    State(shared): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let sid = file
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    admit(&shared, &headers, sid).await?;
    let state = shared.lock();
    let account = state
        .account(sid)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    Ok(ok_json(StatusCode::OK, json::account(account)))
}

fn parse_create(body: &[u8]) -> CreateMessage {
    let mut request = CreateMessage::default();
    for (k, v) in form_urlencoded::parse(body) {
        let v = v.into_owned();
        match k.as_ref() {
            "To" => request.to = Some(v),
            "From" => request.from = Some(v),
            "MessagingServiceSid" => request.messaging_service_sid = Some(v),
            "Body" => request.body = Some(v),
            "MediaUrl" => request.media_urls.push(v),
            "StatusCallback" => request.status_callback = Some(v),
            // SmartEncoded, ValidityPeriod, ... are accepted and ignored.
            _ => {}
        }
    }
    request
}

async fn create_message(
    State(shared): State<AppState>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admit(&shared, &headers, &sid).await?;
    let (decision, retry_after, hold) = {
        let mut state = shared.lock();
        let decision = state.faults.draw();
        (
            decision,
            state.faults.faults.retry_after,
            state.faults.faults.timeout_hold,
        )
    };
    match decision {
        FaultDecision::RateLimit => {
            let mut e = ApiError::new(429, 20429, "Too Many Requests");
            e.retry_after_secs =
                Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0));
            return Err(e);
        }
        FaultDecision::ServerError => {
            return Err(ApiError::new(
                500,
                20500,
                "An internal server error has occurred",
            ));
        }
        FaultDecision::None | FaultDecision::TimeoutAfterRecord => {}
    }
    let request = parse_create(&body);
    let (message, plan) = shared.lock().create_message(
        &sid,
        request,
        shared.initial_status_callback,
        SystemTime::now(),
    )?;
    tokio::spawn(webhook::run_delivery(Arc::clone(&shared), plan));
    if decision == FaultDecision::TimeoutAfterRecord {
        tracing::debug!(sid = %message.sid, "holding the answer (timeout fault)");
        tokio::time::sleep(hold).await;
    }
    Ok(ok_json(StatusCode::CREATED, json::message(&message)))
}

async fn fetch_message(
    State(shared): State<AppState>,
    Path((sid, file)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    admit(&shared, &headers, &sid).await?;
    let message_sid = file
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    let state = shared.lock();
    let message = state
        .message(message_sid)
        .filter(|m| m.account_sid == sid)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    Ok(ok_json(StatusCode::OK, json::message(message)))
}

/// The bytes of an MMS attachment uploaded with `PUT /_sim/media/{ME…}`, for any message of
/// the account (the simulator does not tie media to one message).
async fn fetch_media(
    State(shared): State<AppState>,
    Path((sid, _message, media)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    admit(&shared, &headers, &sid).await?;
    let state = shared.lock();
    let (content_type, bytes) = state
        .media
        .get(&media)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, content_type)], bytes.clone()).into_response())
}

/// `Page` and `PageSize` from a query, with Twilio's bounds.
fn paging(pairs: &[(String, String)]) -> (usize, usize) {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let size = get("PageSize")
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    (get("Page").unwrap_or(0), size)
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The filters to repeat in page URIs (`To=...&`), encoded.
fn filter_prefix(pairs: &[(String, String)], names: &[&str]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| names.contains(&k.as_str())) {
        ser.append_pair(k, v);
    }
    let s = ser.finish();
    if s.is_empty() { s } else { format!("{s}&") }
}

async fn list_messages(
    State(shared): State<AppState>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> Result<Response, ApiError> {
    admit(&shared, &headers, &sid).await?;
    let pairs = query_pairs(query.as_deref());
    let filter = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    let (to, from) = (filter("To"), filter("From"));
    let (on, after, before) = (filter("DateSent"), filter("DateSent>"), filter("DateSent<"));
    let (page, size) = paging(&pairs);
    let state = shared.lock();
    let matching: Vec<Value> = state
        .messages
        .iter()
        .rev()
        .filter(|m| m.account_sid == sid)
        .filter(|m| to.as_ref().is_none_or(|t| &m.to == t))
        .filter(|m| from.as_ref().is_none_or(|f| &m.from == f))
        .filter(|m| {
            let sent = date_sent_ymd(m);
            let sent = sent.as_deref();
            on.as_deref().is_none_or(|d| sent == Some(d))
                && after
                    .as_deref()
                    .is_none_or(|d| sent.is_some_and(|s| s >= d))
                && before
                    .as_deref()
                    .is_none_or(|d| sent.is_some_and(|s| s <= d))
        })
        .skip(page.saturating_mul(size))
        .take(size + 1)
        .map(json::message)
        .collect();
    let has_next = matching.len() > size;
    let items = matching.into_iter().take(size).collect();
    let filters = filter_prefix(
        &pairs,
        &["To", "From", "DateSent", "DateSent>", "DateSent<"],
    );
    Ok(ok_json(
        StatusCode::OK,
        json::page(
            "messages",
            items,
            uri.path(),
            &filters,
            page,
            size,
            has_next,
        ),
    ))
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

async fn list_numbers(
    State(shared): State<AppState>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> Result<Response, ApiError> {
    admit(&shared, &headers, &sid).await?;
    let pairs = query_pairs(query.as_deref());
    // Partial match on digits: a `+` sent unencoded arrives as a space, which Twilio tolerates.
    let wanted = pairs
        .iter()
        .find(|(k, _)| k == "PhoneNumber")
        .map(|(_, v)| digits(v));
    let (page, size) = paging(&pairs);
    let state = shared.lock();
    let account = state.account(&sid).ok_or_else(ApiError::unauthenticated)?;
    let matching: Vec<Value> = account
        .numbers
        .iter()
        .filter(|n| {
            wanted
                .as_ref()
                .is_none_or(|w| digits(&n.number).contains(w.as_str()))
        })
        .skip(page.saturating_mul(size))
        .take(size + 1)
        .map(|n| json::incoming_number(&sid, n))
        .collect();
    let has_next = matching.len() > size;
    let items = matching.into_iter().take(size).collect();
    let filters = filter_prefix(&pairs, &["PhoneNumber"]);
    Ok(ok_json(
        StatusCode::OK,
        json::page(
            "incoming_phone_numbers",
            items,
            uri.path(),
            &filters,
            page,
            size,
            has_next,
        ),
    ))
}

async fn fetch_service(
    State(shared): State<AppState>,
    Path(service_sid): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    // The service's account decides which credentials are right; an unknown service is
    // answered 401 unless the credentials are good for some account, then 404.
    let owner = {
        let state = shared.lock();
        state
            .accounts
            .iter()
            .find(|a| a.services.iter().any(|s| s.sid == service_sid))
            .map(|a| a.sid.clone())
    };
    let Some(owner) = owner else {
        let known = {
            let state = shared.lock();
            state
                .accounts
                .iter()
                .any(|a| state.authenticate(authorization(&headers), &a.sid).is_ok())
        };
        return Err(if known {
            ApiError::not_found(uri.path())
        } else {
            ApiError::unauthenticated()
        });
    };
    admit(&shared, &headers, &owner).await?;
    let state = shared.lock();
    let account = state
        .account(&owner)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    let service = account
        .services
        .iter()
        .find(|s| s.sid == service_sid)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    Ok(ok_json(
        StatusCode::OK,
        json::service(&owner, account.date_created, service, &shared.base_url),
    ))
}
