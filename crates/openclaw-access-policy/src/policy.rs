//! `dmPolicy`, allow rules and the configuration check.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::PolicyConfigError;

/// The prefix of an access-group rule (`accessGroup:<name>`).
pub const GROUP_PREFIX: &str = "accessGroup:";

/// Who may start a direct conversation: the `dmPolicy` key.
///
/// Serialises lower-case (`"pairing"`); [`FromStr`] also accepts other cases.
///
/// ```
/// use openclaw_access_policy::DmPolicy;
///
/// assert_eq!(DmPolicy::default(), DmPolicy::Pairing);
/// assert_eq!("allowlist".parse::<DmPolicy>()?, DmPolicy::Allowlist);
/// assert_eq!(DmPolicy::Open.to_string(), "open");
/// # Ok::<(), openclaw_access_policy::PolicyConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmPolicy {
    /// Unknown senders get a pairing code once; the operator approves them. The default.
    #[default]
    Pairing,
    /// Only senders in `allowFrom` (config) are served; others are dropped silently.
    Allowlist,
    /// Everyone is served; requires `"*"` in `allowFrom`.
    Open,
    /// Nobody is served; every message is dropped silently.
    Disabled,
}

impl DmPolicy {
    /// All four policies, in documentation order.
    pub const ALL: [Self; 4] = [Self::Pairing, Self::Allowlist, Self::Open, Self::Disabled];

    /// The config spelling: `pairing`, `allowlist`, `open`, `disabled`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pairing => "pairing",
            Self::Allowlist => "allowlist",
            Self::Open => "open",
            Self::Disabled => "disabled",
        }
    }
}

impl fmt::Display for DmPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DmPolicy {
    type Err = PolicyConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| PolicyConfigError::UnknownDmPolicy {
                input: s.chars().take(64).collect(),
            })
    }
}

/// One `allowFrom` rule over opaque sender ids.
///
/// The crate compares sender ids as exact strings; the channel normalises both sides first
/// (the SMS channel to E.164 with `openclaw-sms-target`).
///
/// Group membership is out of scope: a [`AllowRule::Group`] never matches in
/// [`decide`](crate::decide). A caller that knows the group's members expands the group
/// into [`AllowRule::Sender`] rules before deciding.
///
/// ```
/// use openclaw_access_policy::AllowRule;
///
/// assert_eq!(AllowRule::parse("*")?, AllowRule::Any);
/// assert_eq!(AllowRule::parse(" +15551234567 ")?, AllowRule::Sender("+15551234567".into()));
/// assert_eq!(AllowRule::parse("accessGroup:ops")?.to_string(), "accessGroup:ops");
/// # Ok::<(), openclaw_access_policy::PolicyConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AllowRule {
    /// `*`: every sender.
    Any,
    /// One sender id, compared exactly.
    Sender(String),
    /// `accessGroup:<name>`: never matches here (see the type's documentation).
    Group(String),
}

impl AllowRule {
    /// Parses `*`, `accessGroup:<name>` or a sender id (trimmed; otherwise kept as is).
    pub fn parse(input: &str) -> Result<Self, PolicyConfigError> {
        let t = input.trim();
        if t.is_empty() {
            return Err(PolicyConfigError::EmptyAllowRule);
        }
        if t == "*" {
            return Ok(Self::Any);
        }
        if let Some(name) = t.strip_prefix(GROUP_PREFIX) {
            if name.trim().is_empty() {
                return Err(PolicyConfigError::EmptyGroupName {
                    input: t.chars().take(64).collect(),
                });
            }
            return Ok(Self::Group(name.to_owned()));
        }
        Ok(Self::Sender(t.to_owned()))
    }

    /// Whether this rule admits `sender` on its own (groups never do).
    #[must_use]
    pub fn matches(&self, sender: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Sender(id) => id == sender,
            Self::Group(_) => false,
        }
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Sender(id) => f.write_str(id),
            Self::Group(name) => write!(f, "{GROUP_PREFIX}{name}"),
        }
    }
}

impl FromStr for AllowRule {
    type Err = PolicyConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for AllowRule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AllowRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A configuration that works but probably not as meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyWarning {
    /// `allowlist` with an empty allow list: every sender is rejected.
    #[error(
        r#"{}="allowlist" with an empty {} rejects every sender: add the senders to allow"#,
        .keys.policy,
        .keys.allow_from
    )]
    EmptyAllowlist {
        /// The config keys of the policy and of its allow list.
        keys: PolicyKeys,
    },

    /// `pairing` or `allowlist` with `"*"` in `allowFrom`: every sender is admitted without
    /// pairing, as under `open`.
    #[error(
        r#"{} includes "*", so {}="{policy}" admits every sender: remove "*", or say {}="open" if that is meant"#,
        .keys.allow_from,
        .keys.policy,
        .keys.policy_name()
    )]
    WildcardAdmitsEveryone {
        /// The config keys of the policy and of its allow list.
        keys: PolicyKeys,
        /// The policy that the wildcard overrides.
        policy: DmPolicy,
    },
}

/// The config keys a channel reads its policy and allow list from, named in every message of
/// [`check_policy_config`]. The crate knows no channel's keys: the caller says them.
///
/// ```
/// use openclaw_access_policy::PolicyKeys;
///
/// let sms = PolicyKeys::dm("channels.sms.accounts.support");
/// assert_eq!(sms.policy, "channels.sms.accounts.support.dmPolicy");
/// let voice = PolicyKeys::new("plugins.voice.inboundPolicy", "plugins.voice.allowFrom");
/// assert_eq!(voice.policy_name(), "inboundPolicy");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyKeys {
    /// The key of the policy, such as `channels.sms.dmPolicy`.
    pub policy: String,
    /// The key of its allow list, such as `channels.sms.allowFrom`.
    pub allow_from: String,
}

impl PolicyKeys {
    /// Keys named by the caller.
    pub fn new(policy: impl Into<String>, allow_from: impl Into<String>) -> Self {
        Self {
            policy: policy.into(),
            allow_from: allow_from.into(),
        }
    }

    /// OpenClaw's direct-message keys under `prefix`: `<prefix>.dmPolicy` and
    /// `<prefix>.allowFrom`.
    #[must_use]
    pub fn dm(prefix: &str) -> Self {
        Self::new(format!("{prefix}.dmPolicy"), format!("{prefix}.allowFrom"))
    }

    /// The policy key's last segment (`dmPolicy`), as a person writes it in a config.
    #[must_use]
    pub fn policy_name(&self) -> &str {
        self.policy.rsplit('.').next().unwrap_or(&self.policy)
    }
}

/// Checks a policy against its config allow rules, as upstream's schema does: `open`
/// without `"*"` is an error; `allowlist` with no rules and a wildcard under `pairing` or
/// `allowlist` are warnings. Every message names the caller's `keys`.
///
/// ```
/// use openclaw_access_policy::{AllowRule, DmPolicy, check_policy_config};
///
/// use openclaw_access_policy::PolicyKeys;
///
/// let err = check_policy_config(DmPolicy::Open, &[], &PolicyKeys::dm("channels.sms")).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"channels.sms.dmPolicy="open" requires channels.sms.allowFrom to include "*""#,
/// );
/// let support = PolicyKeys::dm("channels.sms.accounts.support");
/// let warnings = check_policy_config(DmPolicy::Allowlist, &[], &support)?;
/// assert!(warnings[0].to_string().contains("rejects every sender"));
/// assert!(check_policy_config(DmPolicy::Open, &[AllowRule::Any], &support)?.is_empty());
/// # Ok::<(), openclaw_access_policy::PolicyConfigError>(())
/// ```
pub fn check_policy_config(
    policy: DmPolicy,
    allow_from: &[AllowRule],
    keys: &PolicyKeys,
) -> Result<Vec<PolicyWarning>, PolicyConfigError> {
    let wildcard = allow_from.contains(&AllowRule::Any);
    let keys = keys.clone();
    let mut warnings = Vec::new();
    match policy {
        DmPolicy::Open if !wildcard => {
            return Err(PolicyConfigError::OpenWithoutWildcard { keys });
        }
        DmPolicy::Allowlist if allow_from.is_empty() => {
            warnings.push(PolicyWarning::EmptyAllowlist { keys });
        }
        DmPolicy::Pairing | DmPolicy::Allowlist if wildcard => {
            warnings.push(PolicyWarning::WildcardAdmitsEveryone { keys, policy });
        }
        _ => {}
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[&str]) -> Vec<AllowRule> {
        list.iter().map(|r| AllowRule::parse(r).unwrap()).collect()
    }

    /// `Ok(warning messages joined by " | ")` or `Err(error message)`.
    fn check(policy: DmPolicy, allow: &[&str], expected: Result<&str, &str>) {
        let keys = PolicyKeys::dm("channels.sms.accounts.support");
        let got = check_policy_config(policy, &rules(allow), &keys)
            .map(|w| {
                w.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().map(String::as_str).map_err(String::as_str),
            expected,
            "{policy} {allow:?}"
        );
    }

    #[test]
    fn config_table() {
        use DmPolicy::*;
        const OPEN_ERR: &str = r#"channels.sms.accounts.support.dmPolicy="open" requires channels.sms.accounts.support.allowFrom to include "*""#;
        const EMPTY_WARN: &str = r#"channels.sms.accounts.support.dmPolicy="allowlist" with an empty channels.sms.accounts.support.allowFrom rejects every sender: add the senders to allow"#;
        check(Pairing, &[], Ok(""));
        check(Pairing, &["+15551234567"], Ok(""));
        check(
            Pairing,
            &["*"],
            Ok(
                r#"channels.sms.accounts.support.allowFrom includes "*", so channels.sms.accounts.support.dmPolicy="pairing" admits every sender: remove "*", or say dmPolicy="open" if that is meant"#,
            ),
        );
        check(Allowlist, &[], Ok(EMPTY_WARN));
        check(Allowlist, &["+15557654321"], Ok(""));
        check(Allowlist, &["accessGroup:ops"], Ok(""));
        check(
            Allowlist,
            &["*", "+15557654321"],
            Ok(
                r#"channels.sms.accounts.support.allowFrom includes "*", so channels.sms.accounts.support.dmPolicy="allowlist" admits every sender: remove "*", or say dmPolicy="open" if that is meant"#,
            ),
        );
        check(Open, &[], Err(OPEN_ERR));
        check(Open, &["+15551234567"], Err(OPEN_ERR));
        check(Open, &["*"], Ok(""));
        check(Open, &["+15551234567", "*"], Ok(""));
        check(Disabled, &[], Ok(""));
        check(Disabled, &["*"], Ok(""));
    }

    #[test]
    fn upstream_message_verbatim() {
        let err =
            check_policy_config(DmPolicy::Open, &[], &PolicyKeys::dm("channels.sms")).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"channels.sms.dmPolicy="open" requires channels.sms.allowFrom to include "*""#
        );
        // Another channel's own key names, in every message.
        let voice = PolicyKeys::new("voice.inboundPolicy", "voice.callers");
        assert_eq!(
            check_policy_config(DmPolicy::Open, &[], &voice)
                .unwrap_err()
                .to_string(),
            r#"voice.inboundPolicy="open" requires voice.callers to include "*""#
        );
        assert_eq!(
            check_policy_config(DmPolicy::Pairing, &[AllowRule::Any], &voice).unwrap()[0]
                .to_string(),
            r#"voice.callers includes "*", so voice.inboundPolicy="pairing" admits every sender: remove "*", or say inboundPolicy="open" if that is meant"#
        );
    }

    fn check_policy(input: &str, expected: Option<DmPolicy>) {
        assert_eq!(input.parse::<DmPolicy>().ok(), expected, "{input:?}");
    }

    #[test]
    fn policy_parse_table() {
        check_policy("pairing", Some(DmPolicy::Pairing));
        check_policy("allowlist", Some(DmPolicy::Allowlist));
        check_policy("open", Some(DmPolicy::Open));
        check_policy("disabled", Some(DmPolicy::Disabled));
        check_policy(" Open ", Some(DmPolicy::Open));
        check_policy("ALLOWLIST", Some(DmPolicy::Allowlist));
        check_policy("allow", None);
        check_policy("", None);
        assert_eq!(
            serde_json::to_string(&DmPolicy::Allowlist).unwrap(),
            r#""allowlist""#
        );
        assert_eq!(
            serde_json::from_str::<DmPolicy>(r#""disabled""#).unwrap(),
            DmPolicy::Disabled
        );
        assert!(serde_json::from_str::<DmPolicy>(r#""Disabled""#).is_err());
        let msg = "nope".parse::<DmPolicy>().unwrap_err().to_string();
        assert_eq!(
            msg,
            r#"unknown access policy "nope": write "pairing", "allowlist", "open" or "disabled""#
        );
    }

    fn check_rule(input: &str, expected: Result<AllowRule, &str>) {
        let got = AllowRule::parse(input).map_err(|e| e.to_string());
        if let Ok(r) = &got {
            assert_eq!(&r.to_string().parse::<AllowRule>().unwrap(), r);
        }
        match (got, expected) {
            (Ok(r), Ok(want)) => assert_eq!(r, want, "{input:?}"),
            (Err(msg), Err(want)) => assert!(msg.contains(want), "{input:?}: {msg}"),
            (got, expected) => panic!("{input:?}: got {got:?}, want {expected:?}"),
        }
    }

    #[test]
    fn rule_table() {
        check_rule("*", Ok(AllowRule::Any));
        check_rule(" * ", Ok(AllowRule::Any));
        check_rule("+15551234567", Ok(AllowRule::Sender("+15551234567".into())));
        check_rule(
            "user@example.com",
            Ok(AllowRule::Sender("user@example.com".into())),
        );
        check_rule("accessGroup:ops", Ok(AllowRule::Group("ops".into())));
        check_rule(
            "accessGroup:Night Shift",
            Ok(AllowRule::Group("Night Shift".into())),
        );
        check_rule(
            "accessgroup:ops",
            Ok(AllowRule::Sender("accessgroup:ops".into())),
        );
        check_rule("accessGroup:", Err("names no access group"));
        check_rule("", Err("empty allow entry"));
        check_rule("   ", Err("empty allow entry"));
    }

    #[test]
    fn groups_never_match() {
        assert!(!AllowRule::Group("ops".into()).matches("ops"));
        assert!(!AllowRule::Group("ops".into()).matches("accessGroup:ops"));
        assert!(AllowRule::Any.matches(""));
        assert!(!AllowRule::Sender("+1555".into()).matches("+15550"));
    }
}
