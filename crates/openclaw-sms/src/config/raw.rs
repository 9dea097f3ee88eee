//! The `channels.sms` section as written in the config file: every key optional, strictly
//! checked (an unknown key is an error that names its path and the nearest valid key).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SecretInput;
use crate::SmsError;

/// Keys of an account object: the top level of `channels.sms` and each `accounts.<id>`.
/// The first block is upstream's; the second is ours.
pub const ACCOUNT_KEYS: &[&str] = &[
    "name",
    "enabled",
    "configWrites",
    "mediaMaxMb",
    "accountSid",
    "authToken",
    "fromNumber",
    "messagingServiceSid",
    "defaultTo",
    "webhookPath",
    "publicWebhookUrl",
    "dangerouslyDisableSignatureValidation",
    "dmPolicy",
    "allowFrom",
    "textChunkLimit",
    // Ours.
    "apiBaseUrl",
    "region",
    "edge",
    "apiKeySid",
    "apiKeySecret",
    "smartEncoding",
    "maxSegmentsPerReply",
    "helpText",
    "sendRatePerSecond",
    "holdUntilApproved",
    "limits",
    "pairing",
    "budgets",
    "longReplies",
    "moreWindowMinutes",
    "quietHours",
];

/// Keys allowed only at the top level of `channels.sms`.
pub const TOP_LEVEL_ONLY_KEYS: &[&str] = &["accounts", "defaultAccount"];

/// Keys of `limits`.
pub const LIMIT_KEYS: &[&str] = &[
    "perSenderPerMinute",
    "perRoutePerMinute",
    "invalidPerClientPerMinute",
    "preAuthInFlight",
    "maxBodyBytes",
];

/// Keys of `pairing`.
pub const PAIRING_KEYS: &[&str] = &[
    "notifyOwner",
    "confirmSender",
    "maxPending",
    "codeTtlMinutes",
    "maxCodeTextsPerSenderPerDay",
];

/// Keys of `quietHours`.
pub const QUIET_HOURS_KEYS: &[&str] = &["start", "end", "timeZone", "fallbackTimeZone"];

/// `quietHours` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuietHoursInput {
    /// Start of the window, `HH:MM` (24-hour, recipient's local time).
    pub start: Option<String>,
    /// End of the window, `HH:MM`; held messages go out then.
    pub end: Option<String>,
    /// `auto` (default: the recipient's zone when their number's region has one) or an IANA zone.
    pub time_zone: Option<String>,
    /// The IANA zone `auto` uses for regions with several zones (`+1`, …); required with `auto`.
    pub fallback_time_zone: Option<String>,
}

/// `pairing.notifyOwner` as written: one number or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OwnerNumbersInput {
    /// `"+15551234567"`
    One(String),
    /// `["+15551234567", "+15557654321"]`
    Many(Vec<String>),
}

impl OwnerNumbersInput {
    /// The numbers as written, trimmed, blanks dropped.
    pub fn entries(&self) -> Vec<String> {
        let raw: Vec<&String> = match self {
            Self::One(s) => vec![s],
            Self::Many(list) => list.iter().collect(),
        };
        raw.into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// `pairing` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PairingInput {
    /// Owner numbers (E.164) texted about each new pairing request; they may answer
    /// `APPROVE <CODE>` or `DENY <CODE>`.
    pub notify_owner: Option<OwnerNumbersInput>,
    /// Tell the sender when they are approved. Default `true`.
    pub confirm_sender: Option<bool>,
    /// Live pairing requests per account. Default 3.
    pub max_pending: Option<u32>,
    /// How long a pairing code lives, in minutes. Default 60.
    pub code_ttl_minutes: Option<u32>,
    /// Pairing-code texts to one sender per rolling 24 hours. Default 3.
    pub max_code_texts_per_sender_per_day: Option<u32>,
}

/// `allowFrom` as written: a list of strings and numbers, or one comma-separated string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AllowFromInput {
    /// `["+15551234567", 15557654321, "*"]`
    List(Vec<AllowFromItem>),
    /// `"+15551234567, +15557654321"`
    Csv(String),
}

/// One `allowFrom` item: numbers are coerced to `+<digits>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AllowFromItem {
    /// A string entry.
    Text(String),
    /// A number entry (`15551234567`).
    Number(u64),
}

impl AllowFromInput {
    /// The entries as strings, blanks dropped.
    pub fn entries(&self) -> Vec<String> {
        let raw: Vec<String> = match self {
            Self::List(items) => items
                .iter()
                .map(|item| match item {
                    AllowFromItem::Text(s) => s.trim().to_owned(),
                    AllowFromItem::Number(n) => format!("+{n}"),
                })
                .collect(),
            Self::Csv(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
        };
        raw.into_iter().filter(|s| !s.is_empty()).collect()
    }
}

/// `textChunkLimit` as written: upstream accepts a positive integer, or a digits-only string;
/// anything else falls back to the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChunkLimitInput {
    /// A number.
    Number(f64),
    /// A string such as `"1200"`.
    Text(String),
}

/// `limits` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsInput {
    /// Inbound texts per sender per minute.
    pub per_sender_per_minute: Option<u32>,
    /// Inbound texts per webhook route per minute.
    pub per_route_per_minute: Option<u32>,
    /// Failed (invalid) requests per client address per minute.
    pub invalid_per_client_per_minute: Option<u32>,
    /// Unauthenticated requests in flight per route.
    pub pre_auth_in_flight: Option<u32>,
    /// Largest webhook body in bytes.
    pub max_body_bytes: Option<u32>,
}

/// One account object as written (top level or `accounts.<id>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountInput {
    /// Display name (shown in status output).
    pub name: Option<String>,
    /// `false` disables the account; `false` at the top level disables every account. Default `true`.
    pub enabled: Option<bool>,
    /// Upstream's generic flag allowing the channel to write config; kept for compatibility.
    pub config_writes: Option<bool>,
    /// Per-attachment cap for inbound MMS, in MiB.
    pub media_max_mb: Option<f64>,
    /// Twilio Account SID (`AC` + 32 hex). Env: `TWILIO_ACCOUNT_SID`.
    pub account_sid: Option<String>,
    /// Twilio Auth Token, plain or a SecretRef. Env: `TWILIO_AUTH_TOKEN`.
    pub auth_token: Option<SecretInput>,
    /// Sender number in E.164 (`+15551234567`); wins over `messagingServiceSid`. Env: `TWILIO_PHONE_NUMBER`, then `TWILIO_SMS_FROM`.
    pub from_number: Option<String>,
    /// Messaging Service SID (`MG` + 32 hex), used when `fromNumber` is not set. Env: `TWILIO_MESSAGING_SERVICE_SID`.
    pub messaging_service_sid: Option<String>,
    /// Recipient for automation and agent-initiated sends that name no target.
    pub default_to: Option<String>,
    /// Local path of the inbound webhook. Default `/webhooks/sms`. Env: `SMS_WEBHOOK_PATH`.
    pub webhook_path: Option<String>,
    /// The exact URL configured in Twilio; signatures are checked against it. Env: `SMS_PUBLIC_WEBHOOK_URL`.
    pub public_webhook_url: Option<String>,
    /// Turns the signature check off: local tunnel tests only. Env: `SMS_DANGEROUSLY_DISABLE_SIGNATURE_VALIDATION` (only `true`).
    pub dangerously_disable_signature_validation: Option<bool>,
    /// `pairing` (default), `allowlist`, `open` or `disabled`.
    pub dm_policy: Option<String>,
    /// Allowed senders: E.164 numbers, `*`, or `accessGroup:<name>`. Env: `SMS_ALLOWED_USERS` (comma-separated).
    pub allow_from: Option<AllowFromInput>,
    /// Largest part of a reply, in UTF-16 units (default 1500, at most 1600). Env: `SMS_TEXT_CHUNK_LIMIT`.
    pub text_chunk_limit: Option<ChunkLimitInput>,
    /// Base URL of the Twilio API (proxies, tests, the simulator).
    pub api_base_url: Option<String>,
    /// Twilio Region (`au1`, `ie1`, …) for `api.<edge>.<region>.twilio.com`.
    pub region: Option<String>,
    /// Twilio Edge location (`sydney`, `dublin`, …), used with `region`.
    pub edge: Option<String>,
    /// API Key SID (`SK…`) to authenticate instead of the Auth Token.
    pub api_key_sid: Option<String>,
    /// API Key secret, plain or a SecretRef.
    pub api_key_secret: Option<SecretInput>,
    /// Replace typographic characters with GSM-7 look-alikes before sending. Default `true`.
    pub smart_encoding: Option<bool>,
    /// Budget of billed segments per reply; a longer reply is cut at a boundary.
    pub max_segments_per_reply: Option<u32>,
    /// Answer to HELP/INFO; when unset, Twilio's own answer stands.
    pub help_text: Option<String>,
    /// Parts per second to one recipient. Default 1.
    pub send_rate_per_second: Option<f64>,
    /// Keep the first message of a pairing sender and answer it after approval. Default `true`.
    pub hold_until_approved: Option<bool>,
    /// Webhook limits (`perSenderPerMinute`, `perRoutePerMinute`, `invalidPerClientPerMinute`, `preAuthInFlight`, `maxBodyBytes`).
    pub limits: Option<LimitsInput>,
    /// Pairing (`notifyOwner`, `confirmSender`, `maxPending`, `codeTtlMinutes`, `maxCodeTextsPerSenderPerDay`).
    pub pairing: Option<PairingInput>,
    /// Daily segment budgets (`segmentsPerSenderPerDay`, `segmentsPerAccountPerDay`, `timeZone`, `warnAtPercent`, `pricePerSegment`).
    pub budgets: Option<super::budgets::BudgetsInput>,
    /// `send` (default: a reply over `maxSegmentsPerReply` is cut) or `ask` (the rest on `MORE`).
    pub long_replies: Option<String>,
    /// How long the rest of a long reply waits for `MORE`, in minutes. Default 60.
    pub more_window_minutes: Option<u32>,
    /// Quiet hours for messages the agent or automation starts (`start`, `end`, `timeZone`, `fallbackTimeZone`).
    pub quiet_hours: Option<QuietHoursInput>,
}

/// The whole `channels.sms` section as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsChannelInput {
    /// Top-level account fields (the implicit `default` account, and defaults for the others).
    #[serde(flatten)]
    pub base: AccountInput,
    /// Named accounts.
    #[serde(default)]
    pub accounts: BTreeMap<String, Option<AccountInput>>,
    /// Which account is the default one (and receives the environment fallbacks).
    pub default_account: Option<String>,
}

impl SmsChannelInput {
    /// Parses `channels.sms` strictly. `path` is the section's own path (`channels.sms`), used
    /// in messages.
    pub fn from_value(value: &Value, path: &str) -> Result<Self, SmsError> {
        check_keys(value, path)?;
        // `flatten` and `deny_unknown_fields` do not mix, so the top level is split by hand.
        let Value::Object(map) = value else {
            return Err(SmsError::invalid(path, "must be an object ({ … })"));
        };
        let mut base = serde_json::Map::new();
        let mut accounts = BTreeMap::new();
        let mut default_account = None;
        for (key, v) in map {
            match key.as_str() {
                "accounts" => {
                    let Value::Object(entries) = v else {
                        return Err(SmsError::invalid(
                            &format!("{path}.accounts"),
                            "must be an object of accounts, keyed by account id",
                        ));
                    };
                    for (id, account) in entries {
                        let account_path = format!("{path}.accounts.{id}");
                        let parsed = if account.is_null() {
                            None
                        } else {
                            Some(parse_typed::<AccountInput>(account, &account_path)?)
                        };
                        accounts.insert(id.clone(), parsed);
                    }
                }
                "defaultAccount" => {
                    default_account =
                        Some(parse_typed::<String>(v, &format!("{path}.defaultAccount"))?);
                }
                _ => {
                    base.insert(key.clone(), v.clone());
                }
            }
        }
        let base = parse_typed::<AccountInput>(&Value::Object(base), path)?;
        Ok(Self {
            base,
            accounts,
            default_account,
        })
    }
}

fn parse_typed<T: serde::de::DeserializeOwned>(value: &Value, path: &str) -> Result<T, SmsError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let inner = err.path().to_string();
        let at = if inner == "." || inner.is_empty() {
            path.to_owned()
        } else {
            format!("{path}.{inner}")
        };
        SmsError::invalid(&at, &describe_serde_error(&err.into_inner().to_string()))
    })
}

/// Makes serde's wording about untagged enums readable.
fn describe_serde_error(message: &str) -> String {
    if message.contains("AllowFromInput") {
        return "must be a list of phone numbers (strings or numbers) or one comma-separated string".to_owned();
    }
    if message.contains("SecretInput") {
        return "must be a string or a SecretRef object { source, provider, id }".to_owned();
    }
    if message.contains("OwnerNumbersInput") {
        return "must be a phone number in E.164 (\"+15551234567\") or a list of them".to_owned();
    }
    if message.contains("ChunkLimitInput") {
        return "must be a positive whole number".to_owned();
    }
    message.to_owned()
}

/// Rejects unknown keys in `channels.sms`, its accounts and their `limits`, naming the path and
/// the nearest valid key.
fn check_keys(value: &Value, path: &str) -> Result<(), SmsError> {
    let Value::Object(map) = value else {
        return Ok(());
    };
    let top: Vec<&str> = ACCOUNT_KEYS
        .iter()
        .chain(TOP_LEVEL_ONLY_KEYS)
        .copied()
        .collect();
    check_object(map, path, &top)?;
    check_sections(map, path)?;
    if let Some(Value::Object(accounts)) = map.get("accounts") {
        for (id, account) in accounts {
            let account_path = format!("{path}.accounts.{id}");
            if let Value::Object(account) = account {
                if let Some(key) = TOP_LEVEL_ONLY_KEYS
                    .iter()
                    .find(|k| account.contains_key(**k))
                {
                    return Err(SmsError::invalid(
                        &format!("{account_path}.{key}"),
                        &format!("`{key}` is only allowed directly under {path}"),
                    ));
                }
                check_object(account, &account_path, ACCOUNT_KEYS)?;
                check_sections(account, &account_path)?;
            }
        }
    }
    Ok(())
}

/// The keys of an account object's sub-sections (`limits`, `pairing`).
fn check_sections(map: &serde_json::Map<String, Value>, path: &str) -> Result<(), SmsError> {
    for (section, known) in [
        ("limits", LIMIT_KEYS),
        ("pairing", PAIRING_KEYS),
        ("budgets", super::budgets::BUDGET_KEYS),
        ("quietHours", QUIET_HOURS_KEYS),
    ] {
        if let Some(Value::Object(inner)) = map.get(section) {
            check_object(inner, &format!("{path}.{section}"), known)?;
        }
    }
    Ok(())
}

fn check_object(
    map: &serde_json::Map<String, Value>,
    path: &str,
    known: &[&str],
) -> Result<(), SmsError> {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            let hint = match nearest(key, known) {
                Some(near) => format!("unknown key; did you mean `{near}`?"),
                None => format!("unknown key; valid keys are: {}", known.join(", ")),
            };
            return Err(SmsError::invalid(&format!("{path}.{key}"), &hint));
        }
    }
    Ok(())
}

/// The known key closest to `key` (case-insensitive edit distance), when it is close enough to
/// be a likely typo. The gateway uses it for its own sections (`state`).
pub fn nearest_key<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    nearest(key, known)
}

fn nearest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, k)| *d <= (k.len().max(key.len()) / 3).max(2))
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(value: Value) -> String {
        SmsChannelInput::from_value(&value, "channels.sms")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_keys_name_path_and_nearest_key() {
        let cases = [
            (
                json!({"fromNumbr": "+1"}),
                "channels.sms.fromNumbr: unknown key; did you mean `fromNumber`?",
            ),
            (
                json!({"dmpolicy": "open"}),
                "channels.sms.dmpolicy: unknown key; did you mean `dmPolicy`?",
            ),
            (
                json!({"accounts": {"support": {"allowfrom": []}}}),
                "channels.sms.accounts.support.allowfrom: unknown key; did you mean `allowFrom`?",
            ),
            (
                json!({"limits": {"perSenderPerMinut": 3}}),
                "channels.sms.limits.perSenderPerMinut: unknown key; did you mean `perSenderPerMinute`?",
            ),
            (
                json!({"accounts": {"a": {"defaultAccount": "a"}}}),
                "channels.sms.accounts.a.defaultAccount: `defaultAccount` is only allowed directly under channels.sms",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(err(value), expected);
        }
        assert!(err(json!({"zzzzzzzzzzzz": 1})).contains("valid keys are: name, enabled"));
    }

    #[test]
    fn wrong_types_name_the_key() {
        assert_eq!(
            err(json!({"enabled": "yes"})),
            "channels.sms.enabled: invalid type: string \"yes\", expected a boolean"
        );
        assert_eq!(
            err(json!({"accounts": {"s": {"allowFrom": {"a": 1}}}})),
            "channels.sms.accounts.s.allowFrom: must be a list of phone numbers (strings or numbers) or one comma-separated string"
        );
        assert_eq!(
            err(json!({"authToken": 5})),
            "channels.sms.authToken: must be a string or a SecretRef object { source, provider, id }"
        );
        assert_eq!(
            err(json!({"accounts": []})),
            "channels.sms.accounts: must be an object of accounts, keyed by account id"
        );
    }

    #[test]
    fn product_page_examples_parse() {
        let quick = json!({"enabled": true, "accountSid": "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "authToken": "twilio-auth-token",
            "fromNumber": "+15551234567", "publicWebhookUrl": "https://gateway.example.com/webhooks/sms", "dmPolicy": "pairing"});
        let parsed = SmsChannelInput::from_value(&quick, "channels.sms").unwrap();
        assert_eq!(parsed.base.from_number.as_deref(), Some("+15551234567"));
        let multi = json!({"accounts": {"support": {"enabled": true, "accountSid": "AC1", "authToken": {"source": "env", "provider": "default", "id": "TWILIO_AUTH_TOKEN"},
            "fromNumber": "+15551234567", "webhookPath": "/webhooks/sms/support", "dmPolicy": "allowlist", "allowFrom": ["+15557654321", 15_557_654_322_u64]}}});
        let parsed = SmsChannelInput::from_value(&multi, "channels.sms").unwrap();
        let support = parsed.accounts["support"].as_ref().unwrap();
        assert_eq!(
            support.allow_from.as_ref().unwrap().entries(),
            ["+15557654321", "+15557654322"]
        );
        assert!(matches!(support.auth_token, Some(SecretInput::Ref(_))));
    }

    #[test]
    fn allow_from_csv_drops_blanks() {
        assert_eq!(
            AllowFromInput::Csv(" +1555, ,sms:+1666 ,".into()).entries(),
            ["+1555", "sms:+1666"]
        );
    }
}
