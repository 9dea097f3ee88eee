//! The agent seam: what a channel hands to an agent, and what it gets back.
//!
//! The gateway implements [`Agent`] for its backends (an OpenAI-compatible model, the OpenClaw
//! bridge, a command, the built-in echo); any channel (SMS, Voice Call) calls them through it.
//! Another agent is one `impl Agent` away: it receives one [`AgentTurn`] per allowed message,
//! with the sender's recent history, and answers with text that the channel then shapes for
//! its medium (plain-text SMS parts, speech).

use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Who said a history line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryRole {
    /// The person texting.
    User,
    /// The agent.
    Assistant,
}

/// One earlier line of the conversation, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryTurn {
    /// Who said it.
    pub role: HistoryRole,
    /// What was said (plain text).
    pub text: String,
}

/// An inbound attachment (an MMS image, a recording) saved to a local file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaAttachment {
    /// The attachment's MIME type as Twilio reported it.
    pub content_type: String,
    /// Where the file is.
    pub path: PathBuf,
}

/// One message for the agent to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentTurn {
    /// The channel the message came through (`sms`, `voice`): agents that keep a session per
    /// channel (the OpenClaw bridge's session keys) read it.
    pub channel: String,
    /// The channel account that received the message.
    pub account_id: String,
    /// The sender's opaque id on that channel (an E.164 number such as `+15557654321` for SMS,
    /// also `client:NAME` or `sip:…` for calls).
    pub sender: String,
    /// The channel's id of the inbound message (a Twilio MessageSid or CallSid).
    pub message_id: String,
    /// The text to answer, with a notice appended when attachments were unavailable.
    pub text: String,
    /// Attachments that were fetched.
    pub media: Vec<MediaAttachment>,
    /// Earlier lines of this conversation, oldest first.
    pub history: Vec<HistoryTurn>,
    /// When Twilio delivered the message (unix milliseconds).
    pub received_at_ms: i64,
}

/// The agent's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReply {
    /// The reply, usually markdown; empty means "send nothing".
    pub text: String,
}

/// An agent: answers one turn at a time. Implementations must be cheap to share across tasks.
#[async_trait]
pub trait Agent: Send + Sync {
    /// A short name for logs and metrics (`echo`, `openai:gpt-4o-mini`, `command`).
    fn name(&self) -> &str;

    /// Answers `turn`. A failure is an [`AgentError`], saying whether a retry may help.
    async fn reply(&self, turn: &AgentTurn) -> Result<AgentReply, AgentError>;
}

/// Why an agent gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent failed: {message}")]
pub struct AgentError {
    message: String,
    retryable: bool,
}

impl AgentError {
    /// A failure with what went wrong (no secrets) and whether the same turn may succeed later
    /// (a model that was unreachable: yes; a turn the agent may already have run: no).
    pub fn new(message: impl Into<String>, retryable: bool) -> Self {
        Self {
            message: message.into(),
            retryable,
        }
    }

    /// What went wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether trying the same turn again later may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}
