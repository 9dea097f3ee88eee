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
        PluginsCommand::List { json: as_json } => {
            let entries = ctx.doc.value.pointer("/plugins/entries");
            let rows: Vec<Value> = BUILT_IN
                .iter()
                .map(|(package, id, description)| {
                    let entry = entries.and_then(|e| e.get(*id));
                    let installed = entry.is_some();
                    let enabled = entry.and_then(|e| e.get("enabled")).and_then(Value::as_bool).unwrap_or(installed);
                    json!({"id": id, "package": package, "installed": installed, "enabled": enabled, "description": description})
                })
                .collect();
            if as_json {
                print_json(&json!({"plugins": rows}))?;
            } else {
                for row in rows {
                    let state = match (row["installed"].as_bool(), row["enabled"].as_bool()) {
                        (Some(true), Some(true)) => "installed, enabled",
                        (Some(true), _) => "installed, disabled",
                        _ => "not installed",
                    };
                    outln!(
                        "{}  {}  ({state})  {}",
                        row["id"].as_str().unwrap_or(""),
                        row["package"].as_str().unwrap_or(""),
                        row["description"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
