//! The `channels.sms` account model: what the config file says ([`SmsChannelInput`]), checked
//! strictly, and resolved into accounts with environment fallbacks.
//!
//! Secrets are not resolved here: an account carries its [`SecretInput`]s and the gateway's
//! secrets runtime turns them into values once, at start.

mod raw;
mod secret;

pub use raw::{
    ACCOUNT_KEYS, AccountInput, AllowFromInput, AllowFromItem, ChunkLimitInput, LIMIT_KEYS,
    LimitsInput, SmsChannelInput, TOP_LEVEL_ONLY_KEYS,
};
pub use secret::{SecretInput, SecretRef, SecretSource, is_env_name};

/// A problem in `channels.sms`: which key, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key holds a value that is not allowed (or is unknown).
    #[error("{path}: {message}")]
    Invalid {
        /// Dotted path of the key (`channels.sms.accounts.support.dmPolicy`).
        path: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(path: &str, message: &str) -> Self {
        Self::Invalid {
            path: path.to_owned(),
            message: message.to_owned(),
        }
    }

    /// The dotted path of the offending key.
    pub fn path(&self) -> &str {
        match self {
            Self::Invalid { path, .. } => path,
        }
    }
}
