//! `openclaw plugins install|list`. The SMS channel is built into this binary, so installing it
//! records it as installed and enabled in the config (idempotent).

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use serde_json::{Value, json};

use super::{Ctx, print_json};
use crate::config_file::merge_patch;

/// Plugins built into this binary: (package, plugin id, description).
pub(crate) const BUILT_IN: &[(&str, &str, &str)] = &[(
    "@openclaw/sms",
    "sms",
    "Twilio SMS/MMS channel plugin for OpenClaw messages.",
)];

#[derive(Debug, Subcommand)]
pub(crate) enum PluginsCommand {
    /// Install (enable) a plugin: `@openclaw/sms`.
    Install {
        /// Package name (`@openclaw/sms`, or just `sms`).
        spec: String,
    },
    /// List the built-in plugins and whether each is installed.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(mut ctx: Ctx, cmd: PluginsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginsCommand::Install { spec } => {
            let spec = spec.trim();
            let name = spec.strip_prefix("clawhub:").unwrap_or(spec);
            // Drop a version: `@openclaw/sms@1.0.0` or `sms@1.0` (a scope's leading `@` stays).
            let name = match name.char_indices().skip(1).find(|(_, c)| *c == '@') {
                Some((i, _)) => &name[..i],
                None => name,
            };
            let Some((package, id, _)) =
                BUILT_IN.iter().find(|(p, id, _)| *p == name || *id == name)
            else {
                let known: Vec<&str> = BUILT_IN.iter().map(|(p, _, _)| *p).collect();
                bail!(
                    "unknown plugin \"{spec}\"; built-in plugins: {}",
                    known.join(", ")
                );
            };
            let patch = json!({"plugins": {"entries": {*id: {"enabled": true, "package": package, "source": "builtin"}}}});
            let _lock = ctx.doc.reload_locked()?;
            let changes = merge_patch(&mut ctx.doc.value, &patch);
            if changes.is_empty() {
                outln!("Plugin {package} is already installed and enabled.");
            } else {
                ctx.doc.save()?;
                outln!(
                    "Installed plugin {package} (built in) and enabled it in {}.",
                    ctx.paths.config.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::List { json: as_json } => list(&ctx, as_json),
    }
}

/// Where the SMS channel stands, whatever `plugins.entries` says: it is built in, and runs
/// where `channels.sms` has an enabled, configured account.
fn sms_channel_state(ctx: &Ctx) -> anyhow::Result<&'static str> {
    let client = super::admin::GatewayClient::new(ctx)?;
    let status = super::admin::block_on(client.status())?;
    let running = status.is_some_and(|s| s["accounts"].as_array().is_some_and(|a| !a.is_empty()));
    if running {
        return Ok("running");
    }
    let configured = ctx
        .sms_accounts()?
        .accounts
        .iter()
        .any(|a| a.enabled && a.is_configured());
    Ok(if configured {
        "configured"
    } else {
        "not-configured"
    })
}

fn list(ctx: &Ctx, as_json: bool) -> anyhow::Result<ExitCode> {
    let entries = ctx.doc.value.pointer("/plugins/entries");
    let channel = sms_channel_state(ctx)?;
    let rows: Vec<Value> = BUILT_IN
        .iter()
        .map(|(package, id, description)| {
            let entry = entries.and_then(|e| e.get(*id));
            let installed = entry.is_some();
            let enabled = entry
                .and_then(|e| e.get("enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(installed);
            json!({"id": id, "package": package, "installed": installed, "enabled": enabled,
                   "channel": channel, "description": description})
        })
        .collect();
    if as_json {
        print_json(&json!({"plugins": rows}))?;
        return Ok(ExitCode::SUCCESS);
    }
    for row in rows {
        let plugin = match (row["installed"].as_bool(), row["enabled"].as_bool()) {
            (Some(true), Some(true)) => "installed",
            (Some(true), _) => "installed, entry disabled",
            _ => "built in, not installed",
        };
        let channel = match channel {
            "running" => "channel running in the local gateway",
            "configured" => "channel configured",
            _ => "channel not configured",
        };
        outln!(
            "{}  {}  ({plugin}; {channel})  {}",
            row["id"].as_str().unwrap_or(""),
            row["package"].as_str().unwrap_or(""),
            row["description"].as_str().unwrap_or("")
        );
        if row["enabled"] == false {
            outln!(
                "  note: plugins.entries.{}.enabled is false, but the channel is built in and follows channels.sms: set channels.sms.enabled to false to turn it off",
                row["id"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
