//! From the agent's answer to the text on the phone (issue 9, adapter side): formatting and
//! parts, history, failure classes against simulator faults, resuming a reply after a crash,
//! and inbound MMS.

use std::sync::Arc;
use std::time::Duration;

use openclaw_sms::outbound::{PartOutcome, reply_options};
use openclaw_sms::{AccountOptions, HistoryRole, HistoryTurn, MediaAttachment, Processed};
use openclaw_sms_text::prepare_reply;
use openclaw_store::{
    ClaimScope, IngressQueue as _, IntentState, NewIntent, NewReply, OptOutStore as _,
    OutboundStore as _, TurnLedger as _, body_hash,
};
use openclaw_twilio_sim::{Faults, SimHandle, WebhookMethod};
use serde_json::json;
use tower::ServiceExt as _;

use crate::support::*;

const REPLY_WAIT: Duration = Duration::from_secs(10);

const MARKDOWN: &str = "## Your options\n\n\
    1. **Take the train** at 9:05 from the central station, which gets you there by noon.\n\
    2. *Drive* along the coast road; allow three hours and check the ferry times first.\n\n\
    See [the timetable](https://example.com/timetable) for details, and `reply STOP` to stop.";

fn bodies(sim: &SimHandle, to: &str) -> Vec<String> {
    sim.phone(to)
        .unwrap()
        .replies()
        .into_iter()
        .map(|r| r.body)
        .collect()
}

#[tokio::test]
async fn a_markdown_reply_arrives_as_plain_text_parts_in_order() {
    let (sim, gw) = start(json!({"textChunkLimit": 160})).await;
    gw.agent.answer_with(MARKDOWN);
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "how do I get there?").await.unwrap();
    let account = gw.channel.account(ACCOUNT).unwrap().clone();
    let expected: Vec<String> = prepare_reply(MARKDOWN, &reply_options(&account))
        .parts
        .into_iter()
        .map(|p| p.text)
        .collect();
    eventually("every part", || {
        let n = phone.replies().len();
        let want = expected.len();
        async move { n >= want }
    })
    .await;
    let got = bodies(&sim, ALICE);
    assert_eq!(got, expected);
    assert_eq!(
        got,
        [
            "Your options\n\n1. Take the train at 9:05 from the central station, which gets you there by noon.",
            "2. Drive along the coast road; allow three hours and check the ferry times first.",
            "See the timetable (https://example.com/timetable) for details, and reply STOP to stop.",
        ]
    );
    for part in &got {
        assert!(part.chars().count() <= 160, "{part:?}");
        for marker in ["**", "##", "](", "`"] {
            assert!(!part.contains(marker), "{marker} left in {part:?}");
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn history_is_given_on_the_second_turn() {
    let (sim, gw) = start(json!({})).await;
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "my name is Ada").await.unwrap();
    phone.next_reply(REPLY_WAIT).await.unwrap();
    phone.text(OUR, "what is my name?").await.unwrap();
    phone.next_reply(REPLY_WAIT).await.unwrap();
    let turns = gw.agent.turns();
    assert_eq!(turns.len(), 2);
    assert!(turns[0].history.is_empty());
    assert_eq!(
        turns[1].history,
        [
            HistoryTurn {
                role: HistoryRole::User,
                text: "my name is Ada".to_owned()
            },
            HistoryTurn {
                role: HistoryRole::Assistant,
                text: "pong: my name is Ada".to_owned()
            },
        ]
    );
    // Another sender's conversation is separate.
    let bob = sim.phone(BOB).unwrap();
    bob.text(OUR, "hi").await.unwrap();
    bob.next_reply(REPLY_WAIT).await.unwrap();
    assert!(gw.agent.turns()[2].history.is_empty());
    gw.shutdown().await;
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_and_sends_once() {
    let (sim, gw) = start(json!({})).await;
    sim.set_faults(Faults {
        rate_limit_share: 1.0,
        retry_after: Duration::from_secs(1),
        ..Faults::default()
    })
    .unwrap();
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "ping").await.unwrap();
    eventually("a 429", || {
        let n = sim.fault_counts().rate_limited;
        async move { n >= 1 }
    })
    .await;
    sim.set_faults(Faults::default()).unwrap();
    assert_eq!(
        phone.next_reply(REPLY_WAIT).await.unwrap().body,
        "pong: ping"
    );
    gw.drained().await;
    let counts = sim.fault_counts();
    assert_eq!(counts.rate_limited, 1);
    assert_eq!(counts.create_requests, 2);
    assert_eq!(bodies(&sim, ALICE), ["pong: ping"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_timeout_after_twilio_recorded_the_message_is_reconciled_not_resent() {
    let (sim, gw) = start_with(
        json!({}),
        GatewayOptions {
            account: AccountOptions {
                request_timeout: Duration::from_millis(500),
                ..AccountOptions::default()
            },
            ..GatewayOptions::default()
        },
    )
    .await;
    sim.set_faults(Faults {
        timeout_share: 1.0,
        timeout_hold: Duration::from_secs(3),
        ..Faults::default()
    })
    .unwrap();
    let phone = sim.phone(ALICE).unwrap();
    let inbound = phone.text(OUR, "ping").await.unwrap();
    let reply = phone.next_reply(REPLY_WAIT).await.unwrap();
    assert_eq!(reply.body, "pong: ping");
    gw.drained().await;
    let counts = sim.fault_counts();
    assert_eq!(counts.timeouts, 1);
    assert_eq!(counts.create_requests, 1, "no resend");
    assert_eq!(bodies(&sim, ALICE), ["pong: ping"]);
    let intents = gw
        .store
        .intents_for_reply(&format!("reply:{ACCOUNT}:{}", inbound.message_sid))
        .await
        .unwrap();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].state, IntentState::Sent);
    assert_eq!(intents[0].message_sid.as_deref(), Some(reply.sid.as_str()));
    gw.shutdown().await;
}

#[tokio::test]
async fn twilio_21610_is_not_retried_and_records_the_opt_out() {
    let (sim, gw) = start(json!({})).await;
    // The phone texts STOP to Twilio while the channel does not hear it (no webhook).
    sim.set_number_webhook(OUR, None, WebhookMethod::Post)
        .unwrap();
    let phone = sim.phone(ALICE).unwrap();
    let _ = phone.text(OUR, "STOP").await;
    assert_eq!(sim.opt_outs().len(), 1);
    assert!(gw.store.opt_out(ACCOUNT, ALICE).await.unwrap().is_none());

    let account = gw.channel.account(ACCOUNT).unwrap().clone();
    let report = gw
        .channel
        .outbound()
        .send_reply(&account, ALICE, "hello again", "manual:21610")
        .await;
    let error = report.first_error().unwrap().to_owned();
    assert!(error.contains("21610"), "{error}");
    assert_eq!(sim.fault_counts().create_requests, 1, "not retried");
    let opt_out = gw.store.opt_out(ACCOUNT, ALICE).await.unwrap().unwrap();
    assert_eq!(opt_out.keyword, "STOP (Twilio 21610)");
    let intents = gw.store.intents_for_reply("manual:21610").await.unwrap();
    assert_eq!(intents[0].state, IntentState::Failed);
    // The next send fails locally.
    let report = gw
        .channel
        .outbound()
        .send_reply(&account, ALICE, "still there?", "manual:after")
        .await;
    assert!(report.first_error().unwrap().contains("opted out"));
    assert_eq!(sim.fault_counts().create_requests, 1);
    gw.shutdown().await;
}

/// A queued text whose reply (two or more parts) was saved before a crash, with the first
/// part already handled as `first_part` says; processing it again must send only the rest.
async fn resume_after_crash(first_part_at_twilio_only: bool) {
    let (sim, gw) = start_with(
        json!({"textChunkLimit": 160}),
        GatewayOptions {
            pump: false,
            ..GatewayOptions::default()
        },
    )
    .await;
    let phone = sim.phone(ALICE).unwrap();
    let inbound = phone.text(OUR, "how do I get there?").await.unwrap();
    let account = gw.channel.account(ACCOUNT).unwrap().clone();
    let parts: Vec<String> = prepare_reply(MARKDOWN, &reply_options(&account))
        .parts
        .into_iter()
        .map(|p| p.text)
        .collect();
    assert!(parts.len() >= 2);
    let reply_id = format!("reply:{ACCOUNT}:{}", inbound.message_sid);
    let now = openclaw_sms::Clock::system().now_ms();
    gw.store
        .save_reply(NewReply {
            reply_id: reply_id.clone(),
            account: ACCOUNT.to_owned(),
            recipient: ALICE.to_owned(),
            text: MARKDOWN.to_owned(),
            created_at: now,
        })
        .await
        .unwrap();
    let intent = match gw
        .store
        .create_intent(NewIntent {
            reply_id: reply_id.clone(),
            account: ACCOUNT.to_owned(),
            recipient: ALICE.to_owned(),
            body_hash: body_hash(&parts[0]),
            part_index: 0,
            part_count: u32::try_from(parts.len()).unwrap(),
            created_at: now,
        })
        .await
        .unwrap()
    {
        openclaw_store::IntentCreated::New(i) => i,
        other => panic!("{other:?}"),
    };
    // Twilio took the first part...
    let sent = account
        .twilio
        .create_message(&openclaw_twilio::CreateMessage::new(
            ALICE,
            account.sender.clone(),
            &parts[0],
        ))
        .await
        .unwrap();
    if !first_part_at_twilio_only {
        // ... and the gateway recorded it before dying.
        gw.store
            .mark_sent(intent.id, sent.sid.as_str(), now)
            .await
            .unwrap();
    }
    let claimed = gw
        .store
        .claim_next(ClaimScope::All, now + 1, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        gw.channel
            .process(claimed.into_iter().next().unwrap())
            .await,
        Processed::Answered
    );
    assert_eq!(
        bodies(&sim, ALICE),
        parts,
        "each part exactly once, in order"
    );
    assert_eq!(sim.fault_counts().create_requests as usize, parts.len());
    assert!(gw.agent.turns().is_empty(), "the saved answer is resumed");
    assert!(gw.store.agent_turns(ACCOUNT).await.unwrap().is_empty());
    let intents = gw.store.intents_for_reply(&reply_id).await.unwrap();
    assert_eq!(intents.len(), parts.len());
    assert!(intents.iter().all(|i| i.state == IntentState::Sent));
    assert_eq!(intents[0].message_sid.as_deref(), Some(sent.sid.as_str()));
    assert_eq!(gw.store.queue_depth(ACCOUNT).await.unwrap(), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_crash_after_a_recorded_part_resumes_with_the_next_part() {
    resume_after_crash(false).await;
}

#[tokio::test]
async fn a_crash_before_recording_a_sent_part_reconciles_it_instead_of_resending() {
    resume_after_crash(true).await;
}

const MEDIA_SID: &str = "MMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const MEDIA_ID: &str = "ME0123456789abcdef0123456789abcdef";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really a picture";

/// Sends an MMS whose media URL is under the mock Twilio at `api`, runs it, and returns the
/// agent's turn.
async fn mms_turn(
    api: &mockito::ServerGuard,
    media_dir: &std::path::Path,
) -> openclaw_sms::AgentTurn {
    const PUBLIC: &str = "https://gateway.example.com/webhooks/sms";
    let config = sms_config(&api.url(), PUBLIC, &json!({}));
    let store = memory_store();
    let agent = Arc::new(TestAgent::default());
    agent.answer_with("");
    let channel = channel(
        &config,
        store.clone(),
        agent.clone(),
        AccountOptions::default(),
        openclaw_sms::ChannelOptions {
            media_dir: Some(media_dir.to_owned()),
            ..channel_options()
        },
    );
    let media_path = format!("/2010-04-01/Accounts/{AC}/Messages/{MEDIA_SID}/Media/{MEDIA_ID}");
    let media_url = format!("{}{media_path}", api.url());
    let mut form = inbound_form(MEDIA_SID, ALICE, "look");
    form.retain(|(k, _)| k != "NumMedia");
    form.extend([
        ("NumMedia".to_owned(), "1".to_owned()),
        ("MediaUrl0".to_owned(), media_url),
        ("MediaContentType0".to_owned(), "image/png".to_owned()),
    ]);
    let response = openclaw_sms::webhook::router(&channel)
        .oneshot(signed_post(PUBLIC, "/webhooks/sms", &form, [127, 0, 0, 1]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let now = openclaw_sms::Clock::system().now_ms();
    let claimed = store.claim_next(ClaimScope::All, now, 1).await.unwrap();
    let outcome = channel.process(claimed.into_iter().next().unwrap()).await;
    assert_eq!(outcome, Processed::Answered);
    let turns = agent.turns();
    assert_eq!(turns.len(), 1);
    turns[0].clone()
}

#[tokio::test]
async fn mms_media_is_fetched_through_a_same_host_redirect_and_given_to_the_agent() {
    let mut api = mockito::Server::new_async().await;
    let dir = tempfile::tempdir().unwrap();
    let media_path = format!("/2010-04-01/Accounts/{AC}/Messages/{MEDIA_SID}/Media/{MEDIA_ID}");
    let redirect = api
        .mock("GET", media_path.as_str())
        .match_header("authorization", mockito::Matcher::Regex("^Basic ".into()))
        .with_status(307)
        .with_header("location", "/cdn/media/abc")
        .create_async()
        .await;
    let file = api
        .mock("GET", "/cdn/media/abc")
        .with_status(200)
        .with_header("content-type", "image/png")
        .with_body(PNG)
        .create_async()
        .await;
    let turn = mms_turn(&api, dir.path()).await;
    redirect.assert_async().await;
    file.assert_async().await;
    assert_eq!(turn.text, "look");
    assert_eq!(turn.media.len(), 1);
    let MediaAttachment { content_type, path } = &turn.media[0];
    assert_eq!(content_type, "image/png");
    assert!(path.starts_with(dir.path()));
    assert_eq!(std::fs::read(path).unwrap(), PNG);
}

#[cfg(unix)]
#[tokio::test]
async fn mms_media_files_and_directories_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut api = mockito::Server::new_async().await;
    let dir = tempfile::tempdir().unwrap();
    let media_dir = dir.path().join("media").join("inbound");
    let media_path = format!("/2010-04-01/Accounts/{AC}/Messages/{MEDIA_SID}/Media/{MEDIA_ID}");
    let file = api
        .mock("GET", media_path.as_str())
        .with_status(200)
        .with_header("content-type", "image/png")
        .with_body(PNG)
        .create_async()
        .await;
    let turn = mms_turn(&api, &media_dir).await;
    file.assert_async().await;
    let saved = &turn.media[0].path;
    assert_eq!(std::fs::read(saved).unwrap(), PNG);
    assert_eq!(mode(saved), 0o600, "{}", saved.display());
    for created in [dir.path().join("media"), media_dir] {
        assert_eq!(mode(&created), 0o700, "{}", created.display());
    }
}

#[tokio::test]
async fn an_mms_redirect_to_another_host_is_refused() {
    let mut elsewhere = mockito::Server::new_async().await;
    let port = elsewhere.socket_address().port();
    // Another port of the API's host, and another host name.
    for foreign in [
        format!("http://127.0.0.1:{port}/media/abc"),
        format!("http://localhost:{port}/media/abc"),
    ] {
        let mut api = mockito::Server::new_async().await;
        let dir = tempfile::tempdir().unwrap();
        let media_path = format!("/2010-04-01/Accounts/{AC}/Messages/{MEDIA_SID}/Media/{MEDIA_ID}");
        let redirect = api
            .mock("GET", media_path.as_str())
            .with_status(302)
            .with_header("location", &foreign)
            .create_async()
            .await;
        let never = elsewhere
            .mock("GET", "/media/abc")
            .with_status(200)
            .with_body(PNG)
            .expect(0)
            .create_async()
            .await;
        let turn = mms_turn(&api, dir.path()).await;
        redirect.assert_async().await;
        never.assert_async().await;
        assert_eq!(
            turn.text, "look\n\n[1 Twilio MMS attachment unavailable]",
            "{foreign}"
        );
        assert!(turn.media.is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).map_or(0, Iterator::count), 0);
    }
}

#[tokio::test]
async fn a_send_report_names_each_part() {
    // Two parts to one phone: both sent, in order, with their SIDs.
    let (sim, gw) = start(json!({"textChunkLimit": 160})).await;
    let account = gw.channel.account(ACCOUNT).unwrap().clone();
    let report = gw
        .channel
        .outbound()
        .send_reply(&account, BOB, MARKDOWN, "manual:parts")
        .await;
    assert!(report.is_complete());
    let sids: Vec<String> = report
        .parts
        .iter()
        .map(|p| match p {
            PartOutcome::Sent { sid, earlier, .. } => {
                assert!(!earlier);
                sid.clone()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    let at_phone: Vec<String> = sim
        .phone(BOB)
        .unwrap()
        .replies()
        .into_iter()
        .map(|r| r.sid)
        .collect();
    assert_eq!(sids, at_phone);
    // Sending the same reply again sends nothing new.
    let again = gw
        .channel
        .outbound()
        .send_reply(&account, BOB, MARKDOWN, "manual:parts")
        .await;
    assert!(
        again
            .parts
            .iter()
            .all(|p| matches!(p, PartOutcome::Sent { earlier: true, .. }))
    );
    assert_eq!(sim.fault_counts().create_requests as usize, sids.len());
    gw.shutdown().await;
}

#[tokio::test]
async fn a_slow_turn_gets_one_working_on_it_notice_even_when_retried() {
    let options = GatewayOptions {
        slow_reply_notice_after: Some(Duration::from_millis(100)),
        ..GatewayOptions::default()
    };
    let (sim, gw) = start_with(json!({}), options).await;
    // Slow every time, and the first attempt fails after its notice: the retry is slow again.
    gw.agent.answer_after(Duration::from_millis(400));
    gw.agent.fail_next(1);
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "plan my trip").await.unwrap();
    eventually("the answer", || {
        let got = bodies(&sim, ALICE);
        async move { got.iter().any(|b| b == "pong: plan my trip") }
    })
    .await;
    gw.drained().await;
    assert_eq!(
        gw.agent.turns().len(),
        2,
        "the failed turn was retried once"
    );
    assert_eq!(
        bodies(&sim, ALICE),
        [openclaw_sms::texts::SLOW_REPLY_NOTICE, "pong: plan my trip"]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_quick_turn_gets_no_notice() {
    let options = GatewayOptions {
        slow_reply_notice_after: Some(Duration::from_secs(5)),
        ..GatewayOptions::default()
    };
    let (sim, gw) = start_with(json!({}), options).await;
    let phone = sim.phone(ALICE).unwrap();
    phone.text(OUR, "hi").await.unwrap();
    phone.next_reply(REPLY_WAIT).await.unwrap();
    gw.drained().await;
    assert_eq!(bodies(&sim, ALICE), ["pong: hi"]);
    gw.shutdown().await;
}
