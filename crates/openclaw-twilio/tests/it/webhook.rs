//! Webhook forms and typed messages, from fixtures in `tests/data/`.

use openclaw_twilio::form::{Form, ParseFormError};
use openclaw_twilio::webhook::{
    EMPTY_TWIML, InboundMessage, Media, MessageStatus, OptOutType, StatusCallback,
    TWIML_CONTENT_TYPE, WebhookKind,
};

const SM: &str = "SM0123456789abcdef0123456789abcdef";
const AC: &str = "AC0123456789abcdef0123456789abcdef";

fn fixture(name: &str) -> Form {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    Form::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn form(s: &str) -> Form {
    Form::parse(s.as_bytes()).unwrap()
}

fn base(extra: &str) -> Form {
    form(&format!(
        "MessageSid={SM}&AccountSid={AC}&From=%2B1555&To=%2B1666{extra}"
    ))
}

#[test]
fn twiml_constants() {
    assert_eq!(EMPTY_TWIML, "<Response></Response>");
    assert_eq!(TWIML_CONTENT_TYPE, "text/xml; charset=utf-8");
}

#[test]
fn inbound_sms_fixture() {
    let f = fixture("inbound_sms.form");
    assert_eq!(f.len(), 20);
    assert_eq!(WebhookKind::of(&f), WebhookKind::InboundMessage);
    let m = InboundMessage::from_form(&f).unwrap();
    assert_eq!(m.message_sid.as_str(), SM);
    assert_eq!(m.account_sid.as_str(), AC);
    assert_eq!(
        m.messaging_service_sid.as_ref().unwrap().as_str(),
        "MG0123456789abcdef0123456789abcdef"
    );
    assert_eq!(m.from, "+16035550123");
    assert_eq!(m.to, "+14155550199");
    assert_eq!(
        m.body,
        "Hey there! Can you summarise my calendar for tomorrow? 🙏"
    );
    assert_eq!((m.num_media, m.media.len(), m.unavailable_media), (0, 0, 0));
    assert_eq!(m.num_segments, Some(1));
    assert_eq!(m.opt_out_type, None);
    let extra: Vec<&str> = m.extra.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        extra,
        [
            "ToCountry",
            "ToState",
            "ToCity",
            "FromZip",
            "FromState",
            "SmsStatus",
            "FromCity",
            "FromCountry",
            "ToZip",
            "ApiVersion"
        ]
    );
    // Debug does not show personal data.
    let dbg = format!("{m:?}");
    assert!(
        !dbg.contains("calendar") && !dbg.contains("6035550123"),
        "{dbg}"
    );
}

#[test]
fn inbound_mms_fixture() {
    let m = InboundMessage::from_form(&fixture("inbound_mms.form")).unwrap();
    assert_eq!(m.message_sid.as_str(), "MM0123456789abcdef0123456789abcdef");
    assert_eq!(m.body, "");
    assert_eq!(m.num_media, 3);
    assert_eq!(
        m.media,
        [
            Media {
                url: format!(
                    "https://api.twilio.com/2010-04-01/Accounts/{AC}/Messages/MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef0123456789abcdef"
                ),
                content_type: Some("image/jpeg".to_owned()),
            },
            Media {
                url: "https://api.twilio.com/m2".to_owned(),
                content_type: None
            },
        ]
    );
    assert_eq!(m.unavailable_media, 1);
    assert!(m.extra.iter().all(|(k, _)| !k.starts_with("Media")));
}

#[test]
fn status_callback_fixture() {
    let f = fixture("status_undelivered.form");
    assert_eq!(WebhookKind::of(&f), WebhookKind::StatusCallback);
    let s = StatusCallback::from_form(&f).unwrap();
    assert_eq!(s.message_sid.as_str(), SM);
    assert_eq!(s.account_sid.unwrap().as_str(), AC);
    assert_eq!(s.status, MessageStatus::Undelivered);
    assert!(s.status.is_terminal());
    assert_eq!(s.error_code, Some(30003));
    assert_eq!(s.raw_dlr_done_date.as_deref(), Some("2611251905"));
    assert_eq!(s.from.as_deref(), Some("+16035550123"));
    assert_eq!(
        s.extra,
        [("ApiVersion".to_owned(), "2010-04-01".to_owned())]
    );
}

#[test]
fn kind_table() {
    fn check(extra: &str, expected: WebhookKind) {
        assert_eq!(WebhookKind::of(&base(extra)), expected, "{extra}");
    }
    check("", WebhookKind::InboundMessage);
    check("&SmsStatus=received", WebhookKind::InboundMessage);
    check("&MessageStatus=+Receiving+", WebhookKind::InboundMessage);
    check("&MessageStatus=sent", WebhookKind::StatusCallback);
    check("&SmsStatus=DELIVERED", WebhookKind::StatusCallback);
    check(
        "&MessageStatus=&SmsStatus=failed",
        WebhookKind::StatusCallback,
    );
    check(
        "&MessageStatus=+&SmsStatus=received",
        WebhookKind::InboundMessage,
    );
    check(
        "&MessageStatus=queued&SmsStatus=received",
        WebhookKind::StatusCallback,
    );
}

#[test]
fn inbound_table() {
    fn check(input: &str, expected: Result<(&str, u32, usize, u32), ParseFormError>) {
        let got = InboundMessage::from_form(&form(input)).map(|m| {
            (
                m.body.clone(),
                m.num_media,
                m.media.len(),
                m.unavailable_media,
            )
        });
        let expected = expected.map(|(b, n, m, u)| (b.to_owned(), n, m, u));
        assert_eq!(got, expected, "{input}");
    }
    let head = format!("AccountSid={AC}&From=%2B1555&To=%2B1666");
    let missing = |name| Err(ParseFormError::MissingField { name });
    check(
        &format!("{head}&MessageSid={SM}&Body=+hi+"),
        Ok((" hi ", 0, 0, 0)),
    );
    check(&format!("{head}&SmsSid={SM}&Body=x"), Ok(("x", 0, 0, 0)));
    check(
        &format!("{head}&SmsMessageSid={SM}&Body=x"),
        Ok(("x", 0, 0, 0)),
    );
    check(
        &format!("{head}&MessageSid=+&SmsSid={SM}&Body=x"),
        Ok(("x", 0, 0, 0)),
    );
    check(&format!("{head}&Body=x"), missing("MessageSid"));
    check(
        &format!("MessageSid={SM}&From=a&To=b&Body=x"),
        missing("AccountSid"),
    );
    check(
        &format!("MessageSid={SM}&AccountSid={AC}&To=b&Body=x"),
        missing("From"),
    );
    check(
        &format!("MessageSid={SM}&AccountSid={AC}&From=+&To=b&Body=x"),
        missing("From"),
    );
    check(
        &format!("MessageSid={SM}&AccountSid={AC}&From=a&Body=x"),
        missing("To"),
    );
    check(
        &format!("{head}&MessageSid={SM}"),
        Err(ParseFormError::EmptyMessage),
    );
    check(
        &format!("{head}&MessageSid={SM}&Body=&NumMedia=+"),
        Err(ParseFormError::EmptyMessage),
    );
    check(
        &format!("{head}&MessageSid={SM}&NumMedia=1&MediaUrl0=u"),
        Ok(("", 1, 1, 0)),
    );
    check(
        &format!("{head}&MessageSid={SM}&NumMedia=2&MediaUrl1=u"),
        Ok(("", 2, 1, 1)),
    );
    // More than 10 declared: 10 looked at, the rest unavailable.
    let many: String = (0..12).map(|i| format!("&MediaUrl{i}=u{i}")).collect();
    check(
        &format!("{head}&MessageSid={SM}&NumMedia=12{many}"),
        Ok(("", 12, 10, 2)),
    );
    check(
        &format!("{head}&MessageSid={SM}&NumMedia=4294967295"),
        Ok(("", u32::MAX, 0, u32::MAX)),
    );
    for bad in ["-1", "1.5", "x", "4294967296"] {
        let r = InboundMessage::from_form(&form(&format!("{head}&MessageSid={SM}&NumMedia={bad}")));
        assert!(
            matches!(
                r,
                Err(ParseFormError::InvalidField {
                    name: "NumMedia",
                    ..
                })
            ),
            "{bad}"
        );
    }
    let r = InboundMessage::from_form(&form(&format!("{head}&MessageSid=SM123&Body=x")));
    assert!(matches!(
        r,
        Err(ParseFormError::InvalidField {
            name: "MessageSid",
            ..
        })
    ));
    let r = InboundMessage::from_form(&base("&Body=x&MessagingServiceSid=PN1"));
    assert!(matches!(
        r,
        Err(ParseFormError::InvalidField {
            name: "MessagingServiceSid",
            ..
        })
    ));
}

#[test]
fn opt_out_and_segments() {
    fn check(extra: &str, opt: Option<OptOutType>, segments: Option<u32>) {
        let m = InboundMessage::from_form(&base(&format!("&Body=STOP{extra}"))).unwrap();
        assert_eq!((m.opt_out_type, m.num_segments), (opt, segments), "{extra}");
    }
    check("", None, None);
    check(
        "&OptOutType=STOP&NumSegments=1",
        Some(OptOutType::Stop),
        Some(1),
    );
    check("&OptOutType=start", Some(OptOutType::Start), None);
    check(
        "&OptOutType=HELP&NumSegments=x",
        Some(OptOutType::Help),
        None,
    );
    check(
        "&OptOutType=PAUSE",
        Some(OptOutType::Other("PAUSE".to_owned())),
        None,
    );
    check("&OptOutType=", None, None);
}

#[test]
fn status_table() {
    fn check(extra: &str, expected: &Result<(MessageStatus, Option<u32>), ParseFormError>) {
        let got = StatusCallback::from_form(&base(extra)).map(|s| (s.status, s.error_code));
        assert_eq!(&got, expected, "{extra}");
    }
    check(
        "&MessageStatus=delivered",
        &Ok((MessageStatus::Delivered, None)),
    );
    check("&SmsStatus=+Sent+", &Ok((MessageStatus::Sent, None)));
    check(
        "&MessageStatus=failed&ErrorCode=30007",
        &Ok((MessageStatus::Failed, Some(30007))),
    );
    check(
        "&MessageStatus=failed&ErrorCode=",
        &Ok((MessageStatus::Failed, None)),
    );
    check(
        "&MessageStatus=partially_delivered",
        &Ok((MessageStatus::PartiallyDelivered, None)),
    );
    check(
        "&MessageStatus=Teleported",
        &Ok((MessageStatus::Other("teleported".to_owned()), None)),
    );
    check(
        "",
        &Err(ParseFormError::MissingField {
            name: "MessageStatus",
        }),
    );
    assert!(matches!(
        StatusCallback::from_form(&base("&MessageStatus=received")),
        Err(ParseFormError::InvalidField {
            name: "MessageStatus",
            ..
        })
    ));
    let no_account = form(&format!("MessageSid={SM}&MessageStatus=sent"));
    assert_eq!(
        StatusCallback::from_form(&no_account).unwrap().account_sid,
        None
    );
}

#[test]
fn status_names_round_trip() {
    for s in [
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "receiving",
        "received",
        "accepted",
        "scheduled",
        "read",
        "partially_delivered",
        "canceled",
    ] {
        let parsed = MessageStatus::parse(s);
        assert!(!matches!(parsed, MessageStatus::Other(_)), "{s}");
        assert_eq!(parsed.as_str(), s);
        assert_eq!(parsed.to_string(), s);
    }
}
