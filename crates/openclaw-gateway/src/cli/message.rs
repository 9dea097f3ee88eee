//! `openclaw message send` (now, `--at`, `--after`; held by quiet hours) and
//! `openclaw message scheduled list|cancel`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use openclaw_sms_target::{ParseOptions, Target, TargetPrefix};
use serde_json::{Value, json};

use super::admin::{GatewayClient, block_on};
use super::{Ctx, print_json};
use crate::runtime::{now_ms, open_store, select_account, send_direct};
use crate::scheduler::{
    LIST_LIMIT, ScheduleRequest, check_asked, is_id, new_id, parse_after, parse_at, plan,
    schedule_in, scheduled_json,
};

#[derive(Debug, Subcommand)]
pub(crate) enum MessageCommand {
    /// Send a text: `--channel sms --target sms:+1… --message "…"`, or `--target twilio-sms:+1…`.
    Send {
        /// The channel (`sms`); implied by a `twilio-sms:` target.
        #[arg(long)]
        channel: Option<String>,
        /// The recipient: `sms:+1…` (with --channel sms), `twilio-sms:+1…`, or `+1…` (with --channel sms).
        #[arg(long)]
        target: String,
        /// The text (markdown is turned into plain SMS text).
        #[arg(long)]
        message: String,
        /// The account (default: the default account).
        #[arg(long)]
        account: Option<String>,
        /// Send at this time: `2026-12-04T09:00` (this machine's zone), `2026-12-04T09:00[Europe/Paris]`, or with an offset.
        #[arg(long, conflicts_with = "after")]
        at: Option<String>,
        /// Send after this long: `90s`, `45m`, `2h`, `1d`, `1h30m`.
        #[arg(long)]
        after: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Scheduled sends (and messages held by quiet hours): `list`, `cancel ID`.
    #[command(subcommand)]
    Scheduled(ScheduledCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScheduledCommand {
    /// List waiting sends, earliest first.
    List {
        /// Only this account's.
        #[arg(long)]
        account: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a waiting send by its id.
    Cancel {
        /// The id `message send` or `message scheduled list` printed.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Checks the target against the channel rules and returns the number.
pub(crate) fn resolve_target(channel: Option<&str>, target: &str) -> anyhow::Result<String> {
    let parsed = Target::parse(target, &ParseOptions::new())?;
    match (channel.map(str::trim), parsed.prefix()) {
        (Some(c), _) if c != "sms" => bail!("unknown channel \"{c}\"; this gateway sends on: sms"),
        (None, TargetPrefix::Sms) => bail!(
            "the sms: prefix belongs to iMessage's carrier-SMS delivery, so it does not select this channel; add --channel sms, or write the target as twilio-sms:{}",
            parsed.number()
        ),
        (None, TargetPrefix::None) => bail!(
            "no channel for target {target}: add --channel sms, or write the target as twilio-sms:{}",
            parsed.number()
        ),
        _ => Ok(parsed.number().to_string()),
    }
}

/// The asked time of `--at` / `--after`, checked: unix ms and the zone it was written in.
fn asked_time(
    at: Option<&str>,
    after: Option<&str>,
) -> anyhow::Result<Option<(i64, Option<String>)>> {
    let local = jiff::tz::TimeZone::system();
    let now = now_ms();
    let asked = match (at, after) {
        (Some(at), _) => Some(parse_at(at, &local).map_err(anyhow::Error::msg)?),
        (None, Some(after)) => Some((
            parse_after(after, now, &local).map_err(anyhow::Error::msg)?,
            local.iana_name().map(str::to_owned),
        )),
        (None, None) => None,
    };
    if let Some((due, _)) = &asked {
        check_asked(*due, now).map_err(anyhow::Error::msg)?;
    }
    Ok(asked)
}

pub(crate) fn run(ctx: Ctx, cmd: MessageCommand) -> anyhow::Result<ExitCode> {
    let (channel, target, message, account, at, after, json) = match cmd {
        MessageCommand::Send {
            channel,
            target,
            message,
            account,
            at,
            after,
            json,
        } => (channel, target, message, account, at, after, json),
        MessageCommand::Scheduled(cmd) => return run_scheduled(ctx, cmd),
    };
    let to = resolve_target(channel.as_deref(), &target)?;
    if message.trim().is_empty() {
        bail!("--message is empty: SMS send requires non-empty text");
    }
    let asked = asked_time(at.as_deref(), after.as_deref())?;
    block_on(async move {
        let client = GatewayClient::new(&ctx)?;
        let report: Value = if client.status().await.is_some() {
            let (due_at, zone) = asked.clone().unzip();
            client
                .post(
                    "/send",
                    &json!({"account": account, "to": to, "text": message, "dueAt": due_at, "zone": zone.flatten()}),
                )
                .await?
        } else {
            let accounts = ctx.sms_accounts()?;
            let settings = select_account(&accounts, account.as_deref())?;
            if !settings.is_configured() {
                bail!(
                    "account {}: {}",
                    settings.id,
                    openclaw_sms::config::NOT_CONFIGURED_REASON
                );
            }
            let store = open_store(&ctx, &ctx.paths.state_dir, now_ms()).await?;
            let now = now_ms();
            if let Some(planned) = plan(settings, &to, asked, now) {
                let id = new_id();
                let request = ScheduleRequest {
                    reply_id: format!("sched:{id}"),
                    id,
                    account: settings.id.clone(),
                    to: to.clone(),
                    text: message.clone(),
                    planned,
                    now,
                };
                let send = schedule_in(&*store, request).await?;
                drop(store);
                let report = json!({"ok": true, "channel": "sms", "account": settings.id, "to": to, "scheduled": scheduled_json(&send)});
                return print_report(&report, json);
            }
            let reply_id = format!("cli:{}:{}:{}", settings.id, now_ms(), rand::random::<u64>());
            let report = send_direct(&ctx, settings, &store, &to, &message, &reply_id).await?;
            drop(store);
            crate::server::report_json(&settings.id, &to, &report)
        };
        print_report(&report, json)
    })?
}

fn print_report(report: &Value, as_json: bool) -> anyhow::Result<ExitCode> {
    let ok = report["ok"].as_bool() == Some(true);
    if as_json {
        print_json(report)?;
    } else if let Some(send) = report.get("scheduled") {
        outln!("{}", scheduled_line(send));
    } else {
        let parts = report["parts"].as_array().cloned().unwrap_or_default();
        let count = parts.len();
        for (i, part) in parts.iter().enumerate() {
            let segments = part["segments"].as_u64().unwrap_or(0);
            let noun = if segments == 1 { "segment" } else { "segments" };
            match part["status"].as_str() {
                Some("sent") => outln!(
                    "Sent part {}/{count} to {}: {} ({segments} {noun}, {})",
                    i + 1,
                    report["to"].as_str().unwrap_or_default(),
                    part["messageSid"].as_str().unwrap_or_default(),
                    part["encoding"].as_str().unwrap_or_default()
                ),
                // The error itself is the command's final line.
                Some("failed") => outln!("Part {}/{count} failed", i + 1),
                _ => outln!("Part {}/{count} not sent (an earlier part failed)", i + 1),
            }
        }
    }
    if ok {
        Ok(ExitCode::SUCCESS)
    } else {
        let error = report["parts"]
            .as_array()
            .and_then(|p| p.iter().find_map(|p| p["error"].as_str()))
            .unwrap_or("nothing was sent");
        bail!("SMS send failed: {error}")
    }
}

/// One line of a waiting send.
fn scheduled_line(send: &Value) -> String {
    let text = |k: &str| send[k].as_str().unwrap_or_default().to_owned();
    let why = match send["reason"].as_str() {
        Some("quiet_hours") => format!(
            "held by quiet hours until {} (zone {})",
            text("dueAt"),
            text("zone")
        ),
        _ => format!("scheduled for {}", text("dueAt")),
    };
    format!(
        "{} to {} ({}): {why} [{}]",
        text("id"),
        text("to"),
        text("account"),
        text("state")
    )
}

fn run_scheduled(ctx: Ctx, cmd: ScheduledCommand) -> anyhow::Result<ExitCode> {
    block_on(async move {
        let client = GatewayClient::new(&ctx)?;
        let running = client.status().await.is_some();
        match cmd {
            ScheduledCommand::List { account, json } => {
                let mut list: Value = if running {
                    client.get("/scheduled").await?
                } else {
                    let store = open_store(&ctx, &ctx.paths.state_dir, now_ms()).await?;
                    let sends = store.pending_scheduled(None, LIST_LIMIT).await?;
                    json!({"scheduled": sends.iter().map(scheduled_json).collect::<Vec<_>>()})
                };
                if let (Some(account), Some(sends)) =
                    (account.as_deref(), list["scheduled"].as_array_mut())
                {
                    sends.retain(|s| s["account"].as_str() == Some(account.trim()));
                }
                if json {
                    print_json(&list)?;
                } else {
                    let sends = list["scheduled"].as_array().cloned().unwrap_or_default();
                    if sends.is_empty() {
                        outln!("No scheduled sends.");
                    }
                    for send in &sends {
                        outln!("{}", scheduled_line(send));
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            ScheduledCommand::Cancel { id, json } => {
                let id = id.trim().to_ascii_lowercase();
                if !is_id(&id) {
                    bail!(
                        "{id:?} is not a scheduled send's id (32 hex characters, as `message scheduled list` prints)"
                    );
                }
                let send: Value = if running {
                    client.post("/scheduled/cancel", &json!({"id": id})).await?
                } else {
                    let store = open_store(&ctx, &ctx.paths.state_dir, now_ms()).await?;
                    match store.cancel_scheduled(&id, now_ms()).await? {
                        Some(send) => scheduled_json(&send),
                        None => bail!("no scheduled send with id {id}"),
                    }
                };
                if json {
                    print_json(&send)?;
                }
                match send["state"].as_str() {
                    Some("cancelled") => {
                        if !json {
                            outln!("Cancelled {id}.");
                        }
                        Ok(ExitCode::SUCCESS)
                    }
                    Some(state) => bail!("{id} was not cancelled: it is {state}"),
                    None => bail!("no scheduled send with id {id}"),
                }
            }
        }
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_rules() {
        let ok = |c: Option<&str>, t: &str| resolve_target(c, t).unwrap();
        let err = |c: Option<&str>, t: &str| resolve_target(c, t).unwrap_err().to_string();
        assert_eq!(ok(Some("sms"), "sms:+15551234567"), "+15551234567");
        assert_eq!(ok(None, "twilio-sms:+15551234567"), "+15551234567");
        assert_eq!(ok(Some("sms"), "+15551234567"), "+15551234567");
        assert!(err(None, "sms:+15551234567").contains("belongs to iMessage"));
        assert!(err(None, "sms:+15551234567").contains("twilio-sms:+15551234567"));
        assert!(err(None, "+15551234567").contains("add --channel sms"));
        assert!(err(Some("whatsapp"), "+15551234567").contains("unknown channel"));
        assert!(!err(Some("sms"), "whatsapp:+15551234567").is_empty());
    }
}
