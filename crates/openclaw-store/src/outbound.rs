//! Outbound intents: one row per message part, written before the send, so a crash mid-reply
//! resumes without sending a part twice. Saved replies: the agent's answer, written once before
//! its first part is sent, so a resume sends the stored text instead of asking the agent again.

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use crate::StoreError;

/// Finished intents (sent or failed) are kept this long for inspection (7 days). Saved replies
/// (counted from their creation) and agent-turn counters (from their last turn) are kept as long.
pub const INTENT_TTL_MS: i64 = 7 * 86_400_000;

/// The row id of an outbound intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntentId(i64);

impl IntentId {
    /// Wraps a raw id.
    #[must_use]
    pub const fn new(raw: i64) -> Self {
        Self(raw)
    }

    /// The raw id.
    #[must_use]
    pub const fn as_i64(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for IntentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The lowercase hex SHA-256 of a body, for [`NewIntent::body_hash`]: lets a resume check that
/// it is about to send the same text without storing the text.
#[must_use]
pub fn body_hash(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 0x0f)]));
    }
    out
}

/// Where an outbound part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentState {
    /// Written, not yet known to be sent: a resume sends it.
    Pending,
    /// The provider accepted it.
    Sent,
    /// The provider refused it; not retried.
    Failed,
    /// The send may or may not have happened (timeout after dispatch): a resume must reconcile
    /// with the provider before sending again.
    Ambiguous,
}

impl IntentState {
    /// Whether an intent in this state may move to `to`: `Sent` and `Failed` from `Pending` or
    /// `Ambiguous`, `Ambiguous` from `Pending`, nothing back to `Pending`. The one rule both
    /// backends apply.
    #[must_use]
    pub const fn can_become(self, to: Self) -> bool {
        match to {
            Self::Sent | Self::Failed => matches!(self, Self::Pending | Self::Ambiguous),
            Self::Ambiguous => matches!(self, Self::Pending),
            Self::Pending => false,
        }
    }

    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Ambiguous => "ambiguous",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(stored: &str) -> Result<Self, StoreError> {
        Ok(match stored {
            "pending" => Self::Pending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "ambiguous" => Self::Ambiguous,
            other => {
                return Err(StoreError::DecodeRow {
                    what: "intent state",
                    reason: format!("unknown state {other:?}"),
                });
            }
        })
    }

    /// Whether the state is final (`Sent` or `Failed`).
    #[must_use]
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Sent | Self::Failed)
    }
}

/// An intent to write before sending one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntent {
    /// The reply this part belongs to (caller-chosen, e.g. the inbound event id).
    pub reply_id: String,
    /// The channel account.
    pub account: String,
    /// The recipient (needed to resume the send).
    pub recipient: String,
    /// [`body_hash`] of the part's text.
    pub body_hash: String,
    /// Index of this part, from 0.
    pub part_index: u32,
    /// Number of parts of the reply.
    pub part_count: u32,
    /// Now, unix milliseconds.
    pub created_at: i64,
}

/// Refuses an intent whose part index is not below its part count.
pub(crate) fn check_part_index(intent: &NewIntent) -> Result<(), StoreError> {
    if intent.part_index < intent.part_count {
        return Ok(());
    }
    Err(StoreError::InvalidInput {
        what: "part index",
        reason: format!(
            "{} is not below the part count {}",
            intent.part_index, intent.part_count
        ),
    })
}

/// A stored intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundIntent {
    /// Its id.
    pub id: IntentId,
    /// The reply.
    pub reply_id: String,
    /// The account.
    pub account: String,
    /// The recipient.
    pub recipient: String,
    /// Hash of the part's text.
    pub body_hash: String,
    /// Part index, from 0.
    pub part_index: u32,
    /// Number of parts.
    pub part_count: u32,
    /// Where it is.
    pub state: IntentState,
    /// The provider's message id once sent.
    pub message_sid: Option<String>,
    /// The error of a failed or ambiguous send.
    pub error: Option<String>,
    /// Created, unix milliseconds.
    pub created_at: i64,
    /// Last change, unix milliseconds.
    pub updated_at: i64,
}

/// The outcome of [`OutboundStore::create_intent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentCreated {
    /// Written now.
    New(OutboundIntent),
    /// `(reply_id, part_index)` already had an intent: it is returned and nothing is written.
    Existing(OutboundIntent),
}

impl IntentCreated {
    /// The intent, new or existing.
    #[must_use]
    pub fn intent(&self) -> &OutboundIntent {
        match self {
            Self::New(i) | Self::Existing(i) => i,
        }
    }
}

/// A reply to save before its first part is sent ([`OutboundStore::save_reply`]).
///
/// The store puts no cap on `text`: it is the agent's answer, already bounded by the gateway
/// (the pipeline's reply length limit) before it gets here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReply {
    /// The reply (caller-chosen, the same id as its intents' [`NewIntent::reply_id`], e.g. the
    /// inbound event id).
    pub reply_id: String,
    /// The channel account.
    pub account: String,
    /// The recipient.
    pub recipient: String,
    /// The whole reply text, before splitting into parts.
    pub text: String,
    /// Now, unix milliseconds.
    pub created_at: i64,
}

/// A stored reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedReply {
    /// The reply.
    pub reply_id: String,
    /// The account.
    pub account: String,
    /// The recipient.
    pub recipient: String,
    /// The whole reply text.
    pub text: String,
    /// Saved, unix milliseconds (of the first writer).
    pub created_at: i64,
}

/// Outbound intents and saved replies. Transitions: pending -> sent | failed | ambiguous; ambiguous -> sent | failed.
#[async_trait]
pub trait OutboundStore: Send + Sync {
    /// Writes an intent, or returns the existing one for the same `(reply_id, part_index)`.
    async fn create_intent(&self, intent: NewIntent) -> Result<IntentCreated, StoreError>;

    /// Marks an intent sent with the provider's message id.
    async fn mark_sent(&self, id: IntentId, message_sid: &str, now: i64) -> Result<(), StoreError>;

    /// Marks an intent failed (the provider refused it).
    async fn mark_failed(&self, id: IntentId, error: &str, now: i64) -> Result<(), StoreError>;

    /// Marks an intent ambiguous (it may have been sent).
    async fn mark_ambiguous(&self, id: IntentId, error: &str, now: i64) -> Result<(), StoreError>;

    /// The intents of a reply, by part index.
    async fn intents_for_reply(&self, reply_id: &str) -> Result<Vec<OutboundIntent>, StoreError>;

    /// How many replies whose id starts with `reply_prefix` had their first part written at or
    /// after `since` (unix milliseconds), whatever their state: the texts begun under one id
    /// family (e.g. one sender's pairing codes) in a window. Counts only what pruning kept
    /// ([`INTENT_TTL_MS`] after the last change of a finished intent).
    async fn count_replies_since(&self, reply_prefix: &str, since: i64) -> Result<u64, StoreError>;

    /// Pending and ambiguous intents of an account, oldest first (resume after a crash).
    async fn unfinished_intents(&self, account: &str) -> Result<Vec<OutboundIntent>, StoreError>;

    /// Drops finished intents whose last change is older than the TTL ([`INTENT_TTL_MS`]),
    /// saved replies created before it, and, in a store that is also a
    /// [`TurnLedger`](crate::TurnLedger), agent-turn counters whose last turn is older; returns
    /// how many rows were dropped in all. A saved reply is kept, whatever its age, while any of
    /// its intents is (pending and ambiguous intents are never pruned, and a resume needs the
    /// text).
    async fn prune_intents(&self, now: i64) -> Result<u64, StoreError>;

    /// Saves a reply, or returns the one already saved under the same `reply_id` unchanged
    /// (first writer wins). The caller then sends the returned text, never a second answer.
    async fn save_reply(&self, reply: NewReply) -> Result<SavedReply, StoreError>;

    /// The saved reply with this id, if any (and not pruned).
    async fn reply(&self, reply_id: &str) -> Result<Option<SavedReply>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_transitions() {
        use IntentState::{Ambiguous, Failed, Pending, Sent};
        let all = [Pending, Ambiguous, Sent, Failed];
        let allowed = [
            (Pending, Sent),
            (Pending, Failed),
            (Pending, Ambiguous),
            (Ambiguous, Sent),
            (Ambiguous, Failed),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[track_caller]
    fn check(body: &str, expected: &str) {
        assert_eq!(body_hash(body), expected);
    }

    #[test]
    fn body_hash_is_sha256_hex() {
        // FIPS 180-2 test vectors.
        check(
            "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        );
        check(
            "abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
    }

    #[test]
    fn states_round_trip() {
        for s in [
            IntentState::Pending,
            IntentState::Sent,
            IntentState::Failed,
            IntentState::Ambiguous,
        ] {
            assert_eq!(IntentState::parse(s.as_str()), Ok(s));
        }
        assert!(IntentState::parse("gone").is_err());
        assert!(IntentState::Sent.is_finished() && !IntentState::Ambiguous.is_finished());
    }
}
