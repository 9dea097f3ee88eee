//! Usage: billed segments sent per account, day and peer, counted when a part is recorded as
//! sent (in the same transaction), the budget hits of replies cut short, and the held rest of a
//! long reply waiting for the texter's `MORE`.
//!
//! A counter table rather than a query over deliveries or intents: a budget check before each
//! part reads two rows by primary key instead of summing a day of deliveries, the intents do
//! not carry segments, and the counters outlive the 7-day pruning of intents and deliveries
//! (`openclaw sms usage --since` looks further back). The day is the caller's (`YYYY-MM-DD` in
//! the budget's time zone): the store knows no calendar.

use async_trait::async_trait;

use crate::StoreError;
use crate::outbound::IntentId;

/// A part the provider accepted: [`UsageStore::mark_sent_counted`] marks its intent sent and
/// adds its segments to the day's counters of the intent's account and recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentPart {
    /// The intent.
    pub intent: IntentId,
    /// The provider's message id.
    pub message_sid: String,
    /// The day it counts for, `YYYY-MM-DD` (the caller's calendar).
    pub day: String,
    /// Billed segments of the part.
    pub segments: u32,
    /// Now, unix milliseconds.
    pub now: i64,
}

/// What one account sent on one day: to one peer, and to everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayUsage {
    /// Segments to the peer asked about.
    pub peer_segments: u64,
    /// Segments to every peer of the account.
    pub account_segments: u64,
}

/// One counter row: an account's segments and messages (parts) to one peer on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// The account.
    pub account: String,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// The recipient.
    pub peer: String,
    /// Billed segments.
    pub segments: u64,
    /// Messages (parts) sent.
    pub messages: u64,
}

/// A reply cut short by a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetHit {
    /// The account.
    pub account: String,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// Which budget: `sender` or `account`.
    pub scope: String,
    /// The recipient of the reply.
    pub peer: String,
    /// The reply that was cut.
    pub reply_id: String,
    /// Operator-facing reason.
    pub reason: String,
    /// When, unix milliseconds.
    pub at: i64,
}

/// The rest of a long reply, held until the texter answers `MORE` (one per account and peer:
/// a newer long reply replaces it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRest {
    /// The account.
    pub account: String,
    /// The texter.
    pub peer: String,
    /// The reply it is the rest of.
    pub reply_id: String,
    /// The page the next `MORE` sends (the first page is 0).
    pub page: u32,
    /// The text still to send (plain text, already formatted for SMS).
    pub text: String,
    /// When the last page offered `MORE`, unix milliseconds.
    pub offered_at: i64,
}

/// Usage counters, budget hits and held rests.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Marks the intent sent (as [`OutboundStore::mark_sent`](crate::OutboundStore::mark_sent))
    /// and, in the same transaction, adds `segments` and one message to the counters of the
    /// intent's account and recipient for `day`. An intent already sent is an error and counts
    /// nothing, so a part is counted once.
    async fn mark_sent_counted(&self, part: SentPart) -> Result<(), StoreError>;

    /// What `account` sent on `day`, to `peer` and in all.
    async fn day_usage(&self, account: &str, day: &str, peer: &str)
    -> Result<DayUsage, StoreError>;

    /// The counter rows of `account` (every account when `None`) from `since_day` on
    /// (inclusive; every day when `None`), by day, account and peer.
    async fn usage(
        &self,
        account: Option<&str>,
        since_day: Option<&str>,
    ) -> Result<Vec<UsageRow>, StoreError>;

    /// Records a budget hit; `false` when the same reply and scope were recorded already.
    async fn record_budget_hit(&self, hit: BudgetHit) -> Result<bool, StoreError>;

    /// The budget hits of `account` from `since_day` on, oldest first, at most `limit`
    /// (the newest ones).
    async fn budget_hits(
        &self,
        account: &str,
        since_day: &str,
        limit: u32,
    ) -> Result<Vec<BudgetHit>, StoreError>;

    /// Holds `rest`, replacing what was held for its account and peer.
    async fn hold_rest(&self, rest: HeldRest) -> Result<(), StoreError>;

    /// What is held for `peer` on `account`.
    async fn held_rest(&self, account: &str, peer: &str) -> Result<Option<HeldRest>, StoreError>;

    /// Drops what is held for `peer` on `account` if it is still `reply_id`'s rest; whether a
    /// row went.
    async fn drop_rest(
        &self,
        account: &str,
        peer: &str,
        reply_id: &str,
    ) -> Result<bool, StoreError>;

    /// Drops every rest of `account` offered before `before` and returns them (for the record).
    async fn drop_rests_before(
        &self,
        account: &str,
        before: i64,
    ) -> Result<Vec<HeldRest>, StoreError>;
}
