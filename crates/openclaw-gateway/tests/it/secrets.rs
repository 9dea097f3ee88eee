//! SecretRef of each source, through `config validate` (and a real send where the resolved
//! value matters): env, the `${VAR}` shorthand, file (JSON pointer, single value, modes) and
//! exec (protocol JSON, errors, a provider that hangs).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{AUTH_TOKEN, FakeTwilio, PHONE, Sandbox};
use crate::snap;

/// A configured account whose token is `token`. The sender is a Messaging Service so that
/// no phone number is parsed (the number metadata is slow to load in debug builds).
fn sms_with_token(token: Value) -> Value {
    json!({
        "enabled": true,
        "accountSid": "AC00000000000000000000000000000001",
        "authToken": token,
        "messagingServiceSid": "MG00000000000000000000000000000001",
        "publicWebhookUrl": "https://gateway.example.com/webhooks/sms",
    })
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Writes an executable `/bin/sh` script under the sandbox and returns its absolute path.
fn script(sandbox: &Sandbox, name: &str, body: &str) -> String {
    let path = sandbox.write(name, &format!("#!/bin/sh\n{body}\n"));
    chmod(&path, 0o700);
    path.to_str().expect("utf-8").to_owned()
}

/// `config validate --resolve-secrets`: plain `config validate` checks references for shape
/// only (see `references_resolve_where_they_are_used`).
fn validate(sandbox: &Sandbox) -> crate::harness::Outcome {
    sandbox.run(&["config", "validate", "--resolve-secrets"])
}

#[test]
fn references_resolve_where_they_are_used() {
    let sandbox = Sandbox::new();
    // A patch may write a reference to a variable that this shell does not have.
    let patch = sandbox.write(
        "p.json5",
        r#"{ channels: { sms: {
            enabled: true,
            accountSid: "AC00000000000000000000000000000001",
            authToken: "${UNSET_TWILIO_TOKEN}",
            messagingServiceSid: "MG00000000000000000000000000000001",
            publicWebhookUrl: "https://gateway.example.com/webhooks/sms",
        } } }"#,
    );
    let out = sandbox.run(&["config", "patch", "--file", patch.to_str().expect("utf-8")]);
    assert_eq!(out.code, Some(0), "{}", out.render());
    assert_eq!(
        sandbox.config_json()["channels"]["sms"]["authToken"],
        json!("${UNSET_TWILIO_TOKEN}"),
        "the file holds the reference"
    );
    // `config validate` checks its shape; `--resolve-secrets` resolves it, and says which.
    let plain = sandbox.run(&["config", "validate"]);
    assert_eq!(plain.code, Some(0), "{}", plain.render());
    let resolved = validate(&sandbox);
    assert_eq!(resolved.code, Some(1), "{}", resolved.render());
    assert_eq!(
        resolved.stderr.trim(),
        "error: channels.sms.authToken: unresolved SecretRef \"env:default:UNSET_TWILIO_TOKEN\": environment variable UNSET_TWILIO_TOKEN is not set (or blank)"
    );
    // The gateway resolves it at start-up, and says so.
    let port = crate::harness::free_port().to_string();
    let gateway =
        sandbox.run_expecting_exit(&["gateway", "--port", &port], crate::config::REFUSAL_LIMIT);
    assert_eq!(gateway.code, Some(1), "{}", gateway.render());
    assert!(
        gateway.stderr.contains("error: at start-up: channels.sms.authToken: unresolved SecretRef \"env:default:UNSET_TWILIO_TOKEN\": environment variable UNSET_TWILIO_TOKEN is not set (or blank)"),
        "{}",
        gateway.render()
    );
    // A malformed reference is refused in the patch, and nothing is written.
    let before = sandbox.config_text();
    let bad = sandbox.write(
        "bad.json5",
        r#"{ channels: { sms: { authToken: { source: "env", provider: "default", id: "lower-case" } } } }"#,
    );
    let out = sandbox.run(&["config", "patch", "--file", bad.to_str().expect("utf-8")]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: in the patch: the patched config is invalid; nothing was written to {}: channels.sms.authToken: SecretRef \"env:default:lower-case\" is malformed: env ids must match ^[A-Z][A-Z0-9_]{{0,127}}$",
            "[TMP]/openclaw.json"
        )
    );
    assert_eq!(sandbox.config_text(), before);
}

#[test]
fn env_source_and_shorthand() {
    let mut sandbox = Sandbox::new();
    sandbox
        .env("MY_TWILIO_TOKEN", "env-secret-value")
        .env("BLANK_TOKEN", " ");
    let check = |name: &str, token: Value| {
        sandbox.write_config(&json!({"channels": {"sms": sms_with_token(token)}}));
        let out = validate(&sandbox);
        assert!(
            !out.stdout.contains("env-secret-value") && !out.stderr.contains("env-secret-value")
        );
        snap!(name, out);
    };
    check(
        "secret_env_ok",
        json!({"source": "env", "provider": "default", "id": "MY_TWILIO_TOKEN"}),
    );
    check("secret_env_shorthand_ok", json!("${MY_TWILIO_TOKEN}"));
    check(
        "secret_env_unset",
        json!({"source": "env", "provider": "default", "id": "NOT_SET_TOKEN"}),
    );
    check("secret_env_blank", json!("${BLANK_TOKEN}"));
    check(
        "secret_env_bad_id",
        json!({"source": "env", "provider": "default", "id": "lower-case"}),
    );
    check(
        "secret_env_unknown_provider",
        json!({"source": "env", "provider": "vault", "id": "MY_TWILIO_TOKEN"}),
    );
}

#[test]
fn env_provider_allowlist() {
    let mut sandbox = Sandbox::new();
    sandbox.env("MY_TWILIO_TOKEN", "env-secret-value");
    sandbox.write_config(&json!({
        "secrets": {"providers": {"hostenv": {"source": "env", "allowlist": ["OTHER_TOKEN"]}}},
        "channels": {"sms": sms_with_token(json!({"source": "env", "provider": "hostenv", "id": "MY_TWILIO_TOKEN"}))},
    }));
    snap!("secret_env_not_in_allowlist", validate(&sandbox));
}

#[test]
fn file_source() {
    let sandbox = Sandbox::new();
    let secrets = sandbox.write(
        "secrets.json",
        &json!({"twilio": {"authToken": "file-secret-value"}}).to_string(),
    );
    let single = sandbox.write("token.txt", "file-single-value\n");
    chmod(&secrets, 0o600);
    chmod(&single, 0o600);
    let config = |id: &str, provider: &str| {
        json!({
            "secrets": {"providers": {
                "vault": {"source": "file", "path": secrets.to_str().expect("utf-8"), "mode": "json"},
                "one": {"source": "file", "path": single.to_str().expect("utf-8"), "mode": "singleValue"},
                "home": {"source": "file", "path": "~/secrets.json", "mode": "json"},
            }},
            "channels": {"sms": sms_with_token(json!({"source": "file", "provider": provider, "id": id}))},
        })
    };
    let check = |name: &str, config: Value| {
        sandbox.write_config(&config);
        let out = validate(&sandbox);
        assert!(
            !out.stderr.contains("file-secret-value") && !out.stderr.contains("file-single-value")
        );
        snap!(name, out);
    };
    check(
        "secret_file_pointer_ok",
        config("/twilio/authToken", "vault"),
    );
    check(
        "secret_file_home_path_ok",
        config("/twilio/authToken", "home"),
    );
    check("secret_file_single_value_ok", config("value", "one"));
    check(
        "secret_file_missing_pointer",
        config("/twilio/missing", "vault"),
    );
    check(
        "secret_file_no_provider",
        config("/twilio/authToken", "nope"),
    );
    chmod(&secrets, 0o644);
    check(
        "secret_file_world_readable",
        config("/twilio/authToken", "vault"),
    );
    chmod(&secrets, 0o640);
    check(
        "secret_file_group_readable",
        config("/twilio/authToken", "vault"),
    );
}

#[test]
fn file_source_value_reaches_twilio() {
    let twilio = FakeTwilio::start(None);
    let sandbox = Sandbox::new();
    let secrets = sandbox.write(
        "secrets.json",
        &json!({"twilio": {"authToken": AUTH_TOKEN}}).to_string(),
    );
    chmod(&secrets, 0o600);
    let mut sms = twilio.sms_section();
    sms["authToken"] = json!({"source": "file", "provider": "vault", "id": "/twilio/authToken"});
    sandbox.write_config(&json!({
        "secrets": {"providers": {"vault": {"source": "file", "path": secrets.to_str().expect("utf-8"), "mode": "json"}}},
        "channels": {"sms": sms},
    }));
    let out = sandbox.run(&[
        "message",
        "send",
        "--channel",
        "sms",
        "--target",
        PHONE,
        "--message",
        "via file",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.render());
    assert_eq!(twilio.bodies_to(PHONE), vec!["via file".to_owned()]);
}

/// An exec provider that answers protocol version 1 with `values` for the id it is asked.
const EXEC_OK: &str = r#"read -r request
printf '%s\n' '{"protocolVersion": 1, "values": {"twilio/authToken": "sim-auth-token"}}'"#;

#[test]
fn exec_source() {
    let sandbox = Sandbox::new();
    let ok = script(&sandbox, "providers/ok.sh", EXEC_OK);
    let errors = script(
        &sandbox,
        "providers/errors.sh",
        r#"read -r request
printf '%s\n' '{"protocolVersion": 1, "values": {}, "errors": {"twilio/authToken": {"code": "NOT_FOUND"}}}'"#,
    );
    let garbage = script(
        &sandbox,
        "providers/garbage.sh",
        "read -r request\necho not json",
    );
    let failing = script(&sandbox, "providers/failing.sh", "exit 3");
    let sleep = ["/bin/sleep", "/usr/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("a sleep binary");
    let hanging = script(&sandbox, "providers/hang.sh", &format!("exec {sleep} 30"));
    let check = |name: &str, command: &str, extra: Value| {
        let mut provider = json!({"source": "exec", "command": command});
        if let (Value::Object(p), Value::Object(e)) = (&mut provider, extra) {
            p.extend(e);
        }
        sandbox.write_config(&json!({
            "secrets": {"providers": {"runner": provider}},
            "channels": {"sms": sms_with_token(json!({"source": "exec", "provider": "runner", "id": "twilio/authToken"}))},
        }));
        let out = validate(&sandbox);
        assert!(!out.stderr.contains(AUTH_TOKEN), "{}", out.render());
        snap!(name, out);
    };
    check("secret_exec_ok", &ok, json!({}));
    check("secret_exec_reports_error", &errors, json!({}));
    check("secret_exec_not_json", &garbage, json!({}));
    check("secret_exec_exit_code", &failing, json!({}));
    check("secret_exec_relative_command", "providers/ok.sh", json!({}));
    check(
        "secret_exec_missing_command",
        "/nonexistent/provider",
        json!({}),
    );
    // A provider that never answers is stopped after its timeout (well under the 5 s default).
    check("secret_exec_hangs", &hanging, json!({"timeoutMs": 500}));
}

#[test]
fn exec_source_value_reaches_twilio() {
    let twilio = FakeTwilio::start(None);
    let sandbox = Sandbox::new();
    let ok = script(&sandbox, "providers/ok.sh", EXEC_OK);
    let mut sms = twilio.sms_section();
    sms["authToken"] = json!({"source": "exec", "provider": "runner", "id": "twilio/authToken"});
    sandbox.write_config(&json!({
        "secrets": {"providers": {"runner": {"source": "exec", "command": ok}}},
        "channels": {"sms": sms},
    }));
    let out = sandbox.run(&[
        "message",
        "send",
        "--channel",
        "sms",
        "--target",
        PHONE,
        "--message",
        "via exec",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.render());
    assert_eq!(twilio.bodies_to(PHONE), vec!["via exec".to_owned()]);
}

#[test]
fn disabled_accounts_are_not_resolved() {
    let sandbox = Sandbox::new();
    let mut sms =
        sms_with_token(json!({"source": "env", "provider": "default", "id": "NOT_SET_TOKEN"}));
    sms["enabled"] = json!(false);
    sandbox.write_config(&json!({"channels": {"sms": sms}}));
    snap!("secret_disabled_account_not_resolved", validate(&sandbox));
}
