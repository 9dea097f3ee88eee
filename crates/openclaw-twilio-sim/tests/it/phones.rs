//! Simulated phones texting a webhook: fields, routing, replays, TwiML replies, failures.

use std::time::Duration;

use openclaw_twilio_sim::{
    Direction, MessageStatus, OutgoingText, RunSimulatorError, SimAccount, SimConfig,
    SimMessagingService, SimNumber, WebhookMethod,
};

use crate::support::{
    ACCOUNT, NUMBER, PHONE, Recorder, SERVICE, SERVICE_NUMBER, TOKEN, TestResult, start, start_with,
};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn text_posts_twilio_form_to_sms_url() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let result = sim.phone(PHONE)?.text(NUMBER, "hello world & more").await?;
    assert_eq!(result.status, 200);
    assert!(result.body.contains("<Response>"));
    assert_eq!(result.header("content-type"), Some("text/xml"));

    let requests = hook.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.uri, "/webhooks/sms");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(
        r.header("x-twilio-signature")
            .is_some_and(|s| !s.is_empty())
    );
    let names: Vec<String> = r.form().into_iter().map(|(k, _)| k).collect();
    for name in [
        "ToCountry",
        "ToState",
        "SmsMessageSid",
        "NumMedia",
        "ToCity",
        "FromZip",
        "SmsSid",
        "FromState",
        "SmsStatus",
        "FromCity",
        "Body",
        "FromCountry",
        "To",
        "ToZip",
        "NumSegments",
        "MessageSid",
        "AccountSid",
        "From",
        "ApiVersion",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "missing {name} in {names:?}"
        );
    }
    assert!(
        !names
            .iter()
            .any(|n| n == "MessagingServiceSid" || n == "OptOutType")
    );
    let sid = result.message_sid.clone();
    for (name, value) in [
        ("MessageSid", sid.as_str()),
        ("SmsSid", sid.as_str()),
        ("SmsMessageSid", sid.as_str()),
        ("AccountSid", ACCOUNT),
        ("From", PHONE),
        ("To", NUMBER),
        ("Body", "hello world & more"),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
        ("FromCountry", "US"),
    ] {
        assert_eq!(r.field(name).as_deref(), Some(value), "{name}");
    }
    // The inbound message is listed.
    let m = sim.message(&sid).ok_or("inbound message not recorded")?;
    assert_eq!(
        (m.direction, m.status, m.error_code),
        (Direction::Inbound, MessageStatus::Received, None)
    );
    Ok(())
}

#[tokio::test]
async fn media_fields_are_numbered() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let text = OutgoingText::new(NUMBER, "look")
        .with_media("https://api.twilio.com/m/1", "image/jpeg")
        .with_media("https://api.twilio.com/m/2", "image/png");
    let result = sim.phone(PHONE)?.send(text).await?;
    assert!(result.message_sid.starts_with("MM"));
    let r = &hook.requests()[0];
    assert_eq!(r.field("NumMedia").as_deref(), Some("2"));
    assert_eq!(
        r.field("MediaUrl0").as_deref(),
        Some("https://api.twilio.com/m/1")
    );
    assert_eq!(r.field("MediaContentType1").as_deref(), Some("image/png"));
    Ok(())
}

#[tokio::test]
async fn same_sid_twice_posts_twice_records_once() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let sid = "SM0123456789abcdef0123456789abcdef";
    let phone = sim.phone(PHONE)?;
    phone.text_with_sid(sid, NUMBER, "again").await?;
    phone.text_with_sid(sid, NUMBER, "again").await?;
    let requests = hook.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|r| r.field("MessageSid").as_deref() == Some(sid))
    );
    assert_eq!(sim.messages().iter().filter(|m| m.sid == sid).count(), 1);
    assert!(matches!(
        phone.text_with_sid("SMnope", NUMBER, "x").await,
        Err(RunSimulatorError::InvalidConfig(_))
    ));
    Ok(())
}

#[tokio::test]
async fn messaging_service_routing() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    // Service number, service does not defer: the service's inbound URL.
    sim.phone(PHONE)?
        .text(SERVICE_NUMBER, "to the service")
        .await?;
    let r = hook.requests().pop().ok_or("no request")?;
    assert_eq!(r.uri, "/webhooks/service");
    assert_eq!(r.field("MessagingServiceSid").as_deref(), Some(SERVICE));

    // A service that defers to the number's own sms_url.
    let deferring = SimAccount::new(ACCOUNT, TOKEN)
        .with_number(SimNumber::new(SERVICE_NUMBER).with_sms_url(format!("{}/own", hook.base)))
        .with_messaging_service(
            SimMessagingService::new(SERVICE)
                .with_number(SERVICE_NUMBER)
                .with_inbound_request_url(format!("{}/service", hook.base))
                .defer_inbound_to_numbers(),
        );
    let sim2 = start_with(SimConfig::new().with_account(deferring)).await?;
    sim2.phone(PHONE)?
        .text(SERVICE_NUMBER, "to the number")
        .await?;
    let r = hook.requests().pop().ok_or("no request")?;
    assert_eq!(r.uri, "/own");
    assert_eq!(r.field("MessagingServiceSid").as_deref(), Some(SERVICE));
    Ok(())
}

#[tokio::test]
async fn get_method_sends_query_string() -> TestResult {
    let hook = Recorder::ok().await?;
    let account = SimAccount::new(ACCOUNT, TOKEN).with_number(
        SimNumber::new(NUMBER)
            .with_sms_url(format!("{}/get?x=1", hook.base))
            .with_sms_method(WebhookMethod::Get),
    );
    let sim = start_with(SimConfig::new().with_account(account)).await?;
    sim.phone(PHONE)?.text(NUMBER, "by get").await?;
    let r = hook.requests().pop().ok_or("no request")?;
    assert_eq!(r.method, "GET");
    assert!(r.uri.starts_with("/get?x=1&"), "{}", r.uri);
    assert!(r.uri.contains("Body=by+get"), "{}", r.uri);
    assert!(r.body.is_empty());
    Ok(())
}

#[tokio::test]
async fn twiml_message_is_delivered_to_the_phone() -> TestResult {
    let hook = Recorder::start(
        200,
        "<Response><Message>Thanks &amp; bye</Message></Response>",
    )
    .await?;
    let sim = start(&hook.base).await?;
    let phone = sim.phone(PHONE)?;
    phone.text(NUMBER, "hi").await?;
    let reply = phone.next_reply(WAIT).await.ok_or("no reply")?;
    assert_eq!(
        (reply.from.as_str(), reply.body.as_str()),
        (NUMBER, "Thanks & bye")
    );
    Ok(())
}

#[tokio::test]
async fn failing_webhook_marks_11200() -> TestResult {
    let hook = Recorder::start(403, "<Response></Response>").await?;
    let sim = start(&hook.base).await?;
    let result = sim.phone(PHONE)?.text(NUMBER, "hi").await?;
    assert_eq!(result.status, 403);
    assert_eq!(
        sim.message(&result.message_sid).and_then(|m| m.error_code),
        Some(11200)
    );

    // Nobody listening: an error naming the URL, and 11200 on the message.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let dead = format!("http://{}/gone", closed.local_addr()?);
    drop(closed);
    sim.set_number_webhook(NUMBER, Some(dead.clone()), WebhookMethod::Post)?;
    match sim.phone(PHONE)?.text(NUMBER, "anyone?").await {
        Err(RunSimulatorError::DeliverWebhook { url, .. }) => assert_eq!(url, dead),
        other => return Err(format!("expected DeliverWebhook, got {other:?}").into()),
    }
    let last = sim.messages().pop().ok_or("no message")?;
    assert_eq!(
        (last.body.as_str(), last.error_code),
        ("anyone?", Some(11200))
    );
    Ok(())
}

#[tokio::test]
async fn unknown_number_and_missing_webhook() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let phone = sim.phone(PHONE)?;
    assert!(matches!(
        phone.text("+15559998888", "hi").await,
        Err(RunSimulatorError::UnknownNumber(_))
    ));
    sim.set_number_webhook(NUMBER, None, WebhookMethod::Post)?;
    assert!(matches!(
        phone.text(NUMBER, "hi").await,
        Err(RunSimulatorError::NoWebhook(_))
    ));
    assert!(matches!(
        sim.phone("12345"),
        Err(RunSimulatorError::InvalidNumber(_))
    ));
    assert_eq!(hook.requests().len(), 0);
    Ok(())
}

#[tokio::test]
async fn next_reply_times_out_with_none() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    assert_eq!(
        sim.phone(PHONE)?
            .next_reply(Duration::from_millis(20))
            .await,
        None
    );
    Ok(())
}
