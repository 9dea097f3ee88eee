//! Fault injection: seeded shares give reproducible counts; timeouts happen after recording.

use std::time::Duration;

use openclaw_twilio_sim::{Faults, SimConfig};

use crate::support::{
    ACCOUNT, NUMBER, PHONE, Recorder, TOKEN, TestResult, account, messages_path, send, start_with,
};

/// Sends `n` creates and returns the HTTP statuses seen, in order.
async fn statuses(
    sim: &openclaw_twilio_sim::SimHandle,
    n: usize,
) -> Result<Vec<u16>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(send(sim, PHONE, &format!("m{i}")).await?.0);
    }
    Ok(out)
}

#[tokio::test]
async fn seeded_faults_are_reproducible_and_counted() -> TestResult {
    let faults = Faults {
        rate_limit_share: 0.2,
        server_error_share: 0.1,
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let hook = Recorder::ok().await?;
        let sim = start_with(
            SimConfig::new()
                .with_account(account(&hook.base))
                .with_faults(faults.clone())
                .with_seed(42),
        )
        .await?;
        let seen = statuses(&sim, 200).await?;
        let count = |code: u16| seen.iter().filter(|&&s| s == code).count() as u64;
        let counts = sim.fault_counts();
        assert_eq!(counts.create_requests, 200);
        assert_eq!(counts.rate_limited, count(429));
        assert_eq!(counts.server_errors, count(500));
        assert_eq!(counts.timeouts, 0);
        assert_eq!(count(201) + count(429) + count(500), 200);
        // Only the 201s were recorded.
        assert_eq!(sim.messages().len() as u64, count(201));
        // A binomial(200, 0.2) and (200, 0.1) draw: far from 0 and far from 200.
        assert!((10..=70).contains(&count(429)), "{}", count(429));
        assert!((3..=45).contains(&count(500)), "{}", count(500));
        runs.push(seen);
    }
    assert_eq!(runs[0], runs[1], "the same seed gives the same sequence");
    Ok(())
}

#[tokio::test]
async fn rate_limit_carries_retry_after_and_20429() -> TestResult {
    let hook = Recorder::ok().await?;
    let faults = Faults {
        rate_limit_share: 1.0,
        retry_after: Duration::from_millis(1500),
        ..Faults::default()
    };
    let sim = start_with(
        SimConfig::new()
            .with_account(account(&hook.base))
            .with_faults(faults),
    )
    .await?;
    let (status, json, headers) = crate::support::call(
        &sim,
        "POST",
        &messages_path(),
        Some((ACCOUNT, TOKEN)),
        &[("To", PHONE), ("From", NUMBER), ("Body", "x")],
    )
    .await?;
    assert_eq!(
        (status, json["code"].as_u64(), json["status"].as_u64()),
        (429, Some(20429), Some(429))
    );
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("2")
    );
    // Faults change at run time.
    sim.set_faults(Faults::default())?;
    assert_eq!(send(&sim, PHONE, "ok now").await?.0, 201);
    assert!(
        sim.set_faults(Faults {
            timeout_share: 2.0,
            ..Faults::default()
        })
        .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn timeout_after_record_leaves_the_message_listed() -> TestResult {
    let hook = Recorder::ok().await?;
    let faults = Faults {
        timeout_share: 1.0,
        timeout_hold: Duration::from_secs(30),
        ..Faults::default()
    };
    let sim = start_with(
        SimConfig::new()
            .with_account(account(&hook.base))
            .with_faults(faults),
    )
    .await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()?;
    let result = client
        .post(format!("{}{}", sim.base_url(), messages_path()))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[("To", PHONE), ("From", NUMBER), ("Body", "did it go?")])
        .send()
        .await;
    assert!(
        result.is_err_and(|e| e.is_timeout()),
        "the client must time out"
    );
    assert_eq!(sim.fault_counts().timeouts, 1);
    // The message exists, is listed over the API, and reached the phone.
    sim.set_faults(Faults::default())?;
    let (status, json, _) = crate::support::call(
        &sim,
        "GET",
        &format!("{}?To=%2B15557654321", messages_path()),
        Some((ACCOUNT, TOKEN)),
        &[],
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(json["messages"][0]["body"], "did it go?");
    let got = sim
        .phone(PHONE)?
        .next_reply(Duration::from_secs(5))
        .await
        .ok_or("phone got nothing")?;
    assert_eq!(got.body, "did it go?");
    Ok(())
}

#[tokio::test]
async fn latency_applies_to_reads_too() -> TestResult {
    // No timing assertion: a latency shorter than the client timeout still answers, one far
    // longer does not.
    let hook = Recorder::ok().await?;
    let faults = Faults {
        latency: Duration::from_secs(30),
        ..Faults::default()
    };
    let sim = start_with(
        SimConfig::new()
            .with_account(account(&hook.base))
            .with_faults(faults),
    )
    .await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(200))
        .build()?;
    let result = client
        .get(format!(
            "{}/2010-04-01/Accounts/{ACCOUNT}.json",
            sim.base_url()
        ))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    sim.set_faults(Faults {
        latency: Duration::from_millis(1),
        ..Faults::default()
    })?;
    let ok = client
        .get(format!(
            "{}/2010-04-01/Accounts/{ACCOUNT}.json",
            sim.base_url()
        ))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await?;
    assert_eq!(ok.status().as_u16(), 200);
    Ok(())
}
