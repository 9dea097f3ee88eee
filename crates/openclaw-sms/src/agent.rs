//! The agent seam: what the channel hands to an agent, and what it gets back.
//!
//! The gateway implements [`Agent`] for its backends (an OpenAI-compatible model, a command,
//! the built-in echo). Another agent is one `impl Agent` away: it receives one [`AgentTurn`]
//! per allowed message, with the sender's recent history, and answers with text that the
//! channel then formats for SMS (plain text, segments, parts).

use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::SmsError;

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

/// An inbound MMS attachment saved to a local file.
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
    /// Always `sms` here; other channels use their own names.
    pub channel: String,
    /// The SMS account that received the message.
    pub account_id: String,
    /// The sender, in E.164 (`+15557654321`).
    pub sender: String,
    /// The Twilio MessageSid of the inbound message.
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

    /// Answers `turn`. A failure is [`SmsError::Agent`], saying whether a retry may help.
    async fn reply(&self, turn: &AgentTurn) -> Result<AgentReply, SmsError>;
}
