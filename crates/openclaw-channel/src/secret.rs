//! Secret inputs: a plain string, or a reference resolved by the gateway's secrets runtime.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a referenced secret comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SecretSource {
    /// An environment variable of the gateway process.
    Env,
    /// A file provider (`secrets.providers.<alias>` with `source: "file"`).
    File,
    /// An exec provider (`secrets.providers.<alias>` with `source: "exec"`).
    Exec,
    /// Upstream's secret store; accepted in config, not supported by this gateway.
    Store,
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Env => "env",
            Self::File => "file",
            Self::Exec => "exec",
            Self::Store => "store",
        })
    }
}

/// A reference to a secret: `{ source, provider, id }`. Shows as `env:default:TWILIO_AUTH_TOKEN`;
/// it never holds the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The kind of provider.
    pub source: SecretSource,
    /// The provider alias (`default` for the implicit env provider).
    #[serde(default = "default_provider")]
    pub provider: String,
    /// The secret's id within the provider (variable name, JSON pointer, exec id).
    pub id: String,
}

fn default_provider() -> String {
    "default".to_owned()
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.provider, self.id)
    }
}

/// A secret as written in config: a plain string or a [`SecretRef`]. A string of the form
/// `${VAR}` (or `$VAR`) is shorthand for an env reference.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SecretInput {
    /// A reference.
    Ref(SecretRef),
    /// A plain value (or the `${VAR}` shorthand).
    Plain(String),
}

impl fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reference() {
            Some(r) => write!(f, "SecretInput::Ref({r})"),
            None => f.write_str("SecretInput::Plain([REDACTED])"),
        }
    }
}

impl SecretInput {
    /// The reference this input names: an explicit ref, or the `${VAR}` / `$VAR` shorthand.
    pub fn reference(&self) -> Option<SecretRef> {
        match self {
            Self::Ref(r) => Some(r.clone()),
            Self::Plain(s) => {
                let s = s.trim();
                let name = s
                    .strip_prefix("${")
                    .and_then(|r| r.strip_suffix('}'))
                    .or_else(|| s.strip_prefix('$'))?;
                is_env_name(name).then(|| SecretRef {
                    source: SecretSource::Env,
                    provider: default_provider(),
                    id: name.to_owned(),
                })
            }
        }
    }

    /// Whether something is configured: a reference, or a non-blank plain value.
    pub fn is_configured(&self) -> bool {
        match self {
            Self::Ref(_) => true,
            Self::Plain(s) => !s.trim().is_empty(),
        }
    }
}

/// Env and store ids: `^[A-Z][A-Z0-9_]{0,127}$`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_and_refs() {
        let check = |input: SecretInput, expected: Option<&str>| {
            assert_eq!(
                input.reference().map(|r| r.to_string()).as_deref(),
                expected
            );
        };
        check(
            SecretInput::Plain("${TWILIO_AUTH_TOKEN}".into()),
            Some("env:default:TWILIO_AUTH_TOKEN"),
        );
        check(
            SecretInput::Plain("$TOKEN_2".into()),
            Some("env:default:TOKEN_2"),
        );
        check(SecretInput::Plain("${lower}".into()), None);
        check(SecretInput::Plain("abc$DEF".into()), None);
        check(SecretInput::Plain("plain".into()), None);
        let parsed: SecretInput =
            serde_json::from_str(r#"{"source":"file","provider":"vault","id":"/twilio/token"}"#)
                .unwrap();
        check(parsed, Some("file:vault:/twilio/token"));
    }

    #[test]
    fn debug_never_shows_a_plain_secret() {
        let input = SecretInput::Plain("s3cr3t-token".into());
        assert!(!format!("{input:?}").contains("s3cr3t"));
    }
}
