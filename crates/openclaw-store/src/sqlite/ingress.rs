//! [`IngressQueue`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::SqliteStore;
use crate::StoreError;
use crate::ingress::{
    ClaimScope, Claimed, DeadLetter, Enqueued, IngressId, IngressPruned, IngressQueue,
    IngressState, NewIngress, TransientFailure,
};

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

pub(super) fn to_u64(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The state of one row, or `FindRow`.
fn state_of(conn: &Connection, id: IngressId) -> Result<IngressState, StoreError> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT state FROM ingress WHERE id = ?1")
        .and_then(|mut s| s.query_row([id.as_i64()], |r| r.get(0)).optional())
        .map_err(StoreError::query("read ingress state"))?;
    match stored {
        Some(s) => IngressState::parse(&s),
        None => Err(StoreError::FindRow {
            what: "ingress message",
            id: id.as_i64(),
        }),
    }
}

/// Checks that the row is in one of `allowed` states before `action`.
fn expect_state(
    conn: &Connection,
    id: IngressId,
    action: &'static str,
    allowed: &[IngressState],
) -> Result<IngressState, StoreError> {
    let state = state_of(conn, id)?;
    if allowed.contains(&state) {
        Ok(state)
    } else {
        Err(StoreError::ChangeState {
            what: "ingress message",
            id: id.as_i64(),
            action,
            state: state.to_string(),
        })
    }
}

fn exec(
    conn: &Connection,
    context: &'static str,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(p))
        .map_err(StoreError::query(context))
}

/// Finishes a message as a tombstone: payload dropped, id kept.
pub(super) fn tombstone(conn: &Connection, id: IngressId, now: i64) -> Result<usize, StoreError> {
    exec(
        conn,
        "complete ingress message",
        "UPDATE ingress SET state = 'completed', payload = x'', finished_at = ?2, last_error = NULL
         WHERE id = ?1",
        params![id.as_i64(), now],
    )
}

/// Puts a message back into its lane, due at `now`.
pub(super) fn requeue(conn: &Connection, id: IngressId, now: i64) -> Result<usize, StoreError> {
    exec(
        conn,
        "requeue ingress message",
        "UPDATE ingress SET state = 'pending', available_at = ?2, finished_at = NULL WHERE id = ?1",
        params![id.as_i64(), now],
    )
}

const CLAIM_SQL: &str = "
SELECT i.id, i.account, i.event_id, i.lane, i.payload, i.received_at, i.attempts, i.last_error
FROM ingress i
WHERE i.state = 'pending' AND i.available_at <= ?1 AND (?2 IS NULL OR i.account = ?2)
  AND NOT EXISTS (
    SELECT 1 FROM ingress j
    WHERE j.account = i.account AND j.lane = i.lane AND j.id <> i.id
      AND j.state IN ('pending', 'claimed')
      AND (j.state = 'claimed' OR j.id < i.id)
  )
ORDER BY i.id
LIMIT ?3";

fn claim(
    conn: &Connection,
    scope: Option<&str>,
    now: i64,
    limit: usize,
) -> Result<Vec<Claimed>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let claimed = conn
        .prepare_cached(CLAIM_SQL)
        .and_then(|mut s| {
            s.query_map(params![now, scope, limit], |r| {
                Ok(Claimed {
                    id: IngressId::new(r.get(0)?),
                    account: r.get(1)?,
                    event_id: r.get(2)?,
                    lane: r.get(3)?,
                    payload: r.get(4)?,
                    received_at: r.get(5)?,
                    attempt: to_u32(r.get::<_, i64>(6)?.saturating_add(1)),
                    last_error: r.get(7)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(StoreError::query("claim ingress messages"))?;
    for c in &claimed {
        exec(
            conn,
            "claim ingress message",
            "UPDATE ingress SET state = 'claimed', attempts = attempts + 1 WHERE id = ?1",
            [c.id.as_i64()],
        )?;
    }
    Ok(claimed)
}

#[async_trait]
impl IngressQueue for SqliteStore {
    async fn enqueue(&self, item: NewIngress) -> Result<Enqueued, StoreError> {
        item.check_ids()?;
        self.write(move |conn| {
            let earlier: Option<(i64, String)> = conn
                .prepare_cached("SELECT id, state FROM ingress WHERE account = ?1 AND event_id = ?2")
                .and_then(|mut s| {
                    s.query_row(params![item.account, item.event_id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(StoreError::query("find earlier ingress message"))?;
            if let Some((id, state)) = earlier {
                return Ok(Enqueued::Duplicate {
                    id: IngressId::new(id),
                    state: IngressState::parse(&state)?,
                });
            }
            exec(
                conn,
                "enqueue ingress message",
                "INSERT INTO ingress (account, event_id, lane, payload, received_at, state, available_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?5)",
                params![item.account, item.event_id, item.lane, item.payload, item.received_at],
            )?;
            Ok(Enqueued::Accepted {
                id: IngressId::new(conn.last_insert_rowid()),
            })
        })
        .await
    }

    async fn claim_next(
        &self,
        scope: ClaimScope,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.write(move |conn| {
            let account = match &scope {
                ClaimScope::All => None,
                ClaimScope::Account(a) => Some(a.as_str()),
            };
            claim(conn, account, now, limit)
        })
        .await
    }

    async fn complete(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            expect_state(conn, id, "complete", &[IngressState::Claimed])?;
            tombstone(conn, id, now).map(drop)
        })
        .await
    }

    async fn fail_transient(
        &self,
        id: IngressId,
        failure: TransientFailure,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            expect_state(conn, id, "retry", &[IngressState::Claimed])?;
            exec(
                conn,
                "fail ingress message",
                "UPDATE ingress SET state = 'pending', available_at = ?2, last_error = ?3 WHERE id = ?1",
                params![id.as_i64(), failure.retry_at.max(failure.now), failure.error],
            )
            .map(drop)
        })
        .await
    }

    async fn dead_letter(&self, id: IngressId, reason: &str, now: i64) -> Result<(), StoreError> {
        let reason = reason.to_owned();
        self.write(move |conn| {
            expect_state(
                conn,
                id,
                "dead-letter",
                &[IngressState::Claimed, IngressState::Pending, IngressState::Held],
            )?;
            exec(
                conn,
                "dead-letter ingress message",
                "UPDATE ingress SET state = 'dead', dead_reason = ?2, finished_at = ?3 WHERE id = ?1",
                params![id.as_i64(), reason, now],
            )
            .map(drop)
        })
        .await
    }

    async fn hold(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            expect_state(conn, id, "hold", &[IngressState::Claimed])?;
            exec(
                conn,
                "hold ingress message",
                "UPDATE ingress SET state = 'held', finished_at = ?2 WHERE id = ?1",
                params![id.as_i64(), now],
            )
            .map(drop)
        })
        .await
    }

    async fn release_held(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            expect_state(conn, id, "release", &[IngressState::Held])?;
            requeue(conn, id, now).map(drop)
        })
        .await
    }

    async fn discard_held(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            expect_state(conn, id, "discard", &[IngressState::Held])?;
            tombstone(conn, id, now).map(drop)
        })
        .await
    }

    async fn list_dead_letters(&self, account: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let account = account.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, account, event_id, lane, received_at, attempts, dead_reason, last_error,
                        finished_at, length(payload)
                 FROM ingress WHERE state = 'dead' AND account = ?1 ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map([account], |r| {
                    Ok(DeadLetter {
                        id: IngressId::new(r.get(0)?),
                        account: r.get(1)?,
                        event_id: r.get(2)?,
                        lane: r.get(3)?,
                        received_at: r.get(4)?,
                        attempts: to_u32(r.get(5)?),
                        reason: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                        last_error: r.get(7)?,
                        failed_at: r.get::<_, Option<i64>>(8)?.unwrap_or_default(),
                        payload_len: u64::try_from(r.get::<_, i64>(9)?).unwrap_or_default(),
                    })
                })?
                .collect()
            })
            .map_err(StoreError::query("list dead letters"))
        })
        .await
    }

    async fn resubmit(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            expect_state(conn, id, "resubmit", &[IngressState::DeadLettered])?;
            exec(
                conn,
                "resubmit ingress message",
                "UPDATE ingress SET state = 'pending', attempts = 0, available_at = ?2,
                        dead_reason = NULL, last_error = NULL, finished_at = NULL
                 WHERE id = ?1",
                params![id.as_i64(), now],
            )
            .map(drop)
        })
        .await
    }

    async fn queue_depth(&self, account: &str) -> Result<u64, StoreError> {
        let account = account.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT count(*) FROM ingress WHERE account = ?1 AND state IN ('pending', 'claimed')",
            )
            .and_then(|mut s| s.query_row([account], |r| r.get::<_, i64>(0)))
            .map(|n| u64::try_from(n).unwrap_or_default())
            .map_err(StoreError::query("count queued messages"))
        })
        .await
    }

    async fn prune_ingress(&self, now: i64) -> Result<IngressPruned, StoreError> {
        let o = self.options.retention;
        self.write(move |conn| {
            let tombstones = prune_state(
                conn,
                "completed",
                now.saturating_sub(o.tombstone_ttl_ms),
                o.max_tombstones_per_account,
            )?;
            let dead_letters = prune_state(
                conn,
                "dead",
                now.saturating_sub(o.dead_letter_ttl_ms),
                o.max_dead_letters_per_account,
            )?;
            Ok(IngressPruned {
                tombstones,
                dead_letters,
            })
        })
        .await
    }
}

/// Deletes rows in a finished `state` older than `cutoff`, then the oldest beyond `cap` per account.
///
/// `state` is one of two literals, spelled into the SQL so that the partial index applies.
fn prune_state(
    conn: &Connection,
    state: &'static str,
    cutoff: i64,
    cap: u64,
) -> Result<u64, StoreError> {
    let mut removed = exec(
        conn,
        "prune finished ingress messages",
        &format!("DELETE FROM ingress WHERE state = '{state}' AND finished_at < ?1"),
        params![cutoff],
    )?;
    let accounts: Vec<String> = conn
        .prepare_cached(&format!(
            "SELECT DISTINCT account FROM ingress WHERE state = '{state}'"
        ))
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(StoreError::query("list accounts"))?;
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    for account in accounts {
        removed += exec(
            conn,
            "cap finished ingress messages",
            &format!(
                "DELETE FROM ingress WHERE id IN (
                    SELECT id FROM ingress WHERE state = '{state}' AND account = ?1
                    ORDER BY finished_at DESC, id DESC LIMIT -1 OFFSET ?2)"
            ),
            params![account, cap],
        )?;
    }
    Ok(to_u64(removed))
}
