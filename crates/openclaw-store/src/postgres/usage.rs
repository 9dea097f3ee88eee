//! [`UsageStore`] on PostgreSQL: the counters are upserted in the transaction that marks the
//! part sent, so gateways sharing the database count each part once and see one total.

use super::conn::Sql;
use async_trait::async_trait;
use tokio_postgres::Row;

use super::ingress::{execute, query, query_opt};
use super::{PostgresStore, decode, to_u32};
use crate::StoreError;
use crate::outbound::{IntentId, IntentState};
use crate::usage::{BudgetHit, DayUsage, HeldRest, SentPart, UsageRow, UsageStore};

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

const REST_COLUMNS: &str = "account, peer, reply_id, page, text, offered_at";

fn rest_row(r: &Row) -> Result<HeldRest, StoreError> {
    let d = decode("held rest");
    Ok(HeldRest {
        account: r.try_get(0).map_err(&d)?,
        peer: r.try_get(1).map_err(&d)?,
        reply_id: r.try_get(2).map_err(&d)?,
        page: to_u32(r.try_get(3).map_err(&d)?),
        text: r.try_get(4).map_err(&d)?,
        offered_at: r.try_get(5).map_err(&d)?,
    })
}

fn hit_row(r: &Row) -> Result<BudgetHit, StoreError> {
    let d = decode("budget hit");
    Ok(BudgetHit {
        account: r.try_get(0).map_err(&d)?,
        day: r.try_get(1).map_err(&d)?,
        scope: r.try_get(2).map_err(&d)?,
        peer: r.try_get(3).map_err(&d)?,
        reply_id: r.try_get(4).map_err(&d)?,
        reason: r.try_get(5).map_err(&d)?,
        at: r.try_get(6).map_err(&d)?,
    })
}

/// The CTEs that mark a part sent and count it (`marked`, `counted`): `$1` the intent, `$2` the
/// message sid, `$3` now, `$4` the day, `$5` the segments. Only an intent that may become sent
/// ([`IntentState::can_become`]: pending or ambiguous) is marked (the row lock of the update
/// orders two writers), and only a marked part is counted, for its intent's account and
/// recipient.
pub(super) const MARK_SENT_SQL: &str = "marked AS (
        UPDATE outbound_intents SET state = 'sent', message_sid = $2, error = NULL,
               updated_at = $3
        WHERE id = $1 AND state IN ('pending', 'ambiguous')
        RETURNING account, recipient
    ),
    counted AS (
        INSERT INTO usage_daily (account, day, peer, segments, messages, updated_at)
        SELECT account, $4::text, recipient, $5::bigint, 1, $3::bigint FROM marked
        ON CONFLICT (account, day, peer) DO UPDATE SET
            segments = usage_daily.segments + excluded.segments,
            messages = usage_daily.messages + 1, updated_at = excluded.updated_at
    )";

/// The error for a part that could not be marked sent: its intent is missing or in a state
/// that cannot become sent.
pub(super) async fn mark_sent_refused<C: Sql + ?Sized>(c: &C, intent: IntentId) -> StoreError {
    intent_refused(c, intent, IntentState::Sent, "mark sent").await
}

/// The error for an intent that could not become `to`: it is missing or in a state that
/// cannot.
pub(super) async fn intent_refused<C: Sql + ?Sized>(
    c: &C,
    intent: IntentId,
    to: IntentState,
    action: &'static str,
) -> StoreError {
    let row = match query_opt(
        c,
        "read outbound intent",
        "SELECT state FROM outbound_intents WHERE id = $1",
        &[&intent.as_i64()],
    )
    .await
    {
        Ok(row) => row,
        Err(err) => return err,
    };
    let Some(row) = row else {
        return StoreError::FindRow {
            what: "outbound intent",
            id: intent.as_i64(),
        };
    };
    let state = match row.try_get::<_, String>(0) {
        Ok(state) => state,
        Err(err) => return decode("outbound intent")(err),
    };
    debug_assert!(
        IntentState::parse(&state).is_ok_and(|s| !s.can_become(to)),
        "the statement and IntentState::can_become agree"
    );
    StoreError::ChangeState {
        what: "outbound intent",
        id: intent.as_i64(),
        action,
        state,
    }
}

#[async_trait]
impl UsageStore for PostgresStore {
    async fn mark_sent_counted(&self, part: SentPart) -> Result<(), StoreError> {
        let client = self.conn().await?;
        let marked = execute(
            &client,
            "mark part sent",
            &format!("WITH {MARK_SENT_SQL} SELECT 1 FROM marked"),
            &[
                &part.intent.as_i64(),
                &part.message_sid,
                &part.now,
                &part.day,
                &i64::from(part.segments),
            ],
        )
        .await?;
        if marked == 1 {
            return Ok(());
        }
        Err(mark_sent_refused(&client, part.intent).await)
    }

    async fn day_usage(
        &self,
        account: &str,
        day: &str,
        peer: &str,
    ) -> Result<DayUsage, StoreError> {
        let client = self.conn().await?;
        let row = query_opt(
            &client,
            "read usage",
            "SELECT coalesce(sum(segments) FILTER (WHERE peer = $3), 0)::BIGINT,
                    coalesce(sum(segments), 0)::BIGINT
             FROM usage_daily WHERE account = $1 AND day = $2",
            &[&account, &day, &peer],
        )
        .await?;
        let d = decode("usage");
        Ok(match row {
            Some(r) => DayUsage {
                peer_segments: count(r.try_get(0).map_err(&d)?),
                account_segments: count(r.try_get(1).map_err(&d)?),
            },
            None => DayUsage::default(),
        })
    }

    async fn usage(
        &self,
        account: Option<&str>,
        since_day: Option<&str>,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let client = self.conn().await?;
        let rows = query(
            &client,
            "read usage",
            "SELECT account, day, peer, segments, messages FROM usage_daily
             WHERE ($1::TEXT IS NULL OR account = $1) AND ($2::TEXT IS NULL OR day >= $2)
             ORDER BY day, account, peer",
            &[&account, &since_day],
        )
        .await?;
        let d = decode("usage");
        rows.iter()
            .map(|r| {
                Ok(UsageRow {
                    account: r.try_get(0).map_err(&d)?,
                    day: r.try_get(1).map_err(&d)?,
                    peer: r.try_get(2).map_err(&d)?,
                    segments: count(r.try_get(3).map_err(&d)?),
                    messages: count(r.try_get(4).map_err(&d)?),
                })
            })
            .collect()
    }

    async fn record_budget_hit(&self, hit: BudgetHit) -> Result<bool, StoreError> {
        let client = self.conn().await?;
        let n = execute(
            &client,
            "record budget hit",
            "INSERT INTO budget_hits (account, day, scope, peer, reply_id, reason, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reply_id, scope) DO NOTHING",
            &[
                &hit.account,
                &hit.day,
                &hit.scope,
                &hit.peer,
                &hit.reply_id,
                &hit.reason,
                &hit.at,
            ],
        )
        .await?;
        Ok(n > 0)
    }

    async fn budget_hits(
        &self,
        account: &str,
        since_day: &str,
        limit: u32,
    ) -> Result<Vec<BudgetHit>, StoreError> {
        let client = self.conn().await?;
        let rows = query(
            &client,
            "read budget hits",
            "SELECT account, day, scope, peer, reply_id, reason, at FROM budget_hits
             WHERE account = $1 AND day >= $2 ORDER BY id DESC LIMIT $3",
            &[&account, &since_day, &i64::from(limit)],
        )
        .await?;
        let mut hits = rows.iter().map(hit_row).collect::<Result<Vec<_>, _>>()?;
        hits.reverse();
        Ok(hits)
    }

    async fn hold_rest(&self, rest: HeldRest) -> Result<(), StoreError> {
        let client = self.conn().await?;
        execute(
            &client,
            "hold rest",
            "INSERT INTO held_rests (account, peer, reply_id, page, text, offered_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account, peer) DO UPDATE SET reply_id = excluded.reply_id,
                page = excluded.page, text = excluded.text, offered_at = excluded.offered_at",
            &[
                &rest.account,
                &rest.peer,
                &rest.reply_id,
                &i64::from(rest.page),
                &rest.text,
                &rest.offered_at,
            ],
        )
        .await
        .map(drop)
    }

    async fn held_rest(&self, account: &str, peer: &str) -> Result<Option<HeldRest>, StoreError> {
        let client = self.conn().await?;
        query_opt(
            &client,
            "read held rest",
            &format!("SELECT {REST_COLUMNS} FROM held_rests WHERE account = $1 AND peer = $2"),
            &[&account, &peer],
        )
        .await?
        .as_ref()
        .map(rest_row)
        .transpose()
    }

    async fn drop_rest(
        &self,
        account: &str,
        peer: &str,
        reply_id: &str,
    ) -> Result<bool, StoreError> {
        let client = self.conn().await?;
        let n = execute(
            &client,
            "drop held rest",
            "DELETE FROM held_rests WHERE account = $1 AND peer = $2 AND reply_id = $3",
            &[&account, &peer, &reply_id],
        )
        .await?;
        Ok(n > 0)
    }

    async fn drop_rests_before(
        &self,
        account: &str,
        before: i64,
    ) -> Result<Vec<HeldRest>, StoreError> {
        let client = self.conn().await?;
        let rows = query(
            &client,
            "drop held rests",
            &format!(
                "DELETE FROM held_rests WHERE account = $1 AND offered_at < $2 RETURNING {REST_COLUMNS}"
            ),
            &[&account, &before],
        )
        .await?;
        rows.iter().map(rest_row).collect()
    }
}
