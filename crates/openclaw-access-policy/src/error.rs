//! The crate's one error type.

/// Why a policy configuration or a policy value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyConfigError {
    /// The policy is `open` but the allow list lacks `"*"`. The message is upstream's, with
    /// the caller's keys (`channels.sms.dmPolicy`, `channels.sms.allowFrom`).
    #[error(r#"{}="open" requires {} to include "*""#, .keys.policy, .keys.allow_from)]
    OpenWithoutWildcard {
        /// The config keys of the policy and of its allow list.
        keys: crate::PolicyKeys,
    },

    /// A `dmPolicy` value that is not one of the four policies.
    #[error(
        r#"unknown access policy {input:?}: write "pairing", "allowlist", "open" or "disabled""#
    )]
    UnknownDmPolicy {
        /// The value as written.
        input: String,
    },

    /// An empty allow rule.
    #[error(r#"empty allow entry: write a sender id, "*" or accessGroup:<name>"#)]
    EmptyAllowRule,

    /// An `accessGroup:` rule without a group name.
    #[error("{input:?} names no access group: write accessGroup:<name>")]
    EmptyGroupName {
        /// The rule as written.
        input: String,
    },

    /// A pairing code that is not 8 characters from
    /// [`PAIRING_CODE_ALPHABET`](crate::PAIRING_CODE_ALPHABET).
    #[error(
        "{input:?} is not a pairing code: copy the 8-character code from the pairing message (letters and digits, case does not matter)"
    )]
    InvalidPairingCode {
        /// The code as written (at most 64 characters of it).
        input: String,
    },
}
