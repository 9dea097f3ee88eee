//! PostgreSQL only: enqueues written in batches by the ack writers (group commit): lane order
//! across producers and gateways, duplicates inside and across batches, a failed batch, a
//! caller that goes away, and the bounds on the writers.
//!
//! To put chosen enqueues into one batch, a test holds the advisory lock of a lane from a
//! session of its own: the only writer (`ack_writers: 1`) blocks on a first enqueue into that
//! lane, everything queued meanwhile is the next batch, in queue order.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use openclaw_store::{
    ClaimScope, Enqueued, IngressQueue, IngressState, MAX_INGRESS_CONNECTIONS, PostgresOptions,
    PostgresStore, StoreError,
};

use crate::support::msg;
use crate::support::pg::{TestSchema, fresh_schema};

/// The advisory lock class of lanes (`LOCK_CLASS_LANE` in the store): the lock key of a lane
/// is `(class, hashtext(account || '/' || lane))`.
const LOCK_CLASS_LANE: i32 = 0x6f63_0003;

/// How often [`Blocker::hold`] looks for the waiting writer, 5 ms apart.
const WAIT_POLLS: usize = 4_000;

async fn schema_with_writers(ack_writers: usize) -> Option<TestSchema> {
    fresh_schema(PostgresOptions {
        ack_writers,
        ..PostgresOptions::default()
    })
    .await
}

/// A session of the test's own on the test schema.
async fn session(db: &TestSchema) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("SET search_path = {}", db.schema))
        .await
        .unwrap();
    client
}

/// Holds a lane's lock while the writer's first batch waits for it.
struct Blocker {
    client: tokio_postgres::Client,
    key: String,
    first: tokio::task::JoinHandle<Result<Enqueued, StoreError>>,
}

impl Blocker {
    /// Takes the lock of lane `blocked` of account `a`, enqueues into it and returns once the
    /// writer waits for the lock: what is queued next is one batch.
    async fn hold(db: &TestSchema, store: &PostgresStore) -> Self {
        let client = session(db).await;
        // Advisory locks are database-wide: a lane of this schema's own name.
        let lane = format!("blocked-{}", db.schema);
        let key = format!("a/{lane}");
        client
            .execute(
                "SELECT pg_advisory_lock($1, hashtext($2))",
                &[&LOCK_CLASS_LANE, &key],
            )
            .await
            .unwrap();
        let first = tokio::spawn({
            let store = store.clone();
            async move { store.enqueue(msg("a", "blocked-1", &lane, 1)).await }
        });
        // The writer's statement waits for the lock (bounded: a writer that takes no lane lock
        // would never wait).
        for _ in 0..WAIT_POLLS {
            let row = client
                .query_one(
                    "SELECT count(*) FROM pg_locks
                     WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2
                       AND classid::int8 = $1::int8
                       AND objid::int8 = (hashtext($2)::int8 & 4294967295)
                       AND pid IN (SELECT pid FROM pg_stat_activity
                                   WHERE query LIKE '%unnest%')",
                    &[&i64::from(LOCK_CLASS_LANE), &key],
                )
                .await
                .unwrap();
            if row.get::<_, i64>(0) > 0 {
                return Self { client, key, first };
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the writer never waited for the lane's advisory lock");
    }

    /// Lets the writer go on; returns the answer to the first enqueue.
    async fn release(self) -> Result<Enqueued, StoreError> {
        self.client
            .execute(
                "SELECT pg_advisory_unlock($1, hashtext($2))",
                &[&LOCK_CLASS_LANE, &self.key],
            )
            .await
            .unwrap();
        self.first.await.unwrap()
    }
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<Enqueued, StoreError>> + Send + 'a>>;

/// Polls each enqueue once, in order, so that each is in the writers' queue (it has room) in
/// that order; the futures are driven to their answers later by [`answers`].
async fn queue_in_order(pending: &mut [Pending<'_>]) -> Vec<Option<Result<Enqueued, StoreError>>> {
    let mut done: Vec<_> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, d) in pending.iter_mut().zip(done.iter_mut()) {
            if let Poll::Ready(answer) = f.as_mut().poll(cx) {
                *d = Some(answer);
            }
        }
        Poll::Ready(())
    })
    .await;
    done
}

/// The answers of enqueues queued by [`queue_in_order`].
async fn answers(
    pending: Vec<Pending<'_>>,
    mut done: Vec<Option<Result<Enqueued, StoreError>>>,
) -> Vec<Result<Enqueued, StoreError>> {
    for (f, d) in pending.into_iter().zip(done.iter_mut()) {
        if d.is_none() {
            *d = Some(f.await);
        }
    }
    done.into_iter().map(Option::unwrap).collect()
}

fn accepted(answer: &Result<Enqueued, StoreError>) -> i64 {
    match answer {
        Ok(Enqueued::Accepted { id }) => id.as_i64(),
        other => panic!("expected accepted, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_batch_answers_duplicates_inside_and_across_batches_as_before() {
    let Some(db) = schema_with_writers(1).await else {
        return;
    };
    let store = db.store.clone();
    let earlier = accepted(&store.enqueue(msg("a", "old", "x", 1)).await);
    let claimed = store.claim_next(ClaimScope::All, 2, 1).await.unwrap();
    store.complete(claimed[0].id, 3).await.unwrap();

    let blocker = Blocker::hold(&db, &store).await;
    let mut pending: Vec<Pending<'_>> = [
        msg("a", "x1", "x", 4),
        msg("a", "y1", "y", 4),
        msg("a", "x1", "x", 4), // a copy inside the batch
        msg("a", "x2", "x", 4),
        msg("a", "old", "x", 4), // a copy of a message finished before
    ]
    .into_iter()
    .map(|m| Box::pin(store.enqueue(m)) as Pending<'_>)
    .collect();
    let done = queue_in_order(&mut pending).await;
    assert!(done.iter().all(Option::is_none), "answered before commit");
    accepted(&blocker.release().await);
    let got = answers(pending, done).await;

    let (x1, y1, x2) = (accepted(&got[0]), accepted(&got[1]), accepted(&got[3]));
    assert!(x1 < y1 && y1 < x2, "ids in queue order: {x1} {y1} {x2}");
    match &got[2] {
        Ok(Enqueued::Duplicate { id, state }) => {
            assert_eq!((id.as_i64(), *state), (x1, IngressState::Pending));
        }
        other => panic!("expected the copy to be a duplicate of x1, got {other:?}"),
    }
    match &got[4] {
        Ok(Enqueued::Duplicate { id, state }) => {
            assert_eq!((id.as_i64(), *state), (earlier, IngressState::Completed));
        }
        other => panic!("expected a duplicate of the finished message, got {other:?}"),
    }
    // Across batches: a provider retry later is the same duplicate.
    match store.enqueue(msg("a", "x1", "x", 5)).await {
        Ok(Enqueued::Duplicate { id, .. }) => assert_eq!(id.as_i64(), x1),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    // The lane holds x1 then x2 (the copy added nothing), in that order.
    let heads = store.claim_next(ClaimScope::All, 6, 10).await.unwrap();
    let x_head: Vec<_> = heads.iter().filter(|c| c.lane == "x").collect();
    assert_eq!(x_head.len(), 1);
    assert_eq!(x_head[0].event_id, "x1");
    assert_eq!(store.queue_depth("a").await.unwrap(), 4);
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_fails_each_caller_and_writes_none_of_it() {
    let Some(db) = schema_with_writers(1).await else {
        return;
    };
    let store = db.store.clone();
    let check = session(&db).await;
    check
        .batch_execute("ALTER TABLE ingress ADD CONSTRAINT no_poison CHECK (event_id <> 'poison')")
        .await
        .unwrap();

    let blocker = Blocker::hold(&db, &store).await;
    let mut pending: Vec<Pending<'_>> = [
        msg("a", "good-1", "g", 1),
        msg("a", "poison", "p", 1),
        msg("a", "good-2", "g", 1),
    ]
    .into_iter()
    .map(|m| Box::pin(store.enqueue(m)) as Pending<'_>)
    .collect();
    let done = queue_in_order(&mut pending).await;
    accepted(&blocker.release().await);
    for answer in answers(pending, done).await {
        match answer {
            Err(StoreError::QueryDatabase { context, reason }) => {
                assert_eq!(context, "enqueue ingress messages");
                assert!(reason.contains("no_poison"), "{reason}");
            }
            other => panic!("expected the batch's error, got {other:?}"),
        }
    }
    // Nothing of the batch was written: only the blocker's message is queued, and the good
    // messages are new when their provider retries.
    assert_eq!(store.queue_depth("a").await.unwrap(), 1);
    accepted(&store.enqueue(msg("a", "good-1", "g", 2)).await);

    // Text PostgreSQL cannot hold is refused before it can spoil a batch.
    match store.enqueue(msg("a", "nul\0id", "g", 2)).await {
        Err(StoreError::InvalidInput { what, .. }) => assert_eq!(what, "event id"),
        other => panic!("expected the NUL to be refused, got {other:?}"),
    }
    // A closed store's writers fail each caller with the pool's error.
    store.close().await;
    match store.enqueue(msg("a", "late", "g", 3)).await {
        Err(StoreError::ConnectDatabase { reason, .. }) => {
            assert!(reason.contains("closed"), "{reason}");
        }
        other => panic!("expected a closed pool, got {other:?}"),
    }
    drop(check);
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_goes_away_leaves_the_rest_of_its_batch_answered() {
    let Some(db) = schema_with_writers(1).await else {
        return;
    };
    let store = db.store.clone();
    let blocker = Blocker::hold(&db, &store).await;
    let mut pending: Vec<Pending<'_>> = [
        msg("a", "stays-1", "s", 1),
        msg("a", "leaves", "s", 1),
        msg("a", "stays-2", "s", 1),
    ]
    .into_iter()
    .map(|m| Box::pin(store.enqueue(m)) as Pending<'_>)
    .collect();
    let mut done = queue_in_order(&mut pending).await;
    // The second caller's request is dropped while it waits for its batch.
    let gone = pending.remove(1);
    done.remove(1);
    drop(gone);
    accepted(&blocker.release().await);
    let got = answers(pending, done).await;
    assert!(accepted(&got[0]) < accepted(&got[1]));
    // What the gone caller sent was not acknowledged: its retry is accepted (or, had it been
    // written, a duplicate): either way it is not lost.
    let retry = store.enqueue(msg("a", "leaves", "s", 2)).await.unwrap();
    assert!(matches!(
        retry,
        Enqueued::Accepted { .. } | Enqueued::Duplicate { .. }
    ));
    db.drop_schema().await;
}

/// Producers per handle, enqueues per producer and lanes they share.
const PRODUCERS: usize = 8;
const PER_PRODUCER: usize = 25;
const SHARED_LANES: usize = 3;

/// Each producer enqueues its messages one after another (each after the previous answer)
/// into a lane shared with others; returns (producer, ids in its order).
async fn produce(store: PostgresStore, name: String, lane: String) -> (String, Vec<i64>) {
    let mut ids = Vec::new();
    for n in 0..PER_PRODUCER {
        let event = format!("{name}-{n:03}");
        ids.push(accepted(&store.enqueue(msg("a", &event, &lane, 1)).await));
    }
    (name, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_batching_into_the_same_lanes_keep_lane_order() {
    let Some(db) = schema_with_writers(2).await else {
        return;
    };
    let other = db.node().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A claimer beside the producers: in every lane it must meet the ids in increasing order
    // (a newer id committed before an older one of its lane would be claimed first).
    let claimer = tokio::spawn({
        let (store, stop) = (db.store.clone(), Arc::clone(&stop));
        async move {
            // Per lane: (id, event id) in the order claimed.
            let mut claimed: HashMap<String, Vec<(i64, String)>> = HashMap::new();
            loop {
                let done = stop.load(std::sync::atomic::Ordering::SeqCst);
                let batch = store.claim_next(ClaimScope::All, 2, 16).await.unwrap();
                for c in &batch {
                    claimed
                        .entry(c.lane.clone())
                        .or_default()
                        .push((c.id.as_i64(), c.event_id.clone()));
                }
                for c in &batch {
                    store.complete(c.id, 3).await.unwrap();
                }
                if batch.is_empty() {
                    if done {
                        return claimed;
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
    });
    let mut producers = Vec::new();
    for (g, store) in [&db.store, &other].into_iter().enumerate() {
        for p in 0..PRODUCERS {
            let lane = format!("lane{}", p % SHARED_LANES);
            producers.push(tokio::spawn(produce(
                store.clone(),
                format!("g{g}p{p}"),
                lane,
            )));
        }
    }
    for p in producers {
        let (name, ids) = p.await.unwrap();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{name}: {ids:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let claimed = claimer.await.unwrap();
    let mut total = 0;
    for (lane, seen) in claimed.iter() {
        total += seen.len();
        assert!(
            seen.windows(2).all(|w| w[0].0 < w[1].0),
            "{lane} claimed out of id order: {seen:?}"
        );
        // Each producer's messages in the lane were claimed in the order it sent them.
        let mut last: HashMap<&str, &str> = HashMap::new();
        for (_, event) in seen {
            let (producer, _) = event.split_once('-').unwrap();
            if let Some(before) = last.insert(producer, event) {
                assert!(before < event.as_str(), "{lane}: {before} after {event}");
            }
        }
    }
    assert_eq!(total, 2 * PRODUCERS * PER_PRODUCER);
    other.close().await;
    db.drop_schema().await;
}

#[tokio::test]
async fn more_writers_than_ingress_connections_are_refused() {
    let options = PostgresOptions {
        ack_writers: MAX_INGRESS_CONNECTIONS + 1,
        ..PostgresOptions::default()
    };
    // Refused before connecting: no server is needed.
    match PostgresStore::connect("postgres://nobody@127.0.0.1:9/none", &options).await {
        Err(StoreError::InvalidInput { what, .. }) => assert!(what.contains("ack_writers")),
        other => panic!("expected the option to be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbatched_enqueues_still_answer_as_before() {
    let Some(db) = schema_with_writers(0).await else {
        return;
    };
    let store = db.store.clone();
    let first = accepted(&store.enqueue(msg("a", "e1", "l", 1)).await);
    match store.enqueue(msg("a", "e1", "l", 2)).await {
        Ok(Enqueued::Duplicate { id, state }) => {
            assert_eq!((id.as_i64(), state), (first, IngressState::Pending));
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    db.drop_schema().await;
}
