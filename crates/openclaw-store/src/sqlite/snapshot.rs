//! [`StateSnapshot`] export on SQLite.

use rusqlite::Connection;

use super::SqliteStore;
use crate::StoreError;
use crate::delivery::DeliveryRecord;
use crate::ingress::{IngressId, IngressState};
use crate::optout::{HistoryEntry, OptOut, Role};
use crate::outbound::{IntentId, IntentState, OutboundIntent, SavedReply};
use crate::pairing::{AllowEntry, PairingKey};
use crate::snapshot::{
    SnapshotAllowEntry, SnapshotHistory, SnapshotIngress, SnapshotPairingRequest, SnapshotTurns,
    StateSnapshot,
};

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// Runs `sql` and maps each row; a decode step may fail with a store error.
fn rows<T>(
    conn: &Connection,
    context: &'static str,
    sql: &str,
    map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Result<T, StoreError>>,
) -> Result<Vec<T>, StoreError> {
    let raw: Vec<Result<T, StoreError>> = conn
        .prepare(sql)
        .and_then(|mut s| s.query_map([], |r| map(r))?.collect())
        .map_err(StoreError::query(context))?;
    raw.into_iter().collect()
}

fn export(conn: &Connection) -> Result<StateSnapshot, StoreError> {
    let ingress = rows(
        conn,
        "export ingress",
        "SELECT id, account, event_id, lane, payload, received_at, state, attempts, available_at,
                last_error, dead_reason, finished_at FROM ingress ORDER BY id",
        |r| {
            let state: String = r.get(6)?;
            let attempts: i64 = r.get(7)?;
            let item = SnapshotIngress {
                id: IngressId::new(r.get(0)?),
                account: r.get(1)?,
                event_id: r.get(2)?,
                lane: r.get(3)?,
                payload: r.get(4)?,
                received_at: r.get(5)?,
                state: IngressState::Pending,
                attempts: to_u32(attempts),
                available_at: r.get(8)?,
                last_error: r.get(9)?,
                dead_reason: r.get(10)?,
                finished_at: r.get(11)?,
            };
            Ok(IngressState::parse(&state).map(|state| SnapshotIngress {
                state: match state {
                    IngressState::Claimed => IngressState::Pending,
                    other => other,
                },
                ..item
            }))
        },
    )?;
    let pairing_requests = rows(
        conn,
        "export pairing requests",
        "SELECT code, sender_id, meta_json, created_at, last_seen_at, held_event_id, channel, account
         FROM pairing_requests ORDER BY channel, account, created_at, sender_id",
        |r| {
            let key = PairingKey::new(r.get::<_, String>(6)?, r.get::<_, String>(7)?);
            Ok(super::pairing::raw(r)
                .map(super::pairing::decode)?
                .map(|request| SnapshotPairingRequest { key, request }))
        },
    )?;
    let allow_entries = rows(
        conn,
        "export allow entries",
        "SELECT channel, account, entry, added_at FROM allow_entries
         ORDER BY channel, account, added_at, entry",
        |r| {
            Ok(Ok(SnapshotAllowEntry {
                key: PairingKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                entry: AllowEntry {
                    entry: r.get(2)?,
                    added_at: r.get(3)?,
                },
            }))
        },
    )?;
    let opt_outs = rows(
        conn,
        "export opt-outs",
        "SELECT account, number, keyword, at FROM opt_outs ORDER BY account, number",
        |r| {
            Ok(Ok(OptOut {
                account: r.get(0)?,
                number: r.get(1)?,
                keyword: r.get(2)?,
                at: r.get(3)?,
            }))
        },
    )?;
    let history = rows(
        conn,
        "export history",
        "SELECT account, peer, role, text, at FROM history ORDER BY id",
        |r| {
            let role: String = r.get(2)?;
            let (account, peer, text, at) = (r.get(0)?, r.get(1)?, r.get(3)?, r.get(4)?);
            Ok(Role::parse(&role).map(|role| SnapshotHistory {
                account,
                peer,
                entry: HistoryEntry { role, text, at },
            }))
        },
    )?;
    let deliveries = rows(
        conn,
        "export deliveries",
        "SELECT account, message_sid, status, error_code, first_observed_at, last_observed_at,
                conflict, observations FROM deliveries ORDER BY rowid",
        |r| {
            Ok(Ok(DeliveryRecord {
                account: r.get(0)?,
                message_sid: r.get(1)?,
                status: r.get(2)?,
                error_code: r.get(3)?,
                first_observed_at: r.get(4)?,
                last_observed_at: r.get(5)?,
                conflict: r.get(6)?,
                observations: to_u32(r.get(7)?),
            }))
        },
    )?;
    let intents = rows(
        conn,
        "export outbound intents",
        "SELECT id, reply_id, account, recipient, body_hash, part_index, part_count, state,
                message_sid, error, created_at, updated_at FROM outbound_intents ORDER BY id",
        |r| {
            let state: String = r.get(7)?;
            let intent = OutboundIntent {
                id: IntentId::new(r.get(0)?),
                reply_id: r.get(1)?,
                account: r.get(2)?,
                recipient: r.get(3)?,
                body_hash: r.get(4)?,
                part_index: to_u32(r.get(5)?),
                part_count: to_u32(r.get(6)?),
                state: IntentState::Pending,
                message_sid: r.get(8)?,
                error: r.get(9)?,
                created_at: r.get(10)?,
                updated_at: r.get(11)?,
            };
            Ok(IntentState::parse(&state).map(|state| OutboundIntent { state, ..intent }))
        },
    )?;
    let replies = rows(
        conn,
        "export saved replies",
        "SELECT reply_id, account, recipient, text, created_at FROM saved_replies ORDER BY reply_id",
        |r| {
            Ok(Ok(SavedReply {
                reply_id: r.get(0)?,
                account: r.get(1)?,
                recipient: r.get(2)?,
                text: r.get(3)?,
                created_at: r.get(4)?,
            }))
        },
    )?;
    let turns = rows(
        conn,
        "export agent turns",
        "SELECT account, event_id, turns, first_at, last_at FROM agent_turns
         ORDER BY account, event_id",
        |r| {
            Ok(Ok(SnapshotTurns {
                account: r.get(0)?,
                event_id: r.get(1)?,
                turns: to_u32(r.get(2)?),
                first_at: r.get(3)?,
                last_at: r.get(4)?,
            }))
        },
    )?;
    Ok(StateSnapshot {
        ingress,
        pairing_requests,
        allow_entries,
        opt_outs,
        history,
        deliveries,
        intents,
        replies,
        turns,
    })
}

impl SqliteStore {
    /// Every table's rows, read in one transaction on the writer (a consistent picture; other
    /// writes wait meanwhile). Claimed messages are exported as pending: their claim belonged
    /// to this process.
    pub async fn export_snapshot(&self) -> Result<StateSnapshot, StoreError> {
        self.write(export).await
    }
}
