//! Where the binary looks for its config and state without flags: `$OPENCLAW_CONFIG_PATH`,
//! `$OPENCLAW_STATE_DIR`, `~/.openclaw` (the sandbox's HOME).

use crate::harness::Sandbox;
use crate::snap;

#[test]
fn home_default() {
    let sandbox = Sandbox::new();
    let out = sandbox.run_bare(&["plugins", "install", "@openclaw/sms"]);
    snap!("paths_home_default", out);
    assert!(sandbox.root().join(".openclaw/openclaw.json").is_file());
}

#[test]
fn state_dir_from_env() {
    let mut sandbox = Sandbox::new();
    let state = sandbox.root().join("custom-state");
    sandbox.env("OPENCLAW_STATE_DIR", state.to_str().expect("utf-8"));
    snap!(
        "paths_state_dir_env",
        sandbox.run_bare(&["plugins", "install", "sms"])
    );
    assert!(state.join("openclaw.json").is_file());
    // The pairing store goes to the same state directory.
    let out = sandbox.run_bare(&["pairing", "list", "sms"]);
    assert_eq!(out.code, Some(0), "{}", out.render());
    assert!(state.join("state/openclaw-sms.sqlite").is_file());
}

#[test]
fn config_path_from_env_wins_over_state_dir() {
    let mut sandbox = Sandbox::new();
    let config = sandbox.root().join("elsewhere/my.json");
    sandbox
        .env(
            "OPENCLAW_STATE_DIR",
            sandbox.root().join("s").to_str().expect("utf-8"),
        )
        .env("OPENCLAW_CONFIG_PATH", config.to_str().expect("utf-8"));
    snap!(
        "paths_config_env",
        sandbox.run_bare(&["plugins", "install", "sms"])
    );
    assert!(config.is_file());
}

#[test]
fn blank_env_values_do_not_count() {
    let mut sandbox = Sandbox::new();
    sandbox
        .env("OPENCLAW_STATE_DIR", "  ")
        .env("OPENCLAW_CONFIG_PATH", "");
    snap!("paths_blank_env", sandbox.run_bare(&["config", "validate"]));
}
