//! The owner's web console at `gateway.console.basePath` (default `/console`) on the gateway's
//! port: server-rendered pages (maud: every value is HTML-escaped at compile-time-checked
//! templates), a login that exchanges `gateway.auth.token` for an in-memory session cookie, a
//! per-session CSRF token on every POST, and strict security headers on every answer.
//!
//! Security shape (see docs/security.md):
//! - every route but the login form and the static assets goes through [`require_session`];
//!   a POST there also needs the session's CSRF token in its form (checked in constant time);
//! - failed logins are counted per client by the sms crate's [`FixedWindowLimiter`];
//! - the cookie is `HttpOnly; SameSite=Strict; Path=<basePath>`, plus `Secure` when the request
//!   came over https (`X-Forwarded-Proto: https` from a `gateway.trustedProxies` peer);
//! - answers carry a CSP without inline script, `X-Frame-Options: DENY`,
//!   `Referrer-Policy: no-referrer`, `Cache-Control: no-store`.

mod export;
mod pages;
mod thread;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use openclaw_sms::limits::FixedWindowLimiter;
use openclaw_sms::{SmsChannel, TrustedProxies};
use rand::Rng as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::auth::AuthToken;
use crate::server::ServerInfo;

/// `gateway.console.basePath` when not set.
pub(crate) const DEFAULT_BASE_PATH: &str = "/console";
/// How long a console session lasts after login.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// At most this many sessions are kept; past it the oldest is dropped.
pub(crate) const MAX_SESSIONS: usize = 64;
/// Failed logins per client per minute before the login answers 429 without checking.
pub(crate) const LOGIN_FAILURES_PER_MINUTE: u32 = 5;
/// The largest console form body read.
pub(crate) const MAX_FORM_BYTES: usize = 16 * 1024;
/// The session cookie's name.
pub(crate) const COOKIE: &str = "openclaw_console";
/// The Content-Security-Policy of every console answer: no inline script or style.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
/// The keys of `gateway.console`.
const CONSOLE_KEYS: &[&str] = &["enabled", "basePath"];

/// `gateway.console`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsoleSettings {
    /// `gateway.console.enabled` (default false; true under `--dev`).
    pub(crate) enabled: bool,
    /// `gateway.console.basePath`: where the console lives, `/console` unless set.
    pub(crate) base_path: String,
}

impl ConsoleSettings {
    /// Reads `gateway.console` of `config`; `dev` turns it on unless set to false explicitly.
    pub(crate) fn from_config(config: &Value, dev: bool) -> anyhow::Result<Self> {
        let section = config.pointer("/gateway/console");
        let section = match section {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => bail!("gateway.console: expected an object such as {{ enabled: true }}"),
        };
        if let Some(key) =
            section.and_then(|s| s.keys().find(|k| !CONSOLE_KEYS.contains(&k.as_str())))
        {
            bail!("gateway.console.{key}: unknown key (known: enabled, basePath)");
        }
        let enabled = match section.and_then(|s| s.get("enabled")) {
            None | Some(Value::Null) => dev,
            Some(Value::Bool(b)) => *b,
            Some(_) => bail!("gateway.console.enabled: expected true or false"),
        };
        let base_path = match section.and_then(|s| s.get("basePath")) {
            None | Some(Value::Null) => DEFAULT_BASE_PATH.to_owned(),
            Some(Value::String(path)) => check_base_path(path)?,
            Some(_) => bail!("gateway.console.basePath: expected a path such as \"/console\""),
        };
        Ok(Self { enabled, base_path })
    }
}

/// A base path: starts with `/`, no trailing `/`, segments of `[A-Za-z0-9._-]`.
fn check_base_path(path: &str) -> anyhow::Result<String> {
    let trimmed = path.trim_end_matches('/');
    let ok = trimmed.starts_with('/')
        && trimmed.len() <= 200
        && trimmed[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    if !ok {
        bail!(
            "gateway.console.basePath: {path:?} is not a path prefix: write e.g. \"/console\" or \"/openclaw/console\" (letters, digits, '.', '_', '-' between slashes)"
        );
    }
    Ok(trimmed.to_owned())
}

/// The token the console needs: the configured one; under `--dev`, a generated one when none
/// is configured. An enabled console without a token is a start-up error outside `--dev`.
pub(crate) fn console_token(
    settings: &ConsoleSettings,
    configured: Option<AuthToken>,
    dev: bool,
) -> anyhow::Result<Option<AuthToken>> {
    if !settings.enabled {
        return Ok(configured);
    }
    match configured {
        Some(token) => Ok(Some(token)),
        None if dev => Ok(Some(AuthToken::generate())),
        None => bail!(
            "gateway.console.enabled is true but gateway.auth.token is not set: set it (e.g. openclaw config patch '{{gateway: {{auth: {{token: \"${{OPENCLAW_GATEWAY_TOKEN}}\"}}}}}}' with a value from `openssl rand -hex 32`), or disable the console"
        ),
    }
}

/// One logged-in browser.
#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    expires: Instant,
}

/// What a protected handler knows of its session.
#[derive(Debug, Clone)]
pub(crate) struct SessionView {
    /// The CSRF token its forms carry.
    pub(crate) csrf: String,
}

/// Sessions in memory, keyed by the SHA-256 of the cookie value (a lookup reveals nothing of
/// the value through timing).
#[derive(Debug, Default)]
struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    fn create(&self, now: Instant) -> (String, String) {
        let id = random_hex();
        let csrf = random_hex();
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            digest(&id),
            Session {
                csrf: csrf.clone(),
                expires: now + SESSION_TTL,
            },
        );
        (id, csrf)
    }

    fn get(&self, id: &str, now: Instant) -> Option<Session> {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = digest(id);
        match map.get(&key) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    fn remove(&self, id: &str) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(&digest(id));
    }
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Everything the console's handlers share.
#[derive(Clone)]
pub(crate) struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    token: AuthToken,
    channel: Arc<SmsChannel>,
    info: Arc<ServerInfo>,
    sessions: Sessions,
    failures: FixedWindowLimiter,
    proxies: TrustedProxies,
    /// The simulator's control URL under `--dev` (the phone page exists only then).
    sim_url: Option<String>,
    http: reqwest::Client,
    /// Where the pipeline saves inbound MMS attachments (`<state-dir>/media/inbound`).
    media_dir: Option<std::path::PathBuf>,
    /// The cap on live thread streams.
    streams: thread::StreamSlots,
}

/// Who sent a request, as the console sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client {
    /// The client address (through trusted proxies), if known.
    ip: Option<IpAddr>,
    /// Whether the request came over https (a trusted proxy said so).
    https: bool,
}

/// The console's options.
pub(crate) struct ConsoleOptions {
    /// Where it lives.
    pub(crate) settings: ConsoleSettings,
    /// The owner's token.
    pub(crate) token: AuthToken,
    /// Whose forwarding headers are believed.
    pub(crate) proxies: TrustedProxies,
    /// Where inbound MMS attachments are saved, if anywhere.
    pub(crate) media_dir: Option<std::path::PathBuf>,
}

/// The console's routes (all under the base path).
pub(crate) fn router(
    channel: &Arc<SmsChannel>,
    info: Arc<ServerInfo>,
    options: ConsoleOptions,
) -> Router {
    let sim_url = info.dev_sim_url.clone();
    let console = Console {
        inner: Arc::new(Inner {
            base: options.settings.base_path.clone(),
            token: options.token,
            channel: Arc::clone(channel),
            info,
            sessions: Sessions::default(),
            failures: FixedWindowLimiter::new(LOGIN_FAILURES_PER_MINUTE),
            proxies: options.proxies,
            sim_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap_or_default(),
            media_dir: options.media_dir,
            streams: thread::StreamSlots::new(thread::MAX_STREAMS),
        }),
    };
    let base = console.inner.base.clone();
    let at = |path: &str| format!("{base}{path}");
    let mut protected = Router::new()
        .route(&base, get(pages::overview))
        .route(&at("/"), get(pages::overview))
        .route(&at("/logout"), post(logout))
        .route(&at("/pairing"), get(pages::pairing))
        .route(&at("/pairing/approve"), post(pages::pairing_approve))
        .route(&at("/pairing/deny"), post(pages::pairing_deny))
        .route(&at("/pairing/revoke"), post(pages::pairing_revoke))
        .route(&at("/conversations"), get(pages::conversations))
        .route(&at("/thread"), get(thread::thread))
        .route(&at("/thread/events"), get(thread::thread_events))
        .route(&at("/media"), get(thread::media))
        .route(&at("/opt-outs"), get(pages::opt_outs))
        .route(&at("/export/account"), get(pages::export_account))
        .route(&at("/export"), get(pages::export))
        .route(&at("/dead-letters"), get(pages::dead_letters))
        .route(
            &at("/dead-letters/resubmit"),
            post(pages::dead_letter_resubmit),
        );
    if console.inner.sim_url.is_some() {
        protected = protected
            .route(&at("/phone"), get(pages::phone))
            .route(&at("/phone/text"), post(pages::phone_text));
    }
    let protected = protected.route_layer(middleware::from_fn_with_state(
        console.clone(),
        require_session,
    ));
    Router::new()
        .route(&at("/login"), get(pages::login_form).post(login))
        .route(&at("/static/console.js"), get(pages::script))
        .route(&at("/static/console.css"), get(pages::style))
        .merge(protected)
        .with_state(console.clone())
        .route_layer(middleware::from_fn_with_state(console, client_and_headers))
}

impl Console {
    pub(crate) fn base(&self) -> &str {
        &self.inner.base
    }

    pub(crate) fn channel(&self) -> &Arc<SmsChannel> {
        &self.inner.channel
    }

    pub(crate) fn info(&self) -> &ServerInfo {
        &self.inner.info
    }

    pub(crate) fn sim_url(&self) -> Option<&str> {
        self.inner.sim_url.as_deref()
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn media_dir(&self) -> Option<&std::path::Path> {
        self.inner.media_dir.as_deref()
    }

    pub(crate) fn streams(&self) -> &thread::StreamSlots {
        &self.inner.streams
    }

    /// Whether the session of this cookie value is still live (a stream ends with it).
    pub(crate) fn session_alive(&self, cookie: &str) -> bool {
        self.inner.sessions.get(cookie, Instant::now()).is_some()
    }

    fn client_of(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Client {
        let Some(peer) = peer else {
            return Client {
                ip: None,
                https: false,
            };
        };
        let trusted = self
            .inner
            .proxies
            .networks()
            .iter()
            .any(|net| net.contains(peer.to_canonical()));
        let https = trusted
            && headers
                .get_all("x-forwarded-proto")
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
        Client {
            ip: Some(self.inner.proxies.client(peer, headers)),
            https,
        }
    }
}

/// Adds the client to the request and the security headers to the answer.
async fn client_and_headers(
    State(console): State<Console>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = console.client_of(peer, req.headers());
    req.extensions_mut().insert(client);
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The session cookie's value in `headers`, if any.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// No session: a GET goes to the login form, anything else is refused.
fn no_session(console: &Console, method: &Method) -> Response {
    if method == Method::GET || method == Method::HEAD {
        Redirect::to(&format!("{}/login", console.base())).into_response()
    } else {
        (StatusCode::FORBIDDEN, "no console session: log in again").into_response()
    }
}

/// Lets a request through only with a live session; a POST also needs the session's CSRF
/// token in its form field `csrf`.
async fn require_session(State(console): State<Console>, req: Request, next: Next) -> Response {
    let now = Instant::now();
    let Some(session) =
        session_cookie(req.headers()).and_then(|id| console.inner.sessions.get(&id, now))
    else {
        return no_session(&console, req.method());
    };
    let view = SessionView {
        csrf: session.csrf.clone(),
    };
    if req.method() == Method::GET || req.method() == Method::HEAD {
        let mut req = req;
        req.extensions_mut().insert(view);
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
    };
    let presented = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !csrf_matches(&session.csrf, &presented) {
        return (
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token: reload the page",
        )
            .into_response();
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(view);
    next.run(req).await
}

/// Constant-time comparison of CSRF tokens (over digests: lengths do not leak).
fn csrf_matches(expected: &str, presented: &str) -> bool {
    bool::from(digest(expected).ct_eq(&digest(presented)))
}

/// The login form's fields.
#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST {base}/login`: the token for a session cookie; failures are counted per client.
async fn login(
    State(console): State<Console>,
    axum::Extension(client): axum::Extension<Client>,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let now = Instant::now();
    let key = client
        .ip
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    if console.inner.failures.is_over(&key, now) {
        return pages::login_page(
            &console,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed logins from this address: wait a minute."),
        );
    }
    if !crate::auth::check_token(&console.inner.token, form.token.trim()) {
        let hit = console.inner.failures.record(&key, now);
        if hit.first {
            tracing::warn!(client = %key, "console: failed login");
        }
        if hit.over {
            return pages::login_page(
                &console,
                StatusCode::TOO_MANY_REQUESTS,
                Some("Too many failed logins from this address: wait a minute."),
            );
        }
        return pages::login_page(&console, StatusCode::UNAUTHORIZED, Some("Wrong token."));
    }
    let (id, _csrf) = console.inner.sessions.create(now);
    let secure = if client.https { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={id}; Path={}; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        console.base(),
        SESSION_TTL.as_secs()
    );
    let mut response = Redirect::to(&format!("{}/", console.base())).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST {base}/logout`: forgets the session and clears the cookie.
async fn logout(State(console): State<Console>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        console.inner.sessions.remove(&id);
    }
    let cookie = format!(
        "{COOKIE}=; Path={}; HttpOnly; SameSite=Strict; Max-Age=0",
        console.base()
    );
    let mut response = Redirect::to(&format!("{}/login", console.base())).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn console_settings_defaults_dev_and_errors() {
        let read = |v: Value, dev| ConsoleSettings::from_config(&v, dev);
        assert_eq!(
            read(json!({}), false).unwrap(),
            ConsoleSettings {
                enabled: false,
                base_path: "/console".into()
            }
        );
        assert!(read(json!({}), true).unwrap().enabled);
        assert!(
            !read(json!({"gateway": {"console": {"enabled": false}}}), true)
                .unwrap()
                .enabled
        );
        assert_eq!(
            read(
                json!({"gateway": {"console": {"basePath": "/ops/console/"}}}),
                false
            )
            .unwrap()
            .base_path,
            "/ops/console"
        );
        for (config, error) in [
            (
                json!({"gateway": {"console": {"basePath": "console"}}}),
                "gateway.console.basePath: \"console\" is not a path prefix",
            ),
            (
                json!({"gateway": {"console": {"basePath": "/a/../b"}}}),
                "gateway.console.basePath: \"/a/../b\" is not a path prefix",
            ),
            (
                json!({"gateway": {"console": {"basePath": "/"}}}),
                "gateway.console.basePath: \"/\" is not a path prefix",
            ),
            (
                json!({"gateway": {"console": {"enabled": "yes"}}}),
                "gateway.console.enabled: expected true or false",
            ),
            (
                json!({"gateway": {"console": {"path": "/x"}}}),
                "gateway.console.path: unknown key",
            ),
        ] {
            let text = read(config, false).unwrap_err().to_string();
            assert!(text.starts_with(error), "{text}");
        }
    }

    #[test]
    fn an_enabled_console_needs_a_token_except_under_dev() {
        let on = ConsoleSettings {
            enabled: true,
            base_path: DEFAULT_BASE_PATH.into(),
        };
        let err = console_token(&on, None, false).unwrap_err().to_string();
        assert!(
            err.starts_with("gateway.console.enabled is true but gateway.auth.token is not set"),
            "{err}"
        );
        assert!(console_token(&on, None, true).unwrap().is_some());
        let off = ConsoleSettings {
            enabled: false,
            ..on
        };
        assert!(console_token(&off, None, false).unwrap().is_none());
    }

    #[test]
    fn sessions_expire_and_csrf_compares_exactly() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let (id, csrf) = sessions.create(now);
        assert_eq!(sessions.get(&id, now).unwrap().csrf, csrf);
        assert!(sessions.get("nope", now).is_none());
        assert!(sessions.get(&id, now + SESSION_TTL).is_none());
        assert!(csrf_matches(&csrf, &csrf));
        assert!(!csrf_matches(&csrf, ""));
        assert!(!csrf_matches(&csrf, &csrf[1..]));
    }
}
