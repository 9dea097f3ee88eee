//! The `openclaw` binary: the personal AI-assistant gateway with its SMS channel.
//!
//! This is the edge of the workspace: it reads configuration and secrets, runs the HTTP server
//! and the agent backends, and offers the command line. Everything reusable lives in the
//! library crates below it (see `docs/ARCHITECTURE.md`).

/// `println!` that survives a closed pipe (`openclaw pairing list sms | head -1`): when the
/// reader has gone away the command ends quietly instead of panicking with a backtrace.
macro_rules! outln {
    () => {
        $crate::stdout_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::stdout_line(format_args!($($arg)*))
    };
}

mod admin_socket;
mod agents;
mod auth;
mod cli;
mod config_file;
mod config_input;
mod console;
mod env;
mod paths;
mod redact;
mod runtime;
mod scheduler;
mod secrets;
mod send_api;
mod serve;
mod server;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default gateway port, as upstream.
pub(crate) const DEFAULT_PORT: u16 = 18789;

#[derive(Debug, Parser)]
#[command(
    name = "openclaw",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("OPENCLAW_GIT_HASH"), ")"),
    about = "Personal AI-assistant gateway: the Twilio SMS channel",
    propagate_version = true
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// Config file (default: $OPENCLAW_CONFIG_PATH, else $OPENCLAW_STATE_DIR/openclaw.json, else ~/.openclaw/openclaw.json).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// State directory (default: $OPENCLAW_STATE_DIR, else ~/.openclaw).
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Port of the running gateway that commands talk to (default: gateway.port, else 18789).
    #[arg(long, global = true, value_name = "PORT")]
    pub(crate) gateway_port: Option<u16>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub(crate) log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the gateway: the HTTP server with the SMS webhooks, the pipeline and the agent.
    Gateway(cli::gateway::GatewayArgs),
    /// Read, validate and patch the config file.
    #[command(subcommand)]
    Config(cli::config::ConfigCommand),
    /// Install and list channel plugins.
    #[command(subcommand)]
    Plugins(cli::plugins::PluginsCommand),
    /// List and approve pairing requests.
    #[command(subcommand)]
    Pairing(cli::pairing::PairingCommand),
    /// Send messages.
    #[command(subcommand)]
    Message(cli::message::MessageCommand),
    /// Channel status, probes and capabilities.
    #[command(subcommand)]
    Channels(cli::channels::ChannelsCommand),
    /// SMS tools.
    #[command(subcommand)]
    Sms(cli::sms::SmsCommand),
    /// Drive the local Twilio simulator of a `gateway --dev` (text from a simulated phone).
    #[command(subcommand)]
    Sim(cli::sim::SimCommand),
    /// Where the state is, and copying it from SQLite to PostgreSQL.
    #[command(subcommand)]
    State(cli::state::StateCommand),
}

/// Writes one line on stdout (see `outln!`). A broken pipe exits with success, as there is no
/// one left to tell; any other write failure is a one-line error and exit 1.
pub(crate) fn stdout_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let result = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(err) = result {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: write standard output: {err}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Gateway(_) => "info",
        _ => "warn",
    };
    cli::logging::init(cli.global.log_format, default_level);
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // One line: what went wrong and, in the message, how to fix it.
            let message = format!("{err:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
