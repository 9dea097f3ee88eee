//! `pairing list|approve`, against a store filled directly and the fake Twilio for `--notify`.

use openclaw_store::{
    CreateRequestOutcome, NewPairingRequest, PairingKey, PairingStore as _, SqliteStore,
    StoreOptions,
};
use serde_json::json;

use crate::harness::{FakeTwilio, PHONE, Sandbox};
use crate::snap;

/// Creates pending requests in `<state>/state/openclaw-sms.sqlite` (the gateway's store file)
/// for the account `account`, created now.
fn add_requests(sandbox: &Sandbox, account: &str, requests: &[(&str, &str)]) {
    let path = sandbox.state_dir().join("state/openclaw-sms.sqlite");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(&path, &StoreOptions::default())
            .await
            .expect("open the store");
        let key = PairingKey::new("sms", account);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis();
        let now = i64::try_from(now).expect("fits");
        // Oldest first, a second apart, so the listing order is fixed.
        for ((code, sender), age) in requests.iter().zip((1..=requests.len()).rev()) {
            let created_at = now - 1000 * i64::try_from(age).expect("small");
            let outcome = store
                .create_request(
                    &key,
                    NewPairingRequest {
                        code: (*code).to_owned(),
                        sender_id: (*sender).to_owned(),
                        meta: json!({"accountId": account}),
                        created_at,
                        held_event_id: None,
                        pending_cap: None,
                    },
                )
                .await
                .expect("create request");
            assert!(
                matches!(outcome, CreateRequestOutcome::Created(_)),
                "{outcome:?}"
            );
        }
    });
}

fn pairing_config(sandbox: &Sandbox, sms: serde_json::Value) {
    sandbox.write_config(&json!({"channels": {"sms": sms}}));
}

/// A configured account (no Twilio calls are made unless `--notify`). Its sender is a
/// Messaging Service so that no phone number is parsed (slow in debug builds).
fn configured() -> serde_json::Value {
    json!({
        "enabled": true,
        "accountSid": "AC00000000000000000000000000000001",
        "authToken": "tok",
        "messagingServiceSid": "MG00000000000000000000000000000001",
        "dmPolicy": "pairing",
    })
}

#[test]
fn list_empty() {
    let sandbox = Sandbox::new();
    pairing_config(&sandbox, configured());
    snap!(
        "pairing_list_empty",
        sandbox.run(&["pairing", "list", "sms"])
    );
    snap!(
        "pairing_list_empty_json",
        sandbox.run(&["pairing", "list", "sms", "--json"])
    );
}

#[test]
fn fresh_install_without_config() {
    // Pairing lists live in the state directory: they work before channels.sms is set up.
    let sandbox = Sandbox::new();
    snap!(
        "pairing_list_fresh",
        sandbox.run(&["pairing", "list", "sms"])
    );
    add_requests(&sandbox, "default", &[("FRSH2345", PHONE)]);
    snap!(
        "pairing_list_fresh_one",
        sandbox.run(&["pairing", "list", "sms"])
    );
    snap!(
        "pairing_approve_fresh_notify",
        sandbox.run(&["pairing", "approve", "sms", "FRSH2345", "--notify"])
    );
    snap!(
        "pairing_approve_fresh",
        sandbox.run(&["pairing", "approve", "sms", "FRSH2345"])
    );
    assert_eq!(
        sandbox.config_text(),
        None,
        "nothing is written to the config"
    );
}

#[test]
fn list_and_approve() {
    let sandbox = Sandbox::new();
    pairing_config(&sandbox, configured());
    add_requests(
        &sandbox,
        "default",
        &[("ABCD2345", "+15557654321"), ("WXYZ6789", "+15550001111")],
    );
    snap!("pairing_list_two", sandbox.run(&["pairing", "list", "sms"]));
    snap!(
        "pairing_list_two_json",
        sandbox.run(&["pairing", "list", "sms", "--json"])
    );
    // Lower case works.
    snap!(
        "pairing_approve_lower_case",
        sandbox.run(&["pairing", "approve", "sms", "abcd2345"])
    );
    snap!(
        "pairing_list_after_approve",
        sandbox.run(&["pairing", "list", "sms"])
    );
    // The same code again is unknown now.
    snap!(
        "pairing_approve_again",
        sandbox.run(&["pairing", "approve", "sms", "ABCD2345"])
    );
    // Upstream's --channel form.
    add_requests(&sandbox, "default", &[("CHAN2345", "+15550002222")]);
    snap!(
        "pairing_approve_channel_flag",
        sandbox.run(&["pairing", "approve", "--channel", "sms", "CHAN2345"])
    );
    // The channel may be left out.
    snap!(
        "pairing_approve_without_channel",
        sandbox.run(&["pairing", "approve", "WXYZ6789"])
    );
    snap!(
        "pairing_list_drained",
        sandbox.run(&["pairing", "list", "sms"])
    );
}

#[test]
fn approve_errors() {
    let sandbox = Sandbox::new();
    pairing_config(&sandbox, configured());
    snap!(
        "pairing_approve_unknown",
        sandbox.run(&["pairing", "approve", "sms", "NOPE2345"])
    );
    snap!(
        "pairing_approve_blank_code",
        sandbox.run(&["pairing", "approve", "sms", " "])
    );
    snap!(
        "pairing_approve_blank_account",
        sandbox.run(&["pairing", "approve", "sms", "NOPE2345", "--account", " "])
    );
    snap!(
        "pairing_approve_unknown_account",
        sandbox.run(&[
            "pairing",
            "approve",
            "sms",
            "NOPE2345",
            "--account",
            "sales"
        ])
    );
    snap!(
        "pairing_list_other_channel",
        sandbox.run(&["pairing", "list", "telegram"])
    );
    snap!(
        "pairing_approve_too_many_args",
        sandbox.run(&["pairing", "approve", "sms", "A", "B"])
    );
}

#[test]
fn accounts_have_their_own_requests() {
    let sandbox = Sandbox::new();
    pairing_config(
        &sandbox,
        json!({"enabled": true, "accounts": {
            "main": {"webhookPath": "/webhooks/sms/main"},
            "support": {"webhookPath": "/webhooks/sms/support"},
        }, "defaultAccount": "main"}),
    );
    add_requests(&sandbox, "support", &[("SUPP2345", "+15557654321")]);
    snap!(
        "pairing_list_default_account",
        sandbox.run(&["pairing", "list", "sms"])
    );
    snap!(
        "pairing_list_support_account",
        sandbox.run(&["pairing", "list", "sms", "--account", "support"])
    );
    snap!(
        "pairing_approve_wrong_account",
        sandbox.run(&["pairing", "approve", "sms", "SUPP2345"])
    );
    snap!(
        "pairing_approve_support_account",
        sandbox.run(&[
            "pairing",
            "approve",
            "sms",
            "SUPP2345",
            "--account",
            "support"
        ])
    );
}

#[test]
fn approve_with_notify_texts_the_sender() {
    let twilio = FakeTwilio::start(None);
    let sandbox = Sandbox::new();
    pairing_config(&sandbox, twilio.sms_section());
    add_requests(&sandbox, "default", &[("NTFY2345", PHONE)]);
    let out = twilio.scrub(sandbox.run(&["pairing", "approve", "sms", "NTFY2345", "--notify"]));
    snap!("pairing_approve_notify", out);
    assert_eq!(
        twilio.bodies_to(PHONE),
        vec!["OpenClaw: your SMS access has been approved.".to_owned()]
    );
}

#[test]
fn deny_revoke_and_list_approved_on_the_state_directory() {
    let sandbox = Sandbox::new();
    pairing_config(&sandbox, configured());
    add_requests(
        &sandbox,
        "default",
        &[("ABCD2345", "+15557654321"), ("WXYZ6789", "+15550001111")],
    );
    let denied = sandbox.run(&["pairing", "deny", "sms", "wxyz6789"]);
    assert_eq!(denied.code, Some(0), "{}", denied.render());
    assert_eq!(denied.stdout, "Denied sms sender +15550001111.\n");
    assert!(
        denied
            .stderr
            .contains("so the denial goes to the state directory"),
        "{}",
        denied.render()
    );
    let again = sandbox.run(&["pairing", "deny", "sms", "WXYZ6789"]);
    assert_eq!(again.code, Some(1), "{}", again.render());
    assert!(
        again
            .stderr
            .contains("No pending pairing request found for code: WXYZ6789")
    );
    let pending = sandbox.run(&["pairing", "list", "sms", "--json"]).json();
    assert_eq!(pending["requests"].as_array().map(Vec::len), Some(1));

    let empty = sandbox.run(&["pairing", "list", "sms", "--approved"]);
    assert_eq!(
        empty.stdout,
        "No approved sms senders.\n",
        "{}",
        empty.render()
    );
    let approved = sandbox.run(&["pairing", "approve", "sms", "ABCD2345"]);
    assert_eq!(approved.code, Some(0), "{}", approved.render());
    let list = sandbox
        .run(&["pairing", "list", "sms", "--approved", "--json"])
        .json();
    assert_eq!(list["approved"][0]["phoneNumber"], PHONE);
    let table = sandbox.run(&["pairing", "list", "sms", "--approved"]);
    assert!(
        table.stdout.starts_with("Approved senders (1)\n"),
        "{}",
        table.render()
    );

    let bad = sandbox.run(&["pairing", "revoke", "sms", "not-a-number"]);
    assert_eq!(bad.code, Some(1), "{}", bad.render());
    let revoked = sandbox.run(&["pairing", "revoke", "sms", PHONE, "--forget"]);
    assert_eq!(revoked.code, Some(0), "{}", revoked.render());
    assert_eq!(
        revoked.stdout,
        format!(
            "Revoked sms sender {PHONE}: their next text gets the policy's default treatment.\nForgot 0 stored history lines.\n"
        )
    );
    let twice = sandbox.run(&["pairing", "revoke", "sms", PHONE]);
    assert_eq!(
        twice.stdout,
        format!("sms sender {PHONE} was not approved (nothing to revoke).\n")
    );
    let after = sandbox
        .run(&["pairing", "list", "sms", "--approved", "--json"])
        .json();
    assert_eq!(after["approved"], json!([]));
}
