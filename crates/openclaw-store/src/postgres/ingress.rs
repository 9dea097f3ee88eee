//! [`IngressQueue`] on PostgreSQL: leases, fencing, one claim per lane across nodes.

use std::sync::LazyLock;

use async_trait::async_trait;
use deadpool_postgres::GenericClient as _;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::conn::Sql;
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

/// Whether `sql` may write rows: it holds `INSERT`, `DELETE`, `MERGE` or an `UPDATE` that is
/// not `FOR UPDATE` (a row lock) or `DO UPDATE` (part of an `INSERT`).
fn may_write(sql: &str) -> bool {
    let mut previous = "";
    for word in sql.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
        if word.is_empty() {
            continue;
        }
        let writes = word.eq_ignore_ascii_case("INSERT")
            || word.eq_ignore_ascii_case("DELETE")
            || word.eq_ignore_ascii_case("MERGE")
            || (word.eq_ignore_ascii_case("UPDATE") && !previous.eq_ignore_ascii_case("FOR"));
        if writes {
            return true;
        }
        previous = word;
    }
    false
}

/// Runs a prepared (cached) statement on `c`, counted; the driver's error as is (for the
/// callers that tell a lost race from a failure).
pub(super) async fn try_execute<C: Sql + ?Sized>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let stmt = c.db().prepare_cached(sql).await?;
    c.counters().sent();
    let n = c.db().execute(&stmt, params).await?;
    if n > 0 && may_write(sql) {
        c.wrote();
    }
    Ok(n)
}

/// [`try_execute`] for a statement that answers rows.
pub(super) async fn try_query<C: Sql + ?Sized>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    try_query_wrote(c, sql, params, |rows| !rows.is_empty() && may_write(sql)).await
}

/// [`try_query`] for a statement whose rows tell whether it wrote (`wrote`), e.g. one that
/// always answers a summary row.
pub(super) async fn try_query_wrote<C: Sql + ?Sized>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    wrote: impl FnOnce(&[Row]) -> bool,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let stmt = c.db().prepare_cached(sql).await?;
    c.counters().sent();
    let rows = c.db().query(&stmt, params).await?;
    if wrote(&rows) {
        c.wrote();
    }
    Ok(rows)
}

pub(super) async fn execute<C: Sql + ?Sized>(
    c: &C,
    context: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    try_execute(c, sql, params).await.map_err(pg(context))
}

pub(super) async fn query<C: Sql + ?Sized>(
    c: &C,
    context: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    try_query(c, sql, params).await.map_err(pg(context))
}

pub(super) async fn query_opt<C: Sql + ?Sized>(
    c: &C,
    context: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let stmt = c.db().prepare_cached(sql).await.map_err(pg(context))?;
    c.counters().sent();
    let row = c.db().query_opt(&stmt, params).await.map_err(pg(context))?;
    if row.is_some() && may_write(sql) {
        c.wrote();
    }
    Ok(row)
}

/// Runs `sql` (statements without parameters, e.g. DDL) with the simple query protocol on
/// `c`; counted as one statement.
pub(super) async fn batch_execute<C: Sql + ?Sized>(
    c: &C,
    sql: &str,
) -> Result<(), tokio_postgres::Error> {
    c.counters().sent();
    c.db().batch_execute(sql).await?;
    if may_write(sql) {
        c.wrote();
    }
    Ok(())
}

/// The error when a duplicate's earlier row is gone by the time it is read (pruned
/// concurrently): the caller retries.
pub(super) fn earlier_row_vanished() -> StoreError {
    StoreError::QueryDatabase {
        context: "find earlier ingress message",
        reason: "conflicting row vanished (pruned concurrently); retry".to_owned(),
    }
}

/// The state (and owner) of one row, or `FindRow`.
async fn state_of<C: Sql + ?Sized>(
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
async fn refused<C: Sql + ?Sized>(
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

/// A claim is one statement (one round trip, its own commit), each part bounded whatever the
/// backlog:
///
/// - `expired`: expired leases (of the scope) become pending again, attempts kept. The rest of
///   the statement sees the rows as they were before it (one snapshot), so their lanes are
///   claimed by the next statement (run at once when this one expired any).
/// - The heads, one of two steps:
///   1. [`WINDOW_HEADS`]: among the [`CLAIM_WINDOW`] oldest pending messages, the lane heads
///      that are due (no older unfinished message and no claimed one in their lane), oldest
///      first. With many senders the oldest messages are mostly heads and this is all it
///      takes.
///   2. When that found fewer than asked and more is pending than the window saw,
///      [`LANE_HEADS`] (the next statement): a skip scan over the distinct lanes with
///      unfinished messages (`ingress_lane`), each lane's head, the due ones oldest first. It
///      costs one index probe per lane, so a few deep lanes (one chatty sender, busy lanes
///      with a backlog) never make a claim walk the backlog, and a sender whose head is
///      beyond the window is not kept waiting behind someone else's backlog.
/// - The heads are materialised and the rows fetched by id (`= ANY (ARRAY(...))`), so no
///   plan, however stale the statistics of a queue table that grows from empty, turns this
///   into a loop over the backlog; then the rows are locked (`SKIP LOCKED`) and claimed.
/// - A last row (all claim columns NULL) tells how many leases expired and whether more is
///   pending than the window saw (only looked at when fewer were claimed than asked).
///
/// (Walking every pending message instead cost ~95 ms per claim with 10,000 queued in 20 busy
/// lanes.) `{HEADS}` is one of the two steps; `{SCOPE}` the account filter. Parameters: `$1`
/// now, `$2` the account (or NULL), `$3` how many, `$4` this node, `$5` the lease.
const CLAIM_SQL_TEMPLATE: &str = "
WITH {RECURSIVE} expired AS (
    UPDATE ingress SET state = 'pending', owner = NULL, lease_until = NULL
    WHERE state = 'claimed' AND lease_until < $1 {SCOPE}
    RETURNING id
),
{HEADS},
candidates AS (
    SELECT i.id FROM ingress i
    WHERE i.id = ANY (ARRAY(SELECT id FROM heads)) AND i.state = 'pending'
    FOR UPDATE OF i SKIP LOCKED
),
claimed AS (
    UPDATE ingress SET state = 'claimed', attempts = ingress.attempts + 1, owner = $4,
           lease_until = $1 + $5
    FROM candidates WHERE ingress.id = candidates.id AND ingress.state = 'pending'
    RETURNING ingress.id, ingress.account, ingress.event_id, ingress.lane, ingress.payload,
              ingress.received_at, ingress.attempts, ingress.last_error
)
SELECT id, account, event_id, lane, payload, received_at, attempts, last_error,
       NULL::bigint AS expired, NULL::boolean AS beyond
FROM claimed
UNION ALL
SELECT NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::bytea, NULL::bigint,
       NULL::bigint, NULL::text, (SELECT count(*) FROM expired),
       CASE WHEN (SELECT count(*) FROM claimed) < $3 THEN EXISTS (
           SELECT 1 FROM ingress WHERE state = 'pending' {SCOPE}
           ORDER BY id OFFSET {WINDOW} LIMIT 1)
       ELSE FALSE END";

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

/// Step 2 of a claim (see [`CLAIM_SQL_TEMPLATE`], made `WITH RECURSIVE`); `{NEXT}` steps to the
/// next lane.
const LANE_HEADS: &str = "
lanes(account, lane) AS (
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
    let recursive = if heads == LANE_HEADS { "RECURSIVE" } else { "" };
    CLAIM_SQL_TEMPLATE
        .replace("{RECURSIVE}", recursive)
        .replace("{HEADS}", heads)
        .replace("{SCOPE}", scope)
        .replace("{NEXT}", next)
        .replace("{WINDOW}", &CLAIM_WINDOW.to_string())
}

/// The two claim steps, for one account or for all.
struct ClaimSql {
    window: String,
    lanes: String,
}

impl ClaimSql {
    fn new(scoped: bool) -> Self {
        Self {
            window: claim_sql(WINDOW_HEADS, scoped),
            lanes: claim_sql(LANE_HEADS, scoped),
        }
    }
}

static CLAIM_SQL_SCOPED: LazyLock<ClaimSql> = LazyLock::new(|| ClaimSql::new(true));
static CLAIM_SQL_ALL: LazyLock<ClaimSql> = LazyLock::new(|| ClaimSql::new(false));

/// The statements of one claim, in order (see [`CLAIM_SQL_TEMPLATE`]).
#[derive(Debug, Clone, Copy)]
enum ClaimPass {
    /// Step 1, always.
    Window,
    /// Step 1 again, when the first expired leases.
    WindowAgain,
    /// Step 2, when step 1 found fewer than asked and could not see every pending message.
    Lanes,
}

/// What one claim statement answered.
#[derive(Default)]
struct ClaimStep {
    claimed: Vec<Claimed>,
    /// Leases it expired (their lanes are claimable by the next statement).
    expired: i64,
    /// Whether more is pending than the window saw (when it claimed fewer than asked).
    beyond: bool,
}

impl ClaimStep {
    /// Whether a claim statement wrote: it claimed a message or expired a lease.
    fn wrote(rows: &[Row]) -> bool {
        rows.iter()
            .any(|row| match row.try_get::<_, Option<i64>>(8) {
                Ok(Some(expired)) => expired > 0,
                Ok(None) => true,
                Err(_) => false,
            })
    }

    fn decode(rows: &[Row]) -> Result<Self, StoreError> {
        let d = decode("claim summary");
        let mut step = Self::default();
        for row in rows {
            match row.try_get::<_, Option<i64>>(8).map_err(&d)? {
                Some(expired) => {
                    step.expired = expired;
                    step.beyond = row
                        .try_get::<_, Option<bool>>(9)
                        .map_err(&d)?
                        .unwrap_or(false);
                }
                None => step.claimed.push(claimed(row)?),
            }
        }
        Ok(step)
    }
}

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
    /// One claim: the window step, again at once when it expired leases, then the lane step
    /// when the window could not see every pending message. Each statement commits alone
    /// (what one claimed stays claimed: a later lost race answers it). `Ok(None)` when it lost
    /// a race for a lane before claiming anything.
    async fn claim_once(
        &self,
        account: Option<&str>,
        now: i64,
        limit: i64,
    ) -> Result<Option<Vec<Claimed>>, StoreError> {
        let client = self.conn().await?;
        let sql = if account.is_some() {
            &*CLAIM_SQL_SCOPED
        } else {
            &*CLAIM_SQL_ALL
        };
        let lease = self.inner.options.lease_ms;
        let mut out = Vec::new();
        let mut next = Some(ClaimPass::Window);
        while let Some(pass) = next.take() {
            let want = limit - i64::try_from(out.len()).unwrap_or(i64::MAX);
            if want <= 0 {
                break;
            }
            let text = match pass {
                ClaimPass::Window | ClaimPass::WindowAgain => &sql.window,
                ClaimPass::Lanes => &sql.lanes,
            };
            let params: [&(dyn ToSql + Sync); 5] =
                [&now, &account, &want, &self.inner.node_id, &lease];
            let step = match try_query_wrote(&client, text, &params, ClaimStep::wrote).await {
                Ok(rows) => ClaimStep::decode(&rows)?,
                Err(err) if is_lost_race(&err) && out.is_empty() => return Ok(None),
                // What earlier statements claimed is committed: answered.
                Err(err) if is_lost_race(&err) => break,
                Err(err) => return Err(pg("claim ingress messages")(err)),
            };
            let short = i64::try_from(step.claimed.len()).unwrap_or(i64::MAX) < want;
            out.extend(step.claimed);
            next = match pass {
                // The lanes whose leases just expired are claimable now.
                ClaimPass::Window if step.expired > 0 => Some(ClaimPass::WindowAgain),
                ClaimPass::Window | ClaimPass::WindowAgain if short && step.beyond => {
                    Some(ClaimPass::Lanes)
                }
                _ => None,
            };
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
pub(super) async fn fenced_in<C: Sql + ?Sized>(
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

/// The error for a completion by `node` that did not apply (see [`refused`]).
pub(super) async fn refused_completion<C: Sql + ?Sized>(
    c: &C,
    node: &str,
    id: IngressId,
) -> StoreError {
    refused(c, id, "complete", node).await
}

/// Completes a claimed message owned by `node` on `c` (a connection or a transaction): its
/// payload dropped, its id kept; refused (see [`fenced_in`]) unless this node holds its claim.
pub(super) async fn complete_in<C: Sql + ?Sized>(
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
        .ok_or_else(earlier_row_vanished)?;
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
                    .batch_execute("SELECT 1")
                    .await
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

    fn store_counts(&self) -> Option<crate::StoreCounts> {
        Some(PostgresStore::store_counts(self))
    }
}

/// Deletes rows in a finished `state` older than `cutoff`, then the oldest beyond `cap` per
/// account. `state` is one of two literals, spelled into the SQL so that the partial index
/// applies.
async fn prune_state<C: Sql + ?Sized>(
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
