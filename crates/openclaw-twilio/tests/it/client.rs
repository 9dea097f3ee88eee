//! The REST client against a local `mockito` server: exact request bytes and headers, each
//! error class, redaction, truncation, malformed bodies, hosts.

use std::time::Duration;

use base64::Engine as _;
use mockito::{Matcher, Server, ServerGuard};
use openclaw_twilio::sid::{AccountSid, ApiKeySid, MessagingServiceSid};
use openclaw_twilio::webhook::MessageStatus;
use openclaw_twilio::{
    ApiBase, Client, ClientConfig, CreateMessage, Credentials, ErrorKind, ListMessages,
    MAX_ERROR_BODY_BYTES, MAX_SUCCESS_BODY_BYTES, RetryClass, Sender, TRUNCATED_MARKER,
    TwilioError,
};
use secrecy::SecretString;

const AC: &str = "AC0123456789abcdef0123456789abcdef";
const SK: &str = "SK0123456789abcdef0123456789abcdef";
const MG: &str = "MG0123456789abcdef0123456789abcdef";
const SM: &str = "SM0123456789abcdef0123456789abcdef";
const PN: &str = "PN0123456789abcdef0123456789abcdef";
const TOKEN: &str = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

fn basic(user: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    )
}

fn credentials() -> Credentials {
    Credentials::AuthToken {
        account_sid: AccountSid::parse(AC).unwrap(),
        token: SecretString::from(TOKEN),
    }
}

fn client_for(server: &ServerGuard) -> Client {
    Client::new(ClientConfig::new(credentials()).base(ApiBase::Custom(server.url()))).unwrap()
}

fn text(to: &str, body: &str) -> CreateMessage {
    CreateMessage::new(to, Sender::From("+15550002222".to_owned()), body)
}

fn message_json(extra: &str) -> String {
    format!(
        r#"{{"sid": "{SM}", "account_sid": "{AC}", "status": "queued", "to": "+15550001111",
            "from": "+15550002222", "body": "Hello", "num_segments": "1", "num_media": "0",
            "error_code": null, "direction": "outbound-api",
            "date_created": "Wed, 25 Nov 2026 19:00:00 +0000"{extra}}}"#
    )
}

/// Asserts that no credential shows in anything printable about `e`.
fn assert_redacted(e: &TwilioError) {
    let b64 = basic(AC, TOKEN);
    for shown in [
        e.to_string(),
        format!("{e:?}"),
        e.response_text().unwrap_or_default().to_owned(),
    ] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains(b64.trim_start_matches("Basic ")), "{shown}");
    }
}

#[tokio::test]
async fn create_message_sends_exact_bytes_and_headers() {
    let mut server = Server::new_async().await;
    let expected_body = "To=%2B15550001111&Body=Hello+w%C3%B6rld+%2B+%26&MediaUrl=https%3A%2F%2Fm.example%2Fa.jpg\
        &MediaUrl=https%3A%2F%2Fm.example%2Fb.png&From=%2B15550002222\
        &StatusCallback=https%3A%2F%2Fgw.example%2Fsms%23rc%3D1";
    let mock = server
        .mock("POST", MESSAGES_PATH)
        .match_header("authorization", basic(AC, TOKEN).as_str())
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_header("accept", "application/json")
        .match_body(Matcher::Exact(expected_body.to_owned()))
        .with_status(201)
        .with_header("content-type", "application/json")
        .with_body(message_json(""))
        .create_async()
        .await;
    let mut req = text("+15550001111", "Hello wörld + &");
    req.media_urls = vec![
        "https://m.example/a.jpg".into(),
        "https://m.example/b.png".into(),
    ];
    req.status_callback = Some("https://gw.example/sms#rc=1".into());
    let msg = client_for(&server).create_message(&req).await.unwrap();
    mock.assert_async().await;
    assert_eq!(msg.sid.as_str(), SM);
    assert_eq!(msg.status, Some(MessageStatus::Queued));
    assert_eq!(msg.to, "+15550001111");
    assert_eq!(msg.from.as_deref(), Some("+15550002222"));
    assert_eq!(msg.body.as_deref(), Some("Hello"));
    assert_eq!(msg.num_segments, Some(1));
    assert_eq!(msg.error_code, None);
    assert_eq!(msg.account_sid.unwrap().as_str(), AC);
    assert_eq!(
        msg.date_created.as_deref(),
        Some("Wed, 25 Nov 2026 19:00:00 +0000")
    );
}

#[tokio::test]
async fn create_message_with_api_key_and_messaging_service() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", MESSAGES_PATH)
        .match_header("authorization", basic(SK, "key-secret").as_str())
        .match_body(Matcher::Exact(format!(
            "To=%2B15550001111&Body=Hi&MessagingServiceSid={MG}&SmartEncoded=true&ValidityPeriod=3600"
        )))
        .with_status(201)
        // Blank `to` in the answer: the requested To is kept.
        .with_body(format!(r#"{{"sid": "{SM}", "status": "accepted", "to": "", "num_segments": "0"}}"#))
        .create_async()
        .await;
    let credentials = Credentials::ApiKey {
        account_sid: AccountSid::parse(AC).unwrap(),
        key_sid: ApiKeySid::parse(SK).unwrap(),
        secret: SecretString::from("key-secret"),
    };
    let client =
        Client::new(ClientConfig::new(credentials).base(ApiBase::Custom(server.url()))).unwrap();
    let mut req = CreateMessage::new(
        "+15550001111",
        Sender::MessagingService(MessagingServiceSid::parse(MG).unwrap()),
        "Hi",
    );
    req.smart_encoded = Some(true);
    req.validity_period = Some(3600);
    let msg = client.create_message(&req).await.unwrap();
    mock.assert_async().await;
    assert_eq!(msg.status, Some(MessageStatus::Accepted));
    assert_eq!(msg.to, "+15550001111");
    assert_eq!(msg.num_segments, Some(0));
}

struct Case {
    status: usize,
    body: &'static str,
    retry_after: Option<&'static str>,
    kind: ErrorKind,
    class: RetryClass,
    code: Option<u32>,
    message: &'static str,
}

#[tokio::test]
async fn error_classes() {
    let cases = [
        Case {
            status: 400,
            body: r#"{"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#,
            retry_after: None,
            kind: ErrorKind::Api,
            class: RetryClass::Permanent,
            code: Some(21211),
            message: "Twilio send failed (400, code 21211): The 'To' number +1555 is not a valid phone number.",
        },
        Case {
            status: 400,
            body: r#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient"}"#,
            retry_after: None,
            kind: ErrorKind::Api,
            class: RetryClass::Permanent,
            code: Some(21610),
            message: "Twilio send failed (400, code 21610): Attempt to send to unsubscribed recipient",
        },
        Case {
            status: 401,
            body: r#"{"code": 20003, "message": "Authenticate"}"#,
            retry_after: None,
            kind: ErrorKind::Api,
            class: RetryClass::Permanent,
            code: Some(20003),
            message: "Twilio send failed (401, code 20003): Authenticate",
        },
        Case {
            status: 429,
            body: r#"{"code": 20429, "message": "Too Many Requests"}"#,
            retry_after: Some("2"),
            kind: ErrorKind::Api,
            class: RetryClass::Safe,
            code: Some(20429),
            message: "Twilio send failed (429, code 20429): Too Many Requests",
        },
        Case {
            status: 503,
            body: "",
            retry_after: Some("7"),
            kind: ErrorKind::Api,
            class: RetryClass::Safe,
            code: None,
            message: "Twilio send failed (503): unknown",
        },
        Case {
            status: 500,
            body: "upstream exploded",
            retry_after: None,
            kind: ErrorKind::Api,
            class: RetryClass::Ambiguous,
            code: None,
            message: "Twilio send failed (500): upstream exploded",
        },
        Case {
            status: 502,
            body: "<html>bad gateway</html>",
            retry_after: None,
            kind: ErrorKind::Api,
            class: RetryClass::Ambiguous,
            code: None,
            message: "Twilio send failed (502): <html>bad gateway</html>",
        },
        Case {
            status: 404,
            body: "",
            retry_after: None,
            kind: ErrorKind::Api,
            class: RetryClass::Permanent,
            code: None,
            message: "Twilio send failed (404): unknown",
        },
    ];
    for case in cases {
        let mut server = Server::new_async().await;
        let mut mock = server
            .mock("POST", MESSAGES_PATH)
            .with_status(case.status)
            .with_body(case.body);
        if let Some(ra) = case.retry_after {
            mock = mock.with_header("retry-after", ra);
        }
        let _mock = mock.create_async().await;
        let e = client_for(&server)
            .create_message(&text("+1555", "x"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), case.kind, "{e:?}");
        assert_eq!(e.retry_class(), case.class, "{e:?}");
        assert_eq!(e.status(), Some(u16::try_from(case.status).unwrap()));
        assert_eq!(e.twilio_code(), case.code);
        assert_eq!(e.to_string(), case.message);
        assert_eq!(
            e.retry_after(),
            case.retry_after
                .map(|s| Duration::from_secs(s.parse().unwrap()))
        );
        assert!(!e.is_timeout());
        assert_eq!(
            e.hint().is_some(),
            matches!(case.code, Some(21211 | 21610 | 20003 | 20429)),
            "{e:?}"
        );
        assert_eq!(e.response_text(), Some(case.body));
    }
}

#[tokio::test]
async fn connection_refused_is_safe_to_retry() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(
        ClientConfig::new(credentials()).base(ApiBase::Custom(format!("http://127.0.0.1:{port}"))),
    )
    .unwrap();
    let e = client
        .create_message(&text("+1555", "x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e:?}");
    assert_eq!(e.retry_class(), RetryClass::Safe);
    assert_eq!(e.status(), None);
    assert!(
        e.to_string()
            .starts_with("Twilio send failed: could not connect"),
        "{e}"
    );
    assert_redacted(&e);
}

#[tokio::test]
async fn timeout_after_sending_is_ambiguous() {
    let mut server = Server::new_async().await;
    let _mock = server
        .mock("POST", MESSAGES_PATH)
        .with_status(201)
        .with_chunked_body(|w| {
            std::thread::sleep(Duration::from_secs(2));
            w.write_all(b"{}")
        })
        .create_async()
        .await;
    let client = Client::new(
        ClientConfig::new(credentials())
            .base(ApiBase::Custom(server.url()))
            .timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let e = client
        .create_message(&text("+1555", "x"))
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(e.retry_class(), RetryClass::Ambiguous);
}

#[tokio::test]
async fn credentials_are_redacted_everywhere() {
    let mut server = Server::new_async().await;
    let reflected = format!(
        r#"{{"message": "bad auth: Authorization: {} token={TOKEN}", "auth_token": "{TOKEN}", "code": 20003}}"#,
        basic(AC, TOKEN)
    );
    let _mock = server
        .mock("POST", MESSAGES_PATH)
        .with_status(401)
        .with_body(reflected)
        .create_async()
        .await;
    let client = client_for(&server);
    let e = client
        .create_message(&text("+1555", "x"))
        .await
        .unwrap_err();
    assert_redacted(&e);
    assert_eq!(
        e.to_string(),
        "Twilio send failed (401, code 20003): bad auth: Authorization: Basic *** token=***"
    );
    assert!(
        e.response_text()
            .unwrap()
            .contains(r#""auth_token": "***""#)
    );
    for shown in [
        format!("{client:?}"),
        format!("{:?}", credentials()),
        format!("{:?}", ClientConfig::new(credentials())),
    ] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(
            !shown.contains(basic(AC, TOKEN).trim_start_matches("Basic ")),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn error_bodies_are_cut_to_a_prefix_on_a_character_boundary() {
    let mut server = Server::new_async().await;
    // "a" then 2-byte characters: the 8 KiB cut falls inside a character.
    let body = format!("a{}", "é".repeat(10_000));
    let _mock = server
        .mock("POST", MESSAGES_PATH)
        .with_status(400)
        .with_body(body)
        .create_async()
        .await;
    let e = client_for(&server)
        .create_message(&text("+1555", "x"))
        .await
        .unwrap_err();
    let shown = e.response_text().unwrap();
    let kept = shown
        .strip_suffix(TRUNCATED_MARKER)
        .expect("marked as truncated");
    assert_eq!(kept.len(), MAX_ERROR_BODY_BYTES - 1);
    assert!(kept.starts_with("aé") && kept.ends_with('é'));
}

#[tokio::test]
async fn error_bodies_with_line_breaks_display_on_one_line() {
    const FORGED: &str = "2026-01-01T00:00:00Z  INFO openclaw: pairing approved";
    let mut server = Server::new_async().await;
    // Twilio's JSON `message` and a proxy's plain-text page, each with CR/LF and U+2028.
    let json = serde_json::json!({"code": 21211, "message": format!("bad To\r\n{FORGED}")});
    let _json = server
        .mock("POST", MESSAGES_PATH)
        .match_body(Matcher::Regex("Body=json".to_owned()))
        .with_status(400)
        .with_body(json.to_string())
        .create_async()
        .await;
    let _plain = server
        .mock("POST", MESSAGES_PATH)
        .match_body(Matcher::Regex("Body=plain".to_owned()))
        .with_status(502)
        .with_body(format!("<h1>Bad gateway</h1>\n{FORGED}\u{2028}{FORGED}\r"))
        .create_async()
        .await;
    let client = client_for(&server);
    for body in ["json", "plain"] {
        let e = client
            .create_message(&text("+1555", body))
            .await
            .unwrap_err();
        let shown = e.to_string();
        assert!(
            !shown.contains(['\r', '\n', '\u{2028}']),
            "{body}: {shown:?}"
        );
        assert!(shown.contains(&format!(r"\n{FORGED}")), "{body}: {shown:?}");
        // The raw text stays available to code that asks for it.
        assert!(e.response_text().unwrap().contains(FORGED), "{body}");
    }
}

#[tokio::test]
async fn oversized_success_bodies_are_refused() {
    let big = format!(
        r#"{{"sid": "{SM}", "pad": "{}"}}"#,
        "x".repeat(MAX_SUCCESS_BODY_BYTES)
    );
    // With a Content-Length, and chunked (no length announced).
    for chunked in [false, true] {
        let mut server = Server::new_async().await;
        let mock = server.mock("POST", MESSAGES_PATH).with_status(201);
        let mock = if chunked {
            let big = big.clone();
            mock.with_chunked_body(move |w| {
                for part in big.as_bytes().chunks(64 * 1024) {
                    w.write_all(part)?;
                }
                Ok(())
            })
        } else {
            mock.with_body(&big)
        };
        let _mock = mock.create_async().await;
        let e = client_for(&server)
            .create_message(&text("+1555", "x"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BodyTooLarge, "chunked={chunked}");
        assert_eq!(e.retry_class(), RetryClass::Ambiguous);
        assert_eq!(e.status(), Some(201));
    }
}

#[tokio::test]
async fn malformed_or_sidless_success_bodies() {
    fn check(body: &str, kind: ErrorKind) -> (String, ErrorKind) {
        (body.to_owned(), kind)
    }
    let cases = [
        check("not json", ErrorKind::MalformedResponse),
        check("[1, 2]", ErrorKind::MalformedResponse),
        check(r#"{"sid": "#, ErrorKind::MalformedResponse),
        check("", ErrorKind::MissingSid),
        check(r#"{"status": "queued"}"#, ErrorKind::MissingSid),
        check(r#"{"sid": "  "}"#, ErrorKind::MissingSid),
        check(r#"{"sid": "SM123"}"#, ErrorKind::MalformedResponse),
    ];
    for (body, kind) in cases {
        let mut server = Server::new_async().await;
        let _mock = server
            .mock("POST", MESSAGES_PATH)
            .with_status(201)
            .with_body(&body)
            .create_async()
            .await;
        let e = client_for(&server)
            .create_message(&text("+1555", "x"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{body}");
        // The message may have been created: never resend blindly.
        assert_eq!(e.retry_class(), RetryClass::Ambiguous, "{body}");
    }
}

#[tokio::test]
async fn invalid_requests_never_reach_twilio() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", MESSAGES_PATH)
        .expect(0)
        .create_async()
        .await;
    let client = client_for(&server);
    let mut too_many = text("+1555", "x");
    too_many.media_urls = (0..11).map(|i| format!("https://m.example/{i}")).collect();
    for req in [
        text("+1555", ""),
        text("+1555", &"a".repeat(1601)),
        too_many,
    ] {
        let e = client.create_message(&req).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert_eq!(e.retry_class(), RetryClass::Permanent);
    }
    mock.assert_async().await;
}

#[tokio::test]
async fn fetch_account_never_keeps_the_auth_token() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("GET", format!("/2010-04-01/Accounts/{AC}.json").as_str())
        .match_header("authorization", basic(AC, TOKEN).as_str())
        .with_status(200)
        .with_body(format!(
            r#"{{"sid": "{AC}", "friendly_name": "Home", "status": "active", "type": "Trial",
                "auth_token": "{TOKEN}", "owner_account_sid": "{AC}"}}"#
        ))
        .create_async()
        .await;
    let account = client_for(&server).fetch_account().await.unwrap();
    mock.assert_async().await;
    assert_eq!(account.sid.as_str(), AC);
    assert_eq!(account.status.as_deref(), Some("active"));
    assert!(account.is_trial());
    assert!(!format!("{account:?}").contains(TOKEN));
}

#[tokio::test]
async fn list_incoming_phone_numbers_by_number() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("GET", format!("/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json").as_str())
        .match_query(Matcher::Exact("PhoneNumber=%2B15550002222".to_owned()))
        .with_status(200)
        .with_body(format!(
            r#"{{"incoming_phone_numbers": [{{"sid": "{PN}", "phone_number": "+15550002222",
                "capabilities": {{"sms": true, "mms": false, "voice": true, "fax": false}},
                "sms_url": "https://gw.example/sms", "sms_method": "POST", "sms_application_sid": ""}}],
                "page_size": 50}}"#
        ))
        .create_async()
        .await;
    let numbers = client_for(&server)
        .list_incoming_phone_numbers("+15550002222")
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(numbers.len(), 1);
    let n = &numbers[0];
    assert_eq!(
        (n.sid.as_str(), n.phone_number.as_str()),
        (PN, "+15550002222")
    );
    assert!(n.capabilities.sms && !n.capabilities.mms && n.capabilities.voice);
    assert_eq!(n.sms_url.as_deref(), Some("https://gw.example/sms"));
    assert_eq!(n.sms_application_sid, None);
}

#[tokio::test]
async fn fetch_messaging_service() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("GET", format!("/v1/Services/{MG}").as_str())
        .match_header("authorization", basic(AC, TOKEN).as_str())
        .with_status(200)
        .with_body(format!(
            r#"{{"sid": "{MG}", "friendly_name": "Bot", "inbound_request_url": null,
                "use_inbound_webhook_on_number": true, "smart_encoding": true,
                "validity_period": 14400, "usecase": "chatbot"}}"#
        ))
        .create_async()
        .await;
    let service = client_for(&server)
        .fetch_messaging_service(&MessagingServiceSid::parse(MG).unwrap())
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(service.inbound_request_url, None);
    assert!(service.use_inbound_webhook_on_number && service.smart_encoding);
    assert_eq!(service.validity_period, Some(14400));
    assert_eq!(service.usecase.as_deref(), Some("chatbot"));
}

#[tokio::test]
async fn list_messages_with_filters() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("GET", MESSAGES_PATH)
        .match_query(Matcher::Exact(
            "To=%2B15550001111&From=%2B15550002222&DateSent%3E=2026-11-25&PageSize=20".to_owned(),
        ))
        .with_status(200)
        .with_body(format!(
            r#"{{"messages": [{}, {}], "page": 0}}"#,
            message_json(""),
            message_json(r#", "status": "delivered""#)
        ))
        .create_async()
        .await;
    let filter = ListMessages {
        to: Some("+15550001111".into()),
        from: Some("+15550002222".into()),
        date_sent_after: Some("2026-11-25".into()),
        page_size: Some(20),
    };
    let messages = client_for(&server).list_messages(&filter).await.unwrap();
    mock.assert_async().await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].status, Some(MessageStatus::Delivered));
    let e = client_for(&server)
        .list_messages(&ListMessages {
            page_size: Some(0),
            ..ListMessages::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert_eq!(
        e.to_string(),
        "Twilio message lookup failed: page_size must be between 1 and 1000"
    );
}

#[test]
fn regional_and_default_hosts() {
    fn check(base: ApiBase, api: &str, messaging: &str) {
        let client = Client::new(ClientConfig::new(credentials()).base(base)).unwrap();
        assert_eq!(
            (client.api_base(), client.messaging_base()),
            (api, messaging)
        );
    }
    check(
        ApiBase::Default,
        "https://api.twilio.com",
        "https://messaging.twilio.com",
    );
    check(
        ApiBase::Region {
            region: "ie1".into(),
            edge: "dublin".into(),
        },
        "https://api.dublin.ie1.twilio.com",
        "https://messaging.dublin.ie1.twilio.com",
    );
    check(
        ApiBase::Region {
            region: "au1".into(),
            edge: "sydney".into(),
        },
        "https://api.sydney.au1.twilio.com",
        "https://messaging.sydney.au1.twilio.com",
    );
    let bad = Client::new(
        ClientConfig::new(credentials()).base(ApiBase::Custom("http://example.com".into())),
    );
    assert_eq!(bad.unwrap_err().kind(), ErrorKind::Config);
}
