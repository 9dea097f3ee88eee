//! From what the config file says to the accounts the gateway runs: multi-account merge,
//! environment fallbacks, defaults, and typed values.

use std::collections::BTreeMap;
use std::time::Duration;

use openclaw_access_policy::{AllowRule, DmPolicy, PairingLimits, PolicyKeys, check_policy_config};
use openclaw_sms_target::{AllowEntry, E164, ParseOptions, Target};

use super::SecretInput;
use super::raw::{AccountInput, ChunkLimitInput, OwnerNumbersInput, PairingInput, SmsChannelInput};
use crate::SmsError;

/// The account id used when none is named.
pub const DEFAULT_ACCOUNT_ID: &str = "default";
/// The default inbound webhook path.
pub const DEFAULT_WEBHOOK_PATH: &str = "/webhooks/sms";
/// The default largest reply part, in UTF-16 units.
pub const DEFAULT_TEXT_CHUNK_LIMIT: usize = 1500;
/// Twilio's Body limit, in characters: no part may be longer.
pub const MAX_TEXT_CHUNK_LIMIT: usize = 1600;
/// The default pace of parts to one recipient (long codes send about one a second).
pub const DEFAULT_SEND_RATE_PER_SECOND: f64 = 1.0;

/// Environment variables that feed the default account.
pub const ENV_VARS: &[&str] = &[
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_PHONE_NUMBER",
    "TWILIO_SMS_FROM",
    "TWILIO_MESSAGING_SERVICE_SID",
    "SMS_PUBLIC_WEBHOOK_URL",
    "SMS_WEBHOOK_PATH",
    "SMS_ALLOWED_USERS",
    "SMS_TEXT_CHUNK_LIMIT",
    "SMS_DANGEROUSLY_DISABLE_SIGNATURE_VALIDATION",
];

/// A lookup of environment variables (`None` when unset or blank).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Webhook limits, with upstream's values as defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Inbound texts per sender per minute (upstream 30).
    pub per_sender_per_minute: u32,
    /// Inbound texts per webhook route per minute (upstream 300).
    pub per_route_per_minute: u32,
    /// Failed requests per client address per minute before 429 (upstream 300).
    pub invalid_per_client_per_minute: u32,
    /// Unauthenticated requests in flight per route (upstream 64).
    pub pre_auth_in_flight: u32,
    /// Largest webhook body in bytes (upstream 32 KiB).
    pub max_body_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_sender_per_minute: 30,
            per_route_per_minute: 300,
            invalid_per_client_per_minute: 300,
            pre_auth_in_flight: 64,
            max_body_bytes: 32 * 1024,
        }
    }
}

/// Pairing, resolved (`pairing` of the account, or of the top level).
#[derive(Debug, Clone, PartialEq)]
pub struct PairingSettings {
    /// Owner numbers told about each new request; they may approve or deny by text.
    pub notify_owner: Vec<E164>,
    /// Tell the sender when they are approved.
    pub confirm_sender: bool,
    /// Live requests per account and a code's lifetime.
    pub limits: PairingLimits,
    /// Pairing-code texts to one sender per rolling 24 hours.
    pub max_code_texts_per_day: u32,
}

/// Default of `pairing.maxCodeTextsPerSenderPerDay`.
pub const DEFAULT_MAX_CODE_TEXTS_PER_DAY: u32 = 3;

/// Largest `pairing.codeTtlMinutes`: one week.
pub const MAX_CODE_TTL_MINUTES: u32 = 7 * 24 * 60;

impl Default for PairingSettings {
    fn default() -> Self {
        Self {
            notify_owner: Vec::new(),
            confirm_sender: true,
            limits: PairingLimits::default(),
            max_code_texts_per_day: DEFAULT_MAX_CODE_TEXTS_PER_DAY,
        }
    }
}

impl PairingSettings {
    /// Whether `number` is one of the owner numbers.
    pub fn is_owner(&self, number: &str) -> bool {
        self.notify_owner.iter().any(|n| n.as_str() == number)
    }
}

/// Why an account is not configured.
pub const NOT_CONFIGURED_REASON: &str =
    "SMS requires accountSid, authToken, and fromNumber or messagingServiceSid.";

/// One account, resolved: every default applied, every value typed. Secrets are still
/// [`SecretInput`]s; the gateway resolves them once at start.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// Account id (`default` or the key under `accounts`).
    pub id: String,
    /// Dotted config path of this account's own object, for messages.
    pub config_path: String,
    /// Display name.
    pub name: Option<String>,
    /// Whether the account runs.
    pub enabled: bool,
    /// Twilio Account SID, trimmed (may be empty when not configured).
    pub account_sid: String,
    /// The Auth Token as configured.
    pub auth_token: Option<SecretInput>,
    /// The sender number.
    pub from_number: Option<E164>,
    /// The Messaging Service SID (used when `from_number` is unset).
    pub messaging_service_sid: Option<String>,
    /// Default recipient for automation.
    pub default_to: Option<E164>,
    /// Local webhook path, with a leading `/`.
    pub webhook_path: String,
    /// The public URL Twilio signs.
    pub public_webhook_url: Option<String>,
    /// `false` only when `dangerouslyDisableSignatureValidation` is set.
    pub signature_validation: bool,
    /// Who may talk to the agent.
    pub dm_policy: DmPolicy,
    /// Allowed senders from config.
    pub allow_from: Vec<AllowEntry>,
    /// Largest reply part in UTF-16 units (1..=1600).
    pub text_chunk_limit: usize,
    /// Per-attachment inbound MMS cap in bytes.
    pub media_max_bytes: Option<u64>,
    /// Explicit Twilio API base URL.
    pub api_base_url: Option<String>,
    /// Twilio Region.
    pub region: Option<String>,
    /// Twilio Edge.
    pub edge: Option<String>,
    /// API Key SID.
    pub api_key_sid: Option<String>,
    /// API Key secret as configured.
    pub api_key_secret: Option<SecretInput>,
    /// Smart encoding of replies.
    pub smart_encoding: bool,
    /// Segment budget per reply.
    pub max_segments_per_reply: Option<u32>,
    /// HELP/INFO answer.
    pub help_text: Option<String>,
    /// Parts per second to one recipient.
    pub send_rate_per_second: f64,
    /// Hold a pairing sender's first message until approval.
    pub hold_until_approved: bool,
    /// Webhook limits.
    pub limits: Limits,
    /// Pairing: owner notification, limits.
    pub pairing: PairingSettings,
    /// Daily segment budgets, their time zone and the price per segment.
    pub budgets: super::budgets::BudgetSettings,
    /// What a reply over `maxSegmentsPerReply` does.
    pub long_replies: super::budgets::LongReplies,
    /// How long the rest of a long reply waits for `MORE`.
    pub more_window: Duration,
    /// Quiet hours for messages the agent or automation starts (`None`: none).
    pub quiet_hours: Option<crate::quiet::QuietHours>,
    /// Non-fatal problems found while resolving (numbering-plan warnings and the like).
    pub warnings: Vec<String>,
}

impl AccountSettings {
    /// Whether the account has what it needs to send and receive: upstream's rule
    /// (`accountSid && authToken && (fromNumber || messagingServiceSid)`).
    pub fn is_configured(&self) -> bool {
        !self.account_sid.is_empty()
            && self
                .auth_token
                .as_ref()
                .is_some_and(SecretInput::is_configured)
            && (self.from_number.is_some() || self.messaging_service_sid.is_some())
    }

    /// Numbering-plan warnings for the configured numbers (sender, default recipient, allowed
    /// senders). Slow the first time (libphonenumber's patterns load): call it off hot paths.
    /// None for an account whose API is on this machine (the simulator of `gateway --dev` and of
    /// tests): its `555` numbers are made up on purpose, and no carrier sees them.
    pub fn plan_warnings(&self) -> Vec<String> {
        if self
            .api_base_url
            .as_deref()
            .is_some_and(crate::account::api_is_local)
        {
            return Vec::new();
        }
        let mut out = Vec::new();
        let key = |k: &str| format!("{}.{k}", self.config_path);
        for (k, n) in [
            ("fromNumber", &self.from_number),
            ("defaultTo", &self.default_to),
        ] {
            if let Some(w) = n.as_ref().and_then(E164::plan_warning) {
                out.push(format!("{}: {w}", key(k)));
            }
        }
        for (i, entry) in self.allow_from.iter().enumerate() {
            if let Some(w) = entry.number().and_then(E164::plan_warning) {
                out.push(format!("{}[{i}]: {w}", key("allowFrom")));
            }
        }
        out
    }

    /// The sender shown in status output: the number, else the service, else `SMS`.
    pub fn sender_label(&self) -> String {
        match (&self.from_number, &self.messaging_service_sid) {
            (Some(n), _) => n.to_string(),
            (None, Some(s)) => s.clone(),
            (None, None) => "SMS".to_owned(),
        }
    }
}

/// All accounts of `channels.sms`, in listing order (`default` first).
#[derive(Debug, Clone, Default)]
pub struct SmsAccounts {
    /// The accounts.
    pub accounts: Vec<AccountSettings>,
    /// The default account's id.
    pub default_account: String,
}

impl SmsAccounts {
    /// The accounts that run: enabled and configured (only these own a webhook route).
    pub fn runnable(&self) -> Vec<AccountSettings> {
        self.accounts
            .iter()
            .filter(|a| a.enabled && a.is_configured())
            .cloned()
            .collect()
    }

    /// The account with `id`, or the default account when `id` is `None`.
    pub fn get(&self, id: Option<&str>) -> Option<&AccountSettings> {
        let id = id.map_or(self.default_account.as_str(), str::trim);
        self.accounts.iter().find(|a| a.id == id)
    }
}

/// Resolves `channels.sms` (already parsed strictly) with the environment `env` (a lookup that
/// returns `None` for unset or blank variables). `path` is the section path for messages.
pub fn resolve_accounts(
    input: &SmsChannelInput,
    env: EnvLookup<'_>,
    path: &str,
) -> Result<SmsAccounts, SmsError> {
    let default_account = input
        .default_account
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_ACCOUNT_ID)
        .to_owned();
    if default_account != DEFAULT_ACCOUNT_ID && !input.accounts.contains_key(&default_account) {
        return Err(SmsError::invalid(
            &format!("{path}.defaultAccount"),
            &format!(
                "names account \"{default_account}\", which is not under {path}.accounts (known: {})",
                known_ids(input)
            ),
        ));
    }
    let base = &input.base;
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|v| v.trim().is_empty());
    let env_has_any = ENV_VARS[..5].iter().any(|v| env(v).is_some());
    let implicit_default = !blank(&base.account_sid)
        || !blank(&base.from_number)
        || !blank(&base.messaging_service_sid)
        || base
            .auth_token
            .as_ref()
            .is_some_and(SecretInput::is_configured)
        || env_has_any;
    // When `defaultAccount` names another account, the top level only holds defaults that the
    // named accounts inherit: it is no account of its own.
    let implicit_default = implicit_default && default_account == DEFAULT_ACCOUNT_ID;

    let mut ids: Vec<String> = Vec::new();
    if implicit_default || input.accounts.contains_key(DEFAULT_ACCOUNT_ID) {
        ids.push(DEFAULT_ACCOUNT_ID.to_owned());
    }
    ids.extend(
        input
            .accounts
            .keys()
            .filter(|k| *k != DEFAULT_ACCOUNT_ID)
            .cloned(),
    );

    if !ids.iter().any(|id| id == DEFAULT_ACCOUNT_ID) {
        // The top level is no account of its own here, but its values are still checked, so
        // that a bad value is refused when it is written, not when an account inherits it.
        resolve_one(DEFAULT_ACCOUNT_ID, path, base, true, None)?;
    }
    let mut accounts = Vec::with_capacity(ids.len());
    for id in ids {
        let own = input.accounts.get(&id).cloned().flatten();
        let config_path = if input.accounts.contains_key(&id) {
            format!("{path}.accounts.{id}")
        } else {
            path.to_owned()
        };
        let merged = merge(own.as_ref(), base);
        let use_env = id == default_account;
        let top_enabled = base.enabled != Some(false);
        let account = resolve_one(
            &id,
            &config_path,
            &merged,
            top_enabled,
            use_env.then_some(env),
        )?;
        accounts.push(account);
    }
    Ok(SmsAccounts {
        accounts,
        default_account,
    })
}

fn known_ids(input: &SmsChannelInput) -> String {
    let ids: Vec<&str> = input.accounts.keys().map(String::as_str).collect();
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(", ")
    }
}

/// Account fields over top-level fields, per field.
fn merge(own: Option<&AccountInput>, base: &AccountInput) -> AccountInput {
    let Some(own) = own else { return base.clone() };
    let base = base.clone();
    let own = own.clone();
    AccountInput {
        name: own.name.or(base.name),
        enabled: own.enabled,
        config_writes: own.config_writes.or(base.config_writes),
        media_max_mb: own.media_max_mb.or(base.media_max_mb),
        account_sid: own.account_sid.or(base.account_sid),
        auth_token: own.auth_token.or(base.auth_token),
        from_number: own.from_number.or(base.from_number),
        messaging_service_sid: own.messaging_service_sid.or(base.messaging_service_sid),
        default_to: own.default_to.or(base.default_to),
        webhook_path: own.webhook_path.or(base.webhook_path),
        public_webhook_url: own.public_webhook_url.or(base.public_webhook_url),
        dangerously_disable_signature_validation: own
            .dangerously_disable_signature_validation
            .or(base.dangerously_disable_signature_validation),
        dm_policy: own.dm_policy.or(base.dm_policy),
        allow_from: own.allow_from.or(base.allow_from),
        text_chunk_limit: own.text_chunk_limit.or(base.text_chunk_limit),
        api_base_url: own.api_base_url.or(base.api_base_url),
        region: own.region.or(base.region),
        edge: own.edge.or(base.edge),
        api_key_sid: own.api_key_sid.or(base.api_key_sid),
        api_key_secret: own.api_key_secret.or(base.api_key_secret),
        smart_encoding: own.smart_encoding.or(base.smart_encoding),
        max_segments_per_reply: own.max_segments_per_reply.or(base.max_segments_per_reply),
        help_text: own.help_text.or(base.help_text),
        send_rate_per_second: own.send_rate_per_second.or(base.send_rate_per_second),
        hold_until_approved: own.hold_until_approved.or(base.hold_until_approved),
        limits: own.limits.or(base.limits),
        pairing: own.pairing.or(base.pairing),
        budgets: own.budgets.or(base.budgets),
        long_replies: own.long_replies.or(base.long_replies),
        more_window_minutes: own.more_window_minutes.or(base.more_window_minutes),
        quiet_hours: own.quiet_hours.or(base.quiet_hours),
    }
}

fn trimmed(s: Option<&String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

#[allow(
    clippy::too_many_lines,
    reason = "one line per key reads better than helpers per key"
)]
fn resolve_one(
    id: &str,
    path: &str,
    input: &AccountInput,
    top_enabled: bool,
    env: Option<EnvLookup<'_>>,
) -> Result<AccountSettings, SmsError> {
    let env = |name: &str| env.and_then(|e| e(name));
    let key = |k: &str| format!("{path}.{k}");
    let mut warnings = Vec::new();

    // Config first (an explicit empty string shadows the environment, as upstream), then env.
    let account_sid = match &input.account_sid {
        Some(s) => s.trim().to_owned(),
        None => env("TWILIO_ACCOUNT_SID")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    let auth_token = input
        .auth_token
        .clone()
        .or_else(|| env("TWILIO_AUTH_TOKEN").map(SecretInput::Plain));
    let from_raw = match &input.from_number {
        Some(s) => trimmed(Some(s)),
        None => env("TWILIO_PHONE_NUMBER").or_else(|| env("TWILIO_SMS_FROM")),
    };
    let from_number = from_raw
        .map(|raw| parse_number(&raw, &key("fromNumber"), &mut warnings))
        .transpose()?;
    let messaging_service_sid = match &input.messaging_service_sid {
        Some(s) => trimmed(Some(s)),
        None => env("TWILIO_MESSAGING_SERVICE_SID").map(|s| s.trim().to_owned()),
    };
    if let Some(sid) = &messaging_service_sid
        && !is_sid(sid, "MG")
    {
        return Err(SmsError::invalid(
            &key("messagingServiceSid"),
            &format!(
                "\"{sid}\" is not a Messaging Service SID: expected MG followed by 32 hex digits"
            ),
        ));
    }
    if !account_sid.is_empty() && !is_sid(&account_sid, "AC") {
        warnings.push(format!(
            "{}: \"{account_sid}\" does not look like an Account SID (AC followed by 32 hex digits)",
            key("accountSid")
        ));
    }
    let default_to = trimmed(input.default_to.as_ref())
        .map(|raw| parse_number(&raw, &key("defaultTo"), &mut warnings))
        .transpose()?;
    let webhook_path = match &input.webhook_path {
        Some(p) => trimmed(Some(p)),
        None => env("SMS_WEBHOOK_PATH").map(|s| s.trim().to_owned()),
    }
    .map_or_else(|| DEFAULT_WEBHOOK_PATH.to_owned(), |p| normalize_path(&p));
    if webhook_path.contains(['?', '#', ' ']) {
        return Err(SmsError::invalid(
            &key("webhookPath"),
            &format!(
                "\"{webhook_path}\" must be a plain path such as /webhooks/sms (no query, fragment or spaces)"
            ),
        ));
    }
    let public_webhook_url = match &input.public_webhook_url {
        Some(u) => trimmed(Some(u)),
        None => env("SMS_PUBLIC_WEBHOOK_URL").map(|s| s.trim().to_owned()),
    };
    if let Some(url) = &public_webhook_url {
        let path_set = input.webhook_path.is_some() || env("SMS_WEBHOOK_PATH").is_some();
        check_public_path(url, &webhook_path, path_set, &key)?;
    }
    let disable_validation = match input.dangerously_disable_signature_validation {
        Some(v) => v,
        None => env("SMS_DANGEROUSLY_DISABLE_SIGNATURE_VALIDATION").is_some_and(|v| v == "true"),
    };
    let dm_policy = match input.dm_policy.as_deref().map(str::trim) {
        None | Some("") => DmPolicy::default(),
        Some(raw) => raw.parse::<DmPolicy>().map_err(|_| {
            SmsError::invalid(
                &key("dmPolicy"),
                &format!("unknown policy \"{raw}\"; use one of pairing, allowlist, open, disabled"),
            )
        })?,
    };
    let allow_raw: Vec<String> = match &input.allow_from {
        Some(list) => list.entries(),
        None => env("SMS_ALLOWED_USERS")
            .map(|csv| {
                csv.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut allow_from = Vec::with_capacity(allow_raw.len());
    for (index, raw) in allow_raw.iter().enumerate() {
        let entry = AllowEntry::parse(raw).map_err(|err| {
            SmsError::invalid(
                &format!("{}[{index}]", key("allowFrom")),
                &format!("\"{raw}\": {err}"),
            )
        })?;
        allow_from.push(entry);
    }
    // The policy's own check (upstream's schema): `open` without `"*"` is an error; an empty
    // allowlist and a wildcard under `pairing`/`allowlist` are warnings.
    let rules: Vec<AllowRule> = allow_from.iter().map(allow_rule).collect();
    let policy_warnings = check_policy_config(dm_policy, &rules, &PolicyKeys::dm(path))
        .map_err(|err| SmsError::invalid(&key("allowFrom"), &err.to_string()))?;
    warnings.extend(policy_warnings.iter().map(ToString::to_string));
    let text_chunk_limit = match &input.text_chunk_limit {
        Some(v) => chunk_limit(v),
        None => env("SMS_TEXT_CHUNK_LIMIT").and_then(|s| chunk_limit_str(&s)),
    }
    .unwrap_or(DEFAULT_TEXT_CHUNK_LIMIT)
    .min(MAX_TEXT_CHUNK_LIMIT);
    let media_max_bytes = match input.media_max_mb {
        Some(mb) if mb.is_finite() && mb > 0.0 => {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "positive and finite; MiB to bytes"
            )]
            let bytes = (mb * 1024.0 * 1024.0) as u64;
            Some(bytes)
        }
        Some(_) => {
            return Err(SmsError::invalid(
                &key("mediaMaxMb"),
                "must be a number greater than 0",
            ));
        }
        None => None,
    };
    let send_rate_per_second = match input.send_rate_per_second {
        Some(r) if r.is_finite() && r > 0.0 => r,
        Some(_) => {
            return Err(SmsError::invalid(
                &key("sendRatePerSecond"),
                "must be a number greater than 0 (parts per second to one recipient)",
            ));
        }
        None => DEFAULT_SEND_RATE_PER_SECOND,
    };
    if input.max_segments_per_reply == Some(0) {
        return Err(SmsError::invalid(
            &key("maxSegmentsPerReply"),
            "must be at least 1 (or removed for no budget)",
        ));
    }
    let api_key_sid = trimmed(input.api_key_sid.as_ref());
    if let Some(sid) = &api_key_sid {
        if !is_sid(sid, "SK") {
            return Err(SmsError::invalid(
                &key("apiKeySid"),
                &format!("\"{sid}\" is not an API Key SID: expected SK followed by 32 hex digits"),
            ));
        }
        if input.api_key_secret.is_none() {
            return Err(SmsError::invalid(
                &key("apiKeySecret"),
                "is required when apiKeySid is set",
            ));
        }
    }
    let defaults = Limits::default();
    let limits = input.limits.clone().unwrap_or_default();
    let limits = Limits {
        per_sender_per_minute: limits
            .per_sender_per_minute
            .unwrap_or(defaults.per_sender_per_minute),
        per_route_per_minute: limits
            .per_route_per_minute
            .unwrap_or(defaults.per_route_per_minute),
        invalid_per_client_per_minute: limits
            .invalid_per_client_per_minute
            .unwrap_or(defaults.invalid_per_client_per_minute),
        pre_auth_in_flight: limits
            .pre_auth_in_flight
            .unwrap_or(defaults.pre_auth_in_flight),
        max_body_bytes: limits.max_body_bytes.unwrap_or(defaults.max_body_bytes),
    };
    for (name, value) in [
        ("perSenderPerMinute", limits.per_sender_per_minute),
        ("perRoutePerMinute", limits.per_route_per_minute),
        (
            "invalidPerClientPerMinute",
            limits.invalid_per_client_per_minute,
        ),
        ("preAuthInFlight", limits.pre_auth_in_flight),
        ("maxBodyBytes", limits.max_body_bytes),
    ] {
        if value == 0 {
            return Err(SmsError::invalid(
                &format!("{}.{name}", key("limits")),
                "must be at least 1",
            ));
        }
    }
    let pairing = resolve_pairing(input.pairing.as_ref(), &key("pairing"), &mut warnings)?;
    let budgets = super::budgets::resolve_budgets(input.budgets.as_ref(), path)?;
    let long_replies = super::budgets::resolve_long_replies(input.long_replies.as_deref(), path)?;
    if long_replies == super::budgets::LongReplies::Ask && input.max_segments_per_reply.is_none() {
        return Err(SmsError::invalid(
            &key("longReplies"),
            "\"ask\" needs maxSegmentsPerReply (the size of each part sent before MORE)",
        ));
    }
    let more_window = super::budgets::resolve_more_window(input.more_window_minutes, path)?;
    let quiet_hours = input
        .quiet_hours
        .as_ref()
        .map(|q| crate::quiet::resolve(q, &key("quietHours")))
        .transpose()?;
    Ok(AccountSettings {
        id: id.to_owned(),
        config_path: path.to_owned(),
        name: trimmed(input.name.as_ref()),
        enabled: top_enabled && input.enabled != Some(false),
        account_sid,
        auth_token,
        from_number,
        messaging_service_sid,
        default_to,
        webhook_path,
        public_webhook_url,
        signature_validation: !disable_validation,
        dm_policy,
        allow_from,
        text_chunk_limit,
        media_max_bytes,
        api_base_url: trimmed(input.api_base_url.as_ref()),
        region: trimmed(input.region.as_ref()),
        edge: trimmed(input.edge.as_ref()),
        api_key_sid,
        api_key_secret: input.api_key_secret.clone(),
        smart_encoding: input.smart_encoding.unwrap_or(true),
        max_segments_per_reply: input.max_segments_per_reply,
        help_text: trimmed(input.help_text.as_ref()),
        send_rate_per_second,
        hold_until_approved: input.hold_until_approved.unwrap_or(true),
        limits,
        pairing,
        budgets,
        long_replies,
        more_window,
        quiet_hours,
        warnings,
    })
}

fn resolve_pairing(
    input: Option<&PairingInput>,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<PairingSettings, SmsError> {
    let defaults = PairingSettings::default();
    let Some(input) = input else {
        return Ok(defaults);
    };
    let key = |k: &str| format!("{path}.{k}");
    let notify_owner = input
        .notify_owner
        .as_ref()
        .map(OwnerNumbersInput::entries)
        .unwrap_or_default()
        .iter()
        .map(|raw| parse_number(raw, &key("notifyOwner"), warnings))
        .collect::<Result<Vec<_>, _>>()?;
    let positive = |name: &str, value: Option<u32>, default: u32| match value {
        Some(0) => Err(SmsError::invalid(&key(name), "must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    let default_max = u32::try_from(defaults.limits.max_pending).unwrap_or(u32::MAX);
    let max_pending = positive("maxPending", input.max_pending, default_max)?;
    let default_ttl = u32::try_from(defaults.limits.ttl.as_secs() / 60).unwrap_or(60);
    let ttl_minutes = positive("codeTtlMinutes", input.code_ttl_minutes, default_ttl)?;
    if ttl_minutes > MAX_CODE_TTL_MINUTES {
        return Err(SmsError::invalid(
            &key("codeTtlMinutes"),
            &format!("must be at most {MAX_CODE_TTL_MINUTES} (one week)"),
        ));
    }
    let max_code_texts_per_day = positive(
        "maxCodeTextsPerSenderPerDay",
        input.max_code_texts_per_sender_per_day,
        defaults.max_code_texts_per_day,
    )?;
    Ok(PairingSettings {
        notify_owner,
        confirm_sender: input.confirm_sender.unwrap_or(defaults.confirm_sender),
        limits: PairingLimits::default()
            .with_max_pending(usize::try_from(max_pending).unwrap_or(usize::MAX))
            .with_ttl(Duration::from_secs(u64::from(ttl_minutes) * 60)),
        max_code_texts_per_day,
    })
}

fn parse_number(raw: &str, key: &str, warnings: &mut Vec<String>) -> Result<E164, SmsError> {
    // Plan warnings are computed later (AccountSettings::plan_warnings): they are slow to
    // compute the first time and must not delay start-up.
    let target = Target::parse(raw, &ParseOptions::new().with_skip_plan_warnings(true))
        .map_err(|err| SmsError::invalid(key, &format!("\"{raw}\": {err}")))?;
    warnings.extend(target.warnings().iter().map(|w| format!("{key}: {w}")));
    Ok(target.into_number())
}

/// Upstream's rule: a positive whole number, or a digits-only string; anything else is unset.
fn chunk_limit(input: &ChunkLimitInput) -> Option<usize> {
    match input {
        ChunkLimitInput::Number(n)
            if n.is_finite() && *n >= 1.0 && n.fract() == 0.0 && *n <= 9_007_199_254_740_991.0 =>
        {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "checked: a safe positive integer"
            )]
            let n = *n as usize;
            Some(n)
        }
        ChunkLimitInput::Number(_) => None,
        ChunkLimitInput::Text(s) => chunk_limit_str(s),
    }
}

fn chunk_limit_str(s: &str) -> Option<usize> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<usize>().ok().filter(|n| *n > 0)
}

/// Twilio posts to `publicWebhookUrl`; the gateway routes `webhookPath`. When the URL's path
/// cannot reach the route every webhook is a 404 (Twilio error 11200), so it is refused here,
/// naming both. As upstream, the route is never derived from the URL: an unset `webhookPath`
/// is the default path.
fn check_public_path(
    url: &str,
    webhook_path: &str,
    path_set: bool,
    key: &dyn Fn(&str) -> String,
) -> Result<(), SmsError> {
    let Some(public_path) = crate::public_url::url_path(url) else {
        // Not an http(s) URL: the start-up warning about publicWebhookUrl says so.
        return Ok(());
    };
    if crate::public_url::path_reaches_route(&public_path, webhook_path) {
        return Ok(());
    }
    let route = if path_set {
        format!("{} is \"{webhook_path}\"", key("webhookPath"))
    } else {
        format!(
            "{} is not set, so the gateway routes the default \"{webhook_path}\"",
            key("webhookPath")
        )
    };
    Err(SmsError::invalid(
        &key("publicWebhookUrl"),
        &format!(
            "its path \"{public_path}\" does not reach the webhook route: {route}, and Twilio's requests to \"{public_path}\" would all be 404 (Twilio error 11200); set webhookPath to \"{public_path}\", or make publicWebhookUrl end in \"{webhook_path}\""
        ),
    ))
}

fn normalize_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

/// `AC`/`MG`/`SK` followed by 32 hex digits: Twilio's one SID rule, from `openclaw-twilio`.
fn is_sid(s: &str, prefix: &str) -> bool {
    openclaw_twilio::sid::is_sid(s, &[prefix])
}

/// An `allowFrom` entry as the access policy's rule: a number becomes its E.164 sender id.
#[must_use]
pub fn allow_rule(entry: &AllowEntry) -> AllowRule {
    match entry {
        AllowEntry::Any => AllowRule::Any,
        AllowEntry::Number(number) => AllowRule::Sender(number.as_str().to_owned()),
        AllowEntry::AccessGroup(name) => AllowRule::Group(name.clone()),
        // A kind of entry this adapter does not know yet admits nobody (a group never matches).
        other => AllowRule::Group(other.to_string()),
    }
}

/// Groups accounts by webhook path; two enabled accounts on one path is a start-up error.
pub fn check_webhook_paths(accounts: &[AccountSettings]) -> Result<(), SmsError> {
    let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
    for account in accounts.iter().filter(|a| a.enabled) {
        if let Some(owner) = owners.insert(&account.webhook_path, &account.id) {
            return Err(SmsError::invalid(
                &format!("{}.webhookPath", account.config_path),
                &format!(
                    "SMS webhook path {} is already registered by account {owner}; configure a distinct webhookPath for account {}.",
                    account.webhook_path, account.id
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn resolve(config: Value, env: &[(&str, &str)]) -> Result<SmsAccounts, SmsError> {
        let input = SmsChannelInput::from_value(&config, "channels.sms")?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, v)| k == name && !v.trim().is_empty())
                .map(|(_, v)| v.clone())
        };
        resolve_accounts(&input, &lookup, "channels.sms")
    }

    fn ids(accounts: &SmsAccounts) -> Vec<&str> {
        accounts.accounts.iter().map(|a| a.id.as_str()).collect()
    }

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const MG: &str = "MG0123456789abcdef0123456789abcdef";

    fn pairing_of(config: Value) -> Result<Vec<PairingSettings>, String> {
        resolve(config, &[])
            .map(|a| a.accounts.into_iter().map(|a| a.pairing).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn pairing_settings_defaults_account_override_and_errors() {
        let base = json!({"accountSid": SID, "authToken": "t", "fromNumber": "+15551230000"});
        let mut with = base.clone();
        with["pairing"] = json!({"notifyOwner": "+15557650000", "maxPending": 1, "codeTtlMinutes": 5,
            "maxCodeTextsPerSenderPerDay": 2, "confirmSender": false});
        with["accounts"] =
            json!({"work": {"pairing": {"notifyOwner": ["+15557650001", " +15557650002 "]}}});
        let got = pairing_of(with).unwrap();
        assert_eq!(got[0].notify_owner.len(), 1);
        assert!(got[0].is_owner("+15557650000") && !got[0].is_owner("+15557650001"));
        assert_eq!(
            (
                got[0].limits.max_pending,
                got[0].limits.ttl,
                got[0].max_code_texts_per_day,
                got[0].confirm_sender
            ),
            (1, Duration::from_secs(300), 2, false)
        );
        // `pairing` of an account replaces the top level's as a whole, as `limits` does.
        assert_eq!(
            got[1]
                .notify_owner
                .iter()
                .map(E164::as_str)
                .collect::<Vec<_>>(),
            ["+15557650001", "+15557650002"]
        );
        assert_eq!(got[1].limits, PairingLimits::default());
        assert_eq!(
            pairing_of(base.clone()).unwrap()[0],
            PairingSettings::default()
        );
        let err = |pairing: Value| {
            let mut c = base.clone();
            c["pairing"] = pairing;
            pairing_of(c).unwrap_err()
        };
        assert_eq!(
            err(json!({"maxPending": 0})),
            "channels.sms.pairing.maxPending: must be at least 1"
        );
        assert_eq!(
            err(json!({"codeTtlMinutes": 10_081})),
            "channels.sms.pairing.codeTtlMinutes: must be at most 10080 (one week)"
        );
        assert!(
            err(json!({"notifyOwner": "owner"}))
                .starts_with("channels.sms.pairing.notifyOwner: \"owner\"")
        );
        assert_eq!(
            err(json!({"notifyOwner": 5})),
            "channels.sms.pairing.notifyOwner: must be a phone number in E.164 (\"+15551234567\") or a list of them"
        );
        assert_eq!(
            err(json!({"notifyowner": "+1"})),
            "channels.sms.pairing.notifyowner: unknown key; did you mean `notifyOwner`?"
        );
    }

    #[test]
    fn account_listing() {
        type Case<'a> = (Value, &'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case<'_>] = &[
            (json!({}), &[], &[]),
            (json!({"enabled": true, "dmPolicy": "pairing"}), &[], &[]),
            (json!({}), &[("TWILIO_ACCOUNT_SID", SID)], &["default"]),
            // Blank env values do not create a phantom account.
            (
                json!({}),
                &[("TWILIO_ACCOUNT_SID", " "), ("TWILIO_PHONE_NUMBER", "\t")],
                &[],
            ),
            (json!({"fromNumber": "+15551234567"}), &[], &["default"]),
            (
                json!({"accounts": {"support": {"accountSid": SID}}}),
                &[],
                &["support"],
            ),
            (
                json!({"accountSid": SID, "accounts": {"support": {}}}),
                &[],
                &["default", "support"],
            ),
            (
                json!({"accounts": {"b": {}, "a": {}, "default": {}}}),
                &[],
                &["default", "a", "b"],
            ),
            // Env vars feed the account `defaultAccount` names, and create no implicit default.
            (
                json!({"defaultAccount": "support", "accounts": {"support": {}}}),
                &[("TWILIO_ACCOUNT_SID", SID)],
                &["support"],
            ),
        ];
        for (config, env, expected) in cases {
            let accounts = resolve(config.clone(), env).unwrap();
            assert_eq!(ids(&accounts), *expected, "{config} {env:?}");
        }
    }

    #[test]
    fn env_fallbacks_apply_to_the_default_account_only() {
        let env = [
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_PHONE_NUMBER", " "),
            ("TWILIO_SMS_FROM", "+15551234567"),
            // (The URL's path must reach the route: see public_url_path_must_reach_the_route.)
            ("SMS_PUBLIC_WEBHOOK_URL", "https://gw.example.com/hooks/sms"),
            ("SMS_WEBHOOK_PATH", "hooks/sms"),
            ("SMS_ALLOWED_USERS", "+15557654321, sms:+15557654322"),
            ("SMS_TEXT_CHUNK_LIMIT", "900"),
            ("SMS_DANGEROUSLY_DISABLE_SIGNATURE_VALIDATION", "TRUE"),
        ];
        let accounts = resolve(
            json!({"defaultAccount": "main", "accounts": {"main": {}, "other": {}}}),
            &env,
        )
        .unwrap();
        let main = accounts.get(None).unwrap();
        assert_eq!(main.id, "main");
        assert_eq!(main.account_sid, SID);
        assert!(main.is_configured());
        assert_eq!(
            main.from_number.as_ref().map(E164::as_str),
            Some("+15551234567"),
            "blank TWILIO_PHONE_NUMBER does not hide TWILIO_SMS_FROM"
        );
        assert_eq!(main.webhook_path, "/hooks/sms");
        assert_eq!(main.allow_from.len(), 2);
        assert_eq!(main.text_chunk_limit, 900);
        assert!(
            main.signature_validation,
            "only the exact string `true` disables validation"
        );
        let other = accounts.get(Some("other")).unwrap();
        assert_eq!(other.account_sid, "");
        assert!(!other.is_configured());
        assert_eq!(other.webhook_path, DEFAULT_WEBHOOK_PATH);
    }

    #[test]
    fn config_wins_over_env_and_accounts_inherit_top_level() {
        let config = json!({
            "accountSid": SID, "authToken": "top", "fromNumber": "+15551234567", "dmPolicy": "allowlist", "allowFrom": ["+15557654321"],
            "accounts": {"support": {"fromNumber": "", "messagingServiceSid": MG, "webhookPath": "/webhooks/sms/support", "enabled": true}}
        });
        let accounts = resolve(config, &[("TWILIO_PHONE_NUMBER", "+15550000000")]).unwrap();
        let default = accounts.get(None).unwrap();
        assert_eq!(
            default.from_number.as_ref().map(E164::as_str),
            Some("+15551234567")
        );
        let support = accounts.get(Some("support")).unwrap();
        assert_eq!(support.account_sid, SID);
        assert_eq!(
            support.from_number, None,
            "an explicit empty string shadows the top level and env"
        );
        assert_eq!(support.messaging_service_sid.as_deref(), Some(MG));
        assert_eq!(support.dm_policy, DmPolicy::Allowlist);
        assert!(support.is_configured());
        assert_eq!(support.sender_label(), MG);
        check_webhook_paths(&accounts.accounts).unwrap();
    }

    #[test]
    fn defaults() {
        let a = resolve(json!({"accountSid": SID}), &[])
            .unwrap()
            .accounts
            .remove(0);
        assert!(a.enabled);
        assert_eq!(a.dm_policy, DmPolicy::Pairing);
        assert_eq!(a.webhook_path, "/webhooks/sms");
        assert_eq!(a.text_chunk_limit, 1500);
        assert!(a.smart_encoding && a.hold_until_approved && a.signature_validation);
        assert_eq!(a.limits, Limits::default());
        assert_eq!(a.limits.max_body_bytes, 32_768);
        assert!(!a.is_configured());
    }

    #[test]
    fn text_chunk_limit_table() {
        let check = |v: Value, expected: usize| {
            let a = resolve(json!({"accountSid": SID, "textChunkLimit": v}), &[])
                .unwrap()
                .accounts
                .remove(0);
            assert_eq!(a.text_chunk_limit, expected, "{v}");
        };
        check(json!(1200), 1200);
        check(json!("800"), 800);
        check(json!(5000), 1600);
        check(json!(0), 1500);
        check(json!(-1), 1500);
        check(json!(1.5), 1500);
        check(json!("0"), 1500);
        check(json!("unlimited"), 1500);
        check(json!(" "), 1500);
    }

    #[test]
    fn kill_switch_and_disabled_accounts() {
        let accounts = resolve(
            json!({"enabled": false, "accountSid": SID, "accounts": {"s": {"enabled": true}}}),
            &[],
        )
        .unwrap();
        assert!(accounts.accounts.iter().all(|a| !a.enabled));
        let accounts = resolve(
            json!({"accountSid": SID, "accounts": {"s": {"enabled": false}}}),
            &[],
        )
        .unwrap();
        assert!(accounts.get(None).unwrap().enabled);
        assert!(!accounts.get(Some("s")).unwrap().enabled);
    }

    #[test]
    fn policy_warnings_come_from_the_access_policy() {
        let warnings = |config: Value| resolve(config, &[]).unwrap().accounts[0].warnings.clone();
        assert_eq!(
            warnings(json!({"accountSid": SID, "dmPolicy": "pairing", "allowFrom": ["*"]})),
            vec![
                "channels.sms.allowFrom includes \"*\", so channels.sms.dmPolicy=\"pairing\" admits every sender: remove \"*\", or say dmPolicy=\"open\" if that is meant"
            ]
        );
        assert_eq!(
            warnings(json!({"accountSid": SID, "dmPolicy": "allowlist"})),
            vec![
                "channels.sms.dmPolicy=\"allowlist\" with an empty channels.sms.allowFrom rejects every sender: add the senders to allow"
            ]
        );
        assert!(
            warnings(json!({"accountSid": SID, "dmPolicy": "open", "allowFrom": ["*"]})).is_empty()
        );
        let rule = allow_rule(&AllowEntry::parse("sms:+1 555 123 4567").unwrap());
        assert_eq!(rule, AllowRule::Sender("+15551234567".to_owned()));
    }

    #[test]
    fn errors_say_which_account_which_key_and_what_is_allowed() {
        let err = |config: Value| resolve(config, &[]).unwrap_err().to_string();
        assert_eq!(
            err(json!({"dmPolicy": "open", "allowFrom": ["+15557654321"]})),
            "channels.sms.allowFrom: channels.sms.dmPolicy=\"open\" requires channels.sms.allowFrom to include \"*\""
        );
        assert_eq!(
            err(json!({"accounts": {"support": {"dmPolicy": "friends"}}})),
            "channels.sms.accounts.support.dmPolicy: unknown policy \"friends\"; use one of pairing, allowlist, open, disabled"
        );
        assert!(
            err(
                json!({"accounts": {"s": {"allowFrom": ["+15557654321", "whatsapp:+15557654321"]}}})
            )
            .starts_with("channels.sms.accounts.s.allowFrom[1]: \"whatsapp:+15557654321\": ")
        );
        assert!(
            err(json!({"fromNumber": "(555) 123-4567"}))
                .starts_with("channels.sms.fromNumber: \"(555) 123-4567\": ")
        );
        assert!(
            err(json!({"messagingServiceSid": "MG123"}))
                .contains("expected MG followed by 32 hex digits")
        );
        assert!(
            err(json!({"defaultAccount": "nope", "accounts": {"a": {}}}))
                .contains("not under channels.sms.accounts (known: a)")
        );
        assert!(
            err(json!({"limits": {"maxBodyBytes": 0}}))
                .starts_with("channels.sms.limits.maxBodyBytes: must be at least 1")
        );
        assert!(
            err(json!({"apiKeySid": "SK0123456789abcdef0123456789abcdef"}))
                .contains("apiKeySecret: is required")
        );
    }

    #[test]
    fn public_url_path_must_reach_the_route() {
        let err = |config: Value| resolve(config, &[]).map(|_| ()).unwrap_err().to_string();
        // webhookPath unset: the default route, not the URL's path (as upstream).
        assert_eq!(
            err(json!({"publicWebhookUrl": "https://gw.example.com/webhooks/sms/"})),
            "channels.sms.publicWebhookUrl: its path \"/webhooks/sms/\" does not reach the webhook route: channels.sms.webhookPath is not set, so the gateway routes the default \"/webhooks/sms\", and Twilio's requests to \"/webhooks/sms/\" would all be 404 (Twilio error 11200); set webhookPath to \"/webhooks/sms/\", or make publicWebhookUrl end in \"/webhooks/sms\""
        );
        // Both set and different.
        assert_eq!(
            err(
                json!({"accounts": {"s": {"webhookPath": "/hooks/s", "publicWebhookUrl": "https://gw.example.com/hooks/t"}}})
            ),
            "channels.sms.accounts.s.publicWebhookUrl: its path \"/hooks/t\" does not reach the webhook route: channels.sms.accounts.s.webhookPath is \"/hooks/s\", and Twilio's requests to \"/hooks/t\" would all be 404 (Twilio error 11200); set webhookPath to \"/hooks/t\", or make publicWebhookUrl end in \"/hooks/s\""
        );
        // The same path, with a query, or behind a prefix a proxy strips: fine.
        for ok in [
            json!({"publicWebhookUrl": "https://gw.example.com/webhooks/sms?x=1"}),
            json!({"webhookPath": "/sms", "publicWebhookUrl": "https://gw.example.com/sms"}),
            json!({"publicWebhookUrl": "https://gw.example.com/openclaw/webhooks/sms"}),
        ] {
            assert!(resolve(ok.clone(), &[]).is_ok(), "{ok}");
        }
    }

    #[test]
    fn two_accounts_on_one_path_is_an_error_naming_both() {
        let accounts = resolve(
            json!({"accounts": {"a": {"webhookPath": "webhooks/sms"}, "b": {"webhookPath": "/webhooks/sms"}}}),
            &[],
        )
        .unwrap();
        let err = check_webhook_paths(&accounts.accounts)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "channels.sms.accounts.b.webhookPath: SMS webhook path /webhooks/sms is already registered by account a; configure a distinct webhookPath for account b."
        );
    }

    #[test]
    fn numbering_plan_problems_are_warnings_not_refusals() {
        let a = resolve(
            json!({"accountSid": SID, "fromNumber": "+15551234567"}),
            &[],
        )
        .unwrap()
        .accounts
        .remove(0);
        assert_eq!(
            a.from_number.as_ref().map(E164::as_str),
            Some("+15551234567")
        );
        assert!(
            a.warnings.is_empty(),
            "plan warnings are not computed while resolving"
        );
        // The product page's example number is not valid in the numbering plan: a warning.
        let warnings = a.plan_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("channels.sms.fromNumber: "),
            "{warnings:?}"
        );
        // The same number on a local simulator: no warning about a made-up number.
        let sim = resolve(
            json!({"accountSid": SID, "fromNumber": "+15551234567", "apiBaseUrl": "http://127.0.0.1:4010"}),
            &[],
        )
        .unwrap()
        .accounts
        .remove(0);
        assert_eq!(sim.plan_warnings(), Vec::<String>::new());
    }
}
