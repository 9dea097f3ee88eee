//! Fuzz the Twilio webhook form parser and the typed webhook readers (`openclaw-twilio`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw_twilio::form::Form;
use openclaw_twilio::webhook::{InboundMessage, StatusCallback, WebhookKind};

fuzz_target!(|data: &[u8]| {
    let Ok(form) = Form::parse(data) else {
        return;
    };
    // What we encode parses back to the same pairs (the simulator relies on this).
    let again = Form::parse(form.encode().as_bytes()).expect("encoded form parses");
    assert_eq!(again, form);
    let _ = WebhookKind::of(&form);
    if let Ok(m) = InboundMessage::from_form(&form) {
        assert!(m.media.len() <= openclaw_twilio::webhook::MAX_INBOUND_MEDIA);
        let counted = u64::try_from(m.media.len()).unwrap() + u64::from(m.unavailable_media);
        assert_eq!(counted, u64::from(m.num_media));
        assert!(!m.body.is_empty() || m.num_media > 0);
    }
    let _ = StatusCallback::from_form(&form);
});
