//! Status callbacks: order, fields, failure outcomes.

use std::time::Duration;

use openclaw_twilio_sim::{DeliveryOutcome, InitialStatusCallback, MessageStatus, SimConfig};

use crate::support::{
    ACCOUNT, AUTH, NUMBER, PHONE, Recorder, TestResult, account, call, messages_path, start_with,
};

/// Waits (bounded) until the simulator has recorded `n` callbacks.
async fn callbacks_settled(
    sim: &openclaw_twilio_sim::SimHandle,
    n: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let got = sim
        .wait_for_status_callbacks(n, Duration::from_secs(10))
        .await
        .len();
    if got >= n {
        Ok(())
    } else {
        Err(format!("only {got} callbacks").into())
    }
}

#[tokio::test]
async fn callbacks_arrive_in_order_with_twilio_fields() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start_with(SimConfig::new().with_account(account(&hook.base))).await?;
    let callback = format!("{}/webhooks/status#rc=2&rp=ct,rt", hook.base);
    let (status, json, _) = call(
        &sim,
        "POST",
        &messages_path(),
        AUTH,
        &[
            ("To", PHONE),
            ("From", NUMBER),
            ("Body", "hi"),
            ("StatusCallback", &callback),
        ],
    )
    .await?;
    assert_eq!(status, 201);
    let sid = json["sid"].as_str().ok_or("no sid")?.to_owned();
    callbacks_settled(&sim, 3).await?;
    let requests = hook.requests();
    let statuses: Vec<String> = requests
        .iter()
        .filter_map(|r| r.field("MessageStatus"))
        .collect();
    assert_eq!(statuses, ["queued", "sent", "delivered"]);
    for r in &requests {
        assert_eq!(r.uri, "/webhooks/status", "the fragment is never sent");
        assert!(r.header("x-twilio-signature").is_some());
        assert_eq!(r.field("MessageSid").as_deref(), Some(sid.as_str()));
        assert_eq!(r.field("SmsSid").as_deref(), Some(sid.as_str()));
        assert_eq!(r.field("SmsStatus"), r.field("MessageStatus"));
        assert_eq!(r.field("AccountSid").as_deref(), Some(ACCOUNT));
        assert_eq!(r.field("From").as_deref(), Some(NUMBER));
        assert_eq!(r.field("To").as_deref(), Some(PHONE));
        assert_eq!(r.field("ApiVersion").as_deref(), Some("2010-04-01"));
        assert_eq!(r.field("ErrorCode"), None);
    }
    assert!(
        requests[2]
            .field("RawDlrDoneDate")
            .is_some_and(|d| d.len() == 10)
    );
    let recorded: Vec<MessageStatus> = sim.status_callbacks().iter().map(|c| c.status).collect();
    assert_eq!(
        recorded,
        [
            MessageStatus::Queued,
            MessageStatus::Sent,
            MessageStatus::Delivered
        ]
    );
    assert!(
        sim.status_callbacks()
            .iter()
            .all(|c| c.response_status == Some(200))
    );
    assert_eq!(
        sim.message(&sid).map(|m| m.status),
        Some(MessageStatus::Delivered)
    );
    Ok(())
}

#[tokio::test]
async fn undelivered_and_failed_carry_error_code_and_phone_gets_nothing() -> TestResult {
    let check = |outcome: DeliveryOutcome,
                 expected: &'static [&'static str],
                 code: &'static str| async move {
        let hook = Recorder::ok().await?;
        let sim = start_with(SimConfig::new().with_account(account(&hook.base))).await?;
        let phone = sim.phone(PHONE)?;
        phone.set_delivery(outcome);
        let callback = format!("{}/cb", hook.base);
        let (_, json, _) = call(
            &sim,
            "POST",
            &messages_path(),
            AUTH,
            &[
                ("To", PHONE),
                ("From", NUMBER),
                ("Body", "x"),
                ("StatusCallback", &callback),
            ],
        )
        .await?;
        callbacks_settled(&sim, expected.len()).await?;
        let requests = hook.requests();
        let statuses: Vec<String> = requests
            .iter()
            .filter_map(|r| r.field("MessageStatus"))
            .collect();
        assert_eq!(statuses, expected);
        assert_eq!(
            requests
                .last()
                .and_then(|r| r.field("ErrorCode"))
                .as_deref(),
            Some(code)
        );
        assert!(phone.replies().is_empty());
        let m = sim
            .message(json["sid"].as_str().unwrap_or_default())
            .ok_or("no message")?;
        assert_eq!(m.error_code.map(|c| c.to_string()).as_deref(), Some(code));
        Ok::<(), Box<dyn std::error::Error>>(())
    };
    check(
        DeliveryOutcome::Undelivered { error_code: 30003 },
        &["queued", "sent", "undelivered"],
        "30003",
    )
    .await?;
    check(
        DeliveryOutcome::Failed { error_code: 30008 },
        &["queued", "failed"],
        "30008",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn twilio_documented_mode_skips_initial_status() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start_with(
        SimConfig::new()
            .with_account(account(&hook.base))
            .with_initial_status_callback(InitialStatusCallback::Skip),
    )
    .await?;
    let callback = format!("{}/cb", hook.base);
    call(
        &sim,
        "POST",
        &messages_path(),
        AUTH,
        &[
            ("To", PHONE),
            ("From", NUMBER),
            ("Body", "x"),
            ("StatusCallback", &callback),
        ],
    )
    .await?;
    callbacks_settled(&sim, 2).await?;
    let statuses: Vec<String> = hook
        .requests()
        .iter()
        .filter_map(|r| r.field("MessageStatus"))
        .collect();
    assert_eq!(statuses, ["sent", "delivered"]);
    Ok(())
}
