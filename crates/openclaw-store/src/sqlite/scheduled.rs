//! [`ScheduledStore`] on SQLite. One process owns the file, so claims left by a previous
//! process are reset when the store opens (`reset_scheduled_claims`).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::SqliteStore;
use super::ingress::to_u64;
use crate::StoreError;
use crate::scheduled::{
    NewScheduledSend, SCHEDULED_TTL_MS, ScheduleReason, ScheduledOutcome, ScheduledSend,
    ScheduledState, ScheduledStore,
};

const COLUMNS: &str = "id, account, recipient, text, reply_id, due_at, reason, zone, state, claimed_until, error, created_at, updated_at";

type Raw = (ScheduledSend, String, String);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        ScheduledSend {
            id: r.get(0)?,
            account: r.get(1)?,
            recipient: r.get(2)?,
            text: r.get(3)?,
            reply_id: r.get(4)?,
            due_at: r.get(5)?,
            reason: ScheduleReason::At,
            zone: r.get(7)?,
            state: ScheduledState::Scheduled,
            claimed_until: r.get(9)?,
            error: r.get(10)?,
            created_at: r.get(11)?,
            updated_at: r.get(12)?,
        },
        r.get(6)?,
        r.get(8)?,
    ))
}

fn decode(rows: Vec<Raw>) -> Result<Vec<ScheduledSend>, StoreError> {
    rows.into_iter()
        .map(|(mut send, reason, state)| {
            send.reason = ScheduleReason::parse(&reason)?;
            send.state = ScheduledState::parse(&state)?;
            Ok(send)
        })
        .collect()
}

fn select(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<ScheduledSend>, StoreError> {
    let rows: Vec<Raw> = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_map(p, row)?.collect())
        .map_err(StoreError::query("read scheduled sends"))?;
    decode(rows)
}

fn by_id(conn: &Connection, id: &str) -> Result<Option<ScheduledSend>, StoreError> {
    Ok(select(
        conn,
        &format!("SELECT {COLUMNS} FROM scheduled_sends WHERE id = ?1"),
        [id],
    )?
    .into_iter()
    .next())
}

/// Makes every claimed send claimable again (at open: their process is gone).
pub(super) fn reset_scheduled_claims(conn: &Connection) -> Result<u64, StoreError> {
    conn.execute(
        "UPDATE scheduled_sends SET state = 'scheduled', claimed_until = NULL WHERE state = 'claimed'",
        [],
    )
    .map(to_u64)
    .map_err(StoreError::query("reset scheduled claims"))
}

#[async_trait]
impl ScheduledStore for SqliteStore {
    async fn schedule_send(&self, send: NewScheduledSend) -> Result<ScheduledSend, StoreError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO scheduled_sends (id, account, recipient, text, reply_id, due_at, reason,
                                              zone, state, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'scheduled', ?9, ?9)
                 ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    send.id,
                    send.account,
                    send.recipient,
                    send.text,
                    send.reply_id,
                    send.due_at,
                    send.reason.as_str(),
                    send.zone,
                    send.created_at
                ])
            })
            .map_err(StoreError::query("schedule send"))?;
            // Inserted just above or already there, in this transaction.
            by_id(conn, &send.id)?.ok_or_else(|| StoreError::DecodeRow {
                what: "scheduled send",
                reason: "missing right after it was stored".to_owned(),
            })
        })
        .await
    }

    async fn claim_due_sends(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ScheduledSend>, StoreError> {
        let until = now.saturating_add(lease_ms.max(1));
        self.write(move |conn| {
            let mut claimed = select(
                conn,
                &format!(
                    "UPDATE scheduled_sends SET state = 'claimed', claimed_until = ?2, updated_at = ?1
                     WHERE id IN (
                         SELECT id FROM scheduled_sends
                         WHERE (state = 'scheduled' AND due_at <= ?1)
                            OR (state = 'claimed' AND claimed_until <= ?1)
                         ORDER BY due_at, id LIMIT ?3)
                     RETURNING {COLUMNS}"
                ),
                params![now, until, i64::from(limit)],
            )?;
            claimed.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
            Ok(claimed)
        })
        .await
    }

    async fn finish_scheduled(
        &self,
        id: &str,
        outcome: ScheduledOutcome,
        now: i64,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        let (state, error) = match outcome {
            ScheduledOutcome::Sent => (ScheduledState::Sent, None),
            ScheduledOutcome::Failed(e) => (ScheduledState::Failed, Some(e)),
        };
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE scheduled_sends SET state = ?2, error = ?3, claimed_until = NULL, updated_at = ?4
                 WHERE id = ?1 AND state = 'claimed'",
            )
            .and_then(|mut s| s.execute(params![id, state.as_str(), error, now]))
            .map(|n| n == 1)
            .map_err(StoreError::query("finish scheduled send"))
        })
        .await
    }

    async fn cancel_scheduled(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<ScheduledSend>, StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE scheduled_sends SET state = 'cancelled', updated_at = ?2
                 WHERE id = ?1 AND state = 'scheduled'",
            )
            .and_then(|mut s| s.execute(params![id, now]))
            .map_err(StoreError::query("cancel scheduled send"))?;
            by_id(conn, &id)
        })
        .await
    }

    async fn scheduled_send(&self, id: &str) -> Result<Option<ScheduledSend>, StoreError> {
        let id = id.to_owned();
        self.read(move |conn| by_id(conn, &id)).await
    }

    async fn pending_scheduled(
        &self,
        account: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ScheduledSend>, StoreError> {
        let account = account.map(str::to_owned);
        self.read(move |conn| {
            select(
                conn,
                &format!(
                    "SELECT {COLUMNS} FROM scheduled_sends
                     WHERE state IN ('scheduled', 'claimed') AND (?1 IS NULL OR account = ?1)
                     ORDER BY due_at, id LIMIT ?2"
                ),
                params![account, i64::from(limit)],
            )
        })
        .await
    }

    async fn next_scheduled_due(&self) -> Result<Option<i64>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT min(due_at) FROM scheduled_sends WHERE state = 'scheduled'")
                .and_then(|mut s| s.query_row([], |r| r.get::<_, Option<i64>>(0)).optional())
                .map(Option::flatten)
                .map_err(StoreError::query("read next scheduled send"))
        })
        .await
    }

    async fn prune_scheduled(&self, now: i64) -> Result<u64, StoreError> {
        let cutoff = now.saturating_sub(SCHEDULED_TTL_MS);
        self.write(move |conn| {
            conn.prepare_cached(
                "DELETE FROM scheduled_sends
                 WHERE state IN ('sent', 'failed', 'cancelled') AND updated_at < ?1",
            )
            .and_then(|mut s| s.execute([cutoff]))
            .map(to_u64)
            .map_err(StoreError::query("prune scheduled sends"))
        })
        .await
    }
}
