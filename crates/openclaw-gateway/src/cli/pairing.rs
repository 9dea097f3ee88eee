//! `openclaw pairing list|approve|deny|revoke`: through the running gateway's admin API when
//! one answers, else on the state directory.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use openclaw_access_policy::PairingLimits;
use openclaw_sms::config::{AccountSettings, SmsAccounts};
use openclaw_sms::owner::{Approval, approve_and_notify, deny as deny_request};
use openclaw_sms::pipeline::{pairing_key, pairing_ttl_ms};
use openclaw_sms_target::E164;
use openclaw_store::Store;
use serde_json::{Value, json};

use super::admin::{GatewayClient, block_on};
use super::{Ctx, print_json};
use crate::runtime::{now_ms, open_store, select_account};
use crate::server::request_json;

#[derive(Debug, Subcommand)]
pub(crate) enum PairingCommand {
    /// List pending pairing requests: `openclaw pairing list sms` (`--approved`: the approved
    /// senders).
    List {
        /// The channel (`sms`).
        channel: Option<String>,
        /// The account (default: the default account).
        #[arg(long)]
        account: Option<String>,
        /// List the approved senders instead of the pending requests.
        #[arg(long)]
        approved: bool,
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
    /// Deny a pending request: `openclaw pairing deny sms <CODE>` (its held message is dropped).
    Deny {
        /// `sms CODE`, or just `CODE` (with or without `--channel sms`).
        #[arg(num_args = 1..=2, value_names = ["CHANNEL", "CODE"], required = true)]
        args: Vec<String>,
        /// The channel (`sms`).
        #[arg(long)]
        channel: Option<String>,
        /// The account (default: the default account).
        #[arg(long)]
        account: Option<String>,
    },
    /// Revoke an approved sender: `openclaw pairing revoke sms +15551234567`.
    Revoke {
        /// `sms NUMBER`, or just `NUMBER` (with or without `--channel sms`).
        #[arg(num_args = 1..=2, value_names = ["CHANNEL", "NUMBER"], required = true)]
        args: Vec<String>,
        /// The channel (`sms`).
        #[arg(long)]
        channel: Option<String>,
        /// The account (default: the default account).
        #[arg(long)]
        account: Option<String>,
        /// Also forget the stored conversation history with this sender.
        #[arg(long)]
        forget: bool,
    },
}

/// `[CHANNEL] VALUE` with an optional `--channel`: the channel and the value.
fn channel_and_value<'a>(
    args: &'a [String],
    flag: Option<&'a str>,
    usage: &str,
) -> anyhow::Result<(Option<&'a str>, String)> {
    let (channel, value) = match (args, flag) {
        ([value], flag) => (flag, value.clone()),
        ([channel, value], None) => (Some(channel.as_str()), value.clone()),
        _ => bail!("give the channel once: {usage}"),
    };
    check_channel(channel)?;
    Ok((channel, value))
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
                approved,
                json,
            } => {
                check_channel(channel.as_deref())?;
                if approved {
                    list_approved(&ctx, account.as_deref(), json).await
                } else {
                    list(&ctx, account.as_deref(), json).await
                }
            }
            PairingCommand::Approve {
                args,
                channel,
                account,
                notify,
            } => {
                let (_, code) = channel_and_value(
                    &args,
                    channel.as_deref(),
                    "openclaw pairing approve sms <CODE> (or --channel sms <CODE>)",
                )?;
                approve(&ctx, account.as_deref(), &code, notify).await
            }
            PairingCommand::Deny {
                args,
                channel,
                account,
            } => {
                let (_, code) = channel_and_value(
                    &args,
                    channel.as_deref(),
                    "openclaw pairing deny sms <CODE> (or --channel sms <CODE>)",
                )?;
                deny(&ctx, account.as_deref(), &code).await
            }
            PairingCommand::Revoke {
                args,
                channel,
                account,
                forget,
            } => {
                let (_, number) = channel_and_value(
                    &args,
                    channel.as_deref(),
                    "openclaw pairing revoke sms <NUMBER> (or --channel sms <NUMBER>)",
                )?;
                revoke(&ctx, account.as_deref(), &number, forget).await
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
        let (account_id, settings) = pairing_account(&accounts, account)?;
        let store = open_store(ctx, &ctx.paths.state_dir, now_ms()).await?;
        let ttl = pairing_ttl_ms(&limits_of(settings));
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
async fn fallback_note(ctx: &Ctx, what: &str, verb: &str) -> String {
    let port = super::gateway::gateway_port(ctx, ctx.gateway_port);
    let mut note = format!(
        "note: no gateway answers on port {port}, so the {what} goes to the state directory {}",
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
            "; a gateway runs on port {}: to {verb} there, pass --gateway-port {}",
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
    eprintln!("{}", fallback_note(ctx, "approval", "approve").await);
    let store = open_store(ctx, &ctx.paths.state_dir, now_ms()).await?;
    let ttl = pairing_ttl_ms(&limits_of(settings));
    let sender = match settings.filter(|_| notify) {
        Some(settings) => Some(
            crate::runtime::direct_sender(ctx, settings, &store)
                .context("set up the approval notice")?,
        ),
        None => None,
    };
    let notify_with = sender
        .as_ref()
        .map(|(runtime, outbound)| (outbound, runtime));
    let Some(Approval { request, notified }) =
        approve_and_notify(&*store, &account_id, &code, now_ms(), ttl, notify_with).await?
    else {
        bail!(
            "No pending pairing request found for code: {code} (codes expire after {}; see `openclaw pairing list sms`)",
            ttl_words(ttl)
        );
    };
    outln!("Approved sms sender {}.", request.sender_id);
    if sender.is_some() && !notified {
        eprintln!(
            "warning: the approval notice could not be sent to {}",
            request.sender_id
        );
    }
    if request.held_event_id.is_some() {
        outln!("{HELD_MESSAGE_LINE}");
    }
    drop(store);
    Ok(ExitCode::SUCCESS)
}

/// The pairing limits of an account (the defaults without a configured account).
fn limits_of(settings: Option<&AccountSettings>) -> PairingLimits {
    settings.map(|s| s.pairing.limits).unwrap_or_default()
}

/// A code lifetime in words: "one hour" (the default), else "N minutes".
fn ttl_words(ttl_ms: i64) -> String {
    match ttl_ms / 60_000 {
        60 => "one hour".to_owned(),
        1 => "one minute".to_owned(),
        minutes => format!("{minutes} minutes"),
    }
}

async fn deny(ctx: &Ctx, account: Option<&str>, code: &str) -> anyhow::Result<ExitCode> {
    let code = code.trim().to_ascii_uppercase();
    if code.is_empty() {
        bail!("the pairing code is empty: run `openclaw pairing list sms` to see pending codes");
    }
    let client = GatewayClient::new(ctx)?;
    if client.status().await.is_some() {
        let answer = client
            .post("/pairing/deny", &json!({"account": account, "code": code}))
            .await?;
        outln!(
            "Denied sms sender {}.",
            answer["sender"].as_str().unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let accounts = ctx.sms_accounts()?;
    let (account_id, settings) = pairing_account(&accounts, account)?;
    eprintln!("{}", fallback_note(ctx, "denial", "deny").await);
    let store = open_store(ctx, &ctx.paths.state_dir, now_ms()).await?;
    let ttl = pairing_ttl_ms(&limits_of(settings));
    let Some(request) = deny_request(&*store, &account_id, &code, now_ms(), ttl).await? else {
        bail!(
            "No pending pairing request found for code: {code} (codes expire after {}; see `openclaw pairing list sms`)",
            ttl_words(ttl)
        );
    };
    outln!("Denied sms sender {}.", request.sender_id);
    drop(store);
    Ok(ExitCode::SUCCESS)
}

/// What [`revoke_in`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Revoked {
    /// The sender had been approved (its allow entry is gone now).
    pub(crate) revoked: bool,
    /// History lines forgotten (`--forget`).
    pub(crate) forgotten: u64,
}

/// Revokes `number` on `account`'s pairing list (and forgets its history when asked): the one
/// revoke of the admin API and of the state-directory fallback.
pub(crate) async fn revoke_in(
    store: &dyn Store,
    account: &str,
    number: &str,
    forget: bool,
    now: i64,
) -> anyhow::Result<Revoked> {
    let number = E164::parse(number).with_context(|| {
        format!(
            "\"{}\" is not a phone number in E.164 (+15551234567)",
            number.chars().take(40).collect::<String>()
        )
    })?;
    let revoked = store
        .revoke(&pairing_key(account), number.as_str(), now)
        .await?;
    let forgotten = if forget {
        store.clear_history(account, number.as_str()).await?
    } else {
        0
    };
    Ok(Revoked { revoked, forgotten })
}

async fn revoke(
    ctx: &Ctx,
    account: Option<&str>,
    number: &str,
    forget: bool,
) -> anyhow::Result<ExitCode> {
    let number = E164::parse(number.trim())
        .with_context(|| "give the sender's number in E.164, e.g. +15551234567".to_owned())?;
    let client = GatewayClient::new(ctx)?;
    let revoked = if client.status().await.is_some() {
        let answer = client
            .post(
                "/pairing/revoke",
                &json!({"account": account, "sender": number.as_str(), "forget": forget}),
            )
            .await?;
        Revoked {
            revoked: answer["revoked"].as_bool() == Some(true),
            forgotten: answer["historyForgotten"].as_u64().unwrap_or(0),
        }
    } else {
        let accounts = ctx.sms_accounts()?;
        let (account_id, _) = pairing_account(&accounts, account)?;
        eprintln!("{}", fallback_note(ctx, "revocation", "revoke").await);
        let store = open_store(ctx, &ctx.paths.state_dir, now_ms()).await?;
        revoke_in(&*store, &account_id, number.as_str(), forget, now_ms()).await?
    };
    if revoked.revoked {
        outln!("Revoked sms sender {number}: their next text gets the policy's default treatment.");
    } else {
        outln!("sms sender {number} was not approved (nothing to revoke).");
    }
    if forget {
        outln!("Forgot {} stored history lines.", revoked.forgotten);
    }
    Ok(ExitCode::SUCCESS)
}

async fn list_approved(
    ctx: &Ctx,
    account: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let client = GatewayClient::new(ctx)?;
    let approved: Vec<Value> = if client.status().await.is_some() {
        let query = account.map(|a| format!("?account={a}")).unwrap_or_default();
        let answer = client.get(&format!("/pairing/approved{query}")).await?;
        answer
            .get("approved")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    } else {
        let accounts = ctx.sms_accounts()?;
        let (account_id, _) = pairing_account(&accounts, account)?;
        let store = open_store(ctx, &ctx.paths.state_dir, now_ms()).await?;
        let entries = store.allow_entries(&pairing_key(&account_id)).await?;
        entries.iter().map(crate::server::approved_json).collect()
    };
    if as_json {
        print_json(&json!({"channel": "sms", "approved": approved}))?;
        return Ok(ExitCode::SUCCESS);
    }
    if approved.is_empty() {
        outln!("No approved sms senders.");
        return Ok(ExitCode::SUCCESS);
    }
    outln!("Approved senders ({})", approved.len());
    let rows: Vec<[String; 2]> = approved
        .iter()
        .map(|r| {
            [
                r["phoneNumber"].as_str().unwrap_or_default().to_owned(),
                r["approvedAt"].as_str().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    print_table(&["phoneNumber", "Approved"], &rows);
    Ok(ExitCode::SUCCESS)
}
