//! A backend-neutral copy of the whole state, for moving it between backends (`openclaw
//! state copy`: [`SqliteStore::export_snapshot`](crate::SqliteStore::export_snapshot), then
//! `PostgresStore::import_snapshot`).
//!
//! A snapshot holds every row a gateway needs to continue where the source stopped. Claimed
//! messages are exported as pending (their claim belonged to the source's process); ids are
//! the source's and are remapped by the importer (held messages of pairing requests follow).

use crate::delivery::DeliveryRecord;
use crate::ingress::{IngressId, IngressState};
use crate::optout::{HistoryEntry, OptOut};
use crate::outbound::{OutboundIntent, SavedReply};
use crate::pairing::{AllowEntry, PairingKey, PairingRequest};

/// One ingress row: pending, held, dead-lettered, or a completed tombstone (empty payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotIngress {
    /// Its id in the source store.
    pub id: IngressId,
    /// The account.
    pub account: String,
    /// The provider event id (the deduplication key with the account).
    pub event_id: String,
    /// The lane.
    pub lane: String,
    /// The payload (empty for tombstones).
    pub payload: Vec<u8>,
    /// Original receive time.
    pub received_at: i64,
    /// Its state (`Claimed` is exported as `Pending`).
    pub state: IngressState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not claimable before this time.
    pub available_at: i64,
    /// The last transient error.
    pub last_error: Option<String>,
    /// Why it was dead-lettered.
    pub dead_reason: Option<String>,
    /// When it was completed, held or dead-lettered.
    pub finished_at: Option<i64>,
}

/// One pairing request with its key.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotPairingRequest {
    /// The pairing list.
    pub key: PairingKey,
    /// The request (its `held_event_id` is the source's id).
    pub request: PairingRequest,
}

/// One allow entry with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotAllowEntry {
    /// The pairing list.
    pub key: PairingKey,
    /// The entry.
    pub entry: AllowEntry,
}

/// One history turn with its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHistory {
    /// The account.
    pub account: String,
    /// The peer.
    pub peer: String,
    /// The turn.
    pub entry: HistoryEntry,
}

/// One agent-turn counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTurns {
    /// The account.
    pub account: String,
    /// The inbound event id.
    pub event_id: String,
    /// Agent turns counted.
    pub turns: u32,
    /// First turn, unix milliseconds.
    pub first_at: i64,
    /// Last turn, unix milliseconds.
    pub last_at: i64,
}

/// Every table's rows, each list in its source order (ids ascending where there are ids).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateSnapshot {
    /// The ingress queue, including held messages, dead letters and tombstones.
    pub ingress: Vec<SnapshotIngress>,
    /// Pairing requests.
    pub pairing_requests: Vec<SnapshotPairingRequest>,
    /// Allow entries.
    pub allow_entries: Vec<SnapshotAllowEntry>,
    /// Opt-outs.
    pub opt_outs: Vec<OptOut>,
    /// Conversation history, oldest first.
    pub history: Vec<SnapshotHistory>,
    /// Delivery records, in first-insert order.
    pub deliveries: Vec<DeliveryRecord>,
    /// Outbound intents (ids are the source's).
    pub intents: Vec<OutboundIntent>,
    /// Saved replies.
    pub replies: Vec<SavedReply>,
    /// Agent-turn counters.
    pub turns: Vec<SnapshotTurns>,
}

/// How many rows of one table an import wrote and how many it found already there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCopy {
    /// Rows written.
    pub copied: u64,
    /// Rows whose key was already present (left unchanged).
    pub already_present: u64,
}

impl TableCopy {
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // only importers count
    pub(crate) fn count(&mut self, copied: bool) {
        if copied {
            self.copied += 1;
        } else {
            self.already_present += 1;
        }
    }
}

/// What an import did, per table. An import is one transaction: all of it or none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Ingress rows (deduplicated by account and event id).
    pub ingress: TableCopy,
    /// Pairing requests (by key and sender; a request whose code is taken counts as present).
    pub pairing_requests: TableCopy,
    /// Allow entries.
    pub allow_entries: TableCopy,
    /// Opt-outs (an existing opt-out of the number is kept).
    pub opt_outs: TableCopy,
    /// History turns (a turn identical in every field is present).
    pub history: TableCopy,
    /// Delivery records.
    pub deliveries: TableCopy,
    /// Outbound intents (by reply and part index).
    pub intents: TableCopy,
    /// Saved replies.
    pub replies: TableCopy,
    /// Agent-turn counters.
    pub turns: TableCopy,
}

impl CopyReport {
    /// Rows written in all tables.
    #[must_use]
    pub const fn copied(&self) -> u64 {
        self.ingress.copied
            + self.pairing_requests.copied
            + self.allow_entries.copied
            + self.opt_outs.copied
            + self.history.copied
            + self.deliveries.copied
            + self.intents.copied
            + self.replies.copied
            + self.turns.copied
    }
}
