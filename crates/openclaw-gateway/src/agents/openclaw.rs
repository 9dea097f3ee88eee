//! The OpenClaw bridge: answers SMS with an agent of a running OpenClaw gateway, through its
//! OpenAI-compatible `POST /v1/chat/completions` endpoint.
//!
//! OpenClaw owns the conversation: each turn sends only the new text (and images), routed
//! into one upstream session per texter with `x-openclaw-session-key`, built exactly as
//! OpenClaw builds its own direct-message keys for channel `sms` (so a user moving from the
//! upstream SMS plugin keeps the same session). No history and no system prompt of ours go
//! upstream; our stored history stays for the other backends and our own records.
//!
//! Upstream facts this relies on (openclaw/openclaw, checked against `openclaw@2026.9.6`):
//! - `src/routing/session-key.ts` (`buildAgentPeerSessionKey`): DM keys by `session.dmScope`;
//!   the peer id is trimmed and lower-cased, the agent id and account id are normalised to
//!   `[a-z0-9][a-z0-9_-]{0,63}` (invalid runs become `-`), and `src/routing/account-id.ts`
//!   maps a blank or prototype-like account id to `default`.
//! - `docs/gateway/openai-http-api.md`: `model: "openclaw/<agentId>"` selects the agent;
//!   `x-openclaw-session-key` routes the session; `x-openclaw-message-channel` sets the
//!   channel context; `GET /v1/models` lists `openclaw/<agentId>`; the endpoint is disabled
//!   unless `gateway.http.endpoints.chatCompletions.enabled` is true; `401` on a bad token.
//! - `src/gateway/openai-http.ts`: only the latest user message's `image_url` parts are used,
//!   `data:` URLs must be base64.

use std::time::Duration;

use async_trait::async_trait;
use openclaw_sms::{Agent, AgentError, AgentReply, AgentTurn};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use super::content::user_content;
use super::openai::read_limited;

/// Default time one OpenClaw turn may take: a full agent run (tools, a large system prompt)
/// takes seconds to minutes.
pub(crate) const DEFAULT_OPENCLAW_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long connecting to the OpenClaw gateway may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts to connect before the turn is handed back to the pipeline's retry.
const CONNECT_ATTEMPTS: u32 = 3;
/// First wait between connection attempts; doubled per attempt.
const CONNECT_BACKOFF: Duration = Duration::from_millis(500);

/// How texters map to upstream sessions: OpenClaw's `session.dmScope` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionScope {
    /// One session for everyone: every texter shares one context.
    Main,
    /// One session per texter across channels.
    PerPeer,
    /// One session per texter on SMS (the default).
    PerChannelPeer,
    /// One session per texter per SMS account.
    PerAccountChannelPeer,
}

impl SessionScope {
    /// Every value, as written in the config.
    pub(crate) const NAMES: &'static str =
        "\"main\", \"per-peer\", \"per-channel-peer\", \"per-account-channel-peer\"";

    /// Parses a config value.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "main" => Some(Self::Main),
            "per-peer" => Some(Self::PerPeer),
            "per-channel-peer" => Some(Self::PerChannelPeer),
            "per-account-channel-peer" => Some(Self::PerAccountChannelPeer),
            _ => None,
        }
    }

    /// The config value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::PerPeer => "per-peer",
            Self::PerChannelPeer => "per-channel-peer",
            Self::PerAccountChannelPeer => "per-account-channel-peer",
        }
    }
}

/// OpenClaw's session key for a direct message from `peer` (an E.164 number for SMS) on
/// `channel` (the turn's: `sms` for SMS, as OpenClaw's own SMS channel names it) and account
/// `account_id`, for `agent_id`, under `scope`.
pub(crate) fn session_key(
    scope: SessionScope,
    agent_id: &str,
    channel: &str,
    account_id: &str,
    peer: &str,
) -> String {
    let agent = normalize_id(agent_id).unwrap_or_else(|| "main".to_owned());
    let peer = peer.trim().to_lowercase();
    if peer.is_empty() {
        return format!("agent:{agent}:main");
    }
    match scope {
        SessionScope::Main => format!("agent:{agent}:main"),
        SessionScope::PerPeer => format!("agent:{agent}:direct:{peer}"),
        SessionScope::PerChannelPeer => format!("agent:{agent}:{channel}:direct:{peer}"),
        SessionScope::PerAccountChannelPeer => {
            let account = normalize_account_id(account_id);
            format!("agent:{agent}:{channel}:{account}:direct:{peer}")
        }
    }
}

/// OpenClaw's id normalisation: lower-case; an id that is not `[a-z0-9][a-z0-9_-]{0,63}`
/// has each run of other characters replaced by `-`, leading and trailing dashes removed,
/// and is cut to 64 characters. `None` when nothing is left.
fn normalize_id(value: &str) -> Option<String> {
    let trimmed = value.trim().to_lowercase();
    let mut out = String::with_capacity(trimmed.len());
    let mut in_run = false;
    for c in trimmed.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    let out: String = out.trim_matches('-').chars().take(64).collect();
    (!out.is_empty()).then_some(out)
}

/// OpenClaw's account id normalisation: [`normalize_id`], with `default` for a blank id or
/// one that names an object prototype key.
fn normalize_account_id(value: &str) -> String {
    match normalize_id(value) {
        Some(id) if !matches!(id.as_str(), "__proto__" | "constructor" | "prototype") => id,
        _ => "default".to_owned(),
    }
}

/// Settings of an [`OpenClawAgent`].
#[derive(Debug)]
pub(crate) struct OpenClawOptions {
    /// The config path of the provider (`models.providers.openclaw`), for error messages.
    pub(crate) config_path: String,
    /// The OpenClaw gateway, with or without a trailing `/v1`.
    pub(crate) base_url: String,
    /// The OpenClaw agent id (`main`).
    pub(crate) agent_id: String,
    /// The gateway token or password (`gateway.auth.token` upstream).
    pub(crate) api_key: Option<SecretString>,
    /// How texters map to upstream sessions.
    pub(crate) scope: SessionScope,
    /// Time allowed for one turn.
    pub(crate) timeout: Duration,
    /// Whether inbound images are sent as image parts.
    pub(crate) image_input: bool,
    /// Largest total of image bytes per turn.
    pub(crate) media_budget: u64,
}

/// Talks to `POST {gateway}/v1/chat/completions`.
#[derive(Debug)]
pub(crate) struct OpenClawAgent {
    options: OpenClawOptions,
    base: String,
    name: String,
    http: reqwest::Client,
}

/// The gateway's base URL without a trailing `/` or `/v1`, or why it is not usable.
pub(crate) fn gateway_base(base_url: &str) -> Result<String, &'static str> {
    let base = base_url.trim().trim_end_matches('/');
    let base = base
        .strip_suffix("/v1")
        .unwrap_or(base)
        .trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err("must start with http:// or https://");
    }
    Ok(base.to_owned())
}

impl OpenClawAgent {
    pub(crate) fn new(options: OpenClawOptions) -> anyhow::Result<Self> {
        let base = gateway_base(&options.base_url)
            .map_err(|why| anyhow::anyhow!("{}.baseUrl {why}", options.config_path))?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(options.timeout)
            .build()?;
        let name = format!("openclaw:{}", options.agent_id);
        Ok(Self {
            options,
            base,
            name,
            http,
        })
    }

    fn endpoint(&self) -> String {
        format!("{}/v1/chat/completions", self.base)
    }

    /// The request body: the new message only. OpenClaw keeps the session's history and
    /// builds its own system prompt, so neither is sent.
    fn request_body(&self, turn: &AgentTurn) -> Value {
        let content = user_content(turn, self.options.image_input, self.options.media_budget);
        json!({
            "model": format!("openclaw/{}", self.options.agent_id),
            "stream": false,
            "messages": [{"role": "user", "content": content}],
        })
    }

    fn session_key(&self, turn: &AgentTurn) -> String {
        session_key(
            self.options.scope,
            &self.options.agent_id,
            &turn.channel,
            &turn.account_id,
            &turn.sender,
        )
    }

    async fn attempt(&self, body: &Value, session: &str, channel: &str) -> Result<String, Failure> {
        let mut request = self
            .http
            .post(self.endpoint())
            .header("x-openclaw-session-key", session)
            .header("x-openclaw-agent-id", &self.options.agent_id)
            .header("x-openclaw-message-channel", channel)
            .json(body);
        if let Some(key) = &self.options.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request.send().await.map_err(|err| self.send_error(err))?;
        let status = response.status().as_u16();
        let bytes = read_limited(response).await.map_err(|message| {
            // The turn ran upstream; only its answer was lost on the way.
            Failure::Ambiguous(format!("OpenClaw gateway: {message}"))
        })?;
        if !(200..300).contains(&status) {
            return Err(self.status_error(status, &bytes));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| {
            Failure::Ambiguous("the OpenClaw gateway returned malformed JSON".to_owned())
        })?;
        match value.pointer("/choices/0/message/content") {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Array(parts)) => Ok(parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("")),
            _ => Err(Failure::Ambiguous(
                "the OpenClaw gateway's answer has no choices[0].message.content".to_owned(),
            )),
        }
    }

    fn send_error(&self, err: reqwest::Error) -> Failure {
        if err.is_connect() {
            // Nothing reached OpenClaw: trying again cannot run the turn twice.
            return Failure::NotSent(format!(
                "cannot connect to the OpenClaw gateway at {}: is it running (`openclaw gateway run --port …`) and is {}.baseUrl right?",
                self.base, self.options.config_path
            ));
        }
        if err.is_timeout() {
            // The request was sent and OpenClaw may still be running the turn (tools, messages,
            // memory writes). Retrying would run it a second time, so it is not retried: the
            // message is dead-lettered, to be resubmitted by hand once the cause is clear.
            return Failure::Ambiguous(format!(
                "the OpenClaw gateway did not answer within {} s; the turn may still be running there, so it is not retried (raise {}.timeoutMs if turns take longer)",
                self.options.timeout.as_secs(),
                self.options.config_path
            ));
        }
        // Any other failure after connecting: whether OpenClaw started the turn is unknown.
        Failure::Ambiguous(format!(
            "the request to the OpenClaw gateway failed: {}",
            err.without_url()
        ))
    }

    fn status_error(&self, status: u16, body: &[u8]) -> Failure {
        let path = &self.options.config_path;
        let detail = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(|m| m.chars().take(200).collect::<String>())
            })
            .unwrap_or_default();
        match status {
            // Refused before any agent work: a retry (after the fix) runs the turn once.
            401 | 403 => Failure::Refused(format!(
                "the OpenClaw gateway refused the token ({status} {detail}): set {path}.apiKey (e.g. the OPENCLAW_GATEWAY_TOKEN environment variable) to the OpenClaw gateway's gateway.auth.token (or password)"
            )),
            404 | 405 => Failure::Refused(format!(
                "the OpenClaw gateway at {} does not serve /v1/chat/completions ({status}): enable gateway.http.endpoints.chatCompletions in the OpenClaw config (gateway: {{ http: {{ endpoints: {{ chatCompletions: {{ enabled: true }} }} }} }}) and restart it",
                self.base
            )),
            429 | 503 => Failure::Refused(format!(
                "the OpenClaw gateway is busy ({status} {detail}); the message will be retried"
            )),
            400 => Failure::Permanent(format!(
                "the OpenClaw gateway rejected the request (400 {detail})"
            )),
            _ => Failure::Ambiguous(format!(
                "the OpenClaw gateway failed the turn ({status} {detail}); it is not retried because the turn may have run"
            )),
        }
    }
}

/// How one request failed, by what a retry would do.
#[derive(Debug)]
enum Failure {
    /// The request never reached OpenClaw: retry here, then in the pipeline.
    NotSent(String),
    /// OpenClaw refused the request before running the turn: the pipeline retries it later.
    Refused(String),
    /// The request is wrong and stays wrong: dead-letter.
    Permanent(String),
    /// The turn may have run upstream: dead-letter rather than run it twice.
    Ambiguous(String),
}

#[async_trait]
impl Agent for OpenClawAgent {
    fn name(&self) -> &str {
        &self.name
    }

    async fn reply(&self, turn: &AgentTurn) -> Result<AgentReply, AgentError> {
        let body = self.request_body(turn);
        let session = self.session_key(turn);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(&body, &session, &turn.channel).await {
                Ok(text) => return Ok(AgentReply { text }),
                Err(Failure::NotSent(message)) if attempt < CONNECT_ATTEMPTS => {
                    tracing::warn!(agent = %self.name, attempt, "{message}");
                    tokio::time::sleep(CONNECT_BACKOFF * 2u32.saturating_pow(attempt - 1)).await;
                }
                Err(Failure::NotSent(message) | Failure::Refused(message)) => {
                    return Err(AgentError::new(message, true));
                }
                Err(Failure::Permanent(message) | Failure::Ambiguous(message)) => {
                    return Err(AgentError::new(message, false));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use openclaw_sms::{HistoryRole, HistoryTurn, MediaAttachment};

    use super::*;

    #[test]
    fn session_keys_match_openclaw_for_every_scope() {
        let check = |scope: &str, agent: &str, account: &str, peer: &str, expected: &str| {
            let scope = SessionScope::parse(scope).unwrap();
            assert_eq!(session_key(scope, agent, "sms", account, peer), expected);
        };
        // The channel comes from the turn: a voice call keeps its own session.
        assert_eq!(
            session_key(
                SessionScope::PerChannelPeer,
                "main",
                "voice",
                "default",
                "client:Alice"
            ),
            "agent:main:voice:direct:client:alice"
        );
        check("main", "main", "default", "+15557654321", "agent:main:main");
        check(
            "per-peer",
            "main",
            "default",
            "+15557654321",
            "agent:main:direct:+15557654321",
        );
        check(
            "per-channel-peer",
            "main",
            "default",
            "+15557654321",
            "agent:main:sms:direct:+15557654321",
        );
        check(
            "per-account-channel-peer",
            "main",
            "default",
            "+15557654321",
            "agent:main:sms:default:direct:+15557654321",
        );
        check(
            "per-account-channel-peer",
            "Ops Bot",
            "US East",
            "+15557654321",
            "agent:ops-bot:sms:us-east:direct:+15557654321",
        );
        check(
            "per-account-channel-peer",
            "main",
            "__proto__",
            "+1555",
            "agent:main:sms:default:direct:+1555",
        );
        check(
            "per-channel-peer",
            "",
            "default",
            " +1555 ",
            "agent:main:sms:direct:+1555",
        );
        check("per-channel-peer", "main", "default", "", "agent:main:main");
        assert_eq!(SessionScope::parse("per-channel"), None);
        for scope in [
            "main",
            "per-peer",
            "per-channel-peer",
            "per-account-channel-peer",
        ] {
            assert_eq!(
                SessionScope::parse(scope).map(SessionScope::as_str),
                Some(scope)
            );
        }
    }

    #[test]
    fn base_url_with_or_without_v1() {
        for url in [
            "http://127.0.0.1:18789",
            "http://127.0.0.1:18789/",
            "http://127.0.0.1:18789/v1",
            "http://127.0.0.1:18789/v1/",
        ] {
            assert_eq!(gateway_base(url).unwrap(), "http://127.0.0.1:18789");
        }
        assert!(gateway_base("127.0.0.1:18789").is_err());
    }

    fn agent(url: &str, timeout: Duration, image_input: bool) -> OpenClawAgent {
        OpenClawAgent::new(OpenClawOptions {
            config_path: "models.providers.openclaw".into(),
            base_url: url.into(),
            agent_id: "main".into(),
            api_key: Some(SecretString::from("gw-secret-token")),
            scope: SessionScope::PerChannelPeer,
            timeout,
            image_input,
            media_budget: 1024,
        })
        .unwrap()
    }

    fn turn(text: &str) -> AgentTurn {
        AgentTurn {
            channel: "sms".into(),
            account_id: "default".into(),
            sender: "+15557654321".into(),
            message_id: "SM1".into(),
            text: text.into(),
            media: vec![],
            history: vec![HistoryTurn {
                role: HistoryRole::User,
                text: "an earlier line".into(),
            }],
            received_at_ms: 0,
        }
    }

    const ANSWER: &str = r#"{"choices":[{"message":{"role":"assistant","content":"SMS pong"}}]}"#;

    #[tokio::test]
    async fn sends_only_the_new_message_with_the_session_key() {
        let mut server = mockito::Server::new_async().await;
        let expected = json!({"model": "openclaw/main", "stream": false,
            "messages": [{"role": "user", "content": "reply exactly SMS pong"}]});
        let mock = server
            .mock("POST", "/v1/chat/completions")
            .match_header("authorization", "Bearer gw-secret-token")
            .match_header(
                "x-openclaw-session-key",
                "agent:main:sms:direct:+15557654321",
            )
            .match_header("x-openclaw-message-channel", "sms")
            .match_body(mockito::Matcher::Json(expected))
            .with_body(ANSWER)
            .create_async()
            .await;
        let reply = agent(
            &format!("{}/v1", server.url()),
            Duration::from_secs(5),
            false,
        )
        .reply(&turn("reply exactly SMS pong"))
        .await
        .unwrap();
        assert_eq!(reply.text, "SMS pong");
        mock.assert_async().await;
    }

    #[tokio::test]
    async fn images_go_as_parts_only_when_the_model_declares_them() {
        let dir = std::env::temp_dir().join(format!("openclaw-bridge-img-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.png");
        std::fs::write(&path, b"\x89PNG").unwrap();
        let mut with_image = turn("what is this");
        with_image.media = vec![MediaAttachment {
            content_type: "image/png".into(),
            path,
        }];
        let mut server = mockito::Server::new_async().await;
        let parts = json!({"model": "openclaw/main", "stream": false, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
        ]}]});
        let text_only = json!({"model": "openclaw/main", "stream": false, "messages": [{"role": "user",
            "content": "what is this\n[attachment: image/png, not shown to the model]"}]});
        let m1 = server
            .mock("POST", "/v1/chat/completions")
            .match_body(mockito::Matcher::Json(parts))
            .with_body(ANSWER)
            .create_async()
            .await;
        let m2 = server
            .mock("POST", "/v1/chat/completions")
            .match_body(mockito::Matcher::Json(text_only))
            .with_body(ANSWER)
            .create_async()
            .await;
        agent(&server.url(), Duration::from_secs(5), true)
            .reply(&with_image)
            .await
            .unwrap();
        agent(&server.url(), Duration::from_secs(5), false)
            .reply(&with_image)
            .await
            .unwrap();
        m1.assert_async().await;
        m2.assert_async().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    async fn error_for(status: usize, body: &str) -> AgentError {
        let mut server = mockito::Server::new_async().await;
        let mock = server
            .mock("POST", "/v1/chat/completions")
            .with_status(status)
            .with_body(body)
            .expect(1)
            .create_async()
            .await;
        let err = agent(&server.url(), Duration::from_secs(5), false)
            .reply(&turn("x"))
            .await
            .unwrap_err();
        mock.assert_async().await;
        err
    }

    #[tokio::test]
    async fn status_errors_name_the_fix_and_say_whether_a_retry_is_safe() {
        let unauthorized = r#"{"error":{"message":"Unauthorized","type":"unauthorized"}}"#;
        // (status, body, retryable, the words the message must contain)
        let cases: &[(usize, &str, bool, &[&str])] = &[
            (
                401,
                unauthorized,
                true,
                &[
                    "models.providers.openclaw.apiKey",
                    "OPENCLAW_GATEWAY_TOKEN",
                    "gateway.auth.token",
                ],
            ),
            (403, "", true, &["gateway.auth.token"]),
            (
                404,
                "Not Found",
                true,
                &["enable gateway.http.endpoints.chatCompletions"],
            ),
            (
                405,
                "",
                true,
                &["enable gateway.http.endpoints.chatCompletions"],
            ),
            (429, "", true, &["busy"]),
            (
                400,
                r#"{"error":{"message":"Missing user message"}}"#,
                false,
                &["Missing user message"],
            ),
            (
                500,
                r#"{"error":{"message":"internal error"}}"#,
                false,
                &["may have run"],
            ),
        ];
        for (status, body, retryable, words) in cases {
            let err = error_for(*status, body).await;
            let text = err.to_string();
            assert_eq!(err.is_retryable(), *retryable, "{status}: {text}");
            for word in *words {
                assert!(text.contains(word), "{status}: {text:?} lacks {word:?}");
            }
            assert!(!text.contains("gw-secret-token"), "{text}");
        }
    }

    #[tokio::test]
    async fn connection_refused_is_retried_and_stays_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let err = agent(&url, Duration::from_secs(5), false)
            .reply(&turn("x"))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("is it running"), "{err}");
    }

    #[tokio::test]
    async fn a_timeout_after_sending_is_not_retried() {
        // A server that accepts and reads the request but never answers: counts connections.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(stream);
            }
        });
        let err = agent(&url, Duration::from_millis(300), false)
            .reply(&turn("x"))
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(err.to_string().contains("not retried"), "{err}");
        assert!(err.to_string().contains("timeoutMs"), "{err}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
