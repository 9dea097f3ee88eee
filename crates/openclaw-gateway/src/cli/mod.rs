//! The command line: one module per command group.

pub(crate) mod admin;
pub(crate) mod channels;
pub(crate) mod config;
pub(crate) mod gateway;
pub(crate) mod logging;
pub(crate) mod message;
pub(crate) mod pairing;
pub(crate) mod plugins;
pub(crate) mod sim;
pub(crate) mod sms;
pub(crate) mod state;
pub(crate) mod usage;

use std::process::ExitCode;

use anyhow::Context as _;
use openclaw_sms::config::{SmsAccounts, SmsChannelInput, resolve_accounts};
use serde_json::Value;

use crate::config_file::ConfigDoc;
use crate::env::Env;
use crate::paths::Paths;
use crate::{Cli, Command, GlobalArgs};

/// What every command starts from: the paths, the environment snapshot, the config document.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) paths: Paths,
    pub(crate) env: Env,
    pub(crate) doc: ConfigDoc,
    /// Whether `--state-dir` was given (the dev gateway keeps it instead of a temp dir).
    pub(crate) explicit_state_dir: bool,
    /// `--gateway-port`.
    pub(crate) gateway_port: Option<u16>,
}

impl Ctx {
    pub(crate) fn load(global: &GlobalArgs) -> anyhow::Result<Self> {
        let env = Env::from_process();
        let paths = Paths::resolve(global.config.as_deref(), global.state_dir.as_deref(), &env)?;
        let doc = ConfigDoc::load(&paths.config)?;
        Ok(Self {
            paths,
            env,
            doc,
            explicit_state_dir: global.state_dir.is_some(),
            gateway_port: global.gateway_port,
        })
    }

    /// The SMS accounts of the loaded config.
    pub(crate) fn sms_accounts(&self) -> anyhow::Result<SmsAccounts> {
        sms_accounts(&self.doc.value, &self.env)
    }
}

/// Parses and resolves `channels.sms` of `config` (an empty section when absent).
pub(crate) fn sms_accounts(config: &Value, env: &Env) -> anyhow::Result<SmsAccounts> {
    let section = config
        .pointer("/channels/sms")
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    let input = SmsChannelInput::from_value(&section, "channels.sms")?;
    let lookup = |name: &str| env.get(name).map(str::to_owned);
    let accounts = resolve_accounts(&input, &lookup, "channels.sms")?;
    Ok(accounts)
}

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = || Ctx::load(&cli.global).context("load config");
    match cli.command {
        Command::Gateway(args) => gateway::run(ctx()?, &args),
        Command::Config(cmd) => config::run(ctx()?, cmd),
        Command::Plugins(cmd) => plugins::run(ctx()?, cmd),
        Command::Pairing(cmd) => pairing::run(ctx()?, cmd),
        Command::Message(cmd) => message::run(ctx()?, cmd),
        Command::Channels(cmd) => channels::run(ctx()?, cmd),
        Command::Sms(cmd) => sms::run(cmd, ctx),
        Command::Sim(cmd) => sim::run(ctx()?, cmd),
        Command::State(cmd) => state::run(ctx()?, cmd),
    }
}

/// Prints a value as pretty JSON (2-space indent) on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A unix-millisecond time as ISO 8601 UTC (`2026-11-25T19:08:05.123Z`).
pub(crate) fn iso_time(ms: i64) -> String {
    let day = openclaw_sms::outbound::utc_day(ms);
    let in_day = ms.rem_euclid(86_400_000);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{day}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}
