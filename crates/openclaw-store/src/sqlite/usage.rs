//! [`UsageStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::SqliteStore;
use super::outbound::by_id;
use crate::StoreError;
use crate::outbound::IntentState;
use crate::usage::{BudgetHit, DayUsage, HeldRest, SentPart, UsageRow, UsageStore};

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn sum(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<u64, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(p, |r| r.get::<_, Option<i64>>(0)))
        .map(|n| count(n.unwrap_or(0)))
        .map_err(StoreError::query("read usage"))
}

fn rest_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HeldRest> {
    Ok(HeldRest {
        account: r.get(0)?,
        peer: r.get(1)?,
        reply_id: r.get(2)?,
        page: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(u32::MAX),
        text: r.get(4)?,
        offered_at: r.get(5)?,
    })
}

const REST_COLUMNS: &str = "account, peer, reply_id, page, text, offered_at";

/// Marks a part sent and counts its segments for its day and recipient, in the caller's
/// transaction.
pub(super) fn mark_sent_counted_in(conn: &Connection, part: &SentPart) -> Result<(), StoreError> {
    let current = by_id(conn, part.intent)?;
    if !current.state.can_become(IntentState::Sent) {
        return Err(StoreError::ChangeState {
            what: "outbound intent",
            id: part.intent.as_i64(),
            action: "mark sent",
            state: current.state.as_str().to_owned(),
        });
    }
    conn.prepare_cached(
        "UPDATE outbound_intents SET state = 'sent', message_sid = ?2, error = NULL,
                updated_at = ?3 WHERE id = ?1",
    )
    .and_then(|mut s| s.execute(params![part.intent.as_i64(), part.message_sid, part.now]))
    .map_err(StoreError::query("update outbound intent"))?;
    conn.prepare_cached(
        "INSERT INTO usage_daily (account, day, peer, segments, messages, updated_at)
         VALUES (?1, ?2, ?3, ?4, 1, ?5)
         ON CONFLICT (account, day, peer) DO UPDATE SET
            segments = segments + excluded.segments, messages = messages + 1,
            updated_at = excluded.updated_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            current.account,
            part.day,
            current.recipient,
            i64::from(part.segments),
            part.now
        ])
    })
    .map(drop)
    .map_err(StoreError::query("count usage"))
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn mark_sent_counted(&self, part: SentPart) -> Result<(), StoreError> {
        self.write(move |conn| mark_sent_counted_in(conn, &part))
            .await
    }

    async fn day_usage(
        &self,
        account: &str,
        day: &str,
        peer: &str,
    ) -> Result<DayUsage, StoreError> {
        let (account, day, peer) = (account.to_owned(), day.to_owned(), peer.to_owned());
        self.read(move |conn| {
            Ok(DayUsage {
                peer_segments: sum(
                    conn,
                    "SELECT sum(segments) FROM usage_daily WHERE account = ?1 AND day = ?2 AND peer = ?3",
                    params![account, day, peer],
                )?,
                account_segments: sum(
                    conn,
                    "SELECT sum(segments) FROM usage_daily WHERE account = ?1 AND day = ?2",
                    params![account, day],
                )?,
            })
        })
        .await
    }

    async fn usage(
        &self,
        account: Option<&str>,
        since_day: Option<&str>,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let (account, since) = (account.map(str::to_owned), since_day.map(str::to_owned));
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT account, day, peer, segments, messages FROM usage_daily
                 WHERE (?1 IS NULL OR account = ?1) AND (?2 IS NULL OR day >= ?2)
                 ORDER BY day, account, peer",
            )
            .and_then(|mut s| {
                s.query_map(params![account, since], |r| {
                    Ok(UsageRow {
                        account: r.get(0)?,
                        day: r.get(1)?,
                        peer: r.get(2)?,
                        segments: count(r.get(3)?),
                        messages: count(r.get(4)?),
                    })
                })?
                .collect()
            })
            .map_err(StoreError::query("read usage"))
        })
        .await
    }

    async fn record_budget_hit(&self, hit: BudgetHit) -> Result<bool, StoreError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO budget_hits (account, day, scope, peer, reply_id, reason, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (reply_id, scope) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    hit.account,
                    hit.day,
                    hit.scope,
                    hit.peer,
                    hit.reply_id,
                    hit.reason,
                    hit.at
                ])
            })
            .map(|n| n > 0)
            .map_err(StoreError::query("record budget hit"))
        })
        .await
    }

    async fn budget_hits(
        &self,
        account: &str,
        since_day: &str,
        limit: u32,
    ) -> Result<Vec<BudgetHit>, StoreError> {
        let (account, since) = (account.to_owned(), since_day.to_owned());
        self.read(move |conn| {
            let mut hits: Vec<BudgetHit> = conn
                .prepare_cached(
                    "SELECT account, day, scope, peer, reply_id, reason, at FROM budget_hits
                     WHERE account = ?1 AND day >= ?2 ORDER BY id DESC LIMIT ?3",
                )
                .and_then(|mut s| {
                    s.query_map(params![account, since, i64::from(limit)], |r| {
                        Ok(BudgetHit {
                            account: r.get(0)?,
                            day: r.get(1)?,
                            scope: r.get(2)?,
                            peer: r.get(3)?,
                            reply_id: r.get(4)?,
                            reason: r.get(5)?,
                            at: r.get(6)?,
                        })
                    })?
                    .collect()
                })
                .map_err(StoreError::query("read budget hits"))?;
            hits.reverse();
            Ok(hits)
        })
        .await
    }

    async fn hold_rest(&self, rest: HeldRest) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO held_rests (account, peer, reply_id, page, text, offered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (account, peer) DO UPDATE SET reply_id = excluded.reply_id,
                    page = excluded.page, text = excluded.text, offered_at = excluded.offered_at",
            )
            .and_then(|mut s| {
                s.execute(params![
                    rest.account,
                    rest.peer,
                    rest.reply_id,
                    i64::from(rest.page),
                    rest.text,
                    rest.offered_at
                ])
            })
            .map(drop)
            .map_err(StoreError::query("hold rest"))
        })
        .await
    }

    async fn held_rest(&self, account: &str, peer: &str) -> Result<Option<HeldRest>, StoreError> {
        let (account, peer) = (account.to_owned(), peer.to_owned());
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {REST_COLUMNS} FROM held_rests WHERE account = ?1 AND peer = ?2"
            ))
            .and_then(|mut s| s.query_row(params![account, peer], rest_row).optional())
            .map_err(StoreError::query("read held rest"))
        })
        .await
    }

    async fn drop_rest(
        &self,
        account: &str,
        peer: &str,
        reply_id: &str,
    ) -> Result<bool, StoreError> {
        let (account, peer, reply_id) = (account.to_owned(), peer.to_owned(), reply_id.to_owned());
        self.write(move |conn| {
            conn.prepare_cached(
                "DELETE FROM held_rests WHERE account = ?1 AND peer = ?2 AND reply_id = ?3",
            )
            .and_then(|mut s| s.execute(params![account, peer, reply_id]))
            .map(|n| n > 0)
            .map_err(StoreError::query("drop held rest"))
        })
        .await
    }

    async fn drop_rests_before(
        &self,
        account: &str,
        before: i64,
    ) -> Result<Vec<HeldRest>, StoreError> {
        let account = account.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(&format!(
                "DELETE FROM held_rests WHERE account = ?1 AND offered_at < ?2 RETURNING {REST_COLUMNS}"
            ))
            .and_then(|mut s| s.query_map(params![account, before], rest_row)?.collect())
            .map_err(StoreError::query("drop held rests"))
        })
        .await
    }
}
