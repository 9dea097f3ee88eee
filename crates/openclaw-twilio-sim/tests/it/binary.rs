//! The `openclaw-twilio-sim` binary: flags, the ready line, the control API, a clean stop.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use crate::support::{ACCOUNT, NUMBER, PHONE, Recorder, TOKEN, TestResult};

#[tokio::test]
async fn binary_serves_the_api_and_the_control_api() -> TestResult {
    let hook = Recorder::ok().await?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_openclaw-twilio-sim"))
        .args([
            "--port",
            "0",
            "--account-sid",
            ACCOUNT,
            "--auth-token",
            TOKEN,
            "--seed",
            "1",
        ])
        .arg("--number")
        .arg(format!("{NUMBER}={}/webhooks/sms", hook.base))
        .env_remove("TWILIO_ACCOUNT_SID")
        .env_remove("TWILIO_AUTH_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await?
        .ok_or("no ready line")?;
    let base = line
        .strip_prefix("openclaw-twilio-sim listening on ")
        .ok_or(format!("unexpected: {line}"))?
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let http = reqwest::Client::builder().no_proxy().build()?;
    let sent = http
        .post(format!(
            "{base}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        ))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[("To", PHONE), ("From", NUMBER), ("Body", "from the binary")])
        .send()
        .await?;
    assert_eq!(sent.status().as_u16(), 201);

    let answer: Value = http
        .post(format!("{base}/_sim/phones/{PHONE}/text"))
        .json(&json!({"to": NUMBER, "body": "hello"}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(hook.requests()[0].field("Body").as_deref(), Some("hello"));

    let received: Value = http
        .get(format!("{base}/_sim/phones/{PHONE}/messages"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(received[0]["body"], "from the binary");

    child.start_kill()?;
    child.wait().await?;
    Ok(())
}

#[tokio::test]
async fn binary_refuses_a_bad_configuration() -> TestResult {
    let out = Command::new(env!("CARGO_BIN_EXE_openclaw-twilio-sim"))
        .args(["--account-sid", "AC123", "--auth-token", "t"])
        .env("RUST_LOG", "warn")
        .output()
        .await?;
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr)?;
    assert!(err.contains("AC123") && err.starts_with("error: "), "{err}");
    Ok(())
}
