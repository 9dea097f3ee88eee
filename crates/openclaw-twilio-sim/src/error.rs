//! The crate's one error type.

use std::net::SocketAddr;

/// Everything that can go wrong when starting or driving the simulator.
///
/// Messages never contain an Auth Token or API key secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunSimulatorError {
    /// The configuration is not usable (a malformed SID, number or URL, a duplicate); the
    /// text says which value.
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    /// Binding the listening socket failed.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A phone number given to the simulator is not E.164.
    #[error("not an E.164 phone number: {0:?}")]
    InvalidNumber(String),
    /// A phone texted a number that no simulated account owns.
    #[error("no simulated account owns {0}")]
    UnknownNumber(String),
    /// The texted number (or its Messaging Service) has no inbound webhook; Twilio would keep
    /// the message and call nothing. The message and any opt-out change are still recorded.
    #[error("{0} has no inbound SMS webhook configured")]
    NoWebhook(String),
    /// The webhook or callback request did not get an HTTP answer (refused, timed out).
    #[error("request to {url} failed: {reason}")]
    DeliverWebhook {
        /// The URL that was requested.
        url: String,
        /// What went wrong.
        reason: String,
    },
}
