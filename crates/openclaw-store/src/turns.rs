//! Agent-turn accounting: how many times the agent was asked to answer each inbound event.
//!
//! The pipeline records a turn each time it calls the agent for an event; the chaos test then
//! checks that every acknowledged message was answered exactly once (one turn per event id),
//! however often the gateway was killed in between.

use async_trait::async_trait;

use crate::StoreError;

/// A per-(account, event id) counter of agent turns. Counters are dropped with finished
/// intents by [`OutboundStore::prune_intents`](crate::OutboundStore::prune_intents), once their
/// last turn is older than [`INTENT_TTL_MS`](crate::INTENT_TTL_MS).
#[async_trait]
pub trait TurnLedger: Send + Sync {
    /// Counts one more agent turn for `(account, event_id)` at `now` (unix milliseconds);
    /// returns the count including this one (1 for the first turn).
    async fn record_agent_turn(
        &self,
        account: &str,
        event_id: &str,
        now: i64,
    ) -> Result<u32, StoreError>;

    /// Every counted event of an account, `(event_id, turns)`, by event id.
    async fn agent_turns(&self, account: &str) -> Result<Vec<(String, u32)>, StoreError>;
}
