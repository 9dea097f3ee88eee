//! `config patch|get|validate`: patch semantics, strictness, redaction, atomic private writes.

use std::os::unix::fs::PermissionsExt as _;

use serde_json::{Value, json};

use crate::harness::Sandbox;
use crate::snap;

const QUICK_SETUP: &str = include_str!("../data/sms.patch.json5");
const UPSTREAM: &str = include_str!("../data/upstream-openclaw.json5");
/// How long a command that must refuse may run before the test calls it a hang.
pub(crate) const REFUSAL_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn quick_setup_patch_dry_run_then_write() {
    let sandbox = Sandbox::new();
    let patch = sandbox.write("sms.patch.json5", QUICK_SETUP);
    let patch = patch.to_str().expect("utf-8 path");

    let dry = sandbox.run(&["config", "patch", "--file", patch, "--dry-run"]);
    snap!("patch_quick_setup_dry_run", dry);
    assert_eq!(sandbox.config_text(), None, "a dry run writes nothing");

    let applied = sandbox.run(&["config", "patch", "--file", patch]);
    snap!("patch_quick_setup_applied", applied);
    assert_eq!(mode(&sandbox.config_path()), 0o600);
    let written = sandbox.config_json();
    let expected: Value = json5::from_str(QUICK_SETUP).expect("patch parses");
    assert_eq!(written, expected);
    // No temp file is left beside the config.
    let names: Vec<String> = std::fs::read_dir(sandbox.root())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");

    let again = sandbox.run(&["config", "patch", "--file", patch]);
    snap!("patch_quick_setup_again", again);
}

#[test]
fn patch_json_output_and_dry_run_json() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"channels": {"sms": {"enabled": true, "dmPolicy": "pairing"}}}));
    let before = sandbox.config_text();
    let patch = sandbox.write(
        "p.json5",
        r#"{ channels: { sms: { dmPolicy: "allowlist", allowFrom: ["sms:+15557654321"] } } }"#,
    );
    let patch = patch.to_str().expect("utf-8 path");
    let dry = sandbox.run(&["config", "patch", "--file", patch, "--dry-run", "--json"]);
    snap!("patch_json_dry_run", dry);
    assert_eq!(dry.json()["dryRun"], true);
    assert_eq!(
        sandbox.config_text(),
        before,
        "a dry run leaves the file alone"
    );

    let applied = sandbox.run(&["config", "patch", "--file", patch, "--json"]);
    snap!("patch_json_applied", applied);
    assert_eq!(
        sandbox.config_json(),
        json!({"channels": {"sms": {"enabled": true, "dmPolicy": "allowlist", "allowFrom": ["sms:+15557654321"]}}})
    );
}

#[test]
fn patch_semantics_merge_replace_delete() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({
        "gateway": {"port": 18789},
        "channels": {"sms": {
            "enabled": true,
            "dmPolicy": "allowlist",
            "allowFrom": ["+15550000001", "+15550000002"],
            "defaultTo": "+15557654321",
            "accounts": {"support": {"fromNumber": "+15550000009"}},
        }},
    }));
    let patch = sandbox.write(
        "p.json5",
        // Objects merge, arrays replace, null deletes (a missing key's null changes nothing).
        r#"{ channels: { sms: {
            allowFrom: ["+15550000003"],
            defaultTo: null,
            notThere: null,
            accounts: { support: { dmPolicy: "pairing" } },
        } } }"#,
    );
    let out = sandbox.run(&["config", "patch", "--file", patch.to_str().expect("utf-8")]);
    snap!("patch_semantics", out);
    assert_eq!(
        sandbox.config_json(),
        json!({
            "gateway": {"port": 18789},
            "channels": {"sms": {
                "enabled": true,
                "dmPolicy": "allowlist",
                "allowFrom": ["+15550000003"],
                "accounts": {"support": {"fromNumber": "+15550000009", "dmPolicy": "pairing"}},
            }},
        })
    );
}

#[test]
fn patch_with_unknown_key_fails_and_writes_nothing() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"channels": {"sms": {"enabled": true}}}));
    let before = sandbox.config_text();
    let patch = sandbox.write(
        "p.json5",
        r#"{ channels: { sms: { fromNumbr: "+15551234567" } } }"#,
    );
    let patch = patch.to_str().expect("utf-8");
    for dry_run in [true, false] {
        let mut args = vec!["config", "patch", "--file", patch];
        if dry_run {
            args.push("--dry-run");
        }
        let out = sandbox.run(&args);
        snap!("patch_unknown_key", out);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.render());
        assert_eq!(sandbox.config_text(), before);
    }
    // In an account, the path names the account.
    let patch = sandbox.write(
        "q.json5",
        r#"{ channels: { sms: { accounts: { support: { webhookPth: "/x" } } } } }"#,
    );
    let out = sandbox.run(&["config", "patch", "--file", patch.to_str().expect("utf-8")]);
    snap!("patch_unknown_account_key", out);
    assert_eq!(sandbox.config_text(), before);
}

#[test]
fn patch_with_invalid_values_names_account_key_and_allowed() {
    let sandbox = Sandbox::new();
    let check = |name: &str, patch: &str| {
        let file = sandbox.write("p.json5", patch);
        let out = sandbox.run(&[
            "config",
            "patch",
            "--file",
            file.to_str().expect("utf-8"),
            "--dry-run",
        ]);
        snap!(name, out);
        assert_eq!(out.code, Some(1));
    };
    check(
        "patch_bad_dm_policy",
        r#"{ channels: { sms: { dmPolicy: "everyone" } } }"#,
    );
    check(
        "patch_open_without_star",
        r#"{ channels: { sms: { accounts: { support: { dmPolicy: "open", allowFrom: ["+15557654321"] } } } } }"#,
    );
    check(
        "patch_bad_allow_from",
        r#"{ channels: { sms: { allowFrom: ["555-1234"] } } }"#,
    );
    check("patch_not_json5", r#"{ channels: "#);
    check("patch_not_an_object", r#"[1, 2]"#);
    let out = sandbox.run(&["config", "patch", "--file", "missing.json5"]);
    snap!("patch_missing_file", out);
    assert_eq!(sandbox.config_text(), None);
}

#[test]
fn patch_with_an_unset_env_reference_is_written_as_a_reference() {
    // The admin's shell need not hold the gateway's secrets: a reference is checked for shape
    // at patch time and resolved where it is used (see secrets::references_resolve_where_they_are_used).
    let mut sandbox = Sandbox::new();
    sandbox.env("PRESENT_BUT_UNUSED", "s3cr3t-value");
    let patch = sandbox.write(
        "p.json5",
        r#"{ channels: { sms: {
            enabled: true,
            accountSid: "AC00000000000000000000000000000001",
            authToken: { source: "env", provider: "default", id: "MISSING_TWILIO_TOKEN" },
            fromNumber: "+15551234567",
        } } }"#,
    );
    let out = sandbox.run(&[
        "config",
        "patch",
        "--file",
        patch.to_str().expect("utf-8"),
        "--dry-run",
    ]);
    snap!("patch_unresolvable_secret_ref", out);
    assert_eq!(out.code, Some(0));
    assert!(!out.stderr.contains("s3cr3t-value"));
    assert_eq!(sandbox.config_text(), None);
}

#[test]
fn config_get_values_and_redaction() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"channels": {"sms": {
        "enabled": true,
        "accountSid": "AC00000000000000000000000000000001",
        "authToken": "plain-secret-token",
        "fromNumber": "+15551234567",
        "dmPolicy": "allowlist",
        "allowFrom": ["+15557654321"],
        "accounts": {"support": {
            "authToken": {"source": "env", "provider": "default", "id": "SUPPORT_TOKEN"},
            "apiKeySecret": "another-plain-secret",
        }},
    }}}));
    snap!(
        "get_dm_policy",
        sandbox.run(&["config", "get", "channels.sms.dmPolicy"])
    );
    snap!(
        "get_dm_policy_json",
        sandbox.run(&["config", "get", "channels.sms.dmPolicy", "--json"])
    );
    snap!(
        "get_plain_token",
        sandbox.run(&["config", "get", "channels.sms.authToken"])
    );
    snap!(
        "get_allow_from",
        sandbox.run(&["config", "get", "channels.sms.allowFrom"])
    );
    let section = sandbox.run(&["config", "get", "channels.sms"]);
    snap!("get_section_redacted", section);
    assert!(!section.stdout.contains("plain-secret-token"));
    assert!(!section.stdout.contains("another-plain-secret"));
    snap!(
        "get_missing_path",
        sandbox.run(&["config", "get", "channels.sms.defaultTo"])
    );
}

#[test]
fn config_validate_states() {
    let sandbox = Sandbox::new();
    snap!("validate_no_file", sandbox.run(&["config", "validate"]));
    sandbox.write_config(&json!({"channels": {"sms": {
        "enabled": true,
        // (Not an Account SID's shape is an error now, as at start-up: see
        // validate_runs_the_start_up_checks.)
        "accountSid": "AC00000000000000000000000000000001",
        "authToken": "tok",
        "messagingServiceSid": "MG00000000000000000000000000000001",
        "dmPolicy": "open",
        "allowFrom": ["*"],
    }}}));
    snap!(
        "validate_with_warnings",
        sandbox.run(&["config", "validate"])
    );
    snap!(
        "validate_json",
        sandbox.run(&["config", "validate", "--json"])
    );
    sandbox.write_config(&json!({"channels": {"sms": {"dmPolicy": "open"}}}));
    snap!(
        "validate_open_without_star",
        sandbox.run(&["config", "validate"])
    );
    sandbox.write("openclaw.json", "{ channels: { sms: { enabled: tru } } }");
    snap!(
        "validate_broken_json5",
        sandbox.run(&["config", "validate"])
    );
}

#[test]
fn upstream_config_loads_and_survives_a_patch() {
    let sandbox = Sandbox::new();
    sandbox.write("openclaw.json", UPSTREAM);
    snap!("upstream_validate", sandbox.run(&["config", "validate"]));
    snap!(
        "upstream_get_gateway_port",
        sandbox.run(&["config", "get", "gateway.port"])
    );
    // Every secret-named key is redacted, in our sections and in upstream's.
    let whole = sandbox.run(&["config", "get"]);
    for secret in [
        "d3b07384d113edec49eaa6238ad5ff00",
        "123456:ABC",
        "ollama-local",
    ] {
        assert!(
            !whole.stdout.contains(secret),
            "{secret} leaked:\n{}",
            whole.render()
        );
    }
    snap!("upstream_get_redacted", whole);
    let patch = sandbox.write("sms.patch.json5", QUICK_SETUP);
    let out = sandbox.run(&["config", "patch", "--file", patch.to_str().expect("utf-8")]);
    snap!("upstream_patch", out);
    let before: Value = json5::from_str(UPSTREAM).expect("fixture parses");
    let after = sandbox.config_json();
    let (Value::Object(before), Value::Object(mut after)) = (before, after) else {
        panic!("objects expected");
    };
    // channels.telegram is kept beside the new channels.sms.
    let channels = after.remove("channels").expect("channels kept");
    assert_eq!(channels["telegram"], before["channels"]["telegram"]);
    assert_eq!(
        channels["sms"],
        json5::from_str::<Value>(QUICK_SETUP).expect("parses")["channels"]["sms"]
    );
    let mut before = before;
    before.remove("channels");
    assert_eq!(after, before, "every other section survives unchanged");
}

#[test]
fn upstream_builtin_model_provider_does_not_block_an_sms_patch() {
    // Upstream's default: a model of a provider built into upstream, no models.providers.
    let sandbox = Sandbox::new();
    let config = json!({
        "agents": {"defaults": {"model": {"primary": "anthropic/claude-opus-4-5"}}},
        "gateway": {"port": 18789, "mode": "local"},
    });
    sandbox.write_config(&config);
    snap!(
        "upstream_builtin_provider_validate",
        sandbox.run(&["config", "validate"])
    );
    let patch = sandbox.write("sms.patch.json5", QUICK_SETUP);
    let out = sandbox.run(&["config", "patch", "--file", patch.to_str().expect("utf-8")]);
    snap!("upstream_builtin_provider_patch", out);
    assert_eq!(sandbox.config_json()["agents"], config["agents"]);
    // A patch that causes an agent error is refused.
    let bad = sandbox.write(
        "bad.json5",
        r#"{ agents: { defaults: { model: { primary: "nowhere/x" } } } }"#,
    );
    let before = sandbox.config_text();
    let out = sandbox.run(&["config", "patch", "--file", bad.to_str().expect("utf-8")]);
    snap!("patch_agent_error", out);
    assert_eq!(sandbox.config_text(), before);
}

/// Runs `config validate` on `config` and returns its one-line error.
fn validate_error(sandbox: &Sandbox, config: &Value) -> String {
    sandbox.write_config(config);
    let out = sandbox.run(&["config", "validate"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.render());
    out.stderr.trim().to_owned()
}

#[test]
fn validate_runs_the_start_up_checks() {
    let sandbox = Sandbox::new();
    // The docs' placeholder SID: `gateway` refuses it, so `config validate` does.
    let placeholder: Value = json5::from_str(&QUICK_SETUP.replace(
        "AC0123456789abcdef0123456789abcdef",
        "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ))
    .expect("parses");
    assert_eq!(
        validate_error(&sandbox, &placeholder),
        "error: channels.sms.accountSid: \"ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\": invalid AccountSid: expected AC followed by 32 hexadecimal digits (this is the docs' placeholder: put the Account SID from the Twilio Console there)"
    );
    // An enabled channel without an account.
    assert!(
        validate_error(
            &sandbox,
            &json!({"channels": {"sms": {"enabled": true, "dmPolicy": "pairing"}}})
        )
        .starts_with("error: channels.sms.enabled is true, but no SMS account is configured: set channels.sms.accountSid, channels.sms.authToken and channels.sms.fromNumber")
    );
    // An enabled account without its token: the key is named.
    assert_eq!(
        validate_error(
            &sandbox,
            &json!({"channels": {"sms": {"accounts": {"support": {
                "accountSid": "AC00000000000000000000000000000001",
                "fromNumber": "+15551234567",
            }}}}})
        ),
        "error: SMS account \"support\" is enabled but channels.sms.accounts.support.authToken is not set (SMS requires accountSid, authToken, and fromNumber or messagingServiceSid): set it, or set channels.sms.accounts.support.enabled to false"
    );
    // publicWebhookUrl whose path is not the route.
    assert_eq!(
        validate_error(
            &sandbox,
            &json!({"channels": {"sms": {"publicWebhookUrl": "https://gateway.example.com/webhooks/sms/"}}})
        ),
        "error: channels.sms.publicWebhookUrl: its path \"/webhooks/sms/\" does not reach the webhook route: channels.sms.webhookPath is not set, so the gateway routes the default \"/webhooks/sms\", and Twilio's requests to \"/webhooks/sms/\" would all be 404 (Twilio error 11200); set webhookPath to \"/webhooks/sms/\", or make publicWebhookUrl end in \"/webhooks/sms\""
    );
    // A disabled account need not be complete.
    sandbox
        .write_config(&json!({"channels": {"sms": {"accounts": {"draft": {"enabled": false}}}}}));
    assert_eq!(sandbox.run(&["config", "validate"]).code, Some(0));
}

#[test]
fn gateway_refuses_to_start_with_an_enabled_account_it_cannot_run() {
    // Rather than start with `/readyz` 200 and no route, the gateway refuses to start (so a
    // gateway that answers `/readyz` runs every enabled account), with `config validate`'s error.
    let sandbox = Sandbox::new();
    let config = json!({"channels": {"sms": {"enabled": true, "fromNumber": "+15551234567"}}});
    let validate = validate_error(&sandbox, &config);
    let port = crate::harness::free_port().to_string();
    let out = sandbox.run_expecting_exit(&["gateway", "--port", &port], REFUSAL_LIMIT);
    assert_eq!(out.code, Some(1), "{}", out.render());
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert_eq!(
        error,
        validate.replacen("error: ", "error: at start-up: ", 1),
        "{}",
        out.render()
    );
}

#[test]
fn hostile_config_input_is_refused_and_nothing_is_written() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"channels": {"sms": {"dmPolicy": "pairing"}}}));
    let before = sandbox.config_text();
    let patch = |name: &str, text: &str| {
        let file = sandbox.write(name, text);
        let out = sandbox.run(&["config", "patch", "--file", file.to_str().expect("utf-8")]);
        assert_eq!(out.code, Some(1), "{}", out.render());
        assert_eq!(sandbox.config_text(), before, "the config is unchanged");
        out.stderr.trim().to_owned()
    };
    // Nesting one level over the limit (65 objects).
    let deep = format!("{}1{}", "{a:".repeat(65), "}".repeat(65));
    assert_eq!(
        patch("deep.json5", &deep),
        "error: patch file [TMP]/deep.json5 is not valid JSON5: nested deeper than 64 levels at line 1 column 193; no config needs that many"
    );
    // 20,000 levels: the same refusal, no stack overflow.
    let deeper = format!("{}1{}", "{a:".repeat(20_000), "}".repeat(20_000));
    assert!(patch("deeper.json5", &deeper).contains("nested deeper than 64 levels"));
    // Duplicate keys, both places named.
    assert_eq!(
        patch(
            "dup.json5",
            "{ channels: { sms: {\n  dmPolicy: \"disabled\",\n  dmPolicy: \"open\",\n} } }"
        ),
        "error: patch file [TMP]/dup.json5 is not valid JSON5: duplicate key \"channels.sms.dmPolicy\" at line 3 column 3; it is also at line 2 column 3: keep one of them"
    );
    // A result over the byte limit is never written (each patch is under it, the sum is not).
    let big = "x".repeat(5 * 1024 * 1024);
    let first = sandbox.write("big1.json5", &format!("{{ notes: {{ a: \"{big}\" }} }}"));
    let out = sandbox.run(&["config", "patch", "--file", first.to_str().expect("utf-8")]);
    assert_eq!(out.code, Some(0), "{}", out.render());
    let before_second = sandbox.config_text();
    let second = sandbox.write("big2.json5", &format!("{{ notes: {{ b: \"{big}\" }} }}"));
    let out = sandbox.run(&["config", "patch", "--file", second.to_str().expect("utf-8")]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(
        out.stderr
            .contains("over the 8388608-byte limit of a config file"),
        "{}",
        out.render()
    );
    assert_eq!(sandbox.config_text(), before_second);
    // The config still loads.
    assert_eq!(
        sandbox
            .run(&["config", "get", "channels.sms.dmPolicy"])
            .code,
        Some(0)
    );
}

#[test]
fn patch_from_a_device_or_a_fifo_is_refused_at_once() {
    let sandbox = Sandbox::new();
    let out =
        sandbox.run_expecting_exit(&["config", "patch", "--file", "/dev/zero"], REFUSAL_LIMIT);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert_eq!(
        out.stderr.trim(),
        "error: patch file /dev/zero is a device, not a regular file; write it to a file and name that"
    );
    let fifo = sandbox.root().join("patch.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let out = sandbox.run_expecting_exit(
        &["config", "patch", "--file", fifo.to_str().expect("utf-8")],
        REFUSAL_LIMIT,
    );
    assert_eq!(
        out.stderr.trim(),
        "error: patch file [TMP]/patch.fifo is a FIFO, not a regular file; write it to a file and name that"
    );
    // A config file that is over the limit is refused by every command, by size read.
    std::fs::write(
        sandbox.config_path(),
        format!("{{}}{}", " ".repeat(8 * 1024 * 1024 - 1)),
    )
    .expect("write");
    let out = sandbox.run(&["config", "validate"]);
    assert!(
        out.stderr
            .contains("is larger than 8388608 bytes; nothing was read from it"),
        "{}",
        out.render()
    );
    std::fs::write(
        sandbox.config_path(),
        format!("{{}}{}", " ".repeat(8 * 1024 * 1024 - 2)),
    )
    .expect("write");
    assert_eq!(sandbox.run(&["config", "validate"]).code, Some(0));
}

#[test]
fn concurrent_patches_each_keep_their_change() {
    const WRITERS: usize = 8;
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"channels": {"sms": {"enabled": false}}}));
    let patches: Vec<String> = (0..WRITERS)
        .map(|i| {
            let path = sandbox.write(
                &format!("p{i}.json5"),
                &format!("{{ notes: {{ k{i}: {i} }} }}"),
            );
            path.to_str().expect("utf-8 path").to_owned()
        })
        .collect();
    std::thread::scope(|scope| {
        let runs: Vec<_> = patches
            .iter()
            .map(|patch| scope.spawn(|| sandbox.run(&["config", "patch", "--file", patch])))
            .collect();
        for run in runs {
            let outcome = run.join().expect("patch thread");
            assert_eq!(outcome.code, Some(0), "{}", outcome.render());
        }
    });
    let notes = sandbox.config_json()["notes"].clone();
    let expected: serde_json::Map<String, Value> =
        (0..WRITERS).map(|i| (format!("k{i}"), json!(i))).collect();
    assert_eq!(notes, Value::Object(expected));
    assert_eq!(
        sandbox.config_json()["channels"],
        json!({"sms": {"enabled": false}})
    );
    assert_eq!(mode(&sandbox.root().join("openclaw.json.lock")), 0o600);
}

#[test]
fn config_get_hides_secrets_in_arrays_at_depth_and_in_urls() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({
        "channels": {"sms": {
            "enabled": false,
            "publicWebhookUrl": "https://ops:url-pass-1@gw.example.com/webhooks/sms",
        }},
        "models": {"providers": {"p": {
            "apiKeys": ["array-key-2", "array-key-3"],
            "headers": [{"name": "x", "Authorization": "Bearer header-secret-4"}],
            "fallbacks": [{"deep": {"nested": [{"token": "nested-token-5"}]}}],
            "baseUrl": "https://user:url-pass-6@llm.example.com/v1",
        }}},
    }));
    let secrets = [
        "url-pass-1",
        "array-key-2",
        "array-key-3",
        "header-secret-4",
        "nested-token-5",
        "url-pass-6",
    ];
    for path in [
        "",
        "channels",
        "channels.sms",
        "channels.sms.publicWebhookUrl",
        "models.providers.p",
        "models.providers.p.apiKeys",
        "models.providers.p.headers",
        "models.providers.p.fallbacks",
        "models.providers.p.baseUrl",
    ] {
        for json_flag in [false, true] {
            let mut args = vec!["config", "get"];
            if !path.is_empty() {
                args.push(path);
            }
            if json_flag {
                args.push("--json");
            }
            let out = sandbox.run(&args);
            assert_eq!(out.code, Some(0), "{}", out.render());
            for secret in secrets {
                assert!(
                    !out.render().contains(secret),
                    "{args:?} shows {secret}:\n{}",
                    out.render()
                );
            }
        }
    }
    let url = sandbox.run(&["config", "get", "channels.sms.publicWebhookUrl"]);
    assert_eq!(url.stdout.trim(), "https://***@gw.example.com/webhooks/sms");
}

#[test]
fn the_send_api_without_a_token_stops_validate_and_the_gateway() {
    let sandbox = Sandbox::new();
    let config = json!({"gateway": {"http": {"sendApi": {"enabled": true}}}});
    sandbox.write_config(&config);
    let expected = "gateway.http.sendApi.enabled is true but gateway.auth.token is not set";
    let validate = sandbox.run(&["config", "validate"]);
    assert_eq!(validate.code, Some(1), "{}", validate.render());
    assert!(validate.stderr.contains(expected), "{}", validate.render());
    let port = crate::harness::free_port().to_string();
    let out = sandbox.run_expecting_exit(&["gateway", "--port", &port], REFUSAL_LIMIT);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(out.stderr.contains(expected), "{}", out.render());
    // With a token it is valid.
    sandbox.write_config(&json!({"gateway": {"auth": {"token": "0123456789abcdef0123"}, "http": {"sendApi": {"enabled": true}}}}));
    let ok = sandbox.run(&["config", "validate"]);
    assert_eq!(ok.code, Some(0), "{}", ok.render());
}
