//! The pump keeps the leases of a shared store (PostgreSQL) alive during a long agent turn,
//! and gives its claims back when the shutdown grace runs out. The store here is SQLite in
//! memory behind a wrapper that says it has leases and records the pump's lease calls; tokio's
//! clock is paused, so the agent's turn lasts minutes of virtual time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use openclaw_sms::metrics::Metrics;
use openclaw_sms::pipeline::LEASE_RENEWALS_PER_LEASE;
use openclaw_sms::{Agent, AgentError, AgentReply, AgentTurn, ChannelOptions, Clock, SmsChannel};
use openclaw_store::{Claimed, IngressQueue as _};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::hooked::{HookedStore, StoreHooks};
use crate::support::*;

/// The lease the wrapper announces.
const LEASE_MS: i64 = 30_000;
const PUBLIC: &str = "https://gateway.example.com/webhooks/sms";
const PATH: &str = "/webhooks/sms";

/// A lease call the pump made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeaseCall {
    Renew(tokio::time::Instant),
    Release,
}

/// Hooks that announce a lease and record the pump's renewals and releases, over SQLite in
/// memory.
#[derive(Default)]
struct LeaseHooks {
    calls: Mutex<Vec<LeaseCall>>,
    /// Set by the first claim that finds something: later claims find nothing.
    frozen: AtomicBool,
}

impl LeaseHooks {
    fn renewals(&self) -> Vec<tokio::time::Instant> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter_map(|c| match c {
                LeaseCall::Renew(at) => Some(*at),
                LeaseCall::Release => None,
            })
            .collect()
    }

    fn releases(&self) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == LeaseCall::Release)
            .count()
    }
}

impl StoreHooks for LeaseHooks {
    fn before_claim(&self) -> Option<Vec<Claimed>> {
        // Nothing more to claim; answered without SQLite's writer thread, during which paused
        // time would jump ahead of the pump.
        self.frozen.load(Ordering::Relaxed).then(Vec::new)
    }
    fn after_claim(&self, claimed: &[Claimed]) {
        if !claimed.is_empty() {
            self.frozen.store(true, Ordering::Relaxed);
        }
    }
    fn claim_lease_ms(&self) -> Option<i64> {
        Some(LEASE_MS)
    }
    fn renew_claims(&self, _now: i64) -> u64 {
        self.calls
            .lock()
            .unwrap()
            .push(LeaseCall::Renew(tokio::time::Instant::now()));
        1
    }
    fn release_claims(&self, _now: i64) -> u64 {
        self.calls.lock().unwrap().push(LeaseCall::Release);
        1
    }
}

/// An agent whose turn never ends (the pump must keep the lease meanwhile).
#[derive(Default)]
struct StuckAgent {
    turns: Mutex<usize>,
}

#[async_trait]
impl Agent for StuckAgent {
    fn name(&self) -> &str {
        "stuck"
    }

    async fn reply(&self, _turn: &AgentTurn) -> Result<AgentReply, AgentError> {
        *self.turns.lock().unwrap() += 1;
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn the_pump_renews_leases_during_a_long_turn_and_releases_them_when_the_grace_runs_out() {
    let store = HookedStore::new(memory_store(), LeaseHooks::default());
    let agent = Arc::new(StuckAgent::default());
    let config = sms_config("http://127.0.0.1:9", PUBLIC, &serde_json::json!({}));
    let channel = Arc::new(SmsChannel::new(
        vec![account(&config, Default::default())],
        store.clone(),
        agent.clone(),
        Arc::new(Metrics::new()),
        Clock::system(),
        ChannelOptions {
            poll_interval: Duration::from_millis(20),
            ..ChannelOptions::default()
        },
    ));
    let router = openclaw_sms::webhook::router(&channel);
    let request = signed_post(
        PUBLIC,
        PATH,
        &inbound_form(&message_sid(1), ALICE, "hi"),
        [203, 0, 113, 7],
    );
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);

    let stop = CancellationToken::new();
    let grace = Duration::from_secs(25);
    let pump = tokio::spawn(Arc::clone(&channel).run_pump(stop.clone(), grace));
    // Wait for the turn without letting the paused clock move: a runtime that always has a
    // task ready never auto-advances, so time stands still while SQLite's writer thread works
    // (an idle paused runtime would jump to the next timer, and under CPU load the wait ran
    // out in virtual time). Bounded in real time.
    let deadline = std::time::Instant::now() + WAIT;
    while *agent.turns.lock().unwrap() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for the agent turn to start"
        );
        tokio::task::yield_now().await;
    }
    let turn_started = tokio::time::Instant::now();
    assert!(
        store.hooks.renewals().is_empty(),
        "no renewal before a third of the lease"
    );

    // Three leases into the turn: renewed every third of the lease, never a gap longer.
    let every = Duration::from_millis(LEASE_MS.unsigned_abs()) / LEASE_RENEWALS_PER_LEASE;
    tokio::time::sleep(Duration::from_millis(3 * LEASE_MS.unsigned_abs())).await;
    let renewals = store.hooks.renewals();
    assert!(
        renewals.len() >= 8,
        "{} renewals in three leases",
        renewals.len()
    );
    let mut previous = turn_started;
    for at in &renewals {
        assert!(
            *at - previous <= every,
            "a renewal came {:?} after the previous one",
            *at - previous
        );
        previous = *at;
    }
    assert_eq!(store.hooks.releases(), 0);
    assert_eq!(
        store.inner.queue_depth(ACCOUNT).await.unwrap(),
        1,
        "still claimed"
    );

    // Shutdown: the turn does not finish; leases are kept during the grace, then given back.
    let before_stop = renewals.len();
    stop.cancel();
    pump.await.unwrap();
    let renewals = store.hooks.renewals();
    assert!(
        renewals.len() > before_stop,
        "renewed during the {grace:?} grace"
    );
    assert_eq!(store.hooks.releases(), 1);
    assert_eq!(*agent.turns.lock().unwrap(), 1);
}
