//! `sms segments`.

use crate::harness::Sandbox;
use crate::snap;

#[test]
fn gsm7_text() {
    let sandbox = Sandbox::new();
    snap!(
        "segments_gsm7",
        sandbox.run(&["sms", "segments", "Hello from OpenClaw: all {GSM} here!"])
    );
    snap!(
        "segments_gsm7_json",
        sandbox.run(&["sms", "segments", "--json", "Hello from OpenClaw"])
    );
}

#[test]
fn emoji_needs_ucs2() {
    let sandbox = Sandbox::new();
    snap!(
        "segments_ucs2",
        sandbox.run(&["sms", "segments", "See you soon 👋"])
    );
    snap!(
        "segments_ucs2_json",
        sandbox.run(&["sms", "segments", "--json", "See you soon 👋"])
    );
}

#[test]
fn smart_encoding_and_markdown() {
    let sandbox = Sandbox::new();
    let text = "**Don’t** forget — the “meeting” is at 10…";
    snap!(
        "segments_smart_encoding",
        sandbox.run(&["sms", "segments", "--json", text])
    );
    snap!(
        "segments_no_smart_encoding",
        sandbox.run(&["sms", "segments", "--json", "--no-smart-encoding", text])
    );
}

#[test]
fn stdin_and_long_text() {
    let sandbox = Sandbox::new();
    let text = "Line one of a longer reply that goes on. ".repeat(10);
    snap!(
        "segments_stdin_long",
        sandbox.run_with_stdin(&["sms", "segments", "-"], Some(&text))
    );
    snap!(
        "segments_chunk_limit",
        sandbox.run(&["sms", "segments", "--chunk-limit", "100", &text])
    );
}

#[test]
fn closed_stdout_pipe_is_not_a_panic() {
    // Far more output than a pipe buffers, to a reader that has gone away (`… | head -1`).
    let text = "A long line of text for the pipe test. ".repeat(5000);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_openclaw"))
        .env_clear()
        .env("RUST_BACKTRACE", "1")
        .args(["sms", "segments", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        stdin.write_all(text.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!((output.status.code(), stderr.as_ref()), (Some(0), ""));
}
