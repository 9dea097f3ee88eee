//! Turning the config into running pieces: accounts with resolved secrets, the store, the agent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use openclaw_sms::config::{AccountSettings, SmsAccounts, check_webhook_paths};
use openclaw_sms::{
    AccountOptions, AccountRuntime, ForwardedHeader, ResolvedAccount, TrustedProxies,
};
use openclaw_store::{PostgresOptions, PostgresStore, SqliteStore, Store, StoreOptions};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use crate::cli::Ctx;
use crate::secrets::SecretsRuntime;
use crate::state::{Backend, StateSettings, describe_url, scrub};

/// The SQLite file inside the state directory.
pub(crate) const STORE_FILE: &str = "state/openclaw-sms.sqlite";

/// The store's group-commit gather window in the gateway: none. The store's default (1 ms)
/// pays off for a steady crowd of enqueuers; in the gateway, webhook enqueues are mixed with
/// the pipeline's writes, so waiting for "the rest of the last batch" mostly adds latency.
/// Measured with `cargo xtask bench` (release, same machine, same run conditions): with the
/// 1 ms window 825 / 3,679 webhooks/s at 2 / 16 connections, with none 953 / 4,517.
pub(crate) const STORE_GATHER_WINDOW: std::time::Duration = std::time::Duration::ZERO;

/// Where the store lives.
pub(crate) fn store_path(state_dir: &Path) -> PathBuf {
    state_dir.join(STORE_FILE)
}

/// Where the state of a command lives, for status output: no secret in it.
#[derive(Debug, Clone)]
pub(crate) struct StateTarget {
    /// The backend.
    pub(crate) backend: Backend,
    /// The SQLite file, or `host:port/database` of the PostgreSQL URL (no user, no password).
    pub(crate) location: String,
    /// `state.schema` (PostgreSQL only).
    pub(crate) schema: Option<String>,
}

impl StateTarget {
    /// `{"backend", "location", "schema"}` for status JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::json!({
            "backend": self.backend.as_str(),
            "location": self.location,
            "schema": self.schema,
        })
    }

    /// `sqlite (/path/state/openclaw-sms.sqlite)`, `postgres (db.example.com:5432/openclaw, schema gw)`.
    pub(crate) fn line(&self) -> String {
        match &self.schema {
            Some(schema) => format!(
                "{} ({}, schema {schema})",
                self.backend.as_str(),
                self.location
            ),
            None => format!("{} ({})", self.backend.as_str(), self.location),
        }
    }
}

/// A store opened by [`open_state`] and where it is.
pub(crate) struct OpenedState {
    /// The store.
    pub(crate) store: Arc<dyn Store>,
    /// Where it is.
    pub(crate) target: StateTarget,
}

/// Opens the store the config's `state` section names: SQLite in `state_dir` (see
/// [`open_sqlite`]) or the PostgreSQL database of `state.url`.
pub(crate) async fn open_store(
    ctx: &Ctx,
    state_dir: &Path,
    now: i64,
) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_state(ctx, state_dir, now).await?.store)
}

/// [`open_store`] with where the store is.
pub(crate) async fn open_state(
    ctx: &Ctx,
    state_dir: &Path,
    now: i64,
) -> anyhow::Result<OpenedState> {
    let settings = StateSettings::from_config(&ctx.doc.value)?;
    match settings.backend {
        Backend::Sqlite => Ok(OpenedState {
            store: open_sqlite(state_dir, now).await?,
            target: sqlite_target(state_dir),
        }),
        Backend::Postgres => {
            let url = settings.resolve_url(&SecretsRuntime::new(&ctx.doc.value, &ctx.env))?;
            let store = connect_postgres(&url, &settings).await?;
            Ok(OpenedState {
                store: Arc::new(store),
                target: postgres_target(&url, &settings),
            })
        }
    }
}

/// Where the config's state is, without opening it (`state.url` is resolved, not connected).
pub(crate) fn state_target(ctx: &Ctx, state_dir: &Path) -> anyhow::Result<StateTarget> {
    let settings = StateSettings::from_config(&ctx.doc.value)?;
    Ok(match settings.backend {
        Backend::Sqlite => sqlite_target(state_dir),
        Backend::Postgres => {
            let url = settings.resolve_url(&SecretsRuntime::new(&ctx.doc.value, &ctx.env))?;
            postgres_target(&url, &settings)
        }
    })
}

fn sqlite_target(state_dir: &Path) -> StateTarget {
    StateTarget {
        backend: Backend::Sqlite,
        location: store_path(state_dir).display().to_string(),
        schema: None,
    }
}

/// Where a PostgreSQL store is: host, port and database of `url`, and the schema.
pub(crate) fn postgres_target(url: &SecretString, settings: &StateSettings) -> StateTarget {
    StateTarget {
        backend: Backend::Postgres,
        location: describe_url(url.expose_secret()),
        schema: settings.schema.clone(),
    }
}

/// Opens the SQLite store of `state_dir` (creating it) and imports upstream's legacy pairing
/// files once. The legacy import is SQLite's only: upstream's files belong to a one-machine
/// install; to bring them to PostgreSQL, start once on SQLite, then `openclaw state copy`.
pub(crate) async fn open_sqlite(state_dir: &Path, now: i64) -> anyhow::Result<Arc<SqliteStore>> {
    let path = store_path(state_dir);
    let options = StoreOptions {
        gather_window: STORE_GATHER_WINDOW,
        ..StoreOptions::default()
    };
    let store = SqliteStore::open(&path, &options)
        .await
        .with_context(|| format!("open the state database {}", path.display()))?;
    match store.import_legacy(state_dir, now).await {
        Ok(report) => tracing::debug!(?report, "legacy pairing files checked"),
        Err(err) => tracing::warn!(
            "legacy pairing files could not be imported: {}",
            openclaw_twilio::escape::Escaped(&err)
        ),
    }
    Ok(Arc::new(store))
}

/// Connects to the PostgreSQL database at `url` (migrating it under a lock). Errors name
/// `state.url` and the host, port and database, never the URL or its password.
pub(crate) async fn connect_postgres(
    url: &SecretString,
    settings: &StateSettings,
) -> anyhow::Result<PostgresStore> {
    let options = PostgresOptions {
        max_connections: settings.max_connections,
        lease_ms: settings.lease_ms,
        schema: settings.schema.clone(),
        ..PostgresOptions::default()
    };
    PostgresStore::connect(url.expose_secret(), &options)
        .await
        .map_err(|err| postgres_error(&err, url))
}

/// A PostgreSQL store error as a one-line error that names `state.url` and where it points,
/// scrubbed of the URL and its password (the store leaves them out; this makes sure).
pub(crate) fn postgres_error(
    err: &openclaw_store::StoreError,
    url: &SecretString,
) -> anyhow::Error {
    let reason = scrub(&err.to_string(), url);
    if matches!(err, openclaw_store::StoreError::ConnectDatabase { .. }) {
        // The store's message already names host, port and database.
        anyhow::anyhow!("state.url: {reason}")
    } else {
        anyhow::anyhow!(
            "state.url (postgres at {}): {reason}",
            describe_url(url.expose_secret())
        )
    }
}

/// Upstream's start-up warnings for one account, in its words.
pub(crate) fn startup_warnings(account: &AccountSettings) -> Vec<String> {
    use openclaw_access_policy::DmPolicy;
    use openclaw_sms_target::AllowEntry;
    let mut warnings = Vec::new();
    if !account.is_configured() {
        warnings.push(
            "- SMS: accountSid, authToken, and fromNumber or messagingServiceSid are required."
                .to_owned(),
        );
    }
    if account.signature_validation {
        match &account.public_webhook_url {
            None => warnings.push(
                "- SMS: publicWebhookUrl is required for Twilio signature validation. Set dangerouslyDisableSignatureValidation=true only for local testing."
                    .to_owned(),
            ),
            Some(url) => {
                let local = account.api_base_url.as_deref().is_some_and(openclaw_sms::account::api_is_local);
                let policy = openclaw_sms::public_url::UrlPolicy { allow_private_hosts: local };
                if openclaw_sms::public_url::status_callback_url(url, policy).is_none() {
                    warnings.push("- SMS: publicWebhookUrl must be a properly encoded absolute HTTP(S) URL with a valid hostname, no embedded credentials, and remain within OpenClaw's 4,000-character callback safety limit; OpenClaw will omit the per-message delivery callback until fixed.".to_owned());
                }
            }
        }
    } else {
        warnings.push(
            "- SMS: Twilio signature validation is disabled. Only use this for local testing."
                .to_owned(),
        );
    }
    match account.dm_policy {
        DmPolicy::Allowlist if account.allow_from.is_empty() => {
            warnings.push(
                "- SMS: dmPolicy=allowlist with empty allowFrom rejects every sender.".to_owned(),
            );
        }
        DmPolicy::Open => {
            if !account
                .allow_from
                .iter()
                .any(|e| matches!(e, AllowEntry::Any))
            {
                warnings.push(
                    "- SMS: dmPolicy=open should set allowFrom=[\"*\"] or explicit sender numbers."
                        .to_owned(),
                );
            }
            warnings.push(
                "- SMS: dmPolicy=\"open\" allows any phone number to message the bot.".to_owned(),
            );
        }
        _ => {}
    }
    warnings.extend(account.warnings.iter().map(|w| format!("- SMS: {w}")));
    warnings
}

/// [`startup_warnings`] plus the numbering-plan warnings (slow the first time: status and
/// validate only; the gateway logs plan warnings after it is ready).
pub(crate) fn all_warnings(account: &AccountSettings) -> Vec<String> {
    let mut warnings = startup_warnings(account);
    warnings.extend(
        account
            .plan_warnings()
            .into_iter()
            .map(|w| format!("- SMS: {w}")),
    );
    warnings
}

/// Resolves the secrets of an account and builds its runtime.
pub(crate) fn account_runtime(
    settings: &AccountSettings,
    config: &Value,
    ctx_env: &crate::env::Env,
    options: AccountOptions,
) -> anyhow::Result<AccountRuntime> {
    build_runtime(settings, &SecretsRuntime::new(config, ctx_env), options)
}

/// Builds an account's runtime with `secrets` (resolving, or only checking references).
fn build_runtime(
    settings: &AccountSettings,
    secrets: &SecretsRuntime<'_>,
    options: AccountOptions,
) -> anyhow::Result<AccountRuntime> {
    let token = settings
        .auth_token
        .as_ref()
        .with_context(|| format!("{}.authToken is required", settings.config_path))?;
    let auth_token = secrets.resolve(&format!("{}.authToken", settings.config_path), token)?;
    let api_key_secret = settings
        .api_key_secret
        .as_ref()
        .map(|s| secrets.resolve(&format!("{}.apiKeySecret", settings.config_path), s))
        .transpose()?;
    let resolved = ResolvedAccount {
        settings: settings.clone(),
        auth_token,
        api_key_secret,
    };
    AccountRuntime::new(resolved, options)
        .map_err(|err| anyhow::anyhow!(placeholder_hint(err.to_string())))
}

/// The docs write `ACxxxxxxxx…` where the Account SID goes: say so when that is what is there.
fn placeholder_hint(message: String) -> String {
    if message.contains("accountSid") && message.contains("xxxxxxxx") {
        format!(
            "{message} (this is the docs' placeholder: put the Account SID from the Twilio Console there)"
        )
    } else {
        message
    }
}

/// The SMS accounts `openclaw gateway` starts, with the start-up warnings.
pub(crate) struct StartAccounts {
    /// Every account of `channels.sms`.
    pub(crate) accounts: SmsAccounts,
    /// A runtime per enabled account.
    pub(crate) runtimes: Vec<AccountRuntime>,
    /// Start-up warnings, one line each (`- SMS: …`).
    pub(crate) warnings: Vec<(String, String)>,
}

/// The start-up check of `channels.sms`, one function for `gateway` (which runs the result),
/// `config validate` and `config patch` (which keep only the verdict): the section parses,
/// webhook paths are distinct, `enabled: true` has an account, every enabled account has what
/// it needs to run (credentials and a sender) and builds (SIDs, region and edge, secrets as
/// `secrets` resolves or checks them). An enabled account that cannot run is an error, so a
/// gateway that starts runs every enabled account.
pub(crate) fn start_accounts(
    config: &Value,
    env: &crate::env::Env,
    secrets: &SecretsRuntime<'_>,
    options: AccountOptions,
) -> anyhow::Result<StartAccounts> {
    let accounts = crate::cli::sms_accounts(config, env)?;
    let channel_enabled = config.pointer("/channels/sms/enabled") == Some(&Value::Bool(true));
    if channel_enabled && accounts.accounts.is_empty() {
        anyhow::bail!(
            "channels.sms.enabled is true, but no SMS account is configured: set channels.sms.accountSid, channels.sms.authToken and channels.sms.fromNumber (or messagingServiceSid), or TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER in the gateway's environment; or set channels.sms.enabled to false"
        );
    }
    let enabled: Vec<&AccountSettings> = accounts.accounts.iter().filter(|a| a.enabled).collect();
    for account in &enabled {
        require_configured(account)?;
    }
    check_webhook_paths(&accounts.runnable())?;
    let mut runtimes = Vec::new();
    let mut warnings = Vec::new();
    for account in enabled {
        warnings.extend(
            startup_warnings(account)
                .into_iter()
                .map(|w| (account.id.clone(), w)),
        );
        runtimes.push(build_runtime(account, secrets, options)?);
    }
    Ok(StartAccounts {
        accounts,
        runtimes,
        warnings,
    })
}

/// An enabled account must be configured: the error names each key that is missing.
fn require_configured(account: &AccountSettings) -> anyhow::Result<()> {
    if account.is_configured() {
        return Ok(());
    }
    let path = &account.config_path;
    let mut missing = Vec::new();
    if account.account_sid.is_empty() {
        missing.push(format!("{path}.accountSid"));
    }
    if !account
        .auth_token
        .as_ref()
        .is_some_and(openclaw_sms::config::SecretInput::is_configured)
    {
        missing.push(format!("{path}.authToken"));
    }
    if account.from_number.is_none() && account.messaging_service_sid.is_none() {
        missing.push(format!("{path}.fromNumber (or messagingServiceSid)"));
    }
    let env_hint = if account.id == openclaw_sms::config::DEFAULT_ACCOUNT_ID {
        " (or the TWILIO_* variables in the gateway's environment)"
    } else {
        ""
    };
    let (verb, pronoun) = if missing.len() == 1 {
        ("is", "it")
    } else {
        ("are", "them")
    };
    anyhow::bail!(
        "SMS account \"{}\" is enabled but {} {verb} not set ({}): set {pronoun}{env_hint}, or set {path}.enabled to false",
        account.id,
        missing.join(" and "),
        openclaw_sms::config::NOT_CONFIGURED_REASON.trim_end_matches('.'),
    )
}

/// The accounts of the config and the one a command names (`--account`, else the default).
pub(crate) fn select_account<'a>(
    accounts: &'a SmsAccounts,
    id: Option<&str>,
) -> anyhow::Result<&'a AccountSettings> {
    if let Some(id) = id
        && id.trim().is_empty()
    {
        anyhow::bail!("--account must not be blank");
    }
    accounts.get(id).with_context(|| {
        let known: Vec<&str> = accounts.accounts.iter().map(|a| a.id.as_str()).collect();
        match id {
            Some(id) => format!(
                "no SMS account \"{id}\" in channels.sms (known: {})",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ),
            None => "no SMS account is configured: set channels.sms (see `openclaw config patch`) or TWILIO_* environment variables".to_owned(),
        }
    })
}

/// The current time, unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    openclaw_sms::Clock::system().now_ms()
}

/// Sends `text` to `to` from `settings`' account without a running gateway: through the
/// same outbound path (intents, pacing, retry classes) on the state directory's store.
pub(crate) async fn send_direct(
    ctx: &Ctx,
    settings: &AccountSettings,
    store: &Arc<dyn Store>,
    to: &str,
    text: &str,
    reply_id: &str,
) -> anyhow::Result<openclaw_sms::outbound::SendReport> {
    let (runtime, outbound) = direct_sender(ctx, settings, store)?;
    Ok(outbound.send_reply(&runtime, to, text, reply_id).await)
}

/// An account runtime and an outbound sender over `store`, for sends without a running
/// gateway (the same durable path: intents, pacing, opt-outs).
pub(crate) fn direct_sender(
    ctx: &Ctx,
    settings: &AccountSettings,
    store: &Arc<dyn Store>,
) -> anyhow::Result<(AccountRuntime, openclaw_sms::outbound::Outbound)> {
    let runtime = account_runtime(
        settings,
        &ctx.doc.value,
        &ctx.env,
        AccountOptions::default(),
    )?;
    let outbound = openclaw_sms::outbound::Outbound::new(
        store.clone(),
        Arc::new(openclaw_sms::metrics::Metrics::new()),
        openclaw_sms::Clock::system(),
    );
    Ok((runtime, outbound))
}

/// `gateway.trustedProxies` (CIDRs of reverse proxies whose forwarding header names the
/// client) and `gateway.forwardedHeader` (which header they write). Absent: no proxy is
/// trusted and the client is always the connection's peer.
pub(crate) fn trusted_proxies(config: &Value) -> anyhow::Result<TrustedProxies> {
    const KEY: &str = "gateway.trustedProxies";
    const HEADER_KEY: &str = "gateway.forwardedHeader";
    let header = match config.pointer("/gateway/forwardedHeader") {
        None | Some(Value::Null) => ForwardedHeader::default(),
        Some(Value::String(name)) => ForwardedHeader::parse(name, HEADER_KEY)?,
        Some(other) => anyhow::bail!(
            "{HEADER_KEY}: expected \"X-Forwarded-For\" or \"Forwarded\", found {}",
            json_kind(other)
        ),
    };
    let entries = match config.pointer("/gateway/trustedProxies") {
        None | Some(Value::Null) => return Ok(TrustedProxies::default()),
        Some(Value::Array(entries)) => entries,
        Some(other) => anyhow::bail!(
            "{KEY}: expected a list of CIDRs such as [\"10.0.0.0/8\", \"192.0.2.7\"], found {}",
            json_kind(other)
        ),
    };
    let entries = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            entry.as_str().with_context(|| {
                format!(
                    "{KEY}[{i}]: expected a string such as \"10.0.0.0/8\", found {}",
                    json_kind(entry)
                )
            })
        })
        .collect::<anyhow::Result<Vec<&str>>>()?;
    Ok(TrustedProxies::parse(&entries, header, KEY)?)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn trusted_proxies_config_errors_name_the_key() {
        fn check(config: Value, expected: &str) {
            let err = trusted_proxies(&config).unwrap_err();
            assert_eq!(format!("{err:#}"), expected);
        }
        check(
            json!({"gateway": {"trustedProxies": "10.0.0.0/8"}}),
            "gateway.trustedProxies: expected a list of CIDRs such as [\"10.0.0.0/8\", \"192.0.2.7\"], found a string",
        );
        check(
            json!({"gateway": {"trustedProxies": ["10.0.0.0/8", 7]}}),
            "gateway.trustedProxies[1]: expected a string such as \"10.0.0.0/8\", found a number",
        );
        check(
            json!({"gateway": {"trustedProxies": ["10.0.0.0/8", "10.0.0.1/8"]}}),
            "gateway.trustedProxies[1]: \"10.0.0.1/8\" has host bits set: write \"10.0.0.0/8\" for the network, or \"10.0.0.1\" for the one address",
        );
        check(
            json!({"gateway": {"trustedProxies": ["nginx"]}}),
            "gateway.trustedProxies[0]: \"nginx\" is not an IP address or CIDR (write e.g. \"10.0.0.0/8\", \"192.0.2.7\" or \"2001:db8::/32\")",
        );
        check(
            json!({"gateway": {"forwardedHeader": "X-Real-IP"}}),
            "gateway.forwardedHeader: \"X-Real-IP\" is not a forwarding header: use \"X-Forwarded-For\" or \"Forwarded\"",
        );
        let ok = trusted_proxies(&json!({"gateway": {"trustedProxies": ["10.0.0.0/8", "::1"], "forwardedHeader": "forwarded"}})).unwrap();
        assert_eq!(ok.networks().len(), 2);
        assert!(
            trusted_proxies(&json!({"gateway": {"port": 1}}))
                .unwrap()
                .is_empty()
        );
    }
}
