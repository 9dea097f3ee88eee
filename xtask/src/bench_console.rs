//! The console's page time with a big store: 10,000 conversations seeded into the gateway's
//! SQLite file (each a text, the agent's answer, the answer's saved reply, its sent part and
//! the part's delivery record), then the conversations list (first and last page) and a
//! thread (turns, reply parts and delivery status) asked for repeatedly over loopback. Part of `cargo xtask bench`; alone: `cargo xtask bench-console`.
//!
//! The figure is the request's time seen by a client on the same host (loopback HTTP/1.1, one
//! connection per request): an upper bound of the server-side render.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use openclaw_store::{
    DeliveryObservation, DeliveryStore as _, HistoryEntry, HistoryStore as _, NewIntent, NewReply,
    OutboundStore as _, Role, SqliteStore, StoreOptions, body_hash,
};
use serde_json::json;

use crate::procs::{Bins, Gateway, NUMBER, Scratch, Sim, free_port, merge, sms_config};

/// Conversations seeded.
pub(crate) const CONVERSATIONS: usize = 10_000;
/// Requests per page measured (after one warm-up).
const SAMPLES: usize = 50;
/// Rows of a console page (`PAGE_SIZE` in the console).
const PAGE_SIZE: usize = 50;
const TOKEN: &str = "bench-console-token-0123456789";

/// Medians and p95s in milliseconds.
#[derive(Debug)]
pub(crate) struct ConsoleTimes {
    pub(crate) first_page: (f64, f64),
    pub(crate) last_page: (f64, f64),
    pub(crate) thread: (f64, f64),
}

impl ConsoleTimes {
    pub(crate) fn print(&self) {
        println!(
            "Console with {CONVERSATIONS} conversations (SQLite, loopback request time, median / p95 of {SAMPLES}): conversations page 1 {:.1} / {:.1} ms, last page {:.1} / {:.1} ms, a thread {:.1} / {:.1} ms (target: under 50 ms server-side)",
            self.first_page.0,
            self.first_page.1,
            self.last_page.0,
            self.last_page.1,
            self.thread.0,
            self.thread.1
        );
    }
}

fn phone(i: usize) -> String {
    format!("+1555{i:07}")
}

/// The agent's answer to conversation `i` as the pipeline leaves it: a saved reply, its one
/// part sent, and a `delivered` record of that part.
async fn seed_reply(store: &SqliteStore, peer: &str, i: usize, at: i64) -> anyhow::Result<()> {
    let reply_id = format!("reply:default:SM{i:032x}");
    let text = format!("Echo: hello number {i}");
    store
        .save_reply(NewReply {
            reply_id: reply_id.clone(),
            account: "default".into(),
            recipient: peer.to_owned(),
            text: text.clone(),
            created_at: at,
        })
        .await?;
    let intent = store
        .create_intent(NewIntent {
            reply_id,
            account: "default".into(),
            recipient: peer.to_owned(),
            body_hash: body_hash(&text),
            part_index: 0,
            part_count: 1,
            created_at: at,
        })
        .await?;
    let sid = format!("SM{:032x}", i + 1_000_000);
    store.mark_sent(intent.intent().id, &sid, at).await?;
    store
        .record_delivery(DeliveryObservation {
            account: "default".into(),
            message_sid: sid,
            status: "delivered".into(),
            error_code: None,
            at,
        })
        .await?;
    Ok(())
}

/// Conversation `i`'s two turns.
async fn seed_turns(store: &SqliteStore, i: usize, at: i64) -> anyhow::Result<()> {
    let peer = phone(i);
    let offset = i64::try_from(i).unwrap_or(0) * 10;
    for (role, text, when) in [
        (Role::User, format!("hello number {i}"), at + offset),
        (
            Role::Assistant,
            format!("Echo: hello number {i}"),
            at + offset + 1,
        ),
    ] {
        store
            .append_history(
                "default",
                &peer,
                HistoryEntry {
                    role,
                    text,
                    at: when,
                },
            )
            .await?;
    }
    Ok(())
}

/// Two turns per conversation, then a sent reply per conversation, written concurrently so
/// the store's group commit batches them. The first conversation is written alone first and
/// the last alone last: concurrent writes land in any order, and the pages timed must hold
/// them (the oldest on the last page, the newest on the first).
async fn seed(path: &std::path::Path) -> anyhow::Result<()> {
    let store = Arc::new(SqliteStore::open(path, &StoreOptions::default()).await?);
    let at = 1_700_000_000_000_i64;
    seed_turns(&store, 0, at).await?;
    for chunk in (1..CONVERSATIONS - 1).collect::<Vec<_>>().chunks(500) {
        let mut tasks = tokio::task::JoinSet::new();
        for &i in chunk {
            let store = Arc::clone(&store);
            tasks.spawn(async move { seed_turns(&store, i, at).await });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
    }
    seed_turns(&store, CONVERSATIONS - 1, at).await?;
    for chunk in (0..CONVERSATIONS).collect::<Vec<_>>().chunks(500) {
        let mut tasks = tokio::task::JoinSet::new();
        for &i in chunk {
            let store = Arc::clone(&store);
            tasks.spawn(async move {
                let offset = i64::try_from(i).unwrap_or(0) * 10;
                seed_reply(&store, &phone(i), i, at + offset + 1).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
    }
    Ok(())
}

fn timed(url: &str, cookie: &str, expect: &str) -> anyhow::Result<(f64, f64)> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for i in 0..=SAMPLES {
        let started = Instant::now();
        let answer = crate::http::request(
            "GET",
            url,
            &[("Cookie", cookie)],
            None,
            Duration::from_secs(10),
        )?;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        ensure!(
            answer.status == 200 && answer.body.contains(expect),
            "{url}: {} without {expect:?}",
            answer.status
        );
        if i > 0 {
            samples.push(took);
        }
    }
    samples.sort_by(f64::total_cmp);
    let p95 = samples[(samples.len() * 95 / 100).min(samples.len() - 1)];
    Ok((samples[samples.len() / 2], p95))
}

/// Seeds, starts a gateway with the console on, logs in, and times the pages.
pub(crate) fn run_with(bins: &Bins) -> anyhow::Result<ConsoleTimes> {
    let dir = Scratch::new("bench-console")?;
    let db = dir.path().join("state/state/openclaw-sms.sqlite");
    std::fs::create_dir_all(db.parent().context("no parent")?)?;
    let seeding = Instant::now();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(seed(&db))?;
    eprintln!(
        "bench: seeded {CONVERSATIONS} conversations in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let port = free_port()?;
    let sim = Sim::start(
        bins,
        &[
            "--number".to_owned(),
            format!("{NUMBER}=http://127.0.0.1:{port}/webhooks/sms"),
        ],
    )?;
    let mut config = sms_config(port, &sim, json!({}));
    merge(
        &mut config,
        json!({"gateway": {"auth": {"token": TOKEN}, "console": {"enabled": true}}}),
    );
    let _gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    let base = format!("http://127.0.0.1:{port}/console");
    let login = crate::http::request(
        "POST",
        &format!("{base}/login"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(format!("token={TOKEN}").as_bytes()),
        Duration::from_secs(10),
    )?;
    let cookie = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .context("the console set no cookie")?
        .to_owned();
    let last = CONVERSATIONS.div_ceil(PAGE_SIZE) - 1;
    Ok(ConsoleTimes {
        first_page: timed(
            &format!("{base}/conversations"),
            &cookie,
            &phone(CONVERSATIONS - 1),
        )?,
        last_page: timed(
            &format!("{base}/conversations?page={last}"),
            &cookie,
            &phone(0),
        )?,
        thread: timed(
            &format!("{base}/thread?sender=%2B15550009242"),
            &cookie,
            "part 1/1 · 1 segment(s), GSM-7 · <span class=\"status\">delivered</span>",
        )?,
    })
}

/// `cargo xtask bench-console [--debug]`: release (or debug) binaries, then [`run_with`].
pub(crate) fn run(release: bool) -> anyhow::Result<()> {
    let bins = Bins::build(release)?;
    run_with(&bins)?.print();
    Ok(())
}
