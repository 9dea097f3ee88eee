//! `openclaw state copy|status`: move the SQLite state into PostgreSQL, and say where the
//! state is.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use openclaw_sms::config::SecretInput;
use openclaw_store::{CopyReport, PostgresStore, SqliteStore, TableCopy};
use serde_json::{Value, json};

use super::admin::{GatewayClient, block_on};
use super::{Ctx, print_json};
use crate::runtime::{
    StateTarget, connect_postgres, now_ms, open_sqlite, postgres_error, postgres_target,
    state_target, store_path,
};
use crate::secrets::SecretsRuntime;
use crate::state::{Backend, StateSettings};

#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// Copy the state directory's SQLite state into the PostgreSQL database of state.url
    /// (rows already there are skipped, so it can run again). Stop the gateway first.
    Copy {
        /// Where the state is now.
        #[arg(long, value_enum)]
        from: CopyFrom,
        /// Where it goes.
        #[arg(long, value_enum)]
        to: CopyTo,
        /// The PostgreSQL URL instead of state.url; `${VAR}` reads it from the environment
        /// (better than a password on the command line).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Where the state is: backend, location (never a password), schema version, queue depth.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `state copy --from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CopyFrom {
    /// The SQLite file of the state directory.
    Sqlite,
}

/// `state copy --to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CopyTo {
    /// The PostgreSQL database of state.url (or --url).
    Postgres,
}

pub(crate) fn run(ctx: Ctx, cmd: StateCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StateCommand::Copy {
            from: CopyFrom::Sqlite,
            to: CopyTo::Postgres,
            url,
            json,
        } => block_on(copy(&ctx, url.as_deref(), json))?,
        StateCommand::Status { json } => block_on(status(&ctx, json))?,
    }
}

/// Whether `a` and `b` name the same directory (after resolving links, when they exist).
fn same_dir(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(a) == canon(b)
}

/// The status of a running gateway of this user that keeps its state in the SQLite file of
/// `state_dir` (one on PostgreSQL does not write that file).
async fn sqlite_gateway_on(state_dir: &Path) -> anyhow::Result<Option<Value>> {
    Ok(GatewayClient::all_running().await?.into_iter().find(|s| {
        s["stateDir"]
            .as_str()
            .is_some_and(|d| same_dir(Path::new(d), state_dir))
            && s["state"]["backend"].as_str() != Some(Backend::Postgres.as_str())
    }))
}

async fn copy(ctx: &Ctx, url_flag: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    let state_dir = &ctx.paths.state_dir;
    let sqlite_path = store_path(state_dir);
    if let Some(running) = sqlite_gateway_on(state_dir).await? {
        bail!(
            "a gateway (pid {}) is running on the state directory {}: stop it first, or the copy would miss what it writes afterwards",
            running["pid"],
            state_dir.display()
        );
    }
    if !sqlite_path.is_file() {
        bail!(
            "there is no SQLite state to copy at {} (is --state-dir or $OPENCLAW_STATE_DIR right?)",
            sqlite_path.display()
        );
    }
    let settings = StateSettings::from_config(&ctx.doc.value)?;
    let secrets = SecretsRuntime::new(&ctx.doc.value, &ctx.env);
    let url = match url_flag {
        Some(flag) => {
            let url = secrets.resolve("--url", &SecretInput::Plain(flag.to_owned()))?;
            if !crate::state::is_postgres_url(secrecy::ExposeSecret::expose_secret(&url).trim()) {
                bail!(
                    "--url must start with postgres:// or postgresql:// (the value is not shown)"
                );
            }
            url
        }
        None if settings.url.is_none() => bail!(
            "state copy needs the PostgreSQL database: set state.url (see docs/config.md) or pass --url \"${{OPENCLAW_STATE_URL}}\""
        ),
        None => settings.resolve_url(&secrets)?,
    };
    let target = postgres_target(&url, &settings);
    let sqlite = open_sqlite(state_dir, now_ms()).await?;
    // Scheduled sends are not part of the copy: refuse rather than leave them behind.
    let waiting = openclaw_store::ScheduledStore::pending_scheduled(
        &*sqlite,
        None,
        crate::scheduler::LIST_LIMIT,
    )
    .await
    .with_context(|| format!("read the SQLite state {}", sqlite_path.display()))?;
    if !waiting.is_empty() {
        bail!(
            "{} scheduled send(s) wait in the SQLite state and are not copied: let a gateway send them, or cancel them (openclaw message scheduled list, openclaw message scheduled cancel ID), then copy",
            waiting.len()
        );
    }
    let snapshot = sqlite
        .export_snapshot()
        .await
        .with_context(|| format!("read the SQLite state {}", sqlite_path.display()))?;
    drop(sqlite);
    let postgres = connect_postgres(&url, &settings).await?;
    let report = postgres
        .import_snapshot(&snapshot)
        .await
        .map_err(|err| postgres_error(&err, &url))?;
    postgres.close().await;
    print_copy(&sqlite_path, &target, &report, as_json)?;
    Ok(ExitCode::SUCCESS)
}

/// The tables of a copy report, in the order they are printed.
fn tables(report: &CopyReport) -> [(&'static str, TableCopy); 9] {
    [
        ("ingress", report.ingress),
        ("pairingRequests", report.pairing_requests),
        ("allowEntries", report.allow_entries),
        ("optOuts", report.opt_outs),
        ("history", report.history),
        ("deliveries", report.deliveries),
        ("intents", report.intents),
        ("replies", report.replies),
        ("turns", report.turns),
    ]
}

fn print_copy(
    from: &Path,
    to: &StateTarget,
    report: &CopyReport,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        let rows: serde_json::Map<String, Value> = tables(report)
            .into_iter()
            .map(|(name, t)| {
                (
                    name.to_owned(),
                    json!({"copied": t.copied, "alreadyPresent": t.already_present}),
                )
            })
            .collect();
        return print_json(&json!({
            "ok": true,
            "from": {"backend": "sqlite", "location": from.display().to_string()},
            "to": to.json(),
            "copied": report.copied(),
            "tables": rows,
        }));
    }
    outln!("Copied {} into {}.", from.display(), to.line());
    outln!("  {:<16} {:>8} {:>15}", "table", "copied", "already there");
    for (name, t) in tables(report) {
        outln!("  {name:<16} {:>8} {:>15}", t.copied, t.already_present);
    }
    outln!(
        "{} row(s) copied. Next: set state.backend to \"postgres\" and start the gateway(s).",
        report.copied()
    );
    Ok(())
}

async fn status(ctx: &Ctx, as_json: bool) -> anyhow::Result<ExitCode> {
    let settings = StateSettings::from_config(&ctx.doc.value)?;
    let state_dir = &ctx.paths.state_dir;
    let target = state_target(ctx, state_dir)?;
    let accounts = ctx.sms_accounts()?;
    let ids: Vec<String> = accounts.accounts.iter().map(|a| a.id.clone()).collect();
    let (schema_version, depths): (Option<u32>, Vec<(String, u64)>) = match settings.backend {
        Backend::Sqlite => {
            let path: PathBuf = store_path(state_dir);
            if path.is_file() {
                let store = open_sqlite(state_dir, now_ms()).await?;
                (
                    Some(SqliteStore::schema_version()),
                    depths_of(store.as_ref(), &ids).await?,
                )
            } else {
                (None, Vec::new())
            }
        }
        Backend::Postgres => {
            let secrets = SecretsRuntime::new(&ctx.doc.value, &ctx.env);
            let url = settings.resolve_url(&secrets)?;
            let store = connect_postgres(&url, &settings).await?;
            let depths = depths_of(&store, &ids)
                .await
                .map_err(|err| anyhow::anyhow!(crate::state::scrub(&format!("{err:#}"), &url)))?;
            store.close().await;
            (Some(PostgresStore::schema_version()), depths)
        }
    };
    if as_json {
        let queue: serde_json::Map<String, Value> = depths
            .iter()
            .map(|(id, d)| (id.clone(), json!(d)))
            .collect();
        print_json(&json!({
            "backend": target.backend.as_str(),
            "location": target.location,
            "schema": target.schema,
            "schemaVersion": schema_version,
            "exists": schema_version.is_some(),
            "queueDepth": queue,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("State: {}", target.line());
    match schema_version {
        Some(v) => outln!("Schema version: {v}"),
        None => outln!("Not created yet: the gateway creates it at its first start."),
    }
    for (id, depth) in &depths {
        outln!("Queue depth of sms account {id}: {depth}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Unfinished messages per account.
async fn depths_of(
    store: &dyn openclaw_store::Store,
    ids: &[String],
) -> anyhow::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for id in ids {
        out.push((id.clone(), store.queue_depth(id).await?));
    }
    Ok(out)
}
