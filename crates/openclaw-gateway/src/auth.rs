//! `gateway.auth.token`: the one owner credential of the gateway's HTTP surface (the console's
//! login; any bearer-authenticated admin API).
//!
//! API (module `crate::auth`, file `crates/openclaw-gateway/src/auth.rs`):
//! - [`AuthToken::from_config`]`(config, &SecretsRuntime) -> anyhow::Result<Option<AuthToken>>`:
//!   reads `gateway.auth.token` (a string, `"${VAR}"`, or a SecretRef `{ source, provider, id }`,
//!   resolved like every other secret); `None` when the key is absent or empty.
//! - [`AuthToken::generate`]`()`: a random token (for `gateway --dev`).
//! - [`check_token`]`(&AuthToken, presented: &str) -> bool`: constant-time comparison.
//! - [`check_bearer`]`(&AuthToken, authorization: Option<&str>) -> bool`: the same for an
//!   `Authorization: Bearer <token>` header value.
//!
//! Other keys under `gateway.auth` (`mode`, `password`, …) belong to OpenClaw's own gateway,
//! which reads the same config file: they are left alone.
//!
//! The comparison hashes both sides with SHA-256 and compares the digests with
//! `subtle::ConstantTimeEq`, so neither the content nor the length of the token leaks through
//! timing. The token never appears in `Debug` output, logs or errors.

use anyhow::anyhow;
use openclaw_sms::config::SecretInput;
use rand::Rng as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::secrets::SecretsRuntime;

/// The config key of the token.
pub(crate) const TOKEN_KEY: &str = "gateway.auth.token";
/// The shortest configured token accepted: a guessable token is worse than none.
pub(crate) const MIN_TOKEN_CHARS: usize = 16;
/// Characters of a generated token (hex of 32 random bytes).
const GENERATED_BYTES: usize = 32;

/// The owner's token, resolved. `Debug` shows no value.
#[derive(Clone)]
pub(crate) struct AuthToken {
    secret: SecretString,
    digest: [u8; 32],
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken([redacted])")
    }
}

impl AuthToken {
    /// A token from its value.
    pub(crate) fn new(secret: SecretString) -> Self {
        let digest = sha256(secret.expose_secret().as_bytes());
        Self { secret, digest }
    }

    /// A random token of 64 hex characters.
    pub(crate) fn generate() -> Self {
        let bytes: [u8; GENERATED_BYTES] = rand::rng().random();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self::new(SecretString::from(hex))
    }

    /// The value, for the one place that must show it: the `--dev` banner's console URL.
    pub(crate) fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    /// `gateway.auth.token` of `config`, resolved through `secrets`; `None` when absent/empty.
    pub(crate) fn from_config(
        config: &Value,
        secrets: &SecretsRuntime<'_>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(value) = config.pointer("/gateway/auth/token") else {
            return Ok(None);
        };
        if value.is_null() {
            return Ok(None);
        }
        let input: SecretInput = serde_json::from_value(value.clone()).map_err(|_| {
            anyhow!(
                "{TOKEN_KEY}: expected a string or a SecretRef {{ source, provider, id }} (for example \"${{OPENCLAW_GATEWAY_TOKEN}}\")"
            )
        })?;
        if !input.is_configured() {
            return Ok(None);
        }
        let secret = secrets.resolve(TOKEN_KEY, &input)?;
        let chars = secret.expose_secret().trim().chars().count();
        if secrets.resolves() && chars < MIN_TOKEN_CHARS {
            // The value is not echoed, only its length.
            return Err(anyhow!(
                "{TOKEN_KEY}: the token has {chars} characters, at least {MIN_TOKEN_CHARS} are needed (generate one with `openssl rand -hex 32`)"
            ));
        }
        Ok(Some(Self::new(secret)))
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether `presented` is the token, in constant time (over digests: length does not leak).
pub(crate) fn check_token(expected: &AuthToken, presented: &str) -> bool {
    let presented = sha256(presented.as_bytes());
    bool::from(expected.digest.ct_eq(&presented))
}

/// Whether an `Authorization` header value is `Bearer <token>` with the right token.
pub(crate) fn check_bearer(expected: &AuthToken, authorization: Option<&str>) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && check_token(expected, token.trim())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::env::Env;

    const GOOD: &str = "0123456789abcdef0123";

    fn from(config: Value, env: &Env) -> anyhow::Result<Option<AuthToken>> {
        AuthToken::from_config(&config, &SecretsRuntime::new(&config, env))
    }

    #[test]
    fn token_checks_are_exact() {
        let token = AuthToken::new(SecretString::from(GOOD));
        assert!(check_token(&token, GOOD));
        for wrong in [
            "",
            "0123456789abcdef012",
            "0123456789abcdef01234",
            "x123456789abcdef0123",
        ] {
            assert!(!check_token(&token, wrong), "{wrong:?}");
        }
        assert!(check_bearer(&token, Some(&format!("Bearer {GOOD}"))));
        assert!(check_bearer(&token, Some(&format!("bearer {GOOD}"))));
        for wrong in [None, Some(GOOD), Some("Basic abc"), Some("Bearer nope")] {
            assert!(!check_bearer(&token, wrong), "{wrong:?}");
        }
    }

    #[test]
    fn token_is_read_from_plain_env_and_refs_and_never_shown() {
        let env = Env::from_pairs(&[("OPENCLAW_GATEWAY_TOKEN", GOOD)]);
        let plain = from(json!({"gateway": {"auth": {"token": GOOD}}}), &env)
            .unwrap()
            .unwrap();
        assert!(check_token(&plain, GOOD));
        let shorthand = from(
            json!({"gateway": {"auth": {"token": "${OPENCLAW_GATEWAY_TOKEN}"}}}),
            &env,
        )
        .unwrap()
        .unwrap();
        assert!(check_token(&shorthand, GOOD));
        let reference = from(
            json!({"gateway": {"auth": {"token": {"source": "env", "provider": "default", "id": "OPENCLAW_GATEWAY_TOKEN"}}}}),
            &env,
        )
        .unwrap()
        .unwrap();
        assert!(check_token(&reference, GOOD));
        assert!(!format!("{reference:?}").contains(GOOD));
        assert!(from(json!({"gateway": {}}), &env).unwrap().is_none());
        assert!(
            from(json!({"gateway": {"auth": {"token": ""}}}), &env)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_tokens_name_the_key_not_the_value() {
        let env = Env::from_pairs(&[]);
        let short = from(
            json!({"gateway": {"auth": {"token": "secret-short"}}}),
            &env,
        )
        .unwrap_err();
        let text = format!("{short:#}");
        assert!(
            text.starts_with("gateway.auth.token: the token has 12 characters"),
            "{text}"
        );
        assert!(!text.contains("secret-short"));
        let kind = from(json!({"gateway": {"auth": {"token": 7}}}), &env).unwrap_err();
        assert!(format!("{kind:#}").starts_with("gateway.auth.token: expected a string"));
        let missing = from(
            json!({"gateway": {"auth": {"token": "${NOPE_TOKEN}"}}}),
            &env,
        )
        .unwrap_err();
        assert!(
            format!("{missing:#}").starts_with("gateway.auth.token:"),
            "{missing:#}"
        );
    }

    #[test]
    fn generated_tokens_are_long_and_distinct() {
        let (a, b) = (AuthToken::generate(), AuthToken::generate());
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
        assert!(check_token(&a, a.expose()) && !check_token(&a, b.expose()));
    }
}
