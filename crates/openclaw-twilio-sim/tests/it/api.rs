//! The REST surface: auth, create/list/fetch, Twilio-shaped JSON and each error code.

use openclaw_twilio_sim::{AccountType, SimAccount, SimConfig, SimNumber};
use serde_json::Value;

use crate::support::{
    ACCOUNT, AUTH, KEY_SECRET, KEY_SID, NUMBER, PHONE, Recorder, SERVICE, SERVICE_NUMBER, TOKEN,
    TestResult, call, messages_path, send, start, start_with,
};

/// A form as a slice of pairs.
type FormRef<'a> = &'a [(&'a str, &'a str)];

fn is_sid(value: &Value, prefix: &str) -> bool {
    value
        .as_str()
        .is_some_and(|s| openclaw_twilio::sid::is_sid(s, &[prefix]))
}

#[tokio::test]
async fn create_returns_twilio_shaped_message() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let (status, json) = send(&sim, PHONE, "hello there").await?;
    assert_eq!(status, 201);
    assert!(is_sid(&json["sid"], "SM"), "{json}");
    assert_eq!(json["status"], "queued");
    assert_eq!(json["to"], PHONE);
    assert_eq!(json["from"], NUMBER);
    assert_eq!(json["body"], "hello there");
    assert_eq!(json["num_segments"], "1");
    assert_eq!(json["num_media"], "0");
    assert_eq!(json["direction"], "outbound-api");
    assert_eq!(json["account_sid"], ACCOUNT);
    assert_eq!(json["api_version"], "2010-04-01");
    assert_eq!(json["error_code"], Value::Null);
    assert_eq!(json["messaging_service_sid"], Value::Null);
    let created = json["date_created"].as_str().unwrap_or_default();
    assert!(
        created.ends_with(" +0000") && created.len() == 31,
        "{created}"
    );
    let sid = json["sid"].as_str().unwrap_or_default();
    assert_eq!(
        json["uri"],
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json")
    );
    Ok(())
}

#[tokio::test]
async fn auth_token_and_api_key_are_accepted_anything_else_is_20003() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let path = format!("/2010-04-01/Accounts/{ACCOUNT}.json");
    let check = |auth: Option<(&'static str, &'static str)>, expected: u16| {
        let sim = &sim;
        let path = path.clone();
        async move {
            let (status, json, headers) = call(sim, "GET", &path, auth, &[]).await?;
            assert_eq!(status, expected, "{auth:?}");
            if expected == 401 {
                assert_eq!(json["code"], 20003);
                assert_eq!(json["status"], 401);
                assert_eq!(
                    json["more_info"],
                    "https://www.twilio.com/docs/errors/20003"
                );
                assert!(headers.contains_key("www-authenticate"));
            } else {
                assert_eq!(json["sid"], ACCOUNT);
                assert_eq!(json["type"], "Full");
                assert_eq!(json["status"], "active");
            }
            Ok::<(), Box<dyn std::error::Error>>(())
        }
    };
    check(Some((ACCOUNT, TOKEN)), 200).await?;
    check(Some((KEY_SID, KEY_SECRET)), 200).await?;
    check(None, 401).await?;
    check(Some((ACCOUNT, "wrong")), 401).await?;
    check(Some((KEY_SID, TOKEN)), 401).await?;
    check(
        Some(("SK00000000000000000000000000000000", KEY_SECRET)),
        401,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn wrong_account_in_path_is_rejected() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let other = "AC00000000000000000000000000000000";
    let (status, json, _) = call(
        &sim,
        "GET",
        &format!("/2010-04-01/Accounts/{other}/Messages.json"),
        AUTH,
        &[],
    )
    .await?;
    assert_eq!((status, json["code"].as_u64()), (401, Some(20003)));
    Ok(())
}

#[tokio::test]
async fn error_codes_table() -> TestResult {
    let hook = Recorder::ok().await?;
    let trial = SimAccount::new("AC11111111111111111111111111111111", "trial-token")
        .with_type(AccountType::Trial {
            verified: vec!["+15550009999".to_owned()],
        })
        .with_number(SimNumber::new("+15550003333"));
    let sim = start_with(
        SimConfig::new()
            .with_account(crate::support::account(&hook.base))
            .with_account(trial),
    )
    .await?;
    let path = messages_path();
    let long = "a".repeat(1601);
    let long_form = [("To", PHONE), ("From", NUMBER), ("Body", long.as_str())];
    let cases: Vec<(FormRef<'_>, u16, u64)> = vec![
        (&[("From", NUMBER), ("Body", "x")], 400, 21604),
        (
            &[("To", "+1555"), ("From", NUMBER), ("Body", "x")],
            400,
            21211,
        ),
        (
            &[("To", "5557654321"), ("From", NUMBER), ("Body", "x")],
            400,
            21211,
        ),
        (&[("To", PHONE), ("From", NUMBER)], 400, 21602),
        (&[("To", PHONE), ("Body", "x")], 400, 21603),
        (
            &[("To", PHONE), ("From", "+15559990000"), ("Body", "x")],
            400,
            21606,
        ),
        (&long_form, 400, 21617),
        (
            &[
                ("To", PHONE),
                ("MessagingServiceSid", "MG00000000000000000000000000000000"),
                ("Body", "x"),
            ],
            400,
            21701,
        ),
    ];
    for (form, status, code) in cases {
        let (got, json, _) = call(&sim, "POST", &path, AUTH, form).await?;
        assert_eq!(
            (got, json["code"].as_u64()),
            (status, Some(code)),
            "{form:?}: {json}"
        );
        assert_eq!(json["status"].as_u64(), Some(u64::from(status)));
        assert_eq!(
            json["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Trial account: unverified -> 21608, verified -> 201.
    let trial_path = "/2010-04-01/Accounts/AC11111111111111111111111111111111/Messages.json";
    let trial_auth = Some(("AC11111111111111111111111111111111", "trial-token"));
    let (got, json, _) = call(
        &sim,
        "POST",
        trial_path,
        trial_auth,
        &[("To", PHONE), ("From", "+15550003333"), ("Body", "x")],
    )
    .await?;
    assert_eq!((got, json["code"].as_u64()), (400, Some(21608)), "{json}");
    let (got, _, _) = call(
        &sim,
        "POST",
        trial_path,
        trial_auth,
        &[
            ("To", "+15550009999"),
            ("From", "+15550003333"),
            ("Body", "x"),
        ],
    )
    .await?;
    assert_eq!(got, 201);
    let (_, account, _) = call(
        &sim,
        "GET",
        "/2010-04-01/Accounts/AC11111111111111111111111111111111.json",
        trial_auth,
        &[],
    )
    .await?;
    assert_eq!(account["type"], "Trial");
    // Nothing was recorded for the failures.
    assert_eq!(sim.messages().len(), 1);
    Ok(())
}

#[tokio::test]
async fn list_filters_newest_first_and_pages() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    for (to, body) in [(PHONE, "one"), ("+15551112222", "two"), (PHONE, "three")] {
        assert_eq!(send(&sim, to, body).await?.0, 201);
    }
    let path = messages_path();
    let (status, json, _) =
        call(&sim, "GET", &format!("{path}?To=%2B15557654321"), AUTH, &[]).await?;
    assert_eq!(status, 200);
    let bodies: Vec<&str> = json["messages"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["body"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(bodies, ["three", "one"]);

    let (_, json, _) = call(&sim, "GET", &format!("{path}?PageSize=2"), AUTH, &[]).await?;
    assert_eq!(json["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["page_size"], 2);
    let next = json["next_page_uri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(next.contains("Page=1"), "{json}");
    let (_, json, _) = call(&sim, "GET", &next, AUTH, &[]).await?;
    assert_eq!(json["messages"][0]["body"], "one");
    assert_eq!(json["next_page_uri"], Value::Null);

    let (_, json, _) = call(
        &sim,
        "GET",
        &format!("{path}?From=%2B15550001111&DateSent%3E=2000-01-01"),
        AUTH,
        &[],
    )
    .await?;
    // date_sent is set once the message is sent, which happens right after create; the
    // filter must at least never return a message from another sender.
    assert!(
        json["messages"]
            .as_array()
            .is_some_and(|a| a.iter().all(|m| m["from"] == NUMBER))
    );
    let (_, json, _) = call(
        &sim,
        "GET",
        &format!("{path}?DateSent%3E=2999-01-01"),
        AUTH,
        &[],
    )
    .await?;
    assert_eq!(json["messages"].as_array().map(Vec::len), Some(0));

    let sid = sim.messages()[0].sid.clone();
    let (status, json, _) = call(
        &sim,
        "GET",
        &format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"),
        AUTH,
        &[],
    )
    .await?;
    assert_eq!((status, json["body"].as_str()), (200, Some("one")));
    let (status, json, _) = call(
        &sim,
        "GET",
        &format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/SM00000000000000000000000000000000.json"),
        AUTH,
        &[],
    )
    .await?;
    assert_eq!((status, json["code"].as_u64()), (404, Some(20404)));
    Ok(())
}

#[tokio::test]
async fn incoming_phone_numbers_show_webhook_settings() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let path = format!("/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json");
    let (status, json, _) = call(
        &sim,
        "GET",
        &format!("{path}?PhoneNumber=%2B15550001111"),
        AUTH,
        &[],
    )
    .await?;
    assert_eq!(status, 200);
    let numbers = json["incoming_phone_numbers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(numbers.len(), 1, "{json}");
    assert_eq!(numbers[0]["phone_number"], NUMBER);
    assert_eq!(numbers[0]["sms_url"], format!("{}/webhooks/sms", hook.base));
    assert_eq!(numbers[0]["sms_method"], "POST");
    assert_eq!(numbers[0]["capabilities"]["sms"], true);
    assert!(is_sid(&numbers[0]["sid"], "PN"));
    let (_, json, _) = call(
        &sim,
        "GET",
        &format!("{path}?PhoneNumber=%2B19999"),
        AUTH,
        &[],
    )
    .await?;
    assert_eq!(
        json["incoming_phone_numbers"].as_array().map(Vec::len),
        Some(0)
    );
    let (_, json, _) = call(&sim, "GET", &path, AUTH, &[]).await?;
    assert_eq!(
        json["incoming_phone_numbers"].as_array().map(Vec::len),
        Some(2)
    );
    Ok(())
}

#[tokio::test]
async fn messaging_service_lookup_and_send() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let (status, json, _) =
        call(&sim, "GET", &format!("/v1/Services/{SERVICE}"), AUTH, &[]).await?;
    assert_eq!(status, 200);
    assert_eq!(json["sid"], SERVICE);
    assert_eq!(
        json["inbound_request_url"],
        format!("{}/webhooks/service", hook.base)
    );
    assert_eq!(json["inbound_method"], "POST");
    assert_eq!(json["use_inbound_webhook_on_number"], false);
    assert_eq!(
        json["url"],
        format!("{}/v1/Services/{SERVICE}", sim.base_url())
    );
    let (status, _, _) = call(
        &sim,
        "GET",
        &format!("/v1/Services/{SERVICE}"),
        Some((ACCOUNT, "bad")),
        &[],
    )
    .await?;
    assert_eq!(status, 401);
    let (status, json, _) = call(
        &sim,
        "GET",
        "/v1/Services/MG00000000000000000000000000000000",
        AUTH,
        &[],
    )
    .await?;
    assert_eq!((status, json["code"].as_u64()), (404, Some(20404)));

    let (status, json, _) = call(
        &sim,
        "POST",
        &messages_path(),
        AUTH,
        &[
            ("To", PHONE),
            ("MessagingServiceSid", SERVICE),
            ("Body", "via service"),
        ],
    )
    .await?;
    assert_eq!(status, 201);
    assert_eq!(json["status"], "accepted");
    assert_eq!(json["from"], Value::Null);
    assert_eq!(json["num_segments"], "0");
    assert_eq!(json["messaging_service_sid"], SERVICE);
    let phone = sim.phone(PHONE)?;
    let got = phone
        .next_reply(std::time::Duration::from_secs(5))
        .await
        .ok_or("no reply")?;
    assert_eq!(
        (got.from.as_str(), got.body.as_str()),
        (SERVICE_NUMBER, "via service")
    );
    Ok(())
}

#[tokio::test]
async fn unknown_paths_are_twilio_404s() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let (status, json, _) = call(&sim, "GET", "/2010-04-01/Nope.json", AUTH, &[]).await?;
    assert_eq!((status, json["code"].as_u64()), (404, Some(20404)));
    Ok(())
}

#[tokio::test]
async fn invalid_configuration_is_refused() -> TestResult {
    let check = |account: SimAccount| async move {
        let result =
            openclaw_twilio_sim::Simulator::start(SimConfig::new().with_account(account)).await;
        assert!(matches!(
            result,
            Err(openclaw_twilio_sim::RunSimulatorError::InvalidConfig(_))
        ));
    };
    check(SimAccount::new("AC123", TOKEN)).await;
    check(SimAccount::new(ACCOUNT, "")).await;
    check(SimAccount::new(ACCOUNT, TOKEN).with_number(SimNumber::new("5550001111"))).await;
    check(SimAccount::new(ACCOUNT, TOKEN).with_api_key("XX0123456789abcdef0123456789abcdef", "s"))
        .await;
    check(SimAccount::new(ACCOUNT, TOKEN).with_messaging_service(
        openclaw_twilio_sim::SimMessagingService::new(SERVICE).with_number(NUMBER),
    ))
    .await;
    Ok(())
}
