//! `openclaw config patch|get|validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::{Ctx, print_json, sms_accounts};
use crate::config_file::{self, Change, ChangeOp};
use crate::secrets::SecretsRuntime;
use crate::state::{Backend, StateSettings};

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Apply a JSON5 merge patch: objects merge, arrays and scalars replace, null deletes.
    Patch {
        /// The patch file (JSON5).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Validate the result (schema and secret resolvability) and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the value at a dotted path (`channels.sms.dmPolicy`); the whole config without one.
    Get {
        /// Dotted path.
        path: Option<String>,
        /// Print as JSON even for strings.
        #[arg(long)]
        json: bool,
    },
    /// Check the config: schema of channels.sms and resolvability of its secrets.
    Validate {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(ctx: Ctx, cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Patch {
            file,
            dry_run,
            json,
        } => patch(ctx, &file, dry_run, json),
        ConfigCommand::Get { path, json } => get(&ctx, path.as_deref(), json),
        ConfigCommand::Validate { json } => validate_cmd(&ctx, json),
    }
}

/// Every check a config must pass to be written: schema, then secret resolvability (exec
/// providers included: they run once here, as they will at start), then the agent.
pub(crate) fn validate(config: &Value, ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    crate::serve::ServerSettings::from_config(config)?;
    validate_state(config, ctx)?;
    let warnings = validate_channels(config, ctx)?;
    check_agent(config, ctx)?;
    Ok(warnings)
}

/// The `state` checks: schema, and resolvability of `state.url` when the backend needs it
/// (nothing connects: `openclaw state status` does).
fn validate_state(config: &Value, ctx: &Ctx) -> anyhow::Result<()> {
    let settings = StateSettings::from_config(config)?;
    if settings.backend == Backend::Postgres {
        settings.resolve_url(&SecretsRuntime::new(config, &ctx.env))?;
    }
    Ok(())
}

/// The `channels.sms` checks: schema, webhook paths, secrets of enabled accounts.
fn validate_channels(config: &Value, ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let accounts = sms_accounts(config, &ctx.env)?;
    openclaw_sms::config::check_webhook_paths(&accounts.runnable())?;
    let secrets = SecretsRuntime::new(config, &ctx.env);
    let mut warnings = Vec::new();
    for account in accounts.accounts.iter().filter(|a| a.enabled) {
        if let Some(token) = &account.auth_token {
            secrets.resolve(&format!("{}.authToken", account.config_path), token)?;
        }
        if let Some(secret) = &account.api_key_secret {
            secrets.resolve(&format!("{}.apiKeySecret", account.config_path), secret)?;
        }
        warnings.extend(account.warnings.iter().cloned());
        warnings.extend(account.plan_warnings());
    }
    Ok(warnings)
}

/// The agent the gateway would build from `agents` and `models`.
fn check_agent(config: &Value, ctx: &Ctx) -> anyhow::Result<()> {
    let secrets = SecretsRuntime::new(config, &ctx.env);
    crate::agents::build_agent(config, &secrets).map(|_| ())
}

fn patch(
    mut ctx: Ctx,
    file: &std::path::Path,
    dry_run: bool,
    json_out: bool,
) -> anyhow::Result<ExitCode> {
    let patch = config_file::read_json5_file(file, "patch file")?;
    let mut next = ctx.doc.value.clone();
    let changes = config_file::merge_patch(&mut next, &patch);
    let invalid = || {
        format!(
            "the patched config is invalid; nothing was written to {}",
            ctx.paths.config.display()
        )
    };
    validate_state(&next, &ctx).with_context(invalid)?;
    let mut checks = validate_channels(&next, &ctx).with_context(invalid)?;
    if let Err(err) = check_agent(&next, &ctx) {
        // An agent problem the config already had (say, an upstream config whose model uses a
        // provider built into upstream) is not this patch's fault: report it, do not refuse.
        let before = check_agent(&ctx.doc.value, &ctx).err();
        if before.is_some_and(|b| format!("{b:#}") == format!("{err:#}")) {
            checks.push(format!(
                "{err:#} (already so before this patch; `openclaw gateway` needs it fixed)"
            ));
        } else {
            return Err(err.context(invalid()));
        }
    }
    if !dry_run && !changes.is_empty() {
        ctx.doc.value = next;
        ctx.doc.save()?;
    }
    if json_out {
        print_json(&json!({
            "ok": true,
            "dryRun": dry_run,
            "configPath": ctx.paths.config,
            "operations": changes,
            "warnings": checks,
        }))?;
    } else {
        print_changes(&changes, dry_run, &ctx.paths.config);
        for warning in checks {
            outln!("warning: {warning}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_changes(changes: &[Change], dry_run: bool, path: &std::path::Path) {
    if changes.is_empty() {
        outln!("No changes: {} already matches the patch.", path.display());
        return;
    }
    let verb = if dry_run { "Would change" } else { "Changed" };
    outln!("{verb} {} path(s) in {}:", changes.len(), path.display());
    for change in changes {
        let op = match change.op {
            ChangeOp::Set => "set",
            ChangeOp::Delete => "delete",
        };
        outln!("  {op} {}", change.path);
    }
    if dry_run {
        outln!("Dry run: nothing was written.");
    }
}

fn get(ctx: &Ctx, path: Option<&str>, json_out: bool) -> anyhow::Result<ExitCode> {
    let path = path.unwrap_or("");
    let Some(value) = config_file::get_path(&ctx.doc.value, path) else {
        bail!("{path} is not set in {}", ctx.paths.config.display());
    };
    let value = redact(path, value);
    match &value {
        Value::String(s) if !json_out => outln!("{s}"),
        other => print_json(other)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a config key holds a secret: `authToken`, `apiKeySecret`, `apiKey`, and the other
/// sections' `token`, `botToken`, `password`, … (any key naming a token, secret, password or key).
fn is_secret_key(key: &str) -> bool {
    const MARKERS: &[&str] = &[
        "token",
        "secret",
        "password",
        "apikey",
        "api_key",
        "privatekey",
    ];
    let key = key.to_ascii_lowercase();
    MARKERS.iter().any(|m| key.contains(m))
}

/// Config paths that hold a secret although their key does not say so: `state.url` (a
/// database URL usually carries a password).
const SECRET_PATHS: &[&str] = &["state.url"];

/// Plain secrets in the config are shown as `***` (references are shown as they are).
fn redact(path: &str, value: &Value) -> Value {
    let last = path.rsplit('.').next().unwrap_or("");
    match value {
        Value::String(_) if is_secret_key(last) || SECRET_PATHS.contains(&path) => {
            let input: Option<openclaw_sms::config::SecretInput> =
                serde_json::from_value(value.clone()).ok();
            if input.and_then(|i| i.reference()).is_some() {
                value.clone()
            } else {
                Value::String("***".to_owned())
            }
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    (k.clone(), redact(&child, v))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn validate_cmd(ctx: &Ctx, json_out: bool) -> anyhow::Result<ExitCode> {
    let warnings = validate(&ctx.doc.value, ctx)?;
    if json_out {
        print_json(&json!({"ok": true, "configPath": ctx.paths.config, "warnings": warnings}))?;
    } else {
        if ctx.doc.existed {
            outln!("Config is valid: {}", ctx.paths.config.display());
        } else {
            outln!(
                "Config is valid: {} does not exist, so the built-in defaults apply",
                ctx.paths.config.display()
            );
        }
        for warning in warnings {
            outln!("warning: {warning}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
