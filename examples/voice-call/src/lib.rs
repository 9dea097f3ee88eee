//! A small Voice Call channel, built only on the public APIs of the OpenClaw channel crates.
//!
//! It proves that a second channel reuses what the SMS channel is made of without copying
//! anything SMS-specific:
//!
//! - `openclaw-channel`: the webhook guard ([`WebhookGuard::admit`]: method, per-client
//!   pre-auth slots, bounded body, Twilio signature, invalid-request limiter), the agent seam
//!   ([`Agent`], [`AgentTurn`] with `channel = "voice"`), the limiters and trusted proxies;
//! - `openclaw-twilio`: the voice webhook types ([`IncomingCall`],
//!   [`GatherResult`], [`CallStatusCallback`]), [`WebhookKind::of`] and the TwiML builder;
//! - `openclaw-sms-target`: [`CallerId`], the caller's opaque sender id;
//! - `openclaw-channel`'s pairing orchestration ([`Pairing::admit`]) over
//!   `openclaw-access-policy` and `openclaw-store`: the access decision and pairing.
//!
//! Three routes: [`INCOMING_PATH`] (Twilio's "A call comes in"), [`GATHER_PATH`] (the
//! `<Gather>` result, sent to the agent) and [`STATUS_PATH`] (call-status callbacks, counted
//! in memory and logged).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use openclaw_access_policy::{AllowRule, DmPolicy, PairingLimits};
use openclaw_channel::agent::{Agent, AgentTurn};
use openclaw_channel::guard::{Admitted, WebhookGuard};
use openclaw_channel::limits::{FixedWindowLimiter, InFlightLimiter};
use openclaw_channel::pairing::{Admission, NewRequest, NoEffects, Pairing};
use openclaw_channel::proxies::TrustedProxies;
use openclaw_sms_target::CallerId;
use openclaw_store::{PairingKey, PairingStore};
use openclaw_twilio::twiml::{self, Gather, GatherInput, Say};
use openclaw_twilio::voice::{CallStatusCallback, GatherResult, IncomingCall};
use openclaw_twilio::webhook::{TWIML_CONTENT_TYPE, WebhookKind};
use secrecy::SecretString;

/// The channel name in [`AgentTurn::channel`] and the pairing store's key.
pub const CHANNEL: &str = "voice";
/// Twilio's "A call comes in" webhook.
pub const INCOMING_PATH: &str = "/voice/incoming";
/// Where `<Gather>` posts its result.
pub const GATHER_PATH: &str = "/voice/gather";
/// The call-status callback.
pub const STATUS_PATH: &str = "/voice/status";
/// Longest reply spoken, in characters.
pub const MAX_SPOKEN_CHARS: usize = 600;
/// Largest webhook body read, in bytes.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// What the greeting says before the first `<Gather>`.
const GREETING: &str = "Hello. What can I do for you?";

/// The URLs Twilio signs, one per route (the public URL base followed by the route's path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrls {
    /// The URL configured as "A call comes in".
    pub incoming: String,
    /// The gather URL (the `<Gather action>` resolved against the incoming URL).
    pub gather: String,
    /// The URL configured as the status callback.
    pub status: String,
}

impl PublicUrls {
    /// The three URLs under `base` (`https://voice.example.com`, no trailing slash needed).
    #[must_use]
    pub fn under(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            incoming: format!("{base}{INCOMING_PATH}"),
            gather: format!("{base}{GATHER_PATH}"),
            status: format!("{base}{STATUS_PATH}"),
        }
    }
}

/// The channel's configuration.
#[derive(Debug)]
pub struct VoiceConfig {
    /// The account id (log lines, agent turns, the pairing store's key).
    pub account: String,
    /// The URLs Twilio signs.
    pub public_urls: PublicUrls,
    /// The Twilio Auth Token.
    pub auth_token: SecretString,
    /// Who may talk to the agent.
    pub policy: DmPolicy,
    /// The configured allow list (`+1555…`, `client:alice`, `*`).
    pub allow_from: Vec<AllowRule>,
    /// Pairing bounds (pending cap, TTL).
    pub pairing: PairingLimits,
}

impl VoiceConfig {
    /// A configuration with pairing, an empty allow list and the default limits.
    #[must_use]
    pub fn new(public_base: &str, auth_token: SecretString) -> Self {
        Self {
            account: "default".to_owned(),
            public_urls: PublicUrls::under(public_base),
            auth_token,
            policy: DmPolicy::Pairing,
            allow_from: Vec::new(),
            pairing: PairingLimits::default(),
        }
    }
}

/// The running channel: configuration, agent, store, limiters and the status counts.
pub struct VoiceChannel {
    config: VoiceConfig,
    agent: Arc<dyn Agent>,
    store: Arc<dyn PairingStore>,
    pre_auth: InFlightLimiter,
    invalid: FixedWindowLimiter,
    proxies: TrustedProxies,
    statuses: Mutex<BTreeMap<String, u64>>,
    rejections: Mutex<BTreeMap<&'static str, u64>>,
}

impl std::fmt::Debug for VoiceChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceChannel")
            .field("config", &self.config)
            .field("agent", &self.agent.name())
            .finish_non_exhaustive()
    }
}

impl VoiceChannel {
    /// A channel answering with `agent` and pairing through `store`.
    #[must_use]
    pub fn new(config: VoiceConfig, agent: Arc<dyn Agent>, store: Arc<dyn PairingStore>) -> Self {
        Self {
            config,
            agent,
            store,
            pre_auth: InFlightLimiter::new(8),
            invalid: FixedWindowLimiter::new(20),
            proxies: TrustedProxies::default(),
            statuses: Mutex::new(BTreeMap::new()),
            rejections: Mutex::new(BTreeMap::new()),
        }
    }

    /// How many status callbacks arrived per call status (`completed`, `busy`, …): this
    /// example records them in memory only (and in a log line each).
    #[must_use]
    pub fn status_counts(&self) -> BTreeMap<String, u64> {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many webhooks the guard refused, per [`Rejection::label`] (`forbidden`, …): in
    /// memory only, where a full channel would count them in its metrics.
    ///
    /// [`Rejection::label`]: openclaw_channel::guard::Rejection::label
    #[must_use]
    pub fn rejection_counts(&self) -> BTreeMap<&'static str, u64> {
        self.rejections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn pairing_key(&self) -> PairingKey {
        PairingKey::new(CHANNEL, &self.config.account)
    }

    async fn admit(&self, path: &str, url: &str, request: Request) -> Result<Admitted, Response> {
        let guard = WebhookGuard {
            name: "voice webhook",
            account: &self.config.account,
            path,
            public_url: Some(url),
            auth_token: &self.config.auth_token,
            signature_validation: true,
            max_body_bytes: MAX_BODY_BYTES,
            pre_auth: &self.pre_auth,
            invalid: &self.invalid,
            proxies: &self.proxies,
            counted_in: "VoiceChannel::rejection_counts",
        };
        guard.admit(request).await.map_err(|rejection| {
            *self
                .rejections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(rejection.label())
                .or_default() += 1;
            rejection.into_response()
        })
    }
}

/// The three voice routes over `channel`.
pub fn router(channel: Arc<VoiceChannel>) -> Router {
    Router::new()
        .route(INCOMING_PATH, any(incoming))
        .route(GATHER_PATH, any(gather))
        .route(STATUS_PATH, any(status))
        .with_state(channel)
}

/// A TwiML answer.
fn twiml(response: &twiml::Response) -> Response {
    let mut answer = response.to_xml().into_response();
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TWIML_CONTENT_TYPE),
    );
    answer
}

/// A 400 for a signed form that is not the webhook this route expects.
fn bad_form(reason: &str) -> Response {
    tracing::warn!(reason, "voice webhook refused: not the expected form");
    (StatusCode::BAD_REQUEST, "Invalid webhook form").into_response()
}

/// The `<Gather>` that listens for the caller's next sentence.
fn listen(prompt: Option<Say>) -> twiml::Response {
    let gather = Gather::new()
        .input(&[GatherInput::Speech])
        .action(GATHER_PATH)
        .speech_timeout_auto();
    let gather = match prompt {
        Some(say) => gather.say(say),
        None => gather,
    };
    twiml::Response::new().gather(gather)
}

async fn incoming(State(channel): State<Arc<VoiceChannel>>, request: Request) -> Response {
    let url = channel.config.public_urls.incoming.clone();
    let admitted = match channel.admit(INCOMING_PATH, &url, request).await {
        Ok(admitted) => admitted,
        Err(rejection) => return rejection,
    };
    if WebhookKind::of(&admitted.form) != WebhookKind::IncomingCall {
        return bad_form("not an incoming call");
    }
    let call = match IncomingCall::from_form(&admitted.form) {
        Ok(call) => call,
        Err(err) => return bad_form(&err.to_string()),
    };
    let sender = match CallerId::parse(&call.from).map(|id| id.sender_id()) {
        Ok(Some(sender)) => sender,
        Ok(None) => {
            return twiml(&say_and_hang_up(
                "Sorry, this line does not take calls from withheld numbers. Goodbye.".to_owned(),
            ));
        }
        Err(err) => return bad_form(&err.to_string()),
    };
    answer(access(&channel, &sender).await)
}

/// The TwiML (or error) for an incoming call's access outcome.
fn answer(access: Access) -> Response {
    match access {
        Access::Allowed => twiml(&listen(Some(Say::new(GREETING)))),
        Access::Challenged(code) => {
            let spelled = spell(&code);
            twiml(&say_and_hang_up(format!(
                "This line needs the owner's approval. Your pairing code is {spelled}. Again: {spelled}. Goodbye."
            )))
        }
        Access::AlreadyPending => twiml(&say_and_hang_up(
            "Your pairing request is waiting for the owner's approval. Goodbye.".to_owned(),
        )),
        Access::Dropped(reason) => {
            tracing::info!(reason, "voice call dropped by the access policy");
            twiml(&twiml::Response::new().hangup())
        }
        Access::StoreFailed => {
            (StatusCode::SERVICE_UNAVAILABLE, "Store unavailable").into_response()
        }
    }
}

/// `<Say>text</Say><Hangup/>`.
fn say_and_hang_up(text: String) -> twiml::Response {
    twiml::Response::new().say(Say::new(text)).hangup()
}

async fn gather(State(channel): State<Arc<VoiceChannel>>, request: Request) -> Response {
    let url = channel.config.public_urls.gather.clone();
    let admitted = match channel.admit(GATHER_PATH, &url, request).await {
        Ok(admitted) => admitted,
        Err(rejection) => return rejection,
    };
    let result = match GatherResult::from_form(&admitted.form) {
        Ok(result) => result,
        Err(err) => return bad_form(&err.to_string()),
    };
    let Some(sender) = result
        .from
        .as_deref()
        .and_then(|from| CallerId::parse(from).ok())
        .and_then(|id| id.sender_id())
    else {
        return bad_form("a gather result without a caller id");
    };
    // The caller was admitted by the incoming-call route; a forged gather cannot get here
    // (it is signed), but a caller revoked mid-call is checked again (nothing is stored).
    if !is_allowed(&channel, &sender).await {
        return twiml(&twiml::Response::new().hangup());
    }
    let heard = result
        .speech_result
        .clone()
        .or_else(|| result.digits.clone())
        .unwrap_or_default();
    if heard.trim().is_empty() {
        return twiml(&listen(Some(Say::new("Sorry, I did not catch that."))));
    }
    let turn = AgentTurn {
        channel: CHANNEL.to_owned(),
        account_id: channel.config.account.clone(),
        sender,
        message_id: result.call_sid.to_string(),
        text: heard,
        media: Vec::new(),
        history: Vec::new(),
        received_at_ms: now_ms(),
    };
    let spoken = match channel.agent.reply(&turn).await {
        Ok(reply) => speakable(&reply.text),
        Err(err) => {
            tracing::warn!(agent = channel.agent.name(), %err, "voice agent failed");
            "Sorry, something went wrong. Please try again.".to_owned()
        }
    };
    // The reply is spoken inside the next `<Gather>`, so that the caller may answer (and
    // interrupt it) at once.
    let prompt = (!spoken.is_empty()).then(|| Say::new(spoken));
    let response = listen(prompt);
    twiml(&response)
}

async fn status(State(channel): State<Arc<VoiceChannel>>, request: Request) -> Response {
    let url = channel.config.public_urls.status.clone();
    let admitted = match channel.admit(STATUS_PATH, &url, request).await {
        Ok(admitted) => admitted,
        Err(rejection) => return rejection,
    };
    let callback = match CallStatusCallback::from_form(&admitted.form) {
        Ok(callback) => callback,
        Err(err) => return bad_form(&err.to_string()),
    };
    let state = callback.call_status.as_str().to_owned();
    tracing::info!(
        call_sid = %callback.call_sid,
        status = state.as_str(),
        duration = callback.call_duration,
        "voice call status"
    );
    *channel
        .statuses
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(state)
        .or_default() += 1;
    twiml(&twiml::Response::new())
}

/// What the access policy said about a caller, after the store was updated.
enum Access {
    Allowed,
    Challenged(String),
    AlreadyPending,
    Dropped(&'static str),
    StoreFailed,
}

impl VoiceChannel {
    /// The account's pairing, over the channel core's orchestration.
    fn pairing<'a>(&'a self, key: &'a PairingKey) -> Pairing<'a> {
        Pairing {
            store: &*self.store,
            key,
            policy: self.config.policy,
            config_allow: &self.config.allow_from,
            limits: self.config.pairing,
        }
    }
}

/// Whether `sender` is served now (the gather route asks again, without side effects, so
/// that a caller revoked mid-call is hung up).
async fn is_allowed(channel: &VoiceChannel, sender: &str) -> bool {
    let key = channel.pairing_key();
    match channel.pairing(&key).decision(sender, now_ms()).await {
        Ok(decision) => decision.is_allow(),
        Err(err) => {
            tracing::warn!(%err, "voice pairing store read failed");
            false
        }
    }
}

/// The access decision for an incoming call, with a new pairing request stored (or a live
/// one refreshed) by the channel core's pairing orchestration, the same one the SMS channel
/// runs; the code is spoken by the caller of this function.
async fn access(channel: &VoiceChannel, sender: &str) -> Access {
    let key = channel.pairing_key();
    let new = NewRequest {
        meta: serde_json::json!({ "accountId": channel.config.account, "channel": CHANNEL }),
        held_event_id: None,
    };
    let admission = channel
        .pairing(&key)
        .admit(sender, now_ms(), new, &NoEffects)
        .await;
    match admission {
        Ok(Admission::Allowed) => Access::Allowed,
        Ok(Admission::Dropped(reason)) => Access::Dropped(reason.as_str()),
        Ok(Admission::Challenged(request)) => Access::Challenged(request.code),
        Ok(Admission::AlreadyPending) => Access::AlreadyPending,
        Ok(_) => Access::Dropped("unknown_decision"),
        Err(err) => {
            tracing::warn!(%err, "voice pairing failed");
            Access::StoreFailed
        }
    }
}

/// A code spelled out so that text-to-speech reads it one character at a time: `A, B, 3, …`.
#[must_use]
pub fn spell(code: &str) -> String {
    code.chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An agent reply made speakable: markdown markers dropped crudely, whitespace collapsed, and
/// cut to [`MAX_SPOKEN_CHARS`] characters (on a character boundary).
#[must_use]
pub fn speakable(reply: &str) -> String {
    let plain: String = reply
        .chars()
        .filter(|c| !matches!(c, '*' | '_' | '`' | '#'))
        .collect();
    let collapsed = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(MAX_SPOKEN_CHARS).collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
