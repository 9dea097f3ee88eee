//! The secrets runtime: turns `SecretInput`s into values once, at start.
//!
//! Providers live under `secrets.providers.<alias>`:
//! - `{ source: "env", allowlist?: [..] }` (an implicit `default` env provider always exists);
//! - `{ source: "file", path, mode: "json" | "singleValue" }`: at most 1 MiB, refused when the
//!   file is readable by group or others; `json` ids are absolute JSON pointers;
//! - `{ source: "exec", command: "/abs/path", args?: [..], passEnv?: [..], timeoutMs? }`: run
//!   without a shell, JSON protocol version 1 on stdin/stdout, 5 s timeout by default.
//!
//! Errors name the config key and the reference, never a value.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use openclaw_sms::config::{SecretInput, SecretRef, SecretSource, is_env_name};
use secrecy::SecretString;
use serde_json::Value;

use crate::env::Env;

/// Largest secrets file or exec output we read.
pub(crate) const MAX_SECRET_BYTES: u64 = 1024 * 1024;
/// Default exec provider timeout.
pub(crate) const EXEC_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`SecretsRuntime::resolve`] does with a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretsMode {
    /// Read the value: where it is used (gateway start-up, `message send`, `state`), and in
    /// `config validate --resolve-secrets`.
    Resolve,
    /// Check only the reference's shape (provider exists with that source, the id's syntax,
    /// an exec command's absolute path) and read nothing: `config patch` and `config validate`
    /// run in the admin's shell, which does not hold the gateway's secrets. The value handed
    /// back is [`UNRESOLVED`], which only validation ever sees.
    ShapeOnly,
}

/// The stand-in value of a reference in [`SecretsMode::ShapeOnly`].
pub(crate) const UNRESOLVED: &str = "unresolved-secret-ref";

/// Resolves secrets against the config's `secrets.providers` and the environment.
#[derive(Debug)]
pub(crate) struct SecretsRuntime<'a> {
    providers: Option<&'a serde_json::Map<String, Value>>,
    env: &'a Env,
    mode: SecretsMode,
}

impl<'a> SecretsRuntime<'a> {
    /// A runtime that reads values ([`SecretsMode::Resolve`]).
    pub(crate) fn new(config: &'a Value, env: &'a Env) -> Self {
        Self::with_mode(config, env, SecretsMode::Resolve)
    }

    /// A runtime in `mode`.
    pub(crate) fn with_mode(config: &'a Value, env: &'a Env, mode: SecretsMode) -> Self {
        let providers = config
            .pointer("/secrets/providers")
            .and_then(Value::as_object);
        Self {
            providers,
            env,
            mode,
        }
    }

    /// Whether references are read (not only checked).
    pub(crate) fn resolves(&self) -> bool {
        self.mode == SecretsMode::Resolve
    }

    /// Resolves an input found at `key` (a dotted config path used in messages).
    pub(crate) fn resolve(&self, key: &str, input: &SecretInput) -> anyhow::Result<SecretString> {
        let Some(reference) = input.reference() else {
            return match input {
                SecretInput::Plain(s) => Ok(SecretString::from(s.clone())),
                SecretInput::Ref(_) => unreachable!("a Ref input always has a reference"),
            };
        };
        let provider = self
            .check_shape(&reference)
            .map_err(|err| anyhow!("{key}: SecretRef \"{reference}\" is malformed: {err:#}"))?;
        if self.mode == SecretsMode::ShapeOnly {
            return Ok(SecretString::from(UNRESOLVED));
        }
        self.read(&reference, provider)
            .map(SecretString::from)
            .map_err(|err| anyhow!("{key}: unresolved SecretRef \"{reference}\": {err:#}"))
    }

    fn provider(&self, reference: &SecretRef) -> anyhow::Result<Option<&'a Value>> {
        let alias = &reference.provider;
        if !valid_alias(alias) {
            bail!("provider alias must match ^[a-z][a-z0-9_-]{{0,63}}$");
        }
        let Some(provider) = self.providers.and_then(|p| p.get(alias)) else {
            return Ok(None);
        };
        let source = provider.get("source").and_then(Value::as_str).unwrap_or("");
        if source != reference.source.to_string() {
            bail!(
                "secrets.providers.{alias} has source \"{source}\", but the reference asks for \"{}\"",
                reference.source
            );
        }
        Ok(Some(provider))
    }

    /// Everything about a reference that can be checked without reading the secret; the
    /// provider's config when it has one.
    fn check_shape(&self, reference: &SecretRef) -> anyhow::Result<Option<&'a Value>> {
        let provider = self.provider(reference)?;
        let missing = || {
            anyhow!(
                "no provider secrets.providers.{} is configured (source \"{}\")",
                reference.provider,
                reference.source
            )
        };
        match reference.source {
            SecretSource::Env => {
                if !is_env_name(&reference.id) {
                    bail!("env ids must match ^[A-Z][A-Z0-9_]{{0,127}}$");
                }
                let allowlist = provider
                    .and_then(|p| p.get("allowlist"))
                    .and_then(Value::as_array);
                if allowlist.is_some_and(|list| {
                    !list
                        .iter()
                        .any(|v| v.as_str() == Some(reference.id.as_str()))
                }) {
                    bail!(
                        "{} is not in secrets.providers.{}.allowlist",
                        reference.id,
                        reference.provider
                    );
                }
                if provider.is_none() && reference.provider != "default" {
                    bail!(
                        "no provider secrets.providers.{} is configured",
                        reference.provider
                    );
                }
            }
            SecretSource::File => check_file_shape(provider.ok_or_else(missing)?, &reference.id)?,
            SecretSource::Exec => {
                exec_command(provider.ok_or_else(missing)?)?;
            }
            _ => bail!(
                "the \"{}\" source is not supported by this gateway; use env, file or exec",
                reference.source
            ),
        }
        Ok(provider)
    }

    /// Reads a reference whose shape [`Self::check_shape`] accepted.
    fn read(&self, reference: &SecretRef, provider: Option<&Value>) -> anyhow::Result<String> {
        match (reference.source, provider) {
            (SecretSource::Env, _) => {
                self.env
                    .get(&reference.id)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        anyhow!(
                            "environment variable {} is not set (or blank)",
                            reference.id
                        )
                    })
            }
            (SecretSource::File, Some(provider)) => resolve_file(provider, &reference.id, self.env),
            (SecretSource::Exec, Some(provider)) => {
                resolve_exec(provider, &reference.provider, &reference.id, self.env)
            }
            _ => bail!("the \"{}\" source cannot be read", reference.source),
        }
    }
}

/// A file provider's `path` and `mode`, and an id that fits the mode.
fn check_file_shape(provider: &Value, id: &str) -> anyhow::Result<()> {
    let path = provider
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| anyhow!("the file provider needs a `path`"))?;
    if path.contains('\0') {
        bail!("the file provider's `path` holds a NUL character");
    }
    match file_mode(provider) {
        "singleValue" if id != "value" => {
            bail!("a singleValue file provider takes the id \"value\"")
        }
        "json" if !id.starts_with('/') => {
            bail!("file ids are absolute JSON pointers such as /twilio/authToken")
        }
        "singleValue" | "json" => Ok(()),
        other => bail!("unknown file provider mode \"{other}\"; use \"json\" or \"singleValue\""),
    }
}

fn file_mode(provider: &Value) -> &str {
    provider
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("json")
}

/// An exec provider's `command`: an absolute path (no shell is used).
fn exec_command(provider: &Value) -> anyhow::Result<&str> {
    let command = provider
        .get("command")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the exec provider needs a `command`"))?;
    if !Path::new(command).is_absolute() {
        bail!("the exec provider's command must be an absolute path (no shell is used)");
    }
    Ok(command)
}

fn valid_alias(alias: &str) -> bool {
    let mut chars = alias.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && alias.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn expand_home(path: &str, env: &Env) -> PathBuf {
    match (path.strip_prefix("~/"), env.get("HOME")) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ => PathBuf::from(path),
    }
}

fn resolve_file(provider: &Value, id: &str, env: &Env) -> anyhow::Result<String> {
    check_file_shape(provider, id)?;
    let path = provider
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the file provider needs a `path`"))?;
    let path = expand_home(path, env);
    let bytes = crate::config_input::read_regular_file_checked(
        &path,
        MAX_SECRET_BYTES,
        "secrets file",
        |meta| private_file(meta, &path),
    )?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("secrets file {} is not UTF-8 text", path.display()))?;
    match file_mode(provider) {
        "singleValue" => {
            let value = text
                .strip_suffix('\n')
                .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
            Ok(value.to_owned())
        }
        // "json": check_file_shape allows no other mode.
        _ => {
            let doc: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            match doc.pointer(id) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(_) => bail!("{id} in {} is not a non-empty string", path.display()),
                None => bail!("{id} is not present in {}", path.display()),
            }
        }
    }
}

/// A secrets file must be private: refused when group or others may read it.
fn private_file(meta: &std::fs::Metadata, path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by group or others (mode {mode:o}); run chmod 600 on it",
                path.display()
            );
        }
    }
    Ok(())
}

fn resolve_exec(provider: &Value, alias: &str, id: &str, env: &Env) -> anyhow::Result<String> {
    let command = exec_command(provider)?;
    let args: Vec<String> = provider
        .get("args")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let timeout = provider
        .get("timeoutMs")
        .and_then(Value::as_u64)
        .map_or(EXEC_TIMEOUT, Duration::from_millis);
    let mut cmd = Command::new(command);
    cmd.args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_clear();
    if let Some(pass) = provider.get("passEnv").and_then(Value::as_array) {
        for name in pass.iter().filter_map(Value::as_str) {
            if let Some(value) = env.raw(name) {
                cmd.env(name, value);
            }
        }
    }
    let mut child = cmd.spawn().with_context(|| format!("run {command}"))?;
    let request = serde_json::json!({"protocolVersion": 1, "provider": alias, "ids": [id]});
    if let Some(mut stdin) = child.stdin.take() {
        // A provider that exits without reading stdin is judged by its output below.
        let _ = stdin.write_all(request.to_string().as_bytes());
    }
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout pipe"))?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stdout)
            .take(MAX_SECRET_BYTES + 1)
            .read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{command} did not answer within {} ms", timeout.as_millis());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = reader
        .join()
        .map_err(|_| anyhow!("reading {command}'s output failed"))?;
    if !status.success() {
        bail!("{command} exited with {status}");
    }
    if output.len() as u64 > MAX_SECRET_BYTES {
        bail!("{command} printed more than {MAX_SECRET_BYTES} bytes");
    }
    let answer: Value = serde_json::from_slice(&output)
        .with_context(|| format!("{command} did not print protocol JSON"))?;
    if answer.get("protocolVersion").and_then(Value::as_u64) != Some(1) {
        bail!("{command} answered with a protocolVersion other than 1");
    }
    if let Some(err) = answer.pointer(&format!("/errors/{}", pointer_escape(id))) {
        let code = err.get("code").and_then(Value::as_str).unwrap_or("error");
        bail!("{command} reported {code} for this id");
    }
    match answer.pointer(&format!("/values/{}", pointer_escape(id))) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => bail!("{command} returned no value for this id"),
    }
}

fn pointer_escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;
    use serde_json::json;

    use super::*;

    fn input(v: Value) -> SecretInput {
        serde_json::from_value(v).unwrap()
    }

    /// An exec provider that runs a shell script with `body` through `/bin/sh` (the script is
    /// read, not executed: a file just written can still be open for writing in a child that
    /// another test is forking, and executing it then fails with ETXTBSY).
    fn write_script(dir: &Path, name: &str, body: &str) -> Value {
        let path = dir.join(name);
        std::fs::write(&path, format!("{body}\n")).unwrap();
        json!({"source": "exec", "command": "/bin/sh", "args": [path.to_str().unwrap()]})
    }

    #[test]
    fn env_refs_and_shorthand() {
        let env = Env::from_pairs(&[("TWILIO_AUTH_TOKEN", "tok"), ("BLANK", " ")]);
        let config = json!({});
        let rt = SecretsRuntime::new(&config, &env);
        let key = "channels.sms.authToken";
        assert_eq!(
            rt.resolve(key, &input(json!("plain")))
                .unwrap()
                .expose_secret(),
            "plain"
        );
        assert_eq!(
            rt.resolve(key, &input(json!("${TWILIO_AUTH_TOKEN}")))
                .unwrap()
                .expose_secret(),
            "tok"
        );
        let r = json!({"source": "env", "provider": "default", "id": "TWILIO_AUTH_TOKEN"});
        assert_eq!(rt.resolve(key, &input(r)).unwrap().expose_secret(), "tok");
        let err = rt
            .resolve(
                key,
                &input(json!({"source": "env", "provider": "default", "id": "BLANK"})),
            )
            .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "channels.sms.authToken: unresolved SecretRef \"env:default:BLANK\": environment variable BLANK is not set (or blank)"
        );
        let err = rt
            .resolve(
                key,
                &input(json!({"source": "file", "provider": "vault", "id": "/x"})),
            )
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("no provider secrets.providers.vault is configured"),
            "{err:#}"
        );
    }

    #[test]
    fn env_allowlist_is_honoured() {
        let env = Env::from_pairs(&[("A", "1"), ("B", "2")]);
        let config =
            json!({"secrets": {"providers": {"default": {"source": "env", "allowlist": ["A"]}}}});
        let rt = SecretsRuntime::new(&config, &env);
        assert!(rt.resolve("k", &input(json!("${A}"))).is_ok());
        assert!(
            format!("{:#}", rt.resolve("k", &input(json!("${B}"))).unwrap_err())
                .contains("allowlist")
        );
    }

    #[test]
    fn file_provider_json_single_value_and_permissions() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let json_path = dir.path().join("secrets.json");
        std::fs::write(&json_path, r#"{"twilio": {"token": "from-file"}}"#).unwrap();
        std::fs::set_permissions(&json_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let single = dir.path().join("token.txt");
        std::fs::write(&single, "single-value\n").unwrap();
        std::fs::set_permissions(&single, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env = Env::default();
        let config = json!({"secrets": {"providers": {
            "main": {"source": "file", "path": json_path, "mode": "json"},
            "one": {"source": "file", "path": single, "mode": "singleValue"},
        }}});
        let rt = SecretsRuntime::new(&config, &env);
        let got = rt
            .resolve(
                "k",
                &input(json!({"source": "file", "provider": "main", "id": "/twilio/token"})),
            )
            .unwrap();
        assert_eq!(got.expose_secret(), "from-file");
        let got = rt
            .resolve(
                "k",
                &input(json!({"source": "file", "provider": "one", "id": "value"})),
            )
            .unwrap();
        assert_eq!(got.expose_secret(), "single-value");
        let err = rt
            .resolve(
                "k",
                &input(json!({"source": "file", "provider": "main", "id": "/twilio/nope"})),
            )
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("/twilio/nope is not present"),
            "{err:#}"
        );
        std::fs::set_permissions(&json_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = rt
            .resolve(
                "k",
                &input(json!({"source": "file", "provider": "main", "id": "/twilio/token"})),
            )
            .unwrap_err();
        assert!(format!("{err:#}").contains("chmod 600"), "{err:#}");
        // Never the value in an error.
        assert!(!format!("{err:#}").contains("from-file"));
    }

    #[test]
    fn a_fifo_secrets_file_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("token.fifo");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let env = Env::default();
        let config = json!({"secrets": {"providers": {
            "one": {"source": "file", "path": fifo, "mode": "singleValue"},
        }}});
        let rt = SecretsRuntime::new(&config, &env);
        let err = rt
            .resolve(
                "channels.sms.authToken",
                &input(json!({"source": "file", "provider": "one", "id": "value"})),
            )
            .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!(
                "channels.sms.authToken: unresolved SecretRef \"file:one:value\": secrets file {} is a FIFO, not a regular file; write it to a file and name that",
                fifo.display()
            )
        );
    }

    #[test]
    fn shape_only_checks_references_and_reads_nothing() {
        let env = Env::default();
        let config = json!({"secrets": {"providers": {
            "vault": {"source": "file", "path": "/nonexistent/secrets.json", "mode": "json"},
            "run": {"source": "exec", "command": "/nonexistent/bin"},
        }}});
        let rt = SecretsRuntime::with_mode(&config, &env, SecretsMode::ShapeOnly);
        let key = "channels.sms.authToken";
        // Unset variables, missing files and commands: nothing is read, so all pass.
        for ok in [
            json!("${UNSET_TWILIO_TOKEN}"),
            json!({"source": "file", "provider": "vault", "id": "/twilio/token"}),
            json!({"source": "exec", "provider": "run", "id": "twilio/token"}),
        ] {
            let value = rt.resolve(key, &input(ok.clone())).unwrap();
            assert_eq!(value.expose_secret(), UNRESOLVED, "{ok}");
        }
        // A plain value is itself.
        assert_eq!(
            rt.resolve(key, &input(json!("plain")))
                .unwrap()
                .expose_secret(),
            "plain"
        );
        let msg = |v: Value| format!("{:#}", rt.resolve(key, &input(v)).unwrap_err());
        assert_eq!(
            msg(json!({"source": "env", "provider": "default", "id": "lower"})),
            "channels.sms.authToken: SecretRef \"env:default:lower\" is malformed: env ids must match ^[A-Z][A-Z0-9_]{0,127}$"
        );
        assert!(
            msg(json!({"source": "file", "provider": "vault", "id": "twilio/token"}))
                .ends_with("file ids are absolute JSON pointers such as /twilio/authToken")
        );
        assert!(
            msg(json!({"source": "file", "provider": "nope", "id": "/x"}))
                .ends_with("no provider secrets.providers.nope is configured (source \"file\")")
        );
        assert!(
            msg(json!({"source": "exec", "provider": "vault", "id": "x"}))
                .contains("has source \"file\", but the reference asks for \"exec\"")
        );
    }

    #[test]
    fn exec_provider_protocol_errors_and_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_script(
            dir.path(),
            "good",
            r#"read req; echo '{"protocolVersion":1,"values":{"twilio/token":"from-exec"}}'"#,
        );
        let denied = write_script(
            dir.path(),
            "denied",
            r#"read req; echo '{"protocolVersion":1,"values":{},"errors":{"twilio/token":{"code":"denied"}}}'"#,
        );
        let hangs = write_script(dir.path(), "hangs", "sleep 30");
        let fails = write_script(dir.path(), "fails", "exit 3");
        let env = Env::default();
        let mut hangs = hangs;
        hangs["timeoutMs"] = json!(300);
        let config = json!({"secrets": {"providers": {
            "good": good,
            "denied": denied,
            "hangs": hangs,
            "fails": fails,
            "relative": {"source": "exec", "command": "bin/x"},
        }}});
        let rt = SecretsRuntime::new(&config, &env);
        let r = |p: &str| input(json!({"source": "exec", "provider": p, "id": "twilio/token"}));
        assert_eq!(
            rt.resolve("k", &r("good")).unwrap().expose_secret(),
            "from-exec"
        );
        let msg = |p: &str| format!("{:#}", rt.resolve("k", &r(p)).unwrap_err());
        assert!(
            msg("denied").contains("reported denied"),
            "{}",
            msg("denied")
        );
        assert!(
            msg("hangs").contains("did not answer within 300 ms"),
            "{}",
            msg("hangs")
        );
        assert!(msg("fails").contains("exited with"), "{}", msg("fails"));
        assert!(
            msg("relative").contains("absolute path"),
            "{}",
            msg("relative")
        );
    }
}
