//! `cargo xtask e2e`: the product page's flows against real processes (the gateway binary, the
//! simulator binary, a fake model server), each asserting what the phone received.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::json;

use crate::model::ModelServer;
use crate::procs::{
    ACCOUNT_SID, AUTH_TOKEN, Bins, Gateway, NUMBER, Scratch, Sim, free_port, sms_config,
};

pub(crate) const PHONE: &str = "+15557654321";
const MG: &str = "MG0123456789abcdef0123456789abcdef";

type Scenario = fn(&Bins) -> anyhow::Result<()>;

/// The scenario that needs PostgreSQL and nginx (see `e2e_pg.rs`).
const PG_SCENARIO: &str = "two_gateways_one_postgres_one_killed";

/// Runs every scenario (or those whose name contains `filter`) and prints a summary line.
/// `pg_url` is a PostgreSQL server for the two-gateway scenario; without one, a private
/// cluster is started from the installed PostgreSQL (and the scenario fails if there is none).
pub(crate) fn run(filter: Option<&str>, pg_url: Option<&str>) -> anyhow::Result<()> {
    let bins = Bins::build(false)?;
    let scenarios: &[(&str, Scenario)] = &[
        ("verification_flow_with_model", verification_flow),
        ("allowlist_open_disabled", policies),
        ("messaging_service_sender", messaging_service),
        ("two_accounts_two_paths", two_accounts),
        ("message_send_targets", message_send),
        ("bad_signature_rejected_and_not_stored", bad_signature),
        ("restart_runs_queued_messages_once", restart_queued),
        ("stop_blocks_further_sends", stop_keyword),
        ("env_only_and_secret_ref_config", env_and_secret_ref),
        ("dead_letters_list_and_resubmit", dead_letters),
        (
            "budget_mid_conversation_owner_approval_and_usage",
            crate::e2e_budgets::budget_owner_approval_and_usage,
        ),
        (
            "quiet_hours_hold_until_window_end",
            crate::e2e_quiet::quiet_hours_hold_until_window_end,
        ),
        (
            "openclaw_bridge_real_openclaw",
            crate::e2e_openclaw::openclaw_bridge,
        ),
        (
            "console_in_a_real_browser",
            crate::e2e_console::console_in_a_real_browser,
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, scenario) in scenarios {
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let started = Instant::now();
        match scenario(&bins) {
            Ok(()) => {
                passed += 1;
                println!(
                    "e2e {name} ... ok ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            Err(err) => {
                failed += 1;
                println!(
                    "e2e {name} ... FAILED ({:.1} s): {err:#}",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    if filter.is_none_or(|f| PG_SCENARIO.contains(f)) {
        let started = Instant::now();
        let result = match pg_url {
            Some(url) => crate::e2e_pg::two_gateways_one_postgres(&bins, url),
            None => crate::services::Postgres::start()
                .and_then(|pg| crate::e2e_pg::two_gateways_one_postgres(&bins, pg.url())),
        };
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                passed += 1;
                println!("e2e {PG_SCENARIO} ... ok ({secs:.1} s)");
            }
            Err(err) => {
                failed += 1;
                println!("e2e {PG_SCENARIO} ... FAILED ({secs:.1} s): {err:#}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} e2e scenario(s) failed");
    }
    Ok(())
}

pub(crate) fn sim_for(bins: &Bins, port: u16, extra: &[String]) -> anyhow::Result<Sim> {
    let mut args = vec![
        "--number".to_owned(),
        format!("{NUMBER}=http://127.0.0.1:{port}/webhooks/sms"),
    ];
    args.extend_from_slice(extra);
    Sim::start(bins, &args)
}

pub(crate) fn pairing_code(text: &str) -> anyhow::Result<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("Pairing code: "))
        .map(|c| c.trim().to_owned())
        .with_context(|| format!("no pairing code in {text:?}"))
}

pub(crate) fn no_reply(sim: &Sim, phone: &str) -> anyhow::Result<()> {
    if let Some(reply) = sim.next_reply(phone, Duration::from_millis(1500))? {
        bail!("{phone} should get no reply, got {reply:?}");
    }
    Ok(())
}

/// The product page's verification flow, with a model: first text -> pairing code ->
/// `pairing list` -> `pairing approve` -> the held first text answered -> "reply exactly SMS
/// pong" -> the model's answer, with history.
fn verification_flow(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-verify")?;
    let model = ModelServer::start()?;
    let port = free_port()?;
    let sim = sim_for(bins, port, &[])?;
    let mut config = sms_config(port, &sim, json!({"dmPolicy": "pairing"}));
    crate::procs::merge(
        &mut config,
        json!({
            "models": {"providers": {"local": {"api": "openai-completions", "baseUrl": model.base_url(), "apiKey": "sk-e2e", "models": [{"id": "tiny"}]}}},
            "agents": {"defaults": {"model": {"primary": "local/tiny"}}},
        }),
    );
    let gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    let log = std::fs::read_to_string(&gw.log)?;
    ensure!(
        log.contains("Registered SMS webhook route /webhooks/sms for account default"),
        "route log line missing"
    );

    ensure!(
        sim.text(PHONE, NUMBER, "hello")? == 200,
        "webhook did not accept the first text"
    );
    let pairing = sim.expect_reply(PHONE)?;
    ensure!(
        pairing.starts_with("OpenClaw: access not configured."),
        "unexpected pairing text {pairing:?}"
    );
    ensure!(pairing.contains(PHONE), "pairing text lacks the number");
    let code = pairing_code(&pairing)?;
    ensure!(
        pairing.contains(&format!("openclaw pairing approve sms {code}")),
        "pairing text lacks the command"
    );
    let list = gw.cli_ok(&["pairing", "list", "sms"])?;
    ensure!(
        list.contains(&code) && list.contains(PHONE),
        "pairing list lacks the request: {list}"
    );
    let approved = gw.cli_ok(&["pairing", "approve", "sms", &code])?;
    ensure!(
        approved.contains(&format!("Approved sms sender {PHONE}.")),
        "approve said {approved:?}"
    );
    let first = sim.expect_reply(PHONE)?;
    ensure!(
        first == "Model: hello",
        "the held first text was answered with {first:?}"
    );
    sim.text(PHONE, NUMBER, "reply exactly SMS pong")?;
    let pong = sim.expect_reply(PHONE)?;
    ensure!(pong == "SMS pong", "expected SMS pong, got {pong:?}");
    let requests = model.requests();
    let last = requests.last().context("the model was not called")?;
    let messages = last["messages"].as_array().cloned().unwrap_or_default();
    ensure!(
        messages.first().and_then(|m| m["role"].as_str()) == Some("system"),
        "no system prompt"
    );
    ensure!(
        messages.iter().any(|m| m["content"] == "hello"),
        "history was not sent on the second turn: {messages:?}"
    );
    ensure!(
        requests.len() == 2,
        "expected exactly two model turns, got {}",
        requests.len()
    );
    Ok(())
}

/// `allowlist` answers listed senders only; `open` answers anyone; `disabled` nobody.
fn policies(bins: &Bins) -> anyhow::Result<()> {
    for (policy, allow, listed_answered, stranger_answered) in [
        ("allowlist", json!([PHONE]), true, false),
        ("open", json!(["*"]), true, true),
        ("disabled", json!([PHONE]), false, false),
    ] {
        let dir = Scratch::new("e2e-policy")?;
        let port = free_port()?;
        let sim = sim_for(bins, port, &[])?;
        let config = sms_config(port, &sim, json!({"dmPolicy": policy, "allowFrom": allow}));
        let _gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
        sim.text(PHONE, NUMBER, "hi")?;
        let stranger = "+15550009999";
        sim.text(stranger, NUMBER, "hi")?;
        if listed_answered {
            let reply = sim.expect_reply(PHONE)?;
            ensure!(reply == "Echo: hi", "{policy}: listed sender got {reply:?}");
        } else {
            no_reply(&sim, PHONE).with_context(|| policy.to_owned())?;
        }
        if stranger_answered {
            ensure!(
                sim.expect_reply(stranger)? == "Echo: hi",
                "{policy}: stranger not answered"
            );
        } else {
            no_reply(&sim, stranger).with_context(|| policy.to_owned())?;
        }
    }
    Ok(())
}

/// A Messaging Service account: replies go out with MessagingServiceSid.
fn messaging_service(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-mg")?;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}/webhooks/sms");
    let sim = Sim::start(
        bins,
        &[
            "--number".into(),
            NUMBER.into(),
            "--messaging-service".into(),
            format!("{MG}={NUMBER}"),
            "--service-inbound-url".into(),
            format!("{MG}={url}"),
        ],
    )?;
    let config = sms_config(
        port,
        &sim,
        json!({"fromNumber": null, "messagingServiceSid": MG, "dmPolicy": "open", "allowFrom": ["*"]}),
    );
    let _gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    sim.text(PHONE, NUMBER, "via service")?;
    ensure!(
        sim.expect_reply(PHONE)? == "Echo: via service",
        "no reply through the service"
    );
    let messages = sim.messages()?;
    let sent = messages
        .iter()
        .find(|m| m["to"] == PHONE)
        .context("no outbound message")?;
    ensure!(
        sent["messaging_service_sid"] == MG,
        "reply was not sent through the Messaging Service: {sent}"
    );
    Ok(())
}

/// Two accounts on two paths, each answering its own number.
fn two_accounts(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-two")?;
    let port = free_port()?;
    let other = "+15552223333";
    let sim = Sim::start(
        bins,
        &[
            "--number".into(),
            format!("{NUMBER}=http://127.0.0.1:{port}/webhooks/sms"),
            "--number".into(),
            format!("{other}=http://127.0.0.1:{port}/webhooks/sms/support"),
        ],
    )?;
    let config = json!({"channels": {"sms": {
        "accountSid": ACCOUNT_SID, "authToken": AUTH_TOKEN, "apiBaseUrl": sim.base, "dmPolicy": "open", "allowFrom": ["*"],
        "accounts": {
            "main": {"fromNumber": NUMBER, "publicWebhookUrl": format!("http://127.0.0.1:{port}/webhooks/sms")},
            "support": {"fromNumber": other, "webhookPath": "/webhooks/sms/support", "publicWebhookUrl": format!("http://127.0.0.1:{port}/webhooks/sms/support")},
        },
        "defaultAccount": "main",
    }}});
    let gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    let log = std::fs::read_to_string(&gw.log)?;
    ensure!(
        log.contains("route /webhooks/sms for account main")
            && log.contains("route /webhooks/sms/support for account support"),
        "routes not registered: {log}"
    );
    sim.text(PHONE, NUMBER, "to main")?;
    sim.text(PHONE, other, "to support")?;
    let mut replies = vec![sim.expect_reply(PHONE)?, sim.expect_reply(PHONE)?];
    replies.sort();
    ensure!(
        replies == ["Echo: to main", "Echo: to support"],
        "replies {replies:?}"
    );
    let received = sim.received(PHONE)?;
    let from_support = received
        .iter()
        .find(|m| m["body"] == "Echo: to support")
        .context("support reply missing")?;
    ensure!(
        from_support["from"] == other,
        "support replied from {}",
        from_support["from"]
    );
    Ok(())
}

/// `message send` with `sms:` (needs --channel sms) and `twilio-sms:`.
fn message_send(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-send")?;
    let port = free_port()?;
    let sim = sim_for(bins, port, &[])?;
    let config = sms_config(port, &sim, json!({}));
    let gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    let out = gw.cli_ok(&[
        "message",
        "send",
        "--channel",
        "sms",
        "--target",
        "sms:+15557654321",
        "--message",
        "OpenClaw SMS test",
    ])?;
    ensure!(
        out.contains("Sent part 1/1") && out.contains("1 segment"),
        "send said {out:?}"
    );
    ensure!(
        sim.expect_reply(PHONE)? == "OpenClaw SMS test",
        "sms: target not delivered"
    );
    gw.cli_ok(&[
        "message",
        "send",
        "--target",
        "twilio-sms:+15557654321",
        "--message",
        "hello",
    ])?;
    ensure!(
        sim.expect_reply(PHONE)? == "hello",
        "twilio-sms: target not delivered"
    );
    let refused = gw.cli(&[
        "message",
        "send",
        "--target",
        "sms:+15557654321",
        "--message",
        "x",
    ])?;
    ensure!(
        refused.status.code() == Some(1),
        "sms: without --channel must fail"
    );
    ensure!(
        String::from_utf8_lossy(&refused.stderr).contains("iMessage"),
        "the error does not explain why"
    );
    // With the gateway stopped, the CLI sends directly through Twilio.
    let mut gw = gw;
    gw.terminate()?;
    gw.cli_ok(&[
        "message",
        "send",
        "--target",
        "twilio-sms:+15557654321",
        "--message",
        "direct",
    ])?;
    ensure!(
        sim.expect_reply(PHONE)? == "direct",
        "direct send not delivered"
    );
    Ok(())
}

/// A forged webhook gets 403 and nothing is stored or run.
fn bad_signature(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-forged")?;
    let port = free_port()?;
    let sim = sim_for(bins, port, &[])?;
    let config = sms_config(port, &sim, json!({"dmPolicy": "open", "allowFrom": ["*"]}));
    let gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    let body = format!(
        "MessageSid=SM{:032x}&AccountSid={ACCOUNT_SID}&From=%2B15557654321&To=%2B15551234567&Body=forged",
        7
    );
    let answer = crate::http::request(
        "POST",
        &gw.webhook("/webhooks/sms"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Twilio-Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ],
        Some(body.as_bytes()),
        Duration::from_secs(10),
    )?;
    ensure!(
        answer.status == 403,
        "forged webhook answered {}",
        answer.status
    );
    ensure!(
        answer.header("x-openclaw-delivery-accepted").is_none(),
        "forged webhook was acknowledged as durable"
    );
    no_reply(&sim, PHONE)?;
    let metrics = gw.metrics()?;
    ensure!(
        metrics.contains("outcome=\"forbidden\"} 1"),
        "forbidden not counted: {metrics}"
    );
    ensure!(
        metrics.contains("openclaw_sms_queue_depth{account=\"default\"} 0"),
        "something was queued: {metrics}"
    );
    ensure!(
        !metrics.contains("outcome=\"accepted\""),
        "something was accepted"
    );
    // The admin API is not served on the public TCP port (only on the owner-only socket).
    let admin = crate::http::get(&gw.webhook("/__openclaw/admin/status"))?;
    ensure!(
        admin.status == 404,
        "the admin API answered {} over TCP",
        admin.status
    );
    Ok(())
}

/// Texts acknowledged while the agent is slow, then SIGKILL, then restart: each is answered
/// exactly once.
fn restart_queued(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-restart")?;
    let model = ModelServer::start()?;
    *model.delay_ms.lock().map_err(|_| anyhow::anyhow!("lock"))? = 1_500;
    let port = free_port()?;
    let sim = sim_for(bins, port, &[])?;
    let mut config = sms_config(port, &sim, json!({"dmPolicy": "open", "allowFrom": ["*"]}));
    crate::procs::merge(
        &mut config,
        json!({
            "models": {"providers": {"local": {"api": "openai-completions", "baseUrl": model.base_url()}}},
            "agents": {"defaults": {"model": {"primary": "local/tiny"}}},
        }),
    );
    let mut gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    let phones: Vec<String> = (0..5).map(|i| format!("+1555010000{i}")).collect();
    for phone in &phones {
        ensure!(
            sim.text(phone, NUMBER, &format!("queued from {phone}"))? == 200,
            "not acknowledged"
        );
    }
    gw.kill();
    *model.delay_ms.lock().map_err(|_| anyhow::anyhow!("lock"))? = 0;
    gw.spawn()?;
    for phone in &phones {
        let reply = sim.expect_reply(phone)?;
        ensure!(
            reply == format!("Model: queued from {phone}"),
            "{phone} got {reply:?}"
        );
    }
    std::thread::sleep(Duration::from_millis(1500));
    for phone in &phones {
        let got = sim.received(phone)?.len();
        ensure!(
            got == 1,
            "{phone} received {got} messages, expected exactly 1"
        );
    }
    Ok(())
}

/// STOP records an opt-out: nothing more is sent (the send fails locally, not at Twilio).
fn stop_keyword(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-stop")?;
    let port = free_port()?;
    let sim = sim_for(bins, port, &[])?;
    let config = sms_config(port, &sim, json!({"dmPolicy": "open", "allowFrom": ["*"]}));
    let gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    sim.text(PHONE, NUMBER, "hi")?;
    ensure!(
        sim.expect_reply(PHONE)? == "Echo: hi",
        "not answered before STOP"
    );
    sim.text(PHONE, NUMBER, "STOP")?;
    // Twilio's own opt-out confirmation comes from the simulator, not from us.
    let _ = sim.next_reply(PHONE, Duration::from_secs(2))?;
    std::thread::sleep(Duration::from_millis(500));
    let outbound_to_phone = |sim: &Sim| -> anyhow::Result<usize> {
        Ok(sim
            .messages()?
            .iter()
            .filter(|m| {
                m["to"] == PHONE
                    && m["direction"]
                        .as_str()
                        .is_some_and(|d| d.starts_with("outbound"))
            })
            .count())
    };
    let before = outbound_to_phone(&sim)?;
    sim.text(PHONE, NUMBER, "are you there?")?;
    no_reply(&sim, PHONE)?;
    let out = gw.cli(&[
        "message",
        "send",
        "--target",
        "twilio-sms:+15557654321",
        "--message",
        "after stop",
    ])?;
    ensure!(
        out.status.code() == Some(1),
        "a send to an opted-out number must fail"
    );
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("opted out"),
        "error does not say opted out: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        outbound_to_phone(&sim)? == before,
        "something was sent to Twilio after STOP"
    );
    sim.text(PHONE, NUMBER, "START")?;
    let _ = sim.next_reply(PHONE, Duration::from_secs(2))?;
    sim.text(PHONE, NUMBER, "back")?;
    let mut got = Vec::new();
    while let Some(r) = sim.next_reply(PHONE, Duration::from_secs(5))? {
        got.push(r);
        if got.iter().any(|r| r == "Echo: back") {
            break;
        }
    }
    ensure!(
        got.iter().any(|r| r == "Echo: back"),
        "not answered after START: {got:?}"
    );
    Ok(())
}

/// Credentials from the environment only, and the auth token through a SecretRef.
fn env_and_secret_ref(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-env")?;
    let port = free_port()?;
    let sim = sim_for(bins, port, &[])?;
    let url = format!("http://127.0.0.1:{port}/webhooks/sms");
    let config = json!({"channels": {"sms": {"enabled": true, "dmPolicy": "open", "allowFrom": ["*"], "apiBaseUrl": sim.base}}});
    let env = [
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_PHONE_NUMBER", NUMBER),
        ("SMS_PUBLIC_WEBHOOK_URL", url.as_str()),
    ];
    let gw = Gateway::start(bins, dir.path(), port, &config, &env)?;
    sim.text(PHONE, NUMBER, "env")?;
    ensure!(
        sim.expect_reply(PHONE)? == "Echo: env",
        "env-only config did not answer"
    );
    drop(gw);

    let dir = Scratch::new("e2e-secretref")?;
    let config = sms_config(
        port,
        &sim,
        json!({"dmPolicy": "open", "allowFrom": ["*"], "authToken": {"source": "env", "provider": "default", "id": "E2E_TWILIO_TOKEN"}}),
    );
    let _gw = Gateway::start(
        bins,
        dir.path(),
        port,
        &config,
        &[("E2E_TWILIO_TOKEN", AUTH_TOKEN)],
    )?;
    sim.text(PHONE, NUMBER, "ref")?;
    ensure!(
        sim.expect_reply(PHONE)? == "Echo: ref",
        "SecretRef config did not answer"
    );
    // A missing variable stops start-up with the key path and the ref, never a value.
    let dir = Scratch::new("e2e-secretref-missing")?;
    let port2 = free_port()?;
    let config = sms_config(
        port2,
        &sim,
        json!({"authToken": {"source": "env", "provider": "default", "id": "E2E_MISSING_TOKEN"}}),
    );
    let err = Gateway::start(bins, dir.path(), port2, &config, &[])
        .err()
        .context("the gateway started without its token")?;
    let text = format!("{err:#}");
    ensure!(
        text.contains("channels.sms.authToken") && text.contains("env:default:E2E_MISSING_TOKEN"),
        "start-up error lacks key or ref: {text}"
    );
    Ok(())
}

/// A text to a number that is not the account's is dead-lettered (identity check); the CLI
/// lists it and puts it back into the queue, where it fails the same check again.
fn dead_letters(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-dead")?;
    let port = free_port()?;
    let stray = "+15559998888";
    let sim = sim_for(
        bins,
        port,
        &[
            "--number".into(),
            format!("{stray}=http://127.0.0.1:{port}/webhooks/sms"),
        ],
    )?;
    let config = sms_config(port, &sim, json!({"dmPolicy": "open", "allowFrom": ["*"]}));
    let gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    ensure!(
        sim.text(PHONE, stray, "wrong number")? == 200,
        "the webhook must acknowledge a signed text"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let out = gw.cli_ok(&["channels", "dead-letters", "list", "--json"])?;
        let value: serde_json::Value = serde_json::from_str(&out)?;
        let letters = value["deadLetters"].as_array().cloned().unwrap_or_default();
        if !letters.is_empty() || Instant::now() > deadline {
            break letters;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    ensure!(
        listed.len() == 1,
        "expected one dead letter, got {listed:?}"
    );
    let reason = listed[0]["reason"].as_str().unwrap_or_default();
    ensure!(
        reason.contains("invalid Twilio recipient"),
        "reason {reason:?}"
    );
    no_reply(&sim, PHONE)?;
    let id = listed[0]["id"].to_string();
    let out = gw.cli_ok(&["channels", "dead-letters", "resubmit", "--id", &id])?;
    ensure!(
        out.contains("Resubmitted 1 message(s)"),
        "resubmit said {out:?}"
    );
    let missing = gw.cli(&["channels", "dead-letters", "resubmit", "--id", "999999"])?;
    ensure!(missing.status.code() == Some(1), "an unknown id must fail");
    // It runs again and fails the same identity check: back in the dead letters, once.
    std::thread::sleep(Duration::from_millis(1500));
    let out = gw.cli_ok(&["channels", "dead-letters", "list", "--json"])?;
    let value: serde_json::Value = serde_json::from_str(&out)?;
    let letters = value["deadLetters"].as_array().cloned().unwrap_or_default();
    ensure!(
        letters.len() == 1 && letters[0]["attempts"].as_u64().is_some(),
        "after resubmit: {letters:?}"
    );
    no_reply(&sim, PHONE)?;
    Ok(())
}
