//! Building blocks: a channel over an in-memory or file store, a recording agent, a local
//! webhook server, a simulator whose numbers post to it, and polling helpers.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use openclaw_sms::config::{SmsChannelInput, resolve_accounts};
use openclaw_sms::metrics::Metrics;
use openclaw_sms::{
    AccountOptions, AccountRuntime, Agent, AgentError, AgentReply, AgentTurn, ChannelOptions,
    Clock, ResolvedAccount, SmsChannel,
};
use openclaw_store::{IngressQueue as _, SqliteStore, Store, StoreOptions};
use openclaw_twilio_sim::{SimAccount, SimConfig, SimHandle, SimNumber, Simulator};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The Twilio account of every test.
pub(crate) const AC: &str = "AC0123456789abcdef0123456789abcdef";
/// A second Twilio account (same Auth Token, so its webhooks verify).
pub(crate) const AC_OTHER: &str = "ACfedcba9876543210fedcba9876543210";
/// The Auth Token.
pub(crate) const TOKEN: &str = "test-auth-token";
/// The account's configured number.
pub(crate) const OUR: &str = "+15550001111";
/// Another number of the same Twilio account, not the configured one.
pub(crate) const NOT_OURS: &str = "+15550002222";
/// A number of the other Twilio account.
pub(crate) const OTHER_ACCOUNT_NUMBER: &str = "+15550003333";
/// Phones that text the channel.
pub(crate) const ALICE: &str = "+15557654321";
/// A second phone.
pub(crate) const BOB: &str = "+15557654322";
/// The account id.
pub(crate) const ACCOUNT: &str = "default";
/// How long any awaited condition may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// An agent that records its turns and answers `pong: <text>`, or with a fixed text.
#[derive(Default)]
pub(crate) struct TestAgent {
    turns: Mutex<Vec<AgentTurn>>,
    fixed: Mutex<Option<String>>,
    delay: Mutex<Duration>,
    failures: Mutex<u32>,
}

impl TestAgent {
    /// Answers every turn with `text` from now on.
    pub(crate) fn answer_with(&self, text: &str) {
        *self.fixed.lock().unwrap() = Some(text.to_owned());
    }

    /// Takes `delay` for every turn from now on.
    pub(crate) fn answer_after(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    /// Fails the next `count` turns (retryable), after the delay.
    pub(crate) fn fail_next(&self, count: u32) {
        *self.failures.lock().unwrap() = count;
    }

    /// Every turn so far.
    pub(crate) fn turns(&self) -> Vec<AgentTurn> {
        self.turns.lock().unwrap().clone()
    }
}

#[async_trait]
impl Agent for TestAgent {
    fn name(&self) -> &str {
        "test"
    }

    async fn reply(&self, turn: &AgentTurn) -> Result<AgentReply, AgentError> {
        self.turns.lock().unwrap().push(turn.clone());
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(AgentError::new("the test agent failed", true));
            }
        }
        let text = self
            .fixed
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| format!("pong: {}", turn.text));
        Ok(AgentReply { text })
    }
}

/// `channels.sms` for one account, with `overrides` merged over the defaults.
pub(crate) fn sms_config(api_base: &str, public_url: &str, overrides: &Value) -> Value {
    let mut config = json!({
        "accountSid": AC,
        "authToken": TOKEN,
        "fromNumber": OUR,
        "publicWebhookUrl": public_url,
        "apiBaseUrl": api_base,
        "dmPolicy": "open",
        "allowFrom": ["*"],
        "sendRatePerSecond": 1000.0,
    });
    if let (Some(base), Some(extra)) = (config.as_object_mut(), overrides.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    config
}

/// The account runtime of `config`.
pub(crate) fn account(config: &Value, options: AccountOptions) -> AccountRuntime {
    let input = SmsChannelInput::from_value(config, "channels.sms").unwrap();
    let mut accounts = resolve_accounts(&input, &|_| None, "channels.sms").unwrap();
    let settings = accounts.accounts.remove(0);
    AccountRuntime::new(
        ResolvedAccount {
            settings,
            auth_token: SecretString::from(TOKEN),
            api_key_secret: None,
        },
        options,
    )
    .unwrap()
}

/// Channel options for tests: a short poll and fast retries.
pub(crate) fn channel_options() -> ChannelOptions {
    ChannelOptions {
        poll_interval: Duration::from_millis(20),
        ..ChannelOptions::default()
    }
}

/// A channel over `store` with one account.
pub(crate) fn channel(
    config: &Value,
    store: Arc<dyn Store>,
    agent: Arc<TestAgent>,
    account_options: AccountOptions,
    options: ChannelOptions,
) -> Arc<SmsChannel> {
    Arc::new(SmsChannel::new(
        vec![account(config, account_options)],
        store,
        agent,
        Arc::new(Metrics::new()),
        Clock::system(),
        options,
    ))
}

/// An in-memory store.
pub(crate) fn memory_store() -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open_in_memory().unwrap())
}

/// A store in a file (for restart tests).
pub(crate) async fn file_store(path: &Path) -> Arc<SqliteStore> {
    Arc::new(
        SqliteStore::open(path, &StoreOptions::default())
            .await
            .unwrap(),
    )
}

/// A listener on 127.0.0.1 and the webhook URL it will serve.
pub(crate) async fn webhook_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/sms", listener.local_addr().unwrap());
    (listener, url)
}

/// A simulator with our account (numbers `OUR` and `NOT_OURS` post to `webhook`) and another
/// account with the same Auth Token whose number also posts to `webhook`.
pub(crate) async fn simulator(webhook: &str) -> SimHandle {
    let ours = SimAccount::new(AC, TOKEN)
        .with_number(SimNumber::new(OUR).with_sms_url(webhook))
        .with_number(SimNumber::new(NOT_OURS).with_sms_url(webhook));
    let other = SimAccount::new(AC_OTHER, TOKEN)
        .with_number(SimNumber::new(OTHER_ACCOUNT_NUMBER).with_sms_url(webhook));
    Simulator::start(
        SimConfig::new()
            .with_account(ours)
            .with_account(other)
            .with_seed(7),
    )
    .await
    .unwrap()
}

/// A running channel: webhook server and (optionally) the pump.
pub(crate) struct Gateway {
    /// The channel.
    pub(crate) channel: Arc<SmsChannel>,
    /// The store (the same one the channel holds).
    pub(crate) store: Arc<SqliteStore>,
    /// The agent.
    pub(crate) agent: Arc<TestAgent>,
    stop: CancellationToken,
    pump: Option<JoinHandle<()>>,
    server: JoinHandle<()>,
}

/// How to start a [`Gateway`].
pub(crate) struct GatewayOptions {
    /// Whether the pump runs.
    pub(crate) pump: bool,
    /// Twilio client options.
    pub(crate) account: AccountOptions,
    /// `ChannelOptions::slow_reply_notice_after`.
    pub(crate) slow_reply_notice_after: Option<Duration>,
    /// The channel's clock (the system's by default).
    pub(crate) clock: Clock,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            pump: true,
            account: AccountOptions::default(),
            slow_reply_notice_after: None,
            clock: Clock::system(),
        }
    }
}

impl Gateway {
    /// Serves `config`'s account on `listener` over `store`.
    pub(crate) fn start(
        listener: TcpListener,
        config: &Value,
        store: Arc<SqliteStore>,
        options: GatewayOptions,
    ) -> Self {
        Self::start_over(listener, config, store.clone(), store, options)
    }

    /// [`Gateway::start`] with the channel over `channel_store` (a wrapper around `store`);
    /// `store` stays reachable for the test's own reads.
    pub(crate) fn start_over(
        listener: TcpListener,
        config: &Value,
        store: Arc<SqliteStore>,
        channel_store: Arc<dyn Store>,
        options: GatewayOptions,
    ) -> Self {
        let agent = Arc::new(TestAgent::default());
        let channel = Arc::new(SmsChannel::new(
            vec![account(config, options.account)],
            channel_store,
            agent.clone(),
            Arc::new(Metrics::new()),
            options.clock,
            ChannelOptions {
                slow_reply_notice_after: options.slow_reply_notice_after,
                ..channel_options()
            },
        ));
        let app = openclaw_sms::webhook::router(&channel);
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let stop = CancellationToken::new();
        let pump = options.pump.then(|| {
            tokio::spawn(
                channel
                    .clone()
                    .run_pump(stop.clone(), Duration::from_secs(5)),
            )
        });
        Self {
            channel,
            store,
            agent,
            stop,
            pump,
            server,
        }
    }

    /// Stops the pump (letting work in flight finish) and the server.
    pub(crate) async fn shutdown(self) {
        self.stop.cancel();
        if let Some(pump) = self.pump {
            pump.await.unwrap();
        }
        self.server.abort();
        let _ = self.server.await;
    }

    /// Waits until no message of the account is pending or claimed.
    pub(crate) async fn drained(&self) {
        let store = self.store.clone();
        eventually("the queue to drain", || {
            let store = store.clone();
            async move { store.queue_depth(ACCOUNT).await.unwrap() == 0 }
        })
        .await;
    }
}

/// The usual set-up: a simulator and a gateway in front of it, over an in-memory store.
pub(crate) async fn start(overrides: Value) -> (SimHandle, Gateway) {
    start_with(overrides, GatewayOptions::default()).await
}

/// [`start`] with options.
pub(crate) async fn start_with(overrides: Value, options: GatewayOptions) -> (SimHandle, Gateway) {
    let (listener, url) = webhook_listener().await;
    let sim = simulator(&url).await;
    let config = sms_config(sim.base_url(), &url, &overrides);
    let gateway = Gateway::start(listener, &config, memory_store(), options);
    (sim, gateway)
}

/// Polls `check` every 10 ms until it holds; panics after [`WAIT`].
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `application/x-www-form-urlencoded` of `params` (as Twilio encodes: `+` for space).
pub(crate) fn encode_form(params: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    out.push(char::from(b));
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Twilio's signature of `params` posted to `url`.
pub(crate) fn sign(url: &str, params: &[(&str, &str)]) -> String {
    openclaw_twilio::signature::compute(url, params, &SecretString::from(TOKEN))
}

/// A MessageSid from a number.
pub(crate) fn message_sid(n: u32) -> String {
    format!("SM{n:032x}")
}

/// The form of an inbound SMS from `from` to `OUR`.
pub(crate) fn inbound_form(sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
    vec![
        ("MessageSid".into(), sid.into()),
        ("SmsSid".into(), sid.into()),
        ("AccountSid".into(), AC.into()),
        ("From".into(), from.into()),
        ("To".into(), OUR.into()),
        ("Body".into(), body.into()),
        ("NumMedia".into(), "0".into()),
        ("ApiVersion".into(), "2010-04-01".into()),
    ]
}

/// A signed POST of `params` to `path`, as if from `client`.
pub(crate) fn signed_post(
    public_url: &str,
    path: &str,
    params: &[(String, String)],
    client: [u8; 4],
) -> http::Request<Body> {
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = encode_form(&pairs);
    let signature = sign(public_url, &pairs);
    post(path, body, Some(&signature), client)
}

/// A POST with an optional signature, as if from `client`.
pub(crate) fn post(
    path: &str,
    body: String,
    signature: Option<&str>,
    client: [u8; 4],
) -> http::Request<Body> {
    let mut builder = http::Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-length", body.len().to_string());
    if let Some(s) = signature {
        builder = builder.header("x-twilio-signature", s);
    }
    let mut request = builder.body(Body::from(body)).unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            client, 40_000,
        ))));
    request
}
