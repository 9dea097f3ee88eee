//! Signature vectors. Sources (each vector cites its own):
//! - [twilio-docs] https://www.twilio.com/docs/usage/webhooks/webhooks-security (canonical example)
//! - [python] twilio/twilio-python `tests/unit/test_request_validator.py`@30368b08
//! - [node-validation] twilio/twilio-node `spec/validation.spec.js`@005ea9cd
//! - [node-webhooks] twilio/twilio-node `spec/unit/webhooks/webhooks.spec.js`@17d127b7
//! - [go] twilio/twilio-go `client/request_validator_test.go`@2f0eb52a
//! - [java] twilio/twilio-java `src/test/java/com/twilio/security/RequestValidatorTest.java`@030d3bb1

use openclaw_twilio::form::Form;
use openclaw_twilio::signature::{
    self, Algorithm, Keys, UrlVariant, VerifyRequest, VerifySignatureError,
};
use secrecy::SecretString;

const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const TOKEN: &str = "12345";
const CANONICAL: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const JSON_BODY: &str = r#"{"property": "value", "boolean": true}"#;
const JSON_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

/// The five standard voice parameters of the canonical example, in a non-sorted order.
fn voice_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Digits", "1234"),
        ("CallSid", "CA1234567890ABCDE"),
        ("To", "+18005551212"),
        ("Caller", "+14158675309"),
        ("From", "+14158675309"),
    ]
}

fn token() -> SecretString {
    SecretString::from(TOKEN)
}

fn form_of(params: &[(&str, &str)]) -> Form {
    params.iter().copied().collect()
}

/// Verifies `params` (sent as a form body) against `url` and `sig` with token `token`.
fn verify_with(
    token: &str,
    url: &str,
    params: &[(&str, &str)],
    sig: &str,
) -> Result<UrlVariant, VerifySignatureError> {
    let form = form_of(params);
    let body = form.encode();
    let keys = Keys::new(&SecretString::from(token));
    let req = VerifyRequest::new(url, body.as_bytes()).signature(Some(sig));
    signature::verify(&req, &keys).map(|v| v.variant())
}

/// One vector: `url` + `params` signed with `token` must verify as `expected`.
fn check(token: &str, url: &str, params: &[(&str, &str)], sig: &str, expected: Option<UrlVariant>) {
    let got = verify_with(token, url, params, sig).ok();
    assert_eq!(got, expected, "url={url} sig={sig}");
}

#[test]
fn computes_the_canonical_example() {
    // [twilio-docs], [python] test_compute_signature
    assert_eq!(
        signature::compute(URL, &voice_params(), &token()),
        CANONICAL
    );
    assert_eq!(
        signature::string_to_sign(URL, &voice_params()),
        "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309\
         Digits1234From+14158675309To+18005551212"
    );
}

#[test]
fn form_vectors() {
    let p = voice_params();
    let http = URL.replace("https", "http");
    let https_1234 = URL.replace(".com", ".com:1234");
    let http_1234 = https_1234.replace("https", "http");
    let as_given = Some(UrlVariant::AsGiven);
    // [python] test_validation, [go] "returns true when validation succeeds", [java] testValidate
    check(TOKEN, URL, &p, CANONICAL, as_given);
    // [go] "returns false when validation fails", [node-validation] WRONG_SIGNATURE, [java] testFailsWhenIncorrect
    check(TOKEN, URL, &p, "WRONG SIGNATURE", None);
    check(TOKEN, URL, &p, "NOTRSOYDt4T1cUTdK1PDd93/VVr8B8=", None);
    // [python] test_validation_removes_port_on_https, [java] testValidateRemovesPortHttps
    check(
        TOKEN,
        &https_1234,
        &p,
        CANONICAL,
        Some(UrlVariant::PortRemoved),
    );
    // [python] test_validation_removes_port_on_http: signed over the http URL with :1234
    check(
        TOKEN,
        &http_1234,
        &p,
        "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        as_given,
    );
    // [python] test_validation_adds_port_on_https, [java] testValidateAddsPortHttps
    check(
        TOKEN,
        URL,
        &p,
        "kvajT1Ptam85bY51eRf/AJRuM3w=",
        Some(UrlVariant::DefaultPortAdded),
    );
    // [python] test_validation_adds_port_on_http, [go], [java] testValidateAddsPortHttp
    check(
        TOKEN,
        &http,
        &p,
        "0ZXoZLH/DfblKGATFgpif+LLRf4=",
        Some(UrlVariant::DefaultPortAdded),
    );
    // The :443 URL signed by Twilio, the request seen without the port, and back.
    check(
        TOKEN,
        &URL.replace(".com", ".com:443"),
        &p,
        "kvajT1Ptam85bY51eRf/AJRuM3w=",
        as_given,
    );
    check(
        TOKEN,
        &URL.replace(".com", ".com:443"),
        &p,
        CANONICAL,
        Some(UrlVariant::PortRemoved),
    );
    // [node-validation] "should validate urls with credentials" (and just username, and with port)
    let creds = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";
    check(TOKEN, creds, &p, "CukzLTc1tT5dXEDIHm/tKBanW10=", as_given);
    check(
        TOKEN,
        &creds.replace("user:pass", "user"),
        &p,
        "2YRLlVAflCqxaNicjMpJcSTgzSs=",
        as_given,
    );
    check(
        TOKEN,
        creds,
        &p,
        "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=",
        Some(UrlVariant::DefaultPortAdded),
    );
    // [node-validation] "should validate urls with special characters": signed over the URL
    // as given; the %27 spelling of the same URL also verifies (quote variant).
    let special = format!("{URL}&Body=It's+amazing");
    check(
        TOKEN,
        &special,
        &p,
        "dsq4Ehbj6cs+KdTkpF5sSSplOWw=",
        as_given,
    );
    let special_encoded = format!("{URL}&Body=It%27s+amazing");
    check(
        TOKEN,
        &special_encoded,
        &p,
        "dsq4Ehbj6cs+KdTkpF5sSSplOWw=",
        Some(UrlVariant::QuoteVariant),
    );
}

#[test]
fn repeated_keys_are_deduplicated_and_sorted() {
    // [python] test_compute_signature_duplicate_multi_dict / _query_dict
    let dup = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
    ];
    assert_eq!(
        signature::compute(URL, &dup, &token()),
        "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    );
    // [node-validation] "multiple params and values": Digits [5678, 1234, 1234]
    let dup3 = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ];
    check(
        TOKEN,
        URL,
        &dup3,
        "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
        Some(UrlVariant::AsGiven),
    );
    // [node-validation] array parameter, both value orders
    let sig = "83O6e2vORAoJHUNzJjDWN1jz+BA=";
    let a = [
        ("MessagingBinding.Address", "+1325xxxxxxx"),
        ("MessagingBinding.Address", "+1415xxxxxxx"),
    ];
    let b = [
        ("MessagingBinding.Address", "+1415xxxxxxx"),
        ("MessagingBinding.Address", "+1325xxxxxxx"),
    ];
    check(TOKEN, URL, &a, sig, Some(UrlVariant::AsGiven));
    check(TOKEN, URL, &b, sig, Some(UrlVariant::AsGiven));
}

#[test]
fn url_vectors_without_params() {
    // [node-webhooks], token "s3cr3t", no params: signature of the server URL checked
    // against the target URL.
    let t = "s3cr3t";
    let key = SecretString::from(t);
    let cases: &[(&str, &str, Option<UrlVariant>)] = &[
        (
            "https://example.com/path?test=param",
            "https://example.com/path?test=param2",
            None,
        ),
        (
            "https://example.com:443/path?test=param",
            "https://example.com:443/path?test=param",
            Some(UrlVariant::AsGiven),
        ),
        (
            "https://example.com:443/path?test=param",
            "https://example.com/path?test=param",
            Some(UrlVariant::DefaultPortAdded),
        ),
        (
            "https://example.com/path?test=param",
            "https://example.com/path?test=param",
            Some(UrlVariant::AsGiven),
        ),
        (
            "https://example.com/path?test=param",
            "https://example.com:443/path?test=param",
            Some(UrlVariant::PortRemoved),
        ),
        (
            "https://example.com/path?test=param'WithQuote",
            "https://example.com/path?test=param'WithQuote",
            Some(UrlVariant::AsGiven),
        ),
        (
            "https://example.com/path?test=param'WithQuote",
            "https://example.com/path?test=param%27WithQuote",
            Some(UrlVariant::QuoteVariant),
        ),
        (
            "https://example.com/path?test=param%27WithQuote",
            "https://example.com/path?test=param'WithQuote",
            Some(UrlVariant::QuoteVariant),
        ),
        (
            "https://example.com/path?test=param%27WithQuote",
            "https://example.com/path?test=param%27WithQuote",
            Some(UrlVariant::AsGiven),
        ),
        // Port and quote both differ: the fourth candidate.
        (
            "https://example.com:443/path?test=param'WithQuote",
            "https://example.com/path?test=param%27WithQuote",
            Some(UrlVariant::PortQuoteVariant),
        ),
    ];
    for (server, target, expected) in cases {
        let sig = signature::compute(server, &[] as &[(&str, &str)], &key);
        check(t, target, &[], &sig, *expected);
    }
}

#[test]
fn body_sha256_vectors() {
    let keys = Keys::new(&token());
    let run = |url: &str, body: &str, sig: &str| {
        let req = VerifyRequest::new(url, body.as_bytes()).signature(Some(sig));
        signature::verify(&req, &keys)
    };
    // [python] test_compute_hash_unicode, [java] testValidateBody
    assert_eq!(signature::body_sha256_hex(JSON_BODY.as_bytes()), JSON_HASH);
    // [python] test_validation_of_body_succeeds, [go] ValidateBody, [java] testValidateWithBody
    let with_hash = format!("{URL}&bodySHA256={JSON_HASH}");
    assert_eq!(
        with_hash,
        signature::url_with_body_sha256(URL, JSON_BODY.as_bytes())
    );
    let ok = run(&with_hash, JSON_BODY, "a9nBmqA0ju/hNViExpshrM61xv4=").unwrap();
    assert!(ok.body_sha256());
    // [go] "no other parameters", [java] testValidateWithNoOtherParameters, [node-validation] "only sha param"
    let only = format!("https://mycompany.com/myapp.php?bodySHA256={JSON_HASH}");
    run(&only, JSON_BODY, "y77kIzt2vzLz71DgmJGsen2scGs=").unwrap();
    // [node-validation] "should validate request body when empty": body "{}"
    let empty_hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    assert_eq!(signature::body_sha256_hex(b"{}"), empty_hash);
    run(
        &format!("{URL}&bodySHA256={empty_hash}"),
        "{}",
        "Ldidvp12m26NI7eqEvxnEpkd9Hc=",
    )
    .unwrap();
    // `sign_json` produces the same URL and signature as the helper libraries.
    let (signed_url, sig) = signature::sign_json(URL, JSON_BODY.as_bytes(), &token());
    assert_eq!(
        (signed_url.as_str(), sig.as_str()),
        (with_hash.as_str(), "a9nBmqA0ju/hNViExpshrM61xv4=")
    );
    // A body that does not match its hash: the URL signature is right, the body is not.
    assert_eq!(
        run(
            &with_hash,
            r#"{"property": "other"}"#,
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ),
        Err(VerifySignatureError::MismatchedBodyHash)
    );
    // [go] "returns false when validation fails", [java] testValidateBodyWithoutSignature:
    // a JSON body on a URL without bodySHA256 is not a form whose params were signed.
    assert!(run(URL, JSON_BODY, CANONICAL).is_err());
}

#[test]
fn a_json_webhook_verifies_when_the_public_url_has_a_query() {
    // The public URL is [python]'s `…/myapp.php?foo=1&bar=2`; Twilio calls it with
    // `&bodySHA256=<hex>` added and signs that (test_validation_of_body_succeeds).
    let keys = Keys::new(&token());
    let request_query = format!("foo=1&bar=2&bodySHA256={JSON_HASH}");
    let urls = signature::webhook_urls(URL, Some(&request_query));
    assert_eq!(
        urls,
        [URL.to_owned(), format!("{URL}&bodySHA256={JSON_HASH}")]
    );
    let request = VerifyRequest::new("", JSON_BODY.as_bytes())
        .signature(Some("a9nBmqA0ju/hNViExpshrM61xv4="));
    let verified = signature::verify_urls(&urls, &request, &keys).unwrap();
    assert!(verified.body_sha256());
    // The configured URL alone (as before) refuses it.
    let only_configured = [signature::webhook_url(URL, Some(&request_query))];
    assert!(signature::verify_urls(&only_configured, &request, &keys).is_err());
    // Another body under the same signed URL: the hash does not match.
    let tampered = VerifyRequest::new("", br#"{"property": "other"}"#)
        .signature(Some("a9nBmqA0ju/hNViExpshrM61xv4="));
    assert_eq!(
        signature::verify_urls(&urls, &tampered, &keys),
        Err(VerifySignatureError::MismatchedBodyHash)
    );
    // A wrong signature lists the candidates of both URLs.
    let wrong = VerifyRequest::new("", JSON_BODY.as_bytes()).signature(Some(CANONICAL));
    let err = signature::verify_urls(&urls, &wrong, &keys).unwrap_err();
    assert!(err.tried().len() >= 4, "{:?}", err.tried());
    assert!(err.tried().iter().any(|u| u.contains("bodySHA256")));
    // A form webhook on the same public URL still verifies against the URL as configured.
    let p = voice_params();
    let body = form_of(&p).encode();
    let sig = signature::compute(URL, &p, &token());
    let urls = signature::webhook_urls(URL, Some("foo=1&bar=2"));
    let form_request = VerifyRequest::new("", body.as_bytes()).signature(Some(&sig));
    signature::verify_urls(&urls, &form_request, &keys).unwrap();
}

#[test]
fn edge_cases() {
    let p = voice_params();
    // Empty values are signed as the bare name.
    let empty = [("Body", ""), ("WaId", ""), ("To", "+1")];
    let s = signature::string_to_sign("https://a.example/x", &empty);
    assert_eq!(s, "https://a.example/xBodyTo+1WaId");
    let sig = signature::compute("https://a.example/x", &empty, &token());
    check(
        TOKEN,
        "https://a.example/x",
        &empty,
        &sig,
        Some(UrlVariant::AsGiven),
    );
    // Names are case-sensitive and sorted byte-wise: upper case before lower case.
    assert_eq!(
        signature::string_to_sign(
            "u",
            &[
                ("body", "b"),
                ("Body", "B"),
                ("Reason", "r"),
                ("ReasonConferenceEnded", "e")
            ]
        ),
        "uBodyBReasonrReasonConferenceEndedebodyb"
    );
    let mixed = [("body", "x"), ("Body", "y")];
    let sig = signature::compute(URL, &mixed, &token());
    check(TOKEN, URL, &mixed, &sig, Some(UrlVariant::AsGiven));
    check(TOKEN, URL, &[("body", "y"), ("Body", "x")], &sig, None);
    // UTF-8 values, untrimmed.
    let utf8 = [("Body", " Grüße 👋 "), ("From", "+4930123")];
    let sig = signature::compute(URL, &utf8, &token());
    check(TOKEN, URL, &utf8, &sig, Some(UrlVariant::AsGiven));
    check(
        TOKEN,
        URL,
        &[("Body", "Grüße 👋"), ("From", "+4930123")],
        &sig,
        None,
    );
    // A signature over mis-sorted names (arrival order instead of byte order) is rejected
    // (twilio-go "return false when params are sorted incorrectly").
    let unsorted: String = p.iter().map(|(k, v)| format!("{k}{v}")).collect();
    let bad = signature::compute(
        &format!("{URL}{unsorted}"),
        &[] as &[(&str, &str)],
        &token(),
    );
    check(TOKEN, URL, &p, &bad, None);
    // Truncated, padded-away, re-cased and empty signatures are rejected.
    check(TOKEN, URL, &p, &CANONICAL[..CANONICAL.len() - 1], None);
    check(TOKEN, URL, &p, &CANONICAL[..20], None);
    check(TOKEN, URL, &p, &CANONICAL.to_lowercase(), None);
    check(TOKEN, URL, &p, &format!("{CANONICAL} "), None);
    assert_eq!(
        verify_with(TOKEN, URL, &p, ""),
        Err(VerifySignatureError::MissingSignature)
    );
    // The wrong token.
    check("54321", URL, &p, CANONICAL, None);
    // A fragment (Twilio connection overrides) is not signed.
    check(
        TOKEN,
        &format!("{URL}#ct=1000&rc=2"),
        &p,
        CANONICAL,
        Some(UrlVariant::AsGiven),
    );
    assert_eq!(
        signature::compute(&format!("{URL}#rp=ct"), &p, &token()),
        CANONICAL
    );
}

#[test]
fn missing_header_and_bad_form() {
    let keys = Keys::new(&token());
    let req = VerifyRequest::new(URL, b"a=1");
    assert_eq!(
        signature::verify(&req, &keys),
        Err(VerifySignatureError::MissingSignature)
    );
    let req = VerifyRequest::new(URL, b"a=%zz").signature(Some(CANONICAL));
    assert!(matches!(
        signature::verify(&req, &keys),
        Err(VerifySignatureError::ParseForm(_))
    ));
}

#[test]
fn a_wrong_token_is_named_as_a_possible_cause() {
    // The canonical signature of URL, verified with another token: every URL fails, and the
    // message does not blame the URL alone.
    let err = verify_with("not-the-token", URL, &voice_params(), CANONICAL).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("matches none of the URLs with this token: check the token and the URL"),
        "{shown}"
    );
    assert!(!shown.contains("not-the-token"), "{shown}");
}

#[test]
fn failure_lists_candidates_without_secrets() {
    let url = "https://user:hunter2@mycompany.com/sms?x=it's#ct=100";
    let err = verify_with(TOKEN, url, &voice_params(), CANONICAL).unwrap_err();
    assert_eq!(
        err.tried(),
        [
            "https://***@mycompany.com/sms?x=it's",
            "https://***@mycompany.com:443/sms?x=it's",
            "https://***@mycompany.com/sms?x=it%27s",
            "https://***@mycompany.com:443/sms?x=it%27s",
        ]
    );
    let shown = err.to_string();
    // A wrong token and a wrong URL look alike: the message names both (issue 21).
    assert!(shown.starts_with("the signature matches none of the URLs with this token: check the token and the URL (HMAC_SHA1; tried <https://***@mycompany.com/sms?x=it's>, "), "{shown}");
    assert!(
        !shown.contains("hunter2") && !shown.contains(TOKEN),
        "{shown}"
    );
    assert!(!format!("{err:?}").contains("hunter2"));
    let keys = Keys::new(&token()).with_shared_key("KS1", &SecretString::from("sharedsecret"));
    let dbg = format!("{keys:?}");
    assert!(
        !dbg.contains(TOKEN) && !dbg.contains("sharedsecret") && dbg.contains("KS1"),
        "{dbg}"
    );
}

#[test]
fn shared_key_signing() {
    let secret = SecretString::from("shared-secret-value");
    let keys = Keys::new(&token()).with_shared_key("KSabc", &secret);
    let p = voice_params();
    let body = form_of(&p).encode();
    let sig256 = signature::compute_with(Algorithm::HmacSha256, URL, &p, &secret);
    assert_eq!(sig256.len(), 44);
    let run = |sig: &str, settings: Option<&str>| {
        let req = VerifyRequest::new(URL, body.as_bytes())
            .signature(Some(sig))
            .signature_settings(settings);
        signature::verify(&req, &keys)
    };
    let ok = run(&sig256, Some("key=KSabc,algorithm=HMAC_SHA256")).unwrap();
    assert_eq!(ok.algorithm(), Algorithm::HmacSha256);
    run(&sig256, Some("algorithm=HMAC_SHA256, key=KSabc")).unwrap();
    // Without the header the Auth Token (SHA-1) is used, so the SHA-256 signature fails.
    assert!(run(&sig256, None).is_err());
    // The SHA-1 signature does not pass when the header demands the shared key.
    assert!(run(CANONICAL, Some("key=KSabc,algorithm=HMAC_SHA256")).is_err());
    assert_eq!(
        run(&sig256, Some("key=KSother,algorithm=HMAC_SHA256")),
        Err(VerifySignatureError::UnknownSharedKey {
            key_id: "KSother".to_owned()
        })
    );
    for bad in [
        "key=KSabc,algorithm=HMAC_MD5",
        "key=KSabc",
        "algorithm=HMAC_SHA256",
        "garbage",
    ] {
        assert!(
            matches!(
                run(&sig256, Some(bad)),
                Err(VerifySignatureError::InvalidSignatureSettings { .. })
            ),
            "{bad}"
        );
    }
    // A verifier without a shared key refuses shared-key requests.
    let plain = Keys::new(&token());
    let req = VerifyRequest::new(URL, body.as_bytes())
        .signature(Some(&sig256))
        .signature_settings(Some("key=KSabc,algorithm=HMAC_SHA256"));
    assert!(matches!(
        signature::verify(&req, &plain),
        Err(VerifySignatureError::UnknownSharedKey { .. })
    ));
}

#[test]
fn pre_parsed_form_gives_the_same_answer() {
    let form = form_of(&voice_params());
    let body = form.encode();
    let keys = Keys::new(&token());
    let req = VerifyRequest::new(URL, body.as_bytes())
        .form(&form)
        .signature(Some(CANONICAL));
    assert_eq!(
        signature::verify(&req, &keys).unwrap().variant(),
        UrlVariant::AsGiven
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever is signed with `compute` verifies, in any arrival order.
        #[test]
        fn compute_then_verify(
            pairs in proptest::collection::vec(("[A-Za-z]{1,6}", "\\PC{0,8}"), 0..10),
            path in "[a-z]{0,8}",
        ) {
            let url = format!("https://example.com/{path}?q=1");
            let params: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let sig = signature::compute(&url, &params, &token());
            let mut reversed = params.clone();
            reversed.reverse();
            prop_assert_eq!(verify_with(TOKEN, &url, &reversed, &sig), Ok(UrlVariant::AsGiven));
        }

        /// Changing any value byte breaks the signature.
        #[test]
        fn tampered_value_fails(value in "[a-z]{1,8}", extra in "[a-z]") {
            let params = [("Body", value.as_str())];
            let sig = signature::compute(URL, &params, &token());
            let tampered = format!("{value}{extra}");
            prop_assert!(verify_with(TOKEN, URL, &[("Body", tampered.as_str())], &sig).is_err());
        }
    }
}
