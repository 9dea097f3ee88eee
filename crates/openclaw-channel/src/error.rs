//! The crate's one error type.

/// Why a channel-neutral value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// A config key holds a value that is not allowed.
    #[error("{path}: {message}")]
    Config {
        /// Dotted path of the key (`gateway.trustedProxies[1]`).
        path: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// A store call of a pairing step failed (the caller retries the message).
    #[error("could not {step}: {source}")]
    Store {
        /// The step, as a verb phrase (`read allow entries`, `hold the message`).
        step: &'static str,
        /// The store's error.
        #[source]
        source: openclaw_store::StoreError,
    },
    /// Every pairing code drawn was taken by another sender meanwhile.
    #[error("no free pairing code after {tries} tries")]
    NoFreePairingCode {
        /// How many codes were drawn.
        tries: u32,
    },
}

impl ChannelError {
    /// A config error naming the key's dotted `path`.
    #[must_use]
    pub fn invalid(path: &str, message: &str) -> Self {
        Self::Config {
            path: path.to_owned(),
            message: message.to_owned(),
        }
    }

    /// A store error during the pairing `step` (a verb phrase: `hold the message`).
    #[must_use]
    pub fn store(step: &'static str, source: openclaw_store::StoreError) -> Self {
        Self::Store { step, source }
    }

    /// For a config error, the dotted path of the offending key.
    #[must_use]
    pub fn config_path(&self) -> Option<&str> {
        match self {
            Self::Config { path, .. } => Some(path),
            Self::Store { .. } | Self::NoFreePairingCode { .. } => None,
        }
    }
}
