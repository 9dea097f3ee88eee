//! The `state` section of the config: where the gateway keeps its durable state.
//!
//! `state.backend` is `"sqlite"` (the default: one file in the state directory, for one
//! gateway) or `"postgres"` (one database shared by several gateways behind a load balancer).
//! The section is checked strictly, as `channels.sms` is: an unknown key names its path and
//! the nearest valid key. `state.url` is a secret (it usually holds a password): a plain string
//! or a SecretRef, never printed; what the gateway shows is [`describe_url`]'s host, port and
//! database.

use anyhow::{Context as _, bail};
use openclaw_sms::config::{SecretInput, nearest_key};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use crate::secrets::SecretsRuntime;

/// The keys of the `state` section.
pub(crate) const STATE_KEYS: &[&str] = &["backend", "url", "schema", "maxConnections", "leaseMs"];
/// `state.maxConnections` when not set: connections in the PostgreSQL pool of one gateway.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 8;
/// The largest `state.maxConnections` accepted.
pub(crate) const MAX_CONNECTIONS_LIMIT: u64 = 64;
/// `state.leaseMs` when not set: how long a claim on a queued message lasts without renewal.
pub(crate) const DEFAULT_LEASE_MS: i64 = 30_000;
/// The shortest `state.leaseMs` accepted (the pump renews every third of it).
pub(crate) const MIN_LEASE_MS: i64 = 1_000;
/// The longest `state.schema` accepted (PostgreSQL's identifier limit).
pub(crate) const MAX_SCHEMA_LEN: usize = 63;
/// PostgreSQL's port when a URL names none.
pub(crate) const DEFAULT_PG_PORT: u16 = 5432;

/// Where the state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// SQLite, `state/openclaw-sms.sqlite` in the state directory.
    Sqlite,
    /// A PostgreSQL database (`state.url`).
    Postgres,
}

impl Backend {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The checked `state` section.
#[derive(Debug, Clone)]
pub(crate) struct StateSettings {
    /// The backend.
    pub(crate) backend: Backend,
    /// `state.url` as written (a plain value or a reference; resolved by [`Self::resolve_url`]).
    pub(crate) url: Option<SecretInput>,
    /// `state.schema`: the PostgreSQL schema (default: the connection's search path).
    pub(crate) schema: Option<String>,
    /// `state.maxConnections`.
    pub(crate) max_connections: usize,
    /// `state.leaseMs`.
    pub(crate) lease_ms: i64,
}

impl Default for StateSettings {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            url: None,
            schema: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            lease_ms: DEFAULT_LEASE_MS,
        }
    }
}

fn invalid(key: &str, what: &str) -> anyhow::Error {
    anyhow::anyhow!("state.{key}: {what}")
}

/// The fix for a missing `state.url`.
const URL_FIX: &str = "set it to the database URL, for example \"${OPENCLAW_STATE_URL}\" with OPENCLAW_STATE_URL=postgres://openclaw:PASSWORD@db.example.com:5432/openclaw in the gateway's environment";

impl StateSettings {
    /// Reads and checks `state` of `config` (defaults when absent).
    pub(crate) fn from_config(config: &Value) -> anyhow::Result<Self> {
        let mut settings = Self::default();
        let section = match config.get("state") {
            None | Some(Value::Null) => return Ok(settings),
            Some(Value::Object(map)) => map,
            Some(_) => bail!(
                "state: must be an object such as {{ backend: \"postgres\", url: \"${{OPENCLAW_STATE_URL}}\" }}"
            ),
        };
        for key in section.keys() {
            if !STATE_KEYS.contains(&key.as_str()) {
                let hint = match nearest_key(key, STATE_KEYS) {
                    Some(near) => format!("unknown key; did you mean `{near}`?"),
                    None => format!("unknown key; valid keys are: {}", STATE_KEYS.join(", ")),
                };
                return Err(invalid(key, &hint));
            }
        }
        if let Some(value) = section.get("backend") {
            settings.backend = match value.as_str() {
                Some("sqlite") => Backend::Sqlite,
                Some("postgres") => Backend::Postgres,
                _ => return Err(invalid("backend", "must be \"sqlite\" or \"postgres\"")),
            };
        }
        if let Some(value) = section.get("url") {
            let input: SecretInput = serde_json::from_value(value.clone()).map_err(|_| {
                invalid(
                    "url",
                    "must be a postgres:// URL or a SecretRef { source, provider, id }",
                )
            })?;
            if let (SecretInput::Plain(text), None) = (&input, input.reference()) {
                let text = text.trim();
                if !text.is_empty() && !is_postgres_url(text) {
                    // The value itself is not echoed: it may hold a password.
                    return Err(invalid(
                        "url",
                        "must start with postgres:// or postgresql:// (or be a SecretRef such as \"${OPENCLAW_STATE_URL}\")",
                    ));
                }
            }
            settings.url = input.is_configured().then_some(input);
        }
        if let Some(value) = section.get("schema") {
            match value.as_str() {
                Some(s) if is_schema_name(s) => settings.schema = Some(s.to_owned()),
                _ => {
                    return Err(invalid(
                        "schema",
                        &format!(
                            "must be a lower-case name of letters, digits and _ that starts with a letter or _ (at most {MAX_SCHEMA_LEN} characters)"
                        ),
                    ));
                }
            }
        }
        if let Some(value) = section.get("maxConnections") {
            match value.as_u64() {
                Some(n) if (1..=MAX_CONNECTIONS_LIMIT).contains(&n) => {
                    // At most 64: fits any usize.
                    settings.max_connections = usize::try_from(n).unwrap_or(1);
                }
                _ => {
                    return Err(invalid(
                        "maxConnections",
                        &format!("must be a whole number from 1 to {MAX_CONNECTIONS_LIMIT}"),
                    ));
                }
            }
        }
        if let Some(value) = section.get("leaseMs") {
            match value.as_i64() {
                Some(n) if n >= MIN_LEASE_MS => settings.lease_ms = n,
                _ => {
                    return Err(invalid(
                        "leaseMs",
                        &format!("must be a whole number of milliseconds, at least {MIN_LEASE_MS}"),
                    ));
                }
            }
        }
        if settings.backend == Backend::Postgres && settings.url.is_none() {
            bail!("state.url is required when state.backend is \"postgres\": {URL_FIX}");
        }
        Ok(settings)
    }

    /// Resolves `state.url` (SecretRefs included); an error when it is not set.
    pub(crate) fn resolve_url(&self, secrets: &SecretsRuntime<'_>) -> anyhow::Result<SecretString> {
        let input = self
            .url
            .as_ref()
            .with_context(|| format!("state.url is not set: {URL_FIX}"))?;
        let url = secrets.resolve("state.url", input)?;
        // A reference that was only checked for shape has no value to look at yet.
        let unread = !secrets.resolves() && input.reference().is_some();
        if !unread && !is_postgres_url(url.expose_secret().trim()) {
            bail!(
                "state.url: the resolved value must start with postgres:// or postgresql:// (the value is not shown)"
            );
        }
        Ok(url)
    }
}

pub(crate) fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

fn is_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.len() <= MAX_SCHEMA_LEN
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `host:port/database` of a PostgreSQL URL, without user or password (what logs, errors and
/// status show). Several hosts are joined with commas; a URL that does not parse is described
/// as such, never echoed.
pub(crate) fn describe_url(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return "an unparsable URL".to_owned();
    };
    let db = parsed.path().trim_start_matches('/');
    let db = percent_decode(db);
    let host = parsed.host_str().unwrap_or("");
    let mut host = if host.is_empty() {
        // postgres:///db?host=/run/postgresql: a Unix socket directory in the query.
        parsed
            .query_pairs()
            .find(|(k, _)| k == "host")
            .map_or_else(|| "localhost".to_owned(), |(_, v)| v.into_owned())
    } else {
        host.to_owned()
    };
    host.push_str(&format!(":{}", parsed.port().unwrap_or(DEFAULT_PG_PORT)));
    // As libpq: no database means the user's name, else `postgres` (the store says the same).
    let db = if !db.is_empty() {
        db
    } else if !parsed.username().is_empty() {
        percent_decode(parsed.username())
    } else {
        "postgres".to_owned()
    };
    format!("{host}/{db}")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `message` with the URL and its password replaced by `***`: for errors from the database
/// driver, which should not quote them but are not ours to trust.
pub(crate) fn scrub(message: &str, url: &SecretString) -> String {
    let url = url.expose_secret();
    let mut out = message.replace(url, "***");
    if let Ok(parsed) = url::Url::parse(url.trim())
        && let Some(password) = parsed.password()
        && !password.is_empty()
    {
        out = out.replace(password, "***");
        let decoded = percent_decode(password);
        if !decoded.is_empty() {
            out = out.replace(&decoded, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check_err(state: Value, expected: &str) {
        let err = StateSettings::from_config(&json!({ "state": state })).unwrap_err();
        assert_eq!(format!("{err:#}"), expected);
    }

    #[test]
    fn bad_sections_name_the_key_and_the_fix() {
        check_err(
            json!({"backnd": "postgres"}),
            "state.backnd: unknown key; did you mean `backend`?",
        );
        check_err(
            json!({"lease": 5000}),
            "state.lease: unknown key; did you mean `leaseMs`?",
        );
        check_err(
            json!({"zzzzzzzz": 1}),
            "state.zzzzzzzz: unknown key; valid keys are: backend, url, schema, maxConnections, leaseMs",
        );
        check_err(
            json!({"backend": "mysql"}),
            "state.backend: must be \"sqlite\" or \"postgres\"",
        );
        check_err(
            json!({"backend": "postgres"}),
            &format!("state.url is required when state.backend is \"postgres\": {URL_FIX}"),
        );
        check_err(
            json!({"backend": "postgres", "url": " "}),
            &format!("state.url is required when state.backend is \"postgres\": {URL_FIX}"),
        );
        check_err(
            json!({"url": "mysql://u:hunter2@h/db"}),
            "state.url: must start with postgres:// or postgresql:// (or be a SecretRef such as \"${OPENCLAW_STATE_URL}\")",
        );
        check_err(
            json!({"url": 5}),
            "state.url: must be a postgres:// URL or a SecretRef { source, provider, id }",
        );
        check_err(
            json!({"schema": "Bad-Name"}),
            "state.schema: must be a lower-case name of letters, digits and _ that starts with a letter or _ (at most 63 characters)",
        );
        check_err(
            json!({"maxConnections": 0}),
            "state.maxConnections: must be a whole number from 1 to 64",
        );
        check_err(
            json!({"maxConnections": 65}),
            "state.maxConnections: must be a whole number from 1 to 64",
        );
        check_err(
            json!({"leaseMs": 999}),
            "state.leaseMs: must be a whole number of milliseconds, at least 1000",
        );
        check_err(
            json!("postgres"),
            "state: must be an object such as { backend: \"postgres\", url: \"${OPENCLAW_STATE_URL}\" }",
        );
    }

    #[test]
    fn good_sections_and_defaults() {
        let s = StateSettings::from_config(&json!({})).unwrap();
        assert_eq!(
            (s.backend, s.max_connections, s.lease_ms),
            (Backend::Sqlite, 8, 30_000)
        );
        let s = StateSettings::from_config(&json!({"state": {
            "backend": "postgres", "url": "${PG_URL}", "schema": "gw_1", "maxConnections": 64, "leaseMs": 1000,
        }}))
        .unwrap();
        assert_eq!(s.backend, Backend::Postgres);
        assert_eq!(
            s.url
                .and_then(|u| u.reference())
                .map(|r| r.to_string())
                .as_deref(),
            Some("env:default:PG_URL")
        );
        assert_eq!(
            (s.schema.as_deref(), s.max_connections, s.lease_ms),
            (Some("gw_1"), 64, 1000)
        );
        // A URL for `state copy` may be set while SQLite still runs.
        let s = StateSettings::from_config(&json!({"state": {"url": "postgres://h/db"}})).unwrap();
        assert_eq!(s.backend, Backend::Sqlite);
    }

    fn check_describe(url: &str, expected: &str) {
        assert_eq!(describe_url(url), expected, "{url}");
    }

    #[test]
    fn descriptions_hide_user_and_password() {
        check_describe(
            "postgres://openclaw:s3cret@127.0.0.1:55432/postgres",
            "127.0.0.1:55432/postgres",
        );
        check_describe(
            "postgresql://u:p%40ss@db.example.com/openclaw?sslmode=require",
            "db.example.com:5432/openclaw",
        );
        check_describe("postgres://db.example.com", "db.example.com:5432/postgres");
        check_describe("postgres://gw:pw@db.example.com", "db.example.com:5432/gw");
        check_describe("postgres://u:p@[::1]:6000/x", "[::1]:6000/x");
        check_describe(
            "postgres:///openclaw?host=/run/postgresql",
            "/run/postgresql:5432/openclaw",
        );
        check_describe("postgres://u:p@host:notaport/db", "an unparsable URL");
    }

    #[test]
    fn scrub_removes_url_and_password() {
        let url = SecretString::from("postgres://u:p%40ss@h:1/db");
        assert_eq!(
            scrub("bad postgres://u:p%40ss@h:1/db here", &url),
            "bad *** here"
        );
        assert_eq!(
            scrub("password p@ss and p%40ss", &url),
            "password *** and ***"
        );
        assert_eq!(
            scrub("nothing", &SecretString::from("postgres://h/db")),
            "nothing"
        );
    }
}
