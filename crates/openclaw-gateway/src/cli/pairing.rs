//! `openclaw pairing list|approve`.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use openclaw_access_policy::PairingLimits;
use openclaw_sms::config::{AccountSettings, SmsAccounts};
use openclaw_sms::pipeline::{pairing_key, pairing_ttl_ms};
use serde_json::{Value, json};

use super::admin::{GatewayClient, block_on};
use super::{Ctx, print_json};
use crate::runtime::{now_ms, open_store, select_account};
use crate::server::request_json;

#[derive(Debug, Subcommand)]
pub(crate) enum PairingCommand {
    /// List pending pairing requests: `openclaw pairing list sms`.
    List {
        /// The channel (`sms`).
        channel: Option<String>,
        /// The account (default: the default account).
        #[arg(long)]
        account: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a sender: `openclaw pairing approve sms <CODE>`.
    Approve {
        /// `sms CODE`, or just `CODE` (with or without `--channel sms`).
        #[arg(num_args = 1..=2, value_names = ["CHANNEL", "CODE"], required = true)]
        args: Vec<String>,
        /// The channel (`sms`), as upstream's `--channel sms <CODE>`.
        #[arg(long)]
        channel: Option<String>,
        /// The account (default: the default account).
        #[arg(long)]
        account: Option<String>,
        /// Text the sender that access was approved.
        #[arg(long)]
        notify: bool,
    },
}

fn check_channel(channel: Option<&str>) -> anyhow::Result<()> {
    match channel {
        None | Some("sms") => Ok(()),
        Some(other) => bail!("unknown pairing channel \"{other}\"; this gateway pairs: sms"),
    }
}

pub(crate) fn run(ctx: Ctx, cmd: PairingCommand) -> anyhow::Result<ExitCode> {
    block_on(async move {
        match cmd {
            PairingCommand::List {
                channel,
                account,
                json,
            } => {
                check_channel(channel.as_deref())?;
                list(&ctx, account.as_deref(), json).await
            }
            PairingCommand::Approve {
                args,
                channel: channel_flag,
                account,
                notify,
            } => {
                let (channel, code) = match (args.as_slice(), channel_flag.as_deref()) {
                    ([code], flag) => (flag, code.clone()),
                    ([channel, code], None) => (Some(channel.as_str()), code.clone()),
                    _ => bail!(
                        "give the channel once: openclaw pairing approve sms <CODE> (or --channel sms <CODE>)"
                    ),
                };
                check_channel(channel)?;
                approve(&ctx, account.as_deref(), &code, notify).await
            }
        }
    })?
}

async fn list(ctx: &Ctx, account: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    let client = GatewayClient::new(ctx)?;
    let requests: Vec<Value> = if client.status().await.is_some() {
        let query = account.map(|a| format!("?account={a}")).unwrap_or_default();
        let answer = client.get(&format!("/pairing{query}")).await?;
        answer
            .get("requests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    } else {
        let accounts = ctx.sms_accounts()?;
        let (account_id, _) = pairing_account(&accounts, account)?;
        let store = open_store(ctx, &ctx.paths.state_dir, now_ms()).await?;
        let ttl = pairing_ttl_ms(&PairingLimits::default());
        let requests = store
            .list_requests(&pairing_key(&account_id), now_ms(), ttl)
            .await?;
        requests.iter().map(request_json).collect()
    };
    if as_json {
        print_json(&json!({"channel": "sms", "requests": requests}))?;
        return Ok(ExitCode::SUCCESS);
    }
    if requests.is_empty() {
        outln!("No pending sms pairing requests.");
        return Ok(ExitCode::SUCCESS);
    }
    outln!("Pairing requests ({})", requests.len());
    let rows: Vec<[String; 4]> = requests
        .iter()
        .map(|r| {
            [
                r["code"].as_str().unwrap_or_default().to_owned(),
                r["phoneNumber"].as_str().unwrap_or_default().to_owned(),
                r["meta"].to_string(),
                r["createdAt"].as_str().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    print_table(&["Code", "phoneNumber", "Meta", "Requested"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// The account whose pairing list a command reads: `--account`, else the default account.
/// With no SMS account in the config at all, upstream's `default` list (pairing lists live in
/// the state directory, so they can be read and approved before the channel is configured).
fn pairing_account<'a>(
    accounts: &'a SmsAccounts,
    account: Option<&str>,
) -> anyhow::Result<(String, Option<&'a AccountSettings>)> {
    if account.is_none() && accounts.accounts.is_empty() {
        return Ok((accounts.default_account.clone(), None));
    }
    let settings = select_account(accounts, account)?;
    Ok((settings.id.clone(), Some(settings)))
}

/// Prints rows under a header, columns padded to their widest cell.
pub(crate) fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths: [usize; N] = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// What `pairing approve` says when no gateway answers on its port: it works on the state
/// directory instead, and a gateway on another port is named (a `gateway --dev --port …`
/// keeps its pairing requests in its own, temporary, state directory).
async fn fallback_note(ctx: &Ctx) -> String {
    let port = super::gateway::gateway_port(ctx, ctx.gateway_port);
    let mut note = format!(
        "note: no gateway answers on port {port}, so the approval goes to the state directory {}",
        ctx.paths.state_dir.display()
    );
    // An untrusted socket directory was already refused before the fallback; here it only
    // means no other gateway to name.
    let others: Vec<String> = GatewayClient::all_running()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|status| status["port"].as_u64())
        .filter(|p| *p != u64::from(port))
        .map(|p| p.to_string())
        .collect();
    if !others.is_empty() {
        note.push_str(&format!(
            "; a gateway runs on port {}: to approve there, pass --gateway-port {}",
            others.join(", "),
            others[0]
        ));
    }
    note
}

/// What `approve` adds when the sender's first message waits for the approval.
const HELD_MESSAGE_LINE: &str =
    "Their first message is queued and will be answered by the gateway.";

async fn approve(
    ctx: &Ctx,
    account: Option<&str>,
    code: &str,
    notify: bool,
) -> anyhow::Result<ExitCode> {
    let code = code.trim().to_ascii_uppercase();
    if code.is_empty() {
        bail!("the pairing code is empty: run `openclaw pairing list sms` to see pending codes");
    }
    let client = GatewayClient::new(ctx)?;
    if client.status().await.is_some() {
        let answer = client
            .post(
                "/pairing/approve",
                &json!({"account": account, "code": code, "notify": notify}),
            )
            .await?;
        let sender = answer["sender"].as_str().unwrap_or_default();
        outln!("Approved sms sender {sender}.");
        if notify && answer["notified"].as_bool() != Some(true) {
            eprintln!("warning: the approval notice could not be sent to {sender}");
        }
        if answer["heldMessage"] == true {
            outln!("{HELD_MESSAGE_LINE}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let accounts = ctx.sms_accounts()?;
    let (account_id, settings) = pairing_account(&accounts, account)?;
    if notify && settings.is_none() {
        bail!(
            "--notify needs a configured SMS account to text from: set channels.sms (see `openclaw config patch`) or TWILIO_* environment variables, or approve without --notify"
        );
    }
    eprintln!("{}", fallback_note(ctx).await);
    let store = open_store(ctx, &ctx.paths.state_dir, now_ms()).await?;
    let ttl = pairing_ttl_ms(&PairingLimits::default());
    let Some(request) = store
        .approve(&pairing_key(&account_id), &code, now_ms(), ttl)
        .await?
    else {
        bail!(
            "No pending pairing request found for code: {code} (codes expire after one hour; see `openclaw pairing list sms`)"
        );
    };
    outln!("Approved sms sender {}.", request.sender_id);
    if let Some(settings) = settings.filter(|_| notify) {
        let reply_id = format!("notify:{}:{}:{}", settings.id, request.sender_id, now_ms());
        let report = crate::runtime::send_direct(
            ctx,
            settings,
            &store,
            &request.sender_id,
            openclaw_sms::texts::APPROVED_NOTICE,
            &reply_id,
        )
        .await
        .context("send the approval notice")?;
        if let Some(err) = report.first_error() {
            eprintln!("warning: the approval notice could not be sent: {err}");
        }
    }
    if request.held_event_id.is_some() {
        outln!("{HELD_MESSAGE_LINE}");
    }
    drop(store);
    Ok(ExitCode::SUCCESS)
}
