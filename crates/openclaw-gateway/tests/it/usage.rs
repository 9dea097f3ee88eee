//! `sms usage`: what was sent, by day and by sender, against what the simulator recorded.

use serde_json::json;

use crate::harness::{FakeTwilio, PHONE, Sandbox};

fn configured() -> (FakeTwilio, Sandbox) {
    let twilio = FakeTwilio::start(None);
    let sandbox = Sandbox::new();
    let mut sms = twilio.sms_section();
    sms["budgets"] = json!({"pricePerSegment": {"1": {"amount": 0.0079, "currency": "USD"}}});
    sandbox.write_config(&json!({"channels": {"sms": sms}}));
    (twilio, sandbox)
}

fn send(sandbox: &Sandbox, text: &str) {
    let out = sandbox.run(&[
        "message",
        "send",
        "--channel",
        "sms",
        "--target",
        PHONE,
        "--message",
        text,
    ]);
    assert_eq!(out.code, Some(0), "{}", out.render());
}

#[test]
fn usage_json_agrees_with_the_segments_the_simulator_recorded() {
    let (twilio, sandbox) = configured();
    send(&sandbox, "hello");
    // UCS-2 (the emoji) and long: several segments in one message.
    send(&sandbox, &"See you soon 👋 ".repeat(12));
    let recorded = twilio.segments_to(PHONE);
    assert!(recorded > 2, "{recorded}");
    let out = sandbox.run(&["sms", "usage", "--json"]);
    assert_eq!(out.code, Some(0), "{}", out.render());
    let report = out.json();
    assert_eq!(report["total"]["segments"], recorded);
    assert_eq!(report["total"]["messages"], 2);
    let senders = report["senders"].as_array().unwrap();
    assert_eq!(senders.len(), 1);
    assert_eq!(senders[0]["sender"], PHONE);
    assert_eq!(senders[0]["segments"], recorded);
    #[allow(clippy::cast_precision_loss, reason = "a handful of segments")]
    let cost = (recorded as f64 * 0.0079 * 1e6).round() / 1e6;
    assert_eq!(report["total"]["estimatedCost"], json!({"USD": cost}));
    assert_eq!(report["days"].as_array().unwrap().len(), 1);
    // The same account by name; nothing from a day in the future on.
    let out = sandbox.run(&["sms", "usage", "--account", "default", "--json"]);
    assert_eq!(out.json()["total"]["segments"], recorded);
    let out = sandbox.run(&["sms", "usage", "--since", "2999-01-01", "--json"]);
    assert_eq!(out.json()["total"]["segments"], 0);
    // The table names the sender and the total.
    let out = sandbox.run(&["sms", "usage"]);
    assert_eq!(out.code, Some(0), "{}", out.render());
    assert!(out.stdout.contains(PHONE), "{}", out.render());
    assert!(
        out.stdout
            .contains(&format!("Total: {recorded} segment(s), 2 message(s)")),
        "{}",
        out.render()
    );
}

#[test]
fn a_bad_since_date_is_refused_with_the_format() {
    let (_twilio, sandbox) = configured();
    let out = sandbox.run(&["sms", "usage", "--since", "2026-02-30"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(
        out.stderr
            .contains("--since \"2026-02-30\" is not a date; use YYYY-MM-DD"),
        "{}",
        out.render()
    );
}
