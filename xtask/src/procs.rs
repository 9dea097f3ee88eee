//! Real processes for e2e, chaos and bench: the `openclaw` gateway, the Twilio simulator, and
//! the CLI, each in a scratch directory on loopback.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};

use crate::http;

/// A Twilio account every scenario uses.
pub(crate) const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// Its Auth Token.
pub(crate) const AUTH_TOKEN: &str = "e2e-auth-token-0123456789";
/// The gateway's Twilio number.
pub(crate) const NUMBER: &str = "+15551234567";

/// Binaries built once per run.
#[derive(Debug, Clone)]
pub(crate) struct Bins {
    pub(crate) openclaw: PathBuf,
    pub(crate) sim: PathBuf,
}

impl Bins {
    /// Builds `openclaw` and `openclaw-twilio-sim` (`release` for benchmarks).
    pub(crate) fn build(release: bool) -> anyhow::Result<Self> {
        let mut args = vec![
            "build",
            "--quiet",
            "-p",
            "openclaw-gateway",
            "-p",
            "openclaw-twilio-sim",
        ];
        if release {
            args.push("--release");
        }
        crate::cargo(&args)?;
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| crate::root().join("target"), PathBuf::from);
        let dir = target.join(if release { "release" } else { "debug" });
        Ok(Self {
            openclaw: dir.join("openclaw"),
            sim: dir.join("openclaw-twilio-sim"),
        })
    }
}

/// A free TCP port on loopback (bound and released: another process may take it first, which
/// the callers detect as a bind error).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A scratch directory, removed on drop.
#[derive(Debug)]
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "openclaw-{name}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (t as u64) ^ u64::from(std::process::id()).rotate_left(17)
}

/// A running simulator.
#[derive(Debug)]
pub(crate) struct Sim {
    child: Child,
    pub(crate) base: String,
}

impl Sim {
    /// Starts the simulator binary with `args` (after `--port 0`) and waits for its ready line.
    pub(crate) fn start(bins: &Bins, args: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(&bins.sim)
            .args([
                "--port",
                "0",
                "--account-sid",
                ACCOUNT_SID,
                "--auth-token",
                AUTH_TOKEN,
            ])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start the simulator")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .ok_or_else(|| anyhow!("the simulator exited before it was ready"))??;
            if let Some(url) = line.split("listening on ").nth(1) {
                break url.trim().to_owned();
            }
        };
        // Keep draining its stdout so it never blocks.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, base })
    }

    /// A phone texts `to`; returns the webhook's HTTP status.
    pub(crate) fn text(&self, from: &str, to: &str, body: &str) -> anyhow::Result<u16> {
        let answer = http::post_json(
            &format!("{}/_sim/phones/{}/text", self.base, enc(from)),
            &json!({"to": to, "body": body}),
        )?;
        if answer.status != 200 {
            bail!(
                "the simulator could not deliver a text from {from}: {} {}",
                answer.status,
                answer.body
            );
        }
        Ok(answer.json()?["status"].as_u64().unwrap_or(0) as u16)
    }

    /// The next reply to `phone`, waiting up to `timeout`.
    /// Texts an MMS: `bytes` of `content_type` are uploaded to the simulator, which serves
    /// them as Twilio media of the message `sid` (`SM` and 32 hex digits).
    pub(crate) fn mms(
        &self,
        from: &str,
        to: &str,
        body: &str,
        sid: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> anyhow::Result<u16> {
        let media_id = format!("ME{}", &sid[2..]);
        let put = http::request(
            "PUT",
            &format!("{}/_sim/media/{media_id}", self.base),
            &[("Content-Type", content_type)],
            Some(bytes),
            Duration::from_secs(30),
        )?;
        if put.status != 204 {
            bail!(
                "the simulator refused the media: {} {}",
                put.status,
                put.body
            );
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/{media_id}",
            self.base
        );
        let answer = http::post_json(
            &format!("{}/_sim/phones/{}/text", self.base, enc(from)),
            &json!({"to": to, "body": body, "message_sid": sid,
                "media": [{"url": url, "content_type": content_type}]}),
        )?;
        if answer.status != 200 {
            bail!(
                "the simulator could not deliver an MMS from {from}: {} {}",
                answer.status,
                answer.body
            );
        }
        Ok(answer.json()?["status"].as_u64().unwrap_or(0) as u16)
    }

    pub(crate) fn next_reply(
        &self,
        phone: &str,
        timeout: Duration,
    ) -> anyhow::Result<Option<String>> {
        let url = format!(
            "{}/_sim/phones/{}/next-reply?timeout_ms={}",
            self.base,
            enc(phone),
            timeout.as_millis()
        );
        let answer = http::request("GET", &url, &[], None, timeout + Duration::from_secs(10))?;
        match answer.status {
            200 => Ok(answer.json()?["body"].as_str().map(str::to_owned)),
            204 => Ok(None),
            other => bail!("next-reply answered {other}: {}", answer.body),
        }
    }

    /// The next reply, which must come.
    pub(crate) fn expect_reply(&self, phone: &str) -> anyhow::Result<String> {
        self.next_reply(phone, Duration::from_secs(20))?
            .ok_or_else(|| anyhow!("{phone} received no reply within 20 s"))
    }

    /// Every message `phone` received.
    pub(crate) fn received(&self, phone: &str) -> anyhow::Result<Vec<Value>> {
        let answer = http::get(&format!(
            "{}/_sim/phones/{}/messages",
            self.base,
            enc(phone)
        ))?;
        Ok(answer.json()?.as_array().cloned().unwrap_or_default())
    }

    /// Every message created through the API.
    pub(crate) fn messages(&self) -> anyhow::Result<Vec<Value>> {
        let answer = http::get(&format!("{}/_sim/messages", self.base))?;
        Ok(answer.json()?.as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn enc(number: &str) -> String {
    number.replace('+', "%2B")
}

/// A running gateway.
#[derive(Debug)]
pub(crate) struct Gateway {
    child: Option<Child>,
    pub(crate) port: u16,
    pub(crate) config: PathBuf,
    pub(crate) state_dir: PathBuf,
    pub(crate) log: PathBuf,
    bins: Bins,
    env: Vec<(String, String)>,
}

impl Gateway {
    /// Writes `config` and starts `openclaw gateway` on `port`, waiting for `/readyz`.
    pub(crate) fn start(
        bins: &Bins,
        dir: &Path,
        port: u16,
        config: &Value,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let config_path = dir.join("openclaw.json");
        // A gateway without a model refuses to start: scenarios that configure none get the
        // echo agent, named explicitly as a test config must.
        let mut config = config.clone();
        if config.pointer("/agents/defaults/model").is_none() {
            merge(
                &mut config,
                json!({"agents": {"defaults": {"model": {"primary": "echo"}}}}),
            );
        }
        std::fs::write(&config_path, serde_json::to_string_pretty(&config)?)?;
        let mut gateway = Self {
            child: None,
            port,
            config: config_path,
            state_dir: dir.join("state"),
            log: dir.join("gateway.log"),
            bins: bins.clone(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        gateway.spawn()?;
        Ok(gateway)
    }

    /// (Re)starts the process and waits until it is ready.
    pub(crate) fn spawn(&mut self) -> anyhow::Result<Duration> {
        self.spawn_timed(Duration::from_millis(10))
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for the exit.
    pub(crate) fn terminate(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    bail!("the gateway did not stop within 20 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Runs the CLI against this gateway's config and state.
    pub(crate) fn cli(&self, args: &[&str]) -> anyhow::Result<Output> {
        let mut cmd = Command::new(&self.bins.openclaw);
        cmd.args(args)
            .arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["--gateway-port", &self.port.to_string()])
            .env("RUST_LOG", "warn");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        Ok(cmd.output()?)
    }

    /// Runs the CLI and requires success; returns stdout.
    pub(crate) fn cli_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.cli(args)?;
        if !out.status.success() {
            bail!(
                "openclaw {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// `/metrics` text.
    pub(crate) fn metrics(&self) -> anyhow::Result<String> {
        Ok(http::get(&format!("http://127.0.0.1:{}/metrics", self.port))?.body)
    }

    /// The webhook URL of `path`.
    pub(crate) fn webhook(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn tail_log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The usual single-account `channels.sms` for a gateway on `port`.
pub(crate) fn sms_config(port: u16, sim: &Sim, extra: Value) -> Value {
    let mut sms = json!({
        "enabled": true,
        "accountSid": ACCOUNT_SID,
        "authToken": AUTH_TOKEN,
        "fromNumber": NUMBER,
        "publicWebhookUrl": format!("http://127.0.0.1:{port}/webhooks/sms"),
        "apiBaseUrl": sim.base,
        "sendRatePerSecond": 50,
    });
    merge(&mut sms, extra);
    json!({"channels": {"sms": sms}})
}

/// Shallow-deep merge of objects (`null` removes).
pub(crate) fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

impl Gateway {
    /// The running process's id, if it is running.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Like [`Gateway::spawn`], but polls `/readyz` every `poll` and returns the time from
    /// spawning the process to its first 200 (the benchmark's start-up figure).
    pub(crate) fn spawn_timed(&mut self, poll: Duration) -> anyhow::Result<Duration> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut cmd = Command::new(&self.bins.openclaw);
        cmd.args(["gateway", "--port", &self.port.to_string()])
            .arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .env_remove("OPENCLAW_CONFIG_PATH")
            .env_remove("OPENCLAW_STATE_DIR")
            .env("RUST_LOG", "info")
            .stdout(log.try_clone()?)
            .stderr(log);
        // The gateway reads these for its default account: none may leak in from our shell.
        for var in openclaw_sms::config::ENV_VARS {
            cmd.env_remove(var);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        let started = Instant::now();
        let mut child = cmd.spawn().context("start the gateway")?;
        loop {
            if let Ok(answer) = http::request("GET", &url, &[], None, Duration::from_secs(2))
                && answer.status == 200
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the gateway exited with {status} before it was ready; log: {}",
                    self.tail_log()
                );
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                bail!(
                    "the gateway was not ready within 30 s; log: {}",
                    self.tail_log()
                );
            }
            std::thread::sleep(poll);
        }
        let ready = started.elapsed();
        self.child = Some(child);
        Ok(ready)
    }
}
