//! [`OutboundStore`] on PostgreSQL.

use super::conn::Sql;
use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::ingress::{execute, query, query_opt};
use super::usage::intent_refused;
use super::{PostgresStore, decode, pg, to_u32};
use crate::StoreError;
use crate::outbound::{
    IntentCreated, IntentId, IntentState, NewIntent, NewReply, OutboundIntent, OutboundStore,
    SavedReply,
};

pub(super) const COLUMNS: &str = "id, reply_id, account, recipient, body_hash, part_index, part_count, state, message_sid, error, created_at, updated_at";

pub(super) fn row(r: &Row) -> Result<OutboundIntent, StoreError> {
    let d = decode("outbound intent");
    let state: String = r.try_get(7).map_err(&d)?;
    Ok(OutboundIntent {
        id: IntentId::new(r.try_get(0).map_err(&d)?),
        reply_id: r.try_get(1).map_err(&d)?,
        account: r.try_get(2).map_err(&d)?,
        recipient: r.try_get(3).map_err(&d)?,
        body_hash: r.try_get(4).map_err(&d)?,
        part_index: to_u32(r.try_get(5).map_err(&d)?),
        part_count: to_u32(r.try_get(6).map_err(&d)?),
        state: IntentState::parse(&state)?,
        message_sid: r.try_get(8).map_err(&d)?,
        error: r.try_get(9).map_err(&d)?,
        created_at: r.try_get(10).map_err(&d)?,
        updated_at: r.try_get(11).map_err(&d)?,
    })
}

async fn select<C: Sql + ?Sized>(
    c: &C,
    filter: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<OutboundIntent>, StoreError> {
    query(
        c,
        "read outbound intents",
        &format!("SELECT {COLUMNS} FROM outbound_intents WHERE {filter}"),
        params,
    )
    .await?
    .iter()
    .map(row)
    .collect()
}

pub(super) fn reply_row(r: &Row) -> Result<SavedReply, StoreError> {
    let d = decode("saved reply");
    Ok(SavedReply {
        reply_id: r.try_get(0).map_err(&d)?,
        account: r.try_get(1).map_err(&d)?,
        recipient: r.try_get(2).map_err(&d)?,
        text: r.try_get(3).map_err(&d)?,
        created_at: r.try_get(4).map_err(&d)?,
    })
}

pub(super) async fn saved_reply<C: Sql + ?Sized>(
    c: &C,
    reply_id: &str,
) -> Result<Option<SavedReply>, StoreError> {
    query_opt(
        c,
        "read saved reply",
        "SELECT reply_id, account, recipient, text, created_at FROM saved_replies WHERE reply_id = $1",
        &[&reply_id],
    )
    .await?
    .as_ref()
    .map(reply_row)
    .transpose()
}

impl PostgresStore {
    /// Moves an intent to `to` in one statement, only from a state that may become it
    /// ([`IntentState::can_become`]; the row lock of the update orders two writers).
    async fn transition(
        &self,
        id: IntentId,
        to: IntentState,
        action: &'static str,
        message_sid: Option<&str>,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let from: Vec<&str> = [
            IntentState::Pending,
            IntentState::Sent,
            IntentState::Failed,
            IntentState::Ambiguous,
        ]
        .into_iter()
        .filter(|s| s.can_become(to))
        .map(IntentState::as_str)
        .collect();
        let client = self.conn().await?;
        let changed = execute(
            &client,
            "update outbound intent",
            "UPDATE outbound_intents SET state = $2, message_sid = coalesce($3, message_sid),
                    error = $4, updated_at = $5 WHERE id = $1 AND state = ANY ($6)",
            &[
                &id.as_i64(),
                &to.as_str(),
                &message_sid,
                &error,
                &now,
                &from,
            ],
        )
        .await?;
        if changed == 1 {
            return Ok(());
        }
        Err(intent_refused(&client, id, to, action).await)
    }
}

#[async_trait]
impl OutboundStore for PostgresStore {
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
        let client = self.conn().await?;
        let inserted = query_opt(
            &client,
            "create outbound intent",
            &format!(
                "INSERT INTO outbound_intents (reply_id, account, recipient, body_hash, part_index,
                                               part_count, state, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)
                 ON CONFLICT (reply_id, part_index) DO NOTHING RETURNING {COLUMNS}"
            ),
            &[
                &intent.reply_id,
                &intent.account,
                &intent.recipient,
                &intent.body_hash,
                &i64::from(intent.part_index),
                &i64::from(intent.part_count),
                &intent.created_at,
            ],
        )
        .await?;
        if let Some(r) = inserted {
            return Ok(IntentCreated::New(row(&r)?));
        }
        select(
            &client,
            "reply_id = $1 AND part_index = $2",
            &[&intent.reply_id, &i64::from(intent.part_index)],
        )
        .await?
        .into_iter()
        .next()
        .map(IntentCreated::Existing)
        .ok_or_else(|| StoreError::QueryDatabase {
            context: "find outbound intent",
            reason: "conflicting row vanished (pruned concurrently); retry".to_owned(),
        })
    }

    async fn mark_sent(&self, id: IntentId, message_sid: &str, now: i64) -> Result<(), StoreError> {
        self.transition(
            id,
            IntentState::Sent,
            "mark sent",
            Some(message_sid),
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
            Some(error),
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
            Some(error),
            now,
        )
        .await
    }

    async fn intents_for_reply(&self, reply_id: &str) -> Result<Vec<OutboundIntent>, StoreError> {
        let client = self.conn().await?;
        select(&client, "reply_id = $1 ORDER BY part_index", &[&reply_id]).await
    }

    async fn count_replies_since(&self, reply_prefix: &str, since: i64) -> Result<u64, StoreError> {
        let client = self.conn().await?;
        let row = query_opt(
            &client,
            "count replies",
            "SELECT count(*) FROM outbound_intents
             WHERE part_index = 0 AND created_at >= $2
               AND left(reply_id, char_length($1::text)) = $1::text",
            &[&reply_prefix, &since],
        )
        .await?;
        let n: i64 = match row {
            Some(r) => r.try_get(0).map_err(decode("reply count"))?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn unfinished_intents(&self, account: &str) -> Result<Vec<OutboundIntent>, StoreError> {
        let client = self.conn().await?;
        select(
            &client,
            "account = $1 AND state IN ('pending', 'ambiguous') ORDER BY id",
            &[&account],
        )
        .await
    }

    async fn prune_intents(&self, now: i64) -> Result<u64, StoreError> {
        let cutoff = now.saturating_sub(self.inner.options.retention.intent_ttl_ms);
        let mut client = self.conn().await?;
        let tx = client
            .transaction()
            .await
            .map_err(pg("begin prune intents"))?;
        let intents = execute(
            &tx,
            "prune outbound intents",
            "DELETE FROM outbound_intents WHERE state IN ('sent', 'failed') AND updated_at < $1",
            &[&cutoff],
        )
        .await?;
        // After the intents: a reply whose last intents just went is prunable now.
        let replies = execute(
            &tx,
            "prune saved replies",
            "DELETE FROM saved_replies WHERE created_at < $1 AND NOT EXISTS (
                SELECT 1 FROM outbound_intents i WHERE i.reply_id = saved_replies.reply_id)",
            &[&cutoff],
        )
        .await?;
        let turns = execute(
            &tx,
            "prune agent turns",
            "DELETE FROM agent_turns WHERE last_at < $1",
            &[&cutoff],
        )
        .await?;
        tx.commit().await.map_err(pg("commit prune intents"))?;
        Ok(intents.saturating_add(replies).saturating_add(turns))
    }

    async fn save_reply(&self, reply: NewReply) -> Result<SavedReply, StoreError> {
        // Two statements, no transaction: the insert commits alone, the read sees it.
        let client = self.conn().await?;
        save_reply_in(&client, &reply).await
    }

    async fn reply(&self, reply_id: &str) -> Result<Option<SavedReply>, StoreError> {
        let client = self.conn().await?;
        saved_reply(&client, reply_id).await
    }
}

/// Saves a reply (the first writer's text wins) and reads back what is saved, on `c` (a
/// connection or a transaction).
pub(super) async fn save_reply_in<C: Sql + ?Sized>(
    c: &C,
    reply: &NewReply,
) -> Result<SavedReply, StoreError> {
    execute(
        c,
        "save reply",
        "INSERT INTO saved_replies (reply_id, account, recipient, text, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (reply_id) DO NOTHING",
        &[
            &reply.reply_id,
            &reply.account,
            &reply.recipient,
            &reply.text,
            &reply.created_at,
        ],
    )
    .await?;
    // Inserted just above or already there (committed by the first writer: each statement
    // of a read-committed transaction sees what was committed before it began).
    saved_reply(c, &reply.reply_id)
        .await?
        .ok_or_else(|| StoreError::DecodeRow {
            what: "saved reply",
            reason: "missing right after it was saved (pruned concurrently?)".to_owned(),
        })
}
