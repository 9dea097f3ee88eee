//! Fuzz the Twilio signature verifier (`openclaw-twilio`): URL candidates, settings header,
//! bodySHA256 and form bodies. Input: `url \n signature \n settings \n body`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw_twilio::form::Form;
use openclaw_twilio::signature::{self, Keys, VerifyRequest};
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let (Some(url), Some(sig), Some(settings), Some(body)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let (Ok(url), Ok(sig), Ok(settings)) =
        (std::str::from_utf8(url), std::str::from_utf8(sig), std::str::from_utf8(settings))
    else {
        return;
    };
    let token = SecretString::from("12345");
    let keys = Keys::new(&token).with_shared_key("KS1", &SecretString::from("shared"));
    let settings = (!settings.is_empty()).then_some(settings);
    let req = VerifyRequest::new(url, body).signature(Some(sig)).signature_settings(settings);
    if let Err(e) = signature::verify(&req, &keys) {
        // Failures explain themselves without the secret.
        assert!(!e.to_string().contains("12345") || url.contains("12345"));
    }
    // Whatever `compute` signs, `verify` accepts as given (form bodies, no bodySHA256).
    if !url.contains("bodySHA256=") {
        if let Ok(form) = Form::parse(body) {
            let good = signature::compute(url, form.pairs(), &token);
            let req = VerifyRequest::new(url, body).signature(Some(&good));
            let verified = signature::verify(&req, &Keys::new(&token)).expect("own signature");
            assert_eq!(verified.variant(), signature::UrlVariant::AsGiven);
        }
    }
});
