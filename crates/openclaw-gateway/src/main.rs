//! The `openclaw` binary: the personal AI-assistant gateway with its SMS channel.
//!
//! This is the edge of the workspace: it reads configuration and secrets, runs the HTTP server
//! and the agent backends, and offers the command line. Everything reusable lives in the
//! library crates below it (see `docs/ARCHITECTURE.md`).

mod agents;
mod config_file;
mod env;
mod paths;
mod secrets;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use clap::{Parser, Subcommand};

/// The default gateway port, as upstream.
const DEFAULT_PORT: u16 = 18789;

#[derive(Debug, Parser)]
#[command(
    name = "openclaw",
    version,
    about = "Personal AI-assistant gateway (SMS channel)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: the HTTP server with its channel webhooks.
    Gateway {
        /// Port to listen on.
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let result = match cli.command {
        Command::Gateway { port } => run_gateway(port),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_gateway(port: u16) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(async move {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("bind {addr} (is another gateway running? try --port)"))?;
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(|| async { "ready" }));
        tracing::info!(%addr, "gateway listening");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serve HTTP")
    })
}
