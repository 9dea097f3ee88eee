//! Read-only views for the owner's console: a recipient's replies with their parts and
//! delivery records, an account's turns page by page (export), and delivery errors by code.

use async_trait::async_trait;

use crate::StoreError;
use crate::optout::HistoryEntry;
use crate::outbound::IntentState;

/// What the delivery record of a part says, once one was observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartDelivery {
    /// The reduced status, as [`crate::DeliveryStore::record_delivery`] keeps it.
    pub status: String,
    /// The provider's error code, if any.
    pub error_code: Option<String>,
    /// Last observation, unix milliseconds.
    pub last_observed_at: i64,
}

/// One part of a reply: its send intent and its delivery record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPart {
    /// Part index, from 0.
    pub part_index: u32,
    /// Number of parts of the reply.
    pub part_count: u32,
    /// Where the send is.
    pub state: IntentState,
    /// The provider's message id once sent.
    pub message_sid: Option<String>,
    /// The error of a failed or ambiguous send.
    pub error: Option<String>,
    /// Last change of the intent, unix milliseconds.
    pub updated_at: i64,
    /// The delivery record of `message_sid`, if any was observed.
    pub delivery: Option<PartDelivery>,
}

/// A reply to one recipient, as sent part by part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadReply {
    /// The reply id (for an agent's answer, `reply:<account>:<inbound MessageSid>`).
    pub reply_id: String,
    /// The saved text of the reply, if it was saved and not pruned.
    pub text: Option<String>,
    /// When its first part was written, unix milliseconds.
    pub created_at: i64,
    /// Its parts, by index.
    pub parts: Vec<ReplyPart>,
}

/// One turn of an account's history, with its row id (the cursor of the next page) and peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTurn {
    /// The row id: turns come in increasing id order.
    pub id: i64,
    /// The peer (sender id).
    pub peer: String,
    /// The turn.
    pub entry: HistoryEntry,
}

/// How many delivery records of an account carry one error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCount {
    /// The provider's error code (e.g. Twilio `30007`).
    pub code: String,
    /// Records with it.
    pub count: u64,
    /// The newest observation among them, unix milliseconds.
    pub last_at: i64,
}

/// The console's read-only queries.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// The last `limit` replies to `recipient` of `account` (by their first part), oldest
    /// first, each with its parts by index, their delivery records and the saved text.
    async fn replies_to(
        &self,
        account: &str,
        recipient: &str,
        limit: usize,
    ) -> Result<Vec<ThreadReply>, StoreError>;

    /// Up to `limit` turns of every peer of `account` whose id is above `after` and whose
    /// time is at or after `since`, by id: page through an account without holding it all.
    async fn account_history(
        &self,
        account: &str,
        after: i64,
        since: i64,
        limit: usize,
    ) -> Result<Vec<AccountTurn>, StoreError>;

    /// The delivery records of `account` last observed at or after `since` that carry an error
    /// code, counted per code, most frequent first, at most `limit` codes.
    async fn delivery_errors(
        &self,
        account: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<ErrorCount>, StoreError>;
}

/// Groups rows of (reply id, reply created at, saved text, part) ordered by reply then part
/// into replies: the one decoding step both backends share.
pub(crate) fn group_replies(
    rows: impl IntoIterator<Item = (String, i64, Option<String>, ReplyPart)>,
) -> Vec<ThreadReply> {
    let mut replies: Vec<ThreadReply> = Vec::new();
    for (reply_id, created_at, text, part) in rows {
        match replies.last_mut() {
            Some(last) if last.reply_id == reply_id => last.parts.push(part),
            _ => replies.push(ThreadReply {
                reply_id,
                text,
                created_at,
                parts: vec![part],
            }),
        }
    }
    replies
}
