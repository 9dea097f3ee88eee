//! The authenticated HTTP send API for automation (`gateway.http.sendApi.enabled`):
//! `POST /v1/sms/messages` and `GET /v1/sms/messages/{id}` on the gateway's TCP port, behind
//! `Authorization: Bearer <gateway.auth.token>`.
//!
//! A send takes the same path as `openclaw message send` and agent replies (the account's
//! `Outbound`: formatting, segments, pacing, opt-outs, one intent per part). The message is
//! saved under its reply id (`api:<id>`) before anything is sent (first writer wins), so an
//! `idempotencyKey` maps to one id and one send: a retry with the same key returns the same id
//! and only resumes parts that were not sent. A wrong or missing token is `401` and counts
//! towards the invalid-request limiter of the client's address (`429` over it).
//!
//! A send with `sendAt` (RFC 3339), or one that falls in the recipient's quiet hours, is
//! stored in the schedule under the same id (`202` once durable) and sent by the gateway's
//! scheduler when due; its status is `scheduled` (with `sendAt`, `reason` and `zone`) until
//! then.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openclaw_sms::SmsChannel;
use openclaw_sms::limits::FixedWindowLimiter;
use openclaw_sms::metrics::names;
use openclaw_sms::proxies::TrustedProxies;
use openclaw_sms_target::{ParseOptions, Target};
use openclaw_store::{IntentState, NewReply, OutboundIntent, ScheduledState};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::auth::{AuthToken, check_bearer};
use crate::scheduler::{ScheduleRequest, Scheduler, plan};

/// Path of the collection.
pub(crate) const MESSAGES_PATH: &str = "/v1/sms/messages";
/// Largest request body read, in bytes (read bounded, whatever `Content-Length` says).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest `body`, in characters (ten times Twilio's 1,600-character message).
pub(crate) const MAX_TEXT_CHARS: usize = 16_000;
/// Longest `idempotencyKey`.
pub(crate) const MAX_KEY_CHARS: usize = 128;
/// Failed (unauthorised or malformed) requests per client address per minute before `429`.
pub(crate) const INVALID_PER_CLIENT_PER_MINUTE: u32 = 30;
/// The fields a send may carry.
const FIELDS: &[&str] = &["to", "body", "account", "idempotencyKey", "sendAt"];

/// `gateway.http.sendApi`, checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SendApiSettings {
    /// Whether the routes are served.
    pub(crate) enabled: bool,
}

impl SendApiSettings {
    /// Reads `gateway.http` strictly (unknown keys name the path).
    pub(crate) fn from_config(config: &Value) -> anyhow::Result<Self> {
        let Some(http) = config.pointer("/gateway/http") else {
            return Ok(Self::default());
        };
        let http = http
            .as_object()
            .context("gateway.http: expected an object such as { sendApi: { enabled: true } }")?;
        if let Some(key) = http.keys().find(|k| k.as_str() != "sendApi") {
            bail!("gateway.http.{key}: unknown key (known: sendApi)");
        }
        let Some(api) = http.get("sendApi") else {
            return Ok(Self::default());
        };
        let api = api
            .as_object()
            .context("gateway.http.sendApi: expected an object such as { enabled: true }")?;
        if let Some(key) = api.keys().find(|k| k.as_str() != "enabled") {
            bail!("gateway.http.sendApi.{key}: unknown key (known: enabled)");
        }
        let enabled = match api.get("enabled") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => bail!("gateway.http.sendApi.enabled: expected true or false"),
        };
        Ok(Self { enabled })
    }

    /// The token the API needs: a start-up error when it is on without one.
    pub(crate) fn require_token(self, token: Option<&AuthToken>) -> anyhow::Result<()> {
        if self.enabled && token.is_none() {
            bail!(
                "gateway.http.sendApi.enabled is true but gateway.auth.token is not set: set it (e.g. \"${{OPENCLAW_GATEWAY_TOKEN}}\", at least 16 characters) or turn the send API off"
            );
        }
        Ok(())
    }
}

#[derive(Clone)]
struct SendApi {
    channel: Arc<SmsChannel>,
    scheduler: Arc<Scheduler>,
    token: AuthToken,
    invalid: Arc<FixedWindowLimiter>,
    proxies: TrustedProxies,
}

/// The send API's routes, to merge into the public app.
pub(crate) fn router(
    channel: &Arc<SmsChannel>,
    token: AuthToken,
    proxies: TrustedProxies,
    scheduler: Arc<Scheduler>,
) -> Router {
    let state = SendApi {
        channel: Arc::clone(channel),
        scheduler,
        token,
        invalid: Arc::new(FixedWindowLimiter::new(INVALID_PER_CLIENT_PER_MINUTE)),
        proxies,
    };
    Router::new()
        .route(MESSAGES_PATH, post(create))
        .route(&format!("{MESSAGES_PATH}/{{id}}"), get(status))
        .with_state(state)
}

/// Why a request is refused; one place maps it to a status, a JSON body and a metric.
#[derive(Debug)]
enum Refusal {
    TooMany,
    Unauthorized,
    TooLarge,
    BadField {
        field: &'static str,
        message: String,
    },
    BadBody(String),
    KeyReused,
    OptedOut(String),
    NotFound,
    Internal(String),
}

impl Refusal {
    fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadField {
            field,
            message: message.into(),
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Self::TooMany => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::TooLarge => "too_large",
            Self::BadField { .. } | Self::BadBody(_) => "bad_request",
            Self::KeyReused => "key_reused",
            Self::OptedOut(_) => "opted_out",
            Self::NotFound => "not_found",
            Self::Internal(_) => "error",
        }
    }

    /// Whether the refusal counts towards the client's invalid-request budget.
    fn is_invalid(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized | Self::TooLarge | Self::BadField { .. } | Self::BadBody(_)
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::TooMany => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "too many failed requests from this address; try again in a minute"}),
            ),
            Self::Unauthorized => {
                let body = json!({"error": "missing or wrong bearer token (Authorization: Bearer <gateway.auth.token>)"});
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    Json(body),
                )
                    .into_response();
            }
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": format!("the request body is over {MAX_BODY_BYTES} bytes")}),
            ),
            Self::BadField { field, message } => (
                StatusCode::BAD_REQUEST,
                json!({"error": message, "field": field}),
            ),
            Self::BadBody(message) => (StatusCode::BAD_REQUEST, json!({"error": message})),
            Self::KeyReused => (
                StatusCode::CONFLICT,
                json!({"error": "this idempotencyKey was used for another message (other to, body or account)", "field": "idempotencyKey"}),
            ),
            Self::OptedOut(to) => (
                StatusCode::CONFLICT,
                json!({"error": format!("{to} opted out (texted STOP); nothing was sent"), "field": "to"}),
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                json!({"error": "no message with this id"}),
            ),
            Self::Internal(message) => {
                tracing::error!("send API: {message}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "internal error; see the gateway log"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

/// A checked send.
#[derive(Debug, PartialEq)]
struct SendRequest {
    to: String,
    body: String,
    account: Option<String>,
    idempotency_key: Option<String>,
    /// `sendAt`, unix milliseconds.
    send_at: Option<i64>,
}

/// Checks the JSON of a send, naming the first bad field.
fn parse_send(bytes: &[u8]) -> Result<SendRequest, Refusal> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|_| Refusal::BadBody("the body is not valid JSON".to_owned()))?;
    let Value::Object(map) = value else {
        return Err(Refusal::BadBody(
            "the body must be a JSON object { \"to\": \"sms:+1…\", \"body\": \"…\" }".to_owned(),
        ));
    };
    if let Some(key) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let shown: String = key.chars().take(40).collect();
        return Err(Refusal::BadField {
            field: "(unknown)",
            message: format!("unknown field {shown:?} (known: {})", FIELDS.join(", ")),
        });
    }
    let to = string_field(&map, "to")?
        .ok_or_else(|| Refusal::field("to", "to is required, e.g. \"sms:+15551234567\""))?;
    let number = Target::parse(&to, &ParseOptions::new()).map_err(|_| {
        Refusal::field(
            "to",
            "to must be a phone number in E.164 (\"+15551234567\" or \"sms:+15551234567\")",
        )
    })?;
    let body =
        string_field(&map, "body")?.ok_or_else(|| Refusal::field("body", "body is required"))?;
    if body.trim().is_empty() {
        return Err(Refusal::field("body", "body is empty"));
    }
    if body.chars().count() > MAX_TEXT_CHARS {
        return Err(Refusal::field(
            "body",
            format!("body is over {MAX_TEXT_CHARS} characters"),
        ));
    }
    let account = string_field(&map, "account")?;
    let idempotency_key = string_field(&map, "idempotencyKey")?;
    if let Some(key) = &idempotency_key {
        let printable = key.chars().all(|c| c.is_ascii_graphic());
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || !printable {
            return Err(Refusal::field(
                "idempotencyKey",
                format!(
                    "idempotencyKey must be 1 to {MAX_KEY_CHARS} printable ASCII characters without spaces"
                ),
            ));
        }
    }
    let send_at = string_field(&map, "sendAt")?
        .map(|at| parse_send_at(&at))
        .transpose()?;
    Ok(SendRequest {
        to: number.number().to_string(),
        body,
        account,
        idempotency_key,
        send_at,
    })
}

/// `sendAt`: an RFC 3339 time with an offset (`2026-12-04T09:00:00-05:00`, `…Z`).
fn parse_send_at(at: &str) -> Result<i64, Refusal> {
    let bad = || {
        Refusal::field(
            "sendAt",
            "sendAt must be an RFC 3339 time with an offset, e.g. \"2026-12-04T09:00:00-05:00\"",
        )
    };
    if at.len() > 64 {
        return Err(bad());
    }
    at.trim()
        .parse::<jiff::Timestamp>()
        .map(jiff::Timestamp::as_millisecond)
        .map_err(|_| bad())
}

fn string_field(map: &Map<String, Value>, field: &'static str) -> Result<Option<String>, Refusal> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Refusal::field(field, format!("{field} must be a string"))),
    }
}

/// The id of a send: from the idempotency key (per account), else random. 32 hex characters.
fn message_id(account: &str, key: Option<&str>) -> String {
    let digest = match key {
        Some(key) => Sha256::digest(format!("{account}\n{key}").as_bytes()),
        None => Sha256::digest(rand::random::<[u8; 32]>()),
    };
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn is_message_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn reply_id(id: &str) -> String {
    format!("api:{id}")
}

impl SendApi {
    fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String {
        peer.map_or_else(
            || "unknown".to_owned(),
            |peer| self.proxies.client(peer, headers).to_string(),
        )
    }

    /// Checks the client's budget and the token.
    fn authorize(&self, client: &str, headers: &HeaderMap) -> Result<(), Refusal> {
        if self.invalid.is_over(client, Instant::now()) {
            return Err(Refusal::TooMany);
        }
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if check_bearer(&self.token, authorization) {
            Ok(())
        } else {
            Err(Refusal::Unauthorized)
        }
    }

    /// Counts the refusal (metric, invalid budget) and answers it.
    fn refuse(&self, client: &str, refusal: Refusal) -> Response {
        if refusal.is_invalid() {
            self.invalid.record(client, Instant::now());
        }
        self.count(refusal.outcome());
        refusal.into_response()
    }

    fn count(&self, outcome: &str) {
        self.channel
            .metrics()
            .inc(names::SEND_API_REQUESTS, &[("outcome", outcome)], 1);
    }

    async fn send(&self, request: SendRequest) -> Result<(StatusCode, Value), Refusal> {
        let account = match &request.account {
            Some(id) => self.channel.account(id).cloned(),
            None => self.channel.accounts().first().cloned(),
        }
        .ok_or_else(|| Refusal::field("account", "no running SMS account has this id"))?;
        let store = self.channel.store();
        let id = message_id(account.id(), request.idempotency_key.as_deref());
        let reply_id = reply_id(&id);
        let existing = store
            .reply(&reply_id)
            .await
            .map_err(|e| Refusal::Internal(format!("could not read a saved send: {e}")))?;
        let duplicate = existing.is_some();
        if existing.is_none()
            && store
                .is_opted_out(account.id(), &request.to)
                .await
                .map_err(|e| Refusal::Internal(format!("could not read opt-outs: {e}")))?
        {
            return Err(Refusal::OptedOut(request.to));
        }
        // Durable before anything is sent: first writer wins, so two requests with one key
        // send one message.
        let saved = store
            .save_reply(NewReply {
                reply_id: reply_id.clone(),
                account: account.id().to_owned(),
                recipient: request.to.clone(),
                text: request.body.clone(),
                created_at: self.channel.clock().now_ms(),
            })
            .await
            .map_err(|e| Refusal::Internal(format!("could not save the send: {e}")))?;
        if saved.recipient != request.to
            || saved.text != request.body
            || saved.account != account.id()
        {
            return Err(Refusal::KeyReused);
        }
        let now = self.channel.clock().now_ms();
        if let Some(at) = request.send_at {
            crate::scheduler::check_asked(at, now).map_err(|e| Refusal::field("sendAt", e))?;
        }
        let waiting = store
            .scheduled_send(&id)
            .await
            .map_err(|e| Refusal::Internal(format!("could not read the schedule: {e}")))?;
        if waiting.is_some() {
            // Scheduled earlier under this id: the scheduler sends it (once).
            self.count("duplicate");
            return Ok((StatusCode::ACCEPTED, self.status_of(&id).await?));
        }
        let asked = request.send_at.map(|at| (at, None));
        if !duplicate && let Some(planned) = plan(&account.settings, &saved.recipient, asked, now) {
            let schedule = ScheduleRequest {
                id: id.clone(),
                account: account.id().to_owned(),
                to: saved.recipient.clone(),
                text: saved.text.clone(),
                reply_id: reply_id.clone(),
                planned,
                now,
            };
            self.scheduler
                .schedule(schedule)
                .await
                .map_err(|e| Refusal::Internal(format!("could not schedule the send: {e}")))?;
            self.count("scheduled");
            return Ok((StatusCode::ACCEPTED, self.status_of(&id).await?));
        }
        // The same outbound path as every reply; a retry resumes only the unsent parts.
        self.channel
            .outbound()
            .send_reply(&account, &saved.recipient, &saved.text, &reply_id)
            .await;
        self.count(if duplicate { "duplicate" } else { "accepted" });
        let status = self.status_of(&id).await?;
        Ok((StatusCode::ACCEPTED, status))
    }

    async fn status_of(&self, id: &str) -> Result<Value, Refusal> {
        let store = self.channel.store();
        let reply_id = reply_id(id);
        let saved = store
            .reply(&reply_id)
            .await
            .map_err(|e| Refusal::Internal(format!("could not read a send: {e}")))?
            .ok_or(Refusal::NotFound)?;
        let intents = store
            .intents_for_reply(&reply_id)
            .await
            .map_err(|e| Refusal::Internal(format!("could not read a send's parts: {e}")))?;
        let scheduled = store
            .scheduled_send(id)
            .await
            .map_err(|e| Refusal::Internal(format!("could not read the schedule: {e}")))?;
        let mut parts = Vec::with_capacity(intents.len());
        let mut delivered = 0;
        for intent in &intents {
            let delivery = match &intent.message_sid {
                Some(sid) => store
                    .delivery(&saved.account, sid)
                    .await
                    .map_err(|e| Refusal::Internal(format!("could not read a delivery: {e}")))?,
                None => None,
            };
            if delivery.as_ref().is_some_and(|d| d.status == "delivered") {
                delivered += 1;
            }
            parts.push(part_json(intent, delivery.as_ref()));
        }
        let mut status = overall_status(&intents, delivered);
        if let Some(s) = &scheduled {
            status = match s.state {
                ScheduledState::Scheduled => "scheduled",
                ScheduledState::Cancelled => "cancelled",
                ScheduledState::Failed if intents.is_empty() => "failed",
                _ if intents.is_empty() => "sending",
                _ => status,
            };
        }
        let mut body = json!({
            "id": id,
            "account": saved.account,
            "to": saved.recipient,
            "status": status,
            "createdAt": crate::cli::iso_time(saved.created_at),
            "parts": parts,
        });
        if let Some(s) = scheduled {
            body["sendAt"] = json!(crate::cli::iso_time(s.due_at));
            body["reason"] = json!(s.reason.as_str());
            body["zone"] = json!(s.zone);
        }
        Ok(body)
    }
}

fn part_json(intent: &OutboundIntent, delivery: Option<&openclaw_store::DeliveryRecord>) -> Value {
    json!({
        "index": intent.part_index,
        "state": intent.state.as_str(),
        "messageSid": intent.message_sid,
        "error": intent.error,
        "delivery": delivery.map(|d| json!({"status": d.status, "errorCode": d.error_code})),
    })
}

/// `accepted` (saved, nothing sent yet), `sending`, `failed`, `sent` or `delivered`.
fn overall_status(intents: &[OutboundIntent], delivered: usize) -> &'static str {
    if intents.is_empty() {
        return "accepted";
    }
    if intents.iter().any(|i| i.state == IntentState::Failed) {
        return "failed";
    }
    if intents.iter().any(|i| !i.state.is_finished()) {
        return "sending";
    }
    let count = usize::try_from(intents[0].part_count).unwrap_or(usize::MAX);
    if intents.len() < count {
        "sending"
    } else if delivered == intents.len() {
        "delivered"
    } else {
        "sent"
    }
}

fn peer_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

async fn create(State(api): State<SendApi>, request: Request) -> Response {
    let client = api.client(peer_of(&request), request.headers());
    if let Err(refusal) = api.authorize(&client, request.headers()) {
        return api.refuse(&client, refusal);
    }
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await else {
        return api.refuse(&client, Refusal::TooLarge);
    };
    let send = match parse_send(&bytes) {
        Ok(send) => send,
        Err(refusal) => return api.refuse(&client, refusal),
    };
    match api.send(send).await {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(refusal) => api.refuse(&client, refusal),
    }
}

async fn status(
    State(api): State<SendApi>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Response {
    let client = api.client(peer_of(&request), request.headers());
    if let Err(refusal) = api.authorize(&client, request.headers()) {
        return api.refuse(&client, refusal);
    }
    if !is_message_id(&id) {
        return api.refuse(
            &client,
            Refusal::field(
                "id",
                "an id is 32 lower-case hex characters, as POST returned it",
            ),
        );
    }
    match api.status_of(&id).await {
        Ok(body) => {
            api.count("status");
            Json(body).into_response()
        }
        Err(refusal) => api.refuse(&client, refusal),
    }
}

#[cfg(test)]
mod tests {
    use openclaw_sms::config::{SmsChannelInput, resolve_accounts};
    use openclaw_sms::metrics::Metrics;
    use openclaw_sms::{AccountOptions, AccountRuntime, ChannelOptions, Clock, ResolvedAccount};
    use openclaw_store::{OptOut, SqliteStore, StoreOptions};
    use openclaw_twilio_sim::{SimAccount, SimConfig, SimHandle, SimNumber, Simulator};
    use secrecy::SecretString;

    use super::*;

    const AC: &str = "AC0123456789abcdef0123456789abcdef";
    const TWILIO_TOKEN: &str = "test-auth-token";
    const OUR: &str = "+15550001111";
    const ALICE: &str = "+15557654321";
    const TOKEN: &str = "0123456789abcdef-owner-token";

    struct Setup {
        sim: SimHandle,
        base: String,
        channel: Arc<SmsChannel>,
        scheduler: Arc<Scheduler>,
        http: reqwest::Client,
    }

    async fn setup() -> Setup {
        setup_with(
            json!({}),
            Clock::system(),
            Arc::new(SqliteStore::open_in_memory().unwrap()),
            None,
        )
        .await
    }

    /// A channel with one account on the simulator at `api_base`, over `store`.
    fn channel_over(
        extra: &Value,
        clock: Clock,
        store: Arc<dyn openclaw_store::Store>,
        api_base: &str,
    ) -> Arc<SmsChannel> {
        let mut config = json!({"accountSid": AC, "authToken": TWILIO_TOKEN, "fromNumber": OUR,
            "apiBaseUrl": api_base, "sendRatePerSecond": 1000.0});
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            config.extend(extra.clone());
        }
        let input = SmsChannelInput::from_value(&config, "channels.sms").unwrap();
        let settings = resolve_accounts(&input, &|_| None, "channels.sms")
            .unwrap()
            .accounts
            .remove(0);
        let account = AccountRuntime::new(
            ResolvedAccount {
                settings,
                auth_token: SecretString::from(TWILIO_TOKEN),
                api_key_secret: None,
            },
            AccountOptions::default(),
        )
        .unwrap();
        Arc::new(SmsChannel::new(
            vec![account],
            store,
            Arc::new(crate::agents::EchoAgent),
            Arc::new(Metrics::new()),
            clock,
            ChannelOptions::default(),
        ))
    }

    /// A send API over `store` with `extra` account config, on `clock`; `sim` reuses a
    /// simulator (a gateway restarted against the same Twilio).
    async fn setup_with(
        extra: Value,
        clock: Clock,
        store: Arc<dyn openclaw_store::Store>,
        sim: Option<SimHandle>,
    ) -> Setup {
        let sim =
            match sim {
                Some(sim) => sim,
                None => Simulator::start(SimConfig::new().with_account(
                    SimAccount::new(AC, TWILIO_TOKEN).with_number(SimNumber::new(OUR)),
                ))
                .await
                .unwrap(),
            };
        let channel = channel_over(&extra, clock, store, sim.base_url());
        let scheduler = Scheduler::new(&channel);
        let app = router(
            &channel,
            AuthToken::new(SecretString::from(TOKEN)),
            TrustedProxies::default(),
            Arc::clone(&scheduler),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Setup {
            sim,
            base,
            channel,
            scheduler,
            http: reqwest::Client::new(),
        }
    }

    impl Setup {
        async fn post(&self, auth: Option<&str>, body: String) -> (u16, Value) {
            let mut request = self
                .http
                .post(format!("{}{MESSAGES_PATH}", self.base))
                .header("content-type", "application/json")
                .body(body);
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }

        async fn send(&self, body: Value) -> (u16, Value) {
            self.post(Some(&format!("Bearer {TOKEN}")), body.to_string())
                .await
        }

        async fn get(&self, auth: Option<&str>, id: &str) -> (u16, Value) {
            let mut request = self.http.get(format!("{}{MESSAGES_PATH}/{id}", self.base));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }

        fn texts_to(&self, number: &str) -> Vec<String> {
            self.sim
                .phone(number)
                .unwrap()
                .replies()
                .into_iter()
                .map(|r| r.body)
                .collect()
        }
    }

    #[tokio::test]
    async fn one_send_per_idempotency_key_and_its_status() {
        let s = setup().await;
        let send = json!({"to": format!("sms:{ALICE}"), "body": "**backup** done", "idempotencyKey": "backup-2026-12-05"});
        let (status, first) = s.send(send.clone()).await;
        assert_eq!(status, 202, "{first}");
        let id = first["id"].as_str().unwrap().to_owned();
        assert!(is_message_id(&id), "{id}");
        assert_eq!(first["to"], ALICE);
        assert_eq!(first["status"], "sent");
        // The same outbound path as replies: markdown made plain.
        assert_eq!(s.texts_to(ALICE), ["backup done"]);
        let (status, again) = s.send(send).await;
        assert_eq!((status, again["id"].as_str()), (202, Some(id.as_str())));
        assert_eq!(s.texts_to(ALICE).len(), 1, "sent once");
        assert_eq!(s.sim.fault_counts().create_requests, 1);
        // Same key, other message: refused, nothing sent.
        let (status, reused) = s
            .send(json!({"to": ALICE, "body": "other", "idempotencyKey": "backup-2026-12-05"}))
            .await;
        assert_eq!((status, &reused["field"]), (409, &json!("idempotencyKey")));
        // Without a key every request is its own message.
        let (_, a) = s.send(json!({"to": ALICE, "body": "ping"})).await;
        let (_, b) = s.send(json!({"to": ALICE, "body": "ping"})).await;
        assert_ne!(a["id"], b["id"]);
        assert_eq!(s.texts_to(ALICE).len(), 3);
        let (status, got) = s.get(Some(&format!("Bearer {TOKEN}")), &id).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(
            (got["id"].as_str(), got["account"].as_str()),
            (Some(id.as_str()), Some("default"))
        );
        assert_eq!(got["parts"][0]["state"], "sent");
        assert!(
            got["parts"][0]["messageSid"]
                .as_str()
                .is_some_and(|s| s.starts_with("SM"))
        );
        let unknown = "0".repeat(32);
        assert_eq!(
            s.get(Some(&format!("Bearer {TOKEN}")), &unknown).await.0,
            404
        );
        let (status, bad) = s.get(Some(&format!("Bearer {TOKEN}")), "nope").await;
        assert_eq!((status, &bad["field"]), (400, &json!("id")));
        let metrics = s.channel.metrics();
        assert_eq!(
            metrics.counter(names::SEND_API_REQUESTS, &[("outcome", "accepted")]),
            3
        );
        assert_eq!(
            metrics.counter(names::SEND_API_REQUESTS, &[("outcome", "duplicate")]),
            1
        );
    }

    #[tokio::test]
    async fn a_wrong_or_missing_token_is_401_and_counts_towards_the_limiter() {
        let s = setup().await;
        let body = json!({"to": ALICE, "body": "hi"}).to_string();
        for auth in [
            None,
            Some("Bearer wrong-token-0123456789"),
            Some(TOKEN),
            Some("Basic abc"),
        ] {
            let (status, answer) = s.post(auth, body.clone()).await;
            assert_eq!(status, 401, "{auth:?}: {answer}");
        }
        assert_eq!(s.get(None, &"0".repeat(32)).await.0, 401);
        assert!(s.texts_to(ALICE).is_empty());
        // Up to the budget every failure is a 401; after it, even the right token is refused
        // from this address for the rest of the minute.
        let used = 5;
        for _ in used..=INVALID_PER_CLIENT_PER_MINUTE {
            assert_eq!(s.post(Some("Bearer nope"), body.clone()).await.0, 401);
        }
        let (status, _) = s.send(json!({"to": ALICE, "body": "hi"})).await;
        assert_eq!(status, 429);
        assert!(s.texts_to(ALICE).is_empty());
        assert_eq!(
            s.channel
                .metrics()
                .counter(names::SEND_API_REQUESTS, &[("outcome", "unauthorized")]),
            u64::from(INVALID_PER_CLIENT_PER_MINUTE) + 1
        );
    }

    #[tokio::test]
    async fn bad_fields_are_400_naming_the_field() {
        let s = setup().await;
        let cases = [
            (json!({"body": "hi"}), "to"),
            (json!({"to": "nope", "body": "hi"}), "to"),
            (json!({"to": 15557654321_u64, "body": "hi"}), "to"),
            (json!({"to": ALICE}), "body"),
            (json!({"to": ALICE, "body": "  "}), "body"),
            (
                json!({"to": ALICE, "body": "x".repeat(MAX_TEXT_CHARS + 1)}),
                "body",
            ),
            (
                json!({"to": ALICE, "body": "hi", "sendAt": "tomorrow at nine"}),
                "sendAt",
            ),
            (
                json!({"to": ALICE, "body": "hi", "sendAt": "2026-12-05T09:00"}),
                "sendAt",
            ),
            (
                json!({"to": ALICE, "body": "hi", "sendAt": "2001-12-05T09:00:00Z"}),
                "sendAt",
            ),
            (json!({"to": ALICE, "body": "hi", "sendAt": 1}), "sendAt"),
            (
                json!({"to": ALICE, "body": "hi", "idempotencyKey": ""}),
                "idempotencyKey",
            ),
            (
                json!({"to": ALICE, "body": "hi", "idempotencyKey": "a b"}),
                "idempotencyKey",
            ),
            (
                json!({"to": ALICE, "body": "hi", "idempotencyKey": "k".repeat(MAX_KEY_CHARS + 1)}),
                "idempotencyKey",
            ),
            (
                json!({"to": ALICE, "body": "hi", "account": "nope"}),
                "account",
            ),
            (json!({"to": ALICE, "body": "hi", "from": OUR}), "(unknown)"),
        ];
        for (body, field) in cases {
            let (status, answer) = s.send(body.clone()).await;
            assert_eq!(
                (status, answer["field"].as_str()),
                (400, Some(field)),
                "{body}: {answer}"
            );
        }
        let (_, answer) = s
            .send(json!({"to": ALICE, "body": "hi", "sendAt": "2001-12-05T09:00:00Z"}))
            .await;
        assert!(
            answer["error"].as_str().unwrap().contains("in the past"),
            "{answer}"
        );
        let auth = format!("Bearer {TOKEN}");
        assert_eq!(s.post(Some(&auth), "not json".to_owned()).await.0, 400);
        assert_eq!(s.post(Some(&auth), "[1]".to_owned()).await.0, 400);
        // One byte over the bound: 413, the body read only that far.
        let big = format!(
            "{{\"to\":\"{ALICE}\",\"body\":\"{}\"}}",
            "x".repeat(MAX_BODY_BYTES)
        );
        assert_eq!(s.post(Some(&auth), big).await.0, 413);
        assert!(s.texts_to(ALICE).is_empty());
    }

    #[tokio::test]
    async fn an_opted_out_recipient_is_refused_and_nothing_is_sent() {
        let s = setup().await;
        s.channel
            .store()
            .set_opt_out(OptOut {
                account: "default".to_owned(),
                number: ALICE.to_owned(),
                keyword: "STOP".to_owned(),
                at: 1,
            })
            .await
            .unwrap();
        let (status, answer) = s.send(json!({"to": ALICE, "body": "hi"})).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (409, Some("to")),
            "{answer}"
        );
        assert_eq!(s.sim.fault_counts().create_requests, 0);
    }

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[tokio::test]
    async fn send_at_is_durable_at_once_and_sent_when_due_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let start = ms("2026-12-04T12:00:00Z");
        let clock = Clock::manual(start);
        let store = Arc::new(
            SqliteStore::open(&path, &StoreOptions::default())
                .await
                .unwrap(),
        );
        let s = setup_with(json!({}), clock.clone(), store.clone(), None).await;
        let send = json!({"to": ALICE, "body": "reminder", "sendAt": "2026-12-04T13:00:00Z", "idempotencyKey": "r1"});
        let (status, answer) = s.send(send.clone()).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(
            (
                answer["status"].as_str(),
                answer["sendAt"].as_str(),
                answer["reason"].as_str()
            ),
            (
                Some("scheduled"),
                Some("2026-12-04T13:00:00.000Z"),
                Some("at")
            )
        );
        let id = answer["id"].as_str().unwrap().to_owned();
        // A retry with the same key: the same id, still one scheduled send.
        let (status, again) = s.send(send).await;
        assert_eq!((status, again["id"].as_str()), (202, Some(id.as_str())));
        assert_eq!(s.scheduler.tick().await, 0, "not due yet");
        assert_eq!(s.sim.fault_counts().create_requests, 0);
        // The gateway stops before it is due; a new one opens the same state.
        let Setup { sim, .. } = s;
        drop(store);
        clock.advance(3_600_000);
        let store = Arc::new(
            SqliteStore::open(&path, &StoreOptions::default())
                .await
                .unwrap(),
        );
        let s = setup_with(json!({}), clock.clone(), store, Some(sim)).await;
        assert_eq!(s.scheduler.tick().await, 1);
        assert_eq!(s.texts_to(ALICE), ["reminder"]);
        assert_eq!(s.scheduler.tick().await, 0, "sent once");
        let (_, got) = s.get(Some(&format!("Bearer {TOKEN}")), &id).await;
        assert_eq!(got["status"], "sent", "{got}");
        assert_eq!(
            s.channel.metrics().counter(
                names::SCHEDULED_SENDS,
                &[("reason", "at"), ("event", "sent")]
            ),
            1
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_gateways_on_one_postgres_send_each_scheduled_message_once() {
        let Some(url) = std::env::var("OPENCLAW_TEST_PG_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        else {
            eprintln!("OPENCLAW_TEST_PG_URL is not set: the two-gateway schedule test was not run");
            return;
        };
        // A schema of its own (left behind: a few rows).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let options = openclaw_store::PostgresOptions {
            schema: Some(format!("gwsched_{}_{nanos}", std::process::id())),
            ..openclaw_store::PostgresOptions::default()
        };
        let first = Arc::new(
            openclaw_store::PostgresStore::connect(&url, &options)
                .await
                .unwrap(),
        );
        let second = Arc::new(
            openclaw_store::PostgresStore::connect(&url, &options)
                .await
                .unwrap(),
        );
        let clock = Clock::manual(ms("2026-12-04T12:00:00Z"));
        let s = setup_with(json!({}), clock.clone(), first, None).await;
        let other = Scheduler::new(&channel_over(
            &json!({}),
            clock.clone(),
            second,
            s.sim.base_url(),
        ));
        let numbers: Vec<String> = (0..12).map(|i| format!("+1555765{i:04}")).collect();
        for (i, to) in numbers.iter().enumerate() {
            let (status, answer) = s
                .send(json!({"to": to, "body": format!("n{i}"), "sendAt": "2026-12-04T12:30:00Z"}))
                .await;
            assert_eq!(status, 202, "{answer}");
        }
        clock.advance(30 * 60_000);
        // Both gateways' schedulers look at once, and again.
        let (a, b) = tokio::join!(s.scheduler.tick(), other.tick());
        let (c, d) = tokio::join!(s.scheduler.tick(), other.tick());
        assert_eq!((a + b, c + d), (12, 0));
        for (i, to) in numbers.iter().enumerate() {
            assert_eq!(s.texts_to(to), [format!("n{i}")], "{to}");
        }
        assert_eq!(s.sim.fault_counts().create_requests, 12);
    }

    #[tokio::test]
    async fn a_send_in_quiet_hours_is_held_until_the_window_ends() {
        let clock = Clock::manual(ms("2026-12-04T22:00:00Z"));
        let quiet =
            json!({"quietHours": {"start": "21:00", "end": "08:00", "timeZone": "Europe/London"}});
        let s = setup_with(
            quiet,
            clock.clone(),
            Arc::new(SqliteStore::open_in_memory().unwrap()),
            None,
        )
        .await;
        let (status, answer) = s.send(json!({"to": ALICE, "body": "nightly report"})).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(
            (
                answer["status"].as_str(),
                answer["reason"].as_str(),
                answer["zone"].as_str(),
                answer["sendAt"].as_str()
            ),
            (
                Some("scheduled"),
                Some("quiet_hours"),
                Some("Europe/London"),
                Some("2026-12-05T08:00:00.000Z")
            )
        );
        clock.advance(ms("2026-12-05T07:59:59.999Z") - ms("2026-12-04T22:00:00Z"));
        assert_eq!(
            s.scheduler.tick().await,
            0,
            "one millisecond before the end"
        );
        assert!(s.texts_to(ALICE).is_empty());
        clock.advance(1);
        assert_eq!(s.scheduler.tick().await, 1);
        assert_eq!(s.texts_to(ALICE), ["nightly report"]);
        let metrics = s.channel.metrics();
        for event in ["scheduled", "sent"] {
            assert_eq!(
                metrics.counter(
                    names::SCHEDULED_SENDS,
                    &[("reason", "quiet_hours"), ("event", event)]
                ),
                1,
                "{event}"
            );
        }
        // Outside the window a send goes out at once.
        let (_, now) = s.send(json!({"to": ALICE, "body": "morning"})).await;
        assert_eq!(now["status"], "sent", "{now}");
    }

    #[tokio::test]
    async fn a_cancelled_send_is_never_sent() {
        let clock = Clock::manual(ms("2026-12-04T12:00:00Z"));
        let s = setup_with(
            json!({}),
            clock.clone(),
            Arc::new(SqliteStore::open_in_memory().unwrap()),
            None,
        )
        .await;
        let (_, answer) = s
            .send(json!({"to": ALICE, "body": "never", "sendAt": "2026-12-04T12:30:00Z"}))
            .await;
        let id = answer["id"].as_str().unwrap();
        let cancelled = s.scheduler.cancel(id).await.unwrap().unwrap();
        assert_eq!(cancelled.state, ScheduledState::Cancelled);
        clock.advance(3_600_000);
        assert_eq!(s.scheduler.tick().await, 0);
        assert!(s.texts_to(ALICE).is_empty());
        let (_, got) = s.get(Some(&format!("Bearer {TOKEN}")), id).await;
        assert_eq!(got["status"], "cancelled", "{got}");
    }

    #[test]
    fn settings_are_strict_and_need_a_token() {
        let off = SendApiSettings::from_config(&json!({})).unwrap();
        assert!(!off.enabled);
        assert!(off.require_token(None).is_ok());
        let on = SendApiSettings::from_config(
            &json!({"gateway": {"http": {"sendApi": {"enabled": true}}}}),
        )
        .unwrap();
        let err = on.require_token(None).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "gateway.http.sendApi.enabled is true but gateway.auth.token is not set"
            ),
            "{err}"
        );
        assert!(
            on.require_token(Some(&AuthToken::new(SecretString::from(TOKEN))))
                .is_ok()
        );
        let err = |config: Value| {
            SendApiSettings::from_config(&config)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(json!({"gateway": {"http": {"sendAPI": {}}}})),
            "gateway.http.sendAPI: unknown key (known: sendApi)"
        );
        assert_eq!(
            err(json!({"gateway": {"http": {"sendApi": {"enabled": "yes"}}}})),
            "gateway.http.sendApi.enabled: expected true or false"
        );
        assert_eq!(
            err(json!({"gateway": {"http": {"sendApi": {"on": true}}}})),
            "gateway.http.sendApi.on: unknown key (known: enabled)"
        );
    }
}
