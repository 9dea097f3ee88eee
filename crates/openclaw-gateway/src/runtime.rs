//! Turning the config into running pieces: accounts with resolved secrets, the store, the agent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use openclaw_sms::config::{AccountSettings, SmsAccounts, check_webhook_paths};
use openclaw_sms::{AccountOptions, AccountRuntime, ResolvedAccount};
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
    }
    .with_retention_of(&StoreOptions::default());
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

/// Upstream's start-up warnings for one account (section 6), in its words.
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
    let secrets = SecretsRuntime::new(config, ctx_env);
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
    Ok(AccountRuntime::new(resolved, options)?)
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

/// Builds every enabled, configured account (warning about the others) and checks paths.
pub(crate) fn running_accounts(
    ctx: &Ctx,
    accounts: &SmsAccounts,
    options: AccountOptions,
) -> anyhow::Result<Vec<AccountRuntime>> {
    // Only accounts that will run own a route; an unconfigured one is reported, not routed.
    check_webhook_paths(&accounts.runnable())?;
    let mut runtimes = Vec::new();
    for account in &accounts.accounts {
        if !account.enabled {
            tracing::info!(account = %account.id, "SMS account is disabled");
            continue;
        }
        for warning in startup_warnings(account) {
            tracing::warn!(account = %account.id, "{warning}");
        }
        if !account.is_configured() {
            tracing::warn!(account = %account.id, "SMS account is not started: {}", openclaw_sms::config::NOT_CONFIGURED_REASON);
            continue;
        }
        runtimes.push(account_runtime(account, &ctx.doc.value, &ctx.env, options)?);
    }
    Ok(runtimes)
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
    Ok(outbound.send_reply(&runtime, to, text, reply_id).await)
}
