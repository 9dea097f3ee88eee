//! [`IngressQueue`] on SQLite.

use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::SqliteStore;
use crate::StoreError;
use crate::ingress::{
    CLAIM_WINDOW, ClaimScope, Claimed, DeadLetter, Enqueued, IngressId, IngressPruned,
    IngressQueue, IngressState, NewIngress, TransientFailure,
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

/// Completes a claimed message (refused in any other state).
pub(super) fn complete_in(conn: &Connection, id: IngressId, now: i64) -> Result<(), StoreError> {
    expect_state(conn, id, "complete", &[IngressState::Claimed])?;
    tombstone(conn, id, now).map(drop)
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

/// A claim finds lane heads in two bounded steps, like the PostgreSQL claim (see
/// `postgres/ingress.rs`), so that no claim walks the backlog:
///
/// 1. [`WINDOW_HEADS`]: among the [`CLAIM_WINDOW`] oldest pending messages, the due lane heads
///    (no older unfinished message in the lane, no claimed one), oldest first. With many
///    senders the oldest messages are mostly heads and this is all it takes.
/// 2. Only when that found fewer than asked and more messages are pending than the window
///    holds, [`LANE_HEADS`]: a skip scan over the lanes with unfinished messages
///    (`ingress_lane`), one index probe per lane, whose first row is the lane's head.
///
/// `INDEXED BY` and `CROSS JOIN` pin the plans: a queue table grows from empty, and a plan
/// chosen on stale statistics must not turn a claim into a walk over the backlog.
/// Whether a lane has a claimed message is one probe of `ingress_lane_claimed`: a message
/// released from hold may be older than the lane's claimed one, so the head alone does not say.
/// `{SCOPE}` is the account filter (`?2`), `{NEXT}` steps to the next lane.
const WINDOW_HEADS: &str = "
SELECT q.id FROM (
    SELECT id, account, lane, available_at FROM ingress INDEXED BY ingress_ready
    WHERE state = 'pending' {SCOPE}
    ORDER BY id LIMIT {WINDOW}
) q
WHERE q.available_at <= ?1
  AND NOT EXISTS (
    SELECT 1 FROM ingress j
    WHERE j.account = q.account AND j.lane = q.lane AND j.state IN ('pending', 'claimed')
      AND j.id < q.id)
  AND NOT EXISTS (
    SELECT 1 FROM ingress c
    WHERE c.account = q.account AND c.lane = q.lane AND c.state = 'claimed')
ORDER BY q.id
LIMIT ?3";

/// Step 2 of a claim (see [`WINDOW_HEADS`]).
const LANE_HEADS: &str = "
WITH RECURSIVE lanes(id) AS (
    SELECT (SELECT id FROM ingress
            WHERE state IN ('pending', 'claimed') {SCOPE}
            ORDER BY account, lane, id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.id FROM ingress j
            WHERE j.state IN ('pending', 'claimed') {JSCOPE} AND {NEXT}
            ORDER BY j.account, j.lane, j.id LIMIT 1)
    FROM lanes l CROSS JOIN ingress p ON p.id = l.id
)
SELECT h.id FROM lanes l CROSS JOIN ingress h ON h.id = l.id
WHERE h.state = 'pending' AND h.available_at <= ?1
  AND NOT EXISTS (
    SELECT 1 FROM ingress c
    WHERE c.account = h.account AND c.lane = h.lane AND c.state = 'claimed')
ORDER BY h.id
LIMIT ?3";

/// Whether more messages are pending than the window of step 1 holds.
const BEYOND_WINDOW: &str = "
SELECT EXISTS (
    SELECT 1 FROM ingress INDEXED BY ingress_ready
    WHERE state = 'pending' {SCOPE} ORDER BY id LIMIT 1 OFFSET {WINDOW}
)";

/// The claim statements for one account (`?2`) or for all (`?2` is NULL).
struct ClaimSql {
    window: String,
    beyond_window: String,
    lanes: String,
}

impl ClaimSql {
    fn new(scoped: bool) -> Self {
        let (scope, jscope, next) = if scoped {
            ("AND account = ?2", "AND j.account = ?2", "j.lane > p.lane")
        } else {
            (
                "AND ?2 IS NULL",
                "AND ?2 IS NULL",
                "(j.account, j.lane) > (p.account, p.lane)",
            )
        };
        let fill = |sql: &str| {
            sql.replace("{SCOPE}", scope)
                .replace("{JSCOPE}", jscope)
                .replace("{NEXT}", next)
                .replace("{WINDOW}", &CLAIM_WINDOW.to_string())
        };
        Self {
            window: fill(WINDOW_HEADS),
            beyond_window: fill(BEYOND_WINDOW),
            lanes: fill(LANE_HEADS),
        }
    }
}

static CLAIM_SQL_SCOPED: LazyLock<ClaimSql> = LazyLock::new(|| ClaimSql::new(true));
static CLAIM_SQL_ALL: LazyLock<ClaimSql> = LazyLock::new(|| ClaimSql::new(false));

/// The ids one step of a claim finds.
fn heads(
    conn: &Connection,
    sql: &str,
    now: i64,
    scope: Option<&str>,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| {
            s.query_map(params![now, scope, limit], |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>()
        })
        .map_err(StoreError::query("find lane heads"))
}

/// Claims the rows `ids` (lane heads found in this transaction) and returns them.
fn take(conn: &Connection, ids: &[i64]) -> Result<Vec<Claimed>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    let mut stmt = conn
        .prepare_cached(
            "UPDATE ingress SET state = 'claimed', attempts = attempts + 1
             WHERE id = ?1 AND state = 'pending'
             RETURNING id, account, event_id, lane, payload, received_at, attempts, last_error",
        )
        .map_err(StoreError::query("claim ingress message"))?;
    for id in ids {
        let row = stmt
            .query_row([id], |r| {
                Ok(Claimed {
                    id: IngressId::new(r.get(0)?),
                    account: r.get(1)?,
                    event_id: r.get(2)?,
                    lane: r.get(3)?,
                    payload: r.get(4)?,
                    received_at: r.get(5)?,
                    attempt: to_u32(r.get::<_, i64>(6)?),
                    last_error: r.get(7)?,
                })
            })
            .map_err(StoreError::query("claim ingress message"))?;
        out.push(row);
    }
    Ok(out)
}

fn claim(
    conn: &Connection,
    scope: Option<&str>,
    now: i64,
    limit: usize,
) -> Result<Vec<Claimed>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = if scope.is_some() {
        &*CLAIM_SQL_SCOPED
    } else {
        &*CLAIM_SQL_ALL
    };
    let mut ids = heads(conn, &sql.window, now, scope, limit)?;
    let found = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    if found < limit {
        let beyond: bool = conn
            .prepare_cached(&sql.beyond_window)
            .and_then(|mut s| s.query_row(params![now, scope], |r| r.get(0)))
            .map_err(StoreError::query("look beyond the claim window"))?;
        if beyond {
            for id in heads(conn, &sql.lanes, now, scope, limit)? {
                if !ids.contains(&id) && i64::try_from(ids.len()).unwrap_or(i64::MAX) < limit {
                    ids.push(id);
                }
            }
        }
    }
    ids.sort_unstable();
    take(conn, &ids)
}

#[async_trait]
impl IngressQueue for SqliteStore {
    async fn enqueue(&self, item: NewIngress) -> Result<Enqueued, StoreError> {
        item.check_ids()?;
        self.write_ack(move |conn| {
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
        self.write(move |conn| complete_in(conn, id, now)).await
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

    fn store_counts(&self) -> Option<crate::StoreCounts> {
        Some(self.write_counts())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite virtual-machine steps of one claim when a lane holds `backlog` messages behind
    /// its claimed head and another sender's text comes after them.
    fn claim_cost(backlog: i64) -> u64 {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO ingress (account, event_id, lane, payload, received_at, state, available_at)
             SELECT 'a', 'busy-' || i, 'busy', x'', 0,
                    CASE WHEN i = 1 THEN 'claimed' ELSE 'pending' END, 0 FROM n",
            [backlog + 1],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO ingress (account, event_id, lane, payload, received_at, state, available_at)
             VALUES ('a', 'quiet', 'quiet', x'', 0, 'pending', 0)",
            [],
        )
        .unwrap();
        let claimed = claim(&conn, Some("a"), 1, 5).unwrap();
        assert_eq!(
            claimed
                .iter()
                .map(|c| c.event_id.as_str())
                .collect::<Vec<_>>(),
            ["quiet"]
        );
        // Every statement a claim ran is in the cache, with its step counter.
        let sql = &*CLAIM_SQL_SCOPED;
        [&sql.window, &sql.beyond_window, &sql.lanes]
            .into_iter()
            .map(|q| {
                let stmt = conn.prepare_cached(q).unwrap();
                u64::try_from(stmt.get_status(rusqlite::StatementStatus::VmStep)).unwrap()
            })
            .sum()
    }

    #[test]
    fn a_claim_costs_the_same_whatever_one_lanes_backlog() {
        let small = claim_cost(2_000);
        let large = claim_cost(20_000);
        // Walking the backlog would cost ten times as much; lane heads cost the same.
        assert!(large < small + small / 2, "{small} steps vs {large} steps");
    }
}
