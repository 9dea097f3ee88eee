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
use openclaw_sms::{Agent, AgentReply, AgentTurn, ChannelOptions, Clock, SmsChannel, SmsError};
use openclaw_store::{
    AllowEntry, ClaimScope, Claimed, CreateRequestOutcome, DeadLetter, DeliveryObservation,
    DeliveryRecord, DeliveryStore, Enqueued, HistoryEntry, HistoryStore, IngressId, IngressPruned,
    IngressQueue, IntentCreated, IntentId, NewIngress, NewIntent, NewPairingRequest, NewReply,
    OptOut, OptOutStore, OutboundIntent, OutboundStore, PairingKey, PairingRequest, PairingStore,
    SavedReply, SqliteStore, StoreError, TransientFailure, TurnLedger,
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

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

/// SQLite in memory that claims to lease its claims, recording renewals and releases.
struct LeasedStore {
    inner: SqliteStore,
    calls: Mutex<Vec<LeaseCall>>,
    /// Set by the first claim that finds something: later claims find nothing.
    frozen: AtomicBool,
}

impl LeasedStore {
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

    async fn reply(&self, _turn: &AgentTurn) -> Result<AgentReply, SmsError> {
        *self.turns.lock().unwrap() += 1;
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn the_pump_renews_leases_during_a_long_turn_and_releases_them_when_the_grace_runs_out() {
    let store = Arc::new(LeasedStore {
        inner: SqliteStore::open_in_memory().unwrap(),
        calls: Mutex::new(Vec::new()),
        frozen: AtomicBool::new(false),
    });
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
    eventually("the agent turn to start", || {
        let agent = agent.clone();
        async move { *agent.turns.lock().unwrap() == 1 }
    })
    .await;
    let turn_started = tokio::time::Instant::now();
    assert!(
        store.renewals().is_empty(),
        "no renewal before a third of the lease"
    );

    // Three leases into the turn: renewed every third of the lease, never a gap longer.
    let every = Duration::from_millis(LEASE_MS.unsigned_abs()) / LEASE_RENEWALS_PER_LEASE;
    tokio::time::sleep(Duration::from_millis(3 * LEASE_MS.unsigned_abs())).await;
    let renewals = store.renewals();
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
    assert_eq!(store.releases(), 0);
    assert_eq!(
        store.inner.queue_depth(ACCOUNT).await.unwrap(),
        1,
        "still claimed"
    );

    // Shutdown: the turn does not finish; leases are kept during the grace, then given back.
    let before_stop = renewals.len();
    stop.cancel();
    pump.await.unwrap();
    let renewals = store.renewals();
    assert!(
        renewals.len() > before_stop,
        "renewed during the {grace:?} grace"
    );
    assert_eq!(store.releases(), 1);
    assert_eq!(*agent.turns.lock().unwrap(), 1);
}

#[async_trait]
impl IngressQueue for LeasedStore {
    async fn enqueue(&self, item: NewIngress) -> Result<Enqueued, StoreError> {
        self.inner.enqueue(item).await
    }
    async fn claim_next(
        &self,
        scope: ClaimScope,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        if self.frozen.load(Ordering::Relaxed) {
            // Nothing more to claim; answered without SQLite's writer thread, during which
            // paused time would jump ahead of the pump.
            return Ok(Vec::new());
        }
        let claimed = self.inner.claim_next(scope, now, limit).await?;
        if !claimed.is_empty() {
            self.frozen.store(true, Ordering::Relaxed);
        }
        Ok(claimed)
    }
    async fn complete(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.inner.complete(id, now).await
    }
    async fn fail_transient(
        &self,
        id: IngressId,
        failure: TransientFailure,
    ) -> Result<(), StoreError> {
        self.inner.fail_transient(id, failure).await
    }
    async fn dead_letter(&self, id: IngressId, reason: &str, now: i64) -> Result<(), StoreError> {
        self.inner.dead_letter(id, reason, now).await
    }
    async fn hold(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.inner.hold(id, now).await
    }
    async fn release_held(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.inner.release_held(id, now).await
    }
    async fn discard_held(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.inner.discard_held(id, now).await
    }
    async fn list_dead_letters(&self, account: &str) -> Result<Vec<DeadLetter>, StoreError> {
        self.inner.list_dead_letters(account).await
    }
    async fn resubmit(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.inner.resubmit(id, now).await
    }
    async fn queue_depth(&self, account: &str) -> Result<u64, StoreError> {
        self.inner.queue_depth(account).await
    }
    async fn prune_ingress(&self, now: i64) -> Result<IngressPruned, StoreError> {
        self.inner.prune_ingress(now).await
    }
    fn claim_lease_ms(&self) -> Option<i64> {
        Some(LEASE_MS)
    }
    async fn renew_claims(&self, now: i64) -> Result<u64, StoreError> {
        self.calls
            .lock()
            .unwrap()
            .push(LeaseCall::Renew(tokio::time::Instant::now()));
        let _ = now;
        Ok(1)
    }
    async fn release_claims(&self, now: i64) -> Result<u64, StoreError> {
        self.calls.lock().unwrap().push(LeaseCall::Release);
        let _ = now;
        Ok(1)
    }
}

#[async_trait]
impl PairingStore for LeasedStore {
    async fn create_request(
        &self,
        key: &PairingKey,
        request: NewPairingRequest,
    ) -> Result<CreateRequestOutcome, StoreError> {
        self.inner.create_request(key, request).await
    }
    async fn touch_request(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner.touch_request(key, sender_id, now).await
    }
    async fn request_for(
        &self,
        key: &PairingKey,
        sender_id: &str,
    ) -> Result<Option<PairingRequest>, StoreError> {
        self.inner.request_for(key, sender_id).await
    }
    async fn list_requests(
        &self,
        key: &PairingKey,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        self.inner.list_requests(key, now, ttl_ms).await
    }
    async fn approve(
        &self,
        key: &PairingKey,
        code: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Option<PairingRequest>, StoreError> {
        self.inner.approve(key, code, now, ttl_ms).await
    }
    async fn delete_request(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner.delete_request(key, sender_id, now).await
    }
    async fn prune_requests(
        &self,
        key: &PairingKey,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        self.inner.prune_requests(key, now, ttl_ms).await
    }
    async fn allow_entries(&self, key: &PairingKey) -> Result<Vec<AllowEntry>, StoreError> {
        self.inner.allow_entries(key).await
    }
    async fn add_allow_entry(
        &self,
        key: &PairingKey,
        entry: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner.add_allow_entry(key, entry, now).await
    }
    async fn remove_allow_entry(&self, key: &PairingKey, entry: &str) -> Result<bool, StoreError> {
        self.inner.remove_allow_entry(key, entry).await
    }
}

#[async_trait]
impl OptOutStore for LeasedStore {
    async fn set_opt_out(&self, opt_out: OptOut) -> Result<(), StoreError> {
        self.inner.set_opt_out(opt_out).await
    }
    async fn clear_opt_out(&self, account: &str, number: &str) -> Result<bool, StoreError> {
        self.inner.clear_opt_out(account, number).await
    }
    async fn opt_out(&self, account: &str, number: &str) -> Result<Option<OptOut>, StoreError> {
        self.inner.opt_out(account, number).await
    }
    async fn is_opted_out(&self, account: &str, number: &str) -> Result<bool, StoreError> {
        self.inner.is_opted_out(account, number).await
    }
    async fn list_opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError> {
        self.inner.list_opt_outs(account).await
    }
}

#[async_trait]
impl HistoryStore for LeasedStore {
    async fn append_history(
        &self,
        account: &str,
        peer: &str,
        entry: HistoryEntry,
    ) -> Result<(), StoreError> {
        self.inner.append_history(account, peer, entry).await
    }
    async fn recent_history(
        &self,
        account: &str,
        peer: &str,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.recent_history(account, peer, limit).await
    }
    async fn clear_history(&self, account: &str, peer: &str) -> Result<u64, StoreError> {
        self.inner.clear_history(account, peer).await
    }
}

#[async_trait]
impl DeliveryStore for LeasedStore {
    async fn record_delivery(
        &self,
        observation: DeliveryObservation,
    ) -> Result<DeliveryRecord, StoreError> {
        self.inner.record_delivery(observation).await
    }
    async fn delivery(
        &self,
        account: &str,
        message_sid: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        self.inner.delivery(account, message_sid).await
    }
    async fn latest_delivery(&self, account: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        self.inner.latest_delivery(account).await
    }
    async fn prune_deliveries(&self, now: i64) -> Result<u64, StoreError> {
        self.inner.prune_deliveries(now).await
    }
}

#[async_trait]
impl OutboundStore for LeasedStore {
    async fn create_intent(&self, intent: NewIntent) -> Result<IntentCreated, StoreError> {
        self.inner.create_intent(intent).await
    }
    async fn mark_sent(&self, id: IntentId, message_sid: &str, now: i64) -> Result<(), StoreError> {
        self.inner.mark_sent(id, message_sid, now).await
    }
    async fn mark_failed(&self, id: IntentId, error: &str, now: i64) -> Result<(), StoreError> {
        self.inner.mark_failed(id, error, now).await
    }
    async fn mark_ambiguous(&self, id: IntentId, error: &str, now: i64) -> Result<(), StoreError> {
        self.inner.mark_ambiguous(id, error, now).await
    }
    async fn intents_for_reply(&self, reply_id: &str) -> Result<Vec<OutboundIntent>, StoreError> {
        self.inner.intents_for_reply(reply_id).await
    }
    async fn unfinished_intents(&self, account: &str) -> Result<Vec<OutboundIntent>, StoreError> {
        self.inner.unfinished_intents(account).await
    }
    async fn prune_intents(&self, now: i64) -> Result<u64, StoreError> {
        self.inner.prune_intents(now).await
    }
    async fn save_reply(&self, reply: NewReply) -> Result<SavedReply, StoreError> {
        self.inner.save_reply(reply).await
    }
    async fn reply(&self, reply_id: &str) -> Result<Option<SavedReply>, StoreError> {
        self.inner.reply(reply_id).await
    }
}

#[async_trait]
impl TurnLedger for LeasedStore {
    async fn record_agent_turn(
        &self,
        account: &str,
        event_id: &str,
        now: i64,
    ) -> Result<u32, StoreError> {
        self.inner.record_agent_turn(account, event_id, now).await
    }
    async fn agent_turns(&self, account: &str) -> Result<Vec<(String, u32)>, StoreError> {
        self.inner.agent_turns(account).await
    }
}
