//! `message send` against the fake Twilio.

use serde_json::json;

use openclaw_twilio_sim::{SimAccount, SimNumber};

use crate::harness::{
    ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, PHONE, PUBLIC_URL, Sandbox,
};
use crate::snap;

fn configured() -> (FakeTwilio, Sandbox) {
    let twilio = FakeTwilio::start(None);
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"channels": {"sms": twilio.sms_section()}}));
    (twilio, sandbox)
}

#[test]
fn send_with_channel_and_sms_target() {
    let (twilio, sandbox) = configured();
    let out = sandbox.run(&[
        "message",
        "send",
        "--channel",
        "sms",
        "--target",
        "sms:+15557654321",
        "--message",
        "hello",
    ]);
    snap!("send_sms_target", twilio.scrub(out));
    assert_eq!(twilio.bodies_to(PHONE), vec!["hello".to_owned()]);
    // The printed SID is the simulator's.
    let sids = twilio.sids_to(PHONE);
    let out = sandbox.run(&[
        "message",
        "send",
        "--channel",
        "sms",
        "--target",
        "+15557654321",
        "--message",
        "again",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.render());
    let sids_after = twilio.sids_to(PHONE);
    assert_eq!(sids_after.len(), sids.len() + 1);
    let last = sids_after.last().expect("one more");
    assert!(
        out.stdout.contains(last.as_str()),
        "{}\n{last}",
        out.render()
    );
}

#[test]
fn twilio_sms_target_needs_no_channel() {
    let (twilio, sandbox) = configured();
    let out = sandbox.run(&[
        "message",
        "send",
        "--target",
        "twilio-sms:+15557654321",
        "--message",
        "hi there",
    ]);
    snap!("send_twilio_sms_target", twilio.scrub(out));
    assert_eq!(twilio.bodies_to(PHONE), vec!["hi there".to_owned()]);
}

#[test]
fn target_rules_without_channel() {
    let (twilio, sandbox) = configured();
    snap!(
        "send_sms_prefix_without_channel",
        sandbox.run(&[
            "message",
            "send",
            "--target",
            "sms:+15557654321",
            "--message",
            "hi"
        ])
    );
    snap!(
        "send_bare_number_without_channel",
        sandbox.run(&[
            "message",
            "send",
            "--target",
            "+15557654321",
            "--message",
            "hi"
        ])
    );
    snap!(
        "send_other_channel",
        sandbox.run(&[
            "message",
            "send",
            "--channel",
            "whatsapp",
            "--target",
            "+15557654321",
            "--message",
            "hi"
        ])
    );
    snap!(
        "send_bad_number",
        sandbox.run(&[
            "message",
            "send",
            "--channel",
            "sms",
            "--target",
            "sms:555-1234",
            "--message",
            "hi"
        ])
    );
    snap!(
        "send_empty_message",
        sandbox.run(&[
            "message",
            "send",
            "--channel",
            "sms",
            "--target",
            "sms:+15557654321",
            "--message",
            "  "
        ])
    );
    assert!(twilio.bodies_to(PHONE).is_empty(), "nothing was sent");
}

#[test]
fn json_output() {
    let (twilio, sandbox) = configured();
    let out = sandbox.run(&[
        "message",
        "send",
        "--channel",
        "sms",
        "--target",
        "sms:+15557654321",
        "--message",
        "hello json",
        "--json",
    ]);
    let value = out.json();
    assert_eq!(
        value["parts"][0]["messageSid"].as_str(),
        twilio.sids_to(PHONE).first().map(String::as_str)
    );
    snap!("send_json", twilio.scrub(out));
}

#[test]
fn long_markdown_is_split_into_parts() {
    let (twilio, sandbox) = configured();
    let paragraph = "**Note:** the [release notes](https://example.com/notes) say the `sync` job now \
        runs hourly; older clients keep the daily schedule until they are updated.";
    let text = format!(
        "# Update\n\n{}\n\n```\ncode block line\n```",
        [paragraph; 14].join("\n\n")
    );
    let out = sandbox.run(&[
        "message",
        "send",
        "--channel",
        "sms",
        "--target",
        "sms:+15557654321",
        "--message",
        &text,
    ]);
    snap!("send_long_markdown", twilio.scrub(out));
    let bodies = twilio.bodies_to(PHONE);
    assert!(bodies.len() >= 2, "{bodies:?}");
    for body in &bodies {
        assert!(
            !body.contains("**") && !body.contains("```") && !body.contains("# Update"),
            "{body}"
        );
    }
}

#[test]
fn unconfigured_account_is_a_clear_error() {
    let sandbox = Sandbox::new();
    let send = |sandbox: &Sandbox, extra: &[&str]| {
        let mut args = vec![
            "message",
            "send",
            "--channel",
            "sms",
            "--target",
            "sms:+15557654321",
            "--message",
            "hi",
        ];
        args.extend_from_slice(extra);
        sandbox.run(&args)
    };
    snap!("send_no_config", send(&sandbox, &[]));
    sandbox.write_config(&json!({"channels": {"sms": {"enabled": true, "accountSid": "AC00000000000000000000000000000001"}}}));
    snap!("send_unconfigured_account", send(&sandbox, &[]));
    snap!(
        "send_unknown_account",
        send(&sandbox, &["--account", "sales"])
    );
}

#[test]
fn twilio_error_is_reported() {
    let twilio = FakeTwilio::start(None);
    let sandbox = Sandbox::new();
    let mut sms = twilio.sms_section();
    sms["authToken"] = json!("not-the-token");
    sandbox.write_config(&json!({"channels": {"sms": sms}}));
    // The simulator answers 401 / 20003 as Twilio does for bad credentials.
    let out = sandbox.run(&[
        "message",
        "send",
        "--channel",
        "sms",
        "--target",
        "sms:+15557654321",
        "--message",
        "hi",
    ]);
    assert!(!out.stdout.contains("not-the-token") && !out.stderr.contains("not-the-token"));
    snap!("send_twilio_auth_error", twilio.scrub(out));
    assert!(twilio.bodies_to(PHONE).is_empty());
}

#[test]
fn account_configured_from_env_sends() {
    let twilio = FakeTwilio::start(None);
    let mut sandbox = Sandbox::new();
    sandbox
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("TWILIO_PHONE_NUMBER", FROM_NUMBER);
    // Only the simulator's address is in the config.
    sandbox.write_config(
        &json!({"channels": {"sms": {"enabled": true, "apiBaseUrl": twilio.base_url()}}}),
    );
    let out = sandbox.run(&[
        "message",
        "send",
        "--target",
        "twilio-sms:+15557654321",
        "--message",
        "from env",
    ]);
    assert!(!out.stdout.contains(AUTH_TOKEN) && !out.stderr.contains(AUTH_TOKEN));
    snap!("send_env_account", twilio.scrub(out));
    assert_eq!(twilio.bodies_to(PHONE), vec!["from env".to_owned()]);
}

#[test]
fn account_flag_selects_the_sender() {
    let second = "+15550004444";
    let account = SimAccount::new(ACCOUNT_SID, AUTH_TOKEN)
        .with_number(SimNumber::new(FROM_NUMBER))
        .with_number(SimNumber::new(second));
    let twilio = FakeTwilio::start_with(account);
    let sandbox = Sandbox::new();
    let mut support = twilio.sms_section();
    support["fromNumber"] = json!(second);
    support["webhookPath"] = json!("/webhooks/sms/support");
    support["publicWebhookUrl"] = json!(format!("{PUBLIC_URL}/support"));
    sandbox.write_config(&json!({"channels": {"sms": {
        "accounts": {"main": twilio.sms_section(), "support": support},
        "defaultAccount": "main",
    }}}));
    let send = |extra: &[&str], text: &str| {
        let mut args = vec![
            "message",
            "send",
            "--channel",
            "sms",
            "--target",
            PHONE,
            "--message",
            text,
        ];
        args.extend_from_slice(extra);
        let out = sandbox.run(&args);
        assert_eq!(out.code, Some(0), "{}", out.render());
    };
    send(&[], "from main");
    send(&["--account", "support"], "from support");
    let senders = twilio.messages_to(PHONE);
    assert_eq!(
        senders,
        vec![
            (FROM_NUMBER.to_owned(), "from main".to_owned()),
            (second.to_owned(), "from support".to_owned()),
        ]
    );
}

#[test]
fn without_a_gateway_a_later_send_is_stored_listed_and_cancelled() {
    let (twilio, sandbox) = configured();
    let out = sandbox.run(&[
        "message",
        "send",
        "--target",
        "twilio-sms:+15557654321",
        "--message",
        "later",
        "--after",
        "2h",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.render());
    let sent: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(sent["scheduled"]["reason"], "at", "{sent}");
    let id = sent["scheduled"]["id"].as_str().unwrap().to_owned();
    assert!(twilio.bodies_to(PHONE).is_empty(), "nothing sent now");
    let list = sandbox.run(&["message", "scheduled", "list"]);
    assert!(
        list.stdout.contains(&id) && list.stdout.contains("scheduled for"),
        "{}",
        list.render()
    );
    let other = sandbox.run(&["message", "scheduled", "list", "--account", "nope"]);
    assert!(
        other.stdout.contains("No scheduled sends."),
        "{}",
        other.render()
    );
    let cancel = sandbox.run(&["message", "scheduled", "cancel", &id]);
    assert_eq!(cancel.code, Some(0), "{}", cancel.render());
    assert!(cancel.stdout.contains(&format!("Cancelled {id}.")));
    // Cancelling again is not an error: it stays cancelled.
    let again = sandbox.run(&["message", "scheduled", "cancel", &id, "--json"]);
    assert_eq!(again.code, Some(0), "{}", again.render());
    assert!(again.stdout.contains("\"cancelled\""), "{}", again.render());
    let unknown = sandbox.run(&["message", "scheduled", "cancel", &"0".repeat(32)]);
    assert!(
        unknown.stderr.contains("no scheduled send with id"),
        "{}",
        unknown.render()
    );
    let bad = sandbox.run(&["message", "scheduled", "cancel", "nope"]);
    assert!(
        bad.stderr.contains("is not a scheduled send's id"),
        "{}",
        bad.render()
    );
    let past = sandbox.run(&[
        "message",
        "send",
        "--target",
        "twilio-sms:+15557654321",
        "--message",
        "x",
        "--at",
        "2001-01-01T00:00Z",
    ]);
    assert_eq!(past.code, Some(1));
    assert!(past.stderr.contains("in the past"), "{}", past.render());
    assert!(
        sandbox
            .run(&["message", "scheduled", "list"])
            .stdout
            .contains("No scheduled sends.")
    );
}
