//! The OpenClaw SMS channel adapter.
//!
//! It ties the crates below into a running channel: the `channels.sms` account model, the
//! axum webhook routes, the durable inbound pipeline, outbound sends and probes. It owns
//! nothing that a lower crate can own: signatures and the REST client are `openclaw-twilio`'s,
//! storage is `openclaw-store`'s, access decisions are `openclaw-access-policy`'s, text shaping
//! is `openclaw-sms-text`'s. The binary that runs it is `openclaw-gateway`.

pub mod account;
pub mod agent;
pub mod channel;
pub mod clock;
pub mod config;
pub mod keywords;
pub mod limits;
pub mod media;
pub mod metrics;
pub mod outbound;
pub mod pipeline;
pub mod probe;
pub mod public_url;
pub mod texts;
pub mod webhook;

pub use account::{AccountOptions, AccountRuntime, ResolvedAccount};
pub use agent::{Agent, AgentReply, AgentTurn, HistoryRole, HistoryTurn, MediaAttachment};
pub use channel::{ChannelOptions, SmsChannel};
pub use clock::Clock;
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
