//! `openclaw channels status|capabilities`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Subcommand;
use openclaw_sms::config::{AccountSettings, NOT_CONFIGURED_REASON};
use openclaw_sms::probe::{DEFAULT_PROBE_TIMEOUT, ProbeResult, probe};
use openclaw_twilio::escape::Escaped;
use serde_json::{Value, json};

use super::admin::{GatewayClient, block_on};
use super::{Ctx, print_json};
use crate::runtime::{account_runtime, all_warnings, now_ms, open_store, state_target};

/// What `channels dead-letters` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DeadLetterAction {
    /// Show the dead letters, oldest first.
    List,
    /// Put dead letters back into the queue.
    Resubmit,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ChannelsCommand {
    /// Per account: configured or not (and why), signature validation, webhook path, sender,
    /// policy, whether a local gateway runs it; with --probe, Twilio-side checks.
    Status {
        /// The channel (`sms`).
        #[arg(long, default_value = "sms")]
        channel: String,
        /// Run the Twilio-side probe.
        #[arg(long)]
        probe: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inbound messages that failed for good: `list` them, or `resubmit` one (`--id`) or all.
    DeadLetters {
        /// `list` or `resubmit`.
        #[arg(value_enum)]
        action: DeadLetterAction,
        /// The channel (`sms`).
        #[arg(long, default_value = "sms")]
        channel: String,
        /// The account (default: the default account).
        #[arg(long)]
        account: Option<String>,
        /// The dead letter to resubmit (its id from `list`).
        #[arg(long, conflicts_with = "all")]
        id: Option<i64>,
        /// Resubmit every dead letter of the account.
        #[arg(long)]
        all: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// What the channel can do, with a Twilio-side probe of each configured account.
    Capabilities {
        /// The channel (`sms`).
        #[arg(long, default_value = "sms")]
        channel: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(ctx: Ctx, cmd: ChannelsCommand) -> anyhow::Result<ExitCode> {
    if let ChannelsCommand::DeadLetters {
        action,
        channel,
        account,
        id,
        all,
        json,
    } = cmd
    {
        if channel != "sms" {
            bail!("unknown channel \"{channel}\"; this gateway has: sms");
        }
        return dead_letters(&ctx, action, account.as_deref(), id, all, json);
    }
    let (channel, probe_wanted, as_json, capabilities) = match cmd {
        ChannelsCommand::Status {
            channel,
            probe,
            json,
        } => (channel, probe, json, false),
        ChannelsCommand::Capabilities { channel, json } => (channel, true, json, true),
        ChannelsCommand::DeadLetters { .. } => unreachable!("handled above"),
    };
    if channel != "sms" {
        bail!("unknown channel \"{channel}\"; this gateway has: sms");
    }
    block_on(async move {
        let accounts = ctx.sms_accounts()?;
        let client = GatewayClient::new(&ctx)?;
        let running = client.status().await;
        let running_rows = gateway_rows(running.as_ref());
        let mut rows = Vec::new();
        // The config's accounts, each as the running gateway runs it when it does.
        for account in &accounts.accounts {
            if let Some(row) = running_rows
                .iter()
                .find(|r| r["accountId"] == account.id.as_str())
            {
                rows.push(row.clone());
                continue;
            }
            let mut row = account_json(account, all_warnings(account));
            if probe_wanted && account.enabled && account.is_configured() {
                row["probe"] = json!(run_probe(&ctx, account).await);
            }
            rows.push(row);
        }
        // Accounts only the running gateway has (a `gateway --dev`'s simulator account).
        for row in &running_rows {
            if !rows.iter().any(|r| r["accountId"] == row["accountId"]) {
                rows.push(row.clone());
            }
        }
        if probe_wanted {
            for row in rows.iter_mut().filter(|r| r["source"] == "gateway") {
                row["probe"] =
                    gateway_probe(&client, row["accountId"].as_str().unwrap_or_default()).await;
            }
        }
        // Today's budget use and the replies budgets stopped, from the state store.
        super::usage::attach_budgets(&ctx, running.as_ref(), &accounts, &mut rows).await;
        // Probe results, public URLs and the running gateway's rows quote URLs that may carry
        // `user:pass@`: every row is shown through the one redaction.
        let rows: Vec<Value> = rows.iter().map(crate::redact::shown_value).collect();
        // The agent behind SMS, when one is configured (the built-in echo needs no probe).
        let agent = if probe_wanted && !capabilities {
            let secrets = crate::secrets::SecretsRuntime::new(&ctx.doc.value, &ctx.env);
            Some(crate::agents::probe_agent(&ctx.doc.value, &secrets).await)
                .filter(|report| report["api"] != "echo")
        } else {
            None
        };
        // Where the state is: the running gateway's word, else the config's (not connected).
        let state = match running
            .as_ref()
            .map(|r| &r["state"])
            .filter(|s| s.is_object())
        {
            Some(state) => state.clone(),
            None => match state_target(&ctx, &ctx.paths.state_dir) {
                Ok(target) => target.json(),
                Err(err) => json!({"error": format!("{err:#}")}),
            },
        };
        if as_json {
            let caps = capabilities_json();
            let out = if capabilities {
                json!({"channel": "sms", "capabilities": caps, "accounts": rows})
            } else {
                let mut status = json!({
                    "channelOrder": ["sms"],
                    "channelLabels": {"sms": "SMS"},
                    "channels": {"sms": {"configured": rows.iter().any(|r| r["configured"] == true), "running": running.is_some()}},
                    "channelAccounts": {"sms": rows},
                    "channelDefaultAccountId": {"sms": accounts.default_account},
                    "state": state,
                });
                if let Some(agent) = &agent {
                    status["agent"] = agent.clone();
                }
                status
            };
            print_json(&out)?;
        } else {
            if capabilities {
                outln!(
                    "SMS (Twilio): Twilio-backed SMS/MMS with inbound webhooks and outbound replies."
                );
                outln!(
                    "Chat types: direct. Media: inbound MMS. Threads, reactions, edit, unsend: no."
                );
                outln!(
                    "Formatting: plain text (markdown removed), GSM-7 aware segments, long replies split."
                );
            }
            if !capabilities {
                outln!("{}", state_line(&state));
            }
            if let Some(agent) = &agent {
                outln!("{}", crate::agents::agent_line(agent));
            }
            if rows.is_empty() {
                outln!(
                    "No SMS account is configured. Set channels.sms (openclaw config patch) or TWILIO_* environment variables."
                );
            }
            for row in &rows {
                print_account(row);
            }
        }
        let failed = rows.iter().any(|r| r["probe"]["ok"] == false)
            || agent.as_ref().is_some_and(|a| a["ok"] == false);
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })?
}

async fn run_probe(ctx: &Ctx, account: &AccountSettings) -> ProbeResult {
    let runtime = match account_runtime(
        account,
        &ctx.doc.value,
        &ctx.env,
        openclaw_sms::AccountOptions::default(),
    ) {
        Ok(r) => r,
        Err(err) => {
            return ProbeResult::unavailable(format!("{err:#}"), Some(format!("{err:#}")));
        }
    };
    let store: Arc<dyn openclaw_store::Store> =
        match open_store(ctx, &ctx.paths.state_dir, now_ms()).await {
            Ok(s) => s,
            Err(_) => Arc::new(match openclaw_store::SqliteStore::open_in_memory() {
                Ok(s) => s,
                Err(err) => {
                    return ProbeResult::unavailable(err.to_string(), None);
                }
            }),
        };
    probe(&runtime, store.as_ref(), DEFAULT_PROBE_TIMEOUT).await
}

/// `State: postgres (db.example.com:5432/openclaw, schema gw)` from a state JSON.
fn state_line(state: &Value) -> String {
    if let Some(err) = state["error"].as_str() {
        return format!("State: {err}");
    }
    let backend = state["backend"].as_str().unwrap_or("unknown");
    let location = state["location"].as_str().unwrap_or("");
    match state["schema"].as_str() {
        Some(schema) => format!("State: {backend} ({location}, schema {schema})"),
        None => format!("State: {backend} ({location})"),
    }
}

fn capabilities_json() -> Value {
    json!({"chatTypes": ["direct"], "media": true, "threads": false, "reactions": false, "edit": false, "unsend": false, "reply": false, "effects": false, "blockStreaming": false, "textChunkLimit": 1500})
}

/// The rows of the accounts the running gateway runs, as it describes them (marked
/// `"source": "gateway"`, with where it runs).
fn gateway_rows(running: Option<&Value>) -> Vec<Value> {
    let Some(status) = running else {
        return Vec::new();
    };
    let gateway = json!({
        "pid": status["pid"],
        "devSimUrl": status["devSimUrl"],
    });
    status["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|row| row["accountId"].is_string())
        .map(|row| {
            let mut row = row.clone();
            row["source"] = json!("gateway");
            row["gateway"] = gateway.clone();
            row
        })
        .collect()
}

/// The probe of an account the running gateway runs, done by the gateway (it holds the
/// credentials, which a `--dev` gateway has in no config file).
async fn gateway_probe(client: &GatewayClient, account: &str) -> Value {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("account", account)
        .finish();
    match client.get(&format!("/probe?{query}")).await {
        Ok(result) if result.is_object() => result,
        Ok(_) => json!(ProbeResult::unavailable(
            "the running gateway gave no probe result".to_owned(),
            None,
        )),
        Err(err) => json!(ProbeResult::unavailable(
            format!("the running gateway could not probe: {err:#}"),
            None,
        )),
    }
}

/// The status row of one account from its settings (`running` false: the caller knows better;
/// `probe` null until one runs).
pub(crate) fn account_json(account: &AccountSettings, warnings: Vec<String>) -> Value {
    let token_status = match &account.auth_token {
        Some(t) if t.is_configured() => "configured",
        _ => "missing",
    };
    let signature = if !account.signature_validation {
        "disabled"
    } else if account.public_webhook_url.is_none() {
        "missing-public-url"
    } else {
        "configured"
    };
    let state = if !account.enabled {
        "disabled"
    } else if account.is_configured() {
        "configured"
    } else {
        "unconfigured"
    };
    // Probe results and the public URL quote URLs that may carry `user:pass@`.
    let mut row = crate::redact::shown_value(&json!({
        "accountId": account.id,
        "name": account.name.clone().unwrap_or_else(|| account.sender_label()),
        "enabled": account.enabled,
        "configured": account.is_configured(),
        "reason": (!account.is_configured()).then_some(NOT_CONFIGURED_REASON),
        "tokenStatus": token_status,
        "signatureValidation": signature,
        "webhookPath": account.webhook_path,
        "publicWebhookUrl": account.public_webhook_url,
        "sender": account.sender_label(),
        "dmPolicy": account.dm_policy,
        "running": false,
        "connected": false,
        "statusState": state,
        "warnings": warnings,
        "probe": Value::Null,
    }));
    if let Some(quiet) = &account.quiet_hours {
        row["quietHours"] = quiet_hours_json(quiet);
    }
    row
}

/// `quietHours` as status shows it: the window and which zone applies to whom.
fn quiet_hours_json(quiet: &openclaw_sms::quiet::QuietHours) -> Value {
    use openclaw_sms::quiet::QuietZone;
    let window = format!("{}-{}", quiet.start, quiet.end);
    let (zone, fallback, summary) = match &quiet.zone {
        QuietZone::Fixed(name) => (
            name.clone(),
            None,
            format!("{window} in {name} for every recipient"),
        ),
        QuietZone::Auto { fallback } => (
            "auto".to_owned(),
            Some(fallback.clone()),
            format!(
                "{window} in the recipient's zone when their number's region has one zone, else {fallback}"
            ),
        ),
    };
    json!({"start": quiet.start.to_string(), "end": quiet.end.to_string(), "timeZone": zone, "fallbackTimeZone": fallback, "summary": summary})
}

/// `yes`, `no`, or for the running gateway's own description `yes (pid 123, --dev with the
/// local Twilio at http://127.0.0.1:PORT)`.
fn running_line(row: &Value) -> String {
    if row["running"] != true {
        return "no".to_owned();
    }
    let gateway = &row["gateway"];
    let mut details = Vec::new();
    if let Some(pid) = gateway["pid"].as_u64() {
        details.push(format!("pid {pid}"));
    }
    if let Some(sim) = gateway["devSimUrl"].as_str() {
        details.push(format!("--dev with the local Twilio at {sim}"));
    }
    if details.is_empty() {
        "yes".to_owned()
    } else {
        format!("yes ({})", details.join(", "))
    }
}

fn print_account(row: &Value) {
    let s = |k: &str| row[k].as_str().unwrap_or("").to_owned();
    outln!();
    outln!(
        "Account {} ({}): {}",
        s("accountId"),
        s("name"),
        s("statusState")
    );
    if let Some(reason) = row["reason"].as_str() {
        outln!("  Not configured: {reason}");
    }
    outln!("  Sender: {}", s("sender"));
    outln!(
        "  Webhook path: {}   public URL: {}",
        s("webhookPath"),
        row["publicWebhookUrl"].as_str().unwrap_or("(not set)")
    );
    outln!("  Signature validation: {}", s("signatureValidation"));
    outln!("  DM policy: {}", s("dmPolicy"));
    if let Some(summary) = row["quietHours"]["summary"].as_str() {
        outln!("  Quiet hours (started messages only): {summary}");
    }
    outln!("  Running in a local gateway: {}", running_line(row));
    super::usage::print_budget(row);
    for warning in row["warnings"].as_array().into_iter().flatten() {
        outln!("  {}", warning.as_str().unwrap_or(""));
    }
    let probe = &row["probe"];
    if probe.is_null() {
        return;
    }
    if probe["ok"] == true {
        outln!("  Probe: ok");
    } else {
        outln!(
            "  Probe: failed ({})",
            probe["error"].as_str().unwrap_or("unknown")
        );
    }
    let webhook = &probe["webhook"];
    match webhook["status"].as_str() {
        Some("matches" | "messaging-service-matches") => outln!(
            "  Twilio SMS webhook: {}",
            webhook["configuredUrl"].as_str().unwrap_or("")
        ),
        Some(other) => match webhook["reason"].as_str() {
            // The reason says what to do (e.g. a service that defers to its numbers), unless
            // the probe error above already said it.
            Some(reason) if !probe["error"].as_str().is_some_and(|e| e.contains(reason)) => {
                outln!("  Twilio SMS webhook: {other} ({reason})");
            }
            _ => outln!("  Twilio SMS webhook: {other}"),
        },
        None => {}
    }
    if let Some(inbound) = probe.get("recentInbound").filter(|v| !v.is_null()) {
        let code = inbound["errorCode"]
            .as_u64()
            .map(|c| format!(" error={c}"))
            .unwrap_or_default();
        outln!(
            "  Recent inbound: {}{code}",
            inbound["status"].as_str().unwrap_or("unknown")
        );
    }
    if let Some(outbound) = probe.get("recentOutbound").filter(|v| !v.is_null()) {
        let code = outbound["errorCode"]
            .as_str()
            .map(|c| format!(" error={c}"))
            .unwrap_or_default();
        outln!(
            "  Recent outbound: {}{code}",
            outbound["status"].as_str().unwrap_or("unknown")
        );
    }
    for hint in probe["hints"].as_array().into_iter().flatten() {
        outln!("  Hint: {}", hint.as_str().unwrap_or(""));
    }
}

/// `channels dead-letters list|resubmit`: on the store of the running gateway when there is one
/// (its state directory comes from the admin socket), else on this config's state directory.
/// SQLite lets both processes use the file; a running gateway picks resubmitted messages up at
/// its next poll.
fn dead_letters(
    ctx: &Ctx,
    action: DeadLetterAction,
    account: Option<&str>,
    id: Option<i64>,
    all: bool,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let accounts = ctx.sms_accounts()?;
    let account_id = match account {
        Some(a) if a.trim().is_empty() => bail!("--account must not be blank"),
        Some(a) => a.trim().to_owned(),
        None => accounts.default_account.clone(),
    };
    if action == DeadLetterAction::Resubmit && id.is_none() && !all {
        bail!("resubmit needs --id <ID> (from `openclaw channels dead-letters list`) or --all");
    }
    block_on(async move {
        let running = GatewayClient::new(ctx)?.status().await;
        let state_dir = running
            .as_ref()
            .and_then(|s| s["stateDir"].as_str())
            .map_or_else(|| ctx.paths.state_dir.clone(), std::path::PathBuf::from);
        let store = open_store(ctx, &state_dir, now_ms()).await?;
        let letters = store.list_dead_letters(&account_id).await?;
        match action {
            DeadLetterAction::List => {
                let rows: Vec<Value> = letters
                    .iter()
                    .map(|d| {
                        json!({
                            "id": d.id.as_i64(),
                            "messageSid": d.event_id,
                            "lane": d.lane,
                            "receivedAt": super::iso_time(d.received_at),
                            "failedAt": super::iso_time(d.failed_at),
                            "attempts": d.attempts,
                            "reason": d.reason,
                            "lastError": d.last_error,
                        })
                    })
                    .collect();
                if as_json {
                    print_json(
                        &json!({"channel": "sms", "account": account_id, "deadLetters": rows}),
                    )?;
                } else if rows.is_empty() {
                    outln!("No dead letters for sms account {account_id}.");
                } else {
                    outln!("Dead letters of sms account {account_id} ({})", rows.len());
                    for r in &rows {
                        outln!(
                            "  {}  {}  {}  attempts={}  {}",
                            r["id"],
                            // Both came from a webhook (or quote one): one line each.
                            Escaped(r["messageSid"].as_str().unwrap_or_default()),
                            r["failedAt"].as_str().unwrap_or_default(),
                            r["attempts"],
                            Escaped(r["reason"].as_str().unwrap_or_default())
                        );
                    }
                }
            }
            DeadLetterAction::Resubmit => {
                let chosen: Vec<_> = letters
                    .iter()
                    .filter(|d| all || Some(d.id.as_i64()) == id)
                    .collect();
                if chosen.is_empty() {
                    bail!(
                        "no dead letter {} for sms account {account_id}; see `openclaw channels dead-letters list`",
                        id.map_or_else(|| "at all".to_owned(), |i| i.to_string())
                    );
                }
                for d in &chosen {
                    store.resubmit(d.id, now_ms()).await?;
                }
                outln!(
                    "Resubmitted {} message(s) to the queue of sms account {account_id}.",
                    chosen.len()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })?
}
