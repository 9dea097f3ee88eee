//! `cargo xtask bench`, part (a): the acknowledgement path alone.
//!
//! A gateway started with its pump held (`OPENCLAW_BENCH_HOLD_PUMP=1`, a bench-only switch of
//! `openclaw gateway`: webhooks are accepted durably as always, nothing is claimed or
//! answered) takes [`ACK_CONNECTIONS`] keep-alive connections of signed webhooks; next to it the
//! store alone, in this process, takes the same number of closed-loop producers calling
//! `enqueue` on a fresh store of the same backend for the same window (as
//! `cargo bench -p openclaw-store --bench enqueue` does). The ratio gateway / store-only is what
//! HTTP, signature checking and the gateway's own work cost the acknowledgement; the bare axum
//! handler of the webhook cases (same run, same connection count) is the other bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, ensure};
use openclaw_store::{
    IngressQueue, NewIngress, PostgresOptions, PostgresStore, SqliteStore, StoreOptions,
};
use serde_json::{Value, json};

use crate::bench::{
    LoadResult, MEASURE, Reuse, SENDERS, WARM_UP, WEBHOOK_PATH, bench_config, build_requests, load,
    now_nanos, percentile_us, queue_depth, sim_for,
};
use crate::procs::{Bins, Gateway, Scratch, free_port};

/// Connections of the held gateway and producers of the store-only load (issue 18: "at 16
/// connections ... at 16 producers").
pub(crate) const ACK_CONNECTIONS: usize = 16;
/// The gateway's bench-only switch that holds its pump.
pub(crate) const HOLD_PUMP_ENV: &str = "OPENCLAW_BENCH_HOLD_PUMP";
/// Requests built for the held gateway (each used once).
const ACK_POOL: usize = 200_000;
/// Payloads prepared for the store-only producers (real signed webhook forms, as the gateway
/// stores them); reused round robin with new event ids.
const STORE_PAYLOADS: usize = 1_000;

/// The SQLite store as the gateway opens it (`STORE_GATHER_WINDOW` in
/// crates/openclaw-gateway/src/runtime.rs: no group-commit gather window, which the gateway
/// measured faster than the store's default 1 ms), so that the baseline is the same store.
fn gateway_sqlite_options() -> StoreOptions {
    StoreOptions {
        gather_window: Duration::ZERO,
        ..StoreOptions::default()
    }
}

/// Pause between the store-only load and the held gateway's.
const SETTLE: Duration = Duration::from_secs(2);

/// Aims of issue 18 for the ack path.
pub(crate) const AIM_ACK_TO_STORE: f64 = 0.8;
pub(crate) const AIM_ACK_P99_MS: f64 = 10.0;

/// Which store the figures are about.
#[derive(Debug, Clone)]
pub(crate) enum StateBackend {
    Sqlite,
    /// A PostgreSQL server; every gateway and store here gets a schema of its own.
    Postgres {
        url: String,
    },
}

impl StateBackend {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }

    /// The gateway's `state` section (`None`: SQLite in the state directory, the default).
    pub(crate) fn state_config(&self) -> Option<Value> {
        match self {
            Self::Sqlite => None,
            Self::Postgres { url } => Some(json!({
                "backend": "postgres",
                "url": url,
                "schema": format!("bench_{}", now_nanos()),
            })),
        }
    }
}

/// The ack path alone on one backend.
#[derive(Debug)]
pub(crate) struct AckPath {
    /// The gateway with its pump held.
    pub(crate) gateway: LoadResult,
    /// `enqueue` alone, in this process.
    pub(crate) store_only: LoadResult,
}

impl AckPath {
    pub(crate) fn ratio_to_store(&self) -> f64 {
        self.gateway.rps / self.store_only.rps
    }

    pub(crate) fn json(&self, bare_rps: Option<f64>) -> Value {
        json!({
            "gateway_pump_held": self.gateway.json(),
            "store_only_enqueue": self.store_only.json(),
            "ratio_to_store_only": self.ratio_to_store(),
            "ratio_to_bare_axum": bare_rps.map(|b| self.gateway.rps / b),
        })
    }
}

/// Measures the store alone, then the held gateway, on `backend`.
pub(crate) fn measure(bins: &Bins, backend: &StateBackend) -> anyhow::Result<AckPath> {
    eprintln!(
        "bench: ack path, {} store alone ({ACK_CONNECTIONS} producers in process)",
        backend.name()
    );
    let store_only = store_only(backend)?;
    // Let the database finish what the store-only load left (checkpoints, autovacuum).
    std::thread::sleep(SETTLE);
    eprintln!(
        "bench: ack path, {} gateway with its pump held ({ACK_CONNECTIONS} connections)",
        backend.name()
    );
    let gateway = held_gateway(bins, backend)?;
    Ok(AckPath {
        gateway,
        store_only,
    })
}

/// A fresh gateway with [`HOLD_PUMP_ENV`] set, under [`ACK_CONNECTIONS`] connections of new
/// texts; afterwards every accepted text must still be queued (the switch worked).
fn held_gateway(bins: &Bins, backend: &StateBackend) -> anyhow::Result<LoadResult> {
    let dir = Scratch::new("bench-ack")?;
    let port = free_port()?;
    let sim = sim_for(bins, port)?;
    let mut config = bench_config(port, &sim);
    if let Some(state) = backend.state_config() {
        crate::procs::merge(&mut config, json!({ "state": state }));
    }
    let gw = Gateway::start(bins, dir.path(), port, &config, &[(HOLD_PUMP_ENV, "1")])?;
    let public_url = format!("http://127.0.0.1:{port}{WEBHOOK_PATH}");
    let pool: Arc<[Vec<u8>]> = build_requests(&public_url, ACK_POOL, now_nanos())?.into();
    let result = load(
        format!("127.0.0.1:{port}").parse()?,
        &pool,
        ACK_CONNECTIONS,
        Reuse::Once,
    )?;
    let queued = queue_depth(&gw)?;
    ensure!(
        queued >= result.ok,
        "the gateway's queue holds {queued} texts after {} were accepted: its pump was not held (is the gateway binary older than {HOLD_PUMP_ENV}?)",
        result.ok
    );
    drop(gw);
    drop(sim);
    Ok(result)
}

/// [`ACK_CONNECTIONS`] closed-loop producers calling `enqueue` for [`WARM_UP`] then
/// [`MEASURE`] on a fresh store: SQLite in a scratch directory (opened as the gateway opens
/// it), or a new schema on the PostgreSQL server (the store's default pool). The
/// payloads are the gateway's: signed webhook forms from [`SENDERS`] senders, each sender its
/// own lane.
fn store_only(backend: &StateBackend) -> anyhow::Result<LoadResult> {
    let payloads = webhook_forms()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start a runtime for the store-only load")?;
    let dir = Scratch::new("bench-store-only")?;
    runtime.block_on(async {
        let store: Arc<dyn IngressQueue> = match backend {
            StateBackend::Sqlite => Arc::new(
                SqliteStore::open(&dir.path().join("bench.sqlite"), &gateway_sqlite_options())
                    .await
                    .context("open a SQLite store")?,
            ),
            StateBackend::Postgres { url } => Arc::new(
                PostgresStore::connect(
                    url,
                    &PostgresOptions {
                        schema: Some(format!("bench_store_{}", now_nanos())),
                        ..PostgresOptions::default()
                    },
                )
                .await
                .context("connect a PostgreSQL store")?,
            ),
        };
        produce(store, payloads).await
    })
}

/// The bodies of signed webhook requests (what the gateway hands to `enqueue`).
fn webhook_forms() -> anyhow::Result<Arc<[Vec<u8>]>> {
    let requests = build_requests(
        &format!("http://127.0.0.1:1{WEBHOOK_PATH}"),
        STORE_PAYLOADS,
        now_nanos(),
    )?;
    requests
        .into_iter()
        .map(|r| {
            let at = r
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .ok_or_else(|| anyhow!("a built request has no body"))?;
            Ok(r[at + 4..].to_vec())
        })
        .collect()
}

async fn produce(
    store: Arc<dyn IngressQueue>,
    payloads: Arc<[Vec<u8>]>,
) -> anyhow::Result<LoadResult> {
    let started = Instant::now();
    let measure_from = started + WARM_UP;
    let end = measure_from + MEASURE;
    let nonce = now_nanos();
    let mut tasks = tokio::task::JoinSet::new();
    for producer in 0..ACK_CONNECTIONS {
        let (store, payloads) = (Arc::clone(&store), Arc::clone(&payloads));
        tasks.spawn(async move {
            let mut latencies_us: Vec<u32> = Vec::with_capacity(64 * 1024);
            let mut n = 0_usize;
            loop {
                let begin = Instant::now();
                if begin >= end {
                    break;
                }
                let i = n * ACK_CONNECTIONS + producer;
                let item = NewIngress {
                    account: "default".to_owned(),
                    event_id: format!("SM{nonce:016x}{i:016x}"),
                    lane: format!("default/sender:+1555{:07}", 1_000_000 + i % SENDERS),
                    payload: payloads[i % payloads.len()].clone(),
                    received_at: 0,
                };
                store.enqueue(item).await?;
                n += 1;
                if begin >= measure_from {
                    latencies_us
                        .push(u32::try_from(begin.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
            }
            anyhow::Ok(latencies_us)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.context("a producer task")??);
    }
    latencies.sort_unstable();
    Ok(LoadResult {
        ok: latencies.len() as u64,
        rps: latencies.len() as f64 / MEASURE.as_secs_f64(),
        p50_ms: percentile_us(&latencies, 0.50) / 1000.0,
        p99_ms: percentile_us(&latencies, 0.99) / 1000.0,
        ..LoadResult::default()
    })
}
