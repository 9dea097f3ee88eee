//! [`OutboundStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::SqliteStore;
use super::ingress::to_u64;
use crate::StoreError;
use crate::outbound::{
    IntentCreated, IntentId, IntentState, NewIntent, NewReply, OutboundIntent, OutboundStore,
    SavedReply,
};

const COLUMNS: &str = "id, reply_id, account, recipient, body_hash, part_index, part_count, state, message_sid, error, created_at, updated_at";

type Raw = (OutboundIntent, String);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    let count = |i: usize| -> rusqlite::Result<u32> {
        Ok(u32::try_from(r.get::<_, i64>(i)?).unwrap_or(u32::MAX))
    };
    Ok((
        OutboundIntent {
            id: IntentId::new(r.get(0)?),
            reply_id: r.get(1)?,
            account: r.get(2)?,
            recipient: r.get(3)?,
            body_hash: r.get(4)?,
            part_index: count(5)?,
            part_count: count(6)?,
            state: IntentState::Pending,
            message_sid: r.get(8)?,
            error: r.get(9)?,
            created_at: r.get(10)?,
            updated_at: r.get(11)?,
        },
        r.get(7)?,
    ))
}

fn select(
    conn: &Connection,
    filter: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<OutboundIntent>, StoreError> {
    let rows: Vec<Raw> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbound_intents WHERE {filter}"
        ))
        .and_then(|mut s| s.query_map(p, row)?.collect())
        .map_err(StoreError::query("read outbound intents"))?;
    rows.into_iter()
        .map(|(mut intent, state)| {
            intent.state = IntentState::parse(&state)?;
            Ok(intent)
        })
        .collect()
}

pub(super) fn by_id(conn: &Connection, id: IntentId) -> Result<OutboundIntent, StoreError> {
    select(conn, "id = ?1", [id.as_i64()])?
        .into_iter()
        .next()
        .ok_or(StoreError::FindRow {
            what: "outbound intent",
            id: id.as_i64(),
        })
}

pub(super) fn saved_reply(
    conn: &Connection,
    reply_id: &str,
) -> Result<Option<SavedReply>, StoreError> {
    conn.prepare_cached(
        "SELECT reply_id, account, recipient, text, created_at FROM saved_replies WHERE reply_id = ?1",
    )
    .and_then(|mut s| {
        s.query_row([reply_id], |r| {
            Ok(SavedReply {
                reply_id: r.get(0)?,
                account: r.get(1)?,
                recipient: r.get(2)?,
                text: r.get(3)?,
                created_at: r.get(4)?,
            })
        })
        .optional()
    })
    .map_err(StoreError::query("read saved reply"))
}

impl SqliteStore {
    async fn transition(
        &self,
        id: IntentId,
        to: IntentState,
        action: &'static str,
        message_sid: Option<String>,
        error: Option<String>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            transition_in(
                conn,
                id,
                (to, action),
                message_sid.as_deref(),
                error.as_deref(),
                now,
            )
        })
        .await
    }
}

/// Moves an intent to `to` (refused unless [`IntentState::can_become`] allows it).
pub(super) fn transition_in(
    conn: &Connection,
    id: IntentId,
    (to, action): (IntentState, &'static str),
    message_sid: Option<&str>,
    error: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let current = by_id(conn, id)?;
    if !current.state.can_become(to) {
        return Err(StoreError::ChangeState {
            what: "outbound intent",
            id: id.as_i64(),
            action,
            state: current.state.as_str().to_owned(),
        });
    }
    conn.prepare_cached(
        "UPDATE outbound_intents SET state = ?2, message_sid = coalesce(?3, message_sid),
                error = ?4, updated_at = ?5 WHERE id = ?1",
    )
    .and_then(|mut s| s.execute(params![id.as_i64(), to.as_str(), message_sid, error, now]))
    .map(drop)
    .map_err(StoreError::query("update outbound intent"))
}

/// Saves a reply, first writer wins; returns the one saved.
pub(super) fn save_reply_in(conn: &Connection, reply: &NewReply) -> Result<SavedReply, StoreError> {
    conn.prepare_cached(
        "INSERT INTO saved_replies (reply_id, account, recipient, text, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (reply_id) DO NOTHING",
    )
    .and_then(|mut s| {
        s.execute(params![
            reply.reply_id,
            reply.account,
            reply.recipient,
            reply.text,
            reply.created_at
        ])
    })
    .map_err(StoreError::query("save reply"))?;
    // Inserted just above or already there, in this transaction.
    saved_reply(conn, &reply.reply_id)?.ok_or_else(|| StoreError::DecodeRow {
        what: "saved reply",
        reason: "missing right after it was saved".to_owned(),
    })
}

/// Writes an intent, or answers the existing one for the same `(reply_id, part_index)`.
pub(super) fn create_intent_in(
    conn: &Connection,
    intent: &NewIntent,
) -> Result<IntentCreated, StoreError> {
    let existing = conn
        .prepare_cached("SELECT id FROM outbound_intents WHERE reply_id = ?1 AND part_index = ?2")
        .and_then(|mut s| {
            s.query_row(params![intent.reply_id, intent.part_index], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
        })
        .map_err(StoreError::query("find outbound intent"))?;
    if let Some(id) = existing {
        return Ok(IntentCreated::Existing(by_id(conn, IntentId::new(id))?));
    }
    conn.prepare_cached(
        "INSERT INTO outbound_intents (reply_id, account, recipient, body_hash, part_index, part_count,
                                       state, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            intent.reply_id,
            intent.account,
            intent.recipient,
            intent.body_hash,
            intent.part_index,
            intent.part_count,
            intent.created_at
        ])
    })
    .map_err(StoreError::query("create outbound intent"))?;
    Ok(IntentCreated::New(by_id(
        conn,
        IntentId::new(conn.last_insert_rowid()),
    )?))
}

#[async_trait]
impl OutboundStore for SqliteStore {
    async fn create_intent(&self, intent: NewIntent) -> Result<IntentCreated, StoreError> {
        if intent.part_index >= intent.part_count {
            return Err(StoreError::InvalidInput {
                what: "part index",
                reason: format!(
                    "{} is not below the part count {}",
                    intent.part_index, intent.part_count
                ),
            });
        }
        self.write(move |conn| create_intent_in(conn, &intent))
            .await
    }

    async fn mark_sent(&self, id: IntentId, message_sid: &str, now: i64) -> Result<(), StoreError> {
        self.transition(
            id,
            IntentState::Sent,
            "mark sent",
            Some(message_sid.to_owned()),
            None,
            now,
        )
        .await
    }

    async fn mark_failed(&self, id: IntentId, error: &str, now: i64) -> Result<(), StoreError> {
        self.transition(
            id,
            IntentState::Failed,
            "mark failed",
            None,
            Some(error.to_owned()),
            now,
        )
        .await
    }

    async fn mark_ambiguous(&self, id: IntentId, error: &str, now: i64) -> Result<(), StoreError> {
        self.transition(
            id,
            IntentState::Ambiguous,
            "mark ambiguous",
            None,
            Some(error.to_owned()),
            now,
        )
        .await
    }

    async fn intents_for_reply(&self, reply_id: &str) -> Result<Vec<OutboundIntent>, StoreError> {
        let reply_id = reply_id.to_owned();
        self.read(move |conn| select(conn, "reply_id = ?1 ORDER BY part_index", [reply_id]))
            .await
    }

    async fn count_replies_since(&self, reply_prefix: &str, since: i64) -> Result<u64, StoreError> {
        let prefix = reply_prefix.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT count(*) FROM outbound_intents
                 WHERE part_index = 0 AND created_at >= ?2 AND substr(reply_id, 1, length(?1)) = ?1",
            )
            .and_then(|mut s| s.query_row(params![prefix, since], |r| r.get::<_, i64>(0)))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(StoreError::query("count replies"))
        })
        .await
    }

    async fn unfinished_intents(&self, account: &str) -> Result<Vec<OutboundIntent>, StoreError> {
        let account = account.to_owned();
        self.read(move |conn| {
            select(
                conn,
                "account = ?1 AND state IN ('pending', 'ambiguous') ORDER BY id",
                [account],
            )
        })
        .await
    }

    async fn prune_intents(&self, now: i64) -> Result<u64, StoreError> {
        let cutoff = now.saturating_sub(self.options.retention.intent_ttl_ms);
        self.write(move |conn| {
            let delete = |context: &'static str, sql: &str| {
                conn.prepare_cached(sql)
                    .and_then(|mut s| s.execute([cutoff]))
                    .map(to_u64)
                    .map_err(StoreError::query(context))
            };
            let intents = delete(
                "prune outbound intents",
                "DELETE FROM outbound_intents WHERE state IN ('sent', 'failed') AND updated_at < ?1",
            )?;
            // After the intents: a reply whose last intents just went is prunable now.
            let replies = delete(
                "prune saved replies",
                "DELETE FROM saved_replies WHERE created_at < ?1 AND NOT EXISTS (
                    SELECT 1 FROM outbound_intents i WHERE i.reply_id = saved_replies.reply_id)",
            )?;
            let turns = delete(
                "prune agent turns",
                "DELETE FROM agent_turns WHERE last_at < ?1",
            )?;
            Ok(intents.saturating_add(replies).saturating_add(turns))
        })
        .await
    }

    async fn save_reply(&self, reply: NewReply) -> Result<SavedReply, StoreError> {
        self.write(move |conn| save_reply_in(conn, &reply)).await
    }

    async fn reply(&self, reply_id: &str) -> Result<Option<SavedReply>, StoreError> {
        let reply_id = reply_id.to_owned();
        self.read(move |conn| saved_reply(conn, &reply_id)).await
    }
}
