//! The OpenClaw SMS channel adapter.
//!
//! It ties the crates below into a running channel: the `channels.sms` account model, the
//! axum webhook routes, the durable inbound pipeline, outbound sends and probes. It owns
//! nothing that a lower crate can own: signatures and the REST client are `openclaw-twilio`'s,
//! storage is `openclaw-store`'s, access decisions are `openclaw-access-policy`'s, text shaping
//! is `openclaw-sms-text`'s. The binary that runs it is `openclaw-gateway`.
//!
//! # Example
//!
//! Read `channels.sms` the way the gateway does: strictly, with environment fallbacks (the
//! environment is a lookup function, so this runs anywhere), then classify an inbound keyword.
//!
//! ```
//! use openclaw_sms::config::{SmsChannelInput, resolve_accounts};
//! use openclaw_sms::keywords::{Keyword, classify};
//!
//! let section = serde_json::json!({
//!     "accountSid": "AC0123456789abcdef0123456789abcdef",
//!     "authToken": "${TWILIO_AUTH_TOKEN}",
//!     "fromNumber": "+15551234567",
//!     "publicWebhookUrl": "https://gateway.example.com/webhooks/sms",
//!     "dmPolicy": "allowlist",
//!     "allowFrom": ["sms:+15557654321"],
//! });
//! let input = SmsChannelInput::from_value(&section, "channels.sms")?;
//! let env = |name: &str| (name == "TWILIO_PHONE_NUMBER").then(|| "+15550001111".to_owned());
//! let accounts = resolve_accounts(&input, &env, "channels.sms")?;
//! let account = &accounts.accounts[0];
//! assert_eq!((account.id.as_str(), accounts.default_account.as_str()), ("default", "default"));
//! assert!(account.is_configured());
//! assert_eq!(account.webhook_path, "/webhooks/sms");
//! // The config wins over the environment; `sms:` prefixes are normalized.
//! assert_eq!(account.sender_label(), "+15551234567");
//! assert_eq!(account.allow_from[0].to_string(), "+15557654321");
//! // The token stays a reference until the gateway's secrets runtime resolves it.
//! let token = account.auth_token.as_ref().and_then(|t| t.reference());
//! assert_eq!(token.map(|r| r.to_string()).as_deref(), Some("env:default:TWILIO_AUTH_TOKEN"));
//!
//! // A typo is refused with its path and the nearest valid key.
//! let typo = serde_json::json!({ "fromNumbr": "+15551234567" });
//! let err = SmsChannelInput::from_value(&typo, "channels.sms").map(|_| ()).unwrap_err();
//! assert_eq!(err.to_string(), "channels.sms.fromNumbr: unknown key; did you mean `fromNumber`?");
//!
//! // STOP never reaches the agent.
//! assert_eq!(classify(" stop ", None), Some(Keyword::OptOut("STOP")));
//! # Ok::<(), openclaw_sms::SmsError>(())
//! ```

pub mod account;
pub mod budget;
pub mod channel;
pub mod clock;
pub mod config;
pub mod keywords;
pub mod long_reply;
pub mod media;
pub mod metrics;
pub mod outbound;
pub mod owner;
mod pairing;
pub mod pipeline;
pub mod probe;
pub mod quiet;
mod quiet_zones;
pub mod texts;
pub mod webhook;

pub use account::{AccountOptions, AccountRuntime, ResolvedAccount};
pub use channel::{ChannelOptions, SmsChannel};
pub use clock::Clock;
/// The channel core's error (pairing store steps), from the channel core.
pub use openclaw_channel::ChannelError;
/// The agent seam, from the channel core (re-exported for existing callers).
pub use openclaw_channel::agent;
pub use openclaw_channel::agent::{
    Agent, AgentError, AgentReply, AgentTurn, HistoryRole, HistoryTurn, MediaAttachment,
};
/// Rate limiters, from the channel core (re-exported for existing callers).
pub use openclaw_channel::limits;
/// Trusted reverse proxies, from the channel core (re-exported for existing callers).
pub use openclaw_channel::proxies;
pub use openclaw_channel::proxies::{ForwardedHeader, TrustedProxies};
/// Public webhook URL checks and the StatusCallback URL, from the channel core (re-exported for
/// existing callers).
pub use openclaw_channel::public_url;
pub use pipeline::Processed;

/// The error type of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmsError {
    /// A key of `channels.sms` holds a value that is not allowed (or is unknown).
    #[error("{path}: {message}")]
    Config {
        /// Dotted path of the key (`channels.sms.accounts.support.dmPolicy`).
        path: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The agent could not produce a reply.
    #[error("agent failed: {message}")]
    Agent {
        /// What went wrong (no secrets).
        message: String,
        /// Whether trying the same turn again later may succeed.
        retryable: bool,
    },
}

impl From<AgentError> for SmsError {
    fn from(err: AgentError) -> Self {
        Self::Agent {
            message: err.message().to_owned(),
            retryable: err.is_retryable(),
        }
    }
}

impl From<ChannelError> for SmsError {
    fn from(err: ChannelError) -> Self {
        match err {
            ChannelError::Config { path, message } => Self::Config { path, message },
            // `ChannelError` is non-exhaustive: a new kind is a config problem until it says otherwise.
            other => Self::Config {
                path: String::new(),
                message: other.to_string(),
            },
        }
    }
}

impl SmsError {
    pub(crate) fn invalid(path: &str, message: &str) -> Self {
        Self::Config {
            path: path.to_owned(),
            message: message.to_owned(),
        }
    }

    /// An agent failure; `retryable` says whether the same turn may succeed later.
    pub fn agent(message: impl Into<String>, retryable: bool) -> Self {
        Self::Agent {
            message: message.into(),
            retryable,
        }
    }

    /// For a config error, the dotted path of the offending key.
    pub fn config_path(&self) -> Option<&str> {
        match self {
            Self::Config { path, .. } => Some(path),
            Self::Agent { .. } => None,
        }
    }

    /// Whether retrying may help (agent failures that say so).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Agent {
                retryable: true,
                ..
            }
        )
    }
}
