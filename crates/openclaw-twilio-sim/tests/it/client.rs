//! The production client and parsers of `openclaw-twilio` against the simulator: what the
//! gateway will actually see.

use std::time::Duration;

use openclaw_twilio::form::Form;
use openclaw_twilio::sid::{AccountSid, ApiKeySid, MessagingServiceSid};
use openclaw_twilio::webhook::{InboundMessage, OptOutType, StatusCallback, WebhookKind};
use openclaw_twilio::{
    ApiBase, Client, ClientConfig, CreateMessage, Credentials, ListMessages, RetryClass, Sender,
};
use openclaw_twilio_sim::{Faults, SimHandle};
use secrecy::SecretString;

use crate::support::{
    ACCOUNT, KEY_SECRET, KEY_SID, NUMBER, PHONE, Recorder, SERVICE, SERVICE_NUMBER, TOKEN,
    TestResult, start,
};

fn client(sim: &SimHandle, timeout: Duration) -> Result<Client, Box<dyn std::error::Error>> {
    let credentials = Credentials::AuthToken {
        account_sid: AccountSid::parse(ACCOUNT)?,
        token: SecretString::from(TOKEN),
    };
    let config = ClientConfig::new(credentials)
        .base(ApiBase::Custom(sim.base_url().to_owned()))
        .timeout(timeout);
    Ok(Client::new(config)?)
}

#[tokio::test]
async fn client_round_trip() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let c = client(&sim, Duration::from_secs(10))?;

    let sent = c
        .create_message(&CreateMessage::new(
            PHONE,
            Sender::From(NUMBER.to_owned()),
            "hello",
        ))
        .await?;
    assert_eq!(sent.to, PHONE);
    assert_eq!(sent.from.as_deref(), Some(NUMBER));
    assert_eq!(sent.num_segments, Some(1));
    let service = MessagingServiceSid::parse(SERVICE)?;
    let via = c
        .create_message(&CreateMessage::new(
            PHONE,
            Sender::MessagingService(service.clone()),
            "via service",
        ))
        .await?;
    assert_eq!(via.from, None);

    let account = c.fetch_account().await?;
    assert_eq!(account.sid.as_str(), ACCOUNT);
    assert!(!account.is_trial());

    let numbers = c.list_incoming_phone_numbers(NUMBER).await?;
    assert_eq!(numbers.len(), 1);
    assert_eq!(
        numbers[0].sms_url.as_deref(),
        Some(format!("{}/webhooks/sms", hook.base).as_str())
    );
    assert_eq!(numbers[0].sms_method.as_deref(), Some("POST"));
    assert!(numbers[0].capabilities.sms);

    let svc = c.fetch_messaging_service(&service).await?;
    assert_eq!(
        svc.inbound_request_url.as_deref(),
        Some(format!("{}/webhooks/service", hook.base).as_str())
    );
    assert!(!svc.use_inbound_webhook_on_number);

    let listed = c
        .list_messages(&ListMessages {
            to: Some(PHONE.to_owned()),
            page_size: Some(3),
            ..ListMessages::default()
        })
        .await?;
    let bodies: Vec<Option<&str>> = listed.iter().map(|m| m.body.as_deref()).collect();
    assert_eq!(bodies, [Some("via service"), Some("hello")]);

    let keyed = Client::new(
        ClientConfig::new(Credentials::ApiKey {
            account_sid: AccountSid::parse(ACCOUNT)?,
            key_sid: ApiKeySid::parse(KEY_SID)?,
            secret: SecretString::from(KEY_SECRET),
        })
        .base(ApiBase::Custom(sim.base_url().to_owned())),
    )?;
    assert_eq!(keyed.fetch_account().await?.sid.as_str(), ACCOUNT);
    Ok(())
}

#[tokio::test]
async fn client_error_classes() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let c = client(&sim, Duration::from_millis(500))?;
    let msg = || CreateMessage::new(PHONE, Sender::From(NUMBER.to_owned()), "x");

    sim.phone(PHONE)?.text(NUMBER, "STOP").await?;
    let e = c
        .create_message(&msg())
        .await
        .err()
        .ok_or("21610 expected")?;
    assert_eq!(
        (e.status(), e.twilio_code(), e.retry_class()),
        (Some(400), Some(21610), RetryClass::Permanent)
    );
    sim.phone(PHONE)?.text(NUMBER, "START").await?;

    sim.set_faults(Faults {
        rate_limit_share: 1.0,
        ..Faults::default()
    })?;
    let e = c.create_message(&msg()).await.err().ok_or("429 expected")?;
    assert_eq!(
        (e.status(), e.twilio_code(), e.retry_class()),
        (Some(429), Some(20429), RetryClass::Safe)
    );
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));

    sim.set_faults(Faults {
        server_error_share: 1.0,
        ..Faults::default()
    })?;
    let e = c.create_message(&msg()).await.err().ok_or("500 expected")?;
    assert_eq!(
        (e.status(), e.retry_class()),
        (Some(500), RetryClass::Ambiguous)
    );

    let before = sim.messages().len();
    sim.set_faults(Faults {
        timeout_share: 1.0,
        timeout_hold: Duration::from_secs(30),
        ..Faults::default()
    })?;
    let e = c
        .create_message(&msg())
        .await
        .err()
        .ok_or("timeout expected")?;
    assert!(e.is_timeout());
    assert_eq!(e.retry_class(), RetryClass::Ambiguous);
    assert_eq!(
        sim.messages().len(),
        before + 1,
        "the message was recorded before the timeout"
    );

    let bad = Client::new(
        ClientConfig::new(Credentials::AuthToken {
            account_sid: AccountSid::parse(ACCOUNT)?,
            token: SecretString::from("wrong"),
        })
        .base(ApiBase::Custom(sim.base_url().to_owned())),
    )?;
    let e = bad.fetch_account().await.err().ok_or("401 expected")?;
    assert_eq!((e.status(), e.twilio_code()), (Some(401), Some(20003)));
    assert!(!e.to_string().contains("wrong"));
    Ok(())
}

#[tokio::test]
async fn webhook_forms_parse_with_openclaw_twilio() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    sim.phone(PHONE)?.text(SERVICE_NUMBER, "stop").await?;
    let r = hook.requests().pop().ok_or("no webhook")?;
    let form = Form::parse(&r.body)?;
    assert_eq!(WebhookKind::of(&form), WebhookKind::InboundMessage);
    let inbound = InboundMessage::from_form(&form)?;
    assert_eq!(
        (
            inbound.from.as_str(),
            inbound.to.as_str(),
            inbound.body.as_str()
        ),
        (PHONE, SERVICE_NUMBER, "stop")
    );
    assert_eq!(inbound.account_sid.as_str(), ACCOUNT);
    assert_eq!(
        inbound
            .messaging_service_sid
            .as_ref()
            .map(MessagingServiceSid::as_str),
        Some(SERVICE)
    );
    assert_eq!(inbound.opt_out_type, Some(OptOutType::Stop));
    assert_eq!(inbound.num_segments, Some(1));

    let callback = format!("{}/status", hook.base);
    let c = client(&sim, Duration::from_secs(10))?;
    let mut request = CreateMessage::new("+15551112222", Sender::From(NUMBER.to_owned()), "x");
    request.status_callback = Some(callback);
    c.create_message(&request).await?;
    sim.wait_for_status_callbacks(3, Duration::from_secs(10))
        .await;
    let statuses: Vec<String> = hook
        .requests()
        .iter()
        .filter(|r| r.uri == "/status")
        .map(|r| {
            let form = Form::parse(&r.body)?;
            assert_eq!(WebhookKind::of(&form), WebhookKind::StatusCallback);
            Ok(StatusCallback::from_form(&form)?.status.to_string())
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    assert_eq!(statuses, ["queued", "sent", "delivered"]);
    Ok(())
}
