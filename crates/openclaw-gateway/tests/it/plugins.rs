//! `plugins install|list`.

use serde_json::json;

use crate::harness::Sandbox;
use crate::snap;

#[test]
fn install_is_idempotent_and_keeps_the_rest() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"gateway": {"port": 18789}}));
    snap!("plugins_list_before", sandbox.run(&["plugins", "list"]));
    snap!(
        "plugins_install",
        sandbox.run(&["plugins", "install", "@openclaw/sms"])
    );
    let after_first = sandbox.config_text();
    snap!(
        "plugins_install_again",
        sandbox.run(&["plugins", "install", "@openclaw/sms"])
    );
    assert_eq!(
        sandbox.config_text(),
        after_first,
        "a second install writes nothing"
    );
    assert_eq!(
        sandbox.config_json(),
        json!({
            "gateway": {"port": 18789},
            "plugins": {"entries": {"sms": {"enabled": true, "package": "@openclaw/sms", "source": "builtin"}}},
        })
    );
    snap!("plugins_list_after", sandbox.run(&["plugins", "list"]));
    snap!(
        "plugins_list_json",
        sandbox.run(&["plugins", "list", "--json"])
    );
}

#[test]
fn install_without_config_creates_a_private_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::new();
    let out = sandbox.run(&["plugins", "install", "sms"]);
    assert_eq!(out.code, Some(0), "{}", out.render());
    let mode = std::fs::metadata(sandbox.config_path())
        .expect("written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn unknown_plugin_lists_the_built_in_ones() {
    let sandbox = Sandbox::new();
    snap!(
        "plugins_install_unknown",
        sandbox.run(&["plugins", "install", "@openclaw/whatsapp"])
    );
    assert_eq!(sandbox.config_text(), None);
}

#[test]
fn disabled_plugin_is_listed_as_disabled() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"plugins": {"entries": {"sms": {"enabled": false}}}}));
    snap!("plugins_list_disabled", sandbox.run(&["plugins", "list"]));
}

#[test]
fn a_disabled_entry_does_not_hide_a_configured_channel() {
    let twilio = crate::harness::FakeTwilio::start(None);
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({
        "plugins": {"entries": {"sms": {"enabled": false}}},
        "channels": {"sms": twilio.sms_section()},
    }));
    let out = sandbox.run(&["plugins", "list"]);
    assert!(
        out.stdout
            .contains("(installed, entry disabled; channel configured)")
            && out.stdout.contains("follows channels.sms"),
        "{}",
        out.render()
    );
    snap!("plugins_list_disabled_entry_configured_channel", out);
}
