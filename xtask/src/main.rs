//! `cargo xtask <task>`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! `ci` runs exactly what `.ci/run` runs. Other tasks (`e2e`, `bench`, `chaos`, `dist`) are
//! added by the issues that build them.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod e2e;
mod http;
mod model;
mod procs;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    about = "Project automation for the OpenClaw SMS workspace"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run every check that CI runs: fmt, clippy, tests, docs, e2e.
    Ci,
    /// End-to-end scenarios against the real gateway, simulator and a fake model server.
    E2e {
        /// Only scenarios whose name contains this.
        filter: Option<String>,
    },
    /// Webhook throughput against a bare handler, start-up, memory and reply latency.
    Bench,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci => ci(),
        Task::E2e { filter } => e2e::run(filter.as_deref()),
        Task::Bench => bench::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, found from this crate's manifest directory.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub(crate) fn cargo(args: &[&str]) -> anyhow::Result<()> {
    run(Command::new(env!("CARGO")).args(args), &[])
}

fn run(cmd: &mut Command, envs: &[(&str, &str)]) -> anyhow::Result<()> {
    cmd.current_dir(root());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("spawn {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// The CI sequence. `.ci/run` calls this, so the two can never drift apart.
fn ci() -> anyhow::Result<()> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    // The README's test command.
    cargo(&["test", "--workspace"])?;
    run(
        Command::new(env!("CARGO")).args(["doc", "--workspace", "--no-deps"]),
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    e2e::run(None)?;
    Ok(())
}
