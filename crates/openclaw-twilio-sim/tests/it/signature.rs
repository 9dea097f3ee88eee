//! Signatures the simulator makes verify with `openclaw-twilio`, over the exact bytes sent.

use openclaw_twilio::signature::{self, Keys, VerifyRequest};
use openclaw_twilio_sim::{SimAccount, SimConfig, SimNumber, WebhookMethod};
use secrecy::SecretString;

use crate::support::{
    ACCOUNT, AUTH, NUMBER, PHONE, Recorded, Recorder, TOKEN, TestResult, account, call,
    messages_path, start, start_with,
};

fn verify(url: &str, r: &Recorded, token: &str) -> Result<(), signature::VerifySignatureError> {
    let header = r.header("x-twilio-signature");
    let request = VerifyRequest::new(url, &r.body).signature(header.as_deref());
    signature::verify(&request, &Keys::new(&SecretString::from(token))).map(|_| ())
}

#[tokio::test]
async fn inbound_webhook_signature_verifies() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    // Characters that need encoding, to prove the body is encoded exactly as signed.
    sim.phone(PHONE)?
        .text(NUMBER, "héllo + world & 100% ✓ a=b")
        .await?;
    let r = hook.requests().pop().ok_or("no webhook")?;
    let url = format!("{}/webhooks/sms", hook.base);
    verify(&url, &r, TOKEN)?;
    assert!(verify(&url, &r, "another-token").is_err());
    assert!(verify(&format!("{}/webhooks/other", hook.base), &r, TOKEN).is_err());
    let mut tampered = r.clone();
    tampered.body = String::from_utf8(r.body.clone())?
        .replace("world", "w0rld")
        .into_bytes();
    assert!(verify(&url, &tampered, TOKEN).is_err());
    Ok(())
}

#[tokio::test]
async fn signature_covers_the_configured_url_with_query_not_the_fragment() -> TestResult {
    let hook = Recorder::ok().await?;
    let configured = format!("{}/webhooks/sms?account=main#rc=3", hook.base);
    let account = SimAccount::new(ACCOUNT, TOKEN)
        .with_number(SimNumber::new(NUMBER).with_sms_url(configured));
    let sim = start_with(SimConfig::new().with_account(account)).await?;
    sim.phone(PHONE)?.text(NUMBER, "hi").await?;
    let r = hook.requests().pop().ok_or("no webhook")?;
    assert_eq!(r.uri, "/webhooks/sms?account=main");
    verify(
        &format!("{}/webhooks/sms?account=main", hook.base),
        &r,
        TOKEN,
    )?;
    Ok(())
}

#[tokio::test]
async fn get_webhook_signature_covers_the_full_url() -> TestResult {
    let hook = Recorder::ok().await?;
    let account = SimAccount::new(ACCOUNT, TOKEN).with_number(
        SimNumber::new(NUMBER)
            .with_sms_url(format!("{}/get", hook.base))
            .with_sms_method(WebhookMethod::Get),
    );
    let sim = start_with(SimConfig::new().with_account(account)).await?;
    sim.phone(PHONE)?.text(NUMBER, "by get").await?;
    let r = hook.requests().pop().ok_or("no webhook")?;
    verify(&format!("{}{}", hook.base, r.uri), &r, TOKEN)?;
    Ok(())
}

#[tokio::test]
async fn status_callback_signatures_verify() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start_with(SimConfig::new().with_account(account(&hook.base))).await?;
    let callback = format!("{}/status", hook.base);
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
    sim.wait_for_status_callbacks(3, std::time::Duration::from_secs(10))
        .await;
    let requests = hook.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        verify(&callback, r, TOKEN)?;
    }
    Ok(())
}

#[test]
fn twilio_published_example_through_openclaw_twilio() -> TestResult {
    // The canonical vector (twilio-python tests/unit/test_request_validator.py, twilio-node
    // spec/validation.spec.js): the body as a form POST, verified by the same crate whose
    // `compute` the simulator signs with.
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
    let request = VerifyRequest::new("https://mycompany.com/myapp.php?foo=1&bar=2", body)
        .signature(Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    signature::verify(&request, &Keys::new(&SecretString::from("12345")))?;
    Ok(())
}
