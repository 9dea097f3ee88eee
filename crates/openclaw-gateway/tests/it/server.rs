//! The public HTTP server of a running gateway, from the outside: slow and idle connections
//! are cut by the header-read timeout, the connection cap keeps the process accepting, and
//! hostile webhook fields and Twilio error bodies cannot forge log lines.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use openclaw_twilio::form::Form;
use secrecy::SecretString;
use serde_json::json;

use crate::harness::{ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, PHONE, Running, Sandbox};

/// How long a test waits for the server to close a connection it should close: far more than
/// the 1 s header-read timeout the tests configure, far less than "never".
const CLOSE_BOUND: Duration = Duration::from_secs(10);

/// `agents`: the echo agent, chosen explicitly as a gateway outside `--dev` requires.
fn echo() -> serde_json::Value {
    json!({"defaults": {"model": {"primary": "echo"}}})
}

fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).expect("connect to the gateway")
}

/// `GET path` on a fresh connection (`Connection: close`): the status, 0 when no answer.
fn get(port: u16, path: &str) -> u16 {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(CLOSE_BOUND));
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    status_of(&answer)
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Waits (up to 30 s) until the gateway answers `/healthz`.
fn wait_until_serving(port: u16, gateway: &mut Running, sandbox: &Sandbox) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(port, "/healthz") != 200 {
        assert!(
            gateway.is_running() && Instant::now() < deadline,
            "the gateway did not start:\n{}",
            sandbox.gateway_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads until the server closes the connection (EOF or reset); `false` if it is still open
/// after `bound`. Whatever the server wrote first (a `408`) is skipped.
fn closed_by_server(stream: &mut TcpStream, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Whether the server has already closed `stream` (checked without waiting).
fn already_closed(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 1];
    let closed = match stream.peek(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}

#[test]
fn slow_silent_and_idle_connections_are_cut_after_the_header_timeout() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"gateway": {"headerReadTimeoutMs": 1000}, "agents": echo()}));
    let port = sandbox.gateway_port();
    let mut gateway = sandbox.spawn_gateway();
    wait_until_serving(port, &mut gateway, &sandbox);

    // Connected, and nothing sent.
    let mut silent = connect(port);
    // Half a request line and header, then nothing.
    let mut partial = connect(port);
    partial
        .write_all(b"POST /webhooks/sms HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        .expect("write");
    // A whole request, its answer read, then nothing (an idle keep-alive connection).
    let mut idle = connect(port);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("write");
    idle.set_read_timeout(Some(CLOSE_BOUND)).expect("timeout");
    let mut answer = Vec::new();
    while !answer.ends_with(b"ok") {
        let mut buf = [0u8; 512];
        let n = idle.read(&mut buf).expect("the /healthz answer");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert_eq!(status_of(&String::from_utf8_lossy(&answer)), 200);

    assert!(
        closed_by_server(&mut silent, CLOSE_BOUND),
        "a silent connection stays open"
    );
    assert!(
        closed_by_server(&mut partial, CLOSE_BOUND),
        "a stalled header stays open"
    );
    assert!(
        closed_by_server(&mut idle, CLOSE_BOUND),
        "an idle keep-alive connection stays open"
    );

    // Headers sent a byte every 200 ms never finish, and the timeout counts from the start.
    let mut drip = connect(port);
    drip.write_all(b"GET /healthz HTTP/1.1\r\nX-Drip: ")
        .expect("write");
    drip.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let deadline = Instant::now() + CLOSE_BOUND;
    let mut cut = false;
    while Instant::now() < deadline {
        if drip.write_all(b"a").is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 512];
        match drip.read(&mut buf) {
            Ok(0) => {
                cut = true;
                break;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(_) => {}
            Err(_) => {
                cut = true;
                break;
            }
        }
    }
    assert!(cut, "headers dripped a byte at a time keep the connection");
    // And the gateway still serves.
    assert_eq!(get(port, "/healthz"), 200);
    assert!(gateway.is_running());
}

#[test]
fn idle_connections_at_the_cap_do_not_keep_a_webhook_out() {
    let sandbox = Sandbox::new();
    let port = sandbox.gateway_port();
    let webhook = format!("http://127.0.0.1:{port}/webhooks/sms");
    let twilio = FakeTwilio::start(Some(&webhook));
    let mut sms = twilio.sms_section();
    sms["publicWebhookUrl"] = json!(webhook);
    sms["dmPolicy"] = json!("open");
    sms["allowFrom"] = json!(["*"]);
    sandbox.write_config(&json!({
        "gateway": {"maxConnections": 8, "headerReadTimeoutMs": 1000},
        "channels": {"sms": sms},
        "agents": echo(),
    }));
    let mut gateway = sandbox.spawn_gateway();
    wait_until_serving(port, &mut gateway, &sandbox);

    // 8 idle connections fill the cap; 4 more wait behind them.
    let idle: Vec<TcpStream> = (0..12).map(|_| connect(port)).collect();
    // Twilio's webhook comes in behind them, and is answered once the idle ones are cut.
    twilio.text_from(PHONE, "hello");
    assert!(
        idle.iter().take(8).any(already_closed),
        "the webhook was served while all 8 idle connections were still open: no cap"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while twilio.bodies_to(PHONE).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no reply:\n{}",
            sandbox.gateway_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(twilio.bodies_to(PHONE), ["Echo: hello"]);
    for mut stream in idle {
        assert!(
            closed_by_server(&mut stream, CLOSE_BOUND),
            "an idle connection stays open"
        );
    }

    // The process keeps accepting: another round of idle connections, then a request.
    let again: Vec<TcpStream> = (0..12).map(|_| connect(port)).collect();
    assert_eq!(get(port, "/healthz"), 200);
    drop(again);
    assert!(gateway.is_running());
    assert!(
        sandbox.gateway_log().contains(
            "connection limit reached: 8 HTTP connections are open (gateway.maxConnections)"
        ),
        "{}",
        sandbox.gateway_log()
    );
}

/// A `GET /healthz` whose request head (request line, headers, the blank line) is `len` bytes;
/// the status of its answer.
fn get_with_head_of(port: u16, len: usize) -> u16 {
    let head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Pad: ";
    let tail = "\r\n\r\n";
    let request = format!("{head}{}{tail}", "a".repeat(len - head.len() - tail.len()));
    assert_eq!(request.len(), len);
    let mut stream = connect(port);
    stream.set_read_timeout(Some(CLOSE_BOUND)).expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    status_of(&answer)
}

#[test]
fn a_request_head_of_32768_bytes_is_read_and_32769_is_431() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"agents": echo()}));
    let port = sandbox.gateway_port();
    let mut gateway = sandbox.spawn_gateway();
    wait_until_serving(port, &mut gateway, &sandbox);
    assert_eq!(get_with_head_of(port, 32 * 1024), 200);
    assert_eq!(get_with_head_of(port, 32 * 1024 + 1), 431);
    assert!(gateway.is_running());
}

#[test]
fn server_limits_out_of_range_are_refused_naming_the_key() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"gateway": {"maxConnections": 0}}));
    let out = sandbox.run(&["config", "validate"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(
        out.stderr
            .contains("gateway.maxConnections: must be a whole number from 1 to 65536"),
        "{}",
        out.render()
    );
    sandbox.write_config(&json!({"gateway": {"headerReadTimeoutMs": "1s"}}));
    let out = sandbox.run(&["gateway"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(
        out.stderr
            .contains("gateway.headerReadTimeoutMs: must be a whole number of milliseconds"),
        "{}",
        out.render()
    );
}

/// The start of a log line an attacker would like to write.
const FORGED: &str =
    "2026-01-01T00:00:00.000000Z  INFO openclaw: pairing approved for +15550000000";

/// POSTs a webhook signed for `url` with the sandbox's auth token; returns the status.
fn post_signed(port: u16, url: &str, pairs: &[(&str, &str)]) -> u16 {
    let form = Form::from_pairs(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    let body = form.encode();
    let signature =
        openclaw_twilio::signature::compute(url, form.pairs(), &SecretString::from(AUTH_TOKEN));
    let mut stream = connect(port);
    stream.set_read_timeout(Some(CLOSE_BOUND)).expect("timeout");
    write!(
        stream,
        "POST /webhooks/sms HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    status_of(&answer)
}

#[test]
fn line_breaks_in_webhook_fields_and_twilio_errors_do_not_forge_log_lines() {
    // Twilio's API answers every send with an error whose message carries a forged line.
    let mut api = mockito::Server::new();
    let error = json!({"code": 21211, "message": format!("bad To\r\n{FORGED}\u{2028}{FORGED}")});
    let _send = api
        .mock(
            "POST",
            mockito::Matcher::Regex("/Messages.json$".to_owned()),
        )
        .with_status(400)
        .with_header("content-type", "application/json")
        .with_body(error.to_string())
        .create();
    let sandbox = Sandbox::new();
    let port = sandbox.gateway_port();
    let url = format!("http://127.0.0.1:{port}/webhooks/sms");
    sandbox.write_config(&json!({"channels": {"sms": {
        "enabled": true,
        "accountSid": ACCOUNT_SID,
        "authToken": AUTH_TOKEN,
        "fromNumber": FROM_NUMBER,
        "publicWebhookUrl": url,
        "apiBaseUrl": api.url(),
        "dmPolicy": "open",
        "allowFrom": ["*"],
    }}, "agents": echo()}));
    let mut gateway = sandbox.spawn_gateway();
    wait_until_serving(port, &mut gateway, &sandbox);

    let common = [
        ("AccountSid", ACCOUNT_SID),
        ("From", PHONE),
        ("To", FROM_NUMBER),
    ];
    // A MessageSid with CR/LF: accepted (it is signed), then dead-lettered; and replayed.
    let bad_sid = format!("SM1\r\n{FORGED}");
    let mut first: Vec<(&str, &str)> = vec![("MessageSid", &bad_sid), ("Body", "hi")];
    first.extend(common);
    assert_eq!(post_signed(port, &url, &first), 200);
    assert_eq!(post_signed(port, &url, &first), 200);
    // A MediaUrl0 with CR/LF and U+2028: refused; the text is answered, and the answer's send
    // fails with the error above.
    let media = format!("https://api.twilio.com/x\r\n{FORGED}\u{2028}{FORGED}");
    let mut second: Vec<(&str, &str)> = vec![
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("Body", "see"),
        ("NumMedia", "1"),
        ("MediaUrl0", &media),
        ("MediaContentType0", "image/jpeg"),
    ];
    second.extend(common);
    assert_eq!(post_signed(port, &url, &second), 200);

    let expected = [
        "SMS webhook ignored replayed message SM1",
        "SMS dead-lettered",
        "refused a media URL",
        "Twilio send failed (400, code 21211)",
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !expected.iter().all(|e| sandbox.gateway_log().contains(e)) {
        assert!(Instant::now() < deadline, "{}", sandbox.gateway_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(gateway);
    let log = sandbox.gateway_log();
    // A terminal starts a line at CR as well as LF; a Unicode-aware viewer at U+2028.
    for line in log.split(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}']) {
        assert!(
            !line.trim_start().starts_with("2026-01-01T00:00:00.000000Z"),
            "a forged line: {line:?}\nin the log:\n{log}"
        );
    }
    // The attacker's text is there, escaped, once per place that logged it.
    let escaped = log.matches(&format!(r"\r\n{FORGED}")).count();
    assert!(escaped >= 4, "{escaped} escaped copies in:\n{log}");

    // The dead letter, listed by the CLI, is one line too.
    let listed = sandbox.run(&["channels", "dead-letters", "list"]);
    assert_eq!(listed.code, Some(0), "{}", listed.render());
    assert!(
        listed.stdout.contains(r"SM1\r\n2026-01-01"),
        "{}",
        listed.render()
    );
    for line in listed.stdout.split(['\n', '\r']) {
        assert!(
            !line.trim_start().starts_with("2026-01-01T00:00:00.000000Z"),
            "{}",
            listed.render()
        );
    }
}
