//! Pairing that tells the owner: the owner's notice, APPROVE/DENY by text (from an owner number
//! only), the per-day cap on pairing texts, deny and revoke, and the configurable limits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use openclaw_sms::metrics::names;
use openclaw_sms::pipeline::{pairing_key, pairing_ttl_ms};
use openclaw_sms::texts::{
    APPROVED_NOTICE, owner_approved, owner_denied, owner_no_such_code, owner_notice, pairing_reply,
};
use openclaw_store::{HistoryStore as _, IngressId, PairingStore as _, StoreError};
use openclaw_twilio_sim::{Phone, SimHandle};
use serde_json::{Value, json};

use crate::hooked::{HookedStore, StoreHooks};
use crate::support::*;

const REPLY_WAIT: Duration = Duration::from_secs(10);
/// The owner's phone.
const OWNER: &str = "+15557650000";

fn now_ms() -> i64 {
    openclaw_sms::Clock::system().now_ms()
}

fn pairing_config(pairing: Value) -> Value {
    json!({"dmPolicy": "pairing", "allowFrom": [], "pairing": pairing})
}

/// The code of `sender`'s live request.
async fn code_of(gw: &Gateway, sender: &str) -> String {
    gw.store
        .request_for(&pairing_key(ACCOUNT), sender)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{sender} has no pairing request"))
        .code
}

fn bodies(phone: &Phone) -> Vec<String> {
    phone.replies().into_iter().map(|r| r.body).collect()
}

/// Messages our account created through the API.
fn api_creates(sim: &SimHandle) -> u64 {
    sim.fault_counts().create_requests
}

#[tokio::test]
async fn the_owner_is_told_and_approves_by_text_and_the_sender_is_confirmed() {
    let (sim, gw) = start(pairing_config(json!({"notifyOwner": OWNER}))).await;
    let alice = sim.phone(ALICE).unwrap();
    let owner = sim.phone(OWNER).unwrap();
    alice.text(OUR, "what is 2+2").await.unwrap();
    let code_text = alice.next_reply(REPLY_WAIT).await.unwrap();
    let code = code_of(&gw, ALICE).await;
    assert_eq!(code_text.body, pairing_reply(ALICE, &code));
    let notice = owner.next_reply(REPLY_WAIT).await.unwrap();
    assert_eq!(notice.body, owner_notice(ALICE, &code));
    assert_eq!(
        notice.body,
        format!(
            "{ALICE} asks to talk to your agent; reply APPROVE {code} or run openclaw pairing approve sms {code}"
        )
    );
    // Any case, any whitespace.
    owner
        .text(OUR, &format!("  approve \t{}\n", code.to_lowercase()))
        .await
        .unwrap();
    assert_eq!(
        owner.next_reply(REPLY_WAIT).await.unwrap().body,
        owner_approved(ALICE)
    );
    assert_eq!(
        alice.next_reply(REPLY_WAIT).await.unwrap().body,
        APPROVED_NOTICE
    );
    // The held first message is answered; the owner's command never reached the agent.
    assert_eq!(
        alice.next_reply(REPLY_WAIT).await.unwrap().body,
        "pong: what is 2+2"
    );
    let turns: Vec<String> = gw.agent.turns().into_iter().map(|t| t.text).collect();
    assert_eq!(turns, ["what is 2+2"]);
    assert_eq!(
        gw.channel.metrics().counter(
            names::OWNER_COMMANDS,
            &[
                ("account", ACCOUNT),
                ("command", "approve"),
                ("outcome", "done")
            ]
        ),
        1
    );
    assert_eq!(
        gw.channel.metrics().counter(
            names::OWNER_NOTIFICATIONS,
            &[("account", ACCOUNT), ("outcome", "sent")]
        ),
        1
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn confirm_sender_false_approves_without_texting_the_sender() {
    let (sim, gw) = start(pairing_config(
        json!({"notifyOwner": [OWNER], "confirmSender": false}),
    ))
    .await;
    let alice = sim.phone(ALICE).unwrap();
    let owner = sim.phone(OWNER).unwrap();
    alice.text(OUR, "hi").await.unwrap();
    alice.next_reply(REPLY_WAIT).await.unwrap();
    owner.next_reply(REPLY_WAIT).await.unwrap();
    let code = code_of(&gw, ALICE).await;
    owner.text(OUR, &format!("APPROVE {code}")).await.unwrap();
    assert_eq!(
        owner.next_reply(REPLY_WAIT).await.unwrap().body,
        owner_approved(ALICE)
    );
    // Only the answer to the held message, no approval notice.
    assert_eq!(alice.next_reply(REPLY_WAIT).await.unwrap().body, "pong: hi");
    gw.drained().await;
    assert_eq!(bodies(&alice).len(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn deny_by_text_removes_the_request_and_a_wrong_code_gets_a_short_answer() {
    let (sim, gw) = start(pairing_config(json!({"notifyOwner": OWNER}))).await;
    let alice = sim.phone(ALICE).unwrap();
    let owner = sim.phone(OWNER).unwrap();
    alice.text(OUR, "hello").await.unwrap();
    alice.next_reply(REPLY_WAIT).await.unwrap();
    owner.next_reply(REPLY_WAIT).await.unwrap();
    let code = code_of(&gw, ALICE).await;
    // A well-formed code no request has, and something that is no code at all.
    owner.text(OUR, "DENY ZZZZ2222").await.unwrap();
    assert_eq!(
        owner.next_reply(REPLY_WAIT).await.unwrap().body,
        owner_no_such_code("ZZZZ2222")
    );
    owner.text(OUR, "approve 0000").await.unwrap();
    assert_eq!(
        owner.next_reply(REPLY_WAIT).await.unwrap().body,
        "OpenClaw: that is not a pairing code (8 letters and digits)."
    );
    assert!(
        gw.store
            .request_for(&pairing_key(ACCOUNT), ALICE)
            .await
            .unwrap()
            .is_some(),
        "a wrong code changes nothing"
    );
    owner.text(OUR, &format!("deny {code}")).await.unwrap();
    assert_eq!(
        owner.next_reply(REPLY_WAIT).await.unwrap().body,
        owner_denied(ALICE)
    );
    assert_eq!(
        gw.store
            .request_for(&pairing_key(ACCOUNT), ALICE)
            .await
            .unwrap(),
        None
    );
    assert!(
        gw.store
            .allow_entries(&pairing_key(ACCOUNT))
            .await
            .unwrap()
            .is_empty()
    );
    gw.drained().await;
    // Alice hears nothing more; the held message and the owner's texts reached no agent.
    assert_eq!(bodies(&alice).len(), 1);
    assert!(gw.agent.turns().is_empty());
    gw.shutdown().await;
}

#[tokio::test]
async fn approve_from_a_non_owner_number_is_an_ordinary_message() {
    let (sim, gw) = start(pairing_config(json!({"notifyOwner": OWNER}))).await;
    let alice = sim.phone(ALICE).unwrap();
    let bob = sim.phone(BOB).unwrap();
    alice.text(OUR, "hello").await.unwrap();
    alice.next_reply(REPLY_WAIT).await.unwrap();
    let code = code_of(&gw, ALICE).await;
    // Bob is no owner: his APPROVE is the text of an unknown sender, who gets a code.
    bob.text(OUR, &format!("APPROVE {code}")).await.unwrap();
    let reply = bob.next_reply(REPLY_WAIT).await.unwrap();
    assert_eq!(reply.body, pairing_reply(BOB, &code_of(&gw, BOB).await));
    assert!(
        gw.store
            .request_for(&pairing_key(ACCOUNT), ALICE)
            .await
            .unwrap()
            .is_some(),
        "Alice is still pending"
    );
    assert!(
        gw.store
            .allow_entries(&pairing_key(ACCOUNT))
            .await
            .unwrap()
            .is_empty()
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_owner_is_allowed_nothing_else_by_being_an_owner() {
    let (sim, gw) = start(pairing_config(json!({"notifyOwner": OWNER}))).await;
    let owner = sim.phone(OWNER).unwrap();
    owner.text(OUR, "hello agent").await.unwrap();
    let reply = owner.next_reply(REPLY_WAIT).await.unwrap();
    // Under `pairing` an owner number that is not allowed is challenged like anyone.
    assert_eq!(reply.body, pairing_reply(OWNER, &code_of(&gw, OWNER).await));
    assert!(gw.agent.turns().is_empty());
    gw.shutdown().await;
}

/// Fails the first `hold`, as a crash between storing the request and holding the message
/// would leave it: the message runs again.
#[derive(Default)]
struct FailFirstHold(AtomicBool);

impl StoreHooks for FailFirstHold {
    fn hold(&self, _id: IngressId) -> Option<StoreError> {
        (!self.0.swap(true, Ordering::SeqCst)).then(|| StoreError::InvalidInput {
            what: "test",
            reason: "the first hold fails".to_owned(),
        })
    }
}

#[tokio::test]
async fn the_owner_is_notified_once_when_the_message_runs_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let (listener, url) = webhook_listener().await;
    let sim = simulator(&url).await;
    let config = sms_config(
        sim.base_url(),
        &url,
        &pairing_config(json!({"notifyOwner": OWNER})),
    );
    let store = file_store(&db).await;
    let hooked = HookedStore::new(store.clone(), FailFirstHold::default());
    let first = Gateway::start_over(
        listener,
        &config,
        store,
        hooked.clone(),
        GatewayOptions::default(),
    );
    let alice = sim.phone(ALICE).unwrap();
    let owner = sim.phone(OWNER).unwrap();
    alice.text(OUR, "hello").await.unwrap();
    // The request was stored, then holding the message failed before anything was texted:
    // the message waits for a retry, and the gateway stops before it.
    eventually("the failed hold", || {
        let failed = hooked.hooks.0.load(Ordering::SeqCst);
        async move { failed }
    })
    .await;
    first.shutdown().await;
    assert!(owner.replies().is_empty() && alice.replies().is_empty());

    let (listener, url) = webhook_listener().await;
    sim.set_number_webhook(
        OUR,
        Some(url.clone()),
        openclaw_twilio_sim::WebhookMethod::Post,
    )
    .unwrap();
    let config = sms_config(
        sim.base_url(),
        &url,
        &pairing_config(json!({"notifyOwner": OWNER})),
    );
    let second = Gateway::start(
        listener,
        &config,
        file_store(&db).await,
        GatewayOptions::default(),
    );
    second.drained().await;
    assert_eq!(
        owner.next_reply(REPLY_WAIT).await.unwrap().body,
        owner_notice(ALICE, &code_of(&second, ALICE).await)
    );
    // And once more while pending: still nothing new.
    alice.text(OUR, "hello?").await.unwrap();
    second.drained().await;
    assert_eq!(bodies(&owner).len(), 1, "{:?}", bodies(&owner));
    assert_eq!(bodies(&alice).len(), 1, "{:?}", bodies(&alice));
    assert_eq!(api_creates(&sim), 2);
    second.shutdown().await;
}

#[tokio::test]
async fn the_fourth_pairing_text_in_a_day_gets_no_code() {
    let (sim, gw) = start(pairing_config(json!({}))).await;
    let alice = sim.phone(ALICE).unwrap();
    let key = pairing_key(ACCOUNT);
    let ttl = pairing_ttl_ms(&Default::default());
    for round in 1..=3 {
        alice.text(OUR, &format!("hello {round}")).await.unwrap();
        let reply = alice.next_reply(REPLY_WAIT).await.unwrap();
        let code = code_of(&gw, ALICE).await;
        assert_eq!(reply.body, pairing_reply(ALICE, &code));
        // Denied: the next text is an unknown sender's again.
        gw.store
            .deny(&key, &code, now_ms(), ttl)
            .await
            .unwrap()
            .unwrap();
    }
    alice.text(OUR, "hello 4").await.unwrap();
    gw.drained().await;
    assert_eq!(bodies(&alice).len(), 3);
    assert_eq!(api_creates(&sim), 3);
    assert_eq!(gw.store.request_for(&key, ALICE).await.unwrap(), None);
    assert_eq!(
        gw.channel
            .metrics()
            .counter(names::PAIRING_TEXTS_CAPPED, &[("account", ACCOUNT)]),
        1
    );
    // Another sender has its own count.
    let bob = sim.phone(BOB).unwrap();
    bob.text(OUR, "hi").await.unwrap();
    assert!(bob.next_reply(REPLY_WAIT).await.is_some());
    gw.shutdown().await;
}

#[tokio::test]
async fn a_configured_cap_of_one_pairing_text() {
    let (sim, gw) = start(pairing_config(json!({"maxCodeTextsPerSenderPerDay": 1}))).await;
    let alice = sim.phone(ALICE).unwrap();
    let key = pairing_key(ACCOUNT);
    alice.text(OUR, "one").await.unwrap();
    alice.next_reply(REPLY_WAIT).await.unwrap();
    let code = code_of(&gw, ALICE).await;
    gw.store
        .deny(&key, &code, now_ms(), i64::MAX / 4)
        .await
        .unwrap();
    alice.text(OUR, "two").await.unwrap();
    gw.drained().await;
    assert_eq!(bodies(&alice).len(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn revoke_then_the_sender_is_challenged_again_and_history_stays_unless_forgotten() {
    let (sim, gw) = start(pairing_config(json!({}))).await;
    let key = pairing_key(ACCOUNT);
    gw.store
        .add_allow_entry(&key, ALICE, now_ms())
        .await
        .unwrap();
    let alice = sim.phone(ALICE).unwrap();
    alice.text(OUR, "ping").await.unwrap();
    assert_eq!(
        alice.next_reply(REPLY_WAIT).await.unwrap().body,
        "pong: ping"
    );
    assert!(gw.store.revoke(&key, ALICE, now_ms()).await.unwrap());
    alice.text(OUR, "ping again").await.unwrap();
    let reply = alice.next_reply(REPLY_WAIT).await.unwrap();
    assert_eq!(reply.body, pairing_reply(ALICE, &code_of(&gw, ALICE).await));
    assert_eq!(gw.agent.turns().len(), 1);
    // The conversation is still stored.
    let history = gw.store.recent_history(ACCOUNT, ALICE, 10).await.unwrap();
    assert_eq!(history.len(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn max_pending_from_config_drops_the_sender_beyond_it() {
    let (sim, gw) = start(pairing_config(
        json!({"maxPending": 1, "codeTtlMinutes": 5}),
    ))
    .await;
    let alice = sim.phone(ALICE).unwrap();
    let bob = sim.phone(BOB).unwrap();
    alice.text(OUR, "hi").await.unwrap();
    alice.next_reply(REPLY_WAIT).await.unwrap();
    bob.text(OUR, "hi").await.unwrap();
    gw.drained().await;
    assert!(bob.replies().is_empty());
    let key = pairing_key(ACCOUNT);
    assert_eq!(gw.store.request_for(&key, BOB).await.unwrap(), None);
    // The request lives five minutes: listed within them, gone after.
    let created = gw
        .store
        .request_for(&key, ALICE)
        .await
        .unwrap()
        .unwrap()
        .created_at;
    let ttl = 5 * 60_000;
    assert_eq!(
        gw.store
            .list_requests(&key, created + ttl - 1, ttl)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        gw.store
            .list_requests(&key, created + ttl, ttl)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        gw.channel.accounts()[0].settings.pairing.limits.ttl,
        Duration::from_secs(300)
    );
    gw.shutdown().await;
}
