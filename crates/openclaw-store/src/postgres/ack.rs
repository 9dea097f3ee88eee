//! Group commit for [`IngressQueue::enqueue`](crate::IngressQueue::enqueue) on PostgreSQL: the
//! ack writers.
//!
//! A webhook's enqueue becomes a [`Job`] in one bounded queue ([`MAX_ACK_QUEUE`]; a full queue
//! makes callers wait: backpressure, not memory). Each of a few writer tasks
//! ([`PostgresOptions::ack_writers`](super::PostgresOptions::ack_writers)) takes everything
//! waiting at that moment (at most [`MAX_ACK_BATCH`]) and writes it with one statement
//! ([`INSERT_BATCH_SQL`]) on a connection of the ingress pool: one transaction, one commit
//! (WAL flush) for the whole batch. While one writer waits for its commit, the next collects
//! what arrives meanwhile.
//!
//! Every guarantee of the one-statement-per-enqueue path holds:
//! - A caller is answered only after the statement returned, that is after `COMMIT` (the
//!   driver reads up to `ReadyForQuery`; sessions run with `synchronous_commit=on`).
//! - Ids within a lane follow commit order across gateways: the statement takes the advisory
//!   lock of every lane in the batch (the same keys as before, in ascending key order, so two
//!   writers or two gateways never deadlock) before any row gets its id, and holds them until
//!   its commit. Within a batch, rows get their ids in queue order.
//! - Duplicates are answered as before: a copy of an event id already stored (or stored
//!   earlier in the same batch) is `Duplicate` with the earlier row's id and current state.
//! - A failed statement writes nothing (it is one transaction) and every caller of the batch
//!   gets the error.
//! - A caller that goes away (its request dropped) only drops its answer; a job whose caller is
//!   gone before its batch is written is skipped.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::{Object, Pool};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::conn::{Conn, Counters};
use super::ingress::{earlier_row_vanished, query};
use super::{LOCK_CLASS_LANE, SslMode, decode, pool_reason, tls};
use crate::StoreError;
use crate::ingress::{Enqueued, IngressId, IngressState, NewIngress};

/// The most enqueues one batch (one statement, one commit) carries.
pub const MAX_ACK_BATCH: usize = 256;
/// The most enqueues waiting for a writer; beyond it a caller waits for room.
pub const MAX_ACK_QUEUE: usize = 1_024;

/// One statement for a whole batch. `$1..$5` are the batch's columns (arrays of equal length,
/// in queue order), `$6` the lane lock class. `lane_lock` takes each distinct lane key once, in
/// ascending order (the subquery's `ORDER BY` is kept: a sorted subquery is never flattened),
/// and counts them, so every lock is held before the first row is produced; the rows are
/// inserted (and their ids drawn) in queue order (`ORDER BY b.ord` under the insert). The lane
/// key is the one the per-message path used, so gateways of either kind exclude each other.
pub(super) const INSERT_BATCH_SQL: &str = "
WITH batch AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::int8[])
        WITH ORDINALITY AS b(account, event_id, lane, payload, received_at, ord)
),
lane_lock AS MATERIALIZED (
    SELECT count(*) AS locked FROM (
        SELECT pg_advisory_xact_lock($6, k) FROM (
            SELECT DISTINCT hashtext(account || '/' || lane) AS k FROM batch ORDER BY k
        ) keys
    ) taken
)
INSERT INTO ingress (account, event_id, lane, payload, received_at, state, available_at)
SELECT b.account, b.event_id, b.lane, b.payload, b.received_at, 'pending', b.received_at
FROM batch b CROSS JOIN lane_lock
ORDER BY b.ord
ON CONFLICT (account, event_id) DO NOTHING
RETURNING id, account, event_id";

/// The earlier rows of a batch's duplicates (a statement of its own, after the insert's
/// commit, so that it sees a row another gateway committed meanwhile).
const EARLIER_ROWS_SQL: &str = "
SELECT i.account, i.event_id, i.id, i.state FROM ingress i
WHERE (i.account, i.event_id) IN (
    SELECT * FROM unnest($1::text[], $2::text[]) AS d(account, event_id))";

/// An enqueue waiting for its batch, with the way back to its caller.
struct Job {
    item: NewIngress,
    reply: oneshot::Sender<Result<Enqueued, StoreError>>,
}

/// Where the writers get their connections, and how a failure to get one reads.
#[derive(Clone)]
pub(super) struct IngressPool {
    pub(super) pool: Pool,
    /// `host:port/dbname (sslmode=…)`, never the user or the password.
    pub(super) error_target: String,
    pub(super) ssl_mode: SslMode,
    /// The store handle's statement and commit counters (see [`super::conn`]).
    pub(super) counters: Arc<Counters>,
}

impl IngressPool {
    /// A connection of the ingress pool.
    pub(super) async fn get(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::ConnectDatabase {
                target: self.error_target.clone(),
                reason: tls::with_hint(pool_reason(&e), self.ssl_mode),
            })
    }
}

/// The queue of a store handle (shared by its clones) and its writer tasks.
pub(super) struct AckWriters {
    queue: mpsc::Sender<Job>,
}

impl AckWriters {
    /// Starts `writers` writer tasks on the current runtime. They end when the last handle
    /// (and so the queue's sender) is dropped.
    pub(super) fn start(pool: &IngressPool, writers: usize) -> Self {
        let (queue, receiver) = mpsc::channel(MAX_ACK_QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            tokio::spawn(write_batches(pool.clone(), Arc::clone(&receiver)));
        }
        Self { queue }
    }

    /// Queues `item` and answers once its batch is committed (or failed).
    pub(super) async fn enqueue(&self, item: NewIngress) -> Result<Enqueued, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { item, reply })
            .await
            .map_err(|_| writers_gone())?;
        answer.await.map_err(|_| writers_gone())?
    }
}

/// The error when no writer is left to answer (their runtime shut down).
fn writers_gone() -> StoreError {
    StoreError::QueryDatabase {
        context: "enqueue ingress message",
        reason: "the store's enqueue writers have stopped (the async runtime they ran on shut \
                 down); connect the store again on a running runtime"
            .to_owned(),
    }
}

/// One writer: batches until the queue is closed.
async fn write_batches(pool: IngressPool, receiver: Arc<Mutex<mpsc::Receiver<Job>>>) {
    while let Some(batch) = next_batch(&receiver).await {
        write_batch(&pool, batch).await;
    }
}

/// Everything waiting now (at least one job, at most [`MAX_ACK_BATCH`]); `None` once the queue
/// is closed and empty. The lock hands the queue to one writer at a time.
async fn next_batch(receiver: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let mut receiver = receiver.lock().await;
    let mut batch = Vec::new();
    if receiver.recv_many(&mut batch, MAX_ACK_BATCH).await == 0 {
        return None;
    }
    Some(batch)
}

/// Writes one batch and answers each of its callers.
async fn write_batch(pool: &IngressPool, batch: Vec<Job>) {
    let (items, replies): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .filter(|job| !job.reply.is_closed())
        .map(|job| (job.item, job.reply))
        .unzip();
    if items.is_empty() {
        return;
    }
    match commit_batch(pool, items).await {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A caller that went away meanwhile needs no answer.
                let _gone = reply.send(answer);
            }
        }
        Err(err) => {
            for reply in replies {
                let _gone = reply.send(Err(err.clone()));
            }
        }
    }
}

/// The batch's columns, as the statement's array parameters.
#[derive(Default)]
struct Columns {
    accounts: Vec<String>,
    event_ids: Vec<String>,
    lanes: Vec<String>,
    payloads: Vec<Vec<u8>>,
    received: Vec<i64>,
}

impl Columns {
    fn of(items: Vec<NewIngress>) -> Self {
        let mut c = Self::default();
        for item in items {
            c.accounts.push(item.account);
            c.event_ids.push(item.event_id);
            c.lanes.push(item.lane);
            c.payloads.push(item.payload);
            c.received.push(item.received_at);
        }
        c
    }
}

/// What one job of a batch turned out to be, before its duplicates are looked up.
enum Slot {
    Accepted(IngressId),
    /// A copy of an event id stored earlier (before the batch or in it).
    Duplicate,
}

/// Writes `items` in one statement; on success, one answer per item, in order. An `Err` means
/// nothing was written. A duplicate whose earlier row cannot be read gets its own error.
async fn commit_batch(
    pool: &IngressPool,
    items: Vec<NewIngress>,
) -> Result<Vec<Result<Enqueued, StoreError>>, StoreError> {
    let client = Conn::new(pool.get().await?, &pool.counters);
    let c = Columns::of(items);
    let rows = query(
        &client,
        "enqueue ingress messages",
        INSERT_BATCH_SQL,
        &[
            &c.accounts,
            &c.event_ids,
            &c.lanes,
            &c.payloads,
            &c.received,
            &LOCK_CLASS_LANE,
        ],
    )
    .await?;
    let mut inserted = HashMap::with_capacity(rows.len());
    let d = decode("enqueued ingress message");
    for row in &rows {
        let id: i64 = row.try_get(0).map_err(&d)?;
        let account: &str = row.try_get(1).map_err(&d)?;
        let event_id: &str = row.try_get(2).map_err(&d)?;
        inserted.insert((account, event_id), IngressId::new(id));
    }
    // The first copy of a key in the batch is the one inserted (rows go in in queue order).
    let slots: Vec<Slot> = c
        .accounts
        .iter()
        .zip(&c.event_ids)
        .map(|(a, e)| match inserted.remove(&(a.as_str(), e.as_str())) {
            Some(id) => Slot::Accepted(id),
            None => Slot::Duplicate,
        })
        .collect();
    let earlier = if slots.iter().any(|s| matches!(s, Slot::Duplicate)) {
        earlier_rows(&client, &c, &slots).await
    } else {
        Ok(HashMap::new())
    };
    Ok(slots
        .iter()
        .enumerate()
        .map(|(i, slot)| match slot {
            Slot::Accepted(id) => Ok(Enqueued::Accepted { id: *id }),
            Slot::Duplicate => duplicate(&earlier, &c.accounts[i], &c.event_ids[i]),
        })
        .collect())
}

/// The id and state of the stored row of each duplicate's key.
type Earlier = HashMap<(String, String), (IngressId, String)>;

async fn earlier_rows(
    client: &Conn<'_>,
    c: &Columns,
    slots: &[Slot],
) -> Result<Earlier, StoreError> {
    let (accounts, event_ids): (Vec<&str>, Vec<&str>) = slots
        .iter()
        .zip(c.accounts.iter().zip(&c.event_ids))
        .filter(|(s, _)| matches!(s, Slot::Duplicate))
        .map(|(_, (a, e))| (a.as_str(), e.as_str()))
        .unzip();
    let rows = query(
        client,
        "find earlier ingress message",
        EARLIER_ROWS_SQL,
        &[&accounts, &event_ids],
    )
    .await?;
    let d = decode("earlier ingress message");
    rows.iter()
        .map(|row| {
            Ok((
                (row.try_get(0).map_err(&d)?, row.try_get(1).map_err(&d)?),
                (
                    IngressId::new(row.try_get(2).map_err(&d)?),
                    row.try_get(3).map_err(&d)?,
                ),
            ))
        })
        .collect()
}

/// The answer to a duplicate, as the per-message path gives it.
fn duplicate(
    earlier: &Result<Earlier, StoreError>,
    account: &str,
    event_id: &str,
) -> Result<Enqueued, StoreError> {
    let earlier = earlier.as_ref().map_err(Clone::clone)?;
    let (id, state) = earlier
        .get(&(account.to_owned(), event_id.to_owned()))
        .ok_or_else(earlier_row_vanished)?;
    Ok(Enqueued::Duplicate {
        id: *id,
        state: IngressState::parse(state)?,
    })
}
