//! Durable enqueue throughput and latency: 16 concurrent producers against 1 producer in the
//! same run (the ratio shows group commit at work: one fsync acknowledges many callers), then
//! 64 producers for the headroom.
//!
//! When `OPENCLAW_TEST_PG_URL` is set, the same 16-producer load then runs on PostgreSQL (a
//! fresh schema, dropped afterwards; default `PostgresOptions`, so a pool of 8 connections;
//! `synchronous_commit=on`) and the ratio to SQLite is
//! printed.
//!
//! `cargo bench -p openclaw-store --bench enqueue`; `OPENCLAW_STORE_BENCH_SECS` sets the
//! measuring time per case (default 3 s). The database is a real file (WAL, synchronous=FULL)
//! in a temporary directory on the machine's disk (`TMPDIR`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use openclaw_store::{IngressQueue, NewIngress, SqliteStore, StoreOptions};

/// Measuring time per case unless `OPENCLAW_STORE_BENCH_SECS` says otherwise.
const DEFAULT_SECS: u64 = 3;
/// Warm-up before measuring.
const WARM_UP: Duration = Duration::from_millis(500);
/// Payload size: a typical Twilio inbound form.
const PAYLOAD_BYTES: usize = 600;

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
async fn run_postgres(url: &str, producers: usize, measure: Duration) -> Figures {
    use openclaw_store::{PostgresOptions, PostgresStore};
    let schema = format!("bench_{:016x}", rand::random::<u64>());
    let options = PostgresOptions {
        schema: Some(schema.clone()),
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
    let pg = runtime.block_on(run_postgres(&url, sqlite.producers, measure));
    print("postgresql", &pg);
    println!(
        "postgresql / sqlite at {} producers: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x",
        sqlite.producers,
        pg.per_sec / sqlite.per_sec.max(f64::MIN_POSITIVE),
        pg.p50.as_secs_f64() / sqlite.p50.as_secs_f64().max(f64::MIN_POSITIVE),
        pg.p99.as_secs_f64() / sqlite.p99.as_secs_f64().max(f64::MIN_POSITIVE),
    );
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &tokio::runtime::Runtime, _: Duration, _: &Figures) {
    println!("postgresql: built without the `postgres` feature, not measured");
}
