//! Daily segment budgets (per sender, per account, in a time zone) and long replies by
//! consent (`longReplies: "ask"`, `MORE`), through the simulator.

use std::time::Duration;

use openclaw_sms::Clock;
use openclaw_sms::budget::{BUDGET_NOTICE, Over, Scope, owner_hit_notice, owner_warn_notice};
use openclaw_sms::config::BudgetSettings;
use openclaw_sms::metrics::names;
use openclaw_store::UsageStore as _;
use openclaw_twilio_sim::Phone;
use serde_json::{Value, json};

use crate::support::*;

const REPLY_WAIT: Duration = Duration::from_secs(10);
/// The owner's phone.
const OWNER: &str = "+15557650000";
/// 2026-12-05T04:59:00Z: 23:59 on 4 December in New York.
const NY_BEFORE_MIDNIGHT: i64 = 1_796_446_740_000;
/// A text whose `pong:` answer is three 60-unit parts.
const LONG: &str = "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey";

fn bodies(phone: &Phone) -> Vec<String> {
    phone.replies().into_iter().map(|r| r.body).collect()
}

/// Waits for `n` texts on `phone` in all, and returns them.
async fn texts(phone: &Phone, n: usize) -> Vec<String> {
    eventually(&format!("{n} texts to {}", phone.number()), || {
        let got = phone.replies().len();
        async move { got >= n }
    })
    .await;
    bodies(phone)
}

fn budget_config(budgets: Value) -> Value {
    json!({
        "textChunkLimit": 60,
        "budgets": budgets,
        "pairing": {"notifyOwner": OWNER},
    })
}

fn settings(sender: Option<u32>, account: Option<u32>) -> BudgetSettings {
    BudgetSettings {
        per_sender_per_day: sender,
        per_account_per_day: account,
        ..BudgetSettings::default()
    }
}

/// Texts of `phone` joined as one line (a long text arrives in parts split at spaces).
fn joined(texts: &[String]) -> String {
    texts.join(" ")
}

fn today(clock: &Clock) -> String {
    openclaw_sms::budget::budget_day(&BudgetSettings::default(), clock.now_ms())
}

#[tokio::test]
async fn a_reply_stops_at_the_last_part_that_fits_and_sender_and_owner_are_told_once() {
    let (sim, gw) = start(budget_config(json!({"segmentsPerSenderPerDay": 2}))).await;
    let alice = sim.phone(ALICE).unwrap();
    let owner = sim.phone(OWNER).unwrap();
    alice.text(OUR, LONG).await.unwrap();
    // Parts 1 and 2 (the second is the budget's last segment), then the notice instead of 3.
    let got = texts(&alice, 3).await;
    let full = format!("pong: {LONG}");
    assert!(full.starts_with(&joined(&got[..2])), "{got:?}");
    assert_ne!(joined(&got[..2]), full);
    assert_eq!(got[2], BUDGET_NOTICE);
    // The owner: warned at 80 % (the second segment), then told of the stop.
    let warn = owner_warn_notice(Scope::Sender, &settings(Some(2), None), ALICE);
    let hit = owner_hit_notice(
        &Over {
            scope: Scope::Sender,
            limit: 2,
            used: 2,
        },
        ALICE,
    );
    eventually("the owner's two notices", || {
        let all = joined(&bodies(&owner));
        let expected = format!("{warn} {hit}");
        async move { all == expected }
    })
    .await;
    let owner_texts = owner.replies().len();
    // The next reply does not fit at all: nothing to Alice, no second notice, owner not told again.
    alice.text(OUR, "again").await.unwrap();
    gw.drained().await;
    assert_eq!(gw.agent.turns().len(), 2);
    assert_eq!(bodies(&alice), got);
    assert_eq!(owner.replies().len(), owner_texts);
    // Both cut replies are recorded with their reason; the notice counts in the usage.
    let day = today(&Clock::system());
    let hits = gw.store.budget_hits(ACCOUNT, &day, 10).await.unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(
        hits.iter().all(|h| h.scope == "sender"
            && h.peer == ALICE
            && h.reason.contains("budgets.segmentsPerSenderPerDay")),
        "{hits:?}"
    );
    assert_eq!(
        gw.channel.metrics().counter(
            names::BUDGET_HITS,
            &[("account", ACCOUNT), ("scope", "sender")]
        ),
        2
    );
    assert_eq!(
        gw.channel.metrics().counter(
            names::BUDGET_WARNINGS,
            &[("account", ACCOUNT), ("scope", "sender")]
        ),
        1
    );
    let usage = gw.store.day_usage(ACCOUNT, &day, ALICE).await.unwrap();
    assert_eq!(usage.peer_segments, 3);
    gw.shutdown().await;
}

#[tokio::test]
async fn the_account_budget_counts_every_sender_and_each_sender_gets_one_notice() {
    let (sim, gw) = start(budget_config(json!({"segmentsPerAccountPerDay": 2}))).await;
    let alice = sim.phone(ALICE).unwrap();
    let bob = sim.phone(BOB).unwrap();
    let owner = sim.phone(OWNER).unwrap();
    alice.text(OUR, "a").await.unwrap();
    assert_eq!(texts(&alice, 1).await, ["pong: a"]);
    bob.text(OUR, "b").await.unwrap();
    assert_eq!(texts(&bob, 1).await, ["pong: b"]);
    alice.text(OUR, "c").await.unwrap();
    assert_eq!(texts(&alice, 2).await, ["pong: a", BUDGET_NOTICE]);
    bob.text(OUR, "d").await.unwrap();
    assert_eq!(texts(&bob, 2).await, ["pong: b", BUDGET_NOTICE]);
    gw.drained().await;
    let hit = owner_hit_notice(
        &Over {
            scope: Scope::Account,
            limit: 2,
            used: 2,
        },
        ALICE,
    );
    let warn = owner_warn_notice(Scope::Account, &settings(None, Some(2)), BOB);
    assert_eq!(joined(&bodies(&owner)), format!("{warn} {hit}"));
    gw.shutdown().await;
}

#[tokio::test]
async fn the_budget_day_turns_at_midnight_in_the_configured_zone() {
    let clock = Clock::manual(NY_BEFORE_MIDNIGHT);
    let (sim, gw) = start_with(
        budget_config(json!({"segmentsPerSenderPerDay": 1, "timeZone": "America/New_York"})),
        GatewayOptions {
            clock: clock.clone(),
            ..GatewayOptions::default()
        },
    )
    .await;
    let alice = sim.phone(ALICE).unwrap();
    alice.text(OUR, "a").await.unwrap();
    assert_eq!(texts(&alice, 1).await, ["pong: a"]);
    alice.text(OUR, "b").await.unwrap();
    assert_eq!(texts(&alice, 2).await, ["pong: a", BUDGET_NOTICE]);
    // The notice is counted when recorded as sent, right after the phone got it.
    gw.drained().await;
    // 05:00 UTC: midnight in New York (still 5 December in UTC, as before).
    clock.advance(60_000);
    alice.text(OUR, "c").await.unwrap();
    assert_eq!(
        texts(&alice, 3).await,
        ["pong: a", BUDGET_NOTICE, "pong: c"]
    );
    gw.drained().await;
    let rows: Vec<(String, u64)> = gw
        .store
        .usage(Some(ACCOUNT), None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.peer == ALICE)
        .map(|r| (r.day, r.segments))
        .collect();
    assert_eq!(
        rows,
        [("2026-12-04".to_owned(), 2), ("2026-12-05".to_owned(), 1)]
    );
    gw.shutdown().await;
}

/// 40 words: about 300 characters, more than two segments.
fn long_answer() -> String {
    (0..40)
        .map(|i| format!("word{i:02}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ask_config() -> Value {
    json!({"longReplies": "ask", "maxSegmentsPerReply": 1, "moreWindowMinutes": 60})
}

/// The page text without its MORE line, and whether it had one.
fn page_body(text: &str) -> (String, bool) {
    match text.rsplit_once('\n') {
        Some((body, line)) if line.starts_with("Reply MORE for the rest (") => {
            (body.to_owned(), true)
        }
        _ => (text.to_owned(), false),
    }
}

#[tokio::test]
async fn more_within_the_window_sends_each_page_and_never_reaches_the_agent() {
    let clock = Clock::manual(NY_BEFORE_MIDNIGHT);
    let (sim, gw) = start_with(
        ask_config(),
        GatewayOptions {
            clock: clock.clone(),
            ..GatewayOptions::default()
        },
    )
    .await;
    gw.agent.answer_with(&long_answer());
    let alice = sim.phone(ALICE).unwrap();
    alice.text(OUR, "tell me everything").await.unwrap();
    let first = alice.next_reply(REPLY_WAIT).await.unwrap().body;
    let (mut collected, mut more) = page_body(&first);
    assert!(more, "{first}");
    gw.drained().await;
    assert_eq!(openclaw_sms_text::analyze(&first).segments, 1);
    let mut pages = 1;
    while more {
        // Just inside the window each time.
        clock.advance(59 * 60_000);
        alice.text(OUR, " more ").await.unwrap();
        let next = alice.next_reply(REPLY_WAIT).await.unwrap().body;
        assert_eq!(openclaw_sms_text::analyze(&next).segments, 1, "{next}");
        let (body, again) = page_body(&next);
        gw.drained().await;
        collected = format!("{collected} {body}");
        more = again;
        pages += 1;
        assert!(pages < 10, "too many pages");
    }
    assert!(pages >= 2, "{pages}");
    assert_eq!(collected, long_answer());
    // Nothing is held any more; a further MORE sends nothing and reaches no agent.
    alice.text(OUR, "MORE").await.unwrap();
    gw.drained().await;
    assert_eq!(alice.replies().len(), pages);
    assert_eq!(gw.store.held_rest(ACCOUNT, ALICE).await.unwrap(), None);
    let turns: Vec<String> = gw.agent.turns().into_iter().map(|t| t.text).collect();
    assert_eq!(turns, ["tell me everything"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn more_after_the_window_sends_nothing_and_drops_the_rest_with_a_record() {
    let clock = Clock::manual(NY_BEFORE_MIDNIGHT);
    let (sim, gw) = start_with(
        ask_config(),
        GatewayOptions {
            clock: clock.clone(),
            ..GatewayOptions::default()
        },
    )
    .await;
    gw.agent.answer_with(&long_answer());
    let alice = sim.phone(ALICE).unwrap();
    alice.text(OUR, "tell me everything").await.unwrap();
    let first = alice.next_reply(REPLY_WAIT).await.unwrap().body;
    assert!(page_body(&first).1, "{first}");
    gw.drained().await;
    assert!(gw.store.held_rest(ACCOUNT, ALICE).await.unwrap().is_some());
    clock.advance(60 * 60_000 + 1);
    alice.text(OUR, "MORE").await.unwrap();
    gw.drained().await;
    assert_eq!(bodies(&alice), [first]);
    assert_eq!(gw.store.held_rest(ACCOUNT, ALICE).await.unwrap(), None);
    assert_eq!(
        gw.channel.metrics().counter(
            names::LONG_REPLY_RESTS,
            &[("account", ACCOUNT), ("outcome", "expired")]
        ),
        1
    );
    assert_eq!(gw.agent.turns().len(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_newer_answer_replaces_the_rest_of_an_older_one() {
    let (sim, gw) = start(ask_config()).await;
    gw.agent.answer_with(&long_answer());
    let alice = sim.phone(ALICE).unwrap();
    alice.text(OUR, "tell me everything").await.unwrap();
    let first = alice.next_reply(REPLY_WAIT).await.unwrap().body;
    assert!(page_body(&first).1, "{first}");
    gw.drained().await;
    gw.agent.answer_with("ok");
    alice.text(OUR, "never mind").await.unwrap();
    assert_eq!(alice.next_reply(REPLY_WAIT).await.unwrap().body, "ok");
    gw.drained().await;
    assert_eq!(gw.store.held_rest(ACCOUNT, ALICE).await.unwrap(), None);
    alice.text(OUR, "MORE").await.unwrap();
    gw.drained().await;
    assert_eq!(alice.replies().len(), 2);
    assert_eq!(gw.agent.turns().len(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn the_rest_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let (listener, url) = webhook_listener().await;
    let sim = simulator(&url).await;
    let first = Gateway::start(
        listener,
        &sms_config(sim.base_url(), &url, &ask_config()),
        file_store(&db).await,
        GatewayOptions::default(),
    );
    first.agent.answer_with(&long_answer());
    let alice = sim.phone(ALICE).unwrap();
    alice.text(OUR, "tell me everything").await.unwrap();
    let page0 = alice.next_reply(REPLY_WAIT).await.unwrap().body;
    first.drained().await;
    first.shutdown().await;

    let (listener, url) = webhook_listener().await;
    sim.set_number_webhook(
        OUR,
        Some(url.clone()),
        openclaw_twilio_sim::WebhookMethod::Post,
    )
    .unwrap();
    let second = Gateway::start(
        listener,
        &sms_config(sim.base_url(), &url, &ask_config()),
        file_store(&db).await,
        GatewayOptions::default(),
    );
    alice.text(OUR, "more").await.unwrap();
    let page1 = alice.next_reply(REPLY_WAIT).await.unwrap().body;
    let (body0, _) = page_body(&page0);
    let (body1, _) = page_body(&page1);
    assert!(
        long_answer().starts_with(&format!("{body0} {body1}")),
        "{page0:?} {page1:?}"
    );
    // The second gateway's agent was never asked.
    assert!(second.agent.turns().is_empty());
    second.shutdown().await;
}

#[tokio::test]
async fn a_config_error_names_the_budget_key() {
    let config = |extra: Value| {
        let input = openclaw_sms::config::SmsChannelInput::from_value(
            &sms_config(
                "http://127.0.0.1:1",
                "http://127.0.0.1:1/webhooks/sms",
                &extra,
            ),
            "channels.sms",
        );
        input
            .and_then(|i| {
                openclaw_sms::config::resolve_accounts(&i, &|_| None, "channels.sms").map(drop)
            })
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        config(json!({"budgets": {"timeZone": "Mars/Olympus"}})).unwrap_err(),
        "channels.sms.budgets.timeZone: \"Mars/Olympus\" is not an IANA time zone; use a name such as \"UTC\", \"America/New_York\" or \"Asia/Tokyo\""
    );
    assert_eq!(
        config(json!({"budgets": {"segmentsPerSenderPerDay": 0}})).unwrap_err(),
        "channels.sms.budgets.segmentsPerSenderPerDay: must be at least 1 (leave it out for no budget)"
    );
    assert_eq!(
        config(json!({"budgets": {"warnAtPercent": 101}})).unwrap_err(),
        "channels.sms.budgets.warnAtPercent: must be from 1 to 100"
    );
    assert!(
        config(json!({"budgets": {"segmentsPerDay": 5}}))
            .unwrap_err()
            .starts_with("channels.sms.budgets.segmentsPerDay: unknown key")
    );
    assert_eq!(
        config(
            json!({"budgets": {"pricePerSegment": {"+1": {"amount": 0.01, "currency": "USD"}}}})
        )
        .unwrap_err(),
        "channels.sms.budgets.pricePerSegment.+1: must be keyed by a country calling code without + (\"1\", \"44\") or \"*\" for every other"
    );
    assert_eq!(
        config(json!({"budgets": {"pricePerSegment": {"1": {"amount": -1, "currency": "USD"}}}}))
            .unwrap_err(),
        "channels.sms.budgets.pricePerSegment.1.amount: must be a number, 0 or more"
    );
    assert_eq!(
        config(json!({"longReplies": "later"})).unwrap_err(),
        "channels.sms.longReplies: \"later\" is not a choice; use \"send\" or \"ask\""
    );
    assert_eq!(
        config(json!({"longReplies": "ask"})).unwrap_err(),
        "channels.sms.longReplies: \"ask\" needs maxSegmentsPerReply (the size of each part sent before MORE)"
    );
    assert_eq!(
        config(json!({"longReplies": "ask", "maxSegmentsPerReply": 2, "moreWindowMinutes": 0}))
            .unwrap_err(),
        "channels.sms.moreWindowMinutes: must be from 1 to 10080 (one week)"
    );
    assert_eq!(
        config(
            json!({"budgets": {"timeZone": "Asia/Tokyo", "segmentsPerAccountPerDay": 100,
        "pricePerSegment": {"1": {"amount": 0.0079, "currency": "usd"}, "*": {"amount": 0.05, "currency": "USD"}}}})
        ),
        Ok(())
    );
}
