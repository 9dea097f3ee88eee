//! [`ScheduledStore`] on PostgreSQL: a due send is claimed by one gateway (`FOR UPDATE SKIP
//! LOCKED`, and the state checked again by the update itself).

use super::conn::Sql;
use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::ingress::{execute, query};
use super::{PostgresStore, decode, to_i64};
use crate::StoreError;
use crate::scheduled::{
    NewScheduledSend, SCHEDULED_TTL_MS, ScheduleReason, ScheduledOutcome, ScheduledSend,
    ScheduledState, ScheduledStore,
};

const COLUMNS: &str = "id, account, recipient, text, reply_id, due_at, reason, zone, state, claimed_until, error, created_at, updated_at";

fn row(r: &Row) -> Result<ScheduledSend, StoreError> {
    let d = decode("scheduled send");
    let reason: String = r.try_get(6).map_err(&d)?;
    let state: String = r.try_get(8).map_err(&d)?;
    Ok(ScheduledSend {
        id: r.try_get(0).map_err(&d)?,
        account: r.try_get(1).map_err(&d)?,
        recipient: r.try_get(2).map_err(&d)?,
        text: r.try_get(3).map_err(&d)?,
        reply_id: r.try_get(4).map_err(&d)?,
        due_at: r.try_get(5).map_err(&d)?,
        reason: ScheduleReason::parse(&reason)?,
        zone: r.try_get(7).map_err(&d)?,
        state: ScheduledState::parse(&state)?,
        claimed_until: r.try_get(9).map_err(&d)?,
        error: r.try_get(10).map_err(&d)?,
        created_at: r.try_get(11).map_err(&d)?,
        updated_at: r.try_get(12).map_err(&d)?,
    })
}

async fn select<C: Sql + ?Sized>(
    c: &C,
    context: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<ScheduledSend>, StoreError> {
    query(c, context, sql, params)
        .await?
        .iter()
        .map(row)
        .collect()
}

async fn by_id<C: Sql + ?Sized>(c: &C, id: &str) -> Result<Option<ScheduledSend>, StoreError> {
    Ok(select(
        c,
        "read scheduled send",
        &format!("SELECT {COLUMNS} FROM scheduled_sends WHERE id = $1"),
        &[&id],
    )
    .await?
    .into_iter()
    .next())
}

#[async_trait]
impl ScheduledStore for PostgresStore {
    async fn schedule_send(&self, send: NewScheduledSend) -> Result<ScheduledSend, StoreError> {
        let client = self.conn().await?;
        execute(
            &client,
            "schedule send",
            "INSERT INTO scheduled_sends (id, account, recipient, text, reply_id, due_at, reason,
                                          zone, state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled', $9, $9)
             ON CONFLICT (id) DO NOTHING",
            &[
                &send.id,
                &send.account,
                &send.recipient,
                &send.text,
                &send.reply_id,
                &send.due_at,
                &send.reason.as_str(),
                &send.zone,
                &send.created_at,
            ],
        )
        .await?;
        by_id(&client, &send.id)
            .await?
            .ok_or_else(|| StoreError::QueryDatabase {
                context: "schedule send",
                reason: "the row vanished right after it was stored (pruned concurrently); retry"
                    .to_owned(),
            })
    }

    async fn claim_due_sends(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ScheduledSend>, StoreError> {
        let until = now.saturating_add(lease_ms.max(1));
        let client = self.conn().await?;
        // SKIP LOCKED lets two gateways claim different rows at once; the outer WHERE checks
        // the state again, so a row another gateway claimed in between is left alone.
        let mut claimed = select(
            &client,
            "claim scheduled sends",
            &format!(
                "UPDATE scheduled_sends SET state = 'claimed', claimed_until = $2, updated_at = $1
                 WHERE id IN (
                     SELECT id FROM scheduled_sends
                     WHERE (state = 'scheduled' AND due_at <= $1)
                        OR (state = 'claimed' AND claimed_until <= $1)
                     ORDER BY due_at, id LIMIT $3
                     FOR UPDATE SKIP LOCKED)
                   AND ((state = 'scheduled' AND due_at <= $1)
                        OR (state = 'claimed' AND claimed_until <= $1))
                 RETURNING {COLUMNS}"
            ),
            &[&now, &until, &to_i64(u64::from(limit))],
        )
        .await?;
        claimed.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        Ok(claimed)
    }

    async fn finish_scheduled(
        &self,
        id: &str,
        outcome: ScheduledOutcome,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (state, error) = match outcome {
            ScheduledOutcome::Sent => (ScheduledState::Sent, None),
            ScheduledOutcome::Failed(e) => (ScheduledState::Failed, Some(e)),
        };
        let client = self.conn().await?;
        let changed = execute(
            &client,
            "finish scheduled send",
            "UPDATE scheduled_sends SET state = $2, error = $3, claimed_until = NULL, updated_at = $4
             WHERE id = $1 AND state = 'claimed'",
            &[&id, &state.as_str(), &error, &now],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn cancel_scheduled(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<ScheduledSend>, StoreError> {
        let client = self.conn().await?;
        execute(
            &client,
            "cancel scheduled send",
            "UPDATE scheduled_sends SET state = 'cancelled', updated_at = $2
             WHERE id = $1 AND state = 'scheduled'",
            &[&id, &now],
        )
        .await?;
        by_id(&client, id).await
    }

    async fn scheduled_send(&self, id: &str) -> Result<Option<ScheduledSend>, StoreError> {
        let client = self.conn().await?;
        by_id(&client, id).await
    }

    async fn pending_scheduled(
        &self,
        account: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ScheduledSend>, StoreError> {
        let client = self.conn().await?;
        select(
            &client,
            "list scheduled sends",
            &format!(
                "SELECT {COLUMNS} FROM scheduled_sends
                 WHERE state IN ('scheduled', 'claimed') AND ($1::TEXT IS NULL OR account = $1)
                 ORDER BY due_at, id LIMIT $2"
            ),
            &[&account, &to_i64(u64::from(limit))],
        )
        .await
    }

    async fn next_scheduled_due(&self) -> Result<Option<i64>, StoreError> {
        let client = self.conn().await?;
        let rows = query(
            &client,
            "read next scheduled send",
            "SELECT min(due_at) FROM scheduled_sends WHERE state = 'scheduled'",
            &[],
        )
        .await?;
        let d = decode("next scheduled send");
        match rows.first() {
            Some(r) => r.try_get::<_, Option<i64>>(0).map_err(d),
            None => Ok(None),
        }
    }

    async fn prune_scheduled(&self, now: i64) -> Result<u64, StoreError> {
        let cutoff = now.saturating_sub(SCHEDULED_TTL_MS);
        let client = self.conn().await?;
        execute(
            &client,
            "prune scheduled sends",
            "DELETE FROM scheduled_sends
             WHERE state IN ('sent', 'failed', 'cancelled') AND updated_at < $1",
            &[&cutoff],
        )
        .await
    }
}
