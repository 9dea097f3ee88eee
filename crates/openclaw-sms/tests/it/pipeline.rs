//! The pipeline against the local Twilio simulator: phones text the webhook, the pump runs
//! the messages, replies go back through the simulator's Messages API.

use std::sync::Mutex;
use std::time::Duration;

use openclaw_access_policy::PairingLimits;
use openclaw_sms::pipeline::{pairing_key, pairing_ttl_ms};
use openclaw_sms::texts::pairing_reply;
use openclaw_store::{
    ClaimScope, CreateRequestOutcome, DeliveryStore as _, IngressId, IngressQueue as _, NewIngress,
    NewPairingRequest, OptOutStore as _, OutboundStore as _, PairingStore as _, PendingCap,
    TurnLedger as _,
};
use openclaw_twilio_sim::{HELP_REPLY, SimHandle};
use serde_json::json;

use crate::hooked::{HookedStore, StoreHooks};
use crate::support::*;

const REPLY_WAIT: Duration = Duration::from_secs(10);

/// Messages our account created through the API (not the simulator's own keyword replies).
fn api_creates(sim: &SimHandle) -> u64 {
    sim.fault_counts().create_requests
}

fn now_ms() -> i64 {
    openclaw_sms::Clock::system().now_ms()
}

#[tokio::test]
async fn an_allowed_text_is_answered_and_its_delivery_is_tracked() {
    let (sim, gw) = start(json!({})).await;
    let phone = sim.phone(ALICE).unwrap();
    let answer = phone.text(OUR, "ping").await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("x-openclaw-delivery-accepted"),
        Some("durable")
    );
    let reply = phone.next_reply(REPLY_WAIT).await.unwrap();
    assert_eq!(reply.body, "pong: ping");
    assert_eq!(reply.from, OUR);
    let turns = gw.agent.turns();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].sender, ALICE);
    assert_eq!(turns[0].message_id, answer.message_sid);
    assert_eq!(turns[0].channel, "sms");
    // The simulator posts status callbacks to the StatusCallback URL the send carried.
    let store = gw.store.clone();
    let sid = reply.sid.clone();
    eventually("the delivered callback", || {
        let store = store.clone();
        let sid = sid.clone();
        async move {
            store
                .delivery(ACCOUNT, &sid)
                .await
                .unwrap()
                .is_some_and(|d| d.status == "delivered")
        }
    })
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn pairing_texts_the_code_and_lists_the_request() {
    let (sim, gw) = start(json!({"dmPolicy": "pairing", "allowFrom": []})).await;
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "hello").await.unwrap();
    let reply = phone.next_reply(REPLY_WAIT).await.unwrap();
    let requests = gw
        .store
        .list_requests(&pairing_key(ACCOUNT), now_ms(), i64::MAX / 4)
        .await
        .unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].sender_id, ALICE);
    assert!(
        requests[0].held_event_id.is_some(),
        "the first message is held"
    );
    assert_eq!(reply.body, pairing_reply(ALICE, &requests[0].code));
    assert!(gw.agent.turns().is_empty());
    // A second text while pending gets nothing more.
    phone.text(OUR, "hello?").await.unwrap();
    gw.drained().await;
    assert_eq!(phone.replies().len(), 1);
    assert_eq!(api_creates(&sim), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_pairing_code_whose_text_failed_is_texted_again_on_the_next_message() {
    let (sim, gw) = start(json!({"dmPolicy": "pairing", "allowFrom": []})).await;
    // Every send fails: the first pairing text does not go through.
    sim.set_faults(openclaw_twilio_sim::Faults {
        server_error_share: 1.0,
        ..openclaw_twilio_sim::Faults::default()
    })
    .unwrap();
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "hello").await.unwrap();
    // Every attempt refused, then the send given up (no intent left pending or ambiguous).
    eventually("the pairing text to fail for good", || {
        let store = gw.store.clone();
        let errors = sim.fault_counts().server_errors;
        async move {
            errors >= u64::from(openclaw_sms::outbound::MAX_SEND_ATTEMPTS)
                && store
                    .unfinished_intents(ACCOUNT)
                    .await
                    .is_ok_and(|i| i.is_empty())
        }
    })
    .await;
    assert!(phone.replies().is_empty());
    sim.set_faults(openclaw_twilio_sim::Faults::default())
        .unwrap();
    // The next text, within the hour, gets the same code; the one after that nothing more.
    phone.text(OUR, "hello?").await.unwrap();
    let reply = phone.next_reply(REPLY_WAIT).await.unwrap();
    let requests = gw
        .store
        .list_requests(&pairing_key(ACCOUNT), now_ms(), i64::MAX / 4)
        .await
        .unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(reply.body, pairing_reply(ALICE, &requests[0].code));
    phone.text(OUR, "anyone?").await.unwrap();
    gw.drained().await;
    assert_eq!(phone.replies().len(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn the_held_first_message_is_answered_after_approval() {
    let (sim, gw) = start(json!({"dmPolicy": "pairing", "allowFrom": []})).await;
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "what is 2+2").await.unwrap();
    phone.next_reply(REPLY_WAIT).await.unwrap(); // the pairing text
    let key = pairing_key(ACCOUNT);
    let code = gw
        .store
        .list_requests(&key, now_ms(), i64::MAX / 4)
        .await
        .unwrap()[0]
        .code
        .clone();
    let approved = gw
        .store
        .approve(&key, &code, now_ms(), pairing_ttl_ms(&Default::default()))
        .await
        .unwrap();
    assert!(approved.is_some());
    gw.channel.wake();
    let reply = phone.next_reply(REPLY_WAIT).await.unwrap();
    assert_eq!(reply.body, "pong: what is 2+2");
    // And later texts are answered as usual.
    phone.text(OUR, "thanks").await.unwrap();
    assert_eq!(
        phone.next_reply(REPLY_WAIT).await.unwrap().body,
        "pong: thanks"
    );
    let texts: Vec<String> = gw.agent.turns().into_iter().map(|t| t.text).collect();
    assert_eq!(texts, ["what is 2+2", "thanks"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn without_hold_the_first_message_is_not_answered_after_approval() {
    let (sim, gw) = start(json!({
        "dmPolicy": "pairing", "allowFrom": [], "holdUntilApproved": false
    }))
    .await;
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "first").await.unwrap();
    phone.next_reply(REPLY_WAIT).await.unwrap();
    let key = pairing_key(ACCOUNT);
    let requests = gw
        .store
        .list_requests(&key, now_ms(), i64::MAX / 4)
        .await
        .unwrap();
    assert_eq!(requests[0].held_event_id, None);
    gw.store
        .approve(&key, &requests[0].code, now_ms(), i64::MAX / 4)
        .await
        .unwrap()
        .unwrap();
    gw.channel.wake();
    phone.text(OUR, "second").await.unwrap();
    assert_eq!(
        phone.next_reply(REPLY_WAIT).await.unwrap().body,
        "pong: second"
    );
    let texts: Vec<String> = gw.agent.turns().into_iter().map(|t| t.text).collect();
    assert_eq!(texts, ["second"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn allowlist_and_disabled_drop_silently() {
    for policy in [
        json!({"dmPolicy": "allowlist", "allowFrom": [BOB]}),
        json!({"dmPolicy": "disabled"}),
    ] {
        let (sim, gw) = start(policy.clone()).await;
        let phone = sim.phone(ALICE).unwrap();
        let answer = phone.text(OUR, "let me in").await.unwrap();
        assert_eq!(answer.status, 200, "{policy}");
        gw.drained().await;
        assert!(phone.replies().is_empty(), "{policy}");
        assert_eq!(api_creates(&sim), 0, "{policy}");
        assert!(gw.agent.turns().is_empty(), "{policy}");
        assert!(
            gw.store
                .list_requests(&pairing_key(ACCOUNT), now_ms(), i64::MAX / 4)
                .await
                .unwrap()
                .is_empty()
        );
        gw.shutdown().await;
    }
}

#[tokio::test]
async fn opt_out_round_trip() {
    let (sim, gw) = start(json!({})).await;
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "stop").await.unwrap();
    gw.drained().await;
    let opt_out = gw.store.opt_out(ACCOUNT, ALICE).await.unwrap().unwrap();
    assert_eq!(opt_out.keyword, "STOP");
    assert!(
        gw.agent.turns().is_empty(),
        "keywords never reach the agent"
    );
    assert_eq!(api_creates(&sim), 0, "the channel sends nothing on STOP");

    // A send now fails locally: no Twilio call.
    let account = gw.channel.account(ACCOUNT).unwrap().clone();
    let report = gw
        .channel
        .outbound()
        .send_reply(&account, ALICE, "are you there?", "manual:1")
        .await;
    assert!(!report.is_complete());
    assert!(report.first_error().unwrap().contains("opted out"));
    assert_eq!(api_creates(&sim), 0);

    phone.text(OUR, "Start").await.unwrap();
    gw.drained().await;
    assert!(gw.store.opt_out(ACCOUNT, ALICE).await.unwrap().is_none());
    assert!(gw.agent.turns().is_empty());
    let report = gw
        .channel
        .outbound()
        .send_reply(&account, ALICE, "welcome back", "manual:2")
        .await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(api_creates(&sim), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn help_is_answered_with_help_text_only_when_set() {
    let (sim, gw) = start(json!({"helpText": "OpenClaw SMS: text anything to talk."})).await;
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "HELP").await.unwrap();
    eventually("the help reply", || {
        let found = phone
            .replies()
            .iter()
            .any(|r| r.body == "OpenClaw SMS: text anything to talk.");
        async move { found }
    })
    .await;
    assert_eq!(api_creates(&sim), 1);
    assert!(gw.agent.turns().is_empty());
    gw.shutdown().await;

    let (sim, gw) = start(json!({})).await;
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "info").await.unwrap();
    gw.drained().await;
    assert_eq!(api_creates(&sim), 0);
    // Only Twilio's own help answer reached the phone.
    let bodies: Vec<String> = phone.replies().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, [HELP_REPLY]);
    assert!(gw.agent.turns().is_empty());
    gw.shutdown().await;
}

#[tokio::test]
async fn identity_mismatches_are_dead_lettered_with_the_reason() {
    let (sim, gw) = start(json!({})).await;
    let phone = sim.phone(ALICE).unwrap();
    let foreign = phone.text(OTHER_ACCOUNT_NUMBER, "hi").await.unwrap();
    assert_eq!(foreign.status, 200);
    let wrong_to = phone.text(NOT_OURS, "hi").await.unwrap();
    assert_eq!(wrong_to.status, 200);
    gw.drained().await;
    let dead = gw.store.list_dead_letters(ACCOUNT).await.unwrap();
    let reasons: Vec<(String, String)> = dead.into_iter().map(|d| (d.event_id, d.reason)).collect();
    assert_eq!(
        reasons,
        [
            (
                foreign.message_sid,
                "invalid-payload: SMS ingress payload has an invalid Twilio account.".to_owned()
            ),
            (
                wrong_to.message_sid,
                "invalid-payload: SMS ingress payload has an invalid Twilio recipient.".to_owned()
            ),
        ]
    );
    assert!(gw.agent.turns().is_empty());
    assert!(phone.replies().is_empty());
    gw.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_is_acknowledged_and_answered_once() {
    let (sim, gw) = start(json!({})).await;
    let phone = sim.phone(ALICE).unwrap();
    let sid = message_sid(0xabc);
    let first = phone.text_with_sid(&sid, OUR, "once").await.unwrap();
    assert_eq!(
        phone.next_reply(REPLY_WAIT).await.unwrap().body,
        "pong: once"
    );
    let again = phone.text_with_sid(&sid, OUR, "once").await.unwrap();
    for answer in [&first, &again] {
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.header("x-openclaw-delivery-accepted"),
            Some("durable")
        );
        assert_eq!(answer.body, "<Response></Response>");
    }
    gw.drained().await;
    assert_eq!(phone.replies().len(), 1);
    assert_eq!(
        gw.store.agent_turns(ACCOUNT).await.unwrap(),
        [(sid.clone(), 1)]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn queued_messages_run_exactly_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let (listener, url) = webhook_listener().await;
    let sim = simulator(&url).await;
    let config = sms_config(sim.base_url(), &url, &json!({}));
    let stopped = Gateway::start(
        listener,
        &config,
        file_store(&db).await,
        GatewayOptions {
            pump: false,
            ..GatewayOptions::default()
        },
    );
    let alice = sim.phone(ALICE).unwrap();
    let bob = sim.phone(BOB).unwrap();
    let mut sids = Vec::new();
    for (phone, body) in [(&alice, "a1"), (&bob, "b1"), (&alice, "a2")] {
        let answer = phone.text(OUR, body).await.unwrap();
        assert_eq!(
            answer.header("x-openclaw-delivery-accepted"),
            Some("durable")
        );
        sids.push(answer.message_sid);
    }
    assert_eq!(stopped.store.queue_depth(ACCOUNT).await.unwrap(), 3);
    stopped.shutdown().await;

    // The next start: a new listener, the simulator re-pointed, the same database file.
    let (listener, url) = webhook_listener().await;
    sim.set_number_webhook(
        OUR,
        Some(url.clone()),
        openclaw_twilio_sim::WebhookMethod::Post,
    )
    .unwrap();
    let config = sms_config(sim.base_url(), &url, &json!({}));
    let gw = Gateway::start(
        listener,
        &config,
        file_store(&db).await,
        GatewayOptions::default(),
    );
    gw.drained().await;
    eventually("three replies", || {
        let n = alice.replies().len() + bob.replies().len();
        async move { n == 3 }
    })
    .await;
    let bodies = |p: &openclaw_twilio_sim::Phone| -> Vec<String> {
        p.replies().into_iter().map(|r| r.body).collect()
    };
    assert_eq!(
        bodies(&alice),
        ["pong: a1", "pong: a2"],
        "in order per sender"
    );
    assert_eq!(bodies(&bob), ["pong: b1"]);
    let mut expected: Vec<(String, u32)> = sids.into_iter().map(|s| (s, 1)).collect();
    expected.sort();
    assert_eq!(gw.store.agent_turns(ACCOUNT).await.unwrap(), expected);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_message_claimed_by_a_pump_that_died_runs_once_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let (listener, url) = webhook_listener().await;
    let sim = simulator(&url).await;
    let config = sms_config(sim.base_url(), &url, &json!({}));
    let first = Gateway::start(
        listener,
        &config,
        file_store(&db).await,
        GatewayOptions {
            pump: false,
            ..GatewayOptions::default()
        },
    );
    let alice = sim.phone(ALICE).unwrap();
    let answer = alice.text(OUR, "mid-way").await.unwrap();
    // A pump claims it and dies before finishing.
    let claimed = first
        .store
        .claim_next(ClaimScope::All, now_ms(), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    first.shutdown().await;

    let (listener, url) = webhook_listener().await;
    let config = sms_config(sim.base_url(), &url, &json!({}));
    let gw = Gateway::start(
        listener,
        &config,
        file_store(&db).await,
        GatewayOptions::default(),
    );
    assert_eq!(
        alice.next_reply(REPLY_WAIT).await.unwrap().body,
        "pong: mid-way"
    );
    gw.drained().await;
    assert_eq!(
        gw.store.agent_turns(ACCOUNT).await.unwrap(),
        [(answer.message_sid, 1)]
    );
    assert_eq!(api_creates(&sim), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn messages_of_an_account_this_gateway_does_not_run_stay_queued() {
    let (sim, gw) = start(json!({})).await;
    // A message of another account (disabled here, or run by another gateway) is in the store.
    let other = NewIngress {
        account: "elsewhere".into(),
        event_id: message_sid(900),
        lane: "elsewhere/sender:+15550001111".into(),
        payload: b"MessageSid=x".to_vec(),
        received_at: now_ms(),
    };
    gw.store.enqueue(other).await.unwrap();
    // Our own account's traffic runs as usual meanwhile.
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "ping").await.unwrap();
    assert_eq!(
        phone.next_reply(REPLY_WAIT).await.unwrap().body,
        "pong: ping"
    );
    gw.drained().await;
    // The foreign message was neither run nor dead-lettered: it waits for its account.
    assert_eq!(gw.store.queue_depth("elsewhere").await.unwrap(), 1);
    assert!(
        gw.store
            .list_dead_letters("elsewhere")
            .await
            .unwrap()
            .is_empty()
    );
    gw.shutdown().await;
}

/// Hooks whose `create_request` always answers `CapReached` (as another gateway filling the
/// account's cap between the policy's read and the insert would make it), recording the
/// requests given and the messages completed.
#[derive(Default)]
struct CapFull {
    creates: Mutex<Vec<NewPairingRequest>>,
    completed: Mutex<Vec<IngressId>>,
}

impl StoreHooks for CapFull {
    fn completed(&self, id: IngressId) {
        self.completed.lock().unwrap().push(id);
    }
    fn create_request(&self, request: &NewPairingRequest) -> Option<CreateRequestOutcome> {
        self.creates.lock().unwrap().push(request.clone());
        Some(CreateRequestOutcome::CapReached)
    }
}

#[tokio::test]
async fn a_cap_reached_in_the_store_drops_the_sender_silently() {
    let (listener, url) = webhook_listener().await;
    let sim = simulator(&url).await;
    let config = sms_config(
        sim.base_url(),
        &url,
        &json!({"dmPolicy": "pairing", "allowFrom": []}),
    );
    let inner = memory_store();
    let full = HookedStore::new(inner.clone(), CapFull::default());
    let gw = Gateway::start_over(
        listener,
        &config,
        inner,
        full.clone(),
        GatewayOptions::default(),
    );
    let phone = sim.phone(ALICE).unwrap();
    assert_eq!(phone.text(OUR, "hello").await.unwrap().status, 200);
    // Drained: a transient failure would leave the message pending for its retry.
    gw.drained().await;
    assert!(gw.agent.turns().is_empty());
    gw.shutdown().await;
    // One attempt, carrying the policy's cap; no redraw of the code.
    let creates = full.hooks.creates.lock().unwrap().clone();
    assert_eq!(creates.len(), 1, "{creates:?}");
    let limits = PairingLimits::default();
    assert_eq!(
        creates[0].pending_cap,
        Some(PendingCap {
            max: limits.max_pending,
            ttl_ms: pairing_ttl_ms(&limits),
        })
    );
    // Completed (not held, not dead-lettered), nothing stored, nothing texted.
    assert_eq!(full.hooks.completed.lock().unwrap().len(), 1);
    assert!(
        full.inner
            .list_dead_letters(ACCOUNT)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        full.inner
            .request_for(&pairing_key(ACCOUNT), ALICE)
            .await
            .unwrap(),
        None
    );
    assert!(phone.replies().is_empty());
    assert_eq!(api_creates(&sim), 0);
}

/// `HH:MM` (UTC) of a unix-millisecond time.
fn utc_hhmm(ms: i64) -> String {
    let minutes = ms.rem_euclid(86_400_000) / 60_000;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[tokio::test]
async fn a_direct_reply_is_not_held_by_quiet_hours() {
    let now = now_ms();
    let quiet = json!({"start": utc_hhmm(now - 3_600_000), "end": utc_hhmm(now + 3_600_000), "timeZone": "UTC"});
    let (sim, gw) = start(json!({ "quietHours": quiet })).await;
    // The window covers now: a message the agent or automation started would be held.
    let settings = &gw.channel.accounts()[0].settings;
    let alice = openclaw_sms_target::E164::parse(ALICE).unwrap();
    assert!(
        settings
            .quiet_hours
            .as_ref()
            .unwrap()
            .hold_until(&alice, now)
            .is_some()
    );
    // A reply to a text is not: the texter is waiting for it.
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "ping").await.unwrap();
    let reply = phone.next_reply(REPLY_WAIT).await.unwrap();
    assert_eq!(reply.body, "pong: ping");
}
