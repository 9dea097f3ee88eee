//! `cargo xtask <task>`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! `ci` runs exactly what `.ci/run` runs; `e2e` runs the product's flows against the real
//! binaries, `bench` measures them, `chaos` kills the gateway under load, `pg` starts a private
//! PostgreSQL for local test runs, and `dist` builds the release binary.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod bench_ack;
mod bench_console;
mod bench_ramp;
mod bench_summary;
mod chaos;
mod e2e;
mod e2e_budgets;
mod e2e_console;
mod e2e_openclaw;
mod e2e_pg;
mod e2e_quiet;
mod http;
mod model;
mod procs;
mod services;
mod upstream;

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
    /// Webhook throughput against a bare handler, the ack path alone, a sustained ramp (SQLite
    /// and PostgreSQL), start-up, memory and reply latency.
    Bench,
    /// Time the console's pages over 10,000 stored conversations (also part of `bench`).
    BenchConsole {
        /// Use debug binaries (quicker to build; the figure is then an upper bound).
        #[arg(long)]
        debug: bool,
    },
    /// Build the release binary into target/dist and show its version.
    Dist,
    /// SIGKILL the gateway under load and check that nothing was lost or sent twice.
    Chaos {
        /// How many times to kill the gateway.
        #[arg(long, default_value_t = 10)]
        kills: u32,
        /// Keep the gateway's state in PostgreSQL (a private cluster, or OPENCLAW_TEST_PG_URL).
        #[arg(long)]
        postgres: bool,
    },
    /// Start the private PostgreSQL cluster that `ci` uses (TLS on), print the environment the
    /// tests need, and stop it when a line is entered or stdin closes.
    Pg,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci => ci(),
        Task::E2e { filter } => e2e::run(filter.as_deref(), None),
        Task::Bench => bench::run(),
        Task::BenchConsole { debug } => bench_console::run(!debug),
        Task::Chaos { kills, postgres } => chaos::run(kills, postgres),
        Task::Dist => dist(),
        Task::Pg => pg(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `openclaw-twilio` without default features is the pure part: it must lint clean on its own
/// and pull in no HTTP client, TLS or async runtime (Voice Call and other channels rely on it).
fn pure_twilio() -> anyhow::Result<()> {
    let pure = ["-p", "openclaw-twilio", "--no-default-features"];
    cargo(
        &[
            &["clippy"][..],
            &pure,
            &["--all-targets", "--", "-D", "warnings"],
        ]
        .concat(),
    )?;
    run(
        Command::new(env!("CARGO")).args([&["doc", "--no-deps"][..], &pure].concat()),
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    let output = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["tree", "-e", "normal", "--prefix", "none"])
        .args(pure)
        .output()
        .context("run cargo tree")?;
    if !output.status.success() {
        bail!("cargo tree -p openclaw-twilio --no-default-features failed");
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let impure: Vec<&str> = tree
        .lines()
        .filter(|l| {
            ["reqwest ", "rustls ", "tokio ", "hyper "]
                .iter()
                .any(|d| l.starts_with(d))
        })
        .collect();
    if !impure.is_empty() {
        bail!(
            "openclaw-twilio without default features depends on {impure:?}: keep IO behind the `client` feature"
        );
    }
    println!("xtask: openclaw-twilio --no-default-features: no reqwest, rustls, tokio or hyper");
    Ok(())
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

pub(crate) fn run(cmd: &mut Command, envs: &[(&str, &str)]) -> anyhow::Result<()> {
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
    pure_twilio()?;
    // The fuzz targets live outside the workspace; building them here keeps them from rotting
    // (no libFuzzer run: `cargo check` compiles the targets against today's APIs).
    cargo(&[
        "check",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--bins",
        "--target-dir",
        "target/fuzz-check",
    ])?;
    // PostgreSQL for the store's and the binary's PostgreSQL tests and the two-gateway e2e
    // scenario: a private cluster on loopback, stopped when `postgres` drops. With
    // OPENCLAW_REQUIRE_POSTGRES set, a test that finds no server fails instead of skipping.
    let postgres = services::Postgres::start()?;
    let pg_env = postgres.test_env();
    let mut test_env: Vec<(&str, &str)> = pg_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    test_env.push((services::REQUIRE_PG_ENV, "1"));
    // The README's test command.
    run(
        Command::new(env!("CARGO")).args(["test", "--workspace"]),
        &test_env,
    )?;
    run(
        Command::new(env!("CARGO")).args(["doc", "--workspace", "--no-deps"]),
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    e2e::run(None, Some(postgres.url()))?;
    drop(postgres);
    Ok(())
}

/// `cargo xtask pg`: the private cluster for local test runs, until stdin says stop.
fn pg() -> anyhow::Result<()> {
    let postgres = services::Postgres::start()?;
    for (key, value) in postgres.test_env() {
        println!("export {key}={value}");
    }
    eprintln!("xtask: enter a line (or close stdin) to stop PostgreSQL");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    drop(postgres);
    Ok(())
}

/// `cargo xtask dist`: the release binary in `target/dist/`, stamped with version and git hash.
fn dist() -> anyhow::Result<()> {
    cargo(&[
        "build",
        "--release",
        "-p",
        "openclaw-gateway",
        "--bin",
        "openclaw",
    ])?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let built = target.join("release").join("openclaw");
    let dist = target.join("dist");
    std::fs::create_dir_all(&dist)?;
    let out = dist.join("openclaw");
    std::fs::copy(&built, &out).with_context(|| format!("copy {}", built.display()))?;
    let version = Command::new(&out)
        .arg("--version")
        .output()
        .context("run openclaw --version")?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    if !version.contains('(') || version.contains("(unknown)") {
        bail!("the binary does not carry a git hash: {version}");
    }
    println!("{} -> {version}", out.display());
    Ok(())
}
