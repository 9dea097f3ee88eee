//! Scheduled sends: a message (account, recipient, text) to send at a time, kept durably until
//! then. Both `openclaw message send --at/--after`, the send API's `sendAt` and messages held
//! by quiet hours are rows here; a scheduler claims the due ones and sends them.
//!
//! A claim is a lease ([`ScheduledStore::claim_due_sends`]): one statement moves due rows from
//! `scheduled` to `claimed` (on PostgreSQL with `FOR UPDATE SKIP LOCKED` and the state checked
//! again in the update), so with several gateways on one database each due send is claimed by
//! one of them. A claim whose lease ran out (its gateway died mid-send) is claimable again; the
//! send itself is keyed by [`ScheduledSend::reply_id`], whose outbound intents skip the parts
//! already sent, so a second run never sends a part twice.

use async_trait::async_trait;

use crate::StoreError;

/// How long a claim lasts before another scheduler may take the send over (5 minutes: far
/// longer than sending one message's parts at the paced rate).
pub const SCHEDULE_LEASE_MS: i64 = 5 * 60_000;

/// Finished scheduled sends (sent, failed, cancelled) are kept this long (7 days), counted
/// from their last change.
pub const SCHEDULED_TTL_MS: i64 = 7 * 86_400_000;

/// Why a send waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleReason {
    /// Asked for a time (`--at`, `--after`, `sendAt`).
    At,
    /// Held by quiet hours until the end of the window.
    QuietHours,
}

impl ScheduleReason {
    /// The stored spelling (`at`, `quiet_hours`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::At => "at",
            Self::QuietHours => "quiet_hours",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(stored: &str) -> Result<Self, StoreError> {
        match stored {
            "at" => Ok(Self::At),
            "quiet_hours" => Ok(Self::QuietHours),
            other => Err(StoreError::DecodeRow {
                what: "schedule reason",
                reason: format!("unknown reason {other:?}"),
            }),
        }
    }
}

/// Where a scheduled send is. `scheduled -> claimed -> sent | failed`, `scheduled -> cancelled`,
/// and `claimed -> claimed` again when the lease ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduledState {
    /// Waiting for its time.
    Scheduled,
    /// Taken by a scheduler, being sent.
    Claimed,
    /// Every part was sent.
    Sent,
    /// Not (fully) sent; the error says why.
    Failed,
    /// Cancelled before it was due.
    Cancelled,
}

impl ScheduledState {
    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Claimed => "claimed",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(stored: &str) -> Result<Self, StoreError> {
        Ok(match stored {
            "scheduled" => Self::Scheduled,
            "claimed" => Self::Claimed,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            other => {
                return Err(StoreError::DecodeRow {
                    what: "scheduled send state",
                    reason: format!("unknown state {other:?}"),
                });
            }
        })
    }

    /// Whether the send is over (sent, failed or cancelled).
    #[must_use]
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Sent | Self::Failed | Self::Cancelled)
    }
}

/// A send to schedule ([`ScheduledStore::schedule_send`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScheduledSend {
    /// Its id (caller-chosen, unique; the same id again returns the first row).
    pub id: String,
    /// The channel account.
    pub account: String,
    /// The recipient.
    pub recipient: String,
    /// The text, before formatting and splitting.
    pub text: String,
    /// The reply id its parts are sent under (outbound intents are keyed by it).
    pub reply_id: String,
    /// When it is due, unix milliseconds.
    pub due_at: i64,
    /// Why it waits.
    pub reason: ScheduleReason,
    /// The time zone that decided `due_at` (quiet hours, or the zone of `--at`), for display.
    pub zone: Option<String>,
    /// Now, unix milliseconds.
    pub created_at: i64,
}

/// A stored scheduled send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledSend {
    /// Its id.
    pub id: String,
    /// The account.
    pub account: String,
    /// The recipient.
    pub recipient: String,
    /// The text.
    pub text: String,
    /// The reply id of its parts.
    pub reply_id: String,
    /// When it is due, unix milliseconds.
    pub due_at: i64,
    /// Why it waits.
    pub reason: ScheduleReason,
    /// The zone that decided `due_at`.
    pub zone: Option<String>,
    /// Where it is.
    pub state: ScheduledState,
    /// The end of the current claim's lease, while claimed.
    pub claimed_until: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Created, unix milliseconds.
    pub created_at: i64,
    /// Last change, unix milliseconds.
    pub updated_at: i64,
}

/// How a claimed send ended ([`ScheduledStore::finish_scheduled`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduledOutcome {
    /// Every part was sent.
    Sent,
    /// Not (fully) sent, and why.
    Failed(String),
}

/// Durable scheduled sends.
#[async_trait]
pub trait ScheduledStore: Send + Sync {
    /// Stores a send, or returns the one already stored under the same id unchanged (first
    /// writer wins).
    async fn schedule_send(&self, send: NewScheduledSend) -> Result<ScheduledSend, StoreError>;

    /// Claims up to `limit` sends due at `now` (and sends whose claim expired), earliest
    /// first, for `lease_ms`. A send is claimed by one caller at a time, across every handle on
    /// the same database.
    async fn claim_due_sends(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ScheduledSend>, StoreError>;

    /// Finishes a claimed send; `false` (and nothing changed) when it is not claimed.
    async fn finish_scheduled(
        &self,
        id: &str,
        outcome: ScheduledOutcome,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Cancels a send that is still waiting and returns it (`Cancelled`); a send in any other
    /// state is returned unchanged, and `None` means no send has this id.
    async fn cancel_scheduled(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<ScheduledSend>, StoreError>;

    /// The send with this id, if any (and not pruned).
    async fn scheduled_send(&self, id: &str) -> Result<Option<ScheduledSend>, StoreError>;

    /// Waiting and claimed sends (of one account, or all), earliest due first, at most `limit`.
    async fn pending_scheduled(
        &self,
        account: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ScheduledSend>, StoreError>;

    /// The earliest due time of a waiting send, if any: how long a scheduler may sleep.
    async fn next_scheduled_due(&self) -> Result<Option<i64>, StoreError>;

    /// Drops finished sends whose last change is older than [`SCHEDULED_TTL_MS`]; returns how
    /// many.
    async fn prune_scheduled(&self, now: i64) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for s in [
            ScheduledState::Scheduled,
            ScheduledState::Claimed,
            ScheduledState::Sent,
            ScheduledState::Failed,
            ScheduledState::Cancelled,
        ] {
            assert_eq!(ScheduledState::parse(s.as_str()), Ok(s));
        }
        assert!(ScheduledState::parse("later").is_err());
        for r in [ScheduleReason::At, ScheduleReason::QuietHours] {
            assert_eq!(ScheduleReason::parse(r.as_str()), Ok(r));
        }
        assert!(ScheduleReason::parse("soon").is_err());
        assert!(ScheduledState::Cancelled.is_finished() && !ScheduledState::Claimed.is_finished());
    }
}
