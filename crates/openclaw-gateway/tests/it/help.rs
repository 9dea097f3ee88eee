//! `--help` on every command, `--version`, usage errors.

use crate::harness::Sandbox;
use crate::snap;

#[test]
fn top_level_help() {
    let sandbox = Sandbox::new();
    snap!("help_top_level", sandbox.run_bare(&["--help"]));
}

#[test]
fn message_send_help() {
    let sandbox = Sandbox::new();
    snap!(
        "help_message_send",
        sandbox.run_bare(&["message", "send", "--help"])
    );
}

#[test]
fn every_command_has_help() {
    let sandbox = Sandbox::new();
    let commands: &[&[&str]] = &[
        &["gateway"],
        &["config"],
        &["config", "patch"],
        &["config", "get"],
        &["config", "validate"],
        &["plugins"],
        &["plugins", "install"],
        &["plugins", "list"],
        &["pairing"],
        &["pairing", "list"],
        &["pairing", "approve"],
        &["message"],
        &["message", "send"],
        &["channels"],
        &["channels", "status"],
        &["channels", "capabilities"],
        &["sms"],
        &["sms", "segments"],
        &["sim"],
        &["sim", "text"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let out = sandbox.run_bare(&args);
        assert_eq!(out.code, Some(0), "{command:?}:\n{}", out.render());
        let usage = format!("Usage: openclaw {}", command.join(" "));
        assert!(
            out.stdout.contains(&usage),
            "{command:?}:\n{}",
            out.render()
        );
        assert!(out.stderr.is_empty(), "{command:?}:\n{}", out.render());
    }
}

#[test]
fn version_shows_version_and_git_hash() {
    let sandbox = Sandbox::new();
    let out = sandbox.run_bare(&["--version"]);
    let version = env!("CARGO_PKG_VERSION");
    insta::with_settings!({
        filters => vec![
            (r"\((?:[0-9a-f]{7,40}|unknown)\)", "([GIT_HASH])"),
            (version, "[VERSION]"),
        ],
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!("version", out.render());
    });
    // The subcommands carry the same version.
    let sub = sandbox.run_bare(&["config", "--version"]);
    assert_eq!(
        sub.stdout,
        out.stdout.replace("openclaw ", "openclaw-config ")
    );
}

#[test]
fn usage_errors_exit_2() {
    let sandbox = Sandbox::new();
    snap!("usage_no_command", sandbox.run_bare(&[]));
    snap!("usage_unknown_command", sandbox.run_bare(&["frobnicate"]));
    snap!(
        "usage_message_send_without_target",
        sandbox.run(&["message", "send", "--message", "hi"])
    );
    snap!(
        "usage_bad_gateway_port",
        sandbox.run_bare(&["--gateway-port", "notaport", "plugins", "list"])
    );
}
