//! Opt-outs (STOP) per (account, number), and conversation history per (account, peer).

use async_trait::async_trait;

use crate::StoreError;

/// Turns kept per (account, peer) by default; older turns are dropped on append.
pub const HISTORY_PER_PEER: usize = 50;

/// A recipient who asked not to be texted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    /// The channel account.
    pub account: String,
    /// The number (opaque to the store; for SMS E.164).
    pub number: String,
    /// The keyword that opted out (e.g. `STOP`), as the caller normalised it.
    pub keyword: String,
    /// When, unix milliseconds.
    pub at: i64,
}

/// Opt-outs.
#[async_trait]
pub trait OptOutStore: Send + Sync {
    /// Records (or replaces) an opt-out.
    async fn set_opt_out(&self, opt_out: OptOut) -> Result<(), StoreError>;

    /// Removes an opt-out (START); false if there was none.
    async fn clear_opt_out(&self, account: &str, number: &str) -> Result<bool, StoreError>;

    /// The opt-out of a number, if any.
    async fn opt_out(&self, account: &str, number: &str) -> Result<Option<OptOut>, StoreError>;

    /// Whether a number opted out.
    async fn is_opted_out(&self, account: &str, number: &str) -> Result<bool, StoreError> {
        Ok(self.opt_out(account, number).await?.is_some())
    }

    /// All opt-outs of an account, by number.
    async fn list_opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError>;
}

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The person texting.
    User,
    /// The agent.
    Assistant,
}

impl Role {
    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(stored: &str) -> Result<Self, StoreError> {
        match stored {
            "user" => Ok(Self::User),
            "assistant" => Ok(Self::Assistant),
            other => Err(StoreError::DecodeRow {
                what: "history role",
                reason: format!("unknown role {other:?}"),
            }),
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub text: String,
    /// When, unix milliseconds.
    pub at: i64,
}

/// The latest turn of one peer's conversation (a row of a conversation list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    /// The peer (sender id).
    pub peer: String,
    /// The peer's latest turn.
    pub last: HistoryEntry,
}

/// Conversation history, capped per peer.
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// Appends a turn and drops the oldest beyond the per-peer cap.
    async fn append_history(
        &self,
        account: &str,
        peer: &str,
        entry: HistoryEntry,
    ) -> Result<(), StoreError>;

    /// The last `limit` turns, oldest first.
    async fn recent_history(
        &self,
        account: &str,
        peer: &str,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError>;

    /// One row per peer of `account` with its latest turn, most recently active first;
    /// `limit` rows after skipping `offset` (a page of the console's conversation list).
    async fn list_conversations(
        &self,
        account: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError>;

    /// Forgets a peer's history; returns how many turns were dropped.
    async fn clear_history(&self, account: &str, peer: &str) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in [Role::User, Role::Assistant] {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        assert!(Role::parse("system").is_err());
    }
}
