//! `cargo xtask bench`, part (b): sustained end to end, as a stepped ramp.
//!
//! A fresh gateway (pump running, the echo agent, replies sent to the simulator) takes signed
//! webhooks at a set rate for [`STEP`], over [`RAMP_CONNECTIONS`] keep-alive connections, open
//! loop: request `i` of a step is due at `i / rate` after the step's start, each connection
//! takes every [`RAMP_CONNECTIONS`]th request and sleeps until it is due, so a slow answer
//! delays that connection's next requests but never lowers the offered rate. Accept latency is
//! counted from when a request was due (not when it was sent), so that a late connection shows
//! as latency rather than vanishing (coordinated omission).
//!
//! Replies: the simulator counts the messages the gateway creates (`/_sim/faults/counts`); a
//! step's texts are answered when that count reaches every text accepted so far. One text in
//! [`TRACE_EVERY`] comes from one of [`TRACERS`] tracer phones, each watched by a thread that
//! long-polls the simulator's `next-reply` for it; the reply's body names the text, and its
//! text-to-reply time is from when the text was due to when the simulator handed out the reply.
//!
//! A step passes when the accepted texts are the offered ones within [`ACCEPT_TOLERANCE`],
//! every accepted text is answered within [`GRACE`] of the step's end, and the queue is flat:
//! from a third of the step to its end it grew by at most [`GROWTH_LIMIT`] of the texts offered
//! meanwhile (or [`GROWTH_SLACK`], the jitter of the texts in flight), and at the end it holds
//! at most [`QUEUE_LIMIT`] worth of the rate (no backlog built early). The ramp stops at the
//! first step that fails; the highest passing rate is the sustained figure. Each step waits for
//! its texts to be answered before the next starts, so every step starts on an empty queue.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::bench::{
    Conn, SENDERS, WEBHOOK_PATH, WritesPerText, bench_config, build_request, errors_text, ms,
    next_reply, now_nanos, percentile_ms, percentile_us, queue_depth, sim_for, store_writes,
    verdict, wait_idle,
};
use crate::bench_ack::StateBackend;
use crate::procs::{AUTH_TOKEN, Bins, Gateway, Scratch, free_port};

/// Offered rates, texts per second, in order.
pub(crate) const RAMP_RATES: &[u32] = &[250, 500, 1_000, 1_500, 2_000, 2_500, 3_000];
/// Length of one step.
pub(crate) const STEP: Duration = Duration::from_secs(3);
/// Keep-alive connections that carry a step (more than the 16 of the closed-loop cases, so that
/// one slow answer delays few requests: at 3,000/s each connection sends every 10.7 ms).
pub(crate) const RAMP_CONNECTIONS: usize = 32;
/// Tracer phones whose replies are timed.
const TRACERS: usize = 16;
/// One text in this many comes from a tracer phone.
pub(crate) const TRACE_EVERY: usize = 16;
/// How long after a step's end its texts may take to be answered.
pub(crate) const GRACE: Duration = Duration::from_secs(5);
/// Accepted texts may fall this share short of the offered ones.
pub(crate) const ACCEPT_TOLERANCE: f64 = 0.02;
/// The queue at a step's end may hold this long's worth of the step's rate.
pub(crate) const QUEUE_LIMIT: Duration = Duration::from_secs(1);
/// From a third of a step to its end the queue may grow by this share of the texts offered in
/// that time: a queue that keeps growing is not sustained, whatever its size (a 1 s limit
/// alone lets a 3 s step pass while a third of its texts pile up), and a queue that holds the
/// texts in flight of a slow backend is flat, however long the replies take.
pub(crate) const GROWTH_LIMIT: f64 = 0.05;
/// Growth always allowed: the depth jitters by the messages the pump runs at once (32 by
/// default) and the acknowledgements committed in one group.
pub(crate) const GROWTH_SLACK: u64 = 64;
/// A connection stops sending this long after the step's end (what it has not sent by then is
/// counted as offered and not accepted).
const LATE_LIMIT: Duration = Duration::from_secs(1);
/// Time for the connections to open before the first request is due.
const START_DELAY: Duration = Duration::from_millis(200);
/// Long-poll timeout of the tracer threads (how often they look at the stop flag).
const TRACER_POLL: Duration = Duration::from_millis(500);
/// How often the simulator's count of created messages is read while waiting for answers.
const ANSWER_POLL: Duration = Duration::from_millis(20);
/// Longest extra wait for the tracer threads to hand in replies the count already shows.
const TRACER_SETTLE: Duration = Duration::from_secs(1);

/// Texts sent one at a time (each waits for its reply) before the ramp, for the writes one
/// text needs when no commit is shared with another's.
pub(crate) const SEQUENTIAL_TEXTS: usize = 50;
/// The phone those texts come from.
const SEQUENTIAL_PHONE: &str = "+15555000000";
/// Time for the last sequential text's delivery callbacks to land before the counts are read.
const CALLBACK_SETTLE: Duration = Duration::from_millis(300);

/// Aim of issue 18: answered texts per second, sustained.
pub(crate) const AIM_SUSTAINED: f64 = 2_000.0;

/// One step's figures.
#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) rate: u32,
    pub(crate) offered: u64,
    pub(crate) accepted: u64,
    pub(crate) errors: BTreeMap<u16, u64>,
    /// Due requests not sent by [`LATE_LIMIT`] after the step's end.
    pub(crate) unsent: u64,
    pub(crate) accept_p50_ms: f64,
    pub(crate) accept_p99_ms: f64,
    pub(crate) reply_p50_ms: f64,
    pub(crate) reply_p99_ms: f64,
    /// Tracer texts accepted, and replies timed.
    pub(crate) traced: u64,
    pub(crate) reply_samples: usize,
    pub(crate) queue_start: u64,
    /// At a third of the step.
    pub(crate) queue_mid: u64,
    pub(crate) queue_end: u64,
    /// After the step's end, when every text accepted so far had its reply; `None`: not
    /// within [`GRACE`].
    pub(crate) answered_after: Option<Duration>,
}

impl Step {
    pub(crate) fn accepted_per_second(&self) -> f64 {
        self.accepted as f64 / STEP.as_secs_f64()
    }

    /// Why the step fails; empty when it passes.
    pub(crate) fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if (self.accepted as f64) < self.offered as f64 * (1.0 - ACCEPT_TOLERANCE) {
            out.push(format!(
                "accepted {} of {} offered",
                self.accepted, self.offered
            ));
        }
        if self.answered_after.is_none() {
            out.push(format!(
                "not every text answered within {} s",
                GRACE.as_secs()
            ));
        }
        let offered_since_mid = f64::from(self.rate) * STEP.as_secs_f64() * 2.0 / 3.0;
        let growth_limit = (GROWTH_LIMIT * offered_since_mid).max(GROWTH_SLACK as f64);
        let growth = self.queue_end.saturating_sub(self.queue_mid);
        if growth as f64 > growth_limit {
            out.push(format!(
                "queue grew {growth} after a third of the step (> {growth_limit:.0})"
            ));
        }
        let limit = f64::from(self.rate) * QUEUE_LIMIT.as_secs_f64();
        if self.queue_end as f64 > limit {
            out.push(format!(
                "queue {} at the end (> {limit:.0})",
                self.queue_end
            ));
        }
        out
    }

    pub(crate) fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    fn json(&self) -> Value {
        json!({
            "offered_per_second": self.rate,
            "offered": self.offered,
            "accepted": self.accepted,
            "accepted_per_second": self.accepted_per_second(),
            "errors": crate::bench::errors_json(&self.errors),
            "unsent": self.unsent,
            "accept_p50_ms": self.accept_p50_ms,
            "accept_p99_ms": self.accept_p99_ms,
            "text_to_reply_p50_ms": self.reply_p50_ms,
            "text_to_reply_p99_ms": self.reply_p99_ms,
            "traced_texts": self.traced,
            "text_to_reply_samples": self.reply_samples,
            "queue_depth_start": self.queue_start,
            "queue_depth_third": self.queue_mid,
            "queue_depth_end": self.queue_end,
            "answered_within_s": self.answered_after.map(|d| d.as_secs_f64()),
            "passed": self.passed(),
            "failures": self.failures(),
        })
    }
}

/// The ramp on one backend.
#[derive(Debug)]
pub(crate) struct Ramp {
    /// What the store wrote per answered text for [`SEQUENTIAL_TEXTS`] texts sent one at a
    /// time (acknowledgements included): what one text needs, no commit shared.
    pub(crate) sequential: Option<WritesPerText>,
    pub(crate) steps: Vec<Step>,
    /// What the store wrote per answered text over the whole ramp (acknowledgements included),
    /// counted by the gateway; `None` when it does not count.
    pub(crate) writes: Option<WritesPerText>,
    /// Replies from tracer phones whose body did not name a text of the ramp.
    pub(crate) stray_replies: u64,
}

impl Ramp {
    /// The highest rate that passed (the ramp stops at the first failure).
    pub(crate) fn sustained(&self) -> Option<u32> {
        self.steps
            .iter()
            .take_while(|s| s.passed())
            .last()
            .map(|s| s.rate)
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "sustained_answered_per_second": self.sustained(),
            "aim_sustained_answered_per_second": AIM_SUSTAINED,
            "steps": self.steps.iter().map(Step::json).collect::<Vec<_>>(),
            "store_writes_per_answered_text": self.writes.map(|w| w.json()),
            "store_writes_per_answered_text_one_at_a_time": self.sequential.map(|w| w.json()),
            "texts_one_at_a_time": SEQUENTIAL_TEXTS,
            "stray_tracer_replies": self.stray_replies,
        })
    }

    pub(crate) fn print(&self, backend: &str) {
        println!(
            "{:<9} {:>7} {:>9} {:>7} {:>8} {:>8} {:>9} {:>9} {:>7} {:>13} {:>10}  verdict",
            backend,
            "offered",
            "accepted",
            "errors",
            "acc p50",
            "acc p99",
            "reply p50",
            "reply p99",
            "samples",
            "queue 0>1/3>end",
            "answered"
        );
        for s in &self.steps {
            let failures = s.failures();
            println!(
                "{:<9} {:>7} {:>9.0} {:>7} {:>8.2} {:>8.2} {:>9.1} {:>9.1} {:>7} {:>13} {:>10}  {}",
                "",
                s.rate,
                s.accepted_per_second(),
                errors_text(&s.errors),
                s.accept_p50_ms,
                s.accept_p99_ms,
                s.reply_p50_ms,
                s.reply_p99_ms,
                s.reply_samples,
                format!("{}>{}>{}", s.queue_start, s.queue_mid, s.queue_end),
                s.answered_after
                    .map_or_else(|| "no".to_owned(), |d| format!("+{:.2} s", d.as_secs_f64())),
                if failures.is_empty() {
                    "pass".to_owned()
                } else {
                    format!("FAIL: {}", failures.join("; "))
                }
            );
        }
        match self.sustained() {
            Some(rate) => println!(
                "{:<9} sustained answered texts/s: {rate}   aim >= {AIM_SUSTAINED:.0} {}",
                "",
                verdict(f64::from(rate) >= AIM_SUSTAINED)
            ),
            None => println!(
                "{:<9} sustained answered texts/s: none (the first step failed)   aim >= {AIM_SUSTAINED:.0} {}",
                "",
                verdict(false)
            ),
        }
        if self.stray_replies > 0 {
            println!(
                "{:<9} ({} tracer replies named no text of the ramp)",
                "", self.stray_replies
            );
        }
    }
}

/// Runs the ramp on a fresh gateway of `backend`.
pub(crate) fn measure(bins: &Bins, backend: &StateBackend) -> anyhow::Result<Ramp> {
    let dir = Scratch::new("bench-ramp")?;
    let port = free_port()?;
    let sim = sim_for(bins, port)?;
    let mut config = bench_config(port, &sim);
    if let Some(state) = backend.state_config() {
        crate::procs::merge(&mut config, json!({ "state": state }));
    }
    let gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    let target = Target {
        addr: format!("127.0.0.1:{port}").parse()?,
        public_url: format!("http://127.0.0.1:{port}{WEBHOOK_PATH}"),
        sim_base: sim.base.clone(),
        nonce: now_nanos(),
    };
    eprintln!(
        "bench: ramp, {}: {SEQUENTIAL_TEXTS} texts one at a time first",
        backend.name()
    );
    let sequential = one_at_a_time(&gw, &target)?;
    let tracers = Tracers::start(&sim.base);
    let writes_before = store_writes(&gw)?;
    let mut answers = Answers {
        base: sim_creates(&sim.base)?,
        accepted: 0,
    };
    let mut steps = Vec::new();
    for (n, &rate) in RAMP_RATES.iter().enumerate() {
        eprintln!(
            "bench: ramp, {}, {rate} texts/s for {} s",
            backend.name(),
            STEP.as_secs()
        );
        let step = run_step(&gw, &target, n, rate, &tracers, &mut answers)?;
        let passed = step.passed();
        steps.push(step);
        if !passed {
            break;
        }
    }
    // Whole answers only in the counts: let the last step's texts finish.
    if let Err(err) = wait_idle(&gw) {
        eprintln!("bench: ramp, {}: {err:#}", backend.name());
    }
    let writes = store_writes(&gw)?.per_text_since(&writes_before);
    let stray_replies = tracers.stop()?;
    drop(gw);
    drop(sim);
    Ok(Ramp {
        sequential,
        steps,
        writes,
        stray_replies,
    })
}

/// [`SEQUENTIAL_TEXTS`] texts, each posted when the previous one's reply has reached the
/// simulator; the store's counted writes per answered text over them, once the queue is empty
/// and the last delivery callbacks had [`CALLBACK_SETTLE`] to land. Included: each text's
/// acknowledgement, its pipeline, the simulator's status callbacks for its reply (queued, sent,
/// delivered: the sim sends them at once), and the gateway's idle background writes meanwhile
/// (a few per second, so about 0.1 per text here).
fn one_at_a_time(gw: &Gateway, target: &Target) -> anyhow::Result<Option<WritesPerText>> {
    let token = SecretString::from(AUTH_TOKEN.to_owned());
    let before = store_writes(gw)?;
    let mut conn = Conn::connect(target.addr)?;
    for i in 0..SEQUENTIAL_TEXTS {
        let sid = format!("SM{:016x}{:016x}", target.nonce, u64::MAX - i as u64);
        let body = format!("one {i}");
        let request = build_request(&target.public_url, &token, &sid, SEQUENTIAL_PHONE, &body)?;
        let (status, keep_alive) = conn.exchange(&request)?;
        ensure!(status == 200, "a text one at a time was answered {status}");
        if !keep_alive {
            conn = Conn::connect(target.addr)?;
        }
        let reply = next_reply(&target.sim_base, SEQUENTIAL_PHONE)?;
        ensure!(
            reply == format!("Echo: {body}"),
            "{SEQUENTIAL_PHONE} received {reply:?} for {body:?}"
        );
    }
    wait_idle(gw)?;
    std::thread::sleep(CALLBACK_SETTLE);
    Ok(store_writes(gw)?.per_text_since(&before))
}

/// Where a step's requests go.
struct Target {
    addr: SocketAddr,
    public_url: String,
    sim_base: String,
    /// Makes every MessageSid of this ramp new.
    nonce: u64,
}

/// Texts accepted so far, against the simulator's count of created messages.
struct Answers {
    /// The count before the ramp.
    base: u64,
    accepted: u64,
}

fn run_step(
    gw: &Gateway,
    target: &Target,
    step: usize,
    rate: u32,
    tracers: &Tracers,
    answers: &mut Answers,
) -> anyhow::Result<Step> {
    let count = (f64::from(rate) * STEP.as_secs_f64()) as usize;
    let pool: Arc<[Vec<u8>]> = step_requests(target, step, count)?.into();
    let queue_start = queue_depth(gw)?;
    let t0 = Instant::now() + START_DELAY;
    let give_up = t0 + STEP + LATE_LIMIT;
    let threads: Vec<_> = (0..RAMP_CONNECTIONS)
        .map(|first| {
            let pool = Arc::clone(&pool);
            let addr = target.addr;
            std::thread::spawn(move || paced(addr, &pool, first, f64::from(rate), t0, give_up))
        })
        .collect();
    std::thread::sleep((t0 + STEP / 3).saturating_duration_since(Instant::now()));
    let queue_mid = queue_depth(gw)?;
    let mut sent = Paced::default();
    for thread in threads {
        let part = thread
            .join()
            .map_err(|_| anyhow!("a ramp connection panicked"))??;
        sent.merge(part);
    }
    let queue_end = queue_depth(gw)?;
    let load_end = Instant::now();
    answers.accepted += sent.ok;
    let answered_after = wait_answered(&target.sim_base, answers, load_end)?;
    let replies = tracers.take_step(step, sent.traced, TRACER_SETTLE);
    let mut reply_ms: Vec<f64> = replies
        .iter()
        .map(|(i, at)| ms(at.saturating_duration_since(due(t0, *i, f64::from(rate)))))
        .collect();
    reply_ms.sort_by(f64::total_cmp);
    sent.latencies_us.sort_unstable();
    Ok(Step {
        rate,
        offered: count as u64,
        accepted: sent.ok,
        errors: sent.errors,
        unsent: sent.unsent,
        accept_p50_ms: percentile_us(&sent.latencies_us, 0.50) / 1000.0,
        accept_p99_ms: percentile_us(&sent.latencies_us, 0.99) / 1000.0,
        reply_p50_ms: percentile_ms(&reply_ms, 0.50),
        reply_p99_ms: percentile_ms(&reply_ms, 0.99),
        traced: sent.traced,
        reply_samples: reply_ms.len(),
        queue_start,
        queue_mid,
        queue_end,
        answered_after,
    })
}

/// When request `i` of a step that starts at `t0` is due.
fn due(t0: Instant, i: usize, rate: f64) -> Instant {
    t0 + Duration::from_secs_f64(i as f64 / rate)
}

fn is_tracer(i: usize) -> bool {
    i.is_multiple_of(TRACE_EVERY)
}

fn tracer_phone(k: usize) -> String {
    format!("+1555{:07}", 4_000_000 + k)
}

/// The body of a tracer text, which its echo repeats after `Echo: `.
fn tracer_body(step: usize, i: usize) -> String {
    format!("ramp {step} {i}")
}

/// `(step, i)` of a tracer's reply.
fn parse_tracer_reply(body: &str) -> Option<(usize, usize)> {
    let rest = body.strip_prefix("Echo: ramp ")?;
    let (step, i) = rest.split_once(' ')?;
    Some((step.parse().ok()?, i.parse().ok()?))
}

/// A step's `count` signed webhooks: every [`TRACE_EVERY`]th from a tracer phone (round
/// robin), the others from [`SENDERS`] senders.
fn step_requests(target: &Target, step: usize, count: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let token = SecretString::from(AUTH_TOKEN.to_owned());
    (0..count)
        .map(|i| {
            let sid = format!("SM{:016x}{:08x}{i:08x}", target.nonce, step);
            let (from, body) = if is_tracer(i) {
                (
                    tracer_phone(i / TRACE_EVERY % TRACERS),
                    tracer_body(step, i),
                )
            } else {
                (
                    format!("+1555{:07}", 1_000_000 + i % SENDERS),
                    format!("bench text {step} {i}"),
                )
            };
            build_request(&target.public_url, &token, &sid, &from, &body)
        })
        .collect()
}

/// One connection's share of a step.
#[derive(Debug, Default)]
struct Paced {
    ok: u64,
    errors: BTreeMap<u16, u64>,
    latencies_us: Vec<u32>,
    unsent: u64,
    /// Tracer texts accepted.
    traced: u64,
}

impl Paced {
    fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        for (status, n) in other.errors {
            *self.errors.entry(status).or_default() += n;
        }
        self.latencies_us.extend(other.latencies_us);
        self.unsent += other.unsent;
        self.traced += other.traced;
    }
}

/// Sends requests `first`, `first + RAMP_CONNECTIONS`, … of `pool`, each when it is due.
fn paced(
    addr: SocketAddr,
    pool: &[Vec<u8>],
    first: usize,
    rate: f64,
    t0: Instant,
    give_up: Instant,
) -> anyhow::Result<Paced> {
    let mut out = Paced::default();
    let mut conn = Conn::connect(addr)?;
    let mut i = first;
    while let Some(request) = pool.get(i) {
        let now = Instant::now();
        if now >= give_up {
            out.unsent = ((pool.len() - i).div_ceil(RAMP_CONNECTIONS)) as u64;
            break;
        }
        let due = due(t0, i, rate);
        if due > now {
            std::thread::sleep(due - now);
        }
        match conn.exchange(request) {
            Ok((status, keep_alive)) => {
                if status == 200 {
                    out.ok += 1;
                    out.traced += u64::from(is_tracer(i));
                    let took = due.elapsed();
                    out.latencies_us
                        .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                } else {
                    *out.errors.entry(status).or_default() += 1;
                }
                if !keep_alive {
                    conn = Conn::connect(addr)?;
                }
            }
            Err(_) => {
                *out.errors.entry(0).or_default() += 1;
                conn = Conn::connect(addr)?;
            }
        }
        i += RAMP_CONNECTIONS;
    }
    Ok(out)
}

/// Messages the simulator was asked to create (every reply part is one).
fn sim_creates(base: &str) -> anyhow::Result<u64> {
    let answer = crate::http::get(&format!("{base}/_sim/faults/counts"))?;
    answer.json()?["create_requests"].as_u64().ok_or_else(|| {
        anyhow!(
            "/_sim/faults/counts without create_requests: {}",
            answer.body
        )
    })
}

/// Waits up to [`GRACE`] after `since` until the simulator has a message for every text
/// accepted so far; returns how long after `since` that was.
fn wait_answered(
    base: &str,
    answers: &Answers,
    since: Instant,
) -> anyhow::Result<Option<Duration>> {
    let want = answers.base + answers.accepted;
    loop {
        if sim_creates(base)? >= want {
            return Ok(Some(since.elapsed()));
        }
        if since.elapsed() > GRACE {
            return Ok(None);
        }
        std::thread::sleep(ANSWER_POLL);
    }
}

/// Threads that long-poll the simulator for the tracer phones' replies.
struct Tracers {
    stop: Arc<AtomicBool>,
    /// `(step, i, when the reply was handed out)`.
    got: Arc<Mutex<Vec<(usize, usize, Instant)>>>,
    stray: Arc<std::sync::atomic::AtomicU64>,
    threads: Vec<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Tracers {
    fn start(sim_base: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Vec::new()));
        let stray = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let threads = (0..TRACERS)
            .map(|k| {
                let (stop, got, stray) = (Arc::clone(&stop), Arc::clone(&got), Arc::clone(&stray));
                let url = format!(
                    "{sim_base}/_sim/phones/{}/next-reply?timeout_ms={}",
                    tracer_phone(k).replace('+', "%2B"),
                    TRACER_POLL.as_millis()
                );
                std::thread::spawn(move || -> anyhow::Result<()> {
                    while !stop.load(Ordering::Relaxed) {
                        let answer = crate::http::request(
                            "GET",
                            &url,
                            &[],
                            None,
                            TRACER_POLL + Duration::from_secs(10),
                        )?;
                        let at = Instant::now();
                        match answer.status {
                            200 => {
                                let body = answer.json()?["body"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_owned();
                                match parse_tracer_reply(&body) {
                                    Some((step, i)) => got
                                        .lock()
                                        .map_err(|_| anyhow!("the tracer list is poisoned"))?
                                        .push((step, i, at)),
                                    None => {
                                        stray.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                            204 => {}
                            other => bail!("next-reply answered {other}: {}", answer.body),
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        Self {
            stop,
            got,
            stray,
            threads,
        }
    }

    /// The replies of `step` (`(i, when)`), once `expected` of them are in or `settle` has
    /// passed.
    fn take_step(&self, step: usize, expected: u64, settle: Duration) -> Vec<(usize, Instant)> {
        let deadline = Instant::now() + settle;
        loop {
            let mine: Vec<(usize, Instant)> = self
                .got
                .lock()
                .map(|g| {
                    g.iter()
                        .filter(|(s, _, _)| *s == step)
                        .map(|(_, i, at)| (*i, *at))
                        .collect()
                })
                .unwrap_or_default();
            if mine.len() as u64 >= expected || Instant::now() >= deadline {
                return mine;
            }
            std::thread::sleep(ANSWER_POLL);
        }
    }

    /// Stops the threads; returns the count of stray replies.
    fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread
                .join()
                .map_err(|_| anyhow!("a tracer thread panicked"))?
                .context("a tracer thread")?;
        }
        Ok(self.stray.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_reply(body: &str, expected: Option<(usize, usize)>) {
        assert_eq!(parse_tracer_reply(body), expected, "{body:?}");
    }

    #[test]
    fn tracer_replies_name_their_text() {
        check_reply(
            &format!("Echo: {}", tracer_body(3, 1_600)),
            Some((3, 1_600)),
        );
        check_reply("Echo: ramp 0 0", Some((0, 0)));
        check_reply("Echo: bench text 0 16", None);
        check_reply("ramp 1 2", None);
        check_reply("Echo: ramp 1", None);
        check_reply("Echo: ramp x 2", None);
    }

    fn step(rate: u32, accepted: u64, queue_end: u64, answered: bool) -> Step {
        grown(rate, accepted, queue_end, queue_end, answered)
    }

    fn grown(rate: u32, accepted: u64, queue_mid: u64, queue_end: u64, answered: bool) -> Step {
        Step {
            rate,
            offered: u64::from(rate) * STEP.as_secs(),
            accepted,
            errors: BTreeMap::new(),
            unsent: 0,
            accept_p50_ms: 1.0,
            accept_p99_ms: 2.0,
            reply_p50_ms: 3.0,
            reply_p99_ms: 4.0,
            traced: 1,
            reply_samples: 1,
            queue_start: 0,
            queue_mid,
            queue_end,
            answered_after: answered.then_some(Duration::from_millis(10)),
        }
    }

    #[test]
    fn a_step_passes_only_when_accepted_answered_and_flat() {
        // 1,000/s for 3 s: 3,000 offered; 2 % short is 2,940; 1 s of the rate is 1,000; 5 % of
        // the 2,000 offered after a third is 100.
        assert!(step(1_000, 3_000, 0, true).passed());
        assert!(step(1_000, 2_940, 1_000, true).passed());
        assert!(grown(1_000, 3_000, 400, 500, true).passed());
        assert_eq!(
            grown(1_000, 3_000, 400, 501, true).failures(),
            ["queue grew 101 after a third of the step (> 100)"]
        );
        // A slow rate: the slack of the texts in flight.
        assert!(grown(250, 750, 0, 64, true).passed());
        assert_eq!(
            grown(250, 750, 0, 65, true).failures(),
            ["queue grew 65 after a third of the step (> 64)"]
        );
        assert_eq!(
            step(1_000, 2_939, 0, true).failures(),
            ["accepted 2939 of 3000 offered"]
        );
        assert_eq!(
            step(1_000, 3_000, 1_001, true).failures(),
            ["queue 1001 at the end (> 1000)"]
        );
        assert_eq!(
            step(1_000, 3_000, 0, false).failures(),
            ["not every text answered within 5 s"]
        );
    }

    #[test]
    fn the_sustained_rate_is_the_last_step_before_the_first_failure() {
        let ramp = |steps| Ramp {
            sequential: None,
            steps,
            writes: None,
            stray_replies: 0,
        };
        assert_eq!(
            ramp(vec![
                step(250, 750, 0, true),
                step(500, 1_500, 0, true),
                step(1_000, 3_000, 0, false),
            ])
            .sustained(),
            Some(500)
        );
        assert_eq!(ramp(vec![step(250, 0, 0, true)]).sustained(), None);
    }

    #[test]
    fn requests_are_due_evenly_over_the_step() {
        let t0 = Instant::now();
        assert_eq!(due(t0, 0, 1_000.0), t0);
        assert_eq!(due(t0, 1_500, 1_000.0) - t0, Duration::from_millis(1_500));
    }
}
