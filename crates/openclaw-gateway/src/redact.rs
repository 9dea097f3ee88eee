//! What the CLI shows of config and status, without secrets: secret-named keys at any depth
//! (inside arrays too) become `***`, and every other string loses the `user:pass@` of its URLs
//! (through [`openclaw_twilio::redact::redact_userinfo`], the one function for that).

use openclaw_twilio::redact::redact_userinfo;
use serde_json::Value;

/// What a plain secret is shown as.
const HIDDEN: &str = "***";

/// A config value at dotted `path` (`""` for the whole document) as `config get` shows it:
/// plain secrets by key are `***` (SecretRefs are shown as they are: they hold no secret),
/// URLs keep no credentials.
pub(crate) fn config_value(path: &str, value: &Value) -> Value {
    let secret = last_key(path).is_some_and(is_secret_key) || SECRET_PATHS.contains(&path);
    walk(value, path, Walk::Config, secret)
}

/// Output built from config that names no secret by key (status rows, probe results): every
/// string loses the credentials of its URLs.
pub(crate) fn shown_value(value: &Value) -> Value {
    walk(value, "", Walk::Output, false)
}

/// Whether keys decide what is secret (config) or only URLs matter (output whose keys, such
/// as `tokenStatus`, describe rather than hold secrets).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walk {
    Config,
    Output,
}

fn walk(value: &Value, path: &str, how: Walk, secret: bool) -> Value {
    match value {
        Value::String(text) if secret => {
            if is_reference(text) {
                value.clone()
            } else {
                Value::String(HIDDEN.to_owned())
            }
        }
        Value::String(text) => Value::String(redact_userinfo(text)),
        // The items of an array are what its key says they are (`apiKeys: ["…", "…"]`).
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| walk(item, path, how, secret))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, child)| {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    let secret = how == Walk::Config
                        && (is_secret_key(key) || SECRET_PATHS.contains(&child_path.as_str()));
                    (key.clone(), walk(child, &child_path, how, secret))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn last_key(path: &str) -> Option<&str> {
    path.rsplit('.').next().filter(|k| !k.is_empty())
}

/// Whether a string is a SecretRef (`${VAR}`, `env:…`, …) rather than a secret.
fn is_reference(text: &str) -> bool {
    serde_json::from_value::<openclaw_sms::config::SecretInput>(Value::String(text.to_owned()))
        .ok()
        .and_then(|input| input.reference())
        .is_some()
}

/// Whether a config key holds a secret: `authToken`, `apiKeySecret`, `apiKey`, and the other
/// sections' `token`, `botToken`, `password`, `authorization`, … (any key naming a token,
/// secret, password, key or credential).
fn is_secret_key(key: &str) -> bool {
    const MARKERS: &[&str] = &[
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "privatekey",
        "authorization",
        "credential",
    ];
    let key = key.to_ascii_lowercase();
    MARKERS.iter().any(|m| key.contains(m))
}

/// Config paths that hold a secret although their key does not say so: `state.url` (a
/// database URL usually carries a password, and libpq's `key=value` form is not a URL).
const SECRET_PATHS: &[&str] = &["state.url"];

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `config get` of `path` in `config` shows `expected`, and never `secret`.
    fn check(config: Value, path: &str, expected: Value, secret: &str) {
        let value = crate::config_file::get_path(&config, path).expect("path exists");
        let shown = config_value(path, value);
        assert_eq!(shown, expected, "{path}");
        assert!(!shown.to_string().contains(secret), "{shown}");
    }

    #[test]
    fn config_redaction_table() {
        // A secret key at the top of the path, and at depth.
        check(
            json!({"a": {"authToken": "s3cret"}}),
            "a.authToken",
            json!("***"),
            "s3cret",
        );
        check(
            json!({"a": {"b": {"c": {"apiKey": "s3cret", "x": 1}}}}),
            "",
            json!({"a": {"b": {"c": {"apiKey": "***", "x": 1}}}}),
            "s3cret",
        );
        // Inside arrays: objects in an array, and an array under a secret key.
        check(
            json!({"accounts": [{"id": "a", "password": "s3cret"}, {"token": "s3cret-2"}]}),
            "accounts",
            json!([{"id": "a", "password": "***"}, {"token": "***"}]),
            "s3cret",
        );
        check(
            json!({"p": {"apiKeys": ["s3cret-1", "s3cret-2"]}}),
            "",
            json!({"p": {"apiKeys": ["***", "***"]}}),
            "s3cret",
        );
        check(
            json!({"h": [[{"Authorization": "Bearer s3cret"}]]}),
            "h",
            json!([[{"Authorization": "***"}]]),
            "s3cret",
        );
        // URLs with userinfo, wherever they are.
        check(
            json!({"sms": {"publicWebhookUrl": "https://u:s3cret@gw.example/sms"}}),
            "sms.publicWebhookUrl",
            json!("https://***@gw.example/sms"),
            "s3cret",
        );
        check(
            json!({"list": ["https://u:s3cret@a.example/x", "plain"]}),
            "",
            json!({"list": ["https://***@a.example/x", "plain"]}),
            "s3cret",
        );
        // state.url, also in libpq's key=value form.
        check(
            json!({"state": {"url": "host=h password=s3cret"}}),
            "state",
            json!({"url": "***"}),
            "s3cret",
        );
        // Numbers are counts, not secrets (`maxTokens`).
        check(
            json!({"m": {"maxTokens": 8192}}),
            "m",
            json!({"maxTokens": 8192}),
            "s3cret",
        );
        // References hold no secret and are shown; so are keys that only describe a secret.
        check(
            json!({"authToken": "${TWILIO_AUTH_TOKEN}", "secrets": {"providers": {"f": {"path": "/p"}}}}),
            "",
            json!({"authToken": "${TWILIO_AUTH_TOKEN}", "secrets": {"providers": {"f": {"path": "/p"}}}}),
            "s3cret",
        );
        check(
            json!({"token": {"source": "env", "provider": "default", "id": "T"}}),
            "token",
            json!({"source": "env", "provider": "default", "id": "T"}),
            "s3cret",
        );
    }

    #[test]
    fn output_keeps_descriptive_keys_and_hides_url_credentials() {
        let row = json!({
            "tokenStatus": "configured",
            "publicWebhookUrl": "https://u:s3cret@gw.example/sms",
            "probe": {"webhook": {"expectedUrl": "https://u:s3cret@gw.example/sms"}, "hints": ["set it to https://u:s3cret@gw.example/sms"]},
        });
        let shown = shown_value(&row);
        assert_eq!(shown["tokenStatus"], "configured");
        assert_eq!(shown["publicWebhookUrl"], "https://***@gw.example/sms");
        assert!(!shown.to_string().contains("s3cret"), "{shown}");
    }
}
