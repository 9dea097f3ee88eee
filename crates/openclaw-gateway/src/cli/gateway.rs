//! `openclaw gateway`: the server, the pump, the agent; `--dev` wires in a local Twilio.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use openclaw_sms::metrics::Metrics;
use openclaw_sms::{AccountOptions, ChannelOptions, Clock, SmsChannel};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Ctx;
use crate::config_file::merge_patch;
use crate::console::{ConsoleOptions, ConsoleSettings, console_token};
use crate::runtime::{now_ms, open_state, start_accounts};
use crate::secrets::SecretsRuntime;
use crate::serve::ServerSettings;
use crate::server::{self, ServerInfo};

/// How long in-flight work may take to finish after SIGINT/SIGTERM.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The dev gateway's Twilio number and the phone its instructions text from.
pub(crate) const DEV_NUMBER: &str = "+15551234567";
/// The phone the dev instructions use.
pub(crate) const DEV_PHONE: &str = "+15557654321";
/// Bench-only: with the value `1`, the gateway accepts webhooks durably as always but never
/// starts its pump, so nothing is claimed or answered (`cargo xtask bench` times the ack path
/// alone with it). Not a setting: read once at start, warned about in the log, documented as
/// bench-only in docs/operations.md; the texts stay queued and are answered after a start
/// without it.
pub(crate) const BENCH_HOLD_PUMP_ENV: &str = "OPENCLAW_BENCH_HOLD_PUMP";

#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// Port to listen on (default: gateway.port in config, else 18789).
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// Where to listen: loopback (127.0.0.1), lan (0.0.0.0), or an IP address.
    #[arg(long, default_value = "loopback")]
    pub(crate) bind: String,
    /// Demo mode: a local Twilio simulator, the echo agent unless a model is configured, and a
    /// temporary state directory (unless --state-dir is given).
    #[arg(long)]
    pub(crate) dev: bool,
}

fn bind_ip(bind: &str) -> anyhow::Result<IpAddr> {
    match bind {
        "loopback" => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "lan" => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        other => other
            .parse()
            .with_context(|| format!("--bind {other}: use loopback, lan or an IP address")),
    }
}

/// The gateway port: the flag, else `gateway.port`, else the default.
pub(crate) fn gateway_port(ctx: &Ctx, flag: Option<u16>) -> u16 {
    flag.or_else(|| {
        ctx.doc
            .value
            .pointer("/gateway/port")
            .and_then(serde_json::Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
    })
    .unwrap_or(crate::DEFAULT_PORT)
}

pub(crate) fn run(ctx: Ctx, args: &GatewayArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(serve(ctx, args, started))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(mut ctx: Ctx, args: &GatewayArgs, started: Instant) -> anyhow::Result<()> {
    let ip = bind_ip(&args.bind)?;
    let port = gateway_port(&ctx, args.port);
    let server_settings = ServerSettings::from_config(&ctx.doc.value)?;
    crate::serve::log_limits(server_settings);
    let addr = SocketAddr::new(ip, port);
    let listener = bind_public(addr).await?;
    let local = listener.local_addr()?;

    let mut temp_dir = None;
    let mut sim = None;
    if args.dev {
        let (handle, dir) = dev_setup(&mut ctx, local).await?;
        sim = Some(handle);
        temp_dir = dir;
    }

    let trusted_proxies = crate::runtime::trusted_proxies(&ctx.doc.value)?;
    // The same check `config validate` runs; here secrets are resolved, in this process.
    let secrets = SecretsRuntime::new(&ctx.doc.value, &ctx.env);
    let checked = start_accounts(
        &ctx.doc.value,
        &ctx.env,
        &secrets,
        AccountOptions::default(),
    )
    .context("at start-up")?;
    for account in checked.accounts.accounts.iter().filter(|a| !a.enabled) {
        tracing::info!(account = %account.id, "SMS account is disabled");
    }
    for (account, warning) in &checked.warnings {
        tracing::warn!(account = %account, "{warning}");
    }
    let console_settings = ConsoleSettings::from_config(&ctx.doc.value, args.dev)?;
    let auth_token = crate::auth::AuthToken::from_config(&ctx.doc.value, &secrets)?;
    let send_api = crate::send_api::SendApiSettings::from_config(&ctx.doc.value)?;
    send_api.require_token(auth_token.as_ref())?;
    let console_token = console_token(&console_settings, auth_token.clone(), args.dev)?;
    let accounts = checked.accounts;
    let runtimes = checked.runtimes;
    if runtimes.is_empty() {
        tracing::warn!(
            "no SMS account is running: configure channels.sms (see `openclaw channels status --channel sms`)"
        );
    }
    let opened = open_state(&ctx, &ctx.paths.state_dir, now_ms()).await?;
    let store = opened.store;
    tracing::info!(state = %opened.target.line(), "state opened");
    // Config errors come first (above); then, outside `--dev`, a gateway that would echo real
    // senders' texts back to them refuses to start.
    if !args.dev && !crate::agents::names_a_model(&ctx.doc.value) {
        return Err(crate::agents::no_model_error());
    }
    let (agent, agent_settings) = crate::agents::build_agent(&ctx.doc.value, &secrets)?;
    let console_proxies = trusted_proxies.clone();
    let send_api_proxies = trusted_proxies.clone();
    let media_dir = ctx.paths.state_dir.join("media").join("inbound");
    let options = ChannelOptions {
        trusted_proxies,
        history_turns: agent_settings.history_turns,
        media_dir: Some(media_dir.clone()),
        slow_reply_notice_after: crate::agents::slow_reply_notice_after(&ctx.doc.value)?,
        ..ChannelOptions::default()
    };
    let agent_name = agent.name().to_owned();
    let channel = Arc::new(SmsChannel::new(
        runtimes,
        store.clone(),
        agent,
        Arc::new(Metrics::new()),
        Clock::system(),
        options,
    ));
    for account in channel.accounts() {
        tracing::info!(
            "Registered SMS webhook route {} for account {}",
            account.settings.webhook_path,
            account.id()
        );
    }
    let ready = Arc::new(AtomicBool::new(false));
    let info = ServerInfo {
        started_at_ms: now_ms(),
        port: local.port(),
        state_dir: ctx.paths.state_dir.display().to_string(),
        dev_sim_url: sim
            .as_ref()
            .map(|s: &openclaw_twilio_sim::SimHandle| s.base_url().to_owned()),
        agent: agent_name.clone(),
        state: opened.target.clone(),
    };
    let console_info = Arc::new(info.clone());
    let scheduler = crate::scheduler::Scheduler::new(&channel);
    let (mut app, admin_app) =
        server::app(&channel, info, Arc::clone(&ready), Arc::clone(&scheduler));
    if let (true, Some(token)) = (send_api.enabled, auth_token) {
        app = app.merge(crate::send_api::router(
            &channel,
            token,
            send_api_proxies,
            Arc::clone(&scheduler),
        ));
        tracing::info!("send API at {}", crate::send_api::MESSAGES_PATH);
    }
    let console_url = match (console_settings.enabled, console_token) {
        (true, Some(token)) => {
            let url = format!(
                "http://{local}{}/login#token={}",
                console_settings.base_path,
                token.expose()
            );
            app = app.merge(crate::console::router(
                &channel,
                console_info,
                ConsoleOptions {
                    settings: console_settings.clone(),
                    token,
                    proxies: console_proxies,
                    media_dir: Some(media_dir),
                },
            ));
            tracing::info!("console at {}", console_settings.base_path);
            Some(url)
        }
        _ => None,
    };
    let admin_socket = crate::admin_socket::socket_path(local.port());
    let admin_listener = bind_admin_socket(&admin_socket)?;
    let stop = CancellationToken::new();
    let pump = if ctx.env.get(BENCH_HOLD_PUMP_ENV) == Some("1") {
        tracing::warn!(
            "{BENCH_HOLD_PUMP_ENV}=1: the pump is held (a benchmark switch): webhooks are accepted and queued, none is answered until a start without it"
        );
        tokio::spawn(async {})
    } else {
        tokio::spawn(Arc::clone(&channel).run_pump(stop.clone(), SHUTDOWN_GRACE))
    };
    let scheduled = tokio::spawn(scheduler.run(stop.clone()));
    ready.store(true, Ordering::Release);
    tracing::info!(%local, agent = %agent_name, "gateway ready in {} ms", started.elapsed().as_millis());
    if let Some(sim) = &sim {
        print_dev_instructions(local, sim.base_url(), &ctx, console_url.as_deref());
    }
    // Numbering-plan warnings load libphonenumber's patterns: after ready, off the hot path.
    let plan_check: Vec<_> = accounts
        .accounts
        .iter()
        .filter(|a| a.enabled)
        .cloned()
        .collect();
    // On a thread of its own, not the runtime's blocking pool: the runtime waits for its
    // blocking tasks when it is dropped, so a gateway stopped while the patterns load would
    // exit only once they have (and log warnings after "gateway stopped").
    let plan_stop = stop.clone();
    let plan_thread = std::thread::Builder::new()
        .name("plan-warnings".to_owned())
        .spawn(move || {
            for account in plan_check {
                let warnings = account.plan_warnings();
                if plan_stop.is_cancelled() {
                    return;
                }
                for warning in warnings {
                    tracing::warn!(account = %account.id, "- SMS: {warning}");
                }
            }
        });
    if let Err(err) = plan_thread {
        tracing::debug!("numbering-plan warnings not checked: {err}");
    }
    let admin_stop = stop.clone();
    let admin_task = tokio::spawn(async move {
        let _ = axum::serve(admin_listener, admin_app)
            .with_graceful_shutdown(async move { admin_stop.cancelled().await })
            .await;
    });
    let shutdown = stop.clone();
    crate::serve::serve(
        listener,
        app,
        server_settings,
        async move {
            wait_for_signal().await;
            tracing::info!(
                "shutting down: finishing in-flight work (up to {} s)",
                SHUTDOWN_GRACE.as_secs()
            );
            shutdown.cancel();
        },
        SHUTDOWN_GRACE,
    )
    .await;
    stop.cancel();
    let _ = pump.await;
    let _ = scheduled.await;
    let _ = admin_task.await;
    let _ = std::fs::remove_file(&admin_socket);
    drop(store);
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    drop(temp_dir);
    tracing::info!("gateway stopped");
    Ok(())
}

/// How long the port-in-use check waits for whoever holds the port.
const PORT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most of a `/metrics` answer the port-in-use check reads.
const PORT_PROBE_MAX_BYTES: u64 = 64 * 1024;

/// Binds the public listener; a port already in use is named with who holds it (see
/// [`port_in_use_error`]).
async fn bind_public(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
            Err(port_in_use_error(addr, PortHolder::of(addr).await))
        }
        Err(err) => Err(anyhow::Error::new(err).context(format!("bind {addr}"))),
    }
}

/// Who answers on a port the gateway could not bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortHolder {
    /// An openclaw SMS gateway of this user (its admin socket answers), with its pid.
    OurGateway { pid: Option<u64> },
    /// Something whose `/metrics` carries the SMS gateway's metrics (another user's gateway).
    AnotherSmsGateway,
    /// Anything else: OpenClaw's own gateway (same default port), or another program.
    Other,
}

impl PortHolder {
    /// Asks the admin socket of `addr`'s port, then `GET /metrics` on the port (bounded in time
    /// and bytes: the holder is not trusted).
    pub(crate) async fn of(addr: SocketAddr) -> Self {
        let socket = crate::admin_socket::socket_path(addr.port());
        if let Some(status) = super::admin::GatewayClient::at(socket).status().await {
            return Self::OurGateway {
                pid: status["pid"].as_u64(),
            };
        }
        let ip = if addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            addr.ip()
        };
        match tokio::time::timeout(
            PORT_PROBE_TIMEOUT,
            read_metrics(SocketAddr::new(ip, addr.port())),
        )
        .await
        {
            Ok(Some(text)) if text.contains(openclaw_sms::metrics::names::WEBHOOKS) => {
                Self::AnotherSmsGateway
            }
            _ => Self::Other,
        }
    }
}

/// `GET /metrics` over plain HTTP/1.1; the first [`PORT_PROBE_MAX_BYTES`] of the answer.
async fn read_metrics(addr: SocketAddr) -> Option<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut raw = Vec::new();
    // A holder that stops sending early still gave us what it sent.
    let _ = (&mut stream)
        .take(PORT_PROBE_MAX_BYTES)
        .read_to_end(&mut raw)
        .await;
    Some(String::from_utf8_lossy(&raw).into_owned())
}

/// The start-up error for a port in use, by who holds it.
pub(crate) fn port_in_use_error(addr: SocketAddr, holder: PortHolder) -> anyhow::Error {
    let port = addr.port();
    match holder {
        PortHolder::OurGateway { pid } => anyhow::anyhow!(
            "cannot listen on {addr}: another openclaw SMS gateway{} already runs on port {port}; stop it, or give this one another port (gateway.port or --port)",
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        ),
        PortHolder::AnotherSmsGateway => anyhow::anyhow!(
            "cannot listen on {addr}: another openclaw SMS gateway (of another user) already runs on port {port}; give this one another port (gateway.port or --port)"
        ),
        PortHolder::Other => anyhow::anyhow!(
            "cannot listen on {addr}: port {port} is used by another program — OpenClaw's own gateway uses {} by default; set gateway.port or --port",
            crate::DEFAULT_PORT
        ),
    }
}

/// Binds the admin socket in an owner-only directory (refusing one another user owns),
/// replacing a stale socket file.
fn bind_admin_socket(path: &std::path::Path) -> anyhow::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path
        .parent()
        .context("admin socket path has no directory")?;
    crate::admin_socket::prepare_dir(dir)?;
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another gateway already serves {} (is one running on this port?)",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("remove the stale socket {}", path.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("bind the admin socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Starts the simulator and points a dev SMS account at it (in memory; nothing is written).
async fn dev_setup(
    ctx: &mut Ctx,
    local: SocketAddr,
) -> anyhow::Result<(openclaw_twilio_sim::SimHandle, Option<tempfile::TempDir>)> {
    use openclaw_twilio_sim::{SimAccount, SimConfig, SimNumber, Simulator};
    let temp = if ctx.explicit_state_dir {
        None
    } else {
        let dir = tempfile::Builder::new()
            .prefix("openclaw-dev-")
            .tempdir()
            .context("create a temporary state directory")?;
        ctx.paths.state_dir = dir.path().to_path_buf();
        Some(dir)
    };
    let account_sid = format!("AC{:032x}", rand::random::<u128>());
    let token = format!("{:032x}", rand::random::<u128>());
    let webhook = format!("http://127.0.0.1:{}/webhooks/sms", local.port());
    let config = SimConfig::new().with_account(
        SimAccount::new(&account_sid, &token)
            .with_number(SimNumber::new(DEV_NUMBER).with_sms_url(&webhook)),
    );
    let sim = Simulator::start(config)
        .await
        .context("start the Twilio simulator")?;
    if ctx.doc.value.pointer("/channels/sms").is_some() {
        tracing::warn!(
            "--dev replaces channels.sms of your config with a simulator account for this run (nothing is written)"
        );
        if let Some(channels) = ctx
            .doc
            .value
            .get_mut("channels")
            .and_then(serde_json::Value::as_object_mut)
        {
            channels.remove("sms");
        }
    }
    if crate::state::StateSettings::from_config(&ctx.doc.value)
        .is_ok_and(|s| s.backend == crate::state::Backend::Postgres)
    {
        tracing::warn!(
            "--dev keeps its state in SQLite in the state directory: state.backend \"postgres\" is ignored for this run (the config file is not changed)"
        );
        if let Some(root) = ctx.doc.value.as_object_mut() {
            root.remove("state");
        }
    }
    let patch = json!({"channels": {"sms": {
        "enabled": true,
        "accountSid": account_sid,
        "authToken": token,
        "fromNumber": DEV_NUMBER,
        "publicWebhookUrl": webhook,
        "apiBaseUrl": sim.base_url(),
        "dmPolicy": "pairing",
    }}});
    merge_patch(&mut ctx.doc.value, &patch);
    if ctx.doc.value.pointer("/agents/defaults/model").is_none() {
        tracing::info!("--dev: no model configured, the echo agent answers");
    }
    if local.ip().is_unspecified() {
        bail!("--dev listens on loopback only; drop --bind");
    }
    Ok((sim, temp))
}

fn print_dev_instructions(local: SocketAddr, sim_url: &str, ctx: &Ctx, console_url: Option<&str>) {
    let port = local.port();
    let port_flag = if port == crate::DEFAULT_PORT {
        String::new()
    } else {
        format!(" --gateway-port {port}")
    };
    outln!();
    outln!("OpenClaw dev gateway on http://{local} with a local Twilio at {sim_url}");
    outln!(
        "State directory (temporary unless --state-dir was given): {}",
        ctx.paths.state_dir.display()
    );
    outln!("Your SMS number: {DEV_NUMBER}. In another terminal:");
    outln!(
        "  openclaw sim text{port_flag} --from {DEV_PHONE} \"hello\"          # the reply carries a pairing code"
    );
    outln!(
        "  openclaw pairing approve sms{port_flag} <CODE>                    # approve the sender"
    );
    outln!(
        "  openclaw sim text{port_flag} --from {DEV_PHONE} \"what can you do?\" # now the agent answers"
    );
    if let Some(url) = console_url {
        // The one place the token is shown: in the URL's fragment, which the browser does not
        // send; the login page's script takes it from there. Printed once, to this terminal.
        outln!("Or in a browser (console, pairing and a phone; keep this URL private):");
        outln!("  {url}");
    }
    outln!("Stop with Ctrl-C.");
    outln!();
}
