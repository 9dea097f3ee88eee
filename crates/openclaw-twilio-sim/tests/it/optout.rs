//! Advanced Opt-Out: STOP blocks the pair with Twilio's reply, START restores, HELP answers.

use std::time::Duration;

use openclaw_twilio_sim::{HELP_REPLY, OptOutTypeField, START_REPLY, STOP_REPLY, SimConfig};

use crate::support::{
    AUTH, NUMBER, PHONE, Recorder, SERVICE, SERVICE_NUMBER, TestResult, account, call,
    messages_path, send, start, start_with,
};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn stop_blocks_with_21610_and_start_restores() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let phone = sim.phone(PHONE)?;
    assert_eq!(send(&sim, PHONE, "before").await?.0, 201);
    assert_eq!(
        phone.next_reply(WAIT).await.map(|r| r.body).as_deref(),
        Some("before")
    );

    phone.text(NUMBER, "Stop").await?;
    let reply = phone.next_reply(WAIT).await.ok_or("no STOP reply")?;
    assert_eq!(
        (reply.from.as_str(), reply.body.as_str()),
        (NUMBER, STOP_REPLY)
    );
    let hooked = hook.requests().pop().ok_or("STOP not forwarded")?;
    assert_eq!(hooked.field("Body").as_deref(), Some("Stop"));
    assert_eq!(hooked.field("OptOutType").as_deref(), Some("STOP"));

    let (status, json) = send(&sim, PHONE, "after stop").await?;
    assert_eq!(
        (status, json["code"].as_u64()),
        (400, Some(21610)),
        "{json}"
    );
    assert_eq!(
        json["more_info"],
        "https://www.twilio.com/docs/errors/21610"
    );
    // Other recipients and other senders are unaffected.
    assert_eq!(send(&sim, "+15551112222", "other phone").await?.0, 201);
    let (status, _, _) = call(
        &sim,
        "POST",
        &messages_path(),
        AUTH,
        &[
            ("To", PHONE),
            ("MessagingServiceSid", SERVICE),
            ("Body", "other sender"),
        ],
    )
    .await?;
    assert_eq!(status, 201);

    phone.text(NUMBER, "start").await?;
    assert_eq!(
        hook.requests()
            .pop()
            .and_then(|r| r.field("OptOutType"))
            .as_deref(),
        Some("START")
    );
    // Skip the service message received meanwhile, then the START reply.
    let bodies: Vec<String> = [phone.next_reply(WAIT).await, phone.next_reply(WAIT).await]
        .into_iter()
        .flatten()
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies, ["other sender", START_REPLY]);
    assert_eq!(send(&sim, PHONE, "welcome back").await?.0, 201);
    assert!(sim.opt_outs().is_empty());
    Ok(())
}

#[tokio::test]
async fn keyword_table() -> TestResult {
    // (body, blocks afterwards, reply, OptOutType)
    let cases: [(&str, bool, Option<&str>, Option<&str>); 7] = [
        ("STOP", true, Some(STOP_REPLY), Some("STOP")),
        ("unsubscribe", true, Some(STOP_REPLY), Some("STOP")),
        ("Quit", true, Some(STOP_REPLY), Some("STOP")),
        ("STOP PLEASE", false, None, None),
        ("please stop", false, None, None),
        ("help", false, Some(HELP_REPLY), Some("HELP")),
        ("INFO", false, Some(HELP_REPLY), Some("HELP")),
    ];
    for (body, blocks, reply, opt_out_type) in cases {
        let hook = Recorder::ok().await?;
        let sim = start(&hook.base).await?;
        let phone = sim.phone(PHONE)?;
        phone.text(NUMBER, body).await?;
        assert_eq!(
            phone.replies().first().map(|r| r.body.as_str()),
            reply,
            "{body}"
        );
        assert_eq!(
            hook.requests()[0].field("OptOutType").as_deref(),
            opt_out_type,
            "{body}"
        );
        let (status, _) = send(&sim, PHONE, "x").await?;
        assert_eq!(status == 400, blocks, "{body}");
    }
    Ok(())
}

#[tokio::test]
async fn stop_to_a_service_number_blocks_the_whole_service() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    sim.phone(PHONE)?.text(SERVICE_NUMBER, "STOP").await?;
    let opt_outs = sim.opt_outs();
    assert_eq!(opt_outs.len(), 1);
    assert_eq!(
        (opt_outs[0].phone.as_str(), opt_outs[0].sender.as_str()),
        (PHONE, SERVICE)
    );
    let (status, json, _) = call(
        &sim,
        "POST",
        &messages_path(),
        AUTH,
        &[
            ("To", PHONE),
            ("MessagingServiceSid", SERVICE),
            ("Body", "x"),
        ],
    )
    .await?;
    assert_eq!((status, json["code"].as_u64()), (400, Some(21610)));
    let (status, _, _) = call(
        &sim,
        "POST",
        &messages_path(),
        AUTH,
        &[("To", PHONE), ("From", SERVICE_NUMBER), ("Body", "x")],
    )
    .await?;
    assert_eq!(status, 400);
    assert_eq!(send(&sim, PHONE, "plain number still works").await?.0, 201);
    Ok(())
}

#[tokio::test]
async fn opt_out_type_only_in_services_when_asked() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start_with(
        SimConfig::new()
            .with_account(account(&hook.base))
            .with_opt_out_type_field(OptOutTypeField::MessagingServiceOnly),
    )
    .await?;
    let phone = sim.phone(PHONE)?;
    phone.text(NUMBER, "STOP").await?;
    assert_eq!(
        hook.requests().pop().and_then(|r| r.field("OptOutType")),
        None
    );
    phone.text(SERVICE_NUMBER, "STOP").await?;
    assert_eq!(
        hook.requests()
            .pop()
            .and_then(|r| r.field("OptOutType"))
            .as_deref(),
        Some("STOP")
    );
    // The block applies either way.
    assert_eq!(send(&sim, PHONE, "x").await?.0, 400);
    Ok(())
}
