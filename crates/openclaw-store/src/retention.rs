//! How long finished state is kept, and how much of it: one set of bounds for both backends.

use crate::delivery::{DELIVERY_TTL_MS, MAX_DELIVERY_RECORDS};
use crate::ingress::{
    DEAD_LETTER_TTL_MS, MAX_DEAD_LETTERS_PER_ACCOUNT, MAX_TOMBSTONES_PER_ACCOUNT, TOMBSTONE_TTL_MS,
};
use crate::optout::HISTORY_PER_PEER;
use crate::outbound::INTENT_TTL_MS;

/// The retention bounds (lifetimes and caps) a store prunes to. SQLite ([`crate::StoreOptions`])
/// and PostgreSQL ([`crate::PostgresOptions`]) take the same struct, so that both keep the same
/// state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Tombstone lifetime ([`TOMBSTONE_TTL_MS`]).
    pub tombstone_ttl_ms: i64,
    /// Tombstones per account ([`MAX_TOMBSTONES_PER_ACCOUNT`]).
    pub max_tombstones_per_account: u64,
    /// Dead-letter lifetime ([`DEAD_LETTER_TTL_MS`]).
    pub dead_letter_ttl_ms: i64,
    /// Dead letters per account ([`MAX_DEAD_LETTERS_PER_ACCOUNT`]).
    pub max_dead_letters_per_account: u64,
    /// History turns per (account, peer) ([`HISTORY_PER_PEER`]).
    pub history_per_peer: usize,
    /// Delivery record lifetime after the last observation ([`DELIVERY_TTL_MS`]).
    pub delivery_ttl_ms: i64,
    /// Delivery records kept ([`MAX_DELIVERY_RECORDS`]).
    pub max_delivery_records: u64,
    /// Lifetime of finished outbound intents, saved replies and agent-turn counters
    /// ([`INTENT_TTL_MS`]).
    pub intent_ttl_ms: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            tombstone_ttl_ms: TOMBSTONE_TTL_MS,
            max_tombstones_per_account: MAX_TOMBSTONES_PER_ACCOUNT,
            dead_letter_ttl_ms: DEAD_LETTER_TTL_MS,
            max_dead_letters_per_account: MAX_DEAD_LETTERS_PER_ACCOUNT,
            history_per_peer: HISTORY_PER_PEER,
            delivery_ttl_ms: DELIVERY_TTL_MS,
            max_delivery_records: MAX_DELIVERY_RECORDS,
            intent_ttl_ms: INTENT_TTL_MS,
        }
    }
}
