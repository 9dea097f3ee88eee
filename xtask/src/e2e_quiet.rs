//! `cargo xtask e2e quiet_hours`: an automation send (the CLI through the running gateway)
//! during quiet hours is held durably and delivered through the simulator when the window
//! ends. The window is real wall-clock time in UTC and ends one to two minutes from now, so
//! the scenario takes at most about two minutes.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};

use crate::e2e::{PHONE, no_reply, sim_for};
use crate::procs::{Bins, Gateway, Scratch, free_port, sms_config};

/// `HH:MM` (UTC) of a unix-second time.
fn hhmm(secs: u64) -> String {
    let minutes = secs % 86_400 / 60;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

pub(crate) fn quiet_hours_hold_until_window_end(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-quiet")?;
    let port = free_port()?;
    let sim = sim_for(bins, port, &[])?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    // The window began an hour ago and ends at the start of the minute after next: 60 to
    // 120 seconds from now.
    let end = (now / 60 + 2) * 60;
    let quiet = json!({"start": hhmm(now - 3_600), "end": hhmm(end), "timeZone": "UTC"});
    let config = sms_config(port, &sim, json!({ "quietHours": quiet }));
    let gw = Gateway::start(bins, dir.path(), port, &config, &[])?;
    let status = gw.cli_ok(&["channels", "status", "--channel", "sms"])?;
    ensure!(
        status.contains("Quiet hours (started messages only):") && status.contains("in UTC"),
        "channels status does not show quiet hours: {status}"
    );
    let held = gw.cli_ok(&[
        "message",
        "send",
        "--target",
        &format!("twilio-sms:{PHONE}"),
        "--message",
        "good morning",
    ])?;
    ensure!(
        held.contains("held by quiet hours until") && held.contains("zone UTC"),
        "send said {held:?}"
    );
    // A second one, scheduled after the window, is listed and then cancelled.
    gw.cli_ok(&[
        "message",
        "send",
        "--target",
        &format!("twilio-sms:{PHONE}"),
        "--message",
        "never",
        "--after",
        "3h",
    ])?;
    let listed: Value =
        serde_json::from_str(&gw.cli_ok(&["message", "scheduled", "list", "--json"])?)?;
    let sends = listed["scheduled"]
        .as_array()
        .context("no scheduled list")?;
    ensure!(sends.len() == 2, "expected two waiting sends: {listed}");
    ensure!(
        sends[0]["reason"] == "quiet_hours" && sends[1]["reason"] == "at",
        "unexpected list: {listed}"
    );
    let later = sends[1]["id"].as_str().context("no id")?.to_owned();
    let cancelled = gw.cli_ok(&["message", "scheduled", "cancel", &later])?;
    ensure!(cancelled.contains("Cancelled"), "cancel said {cancelled:?}");
    no_reply(&sim, PHONE)?;
    // The simulator waits at most two minutes per ask: ask in slices until 30 s after the end.
    let deadline = Instant::now() + Duration::from_secs(end.saturating_sub(now) + 30);
    let reply = loop {
        if let Some(reply) = sim.next_reply(PHONE, Duration::from_secs(60))? {
            break reply;
        }
        ensure!(
            Instant::now() < deadline,
            "the held message was not delivered after the window"
        );
    };
    ensure!(reply == "good morning", "delivered {reply:?}");
    let delivered_at = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    ensure!(
        delivered_at >= end,
        "delivered at {delivered_at}, before the window's end {end}"
    );
    no_reply(&sim, PHONE)?;
    let left = gw.cli_ok(&["message", "scheduled", "list"])?;
    ensure!(left.contains("No scheduled sends."), "left: {left}");
    Ok(())
}
