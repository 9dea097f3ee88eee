//! The HTTP server: the SMS webhooks, health and metrics, and the loopback-only admin API that
//! the CLI uses to talk to a running gateway.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openclaw_sms::SmsChannel;
use openclaw_sms::outbound::PartOutcome;
use openclaw_sms::owner::{Approval, deny};
use openclaw_sms::pipeline::{pairing_key, pairing_ttl_ms};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::scheduler::{ScheduleRequest, Scheduler, plan, scheduled_json};

/// Path prefix of the admin API.
pub(crate) const ADMIN_PREFIX: &str = "/__openclaw/admin";

/// What the admin API knows besides the channel.
#[derive(Debug, Clone)]
pub(crate) struct ServerInfo {
    pub(crate) started_at_ms: i64,
    /// The TCP port it listens on.
    pub(crate) port: u16,
    pub(crate) state_dir: String,
    pub(crate) dev_sim_url: Option<String>,
    pub(crate) agent: String,
    /// Where the state is (no secret).
    pub(crate) state: crate::runtime::StateTarget,
}

#[derive(Clone)]
struct AppState {
    channel: Arc<SmsChannel>,
    info: Arc<ServerInfo>,
    ready: Arc<AtomicBool>,
    scheduler: Arc<Scheduler>,
}

/// The public app (TCP): webhooks, health, readiness, metrics.
pub(crate) fn app(
    channel: &Arc<SmsChannel>,
    info: ServerInfo,
    ready: Arc<AtomicBool>,
    scheduler: Arc<Scheduler>,
) -> (Router, Router) {
    let state = AppState {
        channel: Arc::clone(channel),
        info: Arc::new(info),
        ready,
        scheduler,
    };
    let admin = Router::new()
        .route("/status", get(admin_status))
        .route("/pairing", get(admin_pairing_list))
        .route("/pairing/approve", post(admin_pairing_approve))
        .route("/pairing/deny", post(admin_pairing_deny))
        .route("/pairing/revoke", post(admin_pairing_revoke))
        .route("/pairing/approved", get(admin_pairing_approved))
        .route("/send", post(admin_send))
        .route("/scheduled", get(admin_scheduled_list))
        .route("/scheduled/cancel", post(admin_scheduled_cancel))
        .route("/probe", get(admin_probe))
        .with_state(state.clone());
    let admin = Router::new().nest(ADMIN_PREFIX, admin);
    let public = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(openclaw_sms::webhook::router(channel));
    (public, admin)
}

/// Ready once started, and while the state store can take a message (with PostgreSQL: the
/// database answers), so that a load balancer sends webhooks only where they can be made
/// durable.
async fn readyz(State(state): State<AppState>) -> Response {
    if !state.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response();
    }
    match state.channel.store().check_ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            // The reason (database host and port) goes to the log, not to whoever asks.
            tracing::warn!("not ready: {}", openclaw_twilio::escape::Escaped(&err));
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "state database unavailable",
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.channel.refresh_gauges().await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.channel.metrics().render(),
    )
        .into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn admin_status(State(state): State<AppState>) -> Response {
    let channel = &state.channel;
    let mut accounts = Vec::new();
    for account in channel.accounts() {
        let depth = channel.store().queue_depth(account.id()).await.unwrap_or(0);
        // The row `channels status` prints, from the settings this gateway runs (a `--dev`
        // gateway's simulator account is in no config file); plan warnings are logged at start.
        let mut row = crate::cli::channels::account_json(
            &account.settings,
            crate::runtime::startup_warnings(&account.settings),
        );
        row["running"] = json!(true);
        row["connected"] = json!(true);
        row["queueDepth"] = json!(depth);
        accounts.push(row);
    }
    Json(json!({
        "pid": std::process::id(),
        "port": state.info.port,
        "startedAt": state.info.started_at_ms,
        "stateDir": state.info.state_dir,
        "agent": state.info.agent,
        "state": state.info.state.json(),
        "devSimUrl": state.info.dev_sim_url,
        "accounts": accounts,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct AccountQuery {
    account: Option<String>,
}

fn pick(
    channel: &SmsChannel,
    id: Option<&str>,
) -> Result<Arc<openclaw_sms::AccountRuntime>, Box<Response>> {
    let found = match id {
        Some(id) => channel.account(id).cloned(),
        None => channel.accounts().first().cloned(),
    };
    found.ok_or_else(|| {
        Box::new(error(
            StatusCode::NOT_FOUND,
            format!(
                "the running gateway has no SMS account {}",
                id.unwrap_or("(default)")
            ),
        ))
    })
}

async fn admin_pairing_list(
    State(state): State<AppState>,
    Query(q): Query<AccountQuery>,
) -> Response {
    let account = match pick(&state.channel, q.account.as_deref()) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let now = state.channel.clock().now_ms();
    let ttl = pairing_ttl_ms(&account.settings.pairing.limits);
    match state.channel.store().list_requests(&pairing_key(account.id()), now, ttl).await {
        Ok(requests) => Json(json!({"account": account.id(), "requests": requests.iter().map(request_json).collect::<Vec<_>>()})).into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

pub(crate) fn request_json(r: &openclaw_store::PairingRequest) -> Value {
    json!({
        "code": r.code,
        "phoneNumber": r.sender_id,
        "meta": r.meta,
        "createdAt": crate::cli::iso_time(r.created_at),
        "lastSeenAt": crate::cli::iso_time(r.last_seen_at),
        "heldMessage": r.held_event_id.is_some(),
    })
}

#[derive(Debug, Deserialize)]
struct ApproveBody {
    account: Option<String>,
    code: String,
    #[serde(default)]
    notify: bool,
}

async fn admin_pairing_approve(
    State(state): State<AppState>,
    Json(body): Json<ApproveBody>,
) -> Response {
    let channel = &state.channel;
    let account = match pick(channel, body.account.as_deref()) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let code = body.code.trim().to_ascii_uppercase();
    match approve_pairing(channel, &account, &code, body.notify).await {
        Ok(Some(approved)) => Json(json!({"account": account.id(), "sender": approved.request.sender_id, "notified": approved.notified, "heldMessage": approved.request.held_event_id.is_some()})).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("No pending pairing request found for code: {code}"),
        ),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct DenyBody {
    account: Option<String>,
    code: String,
}

async fn admin_pairing_deny(State(state): State<AppState>, Json(body): Json<DenyBody>) -> Response {
    let channel = &state.channel;
    let account = match pick(channel, body.account.as_deref()) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let now = channel.clock().now_ms();
    let ttl = pairing_ttl_ms(&account.settings.pairing.limits);
    let code = body.code.trim().to_ascii_uppercase();
    match deny(&**channel.store(), account.id(), &code, now, ttl).await {
        Ok(Some(request)) => Json(json!({"account": account.id(), "sender": request.sender_id, "heldMessage": request.held_event_id.is_some()})).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("No pending pairing request found for code: {code}"),
        ),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct RevokeBody {
    account: Option<String>,
    sender: String,
    #[serde(default)]
    forget: bool,
}

async fn admin_pairing_revoke(
    State(state): State<AppState>,
    Json(body): Json<RevokeBody>,
) -> Response {
    let channel = &state.channel;
    let account = match pick(channel, body.account.as_deref()) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    if openclaw_sms_target::E164::parse(&body.sender).is_err() {
        return error(
            StatusCode::BAD_REQUEST,
            "sender: give the number in E.164, e.g. +15551234567",
        );
    }
    let now = channel.clock().now_ms();
    match crate::cli::pairing::revoke_in(&**channel.store(), account.id(), &body.sender, body.forget, now).await {
        Ok(revoked) => Json(json!({"account": account.id(), "sender": body.sender, "revoked": revoked.revoked, "historyForgotten": revoked.forgotten})).into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

async fn admin_pairing_approved(
    State(state): State<AppState>,
    Query(q): Query<AccountQuery>,
) -> Response {
    let account = match pick(&state.channel, q.account.as_deref()) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    match state.channel.store().allow_entries(&pairing_key(account.id())).await {
        Ok(entries) => Json(json!({"account": account.id(), "approved": entries.iter().map(approved_json).collect::<Vec<_>>()})).into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// One approved sender as `pairing list --approved` shows it.
pub(crate) fn approved_json(e: &openclaw_store::AllowEntry) -> Value {
    json!({"phoneNumber": e.entry, "approvedAt": crate::cli::iso_time(e.added_at)})
}

/// Approves the live request with `code` on a running gateway: the channel's one
/// approve-and-notify ([`SmsChannel::approve`], as an owner's `APPROVE` text uses it), which
/// wakes the pump so that the held first message is answered. The one path of the admin API
/// and the console.
pub(crate) async fn approve_pairing(
    channel: &SmsChannel,
    account: &openclaw_sms::AccountRuntime,
    code: &str,
    notify: bool,
) -> Result<Option<Approval>, openclaw_sms::ChannelError> {
    channel.approve(account, code, notify).await
}

/// `channels status --probe` for an account this gateway runs: the probe with the gateway's
/// credentials and store (a `--dev` gateway's account exists only here).
async fn admin_probe(State(state): State<AppState>, Query(q): Query<AccountQuery>) -> Response {
    let account = match pick(&state.channel, q.account.as_deref()) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let result = openclaw_sms::probe::probe(
        &account,
        state.channel.store().as_ref(),
        openclaw_sms::probe::DEFAULT_PROBE_TIMEOUT,
    )
    .await;
    Json(result).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendBody {
    account: Option<String>,
    to: String,
    text: String,
    /// `--at`/`--after`: when (unix ms), and the zone it was written in.
    due_at: Option<i64>,
    zone: Option<String>,
}

async fn admin_send(State(state): State<AppState>, Json(body): Json<SendBody>) -> Response {
    let channel = &state.channel;
    let account = match pick(channel, body.account.as_deref()) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let now = channel.clock().now_ms();
    let asked = body.due_at.map(|at| (at, body.zone.clone()));
    if let Some(planned) = plan(&account.settings, &body.to, asked, now) {
        let id = crate::scheduler::new_id();
        let request = ScheduleRequest {
            reply_id: format!("sched:{id}"),
            id,
            account: account.id().to_owned(),
            to: body.to.clone(),
            text: body.text.clone(),
            planned,
            now,
        };
        return match state.scheduler.schedule(request).await {
            Ok(send) => Json(json!({"ok": true, "channel": "sms", "account": account.id(), "to": body.to, "scheduled": scheduled_json(&send)})).into_response(),
            Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        };
    }
    let reply_id = format!("cli:{}:{}:{}", account.id(), now, rand::random::<u64>());
    let report = channel
        .outbound()
        .send_reply(&account, &body.to, &body.text, &reply_id)
        .await;
    Json(report_json(account.id(), &body.to, &report)).into_response()
}

async fn admin_scheduled_list(
    State(state): State<AppState>,
    Query(q): Query<AccountQuery>,
) -> Response {
    let store = state.channel.store();
    match store
        .pending_scheduled(q.account.as_deref(), crate::scheduler::LIST_LIMIT)
        .await
    {
        Ok(sends) => {
            Json(json!({"scheduled": sends.iter().map(scheduled_json).collect::<Vec<_>>()}))
                .into_response()
        }
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct CancelBody {
    id: String,
}

async fn admin_scheduled_cancel(
    State(state): State<AppState>,
    Json(body): Json<CancelBody>,
) -> Response {
    match state.scheduler.cancel(body.id.trim()).await {
        Ok(Some(send)) => Json(scheduled_json(&send)).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no scheduled send with id {}", body.id.trim()),
        ),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// The JSON of a send report (also printed by `message send --json`).
pub(crate) fn report_json(
    account: &str,
    to: &str,
    report: &openclaw_sms::outbound::SendReport,
) -> Value {
    let parts: Vec<Value> = report
        .parts
        .iter()
        .zip(&report.reply.parts)
        .map(|(outcome, part)| match outcome {
            PartOutcome::Sent { sid, segments, .. } => json!({"status": "sent", "messageSid": sid, "segments": segments, "encoding": part.encoding}),
            PartOutcome::Failed { error } => json!({"status": "failed", "error": error, "segments": part.segments}),
            PartOutcome::Skipped => json!({"status": "skipped", "segments": part.segments}),
        })
        .collect();
    json!({
        "ok": report.is_complete() && !report.parts.is_empty(),
        "channel": "sms",
        "account": account,
        "to": to,
        "encoding": report.reply.report.encoding,
        "segments": report.reply.billed_segments,
        "parts": parts,
    })
}
