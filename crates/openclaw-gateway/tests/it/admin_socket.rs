//! The admin socket's directory: the CLI talks to a socket only in a private directory of
//! this user, and the gateway refuses a directory that is not its own. Each test gives the
//! binary its own `TMPDIR`, so the real `/tmp/openclaw-<uid>` is never touched.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use crate::harness::Sandbox;

/// Another user's id to hand a directory to (`nobody`).
const OTHER_UID: u32 = 65534;

/// A sandbox whose `TMPDIR` is `<root>/tmp`, and the socket directory the binary will use.
fn sandbox_with_tmpdir() -> (Sandbox, PathBuf) {
    let mut sandbox = Sandbox::new();
    let tmp = sandbox.root().join("tmp");
    std::fs::create_dir(&tmp).expect("tmp dir");
    let uid = std::fs::metadata(sandbox.root()).expect("root").uid();
    let tmp_text = tmp.display().to_string();
    sandbox.env("TMPDIR", &tmp_text);
    (sandbox, tmp.join(format!("openclaw-{uid}")))
}

/// A listener posing as the gateway at the sandbox's socket, in `dir` (created with `mode`).
fn fake_gateway(sandbox: &Sandbox, dir: &Path, mode: u32) -> UnixListener {
    std::fs::create_dir_all(dir).expect("socket dir");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
    let socket = dir.join(format!("gateway-{}.sock", sandbox.gateway_port()));
    let listener = UnixListener::bind(&socket).expect("bind the fake socket");
    listener.set_nonblocking(true).expect("non-blocking");
    listener
}

/// `pairing list` refuses with a message naming the `problem` and the fix, and the fake
/// gateway receives no connection.
fn assert_refused(sandbox: &Sandbox, listener: &UnixListener, problem: &str) {
    let out = sandbox.run(&["pairing", "list", "sms"]);
    assert_ne!(out.code, Some(0), "{}", out.render());
    assert!(out.stderr.contains(problem), "{}", out.render());
    assert!(out.stderr.contains("rm -r"), "{}", out.render());
    assert!(out.stdout.is_empty(), "{}", out.render());
    let accepted = listener.accept();
    assert!(
        accepted
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the fake gateway was reached: {accepted:?}"
    );
}

#[test]
fn the_cli_refuses_a_socket_directory_others_can_write() {
    for mode in [0o777, 0o770, 0o1777] {
        let (sandbox, dir) = sandbox_with_tmpdir();
        let listener = fake_gateway(&sandbox, &dir, mode);
        assert_refused(&sandbox, &listener, "writable by group or others");
    }
}

#[test]
fn state_copy_refuses_to_look_for_gateways_in_a_directory_others_can_write() {
    let (sandbox, dir) = sandbox_with_tmpdir();
    let listener = fake_gateway(&sandbox, &dir, 0o777);
    let out = sandbox.run(&[
        "state",
        "copy",
        "--from",
        "sqlite",
        "--to",
        "postgres",
        "--url",
        "postgres://u@127.0.0.1:1/none",
    ]);
    assert_ne!(out.code, Some(0), "{}", out.render());
    assert!(
        out.stderr.contains("writable by group or others"),
        "{}",
        out.render()
    );
    assert!(
        listener
            .accept()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the fake gateway was reached"
    );
}

#[test]
fn the_cli_refuses_a_symlinked_socket_directory() {
    let (sandbox, dir) = sandbox_with_tmpdir();
    let elsewhere = sandbox.root().join("elsewhere");
    let listener = fake_gateway(&sandbox, &elsewhere, 0o700);
    std::os::unix::fs::symlink(&elsewhere, &dir).expect("symlink");
    assert_refused(&sandbox, &listener, "symbolic link");
}

#[test]
fn the_cli_refuses_a_socket_directory_of_another_user() {
    let (sandbox, dir) = sandbox_with_tmpdir();
    let listener = fake_gateway(&sandbox, &dir, 0o700);
    if std::os::unix::fs::chown(&dir, Some(OTHER_UID), None).is_err() {
        // Only root can give a directory away; as another user this case cannot be set up.
        return;
    }
    assert_refused(&sandbox, &listener, "is owned by uid 65534");
}

#[test]
fn the_cli_still_uses_a_private_socket_directory() {
    let (sandbox, dir) = sandbox_with_tmpdir();
    let listener = fake_gateway(&sandbox, &dir, 0o700);
    listener.set_nonblocking(false).expect("blocking");
    // A private directory of ours is trusted: the CLI connects (and gets no answer here).
    let answer = std::thread::spawn(move || listener.accept().map(|_| ()));
    let fallback = sandbox.run(&["pairing", "list", "sms"]);
    assert!(
        answer.join().expect("accept thread").is_ok(),
        "{}",
        fallback.render()
    );
}

#[test]
fn the_gateway_refuses_a_symlinked_socket_directory() {
    let (sandbox, dir) = sandbox_with_tmpdir();
    let elsewhere = sandbox.root().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, &dir).expect("symlink");
    let (exit, stderr) = start_dev_gateway(&sandbox);
    assert!(exit.is_some_and(|s| !s.success()), "{exit:?}\n{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert!(
        std::fs::read_dir(&elsewhere)
            .expect("read")
            .next()
            .is_none(),
        "the gateway put a socket behind the link"
    );
}

#[test]
fn the_gateway_refuses_a_socket_directory_of_another_user() {
    let (sandbox, dir) = sandbox_with_tmpdir();
    std::fs::create_dir(&dir).expect("socket dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    if std::os::unix::fs::chown(&dir, Some(OTHER_UID), None).is_err() {
        // Only root can give a directory away; as another user this case cannot be set up.
        return;
    }
    let (exit, stderr) = start_dev_gateway(&sandbox);
    assert!(exit.is_some_and(|s| !s.success()), "{exit:?}\n{stderr}");
    assert!(stderr.contains("is owned by uid 65534"), "{stderr}");
    assert!(stderr.contains("rm -r"), "{stderr}");
}

/// Starts `openclaw gateway --dev` in the sandbox (its `TMPDIR` under the root) and returns
/// how it exited and its stderr; a gateway still running after 60 s is stopped (`None`).
fn start_dev_gateway(sandbox: &Sandbox) -> (Option<std::process::ExitStatus>, String) {
    let root = sandbox.root();
    let log_path = root.join("gateway.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_openclaw"))
        .env_clear()
        .env("HOME", root)
        .env("TMPDIR", root.join("tmp"))
        .current_dir(root)
        .arg("--config")
        .arg(sandbox.config_path())
        .arg("--state-dir")
        .arg(sandbox.state_dir())
        .args([
            "gateway",
            "--dev",
            "--port",
            &sandbox.gateway_port().to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start openclaw");
    let mut exit = None;
    for _ in 0..600 {
        exit = child.try_wait().expect("wait for the gateway");
        if exit.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if exit.is_none() {
        child.kill().expect("stop the gateway");
        child.wait().expect("reap the gateway");
    }
    (exit, std::fs::read_to_string(&log_path).unwrap_or_default())
}
