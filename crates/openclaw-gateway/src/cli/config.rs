//! `openclaw config patch|get|validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use openclaw_sms::AccountOptions;

use super::{Ctx, print_json};
use crate::config_file::{self, Change, ChangeOp};
use crate::runtime::start_accounts;
use crate::secrets::{SecretsMode, SecretsRuntime};
use crate::state::{Backend, StateSettings};

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Apply a JSON5 merge patch: objects merge, arrays and scalars replace, null deletes.
    Patch {
        /// The patch file (JSON5).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Validate the result (the checks of `config validate`) and write nothing.
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
    /// Check the config with the checks `openclaw gateway` runs at start-up. SecretRefs are
    /// checked for shape only unless --resolve-secrets is given.
    Validate {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Also resolve every SecretRef (env vars, files, exec providers) in this shell's
        /// environment, as the gateway will in its own at start-up.
        #[arg(long)]
        resolve_secrets: bool,
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
        ConfigCommand::Validate {
            json,
            resolve_secrets,
        } => {
            let mode = if resolve_secrets {
                SecretsMode::Resolve
            } else {
                SecretsMode::ShapeOnly
            };
            validate_cmd(&ctx, json, mode)
        }
    }
}

/// Every check of `openclaw gateway`'s start-up that needs no network: `state`, `channels.sms`
/// (the same [`start_accounts`] the gateway runs), the agent. With [`SecretsMode::ShapeOnly`]
/// SecretRefs are checked for shape only (`config patch`, `config validate`); with
/// [`SecretsMode::Resolve`] they are read (`config validate --resolve-secrets`).
pub(crate) fn validate(
    config: &Value,
    ctx: &Ctx,
    mode: SecretsMode,
) -> anyhow::Result<Vec<String>> {
    crate::runtime::trusted_proxies(config)?;
    crate::serve::ServerSettings::from_config(config)?;
    let secrets = SecretsRuntime::with_mode(config, &ctx.env, mode);
    let token = crate::auth::AuthToken::from_config(config, &secrets)?;
    crate::send_api::SendApiSettings::from_config(config)?.require_token(token.as_ref())?;
    let console = crate::console::ConsoleSettings::from_config(config, false)?;
    crate::console::console_token(&console, token, false)?;
    validate_state(config, &secrets)?;
    let warnings = validate_channels(config, ctx, &secrets)?;
    check_agent(config, &secrets)?;
    Ok(warnings)
}

/// The `state` checks: schema, and `state.url` when the backend needs it (nothing connects:
/// `openclaw state status` does).
fn validate_state(config: &Value, secrets: &SecretsRuntime<'_>) -> anyhow::Result<()> {
    let settings = StateSettings::from_config(config)?;
    if settings.backend == Backend::Postgres {
        settings.resolve_url(secrets)?;
    }
    Ok(())
}

/// The `channels.sms` checks of start-up; the warnings of enabled accounts.
fn validate_channels(
    config: &Value,
    ctx: &Ctx,
    secrets: &SecretsRuntime<'_>,
) -> anyhow::Result<Vec<String>> {
    let started = start_accounts(config, &ctx.env, secrets, AccountOptions::default())?;
    let mut warnings = Vec::new();
    for account in started.accounts.accounts.iter().filter(|a| a.enabled) {
        warnings.extend(account.warnings.iter().cloned());
        warnings.extend(account.plan_warnings());
    }
    Ok(warnings)
}

/// The agent the gateway would build from `agents` and `models`.
fn check_agent(config: &Value, secrets: &SecretsRuntime<'_>) -> anyhow::Result<()> {
    crate::agents::build_agent(config, secrets).map(|_| ())
}

fn patch(
    mut ctx: Ctx,
    file: &std::path::Path,
    dry_run: bool,
    json_out: bool,
) -> anyhow::Result<ExitCode> {
    let patch = config_file::read_json5_file(file, "patch file")?;
    // Concurrent patches queue on the lock, each merging into what the previous one wrote.
    let _lock = (!dry_run).then(|| ctx.doc.reload_locked()).transpose()?;
    let mut next = ctx.doc.value.clone();
    let changes = config_file::merge_patch(&mut next, &patch);
    let invalid = || {
        format!(
            "in the patch: the patched config is invalid; nothing was written to {}",
            ctx.paths.config.display()
        )
    };
    // SecretRefs are checked for shape only: the admin's shell need not hold the gateway's
    // secrets; the gateway resolves them at start-up.
    let checks = match validate(&next, &ctx, SecretsMode::ShapeOnly) {
        Ok(warnings) => warnings,
        Err(err) => {
            // A problem the config already had (an upstream config whose model uses a provider
            // built into upstream; an account still missing its token) is not this patch's
            // fault: report it, do not refuse.
            let before = validate(&ctx.doc.value, &ctx, SecretsMode::ShapeOnly).err();
            if before.is_some_and(|b| format!("{b:#}") == format!("{err:#}")) {
                vec![format!(
                    "{err:#} (already so before this patch; `openclaw gateway` needs it fixed)"
                )]
            } else {
                return Err(err.context(invalid()));
            }
        }
    };
    // What is written must load again (size, nesting): checked before anything is written.
    config_file::render_loadable(&next).with_context(invalid)?;
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
    let value = crate::redact::config_value(path, value);
    match &value {
        Value::String(s) if !json_out => outln!("{s}"),
        other => print_json(other)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn validate_cmd(ctx: &Ctx, json_out: bool, mode: SecretsMode) -> anyhow::Result<ExitCode> {
    let warnings = validate(&ctx.doc.value, ctx, mode)?;
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
