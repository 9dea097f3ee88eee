//! The console's pages: maud templates (every interpolated value is HTML-escaped) and their
//! handlers. Forms POST back with the session's CSRF token; list views are paginated.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use openclaw_access_policy::PairingLimits;
use openclaw_sms::AccountRuntime;
use openclaw_sms::pipeline::{pairing_key, pairing_ttl_ms};
use openclaw_store::{HISTORY_PER_PEER, IngressId, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Console, SessionView, export};

/// Rows per page of a list view.
pub(crate) const PAGE_SIZE: usize = 50;
/// Seconds between reloads of the `--dev` phone page.
const REFRESH_SECS: u32 = 3;
/// The phones the `--dev` phone page offers.
pub(crate) const DEV_PHONES: &[&str] = &["+15557654321", "+15550000001", "+15550000002"];

const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

pub(crate) async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

pub(super) fn page(
    console: &Console,
    title: &str,
    session: Option<&SessionView>,
    refresh: bool,
    body: Markup,
) -> Response {
    let base = console.base();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh { meta http-equiv="refresh" content=(REFRESH_SECS); }
                title { (title) " · OpenClaw SMS console" }
                link rel="stylesheet" href={ (base) "/static/console.css" };
                script src={ (base) "/static/console.js" } defer {}
            }
            body {
                @if let Some(session) = session {
                    nav {
                        a href={ (base) "/" } { "Overview" }
                        a href={ (base) "/pairing" } { "Pairing" }
                        a href={ (base) "/conversations" } { "Conversations" }
                        a href={ (base) "/dead-letters" } { "Dead letters" }
                        a href={ (base) "/opt-outs" } { "Opt-outs" }
                        @if console.sim_url().is_some() { a href={ (base) "/phone" } { "Phone" } }
                        form method="post" action={ (base) "/logout" } class="inline" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn csrf_field(session: &SessionView) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A store or backend failure: logged, and a page without internals.
pub(super) fn failed(what: &str, err: &dyn std::fmt::Display) -> Response {
    tracing::warn!("console: {what}: {err}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("could not {what}; see the gateway log"),
    )
        .into_response()
}

fn note_text(note: Option<&str>) -> Option<&'static str> {
    Some(match note? {
        "approved" => "Approved: the sender's held text is being answered.",
        "denied" => "Denied: the request and its held text are gone.",
        "revoked" => "Revoked: the sender's next text is treated as a stranger's.",
        "unknown-code" => "No live pairing request has that code.",
        "not-allowed" => "That sender was not approved.",
        "resubmitted" => "Resubmitted to the queue.",
        "no-dead-letter" => "No such dead letter.",
        "sent" => "Sent.",
        "send-failed" => "The simulator could not deliver the text.",
        _ => return None,
    })
}

fn note_markup(note: Option<&str>) -> Markup {
    html! { @if let Some(text) = note_text(note) { p.note role="status" { (text) } } }
}

/// The account a page is about: `?account=`, else the first.
pub(super) fn account(console: &Console, id: Option<&str>) -> Option<Arc<AccountRuntime>> {
    match id {
        Some(id) if !id.is_empty() => console.channel().account(id).cloned(),
        _ => console.channel().accounts().first().cloned(),
    }
}

/// The account's number, or its Messaging Service.
fn sender_label(account: &AccountRuntime) -> String {
    match (
        &account.settings.from_number,
        &account.settings.messaging_service_sid,
    ) {
        (Some(number), _) => number.to_string(),
        (None, Some(service)) => format!("Messaging Service {service}"),
        (None, None) => "—".to_owned(),
    }
}

/// Page `page` of `items` ([`PAGE_SIZE`] rows) and whether a later page exists; a page past
/// the end is empty (the arithmetic saturates, so no page number can overflow it).
fn page_of<T>(items: &[T], page: usize) -> (&[T], bool) {
    let start = page.saturating_mul(PAGE_SIZE).min(items.len());
    let end = start.saturating_add(PAGE_SIZE).min(items.len());
    (&items[start..end], items.len() > end)
}

pub(super) fn no_account() -> Response {
    (
        StatusCode::NOT_FOUND,
        "the gateway runs no such SMS account",
    )
        .into_response()
}

/// `?page=` (from 0) and `?account=`, common to the list views.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    page: usize,
    account: Option<String>,
    note: Option<String>,
}

fn pager(console: &Console, path: &str, page: usize, has_next: bool) -> Markup {
    let base = console.base();
    html! {
        p.pager {
            @if page > 0 { a href={ (base) (path) "?page=" (page - 1) } { "← newer" } " " }
            "page " (page + 1)
            @if has_next { " " a href={ (base) (path) "?page=" (page + 1) } rel="next" { "older →" } }
        }
    }
}

// ---- login ----

pub(crate) async fn login_form(State(console): State<Console>) -> Response {
    login_page(&console, StatusCode::OK, None)
}

/// The login page (also after a failed attempt, with `status` and a message).
pub(crate) fn login_page(console: &Console, status: StatusCode, error: Option<&str>) -> Response {
    let body = html! {
        @if let Some(error) = error { p.error role="alert" { (error) } }
        form method="post" action={ (console.base()) "/login" } id="login" {
            label for="token" { "Gateway token (gateway.auth.token)" }
            input type="password" name="token" id="token" autocomplete="current-password" required;
            button type="submit" { "Log in" }
        }
    };
    let mut response = page(console, "Log in", None, false, body);
    *response.status_mut() = status;
    response
}

// ---- overview ----

pub(crate) async fn overview(
    State(console): State<Console>,
    Extension(session): Extension<SessionView>,
) -> Response {
    let channel = console.channel();
    let store = channel.store();
    let info = console.info();
    let mut rows = Vec::new();
    for account in channel.accounts() {
        let id = account.id();
        let depth = store.queue_depth(id).await.unwrap_or(0);
        let dead = store.list_dead_letters(id).await.map_or(0, |d| d.len());
        let opt_outs = store.list_opt_outs(id).await.map_or(0, |o| o.len());
        let latest = store.latest_delivery(id).await.ok().flatten();
        rows.push((Arc::clone(account), depth, dead, opt_outs, latest));
    }
    let now = console.channel().clock().now_ms();
    let mut activity = Vec::new();
    let mut billing = Vec::new();
    for account in channel.accounts() {
        let today = match today(store.as_ref(), account.id(), now).await {
            Ok(t) => t,
            Err(err) => return failed("count today's messages", &err),
        };
        let errors = match store
            .delivery_errors(account.id(), now - RECENT_ERRORS_MS, MAX_ERROR_CODES)
            .await
        {
            Ok(e) => e,
            Err(err) => return failed("count delivery errors", &err),
        };
        let billed = match billed_today(store.as_ref(), account, now).await {
            Ok(b) => b,
            Err(err) => return failed("read today's usage", &err),
        };
        activity.push((account.id().to_owned(), today, errors));
        billing.push((account.id().to_owned(), billed));
    }
    let body = html! {
        dl {
            dt { "Agent" } dd { (info.agent) }
            dt { "State" } dd { (info.state.line()) }
            dt { "Port" } dd { (info.port) }
        }
        h2 { "Accounts" }
        table {
            thead { tr { th { "Account" } th { "Sender" } th { "Webhook route" } th { "Queue depth" } th { "Dead letters" } th { "Opt-outs" } th { "Latest delivery" } } }
            tbody {
                @for (account, depth, dead, opt_outs, latest) in &rows {
                    tr {
                        td { (account.id()) }
                        td { (sender_label(account)) }
                        td { code { (account.settings.webhook_path) } }
                        td { (depth) }
                        td { (dead) }
                        td { (opt_outs) }
                        td {
                            @if let Some(d) = latest {
                                (d.status)
                                @if let Some(code) = &d.error_code {
                                    " (error " (code) ")"
                                    @if let Some(hint) = code.parse::<u32>().ok().and_then(openclaw_twilio::hint_for_code) {
                                        br; small { (hint) }
                                    }
                                }
                            } @else { "none yet" }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        (body)
        h2 { "Today (UTC)" }
        table id="today" {
            thead { tr { th { "Account" } th { "Texts in" } th { "Replies out" } th { "Reply segments" } } }
            tbody {
                @for (id, today, _) in &activity {
                    tr {
                        td { (id) }
                        td { (today.inbound) @if today.capped { "+" } }
                        td { (today.outbound) @if today.capped { "+" } }
                        td { (today.segments) @if today.capped { "+" } }
                    }
                }
            }
        }
        p.muted { "Counted from the stored history (at most " (HISTORY_PER_PEER) " turns per sender); segments as each reply's stored text would be billed as one message." }
        h2 { "Sent today, billed" }
        table id="billed" {
            thead { tr { th { "Account" } th { "Day (budget zone)" } th { "Parts sent" } th { "Segments" } th { "Estimated cost" } } }
            tbody {
                @for (id, billed) in &billing {
                    tr {
                        td { (id) }
                        td { (billed.day) " (" (billed.zone) ")" }
                        td { (billed.parts) }
                        td { (billed.segments) }
                        td { (billed.cost_text()) }
                    }
                }
            }
        }
        p.muted { "Every part Twilio accepted (replies, pairing codes, notices, sends), counted when it was sent; the cost is estimated from budgets.pricePerSegment." }
        h2 { "Delivery errors, last 7 days" }
        @if activity.iter().all(|(_, _, errors)| errors.is_empty()) { p { "No delivery errors." } } @else {
            table id="errors" {
                thead { tr { th { "Account" } th { "Twilio error" } th { "Messages" } th { "Latest" } th { "What it means" } } }
                tbody {
                    @for (id, _, errors) in &activity {
                        @for e in errors {
                            tr {
                                td { (id) }
                                td { code { (e.code) } }
                                td { (e.count) }
                                td { (crate::cli::iso_time(e.last_at)) }
                                td { (e.code.parse::<u32>().ok().and_then(openclaw_twilio::hint_for_code).unwrap_or("see Twilio's error dictionary")) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&console, "Overview", Some(&session), false, body)
}

/// How far back the overview's delivery errors go.
const RECENT_ERRORS_MS: i64 = 7 * 86_400_000;
/// Error codes listed per account, at most.
const MAX_ERROR_CODES: usize = 20;
/// Turns read per store call when paging through an account (export, today's counts).
pub(crate) const ACCOUNT_PAGE: usize = 500;
/// Turns counted for today's figures, at most (past it the figures show `+`).
const MAX_TODAY_TURNS: usize = 100_000;

/// What an account sent today (its budget day), counted from the parts Twilio accepted.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Billed {
    day: String,
    zone: String,
    parts: u64,
    segments: u64,
    /// Estimated cost, from `budgets.pricePerSegment`.
    cost: openclaw_sms::budget::CostEstimate,
}

impl Billed {
    fn cost_text(&self) -> String {
        if self.cost.by_currency.is_empty() {
            return if self.segments == 0 {
                "0".to_owned()
            } else {
                "no prices configured".to_owned()
            };
        }
        let mut text = self
            .cost
            .by_currency
            .iter()
            .map(|(currency, amount)| format!("{amount:.4} {currency}"))
            .collect::<Vec<_>>()
            .join(" + ");
        if self.cost.unpriced > 0 {
            text.push_str(&format!(
                " (+{} segments without a price)",
                self.cost.unpriced
            ));
        }
        text
    }
}

/// Today's billed parts of `account` (its budget day and zone), priced per recipient.
pub(crate) async fn billed_today(
    store: &dyn openclaw_store::Store,
    account: &AccountRuntime,
    now: i64,
) -> Result<Billed, openclaw_store::StoreError> {
    let budgets = &account.settings.budgets;
    let day = openclaw_sms::budget::budget_day(budgets, now);
    let rows = store.usage(Some(account.id()), Some(&day)).await?;
    let mut billed = Billed {
        zone: budgets.time_zone_name.clone(),
        ..Billed::default()
    };
    for row in rows.iter().filter(|r| r.day == day) {
        billed.parts += row.messages;
        billed.segments += row.segments;
        billed.cost.add(Some(budgets), &row.peer, row.segments);
    }
    billed.day = day;
    Ok(billed)
}

/// Today's traffic of an account, from the stored history.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Today {
    inbound: u64,
    outbound: u64,
    segments: u64,
    /// More turns than [`MAX_TODAY_TURNS`]: the figures are lower bounds.
    capped: bool,
}

/// Counts the turns of `account` since the start of the UTC day of `now`, page by page.
pub(crate) async fn today(
    store: &dyn openclaw_store::Store,
    account: &str,
    now: i64,
) -> Result<Today, openclaw_store::StoreError> {
    let midnight = now - now.rem_euclid(86_400_000);
    let mut counts = Today::default();
    let (mut after, mut seen) = (0_i64, 0_usize);
    loop {
        let turns = store
            .account_history(account, after, midnight, ACCOUNT_PAGE)
            .await?;
        for turn in &turns {
            match turn.entry.role {
                Role::User => counts.inbound += 1,
                Role::Assistant => {
                    counts.outbound += 1;
                    counts.segments +=
                        u64::from(openclaw_sms_text::analyze(&turn.entry.text).segments);
                }
            }
        }
        seen += turns.len();
        match turns.last() {
            Some(last) if turns.len() == ACCOUNT_PAGE => after = last.id,
            _ => return Ok(counts),
        }
        if seen >= MAX_TODAY_TURNS {
            counts.capped = true;
            return Ok(counts);
        }
    }
}

// ---- pairing ----

pub(crate) async fn pairing(
    State(console): State<Console>,
    Extension(session): Extension<SessionView>,
    Query(q): Query<ListQuery>,
) -> Response {
    let Some(account) = account(&console, q.account.as_deref()) else {
        return no_account();
    };
    let store = console.channel().store();
    let key = pairing_key(account.id());
    let now = console.channel().clock().now_ms();
    let ttl = pairing_ttl_ms(&PairingLimits::default());
    let requests = match store.list_requests(&key, now, ttl).await {
        Ok(r) => r,
        Err(err) => return failed("list pairing requests", &err),
    };
    let allowed = match store.allow_entries(&key).await {
        Ok(a) => a,
        Err(err) => return failed("list approved senders", &err),
    };
    let (shown, has_next) = page_of(&allowed, q.page);
    let base = console.base();
    let body = html! {
        (note_markup(q.note.as_deref()))
        h2 { "Pending requests" }
        @if requests.is_empty() { p { "No pending pairing requests." } } @else {
            table id="pending" {
                thead { tr { th { "Code" } th { "Sender" } th { "Asked" } th { "Held text" } th { "" } } }
                tbody {
                    @for r in &requests {
                        tr {
                            td { code { (r.code) } }
                            td.sender { (r.sender_id) }
                            td { (crate::cli::iso_time(r.created_at)) }
                            td { @if r.held_event_id.is_some() { "waiting" } @else { "—" } }
                            td {
                                form method="post" action={ (base) "/pairing/approve" } class="inline" {
                                    (csrf_field(&session))
                                    input type="hidden" name="code" value=(r.code);
                                    button type="submit" name="approve" { "Approve" }
                                }
                                form method="post" action={ (base) "/pairing/deny" } class="inline" {
                                    (csrf_field(&session))
                                    input type="hidden" name="code" value=(r.code);
                                    button type="submit" name="deny" { "Deny" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Approved senders" }
        @if shown.is_empty() { p { "No approved senders." } } @else {
            table id="approved" {
                thead { tr { th { "Sender" } th { "Approved" } th { "" } } }
                tbody {
                    @for entry in shown {
                        tr {
                            td.sender { (entry.entry) }
                            td { (crate::cli::iso_time(entry.added_at)) }
                            td {
                                form method="post" action={ (base) "/pairing/revoke" } class="inline" {
                                    (csrf_field(&session))
                                    input type="hidden" name="sender" value=(entry.entry);
                                    button type="submit" name="revoke" data-confirm="Revoke this sender?" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
            (pager(&console, "/pairing", q.page, has_next))
        }
    };
    page(&console, "Pairing", Some(&session), false, body)
}

#[derive(Debug, Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    code: String,
    account: Option<String>,
}

fn back(console: &Console, path: &str, note: &str) -> Response {
    Redirect::to(&format!("{}{path}?note={note}", console.base())).into_response()
}

pub(crate) async fn pairing_approve(
    State(console): State<Console>,
    Form(form): Form<CodeForm>,
) -> Response {
    let Some(account) = account(&console, form.account.as_deref()) else {
        return no_account();
    };
    let code = form.code.trim().to_ascii_uppercase();
    match crate::server::approve_pairing(console.channel(), &account, &code, false).await {
        Ok(Some(_)) => back(&console, "/pairing", "approved"),
        Ok(None) => back(&console, "/pairing", "unknown-code"),
        Err(err) => failed("approve", &err),
    }
}

pub(crate) async fn pairing_deny(
    State(console): State<Console>,
    Form(form): Form<CodeForm>,
) -> Response {
    let Some(account) = account(&console, form.account.as_deref()) else {
        return no_account();
    };
    let code = form.code.trim().to_ascii_uppercase();
    let now = console.channel().clock().now_ms();
    let ttl = pairing_ttl_ms(&account.settings.pairing.limits);
    match openclaw_sms::owner::deny(&**console.channel().store(), account.id(), &code, now, ttl)
        .await
    {
        Ok(Some(_)) => back(&console, "/pairing", "denied"),
        Ok(None) => back(&console, "/pairing", "unknown-code"),
        Err(err) => failed("deny", &err),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SenderForm {
    #[serde(default)]
    sender: String,
    account: Option<String>,
}

pub(crate) async fn pairing_revoke(
    State(console): State<Console>,
    Form(form): Form<SenderForm>,
) -> Response {
    let Some(account) = account(&console, form.account.as_deref()) else {
        return no_account();
    };
    let now = console.channel().clock().now_ms();
    match console
        .channel()
        .store()
        .revoke(&pairing_key(account.id()), form.sender.trim(), now)
        .await
    {
        Ok(true) => back(&console, "/pairing", "revoked"),
        Ok(false) => back(&console, "/pairing", "not-allowed"),
        Err(err) => failed("revoke", &err),
    }
}

// ---- conversations ----

pub(crate) async fn conversations(
    State(console): State<Console>,
    Extension(session): Extension<SessionView>,
    Query(q): Query<ListQuery>,
) -> Response {
    let Some(account) = account(&console, q.account.as_deref()) else {
        return no_account();
    };
    match render_conversations(&console, &session, &account, q.page).await {
        Ok(response) => response,
        Err(err) => failed("list conversations", &err),
    }
}

/// The conversation list page (also what the console benchmark times).
pub(crate) async fn render_conversations(
    console: &Console,
    session: &SessionView,
    account: &AccountRuntime,
    page_no: usize,
) -> Result<Response, openclaw_store::StoreError> {
    let mut rows = console
        .channel()
        .store()
        .list_conversations(
            account.id(),
            PAGE_SIZE + 1,
            page_no.saturating_mul(PAGE_SIZE),
        )
        .await?;
    let has_next = rows.len() > PAGE_SIZE;
    rows.truncate(PAGE_SIZE);
    let store = console.channel().store();
    let opted_out: std::collections::HashSet<String> = store
        .list_opt_outs(account.id())
        .await?
        .into_iter()
        .map(|o| o.number)
        .collect();
    let paired: std::collections::HashSet<String> = store
        .allow_entries(&pairing_key(account.id()))
        .await?
        .into_iter()
        .map(|e| e.entry)
        .collect();
    let status = |peer: &str| {
        if opted_out.contains(peer) {
            "opted out"
        } else if paired.contains(peer) {
            "paired"
        } else {
            "—"
        }
    };
    let base = console.base();
    let body = html! {
        @if rows.is_empty() { p { "No conversations yet." } } @else {
            table id="conversations" {
                thead { tr { th { "Sender" } th { "Status" } th { "Last" } th { "When" } } }
                tbody {
                    @for row in &rows {
                        tr {
                            td { a href={ (base) "/thread?sender=" (urlencode(&row.peer)) } { (row.peer) } }
                            td { (status(&row.peer)) }
                            td { (role_label(row.last.role)) ": " (preview(&row.last.text)) }
                            td { (crate::cli::iso_time(row.last.at)) }
                        }
                    }
                }
            }
        }
        (pager(console, "/conversations", page_no, has_next))
    };
    Ok(page(console, "Conversations", Some(session), false, body))
}

pub(super) fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub(super) fn role_label(role: Role) -> &'static str {
    match role {
        Role::User => "sender",
        Role::Assistant => "agent",
    }
}

/// The first 80 characters of a text.
fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(80).collect();
    if text.chars().nth(80).is_some() {
        out.push('…');
    }
    out
}

#[derive(Debug, Deserialize)]
pub(crate) struct SenderQuery {
    #[serde(default)]
    sender: String,
    account: Option<String>,
    format: Option<String>,
}

/// The sender a thread or an export is about, and the stored turns with them; the error
/// answer when the account is unknown or the store cannot be read.
async fn conversation<'q>(
    console: &Console,
    q: &'q SenderQuery,
) -> Result<(&'q str, Vec<openclaw_store::HistoryEntry>), Response> {
    let account = account(console, q.account.as_deref()).ok_or_else(no_account)?;
    let sender = q.sender.trim();
    console
        .channel()
        .store()
        .recent_history(account.id(), sender, HISTORY_PER_PEER)
        .await
        .map(|turns| (sender, turns))
        .map_err(|err| failed("read the conversation", &err))
}

pub(crate) async fn export(
    State(console): State<Console>,
    Query(q): Query<SenderQuery>,
) -> Response {
    let (sender, turns) = match conversation(&console, &q).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let name: String = sender.chars().filter(char::is_ascii_digit).collect();
    let (content_type, ext, text) = match q.format.as_deref() {
        Some("csv") => (
            "text/csv; charset=utf-8",
            "csv",
            export::csv(sender, &turns),
        ),
        _ => (
            "application/x-ndjson; charset=utf-8",
            "jsonl",
            export::jsonl(sender, &turns),
        ),
    };
    let disposition = format!("attachment; filename=\"conversation-{name}.{ext}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response()
}

/// `GET {base}/export/account?format=jsonl|csv`: every stored turn of the account, streamed
/// page by page ([`ACCOUNT_PAGE`] turns per store read), never all in memory.
pub(crate) async fn export_account(
    State(console): State<Console>,
    Query(q): Query<SenderQuery>,
) -> Response {
    let Some(account) = account(&console, q.account.as_deref()) else {
        return no_account();
    };
    let csv = q.format.as_deref() == Some("csv");
    let (writer, reader) = tokio::io::duplex(64 * 1024);
    let store = Arc::clone(console.channel().store());
    let id = account.id().to_owned();
    tokio::spawn(write_account(store, id, csv, writer));
    let (content_type, ext) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/x-ndjson; charset=utf-8", "jsonl")
    };
    let name: String = account
        .id()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let disposition = format!("attachment; filename=\"account-{name}.{ext}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(reader)),
    )
        .into_response()
}

/// Writes an account's export into `out`, page by page; stops when the reader goes. A store
/// failure mid-way ends the file early (logged): the status line is already sent.
async fn write_account(
    store: Arc<dyn openclaw_store::Store>,
    account: String,
    csv: bool,
    mut out: tokio::io::DuplexStream,
) {
    use tokio::io::AsyncWriteExt as _;
    if csv && out.write_all(export::CSV_HEADER.as_bytes()).await.is_err() {
        return;
    }
    let mut after = 0_i64;
    loop {
        let turns = match store
            .account_history(&account, after, i64::MIN, ACCOUNT_PAGE)
            .await
        {
            Ok(t) => t,
            Err(err) => {
                tracing::warn!(account, "console: account export cut short: {err}");
                return;
            }
        };
        let mut chunk = String::new();
        for turn in &turns {
            chunk.push_str(&if csv {
                export::csv_row(&turn.peer, &turn.entry)
            } else {
                export::jsonl_line(&turn.peer, &turn.entry)
            });
        }
        if out.write_all(chunk.as_bytes()).await.is_err() {
            return;
        }
        match turns.last() {
            Some(last) if turns.len() == ACCOUNT_PAGE => after = last.id,
            _ => return,
        }
    }
}

// ---- opt-outs ----

pub(crate) async fn opt_outs(
    State(console): State<Console>,
    Extension(session): Extension<SessionView>,
    Query(q): Query<ListQuery>,
) -> Response {
    let Some(account) = account(&console, q.account.as_deref()) else {
        return no_account();
    };
    let list = match console.channel().store().list_opt_outs(account.id()).await {
        Ok(l) => l,
        Err(err) => return failed("list opt-outs", &err),
    };
    let (shown, has_next) = page_of(&list, q.page);
    let base = console.base();
    let body = html! {
        p { "Senders of " strong { (account.id()) } " who texted a stop keyword: nothing is sent to them until they text START. "
            a href={ (base) "/export/account?format=jsonl&account=" (urlencode(account.id())) } id="export-account-jsonl" { "Export the account (JSON Lines)" } " · "
            a href={ (base) "/export/account?format=csv&account=" (urlencode(account.id())) } id="export-account-csv" { "(CSV)" } }
        @if shown.is_empty() { p { "No opted-out senders." } } @else {
            table id="opt-outs" {
                thead { tr { th { "Sender" } th { "Keyword" } th { "Since" } } }
                tbody {
                    @for o in shown {
                        tr {
                            td.sender { a href={ (base) "/thread?sender=" (urlencode(&o.number)) } { (o.number) } }
                            td { (o.keyword) }
                            td { (crate::cli::iso_time(o.at)) }
                        }
                    }
                }
            }
        }
        (pager(&console, "/opt-outs", q.page, has_next))
    };
    page(&console, "Opt-outs", Some(&session), false, body)
}

// ---- dead letters ----

pub(crate) async fn dead_letters(
    State(console): State<Console>,
    Extension(session): Extension<SessionView>,
    Query(q): Query<ListQuery>,
) -> Response {
    let Some(account) = account(&console, q.account.as_deref()) else {
        return no_account();
    };
    let letters = match console
        .channel()
        .store()
        .list_dead_letters(account.id())
        .await
    {
        Ok(l) => l,
        Err(err) => return failed("list dead letters", &err),
    };
    let (shown, has_next) = page_of(&letters, q.page);
    let base = console.base();
    let body = html! {
        (note_markup(q.note.as_deref()))
        @if shown.is_empty() { p { "No dead letters." } } @else {
            table id="dead-letters" {
                thead { tr { th { "Id" } th { "Message" } th { "Failed" } th { "Attempts" } th { "Reason" } th { "" } } }
                tbody {
                    @for d in shown {
                        tr {
                            td { (d.id.as_i64()) }
                            td { code { (d.event_id) } }
                            td { (crate::cli::iso_time(d.failed_at)) }
                            td { (d.attempts) }
                            td { (d.reason) }
                            td {
                                form method="post" action={ (base) "/dead-letters/resubmit" } class="inline" {
                                    (csrf_field(&session))
                                    input type="hidden" name="id" value=(d.id.as_i64());
                                    button type="submit" { "Resubmit" }
                                }
                            }
                        }
                    }
                }
            }
        }
        (pager(&console, "/dead-letters", q.page, has_next))
    };
    page(&console, "Dead letters", Some(&session), false, body)
}

#[derive(Debug, Deserialize)]
pub(crate) struct IdForm {
    #[serde(default)]
    id: i64,
    account: Option<String>,
}

pub(crate) async fn dead_letter_resubmit(
    State(console): State<Console>,
    Form(form): Form<IdForm>,
) -> Response {
    let Some(account) = account(&console, form.account.as_deref()) else {
        return no_account();
    };
    let store = console.channel().store();
    // Only a dead letter of this account: the id comes from a form.
    let letters = match store.list_dead_letters(account.id()).await {
        Ok(l) => l,
        Err(err) => return failed("list dead letters", &err),
    };
    if !letters.iter().any(|d| d.id.as_i64() == form.id) {
        return back(&console, "/dead-letters", "no-dead-letter");
    }
    match store
        .resubmit(IngressId::new(form.id), console.channel().clock().now_ms())
        .await
    {
        Ok(()) => {
            console.channel().wake();
            back(&console, "/dead-letters", "resubmitted")
        }
        Err(err) => failed("resubmit", &err),
    }
}

// ---- the --dev phone ----

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PhoneQuery {
    from: Option<String>,
    note: Option<String>,
}

fn dev_phone(from: Option<&str>) -> &'static str {
    from.and_then(|f| DEV_PHONES.iter().find(|p| **p == f.trim()))
        .copied()
        .unwrap_or(DEV_PHONES[0])
}

pub(crate) async fn phone(
    State(console): State<Console>,
    Extension(session): Extension<SessionView>,
    Query(q): Query<PhoneQuery>,
) -> Response {
    let Some(sim) = console.sim_url() else {
        return no_account();
    };
    let from = dev_phone(q.from.as_deref());
    let url = format!(
        "{}/_sim/phones/{}/messages",
        sim.trim_end_matches('/'),
        urlencode(from)
    );
    let replies: Vec<Value> = match console.http().get(url).send().await {
        Ok(answer) => answer.json().await.unwrap_or_default(),
        Err(err) => return failed("read the simulated phone", &err),
    };
    let base = console.base();
    let body = html! {
        (note_markup(q.note.as_deref()))
        form method="get" action={ (base) "/phone" } {
            label for="from" { "Phone" }
            select name="from" id="from" data-autosubmit="" {
                @for p in DEV_PHONES { option value=(p) selected[*p == from] { (p) } }
            }
        }
        ol.phone id="inbox" {
            @for message in &replies {
                @let text = message["body"].as_str().unwrap_or_default();
                li.agent {
                    span.meta { (message["from"].as_str().unwrap_or_default()) " · " (openclaw_sms_text::analyze(text).segments) " segment(s)" }
                    p.text { (text) }
                }
            }
        }
        form method="post" action={ (base) "/phone/text" } id="compose" {
            (csrf_field(&session))
            input type="hidden" name="from" value=(from);
            label for="body" { "Text from " (from) }
            input type="text" name="body" id="body" maxlength="1600" required autocomplete="off";
            button type="submit" { "Send" }
        }
    };
    page(&console, "Phone", Some(&session), true, body)
}

#[derive(Debug, Deserialize)]
pub(crate) struct PhoneForm {
    from: Option<String>,
    #[serde(default)]
    body: String,
}

pub(crate) async fn phone_text(
    State(console): State<Console>,
    Form(form): Form<PhoneForm>,
) -> Response {
    let Some(sim) = console.sim_url() else {
        return no_account();
    };
    let from = dev_phone(form.from.as_deref());
    let Some(to) = console
        .channel()
        .accounts()
        .first()
        .and_then(|a| a.settings.from_number.as_ref().map(ToString::to_string))
    else {
        return no_account();
    };
    let url = format!(
        "{}/_sim/phones/{}/text",
        sim.trim_end_matches('/'),
        urlencode(from)
    );
    let sent = console
        .http()
        .post(url)
        .json(&json!({"to": to, "body": form.body}))
        .send()
        .await
        .is_ok_and(|a| a.status().is_success());
    let note = if sent { "sent" } else { "send-failed" };
    Redirect::to(&format!(
        "{}/phone?from={}&note={note}",
        console.base(),
        urlencode(from)
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_at_their_edges() {
        let items: Vec<usize> = (0..2 * PAGE_SIZE + 1).collect();
        let (first, more) = page_of(&items, 0);
        assert_eq!((first.len(), first[0], more), (PAGE_SIZE, 0, true));
        let (second, more) = page_of(&items, 1);
        assert_eq!((second[0], more), (PAGE_SIZE, true));
        let (last, more) = page_of(&items, 2);
        assert_eq!((last, more), (&[2 * PAGE_SIZE][..], false));
        let exact: Vec<usize> = (0..PAGE_SIZE).collect();
        assert!(!page_of(&exact, 0).1);
        assert_eq!(page_of(&items, usize::MAX), (&[][..], false));
    }
}
