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

    /// For a config error, the dotted path of the offending key.
    #[must_use]
    pub fn config_path(&self) -> Option<&str> {
        match self {
            Self::Config { path, .. } => Some(path),
        }
    }
}
