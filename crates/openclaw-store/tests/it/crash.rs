//! The crash test: a child process enqueues as fast as it can and prints every acknowledged
//! id; the parent kills it (SIGKILL) at random moments, reopens the database and checks that
//! every acknowledged message is there exactly once and that `PRAGMA integrity_check` is ok.
//!
//! `OPENCLAW_STORE_CRASH_KILLS` sets the number of kills (default 5; `cargo xtask chaos` runs
//! it with 20 or more), `OPENCLAW_STORE_CRASH_SEED` replays a run (the seed is printed).
//! The child is this test binary itself, re-run with `OPENCLAW_STORE_CRASH_CHILD` set.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openclaw_store::{ClaimScope, Enqueued, IngressQueue, NewIngress, SqliteStore, StoreOptions};

const CHILD_ENV: &str = "OPENCLAW_STORE_CRASH_CHILD";
const START_ENV: &str = "OPENCLAW_STORE_CRASH_START";
const KILLS_ENV: &str = "OPENCLAW_STORE_CRASH_KILLS";
const SEED_ENV: &str = "OPENCLAW_STORE_CRASH_SEED";
/// Kills in the normal test run.
const DEFAULT_KILLS: u32 = 5;
/// Concurrent producers in the child.
const PRODUCERS: u64 = 8;
/// Event numbers of one child run start at `cycle * CYCLE_SPAN`, so runs never collide.
const CYCLE_SPAN: u64 = 100_000_000;
/// Upper bound of the random delay between the child's first acknowledgement and the kill.
const MAX_KILL_DELAY_MS: u64 = 250;
/// Safety bound on waiting for a child's first acknowledgement (a hang guard, not a timing
/// assertion: a healthy child answers within milliseconds).
const FIRST_ACK_GUARD: Duration = Duration::from_secs(120);

/// SplitMix64: a tiny deterministic generator for kill delays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn event(n: u64) -> NewIngress {
    NewIngress {
        account: if n.is_multiple_of(3) {
            "work"
        } else {
            "default"
        }
        .to_owned(),
        event_id: format!("SM{n:020}"),
        lane: format!("sender:+1555{:07}", n % 50),
        payload: format!("Body=message+{n}&From=%2B1555{:07}", n % 50).into_bytes(),
        received_at: i64::try_from(n).unwrap_or(i64::MAX),
    }
}

/// The child's work: enqueue forever from several tasks, print `ACK <account> <event> <id>`
/// after each acknowledgement, re-send some earlier events (must be duplicates with the same
/// id), and run a pump that claims and completes.
fn run_child(path: &Path, start: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Arc::new(
            SqliteStore::open(path, &StoreOptions::default())
                .await
                .unwrap(),
        );
        println!("READY");
        let next = Arc::new(AtomicU64::new(start));
        let mut tasks = Vec::new();
        for _ in 0..PRODUCERS {
            let (store, next) = (Arc::clone(&store), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                let mut mine: Vec<(u64, i64)> = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let item = event(n);
                    let account = item.account.clone();
                    let id = match store.enqueue(item).await {
                        Ok(e) => e.id().as_i64(),
                        Err(err) => return format!("enqueue failed: {err}"),
                    };
                    {
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {account} SM{n:020} {id}").unwrap();
                        out.flush().unwrap();
                    }
                    mine.push((n, id));
                    if n.is_multiple_of(7) {
                        let (old, old_id) = mine[mine.len() / 2];
                        match store.enqueue(event(old)).await {
                            Ok(Enqueued::Duplicate { id, .. }) if id.as_i64() == old_id => {}
                            other => return format!("duplicate of {old}: {other:?}"),
                        }
                    }
                }
            }));
        }
        let pump = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            loop {
                let claimed = match pump.claim_next(ClaimScope::All, i64::MAX, 16).await {
                    Ok(c) => c,
                    Err(err) => return format!("claim failed: {err}"),
                };
                for c in claimed {
                    if let Err(err) = pump.complete(c.id, i64::MAX).await {
                        return format!("complete failed: {err}");
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
        // Runs until killed; a task that stops has found a fault and says so.
        for t in tasks {
            let why = t.await.unwrap_or_else(|e| e.to_string());
            println!("BAD {why}");
        }
    });
}

/// Entry point of the child process; does nothing unless `OPENCLAW_STORE_CRASH_CHILD` is set
/// (this is the harness half of `acknowledged_enqueues_survive_sigkill`, not a test of its own).
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let start = std::env::var(START_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    run_child(Path::new(&path), start);
}

/// Runs one child until a random moment after its first acknowledgement, kills it, and returns
/// the complete `ACK` lines it printed.
fn run_and_kill(path: &Path, start: u64, delay: Duration) -> Vec<(String, String, i64)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::crash_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .env(START_ENV, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (first_tx, first_rx) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut acks = Vec::new();
        let mut line = Vec::new();
        let mut signalled = false;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // A line cut by the kill has no newline: its id was not fully reported.
            if line.last() != Some(&b'\n') {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            assert!(!text.starts_with("BAD"), "child reported: {text}");
            let parts: Vec<&str> = text.split_whitespace().collect();
            if let ["ACK", account, event, id] = parts.as_slice() {
                acks.push((
                    (*account).to_owned(),
                    (*event).to_owned(),
                    id.parse().unwrap(),
                ));
                if !signalled {
                    signalled = true;
                    let _ = first_tx.send(());
                }
            }
        }
        acks
    });
    let got_first = first_rx.recv_timeout(FIRST_ACK_GUARD).is_ok();
    if got_first {
        std::thread::sleep(delay);
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let acks = reader.join().unwrap();
    assert!(got_first, "child never acknowledged an enqueue");
    acks
}

#[test]
fn acknowledged_enqueues_survive_sigkill() {
    let kills: u32 = std::env::var(KILLS_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_KILLS);
    let seed: u64 = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            u64::try_from(nanos.as_nanos() % u128::from(u64::MAX)).unwrap_or(1)
        });
    eprintln!("crash test: {kills} kills, {SEED_ENV}={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/crash.sqlite");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut acknowledged: HashMap<(String, String), i64> = HashMap::new();
    for cycle in 0..u64::from(kills) {
        let delay = Duration::from_millis(rng.next() % (MAX_KILL_DELAY_MS + 1));
        let acks = run_and_kill(&path, cycle * CYCLE_SPAN, delay);
        let fresh = acks.len();
        for (account, event, id) in acks {
            if let Some(prev) = acknowledged.insert((account, event.clone()), id) {
                assert_eq!(prev, id, "{event} acknowledged with two ids");
            }
        }
        // Reopen through the store (recovers the WAL, resets claims), check integrity.
        runtime.block_on(async {
            let store = SqliteStore::open(&path, &StoreOptions::default())
                .await
                .unwrap();
            assert_eq!(
                store.integrity_check().await.unwrap(),
                ["ok"],
                "cycle {cycle}"
            );
            store.close().await.unwrap();
        });
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut rows: HashMap<(String, String), Vec<i64>> = HashMap::new();
        let mut stmt = conn
            .prepare("SELECT account, event_id, id FROM ingress")
            .unwrap();
        for row in stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
        {
            let (account, event, id): (String, String, i64) = row.unwrap();
            rows.entry((account, event)).or_default().push(id);
        }
        for (key, id) in &acknowledged {
            assert_eq!(
                rows.get(key),
                Some(&vec![*id]),
                "cycle {cycle}: {key:?} lost or duplicated"
            );
        }
        eprintln!(
            "crash test: cycle {cycle}: killed after {delay:?}, {fresh} new acks, {} rows",
            rows.len()
        );
    }
    assert!(
        acknowledged.len() >= usize::try_from(kills).unwrap(),
        "every cycle acknowledged at least one enqueue"
    );
}
