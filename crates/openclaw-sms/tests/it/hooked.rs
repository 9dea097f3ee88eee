//! One store wrapper for the tests that need to see or change a few store calls: every call
//! goes to a real SQLite store (`inner`), except where the [`StoreHooks`] of the test observe or
//! answer it. Written once here so that each test states only what it changes.

use std::sync::Arc;

use async_trait::async_trait;
use openclaw_store::{
    AllowEntry, ClaimScope, Claimed, CreateRequestOutcome, DeadLetter, DeliveryObservation,
    DeliveryRecord, DeliveryStore, Enqueued, HistoryEntry, HistoryStore, IngressId, IngressPruned,
    IngressQueue, IntentCreated, IntentId, NewIngress, NewIntent, NewPairingRequest, NewReply,
    OptOut, OptOutStore, OutboundIntent, OutboundStore, PairingKey, PairingRequest, PairingStore,
    PipelineSteps, SavedReply, SqliteStore, StoreError, TransientFailure, TurnLedger, UsageStore,
};
use openclaw_store::{NewScheduledSend, ScheduledOutcome, ScheduledSend, ScheduledStore};

/// What a test observes or changes; the defaults change nothing.
pub(crate) trait StoreHooks: Send + Sync + 'static {
    /// Asked before `claim_next`: `Some` is the answer and the store is not asked.
    fn before_claim(&self) -> Option<Vec<Claimed>> {
        None
    }
    /// Told what the store's `claim_next` returned.
    fn after_claim(&self, claimed: &[Claimed]) {
        let _ = claimed;
    }
    /// Told of every `complete`, before the store completes the message.
    fn completed(&self, id: IngressId) {
        let _ = id;
    }
    /// The lease the wrapper announces (`None`: no lease, like SQLite).
    fn claim_lease_ms(&self) -> Option<i64> {
        None
    }
    /// Answers `renew_claims` (the store is not asked: SQLite has no leases).
    fn renew_claims(&self, now: i64) -> u64 {
        let _ = now;
        0
    }
    /// Answers `release_claims` (the store is not asked).
    fn release_claims(&self, now: i64) -> u64 {
        let _ = now;
        0
    }
    /// Asked before `hold`: `Some` is the answer (an error) and the message is not held.
    fn hold(&self, id: IngressId) -> Option<StoreError> {
        let _ = id;
        None
    }
    /// Asked before `create_request`: `Some` is the answer and nothing is stored.
    fn create_request(&self, request: &NewPairingRequest) -> Option<CreateRequestOutcome> {
        let _ = request;
        None
    }
}

/// A real SQLite store behind the test's hooks.
pub(crate) struct HookedStore<H> {
    /// The store every call reaches unless a hook answers it.
    pub(crate) inner: Arc<SqliteStore>,
    /// The test's hooks (and whatever they recorded).
    pub(crate) hooks: H,
}

impl<H: StoreHooks> HookedStore<H> {
    pub(crate) fn new(inner: Arc<SqliteStore>, hooks: H) -> Arc<Self> {
        Arc::new(Self { inner, hooks })
    }
}

#[async_trait]
impl<H: StoreHooks> IngressQueue for HookedStore<H> {
    async fn enqueue(&self, item: NewIngress) -> Result<Enqueued, StoreError> {
        self.inner.enqueue(item).await
    }
    async fn claim_next(
        &self,
        scope: ClaimScope,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        if let Some(answer) = self.hooks.before_claim() {
            return Ok(answer);
        }
        let claimed = self.inner.claim_next(scope, now, limit).await?;
        self.hooks.after_claim(&claimed);
        Ok(claimed)
    }
    async fn complete(&self, id: IngressId, now: i64) -> Result<(), StoreError> {
        self.hooks.completed(id);
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
        if let Some(err) = self.hooks.hold(id) {
            return Err(err);
        }
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
        self.hooks.claim_lease_ms()
    }
    async fn renew_claims(&self, now: i64) -> Result<u64, StoreError> {
        Ok(self.hooks.renew_claims(now))
    }
    async fn release_claims(&self, now: i64) -> Result<u64, StoreError> {
        Ok(self.hooks.release_claims(now))
    }
}

#[async_trait]
impl<H: StoreHooks> PairingStore for HookedStore<H> {
    async fn create_request(
        &self,
        key: &PairingKey,
        request: NewPairingRequest,
    ) -> Result<CreateRequestOutcome, StoreError> {
        if let Some(answer) = self.hooks.create_request(&request) {
            return Ok(answer);
        }
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
    async fn deny(
        &self,
        key: &PairingKey,
        code: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Option<PairingRequest>, StoreError> {
        self.inner.deny(key, code, now, ttl_ms).await
    }
    async fn revoke(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner.revoke(key, sender_id, now).await
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
impl<H: StoreHooks> OptOutStore for HookedStore<H> {
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
impl<H: StoreHooks> HistoryStore for HookedStore<H> {
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
    async fn list_conversations(
        &self,
        account: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<openclaw_store::ConversationSummary>, StoreError> {
        self.inner.list_conversations(account, limit, offset).await
    }
    async fn clear_history(&self, account: &str, peer: &str) -> Result<u64, StoreError> {
        self.inner.clear_history(account, peer).await
    }
}

#[async_trait]
impl<H: StoreHooks> DeliveryStore for HookedStore<H> {
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
impl<H: StoreHooks> OutboundStore for HookedStore<H> {
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
    async fn count_replies_since(&self, prefix: &str, since: i64) -> Result<u64, StoreError> {
        self.inner.count_replies_since(prefix, since).await
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

/// The steps as their parts in sequence (the trait's defaults), so every hook above applies.
impl<H: StoreHooks> PipelineSteps for HookedStore<H> {}

#[async_trait]
impl<H: StoreHooks> UsageStore for HookedStore<H> {
    async fn mark_sent_counted(&self, part: openclaw_store::SentPart) -> Result<(), StoreError> {
        self.inner.mark_sent_counted(part).await
    }
    async fn day_usage(
        &self,
        account: &str,
        day: &str,
        peer: &str,
    ) -> Result<openclaw_store::DayUsage, StoreError> {
        self.inner.day_usage(account, day, peer).await
    }
    async fn usage(
        &self,
        account: Option<&str>,
        since_day: Option<&str>,
    ) -> Result<Vec<openclaw_store::UsageRow>, StoreError> {
        self.inner.usage(account, since_day).await
    }
    async fn record_budget_hit(&self, hit: openclaw_store::BudgetHit) -> Result<bool, StoreError> {
        self.inner.record_budget_hit(hit).await
    }
    async fn budget_hits(
        &self,
        account: &str,
        since_day: &str,
        limit: u32,
    ) -> Result<Vec<openclaw_store::BudgetHit>, StoreError> {
        self.inner.budget_hits(account, since_day, limit).await
    }
    async fn hold_rest(&self, rest: openclaw_store::HeldRest) -> Result<(), StoreError> {
        self.inner.hold_rest(rest).await
    }
    async fn held_rest(
        &self,
        account: &str,
        peer: &str,
    ) -> Result<Option<openclaw_store::HeldRest>, StoreError> {
        self.inner.held_rest(account, peer).await
    }
    async fn drop_rest(
        &self,
        account: &str,
        peer: &str,
        reply_id: &str,
    ) -> Result<bool, StoreError> {
        self.inner.drop_rest(account, peer, reply_id).await
    }
    async fn drop_rests_before(
        &self,
        account: &str,
        before: i64,
    ) -> Result<Vec<openclaw_store::HeldRest>, StoreError> {
        self.inner.drop_rests_before(account, before).await
    }
}

#[async_trait]
impl<H: StoreHooks> TurnLedger for HookedStore<H> {
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

#[async_trait]
impl<H: StoreHooks> openclaw_store::ConsoleStore for HookedStore<H> {
    async fn replies_to(
        &self,
        account: &str,
        recipient: &str,
        limit: usize,
    ) -> Result<Vec<openclaw_store::ThreadReply>, StoreError> {
        self.inner.replies_to(account, recipient, limit).await
    }
    async fn account_history(
        &self,
        account: &str,
        after: i64,
        since: i64,
        limit: usize,
    ) -> Result<Vec<openclaw_store::AccountTurn>, StoreError> {
        self.inner
            .account_history(account, after, since, limit)
            .await
    }
    async fn delivery_errors(
        &self,
        account: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<openclaw_store::ErrorCount>, StoreError> {
        self.inner.delivery_errors(account, since, limit).await
    }
}

#[async_trait]
impl<H: StoreHooks> ScheduledStore for HookedStore<H> {
    async fn schedule_send(&self, send: NewScheduledSend) -> Result<ScheduledSend, StoreError> {
        self.inner.schedule_send(send).await
    }
    async fn claim_due_sends(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ScheduledSend>, StoreError> {
        self.inner.claim_due_sends(now, lease_ms, limit).await
    }
    async fn finish_scheduled(
        &self,
        id: &str,
        outcome: ScheduledOutcome,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner.finish_scheduled(id, outcome, now).await
    }
    async fn cancel_scheduled(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<ScheduledSend>, StoreError> {
        self.inner.cancel_scheduled(id, now).await
    }
    async fn scheduled_send(&self, id: &str) -> Result<Option<ScheduledSend>, StoreError> {
        self.inner.scheduled_send(id).await
    }
    async fn pending_scheduled(
        &self,
        account: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ScheduledSend>, StoreError> {
        self.inner.pending_scheduled(account, limit).await
    }
    async fn next_scheduled_due(&self) -> Result<Option<i64>, StoreError> {
        self.inner.next_scheduled_due().await
    }
    async fn prune_scheduled(&self, now: i64) -> Result<u64, StoreError> {
        self.inner.prune_scheduled(now).await
    }
}
