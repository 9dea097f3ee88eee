//! Running the real `openclaw` binary in a sandbox, and a fake Twilio next to it.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use openclaw_twilio_sim::{SimAccount, SimConfig, SimHandle, SimNumber, Simulator};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

/// The simulated Twilio account every test uses.
pub(crate) const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
/// Its auth token.
pub(crate) const AUTH_TOKEN: &str = "sim-auth-token";
/// The account's phone number.
pub(crate) const FROM_NUMBER: &str = "+15551234567";
/// The public webhook URL the tests configure.
pub(crate) const PUBLIC_URL: &str = "https://gateway.example.com/webhooks/sms";
/// A phone that receives texts.
pub(crate) const PHONE: &str = "+15557654321";

/// A temp directory holding the config file and the state directory, a clean environment
/// and a gateway port that nobody listens on.
pub(crate) struct Sandbox {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    gateway_port: u16,
}

/// What one run of the binary produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The exit code (`None` if killed by a signal).
    pub(crate) code: Option<i32>,
    /// Standard output, normalised.
    pub(crate) stdout: String,
    /// Standard error, normalised.
    pub(crate) stderr: String,
}

impl Outcome {
    /// The snapshot text: exit code, stdout, stderr.
    pub(crate) fn render(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code
                .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
            self.stdout,
            self.stderr
        )
    }

    /// The stdout parsed as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.render()))
    }
}

/// Asserts a snapshot of an [`Outcome`] with the shared filters (SIDs, times).
#[macro_export]
macro_rules! snap {
    ($name:expr, $outcome:expr) => {{
        let text = $outcome.render();
        insta::with_settings!({
            // ASCII-only patterns: Unicode classes make the (unoptimised) regexes slow to build.
            filters => vec![
                (r"(?-u:\b)SM[0-9a-f]{32}(?-u:\b)", "[SM_SID]"),
                (r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+Z", "[TIME]"),
                // Gateways of tests running in parallel, which `pairing approve` names.
                (r"; a gateway runs on port [0-9, ]+: to approve there, pass --gateway-port [0-9]+", ""),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, text);
        });
    }};
}

impl Sandbox {
    /// A fresh sandbox with no config file.
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("bin")).expect("bin dir");
        let home = dir.path().display().to_string();
        let env = vec![
            ("HOME".to_owned(), home.clone()),
            ("PATH".to_owned(), format!("{home}/bin")),
            // Backtraces would be captured if anything printed them; none may appear.
            ("RUST_BACKTRACE".to_owned(), "1".to_owned()),
        ];
        Self {
            dir,
            env,
            gateway_port: free_port(),
        }
    }

    /// The temp directory.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `<root>/openclaw.json`.
    pub(crate) fn config_path(&self) -> PathBuf {
        self.root().join("openclaw.json")
    }

    /// `<root>/state`.
    pub(crate) fn state_dir(&self) -> PathBuf {
        self.root().join("state")
    }

    /// Sets an environment variable for every later run.
    pub(crate) fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Writes a file under the root (parents created) and returns its path.
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.root().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Writes the config file.
    pub(crate) fn write_config(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).expect("serialise");
        self.write("openclaw.json", &text);
    }

    /// The config file's text, or `None` when it does not exist.
    pub(crate) fn config_text(&self) -> Option<String> {
        std::fs::read_to_string(self.config_path()).ok()
    }

    /// The config file as JSON.
    pub(crate) fn config_json(&self) -> serde_json::Value {
        let text = self.config_text().expect("config file exists");
        serde_json::from_str(&text).expect("config file is JSON")
    }

    /// Runs `openclaw --config … --state-dir … --gateway-port … ARGS`.
    pub(crate) fn run(&self, args: &[&str]) -> Outcome {
        self.run_with_stdin(args, None)
    }

    /// [`Sandbox::run`] with standard input.
    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Outcome {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.root())
            .arg("--config")
            .arg(self.config_path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--gateway-port")
            .arg(self.gateway_port.to_string())
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.spawn(cmd, stdin)
    }

    /// Starts `openclaw --config … --state-dir … ARGS` in the background (stdout and stderr
    /// discarded); the caller kills it.
    pub(crate) fn spawn_background(&self, args: &[&str]) -> std::process::Child {
        Command::new(BIN)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.root())
            .arg("--config")
            .arg(self.config_path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openclaw")
    }

    /// Starts `openclaw --config … --state-dir … gateway --port <gateway_port>` in the
    /// background with its stderr (the log) written to `<root>/gateway.log`; killed on drop.
    pub(crate) fn spawn_gateway(&self) -> Running {
        let log = std::fs::File::create(self.root().join("gateway.log")).expect("log file");
        let child = Command::new(BIN)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.root())
            .arg("--config")
            .arg(self.config_path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(["gateway", "--port", &self.gateway_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start openclaw gateway");
        Running(child)
    }

    /// What [`Sandbox::spawn_gateway`]'s gateway has logged so far.
    pub(crate) fn gateway_log(&self) -> String {
        std::fs::read_to_string(self.root().join("gateway.log")).unwrap_or_default()
    }

    /// The port `--gateway-port` names in [`Sandbox::run`].
    pub(crate) fn gateway_port(&self) -> u16 {
        self.gateway_port
    }

    /// Runs the binary with exactly these arguments (no sandbox flags), in the clean env.
    pub(crate) fn run_bare(&self, args: &[&str]) -> Outcome {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.root())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.spawn(cmd, None)
    }

    /// [`Sandbox::run`] for a command that must end by itself (a refusal): when it is still
    /// running after `limit` (a gateway that started, a read that never ends), it is killed and
    /// the test fails saying so. The limit only guards against a hang; nothing is timed.
    pub(crate) fn run_expecting_exit(&self, args: &[&str], limit: std::time::Duration) -> Outcome {
        let mut child = Command::new(BIN)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.root())
            .arg("--config")
            .arg(self.config_path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--gateway-port")
            .arg(self.gateway_port.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run openclaw");
        let deadline = std::time::Instant::now() + limit;
        while child.try_wait().expect("poll openclaw").is_none() {
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let output = child.wait_with_output().expect("wait for openclaw");
                panic!(
                    "openclaw {args:?} was still running after {limit:?} (it should have refused):\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("wait for openclaw");
        Outcome {
            code: output.status.code(),
            stdout: self.normalise(&String::from_utf8_lossy(&output.stdout)),
            stderr: self.normalise(&String::from_utf8_lossy(&output.stderr)),
        }
    }

    fn spawn(&self, mut cmd: Command, stdin: Option<&str>) -> Outcome {
        let mut child = cmd.spawn().expect("run openclaw");
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).expect("write stdin");
        }
        let output = child.wait_with_output().expect("wait for openclaw");
        let outcome = Outcome {
            code: output.status.code(),
            stdout: self.normalise(&String::from_utf8_lossy(&output.stdout)),
            stderr: self.normalise(&String::from_utf8_lossy(&output.stderr)),
        };
        for text in [&outcome.stdout, &outcome.stderr] {
            assert!(
                !text.contains("backtrace") && !text.contains("panicked"),
                "a panic or backtrace was printed:\n{}",
                outcome.render()
            );
        }
        outcome
    }

    fn normalise(&self, text: &str) -> String {
        text.replace(&self.root().display().to_string(), "[TMP]")
            .replace(&format!("port {}", self.gateway_port), "port [PORT]")
    }
}

/// A process started by the test, killed (and reaped) when dropped.
pub(crate) struct Running(pub(crate) std::process::Child);

impl Running {
    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago and that nothing listens on now.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// The simulator running in-process on its own Tokio runtime (the binary talks to it over
/// loopback while the test thread waits for the child process).
pub(crate) struct FakeTwilio {
    handle: Option<SimHandle>,
    runtime: tokio::runtime::Runtime,
}

impl FakeTwilio {
    /// One account ([`ACCOUNT_SID`]) owning [`FROM_NUMBER`], whose SMS URL is `sms_url`.
    pub(crate) fn start(sms_url: Option<&str>) -> Self {
        let mut number = SimNumber::new(FROM_NUMBER);
        if let Some(url) = sms_url {
            number = number.with_sms_url(url);
        }
        Self::start_with(SimAccount::new(ACCOUNT_SID, AUTH_TOKEN).with_number(number))
    }

    /// A simulator with this one account.
    pub(crate) fn start_with(account: SimAccount) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let handle = runtime
            .block_on(Simulator::start(SimConfig::new().with_account(account)))
            .expect("start the simulator");
        Self {
            handle: Some(handle),
            runtime,
        }
    }

    fn handle(&self) -> &SimHandle {
        // Set in `start`, taken only in `drop`.
        self.handle.as_ref().expect("simulator running")
    }

    /// A phone texts the account's number (the simulator POSTs the number's webhook).
    pub(crate) fn text_from(&self, phone: &str, body: &str) {
        let phone = self.handle().phone(phone).expect("a valid phone number");
        // The webhook may fail (that is what some tests want): the message is recorded anyway.
        let _ = self.runtime.block_on(phone.text(FROM_NUMBER, body));
    }

    /// Like [`FakeTwilio::text_from`] with a fixed inbound `MessageSid`.
    pub(crate) fn text_from_with_sid(&self, phone: &str, sid: &str, body: &str) {
        let phone = self.handle().phone(phone).expect("a valid phone number");
        let _ = self
            .runtime
            .block_on(phone.text_with_sid(sid, FROM_NUMBER, body));
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> String {
        self.handle().base_url().to_owned()
    }

    /// Bodies of the messages sent to `to`, oldest first.
    pub(crate) fn bodies_to(&self, to: &str) -> Vec<String> {
        self.handle()
            .messages()
            .into_iter()
            .filter(|m| m.to == to)
            .map(|m| m.body)
            .collect()
    }

    /// (sender, body) of the messages sent to `to`, oldest first.
    pub(crate) fn messages_to(&self, to: &str) -> Vec<(String, String)> {
        self.handle()
            .messages()
            .into_iter()
            .filter(|m| m.to == to)
            .map(|m| (m.from, m.body))
            .collect()
    }

    /// Billed segments of the messages sent to `to`, as the simulator counted them.
    pub(crate) fn segments_to(&self, to: &str) -> u64 {
        self.handle()
            .messages()
            .into_iter()
            .filter(|m| m.to == to)
            .map(|m| u64::from(m.num_segments))
            .sum()
    }

    /// SIDs of the messages sent to `to`, oldest first.
    pub(crate) fn sids_to(&self, to: &str) -> Vec<String> {
        self.handle()
            .messages()
            .into_iter()
            .filter(|m| m.to == to)
            .map(|m| m.sid)
            .collect()
    }

    /// The SMS config of an account using this simulator (`dmPolicy: pairing`).
    pub(crate) fn sms_section(&self) -> serde_json::Value {
        serde_json::json!({
            "enabled": true,
            "accountSid": ACCOUNT_SID,
            "authToken": AUTH_TOKEN,
            "fromNumber": FROM_NUMBER,
            "publicWebhookUrl": PUBLIC_URL,
            "apiBaseUrl": self.base_url(),
            "dmPolicy": "pairing",
        })
    }

    /// Replaces the simulator base URL in output by `[SIM]`.
    pub(crate) fn scrub(&self, mut outcome: Outcome) -> Outcome {
        let base = self.base_url();
        outcome.stdout = outcome.stdout.replace(&base, "[SIM]");
        outcome.stderr = outcome.stderr.replace(&base, "[SIM]");
        outcome
    }
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        let _guard = self.runtime.enter();
        drop(self.handle.take());
    }
}
