//! [`IngressQueue`] on PostgreSQL: leases, fencing, one claim per lane across nodes.

use std::sync::LazyLock;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{LOCK_CLASS_LANE, PostgresStore, decode, is_lost_race, pg, to_i64, to_u32};
use crate::StoreError;
use crate::ingress::{
    CLAIM_WINDOW, ClaimScope, Claimed, DeadLetter, Enqueued, IngressId, IngressPruned,
    IngressQueue, IngressState, NewIngress, TransientFailure,
};

/// How often a claim is tried again after losing a race for a lane (a unique violation on the
/// one-claim-per-lane index); after that the call answers with what it has (possibly nothing).
pub(crate) const CLAIM_RACE_RETRIES: usize = 3;

/// The state text of a message claimed by another handle, in [`StoreError::ChangeState`].
pub const CLAIMED_ELSEWHERE: &str = "claimed by another gateway";

pub(super) async fn execute<C: GenericClient + ?Sized>(
    c: &C,
    context: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg(context))?;
    c.execute(&stmt, params).await.map_err(pg(context))
}

pub(super) async fn query<C: GenericClient + ?Sized>(
    c: &C,
    context: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg(context))?;
    c.query(&stmt, params).await.map_err(pg(context))
}

pub(super) async fn query_opt<C: GenericClient + ?Sized>(
    c: &C,
    context: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg(context))?;
    c.query_opt(&stmt, params).await.map_err(pg(context))
}

/// The state (and owner) of one row, or `FindRow`.
async fn state_of<C: GenericClient + ?Sized>(
    c: &C,
    id: IngressId,
) -> Result<(IngressState, Option<String>), StoreError> {
    let row = query_opt(
        c,
        "read ingress state",
        "SELECT state, owner FROM ingress WHERE id = $1",
        &[&id.as_i64()],
    )
    .await?
    .ok_or(StoreError::FindRow {
        what: "ingress message",
        id: id.as_i64(),
    })?;
    let state: String = row.try_get(0).map_err(decode("ingress state"))?;
    Ok((
        IngressState::parse(&state)?,
        row.try_get(1).map_err(decode("ingress owner"))?,
    ))
}

/// The error for a transition that did not apply: the message is missing, in another state,
/// or claimed by another handle.
async fn refused<C: GenericClient + ?Sized>(
    c: &C,
    id: IngressId,
    action: &'static str,
    node: &str,
) -> StoreError {
    match state_of(c, id).await {
        Err(err) => err,
        Ok((IngressState::Claimed, owner)) if owner.as_deref() != Some(node) => {
            StoreError::ChangeState {
                what: "ingress message",
                id: id.as_i64(),
                action,
                state: CLAIMED_ELSEWHERE.to_owned(),
            }
        }
        Ok((state, _)) => StoreError::ChangeState {
            what: "ingress message",
            id: id.as_i64(),
            action,
            state: state.to_string(),
        },
    }
}

/// Finishes a message as a tombstone: payload dropped, id kept.
pub(super) const TOMBSTONE_SQL: &str =
    "UPDATE ingress SET state = 'completed', payload = '\\x'::bytea,
    finished_at = $2, last_error = NULL, owner = NULL, lease_until = NULL WHERE id = $1";

/// Puts a held message back into its lane, due at `$2`.
pub(super) const REQUEUE_SQL: &str = "UPDATE ingress SET state = 'pending', available_at = $2,
    finished_at = NULL WHERE id = $1 AND state = 'held'";

/// Expired leases become pending again (attempts kept), so that the lane's head can be claimed.
const EXPIRE_SQL: &str = "UPDATE ingress SET state = 'pending', owner = NULL, lease_until = NULL
    WHERE state = 'claimed' AND lease_until < $1 AND ($2::text IS NULL OR account = $2)";

/// A claim is two steps in one transaction, each bounded whatever the backlog:
///
/// 1. [`WINDOW_HEADS`]: among the [`CLAIM_WINDOW`] oldest pending messages, the lane heads
///    that are due (no older unfinished message and no claimed one in their lane), oldest
///    first. With many senders the oldest messages are mostly heads and this is all it takes.
/// 2. When that found fewer than asked, [`LANE_HEADS`]: a skip scan over the distinct lanes
///    with unfinished messages (`ingress_lane`), each lane's head, the due ones oldest first.
///    It costs one index probe per lane, so a few deep lanes (one chatty sender, busy lanes
///    with a backlog) never make a claim walk the backlog, and a sender whose head is beyond
///    the window is not kept waiting behind someone else's backlog.
///
/// (Walking every pending message instead cost ~95 ms per claim with 10,000 queued in 20 busy
/// lanes.) `{HEADS}` is one of the two; `{SCOPE}` the account filter. The heads are
/// materialised and the rows fetched by id (`= ANY (ARRAY(...))`), so no plan, however stale
/// the statistics of a queue table that grows from empty, turns this into a loop over the
/// backlog; then the rows are locked (`SKIP LOCKED`) and claimed.
const CLAIM_SQL_TEMPLATE: &str = "
WITH {HEADS},
candidates AS (
    SELECT i.id FROM ingress i
    WHERE i.id = ANY (ARRAY(SELECT id FROM heads)) AND i.state = 'pending'
    FOR UPDATE OF i SKIP LOCKED
)
UPDATE ingress SET state = 'claimed', attempts = ingress.attempts + 1, owner = $4,
       lease_until = $1 + $5
FROM candidates WHERE ingress.id = candidates.id AND ingress.state = 'pending'
RETURNING ingress.id, ingress.account, ingress.event_id, ingress.lane, ingress.payload,
          ingress.received_at, ingress.attempts, ingress.last_error";

/// Step 1 of a claim (see [`CLAIM_SQL_TEMPLATE`]).
const WINDOW_HEADS: &str = "
heads AS MATERIALIZED (
    SELECT q.id FROM (
        SELECT id, account, lane, available_at FROM ingress
        WHERE state = 'pending' {SCOPE}
        ORDER BY id LIMIT {WINDOW}
    ) q
    WHERE q.available_at <= $1
      AND NOT EXISTS (
        SELECT 1 FROM ingress j
        WHERE j.account = q.account AND j.lane = q.lane AND j.id <> q.id
          AND j.state IN ('pending', 'claimed')
          AND (j.state = 'claimed' OR j.id < q.id)
      )
    ORDER BY q.id
    LIMIT $3
)";

/// Step 2 of a claim (see [`CLAIM_SQL_TEMPLATE`]); `{NEXT}` steps to the next lane.
const LANE_HEADS: &str = "
RECURSIVE lanes(account, lane) AS (
    (SELECT account, lane FROM ingress
     WHERE state IN ('pending', 'claimed') {SCOPE}
     ORDER BY account, lane LIMIT 1)
    UNION ALL
    SELECT n.account, n.lane FROM lanes l CROSS JOIN LATERAL (
        SELECT account, lane FROM ingress
        WHERE state IN ('pending', 'claimed') {SCOPE} AND {NEXT}
        ORDER BY account, lane LIMIT 1) n
),
heads AS MATERIALIZED (
    SELECT h.id FROM lanes l CROSS JOIN LATERAL (
        SELECT id, state, available_at FROM ingress
        WHERE account = l.account AND lane = l.lane AND state IN ('pending', 'claimed')
        ORDER BY id LIMIT 1) h
    WHERE h.state = 'pending' AND h.available_at <= $1
    ORDER BY h.id
    LIMIT $3
)";

/// The SQL of one claim step, for one account (`$2`; lanes stepped within it) or for all
/// (`$2` is NULL; stepped by (account, lane)).
fn claim_sql(heads: &str, scoped: bool) -> String {
    let (scope, next) = if scoped {
        ("AND account = $2", "lane > l.lane")
    } else {
        (
            "AND $2::text IS NULL",
            "(account, lane) > (l.account, l.lane)",
        )
    };
    CLAIM_SQL_TEMPLATE
        .replace("{HEADS}", heads)
        .replace("{SCOPE}", scope)
        .replace("{NEXT}", next)
        .replace("{WINDOW}", &CLAIM_WINDOW.to_string())
}

/// Whether more pending messages exist than the window holds (then step 2 may find heads
/// that step 1 could not see).
const BEYOND_WINDOW: &str = "
SELECT EXISTS (
    SELECT 1 FROM ingress WHERE state = 'pending' {SCOPE} ORDER BY id OFFSET {WINDOW} LIMIT 1
)";

/// The two claim steps and the check between them, for one account and for all.
struct ClaimSql {
    window: String,
    beyond_window: String,
    lanes: String,
}

impl ClaimSql {
    fn new(scoped: bool) -> Self {
        Self {
            window: claim_sql(WINDOW_HEADS, scoped),
            beyond_window: BEYOND_WINDOW
                .replace(
                    "{SCOPE}",
                    if scoped {
                        "AND account = $1"
                    } else {
                        "AND $1::text IS NULL"
                    },
                )
                .replace("{WINDOW}", &CLAIM_WINDOW.to_string()),
            lanes: claim_sql(LANE_HEADS, scoped),
        }
    }
}

static CLAIM_SQL_SCOPED: LazyLock<ClaimSql> = LazyLock::new(|| ClaimSql::new(true));
static CLAIM_SQL_ALL: LazyLock<ClaimSql> = LazyLock::new(|| ClaimSql::new(false));

fn claimed(row: &Row) -> Result<Claimed, StoreError> {
    let d = decode("claimed ingress message");
    Ok(Claimed {
        id: IngressId::new(row.try_get(0).map_err(&d)?),
        account: row.try_get(1).map_err(&d)?,
        event_id: row.try_get(2).map_err(&d)?,
        lane: row.try_get(3).map_err(&d)?,
        payload: row.try_get(4).map_err(&d)?,
        received_at: row.try_get(5).map_err(&d)?,
        attempt: to_u32(row.try_get(6).map_err(&d)?),
        last_error: row.try_get(7).map_err(&d)?,
    })
}

impl PostgresStore {
    /// One claim transaction; `Ok(None)` when it lost a race for a lane.
    async fn claim_once(
        &self,
        account: Option<&str>,
        now: i64,
        limit: i64,
    ) -> Result<Option<Vec<Claimed>>, StoreError> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await.map_err(pg("begin claim"))?;
        let expire = tx
            .prepare_cached(EXPIRE_SQL)
            .await
            .map_err(pg("expire ingress leases"))?;
        match tx.execute(&expire, &[&now, &account]).await {
            Ok(_) => {}
            Err(err) if is_lost_race(&err) => return Ok(None),
            Err(err) => return Err(pg("expire ingress leases")(err)),
        }
        let sql = if account.is_some() {
            &*CLAIM_SQL_SCOPED
        } else {
            &*CLAIM_SQL_ALL
        };
        let lease = self.inner.options.lease_ms;
        let mut out = Vec::new();
        for (index, step) in [&sql.window, &sql.lanes].into_iter().enumerate() {
            let want = limit - i64::try_from(out.len()).unwrap_or(i64::MAX);
            if want <= 0 {
                break;
            }
            if index == 1 {
                // Step 2 only when step 1 could not see every pending message.
                let beyond: bool = tx
                    .query_one(sql.beyond_window.as_str(), &[&account])
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(pg("look beyond the claim window"))?;
                if !beyond {
                    break;
                }
            }
            let stmt = tx
                .prepare_cached(step)
                .await
                .map_err(pg("claim ingress messages"))?;
            let rows = match tx
                .query(&stmt, &[&now, &account, &want, &self.inner.node_id, &lease])
                .await
            {
                Ok(rows) => rows,
                Err(err) if is_lost_race(&err) => return Ok(None),
                Err(err) => return Err(pg("claim ingress messages")(err)),
            };
            for row in &rows {
                out.push(claimed(row)?);
            }
        }
        match tx.commit().await {
            Ok(()) => {}
            Err(err) if is_lost_race(&err) => return Ok(None),
            Err(err) => return Err(pg("commit claim")(err)),
        }
        out.sort_by_key(|c| c.id);
        Ok(Some(out))
    }

    /// Runs a fenced transition on a connection of the pool (see [`fenced_in`]).
    async fn fenced(
        &self,
        id: IngressId,
        action: &'static str,
        context: &'static str,
        sql: &str,
        extra: &[&(dyn ToSql + Sync)],
    ) -> Result<(), StoreError> {
        let client = self.conn().await?;
        let transition = Fenced {
            id,
            node: self.node_id(),
            action,
            context,
        };
        fenced_in(&client, &transition, sql, extra).await
    }
}

/// A transition of one message that only its owner (or a message in an allowed state) may make.
pub(super) struct Fenced<'a> {
    pub(super) id: IngressId,
    /// This handle's node id, the owner of its claims.
    pub(super) node: &'a str,
    pub(super) action: &'static str,
    pub(super) context: &'static str,
}

/// Runs a fenced transition on `c` (a connection or a transaction): `sql` must update the row
/// only while it is in an allowed state (and, for a claimed row, owned by this node, `$2`);
/// otherwise the refusal names the state it is in.
pub(super) async fn fenced_in<C: GenericClient + ?Sized>(
    c: &C,
    transition: &Fenced<'_>,
    sql: &str,
    extra: &[&(dyn ToSql + Sync)],
) -> Result<(), StoreError> {
    let raw = transition.id.as_i64();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&raw, &transition.node];
    params.extend_from_slice(extra);
    if execute(c, transition.context, sql, &params).await? == 1 {
        return Ok(());
    }
    Err(refused(c, transition.id, transition.action, transition.node).await)
}

/// Completes a claimed message owned by `node` on `c` (a connection or a transaction): its
/// payload dropped, its id kept; refused (see [`fenced_in`]) unless this node holds its claim.
pub(super) async fn complete_in<C: GenericClient + ?Sized>(
    c: &C,
    node: &str,
    id: IngressId,
    now: i64,
) -> Result<(), StoreError> {
    let transition = Fenced {
        id,
        node,
        action: "complete",
        context: "complete ingress message",
    };
    fenced_in(
        c,
        &transition,
        "UPDATE ingress SET state = 'completed', payload = '\\x'::bytea, finished_at = $3,
                last_error = NULL, owner = NULL, lease_until = NULL
         WHERE id = $1 AND state = 'claimed' AND owner = $2",
        &[&now],
    )
    .await
}

/// Refuses text PostgreSQL cannot store (a NUL character) before it reaches a batch, where it
/// would fail every enqueue written with it.
fn check_storable(item: &NewIngress) -> Result<(), StoreError> {
    for (what, value) in [
        ("account", &item.account),
        ("event id", &item.event_id),
        ("lane", &item.lane),
    ] {
        if value.contains('\0') {
            return Err(StoreError::InvalidInput {
                what,
                reason: "contains a NUL character".to_owned(),
            });
        }
    }
    Ok(())
}

impl PostgresStore {
    /// One enqueue, one statement and its own commit: the path when enqueues are not batched
    /// ([`PostgresOptions::ack_writers`](super::PostgresOptions::ack_writers) is 0).
    async fn enqueue_alone(&self, item: NewIngress) -> Result<Enqueued, StoreError> {
        let client = self.ingress_conn().await?;
        // One statement, so one round trip and its own transaction: the lane's advisory lock
        // is taken before the row (and its id) is made and held until the commit, so ids
        // within a lane increase in commit order (a claimer never sees a lane's newer message
        // before an older one, even when two gateways accept a sender's texts at once).
        let inserted = query_opt(
            &client,
            "enqueue ingress message",
            "WITH lane_lock AS (SELECT pg_advisory_xact_lock($6, hashtext($1 || '/' || $3)))
             INSERT INTO ingress (account, event_id, lane, payload, received_at, state, available_at)
             SELECT $1, $2, $3, $4, $5, 'pending', $5 FROM lane_lock
             ON CONFLICT (account, event_id) DO NOTHING RETURNING id",
            &[
                &item.account,
                &item.event_id,
                &item.lane,
                &item.payload,
                &item.received_at,
                &LOCK_CLASS_LANE,
            ],
        )
        .await?;
        if let Some(row) = inserted {
            return Ok(Enqueued::Accepted {
                id: IngressId::new(row.try_get(0).map_err(decode("ingress id"))?),
            });
        }
        let row = query_opt(
            &client,
            "find earlier ingress message",
            "SELECT id, state FROM ingress WHERE account = $1 AND event_id = $2",
            &[&item.account, &item.event_id],
        )
        .await?
        .ok_or_else(|| StoreError::QueryDatabase {
            context: "find earlier ingress message",
            reason: "conflicting row vanished (pruned concurrently); retry".to_owned(),
        })?;
        let state: String = row.try_get(1).map_err(decode("ingress state"))?;
        Ok(Enqueued::Duplicate {
            id: IngressId::new(row.try_get(0).map_err(decode("ingress id"))?),
            state: IngressState::parse(&state)?,
        })
    }
}

#[async_trait]
impl IngressQueue for PostgresStore {
    async fn enqueue(&self, item: NewIngress) -> Result<Enqueued, StoreError> {
        item.check_ids()?;
        check_storable(&item)?;
        match self.ack_writers() {
            Some(writers) => writers.enqueue(item).await,
            None => self.enqueue_alone(item).await,
        }
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
        let account = match &scope {
            ClaimScope::All => None,
            ClaimScope::Account(a) => Some(a.as_str()),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        for _ in 0..CLAIM_RACE_RETRIES {
            if let Some(claimed) = self.claim_once(account, now, limit).await? {
                return Ok(claimed);
            }
        }
        Ok(Vec::new())
    }

    async fn complete(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        let client = self.conn().await?;
        complete_in(&client, self.node_id(), id, now).await
    }

    async fn fail_transient(
        &self,
        id: IngressId,
        failure: TransientFailure,
    ) -> Result<(), StoreError> {
        let retry_at = failure.retry_at.max(failure.now);
        self.fenced(
            id,
            "retry",
            "fail ingress message",
            "UPDATE ingress SET state = 'pending', available_at = $3, last_error = $4,
                    owner = NULL, lease_until = NULL
             WHERE id = $1 AND state = 'claimed' AND owner = $2",
            &[&retry_at, &failure.error],
        )
        .await
    }

    async fn dead_letter(&self, id: IngressId, reason: &str, now: i64) -> Result<(), StoreError> {
        self.fenced(
            id,
            "dead-letter",
            "dead-letter ingress message",
            "UPDATE ingress SET state = 'dead', dead_reason = $3, finished_at = $4,
                    owner = NULL, lease_until = NULL
             WHERE id = $1 AND (state IN ('pending', 'held') OR (state = 'claimed' AND owner = $2))",
            &[&reason, &now],
        )
        .await
    }

    async fn hold(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.fenced(
            id,
            "hold",
            "hold ingress message",
            "UPDATE ingress SET state = 'held', finished_at = $3, owner = NULL, lease_until = NULL
             WHERE id = $1 AND state = 'claimed' AND owner = $2",
            &[&now],
        )
        .await
    }

    async fn release_held(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        // `$2` (the node) is not needed: held messages belong to nobody.
        self.fenced(
            id,
            "release",
            "release held ingress message",
            "UPDATE ingress SET state = 'pending', available_at = $3, finished_at = NULL
             WHERE id = $1 AND state = 'held' AND $2::text IS NOT NULL",
            &[&now],
        )
        .await
    }

    async fn discard_held(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.fenced(
            id,
            "discard",
            "discard held ingress message",
            "UPDATE ingress SET state = 'completed', payload = '\\x'::bytea, finished_at = $3,
                    last_error = NULL
             WHERE id = $1 AND state = 'held' AND $2::text IS NOT NULL",
            &[&now],
        )
        .await
    }

    async fn list_dead_letters(&self, account: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let client = self.conn().await?;
        let rows = query(
            &client,
            "list dead letters",
            "SELECT id, account, event_id, lane, received_at, attempts, dead_reason, last_error,
                    finished_at, octet_length(payload)::bigint
             FROM ingress WHERE state = 'dead' AND account = $1 ORDER BY id",
            &[&account],
        )
        .await?;
        let d = decode("dead letter");
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: IngressId::new(r.try_get(0).map_err(&d)?),
                    account: r.try_get(1).map_err(&d)?,
                    event_id: r.try_get(2).map_err(&d)?,
                    lane: r.try_get(3).map_err(&d)?,
                    received_at: r.try_get(4).map_err(&d)?,
                    attempts: to_u32(r.try_get(5).map_err(&d)?),
                    reason: r
                        .try_get::<_, Option<String>>(6)
                        .map_err(&d)?
                        .unwrap_or_default(),
                    last_error: r.try_get(7).map_err(&d)?,
                    failed_at: r
                        .try_get::<_, Option<i64>>(8)
                        .map_err(&d)?
                        .unwrap_or_default(),
                    payload_len: u64::try_from(r.try_get::<_, i64>(9).map_err(&d)?)
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn resubmit(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.fenced(
            id,
            "resubmit",
            "resubmit ingress message",
            "UPDATE ingress SET state = 'pending', attempts = 0, available_at = $3,
                    dead_reason = NULL, last_error = NULL, finished_at = NULL
             WHERE id = $1 AND state = 'dead' AND $2::text IS NOT NULL",
            &[&now],
        )
        .await
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        let ping = async {
            // A pooled connection may have died without the pool noticing yet (a database
            // restart, a cut network): its error says nothing about now, so one more try on
            // another (or a fresh) connection decides.
            let mut last = Ok(());
            for _ in 0..2 {
                let client = self.conn().await?;
                last = client
                    .simple_query("SELECT 1")
                    .await
                    .map(drop)
                    .map_err(pg("check the state database"));
                if last.is_ok() {
                    break;
                }
            }
            last
        };
        match tokio::time::timeout(crate::READY_CHECK_TIMEOUT, ping).await {
            Ok(answer) => answer,
            Err(_) => Err(StoreError::ConnectDatabase {
                target: self.error_target(),
                reason: format!(
                    "no answer within {} s",
                    crate::READY_CHECK_TIMEOUT.as_secs()
                ),
            }),
        }
    }

    async fn queue_depth(&self, account: &str) -> Result<u64, StoreError> {
        let client = self.conn().await?;
        let row = query_opt(
            &client,
            "count queued messages",
            "SELECT count(*) FROM ingress WHERE account = $1 AND state IN ('pending', 'claimed')",
            &[&account],
        )
        .await?;
        let n: i64 = match row {
            Some(r) => r.try_get(0).map_err(decode("queue depth"))?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn prune_ingress(&self, now: i64) -> Result<IngressPruned, StoreError> {
        let o = &self.inner.options.retention;
        let mut client = self.conn().await?;
        let tx = client.transaction().await.map_err(pg("begin prune"))?;
        let tombstones = prune_state(
            &tx,
            "completed",
            now.saturating_sub(o.tombstone_ttl_ms),
            o.max_tombstones_per_account,
        )
        .await?;
        let dead_letters = prune_state(
            &tx,
            "dead",
            now.saturating_sub(o.dead_letter_ttl_ms),
            o.max_dead_letters_per_account,
        )
        .await?;
        tx.commit().await.map_err(pg("commit prune"))?;
        Ok(IngressPruned {
            tombstones,
            dead_letters,
        })
    }

    fn claim_lease_ms(&self) -> Option<i64> {
        Some(self.inner.options.lease_ms)
    }

    async fn renew_claims(&self, now: i64) -> Result<u64, StoreError> {
        let client = self.conn().await?;
        let until = now.saturating_add(self.inner.options.lease_ms);
        execute(
            &client,
            "renew ingress leases",
            "UPDATE ingress SET lease_until = $2 WHERE state = 'claimed' AND owner = $1",
            &[&self.inner.node_id, &until],
        )
        .await
    }

    async fn release_claims(&self, now: i64) -> Result<u64, StoreError> {
        let client = self.conn().await?;
        execute(
            &client,
            "release ingress claims",
            "UPDATE ingress SET state = 'pending', available_at = $2, owner = NULL, lease_until = NULL
             WHERE state = 'claimed' AND owner = $1",
            &[&self.inner.node_id, &now],
        )
        .await
    }
}

/// Deletes rows in a finished `state` older than `cutoff`, then the oldest beyond `cap` per
/// account. `state` is one of two literals, spelled into the SQL so that the partial index
/// applies.
async fn prune_state<C: GenericClient + ?Sized>(
    c: &C,
    state: &'static str,
    cutoff: i64,
    cap: u64,
) -> Result<u64, StoreError> {
    let old = execute(
        c,
        "prune finished ingress messages",
        &format!("DELETE FROM ingress WHERE state = '{state}' AND finished_at < $1"),
        &[&cutoff],
    )
    .await?;
    let over = execute(
        c,
        "cap finished ingress messages",
        &format!(
            "DELETE FROM ingress WHERE id IN (
                SELECT id FROM (
                    SELECT id, row_number() OVER (
                        PARTITION BY account ORDER BY finished_at DESC, id DESC) AS n
                    FROM ingress WHERE state = '{state}') ranked
                WHERE n > $1)"
        ),
        &[&to_i64(cap)],
    )
    .await?;
    Ok(old + over)
}
