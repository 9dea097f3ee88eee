//! Durable enqueue throughput and latency: 16 concurrent producers against 1 producer in the
//! same run (the ratio shows group commit at work: one fsync acknowledges many callers), then
//! 64 producers for the headroom.
//!
//! When `OPENCLAW_TEST_PG_URL` is set, the same 16-producer load then runs on PostgreSQL (a
//! fresh schema each, dropped afterwards; `synchronous_commit=on`): first with one statement
//! and commit per enqueue (`ack_writers: 0`, the path before group commit), then with 1, 2
//! and 4 ack writers batching (group commit; the default is marked), and the ratio of each to
//! SQLite is printed. `-- postgres` runs only the PostgreSQL part (with SQLite's 16-producer
//! figure beside it).
//!
//! Then the mixed load: the same 16 producers while a pump answers what they enqueue with the
//! pipeline's write sequence per message (claim, agent turn, saved reply, history, intent,
//! delivery, sent, history, complete), as fast as the store lets it: the acknowledgement rate
//! and p99 with the pipeline running, the messages answered per second, and the write
//! transactions and jobs per answered message, counted by the store. `-- mixed` runs only it.
//!
//! `cargo bench -p openclaw-store --bench enqueue`; `OPENCLAW_STORE_BENCH_SECS` sets the
//! measuring time per case (default 3 s). The database is a real file (WAL, synchronous=FULL)
//! in a temporary directory on the machine's disk (`TMPDIR`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use openclaw_store::{
    ClaimScope, Claimed, DeliveryObservation, HistoryEntry, HistoryLine, IngressQueue, NewIngress,
    NewIntent, NewReply, Role, SentPart, SqliteStore, Store, StoreOptions, body_hash,
};

/// Measuring time per case unless `OPENCLAW_STORE_BENCH_SECS` says otherwise.
const DEFAULT_SECS: u64 = 3;
/// Warm-up before measuring.
const WARM_UP: Duration = Duration::from_millis(500);
/// Payload size: a typical Twilio inbound form.
const PAYLOAD_BYTES: usize = 600;

#[derive(Clone, Copy)]
struct Figures {
    producers: usize,
    acks: usize,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn run(producers: usize, measure: Duration) -> Figures {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("bench.sqlite"), &StoreOptions::default())
            .await
            .expect("open store"),
    );
    load(store, producers, measure).await
}

/// The load itself: `producers` closed-loop tasks enqueueing for `WARM_UP + measure`.
async fn load(store: Arc<dyn IngressQueue>, producers: usize, measure: Duration) -> Figures {
    let payload = vec![b'x'; PAYLOAD_BYTES];
    let started = Instant::now();
    let warm_until = started + WARM_UP;
    let stop_at = warm_until + measure;
    let mut tasks = Vec::new();
    for p in 0..producers {
        let (store, payload) = (Arc::clone(&store), payload.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0_u64;
            loop {
                let begin = Instant::now();
                if begin >= stop_at {
                    break;
                }
                let item = NewIngress {
                    account: "default".to_owned(),
                    event_id: format!("SM{p:02}{n:030}"),
                    lane: format!("sender:+1555{p:07}"),
                    payload: payload.clone(),
                    received_at: 0,
                };
                store.enqueue(item).await.expect("enqueue");
                n += 1;
                if begin >= warm_until {
                    latencies.push(begin.elapsed());
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("producer"));
    }
    latencies.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let per_sec = latencies.len() as f64 / measure.as_secs_f64();
    Figures {
        producers,
        acks: latencies.len(),
        per_sec,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
    }
}

#[cfg(feature = "postgres")]
async fn run_postgres(
    url: &str,
    producers: usize,
    ack_writers: usize,
    measure: Duration,
) -> Figures {
    use openclaw_store::{PostgresOptions, PostgresStore};
    let schema = format!("bench_{:016x}", rand::random::<u64>());
    let options = PostgresOptions {
        schema: Some(schema.clone()),
        ack_writers,
        ..PostgresOptions::default()
    };
    let store = PostgresStore::connect(url, &options)
        .await
        .expect("connect to PostgreSQL");
    let figures = load(Arc::new(store.clone()), producers, measure).await;
    store.close().await;
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to drop the bench schema");
    let task = tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop the bench schema");
    drop(client);
    let _ = task.await;
    figures
}

fn print(backend: &str, f: &Figures) {
    println!(
        "{backend:<10} enqueue durable, {:>2} producer(s): {:>8.0} acks/s ({} acks)  p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        f.producers,
        f.per_sec,
        f.acks,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.max.as_secs_f64() * 1e3,
    );
}

/// Messages the mixed load's pump runs at once (the gateway's default `maxConcurrent` order).
const PUMP_CONCURRENCY: usize = 64;

/// Which write sequence the mixed load's pump makes per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sequence {
    /// One write per row, as the pipeline did before issue 18 (8 writes after the claim).
    PerRow,
    /// The pipeline's steps ([`PipelineSteps`]): turn, answer, intent, sent, complete.
    Steps,
}

/// The pipeline's writes for one answered message, as the gateway makes them now.
async fn answer_steps(store: &dyn Store, m: &Claimed, now: i64) {
    let peer = m.lane.clone();
    let reply_id = format!("reply:{}:{}", m.account, m.event_id);
    store
        .record_agent_turn(&m.account, &m.event_id, now)
        .await
        .expect("record turn");
    let text = "ok".to_owned();
    let line = |role, text: &str| HistoryLine {
        account: m.account.clone(),
        peer: peer.clone(),
        entry: HistoryEntry {
            role,
            text: text.to_owned(),
            at: now,
        },
    };
    store
        .save_answer(
            NewReply {
                reply_id: reply_id.clone(),
                account: m.account.clone(),
                recipient: peer.clone(),
                text: text.clone(),
                created_at: now,
            },
            line(Role::User, "hi"),
        )
        .await
        .expect("save answer");
    let intent = store
        .create_intent(NewIntent {
            reply_id,
            account: m.account.clone(),
            recipient: peer.clone(),
            body_hash: body_hash(&text),
            part_index: 0,
            part_count: 1,
            created_at: now,
        })
        .await
        .expect("intent");
    let sid = format!("SM{:032}", m.id.as_i64());
    let first = DeliveryObservation {
        account: m.account.clone(),
        message_sid: sid.clone(),
        status: "queued".to_owned(),
        error_code: None,
        at: now,
    };
    store
        .part_sent(
            SentPart {
                intent: intent.intent().id,
                message_sid: sid.clone(),
                day: "2026-12-05".to_owned(),
                segments: 1,
                now,
            },
            Some(first),
        )
        .await
        .expect("part sent");
    store
        .complete_answered(m.id, now, Some(line(Role::Assistant, &text)))
        .await
        .expect("complete");
}

/// The pipeline's writes for one answered message, one per row.
async fn answer_per_row(store: &dyn Store, m: &Claimed, now: i64) {
    let peer = m.lane.clone();
    let reply_id = format!("reply:{}:{}", m.account, m.event_id);
    store
        .record_agent_turn(&m.account, &m.event_id, now)
        .await
        .expect("record turn");
    let text = "ok".to_owned();
    store
        .save_reply(NewReply {
            reply_id: reply_id.clone(),
            account: m.account.clone(),
            recipient: peer.clone(),
            text: text.clone(),
            created_at: now,
        })
        .await
        .expect("save reply");
    let entry = |role, text: &str| HistoryEntry {
        role,
        text: text.to_owned(),
        at: now,
    };
    store
        .append_history(&m.account, &peer, entry(Role::User, "hi"))
        .await
        .expect("history");
    let intent = store
        .create_intent(NewIntent {
            reply_id,
            account: m.account.clone(),
            recipient: peer.clone(),
            body_hash: body_hash(&text),
            part_index: 0,
            part_count: 1,
            created_at: now,
        })
        .await
        .expect("intent");
    let sid = format!("SM{:032}", m.id.as_i64());
    store
        .record_delivery(DeliveryObservation {
            account: m.account.clone(),
            message_sid: sid.clone(),
            status: "queued".to_owned(),
            error_code: None,
            at: now,
        })
        .await
        .expect("delivery");
    store
        .mark_sent(intent.intent().id, &sid, now)
        .await
        .expect("mark sent");
    store
        .append_history(&m.account, &peer, entry(Role::Assistant, &text))
        .await
        .expect("history");
    store.complete(m.id, now).await.expect("complete");
}

/// Claims and answers until `stop`; returns how many messages were answered after `from`.
async fn pump(store: Arc<dyn Store>, sequence: Sequence, from: Instant, stop: Instant) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    let mut answered = 0;
    while Instant::now() < stop {
        while let Some(done) = tasks.try_join_next() {
            answered += usize::from(done.expect("answer") >= from);
        }
        let room = PUMP_CONCURRENCY.saturating_sub(tasks.len());
        let claimed = store
            .claim_next(ClaimScope::Account("default".to_owned()), 1, room)
            .await
            .expect("claim");
        if claimed.is_empty() {
            if let Some(done) = tasks.join_next().await {
                answered += usize::from(done.expect("answer") >= from);
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            continue;
        }
        for m in claimed {
            let store = Arc::clone(&store);
            tasks.spawn(async move {
                match sequence {
                    Sequence::PerRow => answer_per_row(&*store, &m, 2).await,
                    Sequence::Steps => answer_steps(&*store, &m, 2).await,
                }
                Instant::now()
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        let at = done.expect("answer");
        answered += usize::from(at >= from && at < stop);
    }
    answered
}

/// The 16 producers with the pump running beside them.
async fn run_mixed(sequence: Sequence, measure: Duration) -> Figures {
    let dir = tempfile::tempdir().expect("temporary directory");
    let sqlite = Arc::new(
        SqliteStore::open(&dir.path().join("bench.sqlite"), &StoreOptions::default())
            .await
            .expect("open store"),
    );
    let store: Arc<dyn Store> = sqlite;
    let from = Instant::now() + WARM_UP;
    let stop = from + measure;
    let pumping = tokio::spawn(pump(Arc::clone(&store), sequence, from, stop));
    let before = tokio::time::sleep_until(from.into());
    let counts_at = tokio::spawn({
        let store = Arc::clone(&store);
        async move {
            before.await;
            store.store_counts().unwrap_or_default()
        }
    });
    let acks = load(Arc::clone(&store) as Arc<dyn IngressQueue>, 16, measure).await;
    let answered = pumping.await.expect("pump");
    let start = counts_at.await.expect("counts");
    let end = store.store_counts().unwrap_or_default();
    print(&format!("{sequence:?}"), &acks);
    #[allow(clippy::cast_precision_loss)]
    let per = |n: u64| n as f64 / answered.max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let rate = answered as f64 / measure.as_secs_f64();
    println!(
        "{sequence:<10?} mixed: pipeline answered {rate:>8.0} msgs/s; per answered message (acks included): {:.2} write transactions, {:.2} write jobs",
        per(end.transactions - start.transactions),
        per(end.write_jobs - start.write_jobs),
    );
    acks
}

/// Both write sequences under the mixed load, beside the store-only figure.
fn mixed(runtime: &tokio::runtime::Runtime, measure: Duration, alone: Option<&Figures>) {
    println!("mixed load: 16 producers enqueueing, a pump answering what they enqueue");
    let alone = alone.map_or_else(|| runtime.block_on(run(16, measure)), |f| Figures { ..*f });
    print("alone", &alone);
    for sequence in [Sequence::PerRow, Sequence::Steps] {
        let acks = runtime.block_on(run_mixed(sequence, measure));
        println!(
            "{sequence:<10?} acks with the pump / acks alone: {:.2}x, p99 {:.2} ms vs {:.2} ms",
            acks.per_sec / alone.per_sec.max(f64::MIN_POSITIVE),
            acks.p99.as_secs_f64() * 1e3,
            alone.p99.as_secs_f64() * 1e3,
        );
    }
}

fn main() {
    let secs = std::env::var("OPENCLAW_STORE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECS);
    let measure = Duration::from_secs(secs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::args().any(|a| a == "mixed") {
        mixed(&runtime, measure, None);
        return;
    }
    if std::env::args().any(|a| a == "postgres") {
        let sixteen = runtime.block_on(run(16, measure));
        print("sqlite", &sixteen);
        postgres(&runtime, measure, &sixteen);
        return;
    }
    let one = runtime.block_on(run(1, measure));
    print("sqlite", &one);
    let sixteen = runtime.block_on(run(16, measure));
    print("sqlite", &sixteen);
    println!(
        "group commit: 16 producers / 1 producer throughput = {:.1}x (target >= 5000 acks/s, p99 < 10 ms at 16)",
        sixteen.per_sec / one.per_sec.max(f64::MIN_POSITIVE)
    );
    // With closed-loop producers, throughput is at most producers / commit time, so more
    // concurrency shows what one fsync can carry.
    let many = runtime.block_on(run(64, measure));
    print("sqlite", &many);
    mixed(&runtime, measure, Some(&sixteen));
    postgres(&runtime, measure, &sixteen);
}

/// The 16-producer load on PostgreSQL, next to SQLite's, when a server is given.
#[cfg(feature = "postgres")]
fn postgres(runtime: &tokio::runtime::Runtime, measure: Duration, sqlite: &Figures) {
    let Some(url) = std::env::var("OPENCLAW_TEST_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        println!("postgresql: OPENCLAW_TEST_PG_URL is not set, not measured");
        return;
    };
    for writers in [0, 1, 2, 4] {
        let pg = runtime.block_on(run_postgres(&url, sqlite.producers, writers, measure));
        let how = match writers {
            0 => "one statement and commit per enqueue (before group commit)".to_owned(),
            n if n == openclaw_store::DEFAULT_ACK_WRITERS => {
                format!("group commit, {n} ack writer(s) (the default)")
            }
            n => format!("group commit, {n} ack writer(s)"),
        };
        println!("postgresql: {how}");
        print("postgresql", &pg);
        println!(
            "postgresql / sqlite at {} producers: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x",
            sqlite.producers,
            pg.per_sec / sqlite.per_sec.max(f64::MIN_POSITIVE),
            pg.p50.as_secs_f64() / sqlite.p50.as_secs_f64().max(f64::MIN_POSITIVE),
            pg.p99.as_secs_f64() / sqlite.p99.as_secs_f64().max(f64::MIN_POSITIVE),
        );
    }
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &tokio::runtime::Runtime, _: Duration, _: &Figures) {
    println!("postgresql: built without the `postgres` feature, not measured");
}
