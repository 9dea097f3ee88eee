//! `openclaw-twilio-sim`: run the local Twilio from the command line.
//!
//! Prints `openclaw-twilio-sim listening on http://127.0.0.1:PORT` on stdout once ready, then
//! serves until Ctrl-C or SIGTERM. See the crate README for the control API.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use openclaw_twilio_sim::{
    AccountType, Faults, InitialStatusCallback, OptOutTypeField, SimAccount, SimConfig,
    SimMessagingService, SimNumber, Simulator, WebhookMethod,
};
use serde::Deserialize;

/// A local Twilio: Messages API, simulated phones, signed webhooks, status callbacks, faults.
#[derive(Debug, Parser)]
#[command(name = "openclaw-twilio-sim", version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one; the ready line says which).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// JSON file with accounts, numbers, services and faults (see the README); combined with
    /// the account given by flags.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Account SID (AC + 32 hex) of the account described by the flags below.
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    account_sid: Option<String>,
    /// That account's Auth Token (signs every webhook).
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
    /// An API key for the account, `SK…:secret` (repeatable).
    #[arg(long = "api-key", value_name = "SID:SECRET")]
    api_keys: Vec<String>,
    /// An owned number and its SMS webhook, `+15550001111=http://127.0.0.1:18789/webhooks/sms`
    /// (or just the number; prefix the URL with `GET ` for GET) (repeatable).
    #[arg(long = "number", value_name = "E164[=URL]")]
    numbers: Vec<String>,
    /// A Messaging Service and its pool, `MG…=+15550001111,+15550002222` (repeatable). It
    /// defers inbound webhooks to the numbers unless --service-inbound-url is given.
    #[arg(long = "messaging-service", value_name = "MG=E164,...")]
    services: Vec<String>,
    /// A Messaging Service's own inbound URL, `MG…=URL` (repeatable).
    #[arg(long = "service-inbound-url", value_name = "MG=URL")]
    service_inbound_urls: Vec<String>,
    /// Make the account a trial account (only --verified recipients; others get 21608).
    #[arg(long)]
    trial: bool,
    /// A verified recipient of the trial account (repeatable).
    #[arg(long = "verified", value_name = "E164")]
    verified: Vec<String>,
    /// Seed for the fault RNG (reproducible faults).
    #[arg(long)]
    seed: Option<u64>,
    /// Latency added to every Twilio API answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share (0..1) of message creates answered 500 (nothing recorded).
    #[arg(long, default_value_t = 0.0)]
    server_error_share: f64,
    /// Share (0..1) of message creates answered 429 with Retry-After (nothing recorded).
    #[arg(long, default_value_t = 0.0)]
    rate_limit_share: f64,
    /// Share (0..1) of message creates recorded but answered only after --timeout-hold-ms.
    #[arg(long, default_value_t = 0.0)]
    timeout_share: f64,
    /// How long a "timeout" answer is held, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    timeout_hold_ms: u64,
    /// When keyword webhooks carry OptOutType.
    #[arg(long, value_enum, default_value_t = OptOutTypeArg::Always)]
    opt_out_type: OptOutTypeArg,
    /// Whether the initial status (queued) gets a status callback.
    #[arg(long, value_enum, default_value_t = InitialCallbackArg::Send)]
    initial_callback: InitialCallbackArg,
    /// Pause between two status transitions of a message, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delivery_step_ms: u64,
    /// Log filter (`RUST_LOG` syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OptOutTypeArg {
    /// On every keyword webhook.
    Always,
    /// Only for numbers in a Messaging Service.
    ServiceOnly,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum InitialCallbackArg {
    /// queued, sent, delivered.
    Send,
    /// sent, delivered (as Twilio documents).
    Skip,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    accounts: Vec<FileAccount>,
    #[serde(default)]
    faults: Option<Faults>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAccount {
    sid: String,
    auth_token: String,
    #[serde(default)]
    friendly_name: Option<String>,
    #[serde(default)]
    trial: bool,
    #[serde(default)]
    verified: Vec<String>,
    #[serde(default)]
    api_keys: Vec<FileKey>,
    #[serde(default)]
    numbers: Vec<FileNumber>,
    #[serde(default)]
    messaging_services: Vec<FileService>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKey {
    sid: String,
    secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNumber {
    number: String,
    #[serde(default)]
    sms_url: Option<String>,
    #[serde(default)]
    sms_method: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileService {
    sid: String,
    #[serde(default)]
    friendly_name: Option<String>,
    #[serde(default)]
    numbers: Vec<String>,
    #[serde(default)]
    inbound_request_url: Option<String>,
    #[serde(default)]
    inbound_method: Option<String>,
    #[serde(default)]
    use_inbound_webhook_on_number: bool,
    #[serde(default)]
    status_callback: Option<String>,
}

fn method(word: Option<&str>) -> anyhow::Result<WebhookMethod> {
    match word.map(str::to_ascii_uppercase).as_deref() {
        None | Some("POST") => Ok(WebhookMethod::Post),
        Some("GET") => Ok(WebhookMethod::Get),
        Some(other) => bail!("unknown webhook method {other:?} (POST or GET)"),
    }
}

fn file_account(a: FileAccount) -> anyhow::Result<SimAccount> {
    let mut account = SimAccount::new(a.sid, a.auth_token);
    if let Some(name) = a.friendly_name {
        account = account.with_friendly_name(name);
    }
    if a.trial {
        account = account.with_type(AccountType::Trial {
            verified: a.verified,
        });
    }
    for k in a.api_keys {
        account = account.with_api_key(k.sid, k.secret);
    }
    for n in a.numbers {
        let mut number = SimNumber::new(n.number).with_sms_method(method(n.sms_method.as_deref())?);
        if let Some(url) = n.sms_url {
            number = number.with_sms_url(url);
        }
        account = account.with_number(number);
    }
    for s in a.messaging_services {
        let mut service = SimMessagingService::new(s.sid)
            .with_inbound_method(method(s.inbound_method.as_deref())?);
        for n in s.numbers {
            service = service.with_number(n);
        }
        if let Some(name) = s.friendly_name {
            service = service.with_friendly_name(name);
        }
        if let Some(url) = s.inbound_request_url {
            service = service.with_inbound_request_url(url);
        }
        if s.use_inbound_webhook_on_number {
            service = service.defer_inbound_to_numbers();
        }
        if let Some(url) = s.status_callback {
            service = service.with_status_callback(url);
        }
        account = account.with_messaging_service(service);
    }
    Ok(account)
}

/// The account described by flags, if any.
fn flag_account(args: &Args) -> anyhow::Result<Option<SimAccount>> {
    let Some(sid) = args.account_sid.clone() else {
        if !args.numbers.is_empty() || !args.services.is_empty() || !args.api_keys.is_empty() {
            bail!("--number, --messaging-service and --api-key need --account-sid");
        }
        return Ok(None);
    };
    let token = args
        .auth_token
        .clone()
        .context("--account-sid needs --auth-token (or TWILIO_AUTH_TOKEN)")?;
    let mut account = SimAccount::new(sid, token);
    if args.trial {
        account = account.with_type(AccountType::Trial {
            verified: args.verified.clone(),
        });
    }
    for key in &args.api_keys {
        let (sid, secret) = key.split_once(':').context("--api-key takes SID:SECRET")?;
        account = account.with_api_key(sid, secret);
    }
    for spec in &args.numbers {
        let number = match spec.split_once('=') {
            None => SimNumber::new(spec.as_str()),
            Some((n, url)) => match url.strip_prefix("GET ") {
                Some(url) => SimNumber::new(n)
                    .with_sms_url(url)
                    .with_sms_method(WebhookMethod::Get),
                None => SimNumber::new(n).with_sms_url(url),
            },
        };
        account = account.with_number(number);
    }
    for spec in &args.services {
        let (sid, pool) = spec
            .split_once('=')
            .context("--messaging-service takes MG…=E164,E164")?;
        let mut service = SimMessagingService::new(sid);
        for n in pool.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            service = service.with_number(n);
        }
        let inbound = args
            .service_inbound_urls
            .iter()
            .filter_map(|s| s.split_once('='))
            .find(|(s, _)| *s == sid)
            .map(|(_, url)| url.to_owned());
        service = match inbound {
            Some(url) => service.with_inbound_request_url(url),
            None => service.defer_inbound_to_numbers(),
        };
        account = account.with_messaging_service(service);
    }
    Ok(Some(account))
}

fn build_config(args: &Args) -> anyhow::Result<SimConfig> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str::<FileConfig>(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let mut config = SimConfig::new()
        .with_port(args.port)
        .with_delivery_step(Duration::from_millis(args.delivery_step_ms))
        .with_opt_out_type_field(match args.opt_out_type {
            OptOutTypeArg::Always => OptOutTypeField::Always,
            OptOutTypeArg::ServiceOnly => OptOutTypeField::MessagingServiceOnly,
        })
        .with_initial_status_callback(match args.initial_callback {
            InitialCallbackArg::Send => InitialStatusCallback::Send,
            InitialCallbackArg::Skip => InitialStatusCallback::Skip,
        });
    let faults = file.faults.unwrap_or(Faults {
        latency: Duration::from_millis(args.latency_ms),
        server_error_share: args.server_error_share,
        rate_limit_share: args.rate_limit_share,
        timeout_share: args.timeout_share,
        timeout_hold: Duration::from_millis(args.timeout_hold_ms),
        ..Faults::default()
    });
    config = config.with_faults(faults);
    if let Some(seed) = args.seed {
        config = config.with_seed(seed);
    }
    for a in file.accounts {
        config = config.with_account(file_account(a)?);
    }
    if let Some(account) = flag_account(args)? {
        config = config.with_account(account);
    }
    Ok(config)
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = build_config(&args)?;
    let sim = Simulator::start(config)
        .await
        .context("starting the simulator")?;
    println!("openclaw-twilio-sim listening on {}", sim.base_url());
    wait_for_stop().await;
    sim.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> anyhow::Result<SimConfig> {
        let mut argv = vec!["openclaw-twilio-sim"];
        argv.extend_from_slice(args);
        build_config(&Args::try_parse_from(argv)?)
    }

    #[test]
    fn flags_build_a_config() -> anyhow::Result<()> {
        let c = config(&[
            "--account-sid",
            "AC0123456789abcdef0123456789abcdef",
            "--auth-token",
            "t",
            "--number",
            "+15550001111=http://127.0.0.1:18789/webhooks/sms",
            "--number",
            "+15550002222",
            "--messaging-service",
            "MG0123456789abcdef0123456789abcdef=+15550002222",
            "--api-key",
            "SK0123456789abcdef0123456789abcdef:s",
            "--rate-limit-share",
            "0.25",
            "--seed",
            "7",
        ])?;
        let shown = format!("{c:?}");
        assert!(
            shown.contains("http://127.0.0.1:18789/webhooks/sms"),
            "{shown}"
        );
        assert!(
            shown.contains("use_inbound_webhook_on_number: true"),
            "{shown}"
        );
        assert!(shown.contains("rate_limit_share: 0.25"), "{shown}");
        assert!(shown.contains("seed: Some(7)"), "{shown}");
        Ok(())
    }

    #[test]
    fn incomplete_flags_are_errors() {
        assert!(config(&["--number", "+15550001111"]).is_err());
        assert!(config(&["--account-sid", "AC0123456789abcdef0123456789abcdef"]).is_err());
        assert!(
            config(&[
                "--account-sid",
                "AC0",
                "--auth-token",
                "t",
                "--api-key",
                "nocolon"
            ])
            .is_err()
        );
    }

    #[test]
    fn config_file_is_read() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("sim-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("sim.json");
        std::fs::write(
            &path,
            r#"{"accounts": [{"sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "t",
                "trial": true, "verified": ["+15557654321"],
                "numbers": [{"number": "+15550001111", "sms_url": "http://127.0.0.1:1/a", "sms_method": "GET"}],
                "messaging_services": [{"sid": "MG0123456789abcdef0123456789abcdef", "numbers": ["+15550001111"],
                    "inbound_request_url": "http://127.0.0.1:1/s"}]}],
                "faults": {"latency_ms": 5}}"#,
        )?;
        let c = config(&["--config", path.to_str().unwrap_or_default()])?;
        std::fs::remove_dir_all(&dir)?;
        let shown = format!("{c:?}");
        assert!(shown.contains("Trial"), "{shown}");
        assert!(shown.contains("sms_method: Get"), "{shown}");
        assert!(shown.contains("latency: 5ms"), "{shown}");
        Ok(())
    }
}
