//! `channels status|capabilities`: env-only, multi-account, and probes against the fake Twilio.

use serde_json::json;

use openclaw_twilio_sim::{SimAccount, SimMessagingService, SimNumber};

use crate::harness::{
    ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, PHONE, PUBLIC_URL, Sandbox, free_port,
};
use crate::snap;

#[test]
fn status_without_config() {
    let sandbox = Sandbox::new();
    snap!(
        "status_no_config",
        sandbox.run(&["channels", "status", "--channel", "sms"])
    );
    snap!(
        "status_no_config_json",
        sandbox.run(&["channels", "status", "--channel", "sms", "--json"])
    );
}

#[test]
fn status_configured_from_env_only() {
    let mut sandbox = Sandbox::new();
    sandbox
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("TWILIO_PHONE_NUMBER", FROM_NUMBER)
        .env("SMS_PUBLIC_WEBHOOK_URL", PUBLIC_URL);
    sandbox.write_config(&json!({"channels": {"sms": {"enabled": true, "dmPolicy": "pairing"}}}));
    snap!(
        "status_env_only",
        sandbox.run(&["channels", "status", "--channel", "sms"])
    );
    let out = sandbox.run(&["channels", "status", "--channel", "sms", "--json"]);
    let value = out.json();
    assert_eq!(value["channelAccounts"]["sms"][0]["configured"], true);
    assert!(!out.stdout.contains(AUTH_TOKEN));
    snap!("status_env_only_json", out);
}

#[test]
fn env_fallbacks_and_blanks() {
    // (env, what the default account shows as sender / configured / public URL)
    let check = |name: &str, env: &[(&str, &str)]| {
        let mut sandbox = Sandbox::new();
        for (k, v) in env {
            sandbox.env(k, v);
        }
        sandbox.write_config(&json!({"channels": {"sms": {"enabled": true}}}));
        let out = sandbox.run(&["channels", "status", "--channel", "sms", "--json"]);
        let account = &out.json()["channelAccounts"]["sms"][0];
        let summary = json!({
            "configured": account["configured"],
            "sender": account["sender"],
            "publicWebhookUrl": account["publicWebhookUrl"],
            "webhookPath": account["webhookPath"],
            "signatureValidation": account["signatureValidation"],
            "dmPolicy": account["dmPolicy"],
        });
        insta::with_settings!({prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(name, serde_json::to_string_pretty(&summary).expect("json"));
        });
    };
    let base = [
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        base.iter().chain(extra).copied().collect()
    };
    check(
        "env_phone_number",
        &with(&[("TWILIO_PHONE_NUMBER", FROM_NUMBER)]),
    );
    check(
        "env_sms_from_alias",
        &with(&[("TWILIO_SMS_FROM", "+15550002222")]),
    );
    check(
        "env_phone_number_over_alias",
        &with(&[
            ("TWILIO_PHONE_NUMBER", FROM_NUMBER),
            ("TWILIO_SMS_FROM", "+15550002222"),
        ]),
    );
    check(
        "env_messaging_service",
        &with(&[(
            "TWILIO_MESSAGING_SERVICE_SID",
            "MG00000000000000000000000000000001",
        )]),
    );
    check(
        "env_blank_phone_number",
        &with(&[("TWILIO_PHONE_NUMBER", "   ")]),
    );
    check(
        "env_blank_token",
        &[
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", ""),
            ("TWILIO_PHONE_NUMBER", FROM_NUMBER),
        ],
    );
    check(
        "env_webhook_settings",
        &with(&[
            ("TWILIO_PHONE_NUMBER", FROM_NUMBER),
            (
                "SMS_PUBLIC_WEBHOOK_URL",
                "https://gw.example.com/hooks/text",
            ),
            ("SMS_WEBHOOK_PATH", "/hooks/text"),
            ("SMS_DANGEROUSLY_DISABLE_SIGNATURE_VALIDATION", "true"),
        ]),
    );
}

#[test]
fn config_wins_over_env() {
    let mut sandbox = Sandbox::new();
    sandbox
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("TWILIO_PHONE_NUMBER", "+15550009999");
    sandbox.write_config(&json!({"channels": {"sms": {"enabled": true, "fromNumber": FROM_NUMBER, "messagingServiceSid": "MG00000000000000000000000000000001"}}}));
    let out = sandbox.run(&["channels", "status", "--channel", "sms", "--json"]);
    // fromNumber from config, over the env number and over the messaging service.
    assert_eq!(
        out.json()["channelAccounts"]["sms"][0]["sender"],
        FROM_NUMBER,
        "{}",
        out.render()
    );
}

#[test]
fn status_multi_account() {
    let mut sandbox = Sandbox::new();
    // The env applies to the default account only (defaultAccount names it).
    sandbox
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("TWILIO_PHONE_NUMBER", "+15550003333");
    sandbox.write_config(&json!({"channels": {"sms": {
        "enabled": true,
        "defaultAccount": "main",
        "accounts": {
            "main": {
                "webhookPath": "/webhooks/sms/main",
                "publicWebhookUrl": "https://gateway.example.com/webhooks/sms/main",
            },
            "support": {
                "name": "Support line",
                "accountSid": "AC00000000000000000000000000000002",
                "authToken": "support-token",
                "fromNumber": "+15550004444",
                "publicWebhookUrl": "https://gateway.example.com/webhooks/sms/support",
                "webhookPath": "/webhooks/sms/support",
                "dmPolicy": "allowlist",
                "allowFrom": ["+15557654321"],
            },
            "draft": {"webhookPath": "/webhooks/sms/draft"},
            "off": {"enabled": false, "webhookPath": "/webhooks/sms/off"},
        },
    }}}));
    snap!(
        "status_multi_account",
        sandbox.run(&["channels", "status", "--channel", "sms"])
    );
    let out = sandbox.run(&["channels", "status", "--channel", "sms", "--json"]);
    assert!(!out.stdout.contains("support-token"));
    snap!("status_multi_account_json", out);
}

#[test]
fn status_unknown_channel() {
    let sandbox = Sandbox::new();
    snap!(
        "status_unknown_channel",
        sandbox.run(&["channels", "status", "--channel", "telegram"])
    );
}

fn probe_sandbox(twilio: &FakeTwilio) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"channels": {"sms": twilio.sms_section()}}));
    sandbox
}

#[test]
fn probe_ok_when_the_number_points_at_the_public_url() {
    let twilio = FakeTwilio::start(Some(PUBLIC_URL));
    let sandbox = probe_sandbox(&twilio);
    let out = twilio.scrub(sandbox.run(&["channels", "status", "--channel", "sms", "--probe"]));
    assert!(out.stdout.contains("Probe: ok"), "{}", out.render());
    snap!("probe_ok", out);
    let out = twilio.scrub(sandbox.run(&[
        "channels",
        "status",
        "--channel",
        "sms",
        "--probe",
        "--json",
    ]));
    assert_eq!(out.json()["channelAccounts"]["sms"][0]["probe"]["ok"], true);
    snap!("probe_ok_json", out);
}

#[test]
fn probe_url_mismatch_fails_with_a_hint() {
    let twilio = FakeTwilio::start(Some("https://old-tunnel.example.net/webhooks/sms"));
    let sandbox = probe_sandbox(&twilio);
    let out = twilio.scrub(sandbox.run(&["channels", "status", "--channel", "sms", "--probe"]));
    snap!("probe_url_mismatch", out);
    let out = twilio.scrub(sandbox.run(&[
        "channels",
        "status",
        "--channel",
        "sms",
        "--probe",
        "--json",
    ]));
    assert_eq!(
        out.json()["channelAccounts"]["sms"][0]["probe"]["webhook"]["status"],
        "url-mismatch"
    );
    snap!("probe_url_mismatch_json", out);
}

#[test]
fn probe_without_webhook_and_unknown_number() {
    let twilio = FakeTwilio::start(None);
    let sandbox = probe_sandbox(&twilio);
    snap!(
        "probe_webhook_missing",
        twilio.scrub(sandbox.run(&["channels", "status", "--channel", "sms", "--probe"]))
    );
    let mut sms = twilio.sms_section();
    sms["fromNumber"] = json!("+15550005555");
    sandbox.write_config(&json!({"channels": {"sms": sms}}));
    snap!(
        "probe_number_not_found",
        twilio.scrub(sandbox.run(&["channels", "status", "--channel", "sms", "--probe"]))
    );
}

#[test]
fn probe_reports_error_11200_and_the_latest_outbound() {
    // The number's webhook points at a local port nobody listens on: Twilio (the simulator)
    // records error 11200 on the inbound message.
    let url = format!("http://127.0.0.1:{}/webhooks/sms", free_port());
    let twilio = FakeTwilio::start(Some(&url));
    let sandbox = Sandbox::new();
    let mut sms = twilio.sms_section();
    sms["publicWebhookUrl"] = json!(url);
    sandbox.write_config(&json!({"channels": {"sms": sms}}));
    twilio.text_from(PHONE, "hello?");
    let sent = sandbox.run(&[
        "message",
        "send",
        "--channel",
        "sms",
        "--target",
        PHONE,
        "--message",
        "outbound",
    ]);
    assert_eq!(sent.code, Some(0), "{}", sent.render());
    let out = sandbox.run(&[
        "channels",
        "status",
        "--channel",
        "sms",
        "--probe",
        "--json",
    ]);
    let probe = &out.json()["channelAccounts"]["sms"][0]["probe"];
    assert_eq!(
        probe["recentInbound"]["errorCode"],
        11200,
        "{}",
        out.render()
    );
    assert_eq!(
        probe["recentOutbound"]["messageSid"].as_str(),
        twilio.sids_to(PHONE).last().map(String::as_str)
    );
    let out = twilio.scrub(sandbox.run(&["channels", "status", "--channel", "sms", "--probe"]));
    let out = crate::harness::Outcome {
        stdout: out.stdout.replace(&url, "[WEBHOOK_URL]"),
        ..out
    };
    snap!("probe_error_11200", out);
}

#[test]
fn probe_messaging_service() {
    let service = |sid: &str| SimMessagingService::new(sid).with_number(FROM_NUMBER);
    let account = SimAccount::new(ACCOUNT_SID, AUTH_TOKEN)
        .with_number(SimNumber::new(FROM_NUMBER))
        .with_messaging_service(
            service("MG00000000000000000000000000000001").with_inbound_request_url(PUBLIC_URL),
        )
        .with_messaging_service(
            service("MG00000000000000000000000000000002").defer_inbound_to_numbers(),
        );
    let twilio = FakeTwilio::start_with(account);
    let sandbox = Sandbox::new();
    let check = |name: &str, service_sid: &str| {
        let mut sms = twilio.sms_section();
        sms.as_object_mut().expect("object").remove("fromNumber");
        sms["messagingServiceSid"] = json!(service_sid);
        sandbox.write_config(&json!({"channels": {"sms": sms}}));
        let out = sandbox.run(&["channels", "status", "--channel", "sms", "--probe"]);
        snap!(name, twilio.scrub(out));
    };
    check(
        "probe_service_matches",
        "MG00000000000000000000000000000001",
    );
    check("probe_service_defers", "MG00000000000000000000000000000002");
    check(
        "probe_service_unknown",
        "MG00000000000000000000000000000003",
    );
}

#[test]
fn capabilities() {
    let twilio = FakeTwilio::start(Some(PUBLIC_URL));
    let sandbox = probe_sandbox(&twilio);
    snap!(
        "capabilities",
        twilio.scrub(sandbox.run(&["channels", "capabilities", "--channel", "sms"]))
    );
    snap!(
        "capabilities_json",
        twilio.scrub(sandbox.run(&["channels", "capabilities", "--channel", "sms", "--json"]))
    );
    let empty = Sandbox::new();
    snap!(
        "capabilities_no_config",
        empty.run(&["channels", "capabilities", "--channel", "sms"])
    );
}

#[test]
fn probe_of_an_unreachable_api_names_the_host_and_what_to_check() {
    let twilio = FakeTwilio::start(None);
    let sandbox = Sandbox::new();
    let mut sms = twilio.sms_section();
    // Port 1 on loopback: nothing listens there.
    sms["apiBaseUrl"] = json!("http://127.0.0.1:1");
    sandbox.write_config(&json!({"channels": {"sms": sms}}));
    let out = sandbox.run(&["channels", "status", "--probe", "--json"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    let probe = &out.json()["channelAccounts"]["sms"][0]["probe"];
    let error = probe["error"].as_str().unwrap_or_default();
    // Two failures, each a sentence naming the host, apart from each other.
    assert!(
        error.starts_with("Twilio webhook probe failed (http://127.0.0.1:1): "),
        "{error}"
    );
    assert!(
        error.contains(". Twilio message history probe failed (http://127.0.0.1:1): "),
        "{error}"
    );
    assert!(error.ends_with('.'), "{error}");
    assert_eq!(
        probe["hints"],
        json!([
            "Could not reach http://127.0.0.1:1: check this machine's network, DNS and proxy; channels.sms.apiBaseUrl, region and edge choose the host."
        ]),
        "{}",
        out.render()
    );
}

#[test]
fn status_and_probe_hide_the_password_of_url_credentials() {
    const PASSWORD: &str = "hunter2-url-password";
    let with_password = format!("https://ops:{PASSWORD}@gw.example.com/webhooks/sms");
    let at_twilio = format!("https://ops:{PASSWORD}@old-tunnel.example.net/webhooks/sms");
    let twilio = FakeTwilio::start(Some(&at_twilio));
    let mut sms = twilio.sms_section();
    sms["publicWebhookUrl"] = json!(with_password);
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"channels": {"sms": sms}}));
    for args in [
        &["channels", "status", "--channel", "sms"][..],
        &["channels", "status", "--channel", "sms", "--json"],
        &["channels", "status", "--channel", "sms", "--probe"],
        &[
            "channels",
            "status",
            "--channel",
            "sms",
            "--probe",
            "--json",
        ],
    ] {
        let out = sandbox.run(args);
        assert!(
            !out.render().contains(PASSWORD),
            "{args:?} shows the password:\n{}",
            out.render()
        );
        assert!(
            out.stdout
                .contains("https://***@gw.example.com/webhooks/sms"),
            "{args:?}:\n{}",
            out.render()
        );
    }
}
