//! [`StateSnapshot`] export and import on PostgreSQL.

use std::collections::HashMap;

use super::conn::Sql;

use super::delivery::{COLUMNS as DELIVERY_COLUMNS, row_of as delivery_row};
use super::ingress::{execute, query, query_opt};
use super::misc::row_opt_out;
use super::outbound::{COLUMNS as INTENT_COLUMNS, reply_row, row as intent_row};
use super::pairing::decode_request;
use super::{LOCK_CLASS_IMPORT, PostgresStore, decode, pg, to_u32};
use crate::StoreError;
use crate::ingress::{IngressId, IngressState};
use crate::optout::Role;
use crate::pairing::{AllowEntry, PairingKey};
use crate::snapshot::{
    CopyReport, SnapshotAllowEntry, SnapshotHistory, SnapshotIngress, SnapshotPairingRequest,
    SnapshotTurns, StateSnapshot,
};

async fn export<C: Sql + ?Sized>(c: &C) -> Result<StateSnapshot, StoreError> {
    let mut s = StateSnapshot::default();
    let d = decode("snapshot row");
    for r in query(
        c,
        "export ingress",
        "SELECT id, account, event_id, lane, payload, received_at, state, attempts, available_at,
                last_error, dead_reason, finished_at FROM ingress ORDER BY id",
        &[],
    )
    .await?
    {
        let state: String = r.try_get(6).map_err(&d)?;
        let state = match IngressState::parse(&state)? {
            IngressState::Claimed => IngressState::Pending,
            other => other,
        };
        s.ingress.push(SnapshotIngress {
            id: IngressId::new(r.try_get(0).map_err(&d)?),
            account: r.try_get(1).map_err(&d)?,
            event_id: r.try_get(2).map_err(&d)?,
            lane: r.try_get(3).map_err(&d)?,
            payload: r.try_get(4).map_err(&d)?,
            received_at: r.try_get(5).map_err(&d)?,
            state,
            attempts: to_u32(r.try_get(7).map_err(&d)?),
            available_at: r.try_get(8).map_err(&d)?,
            last_error: r.try_get(9).map_err(&d)?,
            dead_reason: r.try_get(10).map_err(&d)?,
            finished_at: r.try_get(11).map_err(&d)?,
        });
    }
    for r in query(
        c,
        "export pairing requests",
        "SELECT code, sender_id, meta_json, created_at, last_seen_at, held_event_id, channel, account
         FROM pairing_requests ORDER BY channel, account, created_at, sender_id",
        &[],
    )
    .await?
    {
        s.pairing_requests.push(SnapshotPairingRequest {
            key: PairingKey::new(
                r.try_get::<_, String>(6).map_err(&d)?,
                r.try_get::<_, String>(7).map_err(&d)?,
            ),
            request: decode_request(&r)?,
        });
    }
    for r in query(
        c,
        "export allow entries",
        "SELECT channel, account, entry, added_at FROM allow_entries
         ORDER BY channel, account, added_at, entry",
        &[],
    )
    .await?
    {
        s.allow_entries.push(SnapshotAllowEntry {
            key: PairingKey::new(
                r.try_get::<_, String>(0).map_err(&d)?,
                r.try_get::<_, String>(1).map_err(&d)?,
            ),
            entry: AllowEntry {
                entry: r.try_get(2).map_err(&d)?,
                added_at: r.try_get(3).map_err(&d)?,
            },
        });
    }
    for r in query(
        c,
        "export opt-outs",
        "SELECT account, number, keyword, at FROM opt_outs ORDER BY account, number",
        &[],
    )
    .await?
    {
        s.opt_outs.push(row_opt_out(&r)?);
    }
    for r in query(
        c,
        "export history",
        "SELECT account, peer, role, text, at FROM history ORDER BY id",
        &[],
    )
    .await?
    {
        let role: String = r.try_get(2).map_err(&d)?;
        s.history.push(SnapshotHistory {
            account: r.try_get(0).map_err(&d)?,
            peer: r.try_get(1).map_err(&d)?,
            entry: crate::optout::HistoryEntry {
                role: Role::parse(&role)?,
                text: r.try_get(3).map_err(&d)?,
                at: r.try_get(4).map_err(&d)?,
            },
        });
    }
    for r in query(
        c,
        "export deliveries",
        &format!("SELECT {DELIVERY_COLUMNS} FROM deliveries ORDER BY seq"),
        &[],
    )
    .await?
    {
        s.deliveries.push(delivery_row(&r)?);
    }
    for r in query(
        c,
        "export outbound intents",
        &format!("SELECT {INTENT_COLUMNS} FROM outbound_intents ORDER BY id"),
        &[],
    )
    .await?
    {
        s.intents.push(intent_row(&r)?);
    }
    for r in query(
        c,
        "export saved replies",
        "SELECT reply_id, account, recipient, text, created_at FROM saved_replies ORDER BY reply_id",
        &[],
    )
    .await?
    {
        s.replies.push(reply_row(&r)?);
    }
    for r in query(
        c,
        "export agent turns",
        "SELECT account, event_id, turns, first_at, last_at FROM agent_turns
         ORDER BY account, event_id",
        &[],
    )
    .await?
    {
        s.turns.push(SnapshotTurns {
            account: r.try_get(0).map_err(&d)?,
            event_id: r.try_get(1).map_err(&d)?,
            turns: to_u32(r.try_get(2).map_err(&d)?),
            first_at: r.try_get(3).map_err(&d)?,
            last_at: r.try_get(4).map_err(&d)?,
        });
    }
    Ok(s)
}

async fn import<C: Sql + ?Sized>(c: &C, s: &StateSnapshot) -> Result<CopyReport, StoreError> {
    let mut report = CopyReport::default();
    let d = decode("ingress id");
    let mut ids: HashMap<IngressId, i64> = HashMap::with_capacity(s.ingress.len());
    for m in &s.ingress {
        let state = match m.state {
            IngressState::Claimed => IngressState::Pending,
            other => other,
        };
        let inserted = query_opt(
            c,
            "import ingress message",
            "INSERT INTO ingress (account, event_id, lane, payload, received_at, state, attempts,
                                  available_at, last_error, dead_reason, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (account, event_id) DO NOTHING RETURNING id",
            &[
                &m.account,
                &m.event_id,
                &m.lane,
                &m.payload,
                &m.received_at,
                &state.as_str(),
                &i64::from(m.attempts),
                &m.available_at,
                &m.last_error,
                &m.dead_reason,
                &m.finished_at,
            ],
        )
        .await?;
        report.ingress.count(inserted.is_some());
        let row = match inserted {
            Some(row) => Some(row),
            None => {
                query_opt(
                    c,
                    "find imported ingress message",
                    "SELECT id FROM ingress WHERE account = $1 AND event_id = $2",
                    &[&m.account, &m.event_id],
                )
                .await?
            }
        };
        if let Some(row) = row {
            ids.insert(m.id, row.try_get(0).map_err(&d)?);
        }
    }
    for p in &s.pairing_requests {
        let r = &p.request;
        let meta = serde_json::to_string(&r.meta).map_err(|e| StoreError::InvalidInput {
            what: "pairing meta",
            reason: e.to_string(),
        })?;
        let held = r.held_event_id.and_then(|id| ids.get(&id).copied());
        let n = execute(
            c,
            "import pairing request",
            "INSERT INTO pairing_requests (channel, account, sender_id, code, meta_json, created_at,
                                           last_seen_at, held_event_id)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8
             WHERE NOT EXISTS (SELECT 1 FROM allow_entries
                               WHERE channel = $1 AND account = $2 AND entry = $3)
             ON CONFLICT DO NOTHING",
            &[
                &p.key.channel,
                &p.key.account,
                &r.sender_id,
                &r.code.to_ascii_uppercase(),
                &meta,
                &r.created_at,
                &r.last_seen_at,
                &held,
            ],
        )
        .await?;
        report.pairing_requests.count(n > 0);
    }
    for a in &s.allow_entries {
        let n = execute(
            c,
            "import allow entry",
            "INSERT INTO allow_entries (channel, account, entry, added_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[
                &a.key.channel,
                &a.key.account,
                &a.entry.entry,
                &a.entry.added_at,
            ],
        )
        .await?;
        report.allow_entries.count(n > 0);
    }
    for o in &s.opt_outs {
        let n = execute(
            c,
            "import opt-out",
            "INSERT INTO opt_outs (account, number, keyword, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&o.account, &o.number, &o.keyword, &o.at],
        )
        .await?;
        report.opt_outs.count(n > 0);
    }
    for h in &s.history {
        let n = execute(
            c,
            "import history turn",
            "INSERT INTO history (account, peer, role, text, at)
             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (
                SELECT 1 FROM history WHERE account = $1 AND peer = $2 AND role = $3
                  AND text = $4 AND at = $5)",
            &[
                &h.account,
                &h.peer,
                &h.entry.role.as_str(),
                &h.entry.text,
                &h.entry.at,
            ],
        )
        .await?;
        report.history.count(n > 0);
    }
    for r in &s.deliveries {
        let n = execute(
            c,
            "import delivery record",
            "INSERT INTO deliveries (account, message_sid, status, error_code, first_observed_at,
                                     last_observed_at, conflict, observations)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            &[
                &r.account,
                &r.message_sid,
                &r.status,
                &r.error_code,
                &r.first_observed_at,
                &r.last_observed_at,
                &r.conflict,
                &i64::from(r.observations),
            ],
        )
        .await?;
        report.deliveries.count(n > 0);
    }
    for i in &s.intents {
        let n = execute(
            c,
            "import outbound intent",
            "INSERT INTO outbound_intents (reply_id, account, recipient, body_hash, part_index,
                                           part_count, state, message_sid, error, created_at,
                                           updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            &[
                &i.reply_id,
                &i.account,
                &i.recipient,
                &i.body_hash,
                &i64::from(i.part_index),
                &i64::from(i.part_count),
                &i.state.as_str(),
                &i.message_sid,
                &i.error,
                &i.created_at,
                &i.updated_at,
            ],
        )
        .await?;
        report.intents.count(n > 0);
    }
    for r in &s.replies {
        let n = execute(
            c,
            "import saved reply",
            "INSERT INTO saved_replies (reply_id, account, recipient, text, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                &r.reply_id,
                &r.account,
                &r.recipient,
                &r.text,
                &r.created_at,
            ],
        )
        .await?;
        report.replies.count(n > 0);
    }
    for t in &s.turns {
        let n = execute(
            c,
            "import agent turns",
            "INSERT INTO agent_turns (account, event_id, turns, first_at, last_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                &t.account,
                &t.event_id,
                &i64::from(t.turns),
                &t.first_at,
                &t.last_at,
            ],
        )
        .await?;
        report.turns.count(n > 0);
    }
    Ok(report)
}

impl PostgresStore {
    /// Every table's rows, read in one repeatable-read transaction (a consistent picture while
    /// gateways keep writing). Claimed messages are exported as pending.
    pub async fn export_snapshot(&self) -> Result<StateSnapshot, StoreError> {
        let mut client = self.conn().await?;
        let tx = client
            .snapshot_transaction()
            .await
            .map_err(pg("begin export"))?;
        let snapshot = export(&tx).await?;
        tx.commit().await.map_err(pg("end export"))?;
        Ok(snapshot)
    }

    /// Copies a snapshot in, in one transaction: rows whose key is already present are left
    /// as they are (so a second import of the same snapshot copies nothing, even after
    /// requests were approved meanwhile: a request of a sender already allowed is skipped),
    /// ingress ids are
    /// assigned anew (lane order kept) and pairing requests' held messages follow them.
    /// Retention caps are not applied here; the next prune applies them.
    pub async fn import_snapshot(&self, s: &StateSnapshot) -> Result<CopyReport, StoreError> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await.map_err(pg("begin import"))?;
        execute(
            &tx,
            "lock import",
            "SELECT pg_advisory_xact_lock($1, 0)",
            &[&LOCK_CLASS_IMPORT],
        )
        .await?;
        let report = import(&tx, s).await?;
        tx.commit().await.map_err(pg("commit import"))?;
        Ok(report)
    }
}
