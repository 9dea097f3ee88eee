//! The e2e scenario of issue 12: two gateways share one PostgreSQL state behind an nginx load
//! balancer; one is SIGKILLed mid-load; every acknowledged text is answered exactly once, in
//! order per sender.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use serde_json::json;

use crate::model::ModelServer;
use crate::procs::{Bins, Gateway, NUMBER, Scratch, Sim, free_port, merge, sms_config};
use crate::services::Nginx;

/// Phones texting at once, each sequentially. More phones (lanes) than one gateway runs at once
/// (`max_concurrent`, 32), so one gateway cannot hold every lane and the other always gets
/// claims too: with 8 lanes a busy machine let one gateway take them all, and the kill-while-
/// both-hold-claims point was never reached.
const PHONES: usize = 40;
/// Texts per phone.
const TEXTS_PER_PHONE: usize = 4;
/// Gateway B is killed once this many texts are acknowledged.
const KILL_AFTER_ACKED: usize = 50;
/// The claim lease: B's unfinished messages go to A after this (the default is 30 s).
const LEASE_MS: u64 = 2_000;
/// How long the model takes per answer, so that B has turns in flight when it dies.
const MODEL_DELAY_MS: u64 = 300;
/// How long the replies may take to arrive after the load.
const SETTLE: Duration = Duration::from_secs(60);

/// Acknowledged text bodies per phone, in the order sent.
type Acked = Arc<Mutex<BTreeMap<String, Vec<String>>>>;

pub(crate) fn two_gateways_one_postgres(bins: &Bins, pg_url: &str) -> anyhow::Result<()> {
    let model = ModelServer::start()?;
    *model.delay_ms.lock().map_err(|_| anyhow!("lock"))? = MODEL_DELAY_MS;
    let (port_a, port_b) = (free_port()?, free_port()?);
    let balancer = Nginx::start(&[port_a, port_b])?;
    let sim = Arc::new(Sim::start(
        bins,
        &[
            "--number".into(),
            format!("{NUMBER}=http://127.0.0.1:{}/webhooks/sms", balancer.port),
        ],
    )?);
    let schema = format!(
        "e2e_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
    );
    // Both gateways get the same config: the balancer's URL is the public webhook URL.
    let mut config = sms_config(
        balancer.port,
        &sim,
        json!({"dmPolicy": "open", "allowFrom": ["*"],
               "limits": {"perSenderPerMinute": 100_000, "perRoutePerMinute": 1_000_000}}),
    );
    merge(
        &mut config,
        json!({
            "models": {"providers": {"local": {"api": "openai-completions", "baseUrl": model.base_url()}}},
            "agents": {"defaults": {"model": {"primary": "local/tiny"}}},
            "state": {"backend": "postgres", "url": pg_url, "schema": schema, "leaseMs": LEASE_MS},
        }),
    );
    // Started together, on a fresh schema: the migrations must not race.
    let (dir_a, dir_b) = (Scratch::new("e2e-pg-a")?, Scratch::new("e2e-pg-b")?);
    let starts: Vec<_> = [
        (dir_a.path().to_path_buf(), port_a),
        (dir_b.path().to_path_buf(), port_b),
    ]
    .into_iter()
    .map(|(dir, port)| {
        let (bins, config) = (bins.clone(), config.clone());
        std::thread::spawn(move || Gateway::start(&bins, &dir, port, &config, &[]))
    })
    .collect();
    let mut gateways = Vec::new();
    for start in starts {
        gateways.push(
            start
                .join()
                .map_err(|_| anyhow!("a gateway start thread panicked"))??,
        );
    }
    let mut gateway_b = gateways.pop().context("gateway b")?;
    let gateway_a = gateways.pop().context("gateway a")?;

    let acked: Acked = Arc::default();
    let acked_count = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..PHONES)
        .map(|p| {
            let (sim, acked, acked_count, refused) = (
                Arc::clone(&sim),
                Arc::clone(&acked),
                Arc::clone(&acked_count),
                Arc::clone(&refused),
            );
            std::thread::spawn(move || -> anyhow::Result<()> {
                let phone = format!("+1555020{p:04}");
                for n in 0..TEXTS_PER_PHONE {
                    let body = format!("p{p} n{n:02}");
                    if sim.text(&phone, NUMBER, &body)? == 200 {
                        acked
                            .lock()
                            .map_err(|_| anyhow!("lock"))?
                            .entry(phone.clone())
                            .or_default()
                            .push(body);
                        acked_count.fetch_add(1, Ordering::SeqCst);
                    } else {
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_count.load(Ordering::SeqCst) < KILL_AFTER_ACKED {
        ensure!(
            Instant::now() < deadline,
            "only {} texts acknowledged in 60 s",
            acked_count.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let accepted_a = accepted(&gateway_a)?;
    let accepted_b = accepted(&gateway_b)?;
    ensure!(
        accepted_a > 0 && accepted_b > 0,
        "the balancer did not spread the texts: gateway a accepted {accepted_a}, b {accepted_b}"
    );
    // Kill b while it holds claims: wait until both gateways own claimed messages (an agent
    // turn takes MODEL_DELAY_MS, so b still holds its claim a moment later).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owners: u64 = crate::services::psql(
            pg_url,
            &format!("SELECT count(DISTINCT owner) FROM {schema}.ingress WHERE state = 'claimed'"),
        )?
        .parse()
        .context("count of claim owners")?;
        if owners >= 2 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the two gateways never held claims at the same time"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    gateway_b.kill();
    let killed_at = acked_count.load(Ordering::SeqCst);
    for thread in load {
        thread
            .join()
            .map_err(|_| anyhow!("a load thread panicked"))??;
    }
    let acked = acked.lock().map_err(|_| anyhow!("lock"))?.clone();
    let total: usize = acked.values().map(Vec::len).sum();
    println!(
        "e2e pg: gateway b killed after {killed_at} acknowledged texts (a had accepted {accepted_a}, b {accepted_b}); {total} acknowledged in all, {} refused",
        refused.load(Ordering::SeqCst)
    );

    // Every acknowledged text is answered once; gateway a takes over b's claims after the lease.
    let settle = Instant::now() + SETTLE;
    let replies = loop {
        let replies = replies_by_phone(&sim)?;
        let answered = acked
            .iter()
            .map(|(phone, bodies)| {
                let got = replies.get(phone).map_or(&[][..], Vec::as_slice);
                bodies
                    .iter()
                    .filter(|b| got.contains(&format!("Model: {b}")))
                    .count()
            })
            .sum::<usize>();
        if answered == total {
            break replies;
        }
        if Instant::now() > settle {
            bail!(
                "{answered} of {total} acknowledged texts answered {} s after the load; gateway a log:\n{}",
                SETTLE.as_secs(),
                gateway_a.tail_log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Late duplicates would come after the last expected answer: give them a moment.
    std::thread::sleep(Duration::from_millis(LEASE_MS + 1_000));
    let replies = {
        let again = replies_by_phone(&sim)?;
        ensure!(
            again.values().map(Vec::len).sum::<usize>() >= replies.values().map(Vec::len).sum(),
            "the simulator lost messages"
        );
        again
    };
    for (phone, bodies) in &acked {
        let got = replies.get(phone).cloned().unwrap_or_default();
        for body in bodies {
            let expected = format!("Model: {body}");
            let count = got.iter().filter(|r| **r == expected).count();
            ensure!(
                count == 1,
                "{phone}: {body:?} answered {count} times (replies {got:?})"
            );
        }
        // Any reply at all (acknowledged or not) at most once, and in the order sent.
        let mut seen = std::collections::BTreeSet::new();
        for reply in &got {
            ensure!(seen.insert(reply), "{phone}: {reply:?} sent twice");
        }
        let mut sorted = got.clone();
        sorted.sort();
        ensure!(
            got == sorted,
            "{phone}: replies out of order across gateways: {got:?}"
        );
    }
    // The messages gateway b held when it died were taken over after the lease (a second
    // attempt) and still answered once (checked above).
    let taken_over: u64 = crate::services::psql(
        pg_url,
        &format!("SELECT count(*) FROM {schema}.ingress WHERE attempts > 1"),
    )?
    .parse()
    .context("count of retried messages")?;
    println!(
        "e2e pg: {taken_over} message(s) of the killed gateway finished by the other one after the lease"
    );
    ensure!(
        taken_over > 0,
        "no message was taken over from the killed gateway: the lease path was not exercised"
    );
    let out = gateway_a.cli_ok(&["channels", "dead-letters", "list", "--json"])?;
    let value: serde_json::Value = serde_json::from_str(&out)?;
    ensure!(
        value["deadLetters"].as_array().is_none_or(Vec::is_empty),
        "dead letters after the run: {out}"
    );
    ensure!(
        gateway_a
            .metrics()?
            .contains("openclaw_sms_queue_depth{account=\"default\"} 0\n"),
        "the shared queue is not empty after the run"
    );
    Ok(())
}

/// Replies the simulator's Messages API created, per recipient, in creation order.
fn replies_by_phone(sim: &Sim) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut by_phone: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for message in sim.messages()? {
        let (Some(to), Some(body)) = (message["to"].as_str(), message["body"].as_str()) else {
            continue;
        };
        by_phone
            .entry(to.to_owned())
            .or_default()
            .push(body.to_owned());
    }
    Ok(by_phone)
}

/// Webhooks this gateway accepted durably, from its `/metrics`.
fn accepted(gateway: &Gateway) -> anyhow::Result<u64> {
    let metrics = gateway.metrics()?;
    Ok(metrics
        .lines()
        .filter(|l| {
            l.starts_with("openclaw_sms_webhooks_total{") && l.contains("outcome=\"accepted\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum())
}
