//! `openclaw message send`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use openclaw_sms_target::{ParseOptions, Target, TargetPrefix};
use serde_json::{Value, json};

use super::admin::{GatewayClient, block_on};
use super::{Ctx, print_json};
use crate::runtime::{now_ms, open_store, select_account, send_direct};

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
        /// Print the result as JSON.
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

pub(crate) fn run(ctx: Ctx, cmd: MessageCommand) -> anyhow::Result<ExitCode> {
    let MessageCommand::Send {
        channel,
        target,
        message,
        account,
        json,
    } = cmd;
    let to = resolve_target(channel.as_deref(), &target)?;
    if message.trim().is_empty() {
        bail!("--message is empty: SMS send requires non-empty text");
    }
    block_on(async move {
        let client = GatewayClient::new(&ctx)?;
        let report: Value = if client.status().await.is_some() {
            client
                .post(
                    "/send",
                    &json!({"account": account, "to": to, "text": message}),
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
