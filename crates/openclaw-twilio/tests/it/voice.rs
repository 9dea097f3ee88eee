//! Voice webhooks: classification beside the messaging kinds, typed parsing, and Twilio's
//! published voice signature example
//! (https://www.twilio.com/docs/usage/webhooks/webhooks-security).

use openclaw_twilio::form::{Form, ParseFormError};
use openclaw_twilio::signature::{self, Keys, VerifyRequest};
use openclaw_twilio::voice::{CallStatus, CallStatusCallback, GatherResult, IncomingCall};
use openclaw_twilio::webhook::WebhookKind;
use secrecy::SecretString;

const CALL: &str = "CA0123456789abcdef0123456789abcdef";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const MESSAGE: &str = "SM0123456789abcdef0123456789abcdef";

fn form(pairs: &[(&str, &str)]) -> Form {
    pairs.iter().copied().collect()
}

fn call(extra: &[(&'static str, &'static str)]) -> Form {
    let mut pairs = vec![
        ("CallSid", CALL),
        ("AccountSid", ACCOUNT),
        ("From", "+14155550100"),
        ("To", "+14155550199"),
    ];
    pairs.extend_from_slice(extra);
    form(&pairs)
}

#[test]
fn kinds_table() {
    let check = |f: &Form, expected: WebhookKind| assert_eq!(WebhookKind::of(f), expected, "{f:?}");
    check(
        &call(&[("CallStatus", "ringing"), ("Direction", "inbound")]),
        WebhookKind::IncomingCall,
    );
    check(
        &call(&[("CallStatus", "in-progress")]),
        WebhookKind::IncomingCall,
    );
    check(
        &call(&[("CallStatus", "completed"), ("CallDuration", "12")]),
        WebhookKind::CallStatus,
    );
    check(
        &call(&[("CallStatus", "NO-ANSWER")]),
        WebhookKind::CallStatus,
    );
    check(
        &call(&[
            ("CallStatus", "ringing"),
            ("CallbackSource", "call-progress-events"),
        ]),
        WebhookKind::CallStatus,
    );
    check(
        &call(&[("CallStatus", "in-progress"), ("Digits", "42#")]),
        WebhookKind::Gather,
    );
    check(
        &call(&[("CallStatus", "in-progress"), ("SpeechResult", "")]),
        WebhookKind::Gather,
    );
    // A messaging form that happens to carry a CallSid stays a messaging form.
    check(
        &form(&[("MessageSid", MESSAGE), ("CallSid", CALL), ("Body", "hi")]),
        WebhookKind::InboundMessage,
    );
    check(
        &form(&[("MessageSid", MESSAGE), ("MessageStatus", "delivered")]),
        WebhookKind::StatusCallback,
    );
    // A blank CallSid is not a call.
    check(
        &form(&[("CallSid", " "), ("Body", "hi")]),
        WebhookKind::InboundMessage,
    );
    assert!(WebhookKind::Gather.is_voice());
    assert!(!WebhookKind::InboundMessage.is_voice());
}

#[test]
fn incoming_call_keeps_caller_ids_as_sent() {
    for from in [
        "+14155550100",
        "client:alice",
        "sip:alice@example.com",
        "anonymous",
    ] {
        let mut pairs = vec![
            ("CallSid", CALL),
            ("AccountSid", ACCOUNT),
            ("To", "+14155550199"),
        ];
        pairs.push(("From", from));
        pairs.push(("CallStatus", "ringing"));
        pairs.push(("FromCity", "SAN FRANCISCO"));
        let call = IncomingCall::from_form(&form(&pairs)).unwrap();
        assert_eq!(call.from, from);
        assert_eq!(call.call_status, CallStatus::Ringing);
        assert_eq!(call.call_sid.as_str(), CALL);
        assert_eq!(
            call.extra,
            vec![("FromCity".to_owned(), "SAN FRANCISCO".to_owned())]
        );
        let debug = format!("{call:?}");
        assert!(!debug.contains(from), "{debug}");
    }
}

#[test]
fn incoming_call_errors_name_the_field() {
    let missing = form(&[
        ("CallSid", CALL),
        ("AccountSid", ACCOUNT),
        ("To", "+1"),
        ("CallStatus", "ringing"),
    ]);
    assert_eq!(
        IncomingCall::from_form(&missing),
        Err(ParseFormError::MissingField { name: "From" })
    );
    let bad_sid = form(&[
        ("CallSid", "CA123"),
        ("AccountSid", ACCOUNT),
        ("From", "+1"),
        ("To", "+1"),
        ("CallStatus", "ringing"),
    ]);
    assert!(matches!(
        IncomingCall::from_form(&bad_sid),
        Err(ParseFormError::InvalidField {
            name: "CallSid",
            ..
        })
    ));
}

#[test]
fn call_status_callback_reads_counts() {
    let f = call(&[
        ("CallStatus", "completed"),
        ("CallDuration", "37"),
        ("SequenceNumber", "3"),
        ("CallbackSource", "call-progress-events"),
        ("Timestamp", "Fri, 04 Dec 2026 09:00:00 +0000"),
    ]);
    let status = CallStatusCallback::from_form(&f).unwrap();
    assert_eq!(status.call_status, CallStatus::Completed);
    assert!(status.call_status.is_final());
    assert_eq!(status.call_duration, Some(37));
    assert_eq!(status.sequence_number, Some(3));
    assert_eq!(
        status.callback_source.as_deref(),
        Some("call-progress-events")
    );
    let bad = call(&[("CallStatus", "completed"), ("CallDuration", "-1")]);
    assert!(matches!(
        CallStatusCallback::from_form(&bad),
        Err(ParseFormError::InvalidField {
            name: "CallDuration",
            ..
        })
    ));
}

#[test]
fn call_status_table() {
    for (raw, status, is_final) in [
        ("queued", CallStatus::Queued, false),
        ("initiated", CallStatus::Initiated, false),
        ("ringing", CallStatus::Ringing, false),
        (" In-Progress ", CallStatus::InProgress, false),
        ("completed", CallStatus::Completed, true),
        ("busy", CallStatus::Busy, true),
        ("failed", CallStatus::Failed, true),
        ("no-answer", CallStatus::NoAnswer, true),
        ("canceled", CallStatus::Canceled, true),
        ("paused", CallStatus::Other("paused".to_owned()), false),
    ] {
        let parsed = CallStatus::parse(raw);
        assert_eq!(parsed, status, "{raw}");
        assert_eq!(parsed.is_final(), is_final, "{raw}");
        assert_eq!(CallStatus::parse(parsed.as_str()), parsed);
    }
}

#[test]
fn gather_result_speech_digits_and_confidence() {
    let speech = GatherResult::from_form(&call(&[
        ("SpeechResult", " What time is it? "),
        ("Confidence", "0.87"),
    ]))
    .unwrap();
    assert_eq!(speech.speech_result.as_deref(), Some(" What time is it? "));
    assert_eq!(speech.digits, None);
    assert_eq!(speech.confidence, Some(0.87));
    assert!(!format!("{speech:?}").contains("What time"));

    let digits = GatherResult::from_form(&call(&[("Digits", "1234#")])).unwrap();
    assert_eq!(digits.digits.as_deref(), Some("1234#"));
    assert_eq!(digits.speech_result, None);

    let empty = GatherResult::from_form(&call(&[("SpeechResult", "  ")])).unwrap();
    assert_eq!(empty.speech_result, None);

    for bad in ["1.5", "-0.1", "NaN", "inf", "high"] {
        let f = call(&[("SpeechResult", "hi"), ("Confidence", bad)]);
        assert!(
            matches!(
                GatherResult::from_form(&f),
                Err(ParseFormError::InvalidField {
                    name: "Confidence",
                    ..
                })
            ),
            "{bad}"
        );
    }
    assert_eq!(
        GatherResult::from_form(&call(&[("CallStatus", "in-progress")])),
        Err(ParseFormError::MissingField { name: "Digits" })
    );
}

/// Twilio's published example is a voice gather webhook: it verifies, classifies as a gather,
/// and its shortened example CallSid is refused by the typed parser with the field named.
#[test]
fn twilio_published_voice_example() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let f = form(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]);
    let token = SecretString::from("12345");
    let body = f.encode();
    let request = VerifyRequest::new(url, body.as_bytes())
        .form(&f)
        .signature(Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    signature::verify(&request, &Keys::new(&token)).unwrap();
    assert_eq!(WebhookKind::of(&f), WebhookKind::Gather);
    assert!(matches!(
        GatherResult::from_form(&f),
        Err(ParseFormError::InvalidField {
            name: "CallSid",
            ..
        })
    ));
}
