//! `cargo xtask bench`: the channel's speed figures on loopback, in one run, printed as a table
//! and written as JSON to `<target dir>/bench/bench.json`.
//!
//! 1. Webhook throughput and p50/p99 latency at 2 and 16 keep-alive connections, for valid
//!    signed texts from many allowlisted senders, next to a bare axum handler (started here,
//!    in this process) that returns the same TwiML; the figure is the ratio gateway / bare.
//! 2. Time from process start to `/readyz` (median of [`READY_STARTS`] restarts, polled every
//!    millisecond) and resident memory idle and after the load.
//! 3. Text-to-reply latency through the simulator with the echo agent, and the time to drain a
//!    burst of texts from many phones.
//! 4. On SQLite, then on PostgreSQL, each on fresh gateways: durable accepts with the pump
//!    running (the mixed load), the ack path alone against the store alone
//!    ([`crate::bench_ack`]), and the sustained answered rate of a stepped ramp with the store's
//!    counted writes per answered text ([`crate::bench_ramp`]).
//! 5. One table of issue 18's figures beside their same-run baselines and aims
//!    ([`crate::bench_summary`]).
//!
//! The load generator is a small keep-alive HTTP/1.1 client written here over `std::net`, one
//! OS thread per connection, sending requests built and signed before the clock starts. Why
//! not hyper's client: the generator shares the machine's two cores with the server under
//! test, so it should cost as little and as predictably as possible: no async runtime of its
//! own competing with the server's, one `write_all` of pre-serialised bytes and a
//! `Content-Length` read per request, and every byte on the wire known. The bare baseline is
//! driven by the very same client with the very same requests, so the client's cost is the
//! same on both sides of the ratio.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::bench_ack::StateBackend;
use crate::procs::{
    ACCOUNT_SID, AUTH_TOKEN, Bins, Gateway, NUMBER, Scratch, Sim, free_port, sms_config,
};

/// Keep-alive connections of each webhook case.
const CONNECTIONS: &[usize] = &[2, 16];
/// Connections for the SQLite vs PostgreSQL comparison.
const BACKEND_CONNECTIONS: usize = 16;
/// Load before the measurement of each case (not recorded).
pub(crate) const WARM_UP: Duration = Duration::from_secs(1);
/// Measured load of each case.
pub(crate) const MEASURE: Duration = Duration::from_secs(5);
/// Requests built for one connection count (each used once against the gateway, so that every
/// MessageSid is new); a case that uses them all stops early and says so.
const POOL_REQUESTS: usize = 250_000;
/// Distinct senders of the webhook load.
pub(crate) const SENDERS: usize = 1_000;
/// Socket timeout of the load generator's connections.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the gateway's queue to empty between cases.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Restarts timed for the start-up figure.
const READY_STARTS: usize = 5;
/// `/readyz` polling interval of the start-up figure.
const READY_POLL: Duration = Duration::from_millis(1);
/// Pause before reading the idle resident memory.
const IDLE_SETTLE: Duration = Duration::from_millis(500);

/// Sequential texts of the text-to-reply latency.
const LATENCY_TEXTS: usize = 100;
/// Phones those texts come from (round robin).
const LATENCY_PHONES: usize = 10;
/// Phones of the burst.
const BURST_PHONES: usize = 100;
/// Texts each burst phone sends.
const BURST_PER_PHONE: usize = 10;
/// Threads posting the burst (each owns a share of the phones).
const BURST_THREADS: usize = 8;
/// Longest wait for one reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Parts per second to one recipient during the run (default 1): raised so that the
/// per-recipient pacing does not dominate the burst figure.
const SEND_RATE_PER_SECOND: u32 = 1_000;

/// `fsync`s timed for the disk figure (what one durable acknowledgement costs at least).
const FSYNC_SAMPLES: usize = 50;

/// Aims of issue 10.
const AIM_RATIO: f64 = 0.5;
const AIM_READY_MS: f64 = 50.0;
const AIM_IDLE_RSS_MIB: f64 = 20.0;

pub(crate) const WEBHOOK_PATH: &str = "/webhooks/sms";
/// Set by the debug xtask when it re-runs the release one: the binaries are already built.
const PREBUILT_ENV: &str = "OPENCLAW_BENCH_PREBUILT";

/// The target directory (`CARGO_TARGET_DIR`, else `target/`).
fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::root().join("target"), std::path::PathBuf::from)
}

/// Runs every measurement once, prints the table and writes the JSON.
///
/// `cargo xtask` builds xtask without optimisations; the load generator and the bare baseline
/// live in this process, so an unoptimised build would flatter the gateway. A debug build
/// therefore builds xtask, the gateway and the simulator in one release build (one feature
/// resolution, so nothing is built twice) and re-runs itself from there.
pub(crate) fn run() -> anyhow::Result<()> {
    let release_dir = target_dir().join("release");
    if cfg!(debug_assertions) {
        eprintln!("bench: building xtask, the gateway and the simulator in release");
        crate::cargo(&[
            "build",
            "--quiet",
            "--release",
            "-p",
            "xtask",
            "-p",
            "openclaw-gateway",
            "-p",
            "openclaw-twilio-sim",
        ])?;
        return crate::run(
            std::process::Command::new(release_dir.join("xtask")).arg("bench"),
            &[(PREBUILT_ENV, "1")],
        );
    }
    let started = Instant::now();
    let built = if std::env::var_os(PREBUILT_ENV).is_some() {
        Bins {
            openclaw: release_dir.join("openclaw"),
            sim: release_dir.join("openclaw-twilio-sim"),
        }
    } else {
        Bins::build(true)?
    };
    // Private copies: the shared target directory may be rebuilt by someone else mid-run.
    let bin_dir = Scratch::new("bench-bin")?;
    let bins = Bins {
        openclaw: bin_dir.path().join("openclaw"),
        sim: bin_dir.path().join("openclaw-twilio-sim"),
    };
    std::fs::copy(&built.openclaw, &bins.openclaw)
        .with_context(|| format!("copy {}", built.openclaw.display()))?;
    std::fs::copy(&built.sim, &bins.sim)
        .with_context(|| format!("copy {}", built.sim.display()))?;
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "bench: release binaries ready; load average {}",
        load_before.trim()
    );

    // 1 and 2: one gateway for start-up, memory and webhook throughput.
    let dir = Scratch::new("bench-webhook")?;
    let port = free_port()?;
    let sim = sim_for(&bins, port)?;
    let config = bench_config(port, &sim);
    let mut gw = Gateway::start(&bins, dir.path(), port, &config, &[])?;
    let startup = measure_startup(&mut gw)?;
    eprintln!(
        "bench: ready in {:.1} ms (median), idle RSS {:.1} MiB",
        startup.ready_median_ms, startup.rss_idle_mib
    );

    let fsync_ms = fsync_median_ms(dir.path())?;
    let bare = BareServer::start()?;
    let public_url = format!("http://127.0.0.1:{port}{WEBHOOK_PATH}");
    let gateway_addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut cases = Vec::new();
    let mut nonce = now_nanos();
    for &connections in CONNECTIONS {
        nonce = nonce.wrapping_add(1);
        let pool: Arc<[Vec<u8>]> = build_requests(&public_url, POOL_REQUESTS, nonce)?.into();
        eprintln!("bench: {connections} connections, bare handler");
        let bare_result = load(bare.addr, &pool, connections, Reuse::Cycle)?;
        let backlog = wait_idle(&gw)?;
        eprintln!("bench: {connections} connections, gateway (queue was {backlog})");
        let gateway_result = load(gateway_addr, &pool, connections, Reuse::Once)?;
        cases.push(Case {
            connections,
            bare: bare_result,
            gateway: gateway_result,
            backlog_before: backlog,
        });
    }
    drop(bare);
    let pid = gw
        .pid()
        .ok_or_else(|| anyhow!("the gateway is not running"))?;
    let rss_after_load_mib = rss_mib(pid, "VmRSS")?;
    let hwm_mib = rss_mib(pid, "VmHWM")?;
    let accepted: u64 = cases.iter().map(|c| c.gateway.ok).sum();
    let drain_started = Instant::now();
    let backlog_after = queue_depth(&gw)?;
    let drained = wait_idle(&gw).is_ok();
    let backlog_drain_s = drain_started.elapsed().as_secs_f64();
    let rss_drained_mib = rss_mib(pid, "VmRSS")?;
    drop(gw);
    drop(sim);

    // 3: a fresh gateway, so that the webhook backlog is not in the way.
    let dir = Scratch::new("bench-reply")?;
    let port = free_port()?;
    let sim = sim_for(&bins, port)?;
    let config = bench_config(port, &sim);
    let gw = Gateway::start(&bins, dir.path(), port, &config, &[])?;
    eprintln!("bench: text-to-reply latency ({LATENCY_TEXTS} sequential texts)");
    let reply = reply_latency(&sim)?;
    eprintln!("bench: burst of {} texts", BURST_PHONES * BURST_PER_PHONE);
    let writes_before = store_writes(&gw)?;
    let burst = burst(&sim)?;
    let writes = store_writes(&gw)?.per_text_since(&writes_before);
    drop(gw);
    drop(sim);

    // 4: on each state backend, same loads, same run: durable accepts with the pump running,
    // the ack path alone (pump held) next to the store alone, and the sustained ramp.
    let backends = backends(&bins)?;

    let report = Report {
        backends,
        fsync_ms,
        cases,
        startup,
        rss_after_load_mib,
        hwm_mib,
        accepted,
        backlog_after,
        backlog_drain_s: drained.then_some(backlog_drain_s),
        rss_drained_mib,
        reply,
        burst,
        writes,
        total_s: started.elapsed().as_secs_f64(),
        load_before: load_before
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_after: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    };
    report.print();
    eprintln!(
        "bench: console pages over {} conversations",
        crate::bench_console::CONVERSATIONS
    );
    crate::bench_console::run_with(&bins)?.print();
    let json = report.json();
    let out_dir = target_dir().join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let out = out_dir.join("bench.json");
    std::fs::write(&out, serde_json::to_string_pretty(&json)? + "\n")?;
    println!("\nwritten: {}", out.display());
    Ok(())
}

/// Everything measured on one state backend, each part on a fresh gateway.
#[derive(Debug)]
pub(crate) struct BackendRun {
    /// Durable accepts at [`BACKEND_CONNECTIONS`] connections with the pump running (the mixed
    /// load: webhooks and the pipeline together).
    pub(crate) durable: LoadResult,
    /// (a) the ack path alone, next to the store alone.
    pub(crate) ack: crate::bench_ack::AckPath,
    /// (b) the stepped ramp, with (d) the counted writes per answered text.
    pub(crate) ramp: crate::bench_ramp::Ramp,
}

/// SQLite, and PostgreSQL when a server could be had.
#[derive(Debug)]
pub(crate) struct Backends {
    pub(crate) sqlite: BackendRun,
    /// `Err` says why PostgreSQL was not measured (not installed, no server, a failure).
    pub(crate) postgres: Result<BackendRun, String>,
}

/// The same measurements on SQLite, then on PostgreSQL (a private cluster on loopback with
/// `fsync` on, or `OPENCLAW_TEST_PG_URL`; each gateway and store in a schema of its own). Every
/// 200 is a committed, durable message on either side.
fn backends(bins: &Bins) -> anyhow::Result<Backends> {
    let sqlite = measure_backend(bins, &StateBackend::Sqlite)?;
    let postgres = match crate::services::Postgres::start() {
        Ok(pg) => {
            let backend = StateBackend::Postgres {
                url: pg.url().to_owned(),
            };
            let result = measure_backend(bins, &backend).map_err(|err| format!("failed: {err:#}"));
            drop(pg);
            result
        }
        Err(err) => Err(format!("{err:#}")),
    };
    Ok(Backends { sqlite, postgres })
}

fn measure_backend(bins: &Bins, backend: &StateBackend) -> anyhow::Result<BackendRun> {
    // The ack path first, on a fresh database: the durable case leaves a gateway's backlog
    // behind, and PostgreSQL's autovacuum of it would run during whatever comes next.
    let ack = crate::bench_ack::measure(bins, backend)?;
    let durable = durable_accepts(bins, backend)?;
    let ramp = crate::bench_ramp::measure(bins, backend)?;
    Ok(BackendRun { durable, ack, ramp })
}

/// [`BACKEND_CONNECTIONS`] connections of new texts against a fresh gateway on `backend`.
fn durable_accepts(bins: &Bins, backend: &StateBackend) -> anyhow::Result<LoadResult> {
    eprintln!(
        "bench: durable accepts, {} ({BACKEND_CONNECTIONS} connections, pump running)",
        backend.name()
    );
    let dir = Scratch::new("bench-backend")?;
    let port = free_port()?;
    let sim = sim_for(bins, port)?;
    let mut config = bench_config(port, &sim);
    if let Some(state) = backend.state_config() {
        crate::procs::merge(&mut config, json!({ "state": state }));
    }
    let gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    let public_url = format!("http://127.0.0.1:{port}{WEBHOOK_PATH}");
    let pool: Arc<[Vec<u8>]> = build_requests(&public_url, POOL_REQUESTS, now_nanos())?.into();
    let result = load(
        format!("127.0.0.1:{port}").parse()?,
        &pool,
        BACKEND_CONNECTIONS,
        Reuse::Once,
    )?;
    drop(gw);
    drop(sim);
    Ok(result)
}

pub(crate) fn sim_for(bins: &Bins, port: u16) -> anyhow::Result<Sim> {
    Sim::start(
        bins,
        &[
            "--number".to_owned(),
            format!("{NUMBER}=http://127.0.0.1:{port}{WEBHOOK_PATH}"),
        ],
    )
}

/// Anyone may text (`open`, `*`); the webhook limits raised far above the load.
pub(crate) fn bench_config(port: u16, sim: &Sim) -> Value {
    sms_config(
        port,
        sim,
        json!({
            "dmPolicy": "open",
            "allowFrom": ["*"],
            "sendRatePerSecond": SEND_RATE_PER_SECOND,
            "limits": {
                "perSenderPerMinute": 100_000_000,
                "perRoutePerMinute": 1_000_000_000,
                "preAuthInFlight": 4_096,
            },
        }),
    )
}

pub(crate) fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

// ---------------------------------------------------------------------------------------------
// Start-up and memory

#[derive(Debug)]
struct Startup {
    cold_ms: f64,
    ready_ms: Vec<f64>,
    ready_median_ms: f64,
    rss_idle_mib: f64,
}

/// The first start (empty state directory) is `cold`; then [`READY_STARTS`] restarts on that
/// state, each timed from spawning to the first 200 of `/readyz`.
fn measure_startup(gw: &mut Gateway) -> anyhow::Result<Startup> {
    gw.kill();
    std::fs::remove_dir_all(&gw.state_dir).ok();
    let cold = gw.spawn_timed(READY_POLL)?;
    let mut ready = Vec::new();
    for _ in 0..READY_STARTS {
        gw.terminate()?;
        ready.push(ms(gw.spawn_timed(READY_POLL)?));
    }
    std::thread::sleep(IDLE_SETTLE);
    let pid = gw
        .pid()
        .ok_or_else(|| anyhow!("the gateway is not running"))?;
    let rss_idle_mib = rss_mib(pid, "VmRSS")?;
    let mut sorted = ready.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Startup {
        cold_ms: ms(cold),
        ready_median_ms: sorted[sorted.len() / 2],
        ready_ms: ready,
        rss_idle_mib,
    })
}

/// A `/proc/<pid>/status` line in kB, as MiB.
fn rss_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no {field} in /proc/{pid}/status"))?;
    Ok(kb / 1024.0)
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The gateway's inbound queue depth, summed over accounts, from `/metrics`.
pub(crate) fn queue_depth(gw: &Gateway) -> anyhow::Result<u64> {
    let text = gw.metrics()?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("openclaw_sms_queue_depth"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum())
}

/// Waits (up to [`DRAIN_TIMEOUT`]) until the queue is empty; returns the depth it started at.
pub(crate) fn wait_idle(gw: &Gateway) -> anyhow::Result<u64> {
    let first = queue_depth(gw)?;
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut depth = first;
    while depth > 0 {
        if Instant::now() > deadline {
            bail!("the gateway's queue still holds {depth} after {DRAIN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
        depth = queue_depth(gw)?;
    }
    Ok(first)
}

/// The median time of a 4 KiB write plus `fsync` in `dir` (the state directory's file system).
/// The gateway answers 200 only after its enqueue is committed with `synchronous=FULL`, so this
/// is context for the ratio: a cost the bare handler does not pay. It varies with other disk
/// traffic on the machine, so it is measured in the same run.
fn fsync_median_ms(dir: &std::path::Path) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let block = [0u8; 4096];
    let mut took = Vec::with_capacity(FSYNC_SAMPLES);
    for _ in 0..FSYNC_SAMPLES {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_all()?;
        took.push(ms(t.elapsed()));
    }
    drop(file);
    std::fs::remove_file(&path)?;
    took.sort_by(f64::total_cmp);
    Ok(percentile_ms(&took, 0.5))
}

// ---------------------------------------------------------------------------------------------
// The bare baseline

/// A bare axum server on 127.0.0.1:0 in this process, on its own multi-thread tokio runtime
/// (the same runtime flavour and default worker count as the gateway), answering every POST
/// to the webhook path with the gateway's empty TwiML after reading the body.
struct BareServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BareServer {
    fn start() -> anyhow::Result<Self> {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = addr_tx.send(Err(anyhow!(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = addr_tx.send(Err(anyhow!(e)));
                        return;
                    }
                };
                let _ = addr_tx.send(listener.local_addr().map_err(|e| anyhow!(e)));
                let app = axum::Router::new().route(WEBHOOK_PATH, axum::routing::post(bare_twiml));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx
            .recv()
            .map_err(|_| anyhow!("the bare server thread died"))??;
        Ok(Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

async fn bare_twiml(_body: axum::body::Bytes) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            openclaw_twilio::webhook::TWIML_CONTENT_TYPE,
        )],
        openclaw_twilio::webhook::EMPTY_TWIML,
    )
}

impl Drop for BareServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The load generator

/// `count` webhook requests ([`build_request`]), each a valid signed inbound text with a new
/// MessageSid, from [`SENDERS`] senders in turn.
pub(crate) fn build_requests(
    public_url: &str,
    count: usize,
    nonce: u64,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let token = SecretString::from(AUTH_TOKEN.to_owned());
    (0..count)
        .map(|i| {
            let sid = format!("SM{nonce:016x}{:016x}", i as u64);
            let from = format!("+1555{:07}", 1_000_000 + i % SENDERS);
            build_request(public_url, &token, &sid, &from, &format!("bench text {i}"))
        })
        .collect()
}

/// One webhook request to `public_url`: a valid signed inbound text `body` from `from` with
/// MessageSid `sid`; the form is the simulator's (and Twilio's) field set.
pub(crate) fn build_request(
    public_url: &str,
    token: &SecretString,
    sid: &str,
    from: &str,
    body: &str,
) -> anyhow::Result<Vec<u8>> {
    let authority = public_url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .ok_or_else(|| anyhow!("bad public URL {public_url}"))?;
    let params: [(&str, &str); 19] = [
        ("ToCountry", "US"),
        ("ToState", ""),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", sid),
        ("FromState", ""),
        ("SmsStatus", "received"),
        ("FromCity", ""),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", NUMBER),
        ("ToZip", ""),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
    ];
    let signature = openclaw_twilio::signature::compute(public_url, &params, token);
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let mut request = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\nContent-Length: {}\r\n\r\n",
        form.len()
    )
    .into_bytes();
    request.extend_from_slice(form.as_bytes());
    Ok(request)
}

/// One case's results.
#[derive(Debug, Default)]
pub(crate) struct LoadResult {
    pub(crate) ok: u64,
    /// Non-200 answers by status, and `0` for IO errors.
    pub(crate) errors: BTreeMap<u16, u64>,
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) exhausted: bool,
}

impl LoadResult {
    pub(crate) fn json(&self) -> Value {
        json!({
            "ok": self.ok,
            "requests_per_second": self.rps,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "errors": errors_json(&self.errors),
            "request_pool_used_up": self.exhausted,
        })
    }
}

/// Errors by status as JSON (`io` for IO errors).
pub(crate) fn errors_json(errors: &BTreeMap<u16, u64>) -> Value {
    errors
        .iter()
        .map(|(s, n)| {
            (
                if *s == 0 {
                    "io".to_owned()
                } else {
                    s.to_string()
                },
                json!(n),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// How the load generator may use its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// Each request once (the gateway: a repeated MessageSid would be a cheaper duplicate).
    Once,
    /// Round and round (the bare handler, which keeps nothing).
    Cycle,
}

/// Drives `connections` keep-alive connections to `addr` with requests from `pool` (each used
/// at most once) for [`WARM_UP`] then [`MEASURE`]; counts and times only the answers to
/// requests sent within the measured window.
pub(crate) fn load(
    addr: SocketAddr,
    pool: &Arc<[Vec<u8>]>,
    connections: usize,
    reuse: Reuse,
) -> anyhow::Result<LoadResult> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let measure_from = start + WARM_UP;
    let end = measure_from + MEASURE;
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let pool = Arc::clone(pool);
            let next = Arc::clone(&next);
            std::thread::spawn(move || drive(addr, &pool, &next, reuse, measure_from, end))
        })
        .collect();
    let mut result = LoadResult::default();
    let mut latencies: Vec<u32> = Vec::new();
    for thread in threads {
        let part = thread
            .join()
            .map_err(|_| anyhow!("a load thread panicked"))??;
        result.ok += part.ok;
        for (status, n) in part.errors {
            *result.errors.entry(status).or_default() += n;
        }
        result.exhausted |= part.exhausted;
        latencies.extend(part.latencies_us);
    }
    latencies.sort_unstable();
    result.rps = result.ok as f64 / MEASURE.as_secs_f64();
    result.p50_ms = percentile_us(&latencies, 0.50) / 1000.0;
    result.p99_ms = percentile_us(&latencies, 0.99) / 1000.0;
    Ok(result)
}

#[derive(Debug, Default)]
struct DriveResult {
    ok: u64,
    errors: BTreeMap<u16, u64>,
    latencies_us: Vec<u32>,
    exhausted: bool,
}

fn drive(
    addr: SocketAddr,
    pool: &[Vec<u8>],
    next: &AtomicUsize,
    reuse: Reuse,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<DriveResult> {
    let mut out = DriveResult {
        latencies_us: Vec::with_capacity(64 * 1024),
        ..DriveResult::default()
    };
    let mut conn = Conn::connect(addr)?;
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let mut i = next.fetch_add(1, Ordering::Relaxed);
        if reuse == Reuse::Cycle {
            i %= pool.len().max(1);
        }
        let Some(request) = pool.get(i) else {
            out.exhausted = true;
            break;
        };
        let answer = conn.exchange(request);
        let took = sent.elapsed();
        let measured = sent >= measure_from;
        match answer {
            Ok((status, keep_alive)) => {
                if measured {
                    if status == 200 {
                        out.ok += 1;
                        out.latencies_us
                            .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                    } else {
                        *out.errors.entry(status).or_default() += 1;
                    }
                }
                if !keep_alive {
                    conn = Conn::connect(addr)?;
                }
            }
            Err(_) => {
                if measured {
                    *out.errors.entry(0).or_default() += 1;
                }
                conn = Conn::connect(addr)?;
            }
        }
    }
    Ok(out)
}

/// One keep-alive HTTP/1.1 connection that reads `Content-Length` answers.
pub(crate) struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    line: String,
    body: Vec<u8>,
}

impl Conn {
    pub(crate) fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// Sends `request`, reads the answer; returns its status and whether the connection stays
    /// open.
    pub(crate) fn exchange(&mut self, request: &[u8]) -> anyhow::Result<(u16, bool)> {
        self.writer.write_all(request)?;
        self.line.clear();
        self.reader.read_line(&mut self.line)?;
        let status: u16 = self
            .line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {:?}", self.line))?;
        let mut length = None;
        let mut keep_alive = true;
        loop {
            self.line.clear();
            if self.reader.read_line(&mut self.line)? == 0 {
                bail!("connection closed in the header");
            }
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.parse::<usize>()?);
                } else if name.eq_ignore_ascii_case("connection") {
                    keep_alive = !value.eq_ignore_ascii_case("close");
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    bail!("chunked answers are not expected here");
                }
            }
        }
        let length = length.ok_or_else(|| anyhow!("answer without Content-Length"))?;
        self.body.resize(length, 0);
        self.reader.read_exact(&mut self.body)?;
        Ok((status, keep_alive))
    }
}

/// Nearest-rank percentile of sorted microseconds.
pub(crate) fn percentile_us(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub(crate) fn percentile_ms(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted_ms.len() as f64).ceil() as usize;
    sorted_ms[rank.clamp(1, sorted_ms.len()) - 1]
}

// ---------------------------------------------------------------------------------------------
// Through the simulator

#[derive(Debug)]
struct ReplyLatency {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// [`LATENCY_TEXTS`] texts one after the other: the simulator's phone texts the gateway, and
/// the clock stops when that phone receives the echo.
fn reply_latency(sim: &Sim) -> anyhow::Result<ReplyLatency> {
    let mut took = Vec::with_capacity(LATENCY_TEXTS);
    for i in 0..LATENCY_TEXTS {
        let phone = format!("+1555200{:04}", i % LATENCY_PHONES);
        let body = format!("ping {i}");
        let sent = Instant::now();
        let status = sim.text(&phone, NUMBER, &body)?;
        ensure!(status == 200, "the webhook answered {status} to {phone}");
        let reply = sim
            .next_reply(&phone, REPLY_TIMEOUT)?
            .ok_or_else(|| anyhow!("{phone} received no reply within {REPLY_TIMEOUT:?}"))?;
        took.push(ms(sent.elapsed()));
        ensure!(
            reply == format!("Echo: {body}"),
            "{phone} received {reply:?} for {body:?}"
        );
    }
    took.sort_by(f64::total_cmp);
    Ok(ReplyLatency {
        p50_ms: percentile_ms(&took, 0.50),
        p99_ms: percentile_ms(&took, 0.99),
        max_ms: took.last().copied().unwrap_or(f64::NAN),
    })
}

/// The gateway's counted store writes (`openclaw_sms_store_writes`) and answered texts
/// (`openclaw_sms_agent_turns_total{outcome="ok"}`) at one moment; `None` where the gateway's
/// store does not export that count.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StoreWrites {
    transactions: Option<f64>,
    write_jobs: Option<f64>,
    statements: Option<f64>,
    answered: f64,
}

/// Store writes per answered text (the text's webhook acknowledgement included).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WritesPerText {
    pub(crate) answered: f64,
    /// Commits (SQLite: write transactions, each a group commit; PostgreSQL: commits).
    pub(crate) transactions: f64,
    pub(crate) write_jobs: Option<f64>,
    /// Statements sent (PostgreSQL, when counted).
    pub(crate) statements: Option<f64>,
}

impl WritesPerText {
    /// "2.10 write transactions (commits), 8.00 write jobs, 11.0 statements".
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("{:.2} write transactions (commits)", self.transactions);
        if let Some(jobs) = self.write_jobs {
            text.push_str(&format!(", {jobs:.2} write jobs"));
        }
        if let Some(statements) = self.statements {
            text.push_str(&format!(", {statements:.1} statements"));
        }
        text
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "answered": self.answered,
            "write_transactions": self.transactions,
            "write_jobs": self.write_jobs,
            "statements": self.statements,
        })
    }
}

impl StoreWrites {
    /// `None` when nothing was answered in between or the gateway does not count commits.
    pub(crate) fn per_text_since(&self, before: &Self) -> Option<WritesPerText> {
        let answered = self.answered - before.answered;
        let per =
            |now: Option<f64>, then: Option<f64>| now.zip(then).map(|(a, b)| (a - b) / answered);
        let transactions = per(self.transactions, before.transactions)?;
        (answered > 0.0).then(|| WritesPerText {
            answered,
            transactions,
            write_jobs: per(self.write_jobs, before.write_jobs),
            statements: per(self.statements, before.statements),
        })
    }
}

/// Reads [`StoreWrites`] from the gateway's `/metrics`.
pub(crate) fn store_writes(gw: &Gateway) -> anyhow::Result<StoreWrites> {
    let text = gw.metrics()?;
    let value = |prefix: &str| {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .reduce(|a, b| a + b)
    };
    Ok(StoreWrites {
        transactions: value("openclaw_sms_store_writes{count=\"transactions\"}"),
        write_jobs: value("openclaw_sms_store_writes{count=\"write_jobs\"}"),
        statements: value("openclaw_sms_store_writes{count=\"statements\"}"),
        answered: value("openclaw_sms_agent_turns_total{outcome=\"ok\"}").unwrap_or(0.0),
    })
}

#[derive(Debug)]
struct Burst {
    texts: usize,
    posted_s: f64,
    drained_s: f64,
}

/// [`BURST_PHONES`] phones each text [`BURST_PER_PHONE`] times, posted by [`BURST_THREADS`]
/// threads as fast as the simulator delivers them; the clock stops when every phone has all
/// its echoes (checked by content).
fn burst(sim: &Sim) -> anyhow::Result<Burst> {
    let sim_base = sim.base.clone();
    let started = Instant::now();
    let threads: Vec<_> = (0..BURST_THREADS)
        .map(|t| {
            let base = sim_base.clone();
            std::thread::spawn(move || -> anyhow::Result<(Duration, Duration)> {
                let phones: Vec<String> = (0..BURST_PHONES)
                    .filter(|p| p % BURST_THREADS == t)
                    .map(|p| format!("+1555300{p:04}"))
                    .collect();
                for i in 0..BURST_PER_PHONE {
                    for phone in &phones {
                        post_text(&base, phone, &format!("burst {i}"))?;
                    }
                }
                let posted = started.elapsed();
                for phone in &phones {
                    let mut got = Vec::new();
                    while got.len() < BURST_PER_PHONE {
                        let reply = next_reply(&base, phone)?;
                        got.push(reply);
                    }
                    got.sort();
                    let mut want: Vec<String> = (0..BURST_PER_PHONE)
                        .map(|i| format!("Echo: burst {i}"))
                        .collect();
                    want.sort();
                    ensure!(got == want, "{phone} received {got:?}");
                }
                Ok((posted, started.elapsed()))
            })
        })
        .collect();
    let (mut posted, mut drained) = (Duration::ZERO, Duration::ZERO);
    for thread in threads {
        let (p, d) = thread
            .join()
            .map_err(|_| anyhow!("a burst thread panicked"))??;
        posted = posted.max(p);
        drained = drained.max(d);
    }
    Ok(Burst {
        texts: BURST_PHONES * BURST_PER_PHONE,
        posted_s: posted.as_secs_f64(),
        drained_s: drained.as_secs_f64(),
    })
}

fn post_text(base: &str, phone: &str, body: &str) -> anyhow::Result<()> {
    let answer = crate::http::post_json(
        &format!("{base}/_sim/phones/{}/text", phone.replace('+', "%2B")),
        &json!({"to": NUMBER, "body": body}),
    )?;
    ensure!(
        answer.status == 200 && answer.json()?["status"] == 200,
        "a text from {phone} was not accepted: {} {}",
        answer.status,
        answer.body
    );
    Ok(())
}

pub(crate) fn next_reply(base: &str, phone: &str) -> anyhow::Result<String> {
    let url = format!(
        "{base}/_sim/phones/{}/next-reply?timeout_ms={}",
        phone.replace('+', "%2B"),
        REPLY_TIMEOUT.as_millis()
    );
    let answer = crate::http::request("GET", &url, &[], None, REPLY_TIMEOUT * 2)?;
    match answer.status {
        200 => Ok(answer.json()?["body"]
            .as_str()
            .unwrap_or_default()
            .to_owned()),
        204 => bail!("{phone} received no reply within {REPLY_TIMEOUT:?}"),
        other => bail!("next-reply answered {other}: {}", answer.body),
    }
}

// ---------------------------------------------------------------------------------------------
// The report

#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) connections: usize,
    pub(crate) bare: LoadResult,
    pub(crate) gateway: LoadResult,
    backlog_before: u64,
}

impl Case {
    fn ratio(&self) -> f64 {
        self.gateway.rps / self.bare.rps
    }
}

#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) backends: Backends,
    fsync_ms: f64,
    pub(crate) cases: Vec<Case>,
    startup: Startup,
    rss_after_load_mib: f64,
    hwm_mib: f64,
    /// Texts accepted by the webhook cases' gateway (the measured windows).
    pub(crate) accepted: u64,
    backlog_after: u64,
    pub(crate) backlog_drain_s: Option<f64>,
    /// Resident memory of that gateway once its queue drained.
    pub(crate) rss_drained_mib: f64,
    reply: ReplyLatency,
    burst: Burst,
    /// What the store wrote per answered text during the burst (counted by the gateway).
    pub(crate) writes: Option<WritesPerText>,
    total_s: f64,
    /// `/proc/loadavg` (1, 5, 15 min) before and after: other work on the machine shows here.
    load_before: String,
    load_after: String,
}

pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT MET" }
}

pub(crate) fn errors_text(errors: &BTreeMap<u16, u64>) -> String {
    if errors.is_empty() {
        return "0".to_owned();
    }
    errors
        .iter()
        .map(|(s, n)| {
            if *s == 0 {
                format!("io:{n}")
            } else {
                format!("{s}:{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Report {
    fn print(&self) {
        let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        println!();
        println!(
            "cargo xtask bench: loopback, {cpus} CPUs, release build, {} s warm-up + {} s per case",
            WARM_UP.as_secs(),
            MEASURE.as_secs()
        );
        println!();
        println!("Webhook: valid signed texts from {SENDERS} senders (open policy, limits raised)");
        println!(
            "{:<7} {:<8} {:>10} {:>9} {:>9} {:>12} {:>8}  aim",
            "conns", "server", "req/s", "p50 ms", "p99 ms", "errors", "ratio"
        );
        for case in &self.cases {
            for (name, r) in [("bare", &case.bare), ("gateway", &case.gateway)] {
                let ratio = if name == "gateway" {
                    format!("{:.2}", case.ratio())
                } else {
                    String::new()
                };
                let aim = if name == "gateway" {
                    format!(">= {AIM_RATIO:.2} {}", verdict(case.ratio() >= AIM_RATIO))
                } else {
                    String::new()
                };
                println!(
                    "{:<7} {:<8} {:>10.0} {:>9.2} {:>9.2} {:>12} {:>8}  {aim}{}",
                    case.connections,
                    name,
                    r.rps,
                    r.p50_ms,
                    r.p99_ms,
                    errors_text(&r.errors),
                    ratio,
                    if r.exhausted {
                        " (request pool used up)"
                    } else {
                        ""
                    }
                );
            }
        }
        println!(
            "  disk: one 4 KiB write + fsync in the state directory took {:.2} ms (median of {FSYNC_SAMPLES}); every gateway 200 waits for a durable SQLite commit, which no bare handler does",
            self.fsync_ms
        );
        for case in &self.cases {
            if case.backlog_before > 0 {
                println!(
                    "  ({} conns: the gateway's queue held {} texts when the case started)",
                    case.connections, case.backlog_before
                );
            }
        }
        println!();
        println!(
            "Durable accepts by state backend ({BACKEND_CONNECTIONS} connections, fresh gateway each, fsync on both)"
        );
        println!(
            "{:<11} {:>10} {:>9} {:>9} {:>12} {:>17}",
            "backend", "accepts/s", "p50 ms", "p99 ms", "errors", "ratio to SQLite"
        );
        let b = &self.backends;
        let sqlite = &b.sqlite.durable;
        println!(
            "{:<11} {:>10.0} {:>9.2} {:>9.2} {:>12} {:>17}",
            "sqlite",
            sqlite.rps,
            sqlite.p50_ms,
            sqlite.p99_ms,
            errors_text(&sqlite.errors),
            "1.00"
        );
        match &b.postgres {
            Ok(pg) => println!(
                "{:<11} {:>10.0} {:>9.2} {:>9.2} {:>12} {:>17.2}",
                "postgres",
                pg.durable.rps,
                pg.durable.p50_ms,
                pg.durable.p99_ms,
                errors_text(&pg.durable.errors),
                pg.durable.rps / sqlite.rps
            ),
            Err(why) => println!("postgres    not measured: {why}"),
        }
        println!();
        crate::bench_summary::print_ack_path(self);
        println!();
        crate::bench_summary::print_ramps(self);
        println!();
        println!("Start-up and memory");
        let s = &self.startup;
        println!(
            "  start -> /readyz, median of {READY_STARTS} restarts  {:>8.1} ms   aim < {AIM_READY_MS:.0} ms {}",
            s.ready_median_ms,
            verdict(s.ready_median_ms < AIM_READY_MS)
        );
        println!(
            "    each: {}; first start on an empty state dir {:.1} ms",
            s.ready_ms
                .iter()
                .map(|v| format!("{v:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            s.cold_ms
        );
        println!(
            "  resident memory idle                    {:>8.1} MiB  aim < {AIM_IDLE_RSS_MIB:.0} MiB {}",
            s.rss_idle_mib,
            verdict(s.rss_idle_mib < AIM_IDLE_RSS_MIB)
        );
        println!(
            "  resident memory after the load          {:>8.1} MiB  (peak {:.1} MiB; {} texts accepted)",
            self.rss_after_load_mib, self.hwm_mib, self.accepted
        );
        match self.backlog_drain_s {
            Some(t) => println!(
                "  queue after the load: {} texts, drained in {t:.1} s",
                self.backlog_after
            ),
            None => println!(
                "  queue after the load: {} texts, NOT drained within {} s",
                self.backlog_after,
                DRAIN_TIMEOUT.as_secs()
            ),
        }
        println!(
            "  resident memory after the load drained   {:>8.1} MiB  aim < {:.0} MiB {}",
            self.rss_drained_mib,
            crate::bench_summary::AIM_DRAINED_RSS_MIB,
            verdict(
                self.backlog_drain_s.is_some()
                    && self.rss_drained_mib < crate::bench_summary::AIM_DRAINED_RSS_MIB
            )
        );
        println!();
        println!(
            "Through the simulator (echo agent, sendRatePerSecond raised to {SEND_RATE_PER_SECOND})"
        );
        println!(
            "  text -> reply, {LATENCY_TEXTS} sequential texts   p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
            self.reply.p50_ms, self.reply.p99_ms, self.reply.max_ms
        );
        println!(
            "  burst of {} texts from {BURST_PHONES} phones ({BURST_THREADS} posting threads): all posted in {:.2} s, every reply received in {:.2} s ({:.0} texts/s)",
            self.burst.texts,
            self.burst.posted_s,
            self.burst.drained_s,
            self.burst.texts as f64 / self.burst.drained_s
        );
        match &self.writes {
            Some(w) => println!(
                "  store writes per answered text in the burst (its acknowledgement included, counted): {}; aim <= 3 write transactions per answered text",
                w.describe()
            ),
            None => println!("  store writes per answered text: not counted"),
        }
        println!();
        crate::bench_summary::print_table(self);
        println!();
        println!(
            "total {:.0} s; load average before {}, after {} (other work on the machine skews every figure)",
            self.total_s, self.load_before, self.load_after
        );
    }

    fn json(&self) -> Value {
        let load = LoadResult::json;
        let mut out = json!({
            "machine": {
                "cpus": std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
                "build": "release",
                "load_average_before": self.load_before,
                "load_average_after": self.load_after,
            },
            "settings": {
                "warm_up_s": WARM_UP.as_secs_f64(),
                "measure_s": MEASURE.as_secs_f64(),
                "senders": SENDERS,
                "send_rate_per_second": SEND_RATE_PER_SECOND,
                "load_generator": "xtask keep-alive HTTP/1.1 client over std::net, one thread per connection, requests signed before the clock starts",
            },
            "disk_fsync_median_ms": self.fsync_ms,
            "durable_accepts_by_backend": {
                "connections": BACKEND_CONNECTIONS,
                "sqlite": load(&self.backends.sqlite.durable),
                "postgres": match &self.backends.postgres {
                    Ok(pg) => load(&pg.durable),
                    Err(why) => json!({"not_measured": why}),
                },
                "postgres_to_sqlite_ratio": self.backends.postgres.as_ref().ok().map(|pg| pg.durable.rps / self.backends.sqlite.durable.rps),
            },
            "webhook": self.cases.iter().map(|c| json!({
                "connections": c.connections,
                "bare_axum": load(&c.bare),
                "gateway": load(&c.gateway),
                "ratio": c.ratio(),
                "aim_ratio": AIM_RATIO,
                "queue_depth_before": c.backlog_before,
            })).collect::<Vec<_>>(),
            "startup": {
                "ready_median_ms": self.startup.ready_median_ms,
                "ready_ms": self.startup.ready_ms,
                "first_start_empty_state_ms": self.startup.cold_ms,
                "aim_ready_ms": AIM_READY_MS,
                "poll_interval_ms": ms(READY_POLL),
            },
            "memory": {
                "idle_rss_mib": self.startup.rss_idle_mib,
                "aim_idle_rss_mib": AIM_IDLE_RSS_MIB,
                "after_load_rss_mib": self.rss_after_load_mib,
                "peak_rss_mib": self.hwm_mib,
                "accepted_texts": self.accepted,
                "queue_after_load": self.backlog_after,
                "queue_drain_s": self.backlog_drain_s,
                "after_drain_rss_mib": self.rss_drained_mib,
            },
            "text_to_reply": {
                "texts": LATENCY_TEXTS,
                "p50_ms": self.reply.p50_ms,
                "p99_ms": self.reply.p99_ms,
                "max_ms": self.reply.max_ms,
            },
            "burst": {
                "texts": self.burst.texts,
                "phones": BURST_PHONES,
                "posting_threads": BURST_THREADS,
                "posted_s": self.burst.posted_s,
                "drained_s": self.burst.drained_s,
            },
            "store_writes_per_answered_text": self.writes.map(|w| w.json()),
            "total_s": self.total_s,
        });
        crate::procs::merge(&mut out, crate::bench_summary::json(self));
        out
    }
}
