//! The OpenClaw bridge against the real OpenClaw gateway from npm (issue 16): our gateway
//! with `api: "openclaw-gateway"` in front of `openclaw@2026.9.6`, whose only model is the
//! fake model server. What OpenClaw sends that model shows what reached the agent.

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};

use crate::e2e::{PHONE, no_reply, pairing_code, sim_for};
use crate::model::{ModelServer, content_text};
use crate::procs::{Bins, Gateway, NUMBER, Scratch, free_port, merge, sms_config};
use crate::upstream::{self, OpenClaw};

const TOKEN: &str = "e2e-openclaw-gateway-token";
const BOB: &str = "+15557654399";
/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0x50,
    0x0f, 0x00, 0x04, 0x85, 0x01, 0x80, 0x84, 0xa9, 0x8c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
/// The start of our own SMS system prompt (`SMS_SYSTEM_PROMPT` in the gateway).
const OUR_SYSTEM_PROMPT: &str = "You are a personal assistant answering by SMS.";

/// Pairing, the held first text, "reply exactly SMS pong", upstream sessions per sender, no
/// history or system prompt of ours, an image MMS as an image part, and a wrong token that
/// loses nothing.
pub(crate) fn openclaw_bridge(bins: &Bins) -> anyhow::Result<()> {
    let installed = upstream::install(&crate::root())?;
    println!(
        "  openclaw@{} on node {}: install {:.1} s ({})",
        upstream::OPENCLAW_VERSION,
        upstream::NODE_VERSION,
        installed.took.as_secs_f64(),
        if installed.cached { "cached" } else { "cold" }
    );
    let dir = Scratch::new("e2e-openclaw")?;
    let model = ModelServer::start()?;
    let upstream_port = free_port()?;
    let openclaw = OpenClaw::start(
        &installed,
        dir.path(),
        upstream_port,
        &upstream::config(upstream_port, TOKEN, &model.base_url()),
    )?;
    println!(
        "  OpenClaw ready after {:.1} s",
        openclaw.ready_after.as_secs_f64()
    );
    let result = drive(bins, &dir, &model, &openclaw);
    if result.is_err() {
        println!("  OpenClaw log tail:\n{}", openclaw.tail_log());
    }
    result
}

fn our_config(port: u16, sim: &crate::procs::Sim, upstream_port: u16, token: &str) -> Value {
    let mut config = sms_config(
        port,
        sim,
        json!({"dmPolicy": "pairing", "allowFrom": [BOB]}),
    );
    merge(
        &mut config,
        json!({
            "models": {"providers": {"openclaw": {
                "api": "openclaw-gateway",
                "baseUrl": format!("http://127.0.0.1:{upstream_port}/v1"),
                "apiKey": token,
                "models": [{"id": "main", "input": ["text", "image"]}],
            }}},
            "agents": {"defaults": {"model": {"primary": "openclaw/main"}}},
        }),
    );
    config
}

/// `channels status --probe --json`'s report on the agent backend.
fn agent_probe(gw: &Gateway) -> anyhow::Result<Value> {
    let out = gw.cli(&["channels", "status", "--probe", "--json"])?;
    let status: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "channels status --probe --json printed no JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(status["agent"].clone())
}

/// The model requests whose last real user message contains `text`.
fn requests_for(model: &ModelServer, text: &str) -> Vec<Value> {
    model
        .requests()
        .into_iter()
        .filter(|r| {
            r["messages"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| m["role"] == "user" && content_text(&m["content"]).contains(text))
            })
        })
        .collect()
}

/// The conversation in a request: the texts of its user and assistant messages, without
/// OpenClaw's system prompt and internal-context messages.
fn texts(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| m["role"] == "user" || m["role"] == "assistant")
                .map(|m| content_text(&m["content"]))
                .filter(|t| !t.starts_with("<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT"))
                .collect()
        })
        .unwrap_or_default()
}

/// The request whose newest user turn (not OpenClaw's internal context) contains `text`.
fn turn_request(model: &ModelServer, text: &str) -> anyhow::Result<Value> {
    model
        .requests()
        .into_iter()
        .rev()
        .find(|r| texts(r).last().is_some_and(|t| t.contains(text)))
        .with_context(|| format!("no model request for the turn {text:?}"))
}

fn drive(
    bins: &Bins,
    dir: &Scratch,
    model: &ModelServer,
    openclaw: &OpenClaw,
) -> anyhow::Result<()> {
    let port = free_port()?;
    let sim = sim_for(bins, port, &[])?;
    let config = our_config(port, &sim, openclaw.port, TOKEN);
    let gw_dir = dir.path().join("ours");
    std::fs::create_dir_all(&gw_dir)?;
    let mut gw = Gateway::start(bins, &gw_dir, port, &config, &[])?;
    let log = std::fs::read_to_string(&gw.log)?;
    ensure!(
        log.contains("SMS is answered by OpenClaw agent"),
        "no bridge line in our log:\n{}",
        gw.tail_log()
    );

    let agent = agent_probe(&gw)?;
    ensure!(
        agent["ok"] == true && agent["listed"] == true && agent["name"] == "openclaw:main",
        "channels status --probe: {agent}"
    );

    // The product page's flow: pairing code, approve, the held first text answered.
    sim.text(PHONE, NUMBER, "hello")?;
    let pairing = sim.expect_reply(PHONE)?;
    let code = pairing_code(&pairing)?;
    gw.cli_ok(&["pairing", "approve", "sms", &code])?;
    let first = sim
        .next_reply(PHONE, Duration::from_secs(120))?
        .context("the held first text was not answered within 120 s")?;
    ensure!(first == "Model: hello", "the held first text got {first:?}");

    let started = Instant::now();
    sim.text(PHONE, NUMBER, "reply exactly SMS pong")?;
    let pong = sim
        .next_reply(PHONE, Duration::from_secs(120))?
        .context("no answer to the pong within 120 s")?;
    let latency = started.elapsed();
    ensure!(pong == "SMS pong", "expected SMS pong, got {pong:?}");
    println!(
        "  turn latency through the bridge (SMS in -> SMS out): {:.2} s",
        latency.as_secs_f64()
    );

    // The upstream session continued: the second turn carries the first turn's text, once
    // (from OpenClaw's session, not from a history of ours).
    let second = turn_request(model, "reply exactly SMS pong")?;
    let second_texts = texts(&second);
    // [user "hello", assistant "Model: hello", user "reply exactly SMS pong"]: OpenClaw's
    // session, with our new message alone at the end.
    ensure!(
        second_texts.len() == 3
            && second_texts[0].contains("hello")
            && second_texts[1] == "Model: hello"
            && !second_texts[2].contains("hello"),
        "the second turn should be OpenClaw's session plus the new text alone: {second_texts:#?}"
    );
    // OpenClaw notes the session of a session's first turn in its text.
    ensure!(
        second_texts[0].contains("session=agent:main:sms:direct:+15557654321"),
        "the turns did not run in OpenClaw's sms DM session: {:?}",
        second_texts[0]
    );
    for request in model.requests() {
        ensure!(
            !request.to_string().contains(OUR_SYSTEM_PROMPT),
            "our system prompt reached the model"
        );
    }

    // Another sender has another session: neither sees the other's text.
    sim.text(BOB, NUMBER, "my secret word is zebra")?;
    let bob = sim
        .next_reply(BOB, Duration::from_secs(120))?
        .context("Bob got no answer")?;
    ensure!(bob == "Model: my secret word is zebra", "Bob got {bob:?}");
    let bob_request = turn_request(model, "my secret word is zebra")?;
    let bob_texts = texts(&bob_request);
    ensure!(
        bob_texts.len() == 1
            && bob_texts[0].contains(&format!("session=agent:main:sms:direct:{BOB}")),
        "Bob's turn should be alone in his own session: {bob_texts:#?}"
    );

    // An image MMS reaches the model as an image part.
    sim.mms(
        PHONE,
        NUMBER,
        "what is in this picture",
        "SM0123456789abcdef0123456789abcd01",
        "image/png",
        PNG,
    )?;
    let picture = sim
        .next_reply(PHONE, Duration::from_secs(120))?
        .context("the MMS got no answer")?;
    ensure!(
        picture == "Model: what is in this picture",
        "the MMS got {picture:?}"
    );
    let mms_request = turn_request(model, "what is in this picture")?;
    ensure!(
        !texts(&mms_request).iter().any(|t| t.contains("zebra")),
        "Alice's turn carried Bob's text"
    );
    let has_image = mms_request["messages"].as_array().is_some_and(|m| {
        m.iter().any(|m| {
            m["content"].as_array().is_some_and(|parts| {
                parts.iter().any(|p| {
                    p["type"] == "image_url"
                        && p["image_url"]["url"]
                            .as_str()
                            .is_some_and(|u| u.starts_with("data:image/png;base64,"))
                })
            })
        })
    });
    ensure!(
        has_image,
        "the MMS image did not reach the model as an image part"
    );

    // A wrong token: a clear error, no answer, nothing lost; answered once after the fix.
    gw.terminate()?;
    std::fs::write(
        &gw.config,
        serde_json::to_string_pretty(&our_config(port, &sim, openclaw.port, "not-the-token"))?,
    )?;
    gw.spawn()?;
    sim.text(PHONE, NUMBER, "reply exactly after the fix")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(&gw.log)?;
        if log.contains("refused the token") {
            ensure!(
                log.contains("OPENCLAW_GATEWAY_TOKEN") && log.contains("gateway.auth.token"),
                "the 401 error does not name the fix:\n{}",
                gw.tail_log()
            );
            ensure!(!log.contains("not-the-token"), "the token was logged");
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no token error in our log:\n{}",
            gw.tail_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    no_reply(&sim, PHONE)?;
    let agent = agent_probe(&gw)?;
    ensure!(
        agent["ok"] == false
            && agent["error"]
                .as_str()
                .is_some_and(|e| e.contains("OPENCLAW_GATEWAY_TOKEN")),
        "channels status --probe with a wrong token: {agent}"
    );
    gw.terminate()?;
    std::fs::write(
        &gw.config,
        serde_json::to_string_pretty(&our_config(port, &sim, openclaw.port, TOKEN))?,
    )?;
    gw.spawn()?;
    let fixed = sim
        .next_reply(PHONE, Duration::from_secs(120))?
        .context("the text sent with the wrong token was not answered after the fix")?;
    ensure!(fixed == "after the fix", "after the fix got {fixed:?}");
    let runs = requests_for(model, "reply exactly after the fix")
        .into_iter()
        .filter(|r| texts(r).last().is_some_and(|t| t.contains("after the fix")))
        .count();
    ensure!(runs == 1, "the fixed turn ran {runs} times upstream");
    Ok(())
}
