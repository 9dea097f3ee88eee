//! `cargo xtask e2e budget`: a daily budget reached mid-conversation through the simulator (the
//! texter's notice sent once, the owner told once), the owner approving a pairing request by
//! text, and `openclaw sms usage --json` agreeing with the segments the simulator recorded.

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};

use crate::e2e::{PHONE, no_reply, pairing_code, sim_for};
use crate::procs::{Bins, Gateway, NUMBER, Scratch, Sim, free_port, sms_config};

/// The owner's phone (`pairing.notifyOwner`).
const OWNER: &str = "+15557650000";
/// The texter's notice of a stopped reply (`openclaw_sms::budget::BUDGET_NOTICE`).
const BUDGET_NOTICE: &str = "Daily text limit reached; replies resume tomorrow.";
/// Texts sent before giving up on reaching the budget.
const MAX_TEXTS: usize = 12;

/// Billed segments of the messages the gateway sent, as the simulator counted them, in all and
/// to `to`.
fn sim_segments(sim: &Sim, to: &str) -> anyhow::Result<(u64, u64)> {
    let mut all = 0;
    let mut to_phone = 0;
    for m in sim.messages()? {
        if !m["direction"]
            .as_str()
            .is_some_and(|d| d.starts_with("outbound"))
        {
            continue;
        }
        let segments: u64 = m["num_segments"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("a message without num_segments")?;
        all += segments;
        if m["to"] == to {
            to_phone += segments;
        }
    }
    Ok((all, to_phone))
}

fn bodies(sim: &Sim, phone: &str) -> anyhow::Result<Vec<String>> {
    Ok(sim
        .received(phone)?
        .iter()
        .filter_map(|m| m["body"].as_str().map(str::to_owned))
        .collect())
}

pub(crate) fn budget_owner_approval_and_usage(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-budget")?;
    let port = free_port()?;
    let sim = sim_for(bins, port, &[])?;
    let config = sms_config(
        port,
        &sim,
        json!({
            "dmPolicy": "pairing",
            "pairing": {"notifyOwner": OWNER},
            "budgets": {"segmentsPerSenderPerDay": 6, "warnAtPercent": 100,
                "pricePerSegment": {"1": {"amount": 0.0079, "currency": "USD"}}},
        }),
    );
    let gw = Gateway::start(bins, dir.path(), port, &config, &[])?;

    // A stranger texts: a pairing code for them, a notice for the owner.
    ensure!(
        sim.text(PHONE, NUMBER, "hello")? == 200,
        "first text refused"
    );
    let code = pairing_code(&sim.expect_reply(PHONE)?)?;
    let notice = sim.expect_reply(OWNER)?;
    ensure!(
        notice.contains(PHONE) && notice.contains(&format!("APPROVE {code}")),
        "owner notice {notice:?}"
    );
    // The owner approves by text; the texter is told and the held first text answered.
    sim.text(OWNER, NUMBER, &format!("approve {code}"))?;
    let approved = sim.expect_reply(OWNER)?;
    ensure!(approved.contains("approved"), "owner got {approved:?}");
    ensure!(
        sim.expect_reply(PHONE)? == "OpenClaw: your SMS access has been approved.",
        "no approval notice"
    );
    ensure!(
        sim.expect_reply(PHONE)? == "Echo: hello",
        "held text not answered"
    );

    // The conversation goes on until the budget stops a reply: the notice comes once.
    let mut stopped = false;
    for n in 0..MAX_TEXTS {
        sim.text(PHONE, NUMBER, &format!("message {n}"))?;
        let reply = sim.expect_reply(PHONE)?;
        if reply == BUDGET_NOTICE {
            stopped = true;
            break;
        }
        ensure!(reply == format!("Echo: message {n}"), "reply {reply:?}");
    }
    ensure!(stopped, "the budget never stopped a reply");
    sim.text(PHONE, NUMBER, "still there?")?;
    no_reply(&sim, PHONE).context("a second notice on the same day")?;
    let received = bodies(&sim, PHONE)?;
    ensure!(
        received.iter().filter(|b| *b == BUDGET_NOTICE).count() == 1,
        "notices: {received:?}"
    );
    let owner_texts = bodies(&sim, OWNER)?;
    let told = owner_texts
        .iter()
        .filter(|b| b.contains("reached today's limit"))
        .count();
    ensure!(
        told == 1,
        "the owner was told {told} times: {owner_texts:?}"
    );

    // `channels status` shows the stop, `sms usage` agrees with the simulator.
    let status: Value = serde_json::from_str(&gw.cli_ok(&["channels", "status", "--json"])?)?;
    let row = &status["channelAccounts"]["sms"][0];
    let stops = row["budget"]["stoppedToday"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        stops.len() == 2 && stops.iter().all(|s| s["sender"] == PHONE),
        "status budget: {}",
        row["budget"]
    );
    let usage: Value = serde_json::from_str(&gw.cli_ok(&["sms", "usage", "--json"])?)?;
    let (all, to_phone) = sim_segments(&sim, PHONE)?;
    ensure!(
        usage["total"]["segments"] == all,
        "usage total {} vs simulator {all}",
        usage["total"]
    );
    let phone_row = usage["senders"]
        .as_array()
        .and_then(|s| s.iter().find(|r| r["sender"] == PHONE))
        .context("usage has no row for the texter")?;
    ensure!(
        phone_row["segments"] == to_phone,
        "usage for {PHONE} {phone_row} vs simulator {to_phone}"
    );
    ensure!(
        usage["total"]["estimatedCost"]["USD"].as_f64().is_some(),
        "no estimated cost: {}",
        usage["total"]
    );
    let metrics = gw.metrics()?;
    ensure!(
        metrics.contains("openclaw_sms_budget_hits_total{account=\"default\",scope=\"sender\"} 2"),
        "budget hits metric missing"
    );
    Ok(())
}
