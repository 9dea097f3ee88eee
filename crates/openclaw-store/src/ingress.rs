//! The durable ingress queue: accepted webhooks, deduplicated by event id, one lane per sender.

use async_trait::async_trait;

use crate::StoreError;

/// How long a completed event id is remembered so that a provider retry is acknowledged and
/// not run again: 24 hours, as upstream's `completedTtlMs`.
pub const TOMBSTONE_TTL_MS: i64 = 86_400_000;
/// At most this many completed event ids are remembered per account (upstream docs: 20,000).
pub const MAX_TOMBSTONES_PER_ACCOUNT: u64 = 20_000;
/// Dead letters are kept this long (upstream docs: 30 days) ...
pub const DEAD_LETTER_TTL_MS: i64 = 30 * 86_400_000;
/// ... and at most this many per account (upstream: 1,000 failed entries).
pub const MAX_DEAD_LETTERS_PER_ACCOUNT: u64 = 1_000;

/// The oldest pending messages the first step of a claim looks at (both backends); beyond
/// it a claim steps from lane to lane, so its cost never grows with one lane's backlog.
pub const CLAIM_WINDOW: usize = 512;

/// The row id of an ingress message, unique in one store and increasing with arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IngressId(i64);

impl IngressId {
    /// Wraps a raw id (as printed by [`IngressId::as_i64`] or stored elsewhere).
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

impl std::fmt::Display for IngressId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A message to make durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIngress {
    /// The channel account that received it.
    pub account: String,
    /// The provider's id of the event (Twilio `MessageSid`): the deduplication key per account.
    pub event_id: String,
    /// The lane: messages of one lane run one at a time, in arrival order (e.g. `sender:+1555…`).
    pub lane: String,
    /// The raw payload, stored byte for byte.
    pub payload: Vec<u8>,
    /// When the gateway received it, unix milliseconds.
    pub received_at: i64,
}

impl NewIngress {
    /// Refuses an empty account, event id or lane (every backend checks this first).
    pub(crate) fn check_ids(&self) -> Result<(), StoreError> {
        for (what, value) in [
            ("account", &self.account),
            ("event id", &self.event_id),
            ("lane", &self.lane),
        ] {
            if value.is_empty() {
                return Err(StoreError::InvalidInput {
                    what,
                    reason: "empty".to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// Where an ingress message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IngressState {
    /// Waiting to be claimed (possibly not before a retry time).
    Pending,
    /// Claimed by the pump and not finished yet.
    Claimed,
    /// Parked with its payload while a pairing request decides its fate; not in its lane.
    Held,
    /// Finished; only a tombstone (the event id) remains.
    Completed,
    /// Failed permanently; kept with its payload for inspection and resubmission.
    DeadLettered,
}

impl IngressState {
    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Claimed => "claimed",
            Self::Held => "held",
            Self::Completed => "completed",
            Self::DeadLettered => "dead",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(stored: &str) -> Result<Self, StoreError> {
        Ok(match stored {
            "pending" => Self::Pending,
            "claimed" => Self::Claimed,
            "held" => Self::Held,
            "completed" => Self::Completed,
            "dead" => Self::DeadLettered,
            other => {
                return Err(StoreError::DecodeRow {
                    what: "ingress state",
                    reason: format!("unknown state {other:?}"),
                });
            }
        })
    }
}

impl std::fmt::Display for IngressState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to an enqueue, given only after the commit is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// New message, stored.
    Accepted {
        /// Its id.
        id: IngressId,
    },
    /// The event id was seen before (and not pruned); nothing was written.
    Duplicate {
        /// The earlier message's id.
        id: IngressId,
        /// Its state: `Completed` or `DeadLettered` is the earlier outcome.
        state: IngressState,
    },
}

impl Enqueued {
    /// The id of the stored message (new or earlier).
    #[must_use]
    pub const fn id(self) -> IngressId {
        match self {
            Self::Accepted { id } | Self::Duplicate { id, .. } => id,
        }
    }

    /// Whether this was a duplicate.
    #[must_use]
    pub const fn is_duplicate(self) -> bool {
        matches!(self, Self::Duplicate { .. })
    }
}

/// Which accounts a claim draws from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimScope {
    /// Every account.
    All,
    /// One account.
    Account(String),
}

/// A message handed to the pump. It stays claimed until completed, failed, held or
/// dead-lettered; a store that is reopened after a crash makes it claimable again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Its id.
    pub id: IngressId,
    /// The account.
    pub account: String,
    /// The provider event id.
    pub event_id: String,
    /// The lane.
    pub lane: String,
    /// The raw payload.
    pub payload: Vec<u8>,
    /// The original receive time (replays use it, as upstream does).
    pub received_at: i64,
    /// Which attempt this is, from 1: every claim counts, including claims lost to a crash.
    pub attempt: u32,
    /// The error of the previous attempt, if it failed transiently.
    pub last_error: Option<String>,
}

/// A transient failure: the message goes back to its lane's head and waits until `retry_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransientFailure {
    /// Now, unix milliseconds.
    pub now: i64,
    /// What went wrong (kept as `last_error`; no payload content, please).
    pub error: String,
    /// Not claimable before this time, unix milliseconds.
    pub retry_at: i64,
}

/// A dead-lettered message, as listed for operators (payload not included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its id (for [`IngressQueue::resubmit`]).
    pub id: IngressId,
    /// The account.
    pub account: String,
    /// The provider event id.
    pub event_id: String,
    /// The lane.
    pub lane: String,
    /// The original receive time.
    pub received_at: i64,
    /// Attempts made.
    pub attempts: u32,
    /// Why it was dead-lettered.
    pub reason: String,
    /// The last transient error before that, if any.
    pub last_error: Option<String>,
    /// When it was dead-lettered.
    pub failed_at: i64,
    /// Size of the kept payload in bytes.
    pub payload_len: u64,
}

/// What [`IngressQueue::prune_ingress`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngressPruned {
    /// Tombstones of completed messages (too old or over the per-account cap).
    pub tombstones: u64,
    /// Dead letters (too old or over the per-account cap).
    pub dead_letters: u64,
}

/// Exponential backoff with a cap, for [`TransientFailure::retry_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    /// Delay after the first attempt, milliseconds.
    pub base_ms: i64,
    /// The delay never exceeds this, milliseconds.
    pub max_ms: i64,
}

impl RetryBackoff {
    /// 1 s doubling up to 5 minutes.
    pub const DEFAULT: Self = Self {
        base_ms: 1_000,
        max_ms: 300_000,
    };

    /// The delay after failed attempt `attempt` (1-based): `base * 2^(attempt-1)`, capped at
    /// `max`, then scaled into `[delay/2, delay]` by `jitter` (the caller's random number in
    /// `[0, 1]`; values outside are clamped). Pure: no clock, no randomness of its own.
    #[must_use]
    pub fn delay_ms(&self, attempt: u32, jitter: f64) -> i64 {
        let base = self.base_ms.max(0);
        let max = self.max_ms.max(base);
        let shift = attempt.saturating_sub(1).min(62);
        let raw = base.checked_mul(1_i64 << shift).unwrap_or(max).min(max);
        let jitter = if jitter.is_nan() {
            1.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let half = raw / 2;
        // The product is at most `raw - half`, so it fits in i64; truncation is intended.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let extra = ((raw - half) as f64 * jitter) as i64;
        half + extra
    }
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The durable ingress queue.
///
/// Every write is answered only after it is committed durably. Lanes: at most one message of a
/// lane is claimed at a time, and a lane's messages are claimed in arrival order; a message
/// waiting for a retry blocks the messages behind it in its lane (as upstream).
#[async_trait]
pub trait IngressQueue: Send + Sync {
    /// Stores a new message or reports the earlier one with the same `(account, event_id)`,
    /// atomically.
    async fn enqueue(&self, item: NewIngress) -> Result<Enqueued, StoreError>;

    /// Claims up to `limit` messages, at most one per lane, each the oldest unfinished message
    /// of its lane, with no other message of that lane claimed, and due at `now`.
    async fn claim_next(
        &self,
        scope: ClaimScope,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Finishes a claimed message: its payload is dropped and its id kept as a tombstone.
    async fn complete(&self, id: IngressId, now: i64) -> Result<(), StoreError>;

    /// Returns a claimed message to its lane to be retried at `failure.retry_at`.
    async fn fail_transient(
        &self,
        id: IngressId,
        failure: TransientFailure,
    ) -> Result<(), StoreError>;

    /// Fails a claimed or pending message permanently, keeping it for inspection.
    async fn dead_letter(&self, id: IngressId, reason: &str, now: i64) -> Result<(), StoreError>;

    /// Parks a claimed message (with its payload) outside its lane, e.g. the first message of a
    /// sender waiting for pairing approval. Approval releases it
    /// ([`crate::PairingStore::approve`]); expiry discards it.
    async fn hold(&self, id: IngressId, now: i64) -> Result<(), StoreError>;

    /// Puts a held message back into its lane, due at `now`.
    async fn release_held(&self, id: IngressId, now: i64) -> Result<(), StoreError>;

    /// Finishes a held message without running it (it becomes a tombstone).
    async fn discard_held(&self, id: IngressId, now: i64) -> Result<(), StoreError>;

    /// The dead letters of an account, oldest first.
    async fn list_dead_letters(&self, account: &str) -> Result<Vec<DeadLetter>, StoreError>;

    /// Puts a dead letter back into its lane with a fresh attempt count, due at `now`.
    async fn resubmit(&self, id: IngressId, now: i64) -> Result<(), StoreError>;

    /// Messages of an account not finished yet (pending or claimed; held ones not counted).
    async fn queue_depth(&self, account: &str) -> Result<u64, StoreError>;

    /// Drops tombstones and dead letters that are too old or over their per-account caps.
    async fn prune_ingress(&self, now: i64) -> Result<IngressPruned, StoreError>;

    /// Whether a message could be made durable now: for a store on a database server, that
    /// the server answers (within [`crate::READY_CHECK_TIMEOUT`]); an embedded store is always
    /// ready (the default). Cheap enough for a load balancer's readiness probe.
    async fn check_ready(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// How long a claim stays valid without renewal, in milliseconds, for a store shared by
    /// several processes (PostgreSQL): a claim not renewed in time is taken over by another
    /// process. `None` (the default) for a store owned by one process (SQLite), whose claims
    /// last until the message is finished or the store is reopened.
    fn claim_lease_ms(&self) -> Option<i64> {
        None
    }

    /// Extends the lease of every message this handle has claimed and not finished yet to
    /// `now` plus [`IngressQueue::claim_lease_ms`]; returns how many. The pump calls it well
    /// within the lease (every third of it). Stores without leases do nothing.
    async fn renew_claims(&self, now: i64) -> Result<u64, StoreError> {
        let _ = now;
        Ok(0)
    }

    /// Gives back every message this handle has claimed and not finished: each is pending
    /// again at its lane's head, due at `now`, its attempt count kept; returns how many. Called
    /// at a shutdown whose grace ran out, so that another process can take the messages over
    /// at once instead of after the lease. Stores without leases do nothing (their claims are
    /// reset when the store is opened again).
    async fn release_claims(&self, now: i64) -> Result<u64, StoreError> {
        let _ = now;
        Ok(0)
    }

    /// What this handle has written since it was opened ([`crate::StoreCounts`]), for
    /// `/metrics` and the benchmark; `None` (the default) for a store that does not count.
    fn store_counts(&self) -> Option<crate::StoreCounts> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(attempt: u32, jitter: f64, expected: i64) {
        let backoff = RetryBackoff {
            base_ms: 1_000,
            max_ms: 60_000,
        };
        assert_eq!(
            backoff.delay_ms(attempt, jitter),
            expected,
            "attempt {attempt} jitter {jitter}"
        );
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        check(0, 1.0, 1_000);
        check(1, 1.0, 1_000);
        check(2, 1.0, 2_000);
        check(3, 1.0, 4_000);
        check(6, 1.0, 32_000);
        check(7, 1.0, 60_000);
        check(40, 1.0, 60_000);
        check(u32::MAX, 1.0, 60_000);
        check(1, 0.0, 500);
        check(3, 0.5, 3_000);
        check(7, 0.0, 30_000);
        check(2, -3.0, 1_000);
        check(2, 7.0, 2_000);
        check(2, f64::NAN, 2_000);
    }

    #[test]
    fn backoff_with_silly_bounds_stays_sane() {
        let b = RetryBackoff {
            base_ms: -5,
            max_ms: -10,
        };
        assert_eq!(b.delay_ms(5, 1.0), 0);
        let b = RetryBackoff {
            base_ms: i64::MAX,
            max_ms: 10,
        };
        assert_eq!(b.delay_ms(3, 1.0), i64::MAX);
    }

    #[test]
    fn states_round_trip() {
        for s in [
            IngressState::Pending,
            IngressState::Claimed,
            IngressState::Held,
            IngressState::Completed,
            IngressState::DeadLettered,
        ] {
            assert_eq!(IngressState::parse(s.as_str()), Ok(s));
        }
        assert!(IngressState::parse("done").is_err());
    }
}
