//! `openclaw gateway` start-up as a first-time user meets it: the agent it needs, a port that is
//! taken, and what the other commands see of a running `gateway --dev`.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{FakeTwilio, PHONE, Sandbox};
use crate::snap;
use crate::state::{Background, wait_for_the_gateway};

/// The explicit test agent.
fn echo_agent() -> Value {
    json!({"defaults": {"model": {"primary": "echo"}}})
}

#[test]
fn a_gateway_without_a_model_refuses_to_start_and_names_the_choices() {
    let twilio = FakeTwilio::start(None);
    let mut sandbox = Sandbox::new();
    sandbox.env("RUST_LOG", "error");
    sandbox.write_config(&json!({"channels": {"sms": twilio.sms_section()}}));
    let out = sandbox.run(&["gateway", "--port", "0"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    for choice in [
        "no agent is configured",
        "api: \"openclaw-gateway\"",
        "docs/channels/sms.md#use-your-openclaw-agent",
        "api: \"openai-completions\"",
        "api: \"command\"",
        "agents.defaults.model.primary: \"echo\"",
    ] {
        assert!(out.stderr.contains(choice), "{choice}: {}", out.render());
    }
    snap!("gateway_no_model", out);
}

#[test]
fn an_openclaw_config_with_a_vendor_model_says_what_to_do() {
    let mut sandbox = Sandbox::new();
    sandbox.env("RUST_LOG", "error");
    sandbox.write_config(&json!({
        "agents": {"defaults": {"model": {"primary": "anthropic/claude-opus-4-5"}}},
    }));
    let out = sandbox.run(&["gateway", "--port", "0"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    for needle in [
        "models.providers.anthropic is not configured",
        "served by OpenClaw's own gateway",
        "api: \"openclaw-gateway\"",
        "api: \"openai-completions\"",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.render());
    }
    snap!("gateway_vendor_model", out);
}

#[test]
fn a_port_held_by_another_program_is_named_as_such() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port().to_string();
    let mut sandbox = Sandbox::new();
    sandbox.env("RUST_LOG", "error");
    sandbox.write_config(&json!({"agents": echo_agent()}));
    let out = sandbox.run(&["gateway", "--port", &port]);
    drop(holder);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(
        out.stderr.contains(&format!(
            "port {port} is used by another program — OpenClaw's own gateway uses 18789 by default; set gateway.port or --port"
        )),
        "{}",
        out.render()
    );
    assert!(
        !out.stderr.contains("openclaw SMS gateway"),
        "{}",
        out.render()
    );
}

#[test]
fn an_explicit_echo_agent_answers_and_a_second_gateway_names_the_first() {
    let mut sandbox = Sandbox::new();
    sandbox.env("RUST_LOG", "error");
    let port = sandbox.gateway_port();
    let webhook = format!("http://127.0.0.1:{port}/webhooks/sms");
    let twilio = FakeTwilio::start(Some(&webhook));
    let mut sms = twilio.sms_section();
    sms["publicWebhookUrl"] = json!(webhook);
    sms["dmPolicy"] = json!("open");
    sms["allowFrom"] = json!(["*"]);
    sandbox.write_config(&json!({"agents": echo_agent(), "channels": {"sms": sms}}));
    let port_arg = port.to_string();
    let gateway = Background(sandbox.spawn_background(&["gateway", "--port", &port_arg]));
    wait_for_the_gateway(&sandbox);
    twilio.text_from(PHONE, "hello");
    let deadline = Instant::now() + Duration::from_secs(30);
    while twilio.bodies_to(PHONE).is_empty() {
        assert!(Instant::now() < deadline, "no reply");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(twilio.bodies_to(PHONE), ["Echo: hello"]);
    // The same port again: the error names the gateway that holds it.
    let second = sandbox.run(&["gateway", "--port", &port_arg]);
    let pid = gateway.0.id();
    drop(gateway);
    assert_eq!(second.code, Some(1), "{}", second.render());
    assert!(
        second.stderr.contains(&format!(
            // The harness writes the sandbox's port as [PORT].
            "another openclaw SMS gateway (pid {pid}) already runs on port [PORT]"
        )),
        "{}",
        second.render()
    );
}

/// The benchmark's switch (`OPENCLAW_BENCH_HOLD_PUMP=1`): the webhook is accepted and the
/// text queued durably, the log says the pump is held, nothing is answered; a start without the
/// switch answers the queued text.
#[test]
fn the_bench_pump_hold_queues_texts_and_a_normal_start_answers_them() {
    let mut sandbox = Sandbox::new();
    sandbox.env("RUST_LOG", "warn");
    let port = sandbox.gateway_port();
    let webhook = format!("http://127.0.0.1:{port}/webhooks/sms");
    let twilio = FakeTwilio::start(Some(&webhook));
    let mut sms = twilio.sms_section();
    sms["publicWebhookUrl"] = json!(webhook);
    sms["dmPolicy"] = json!("open");
    sms["allowFrom"] = json!(["*"]);
    sandbox.write_config(&json!({"agents": echo_agent(), "channels": {"sms": sms}}));
    sandbox.env("OPENCLAW_BENCH_HOLD_PUMP", "1");
    let held = sandbox.spawn_gateway();
    wait_for_the_gateway(&sandbox);
    twilio.text_from(PHONE, "hello");
    let status = sandbox.run(&["state", "status", "--json"]);
    assert_eq!(
        status.json()["queueDepth"]["default"],
        1,
        "{}",
        status.render()
    );
    assert!(twilio.bodies_to(PHONE).is_empty(), "a held pump answered");
    drop(held);
    assert!(
        sandbox
            .gateway_log()
            .contains("OPENCLAW_BENCH_HOLD_PUMP=1: the pump is held"),
        "{}",
        sandbox.gateway_log()
    );
    // Any value but `1` is off (the last setting of a variable wins).
    sandbox.env("OPENCLAW_BENCH_HOLD_PUMP", "0");
    let _running = sandbox.spawn_gateway();
    let deadline = Instant::now() + Duration::from_secs(30);
    while twilio.bodies_to(PHONE).is_empty() {
        assert!(Instant::now() < deadline, "no reply after the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(twilio.bodies_to(PHONE), ["Echo: hello"]);
}

#[test]
fn status_and_pairing_see_a_running_dev_gateway() {
    // No config file at all: the dev gateway's account exists only in the running process.
    let sandbox = Sandbox::new();
    let port = sandbox.gateway_port().to_string();
    let gateway = Background(sandbox.spawn_background(&["gateway", "--dev", "--port", &port]));
    wait_for_the_gateway(&sandbox);

    let status = sandbox.run(&["channels", "status", "--probe", "--json"]);
    assert_eq!(status.code, Some(0), "{}", status.render());
    let json = status.json();
    let row = &json["channelAccounts"]["sms"][0];
    assert_eq!(row["accountId"], "default", "{}", status.render());
    assert_eq!(row["source"], "gateway", "{}", status.render());
    assert_eq!(row["sender"], "+15551234567", "{}", status.render());
    assert_eq!(row["running"], true, "{}", status.render());
    assert_eq!(row["configured"], true, "{}", status.render());
    assert_eq!(row["probe"]["ok"], true, "{}", status.render());
    assert_eq!(json["channels"]["sms"]["configured"], true);

    let text = sandbox.run(&["channels", "status", "--probe"]);
    assert_eq!(text.code, Some(0), "{}", text.render());
    assert!(
        !text.stdout.contains("No SMS account is configured"),
        "{}",
        text.render()
    );
    assert!(
        text.stdout.contains(&format!(
            "Running in a local gateway: yes (pid {}, --dev with the local Twilio at http://127.0.0.1:",
            gateway.0.id()
        )),
        "{}",
        text.render()
    );
    assert!(text.stdout.contains("Probe: ok"), "{}", text.render());
    let plugins = sandbox.run(&["plugins", "list"]);
    assert!(
        plugins
            .stdout
            .contains("(built in, not installed; channel running in the local gateway)"),
        "{}",
        plugins.render()
    );

    // The demo's three commands: a code, the approval (the held message will be answered),
    // then the answers; each `sim text` returns with the replies of its message.
    let first = sandbox.run(&["sim", "text", "hello"]);
    assert_eq!(first.code, Some(0), "{}", first.render());
    let code = first
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Pairing code: "))
        .unwrap_or_else(|| panic!("no pairing code: {}", first.render()))
        .to_owned();
    let approved = sandbox.run(&["pairing", "approve", "sms", &code]);
    assert_eq!(
        approved.stdout,
        "Approved sms sender +15557654321.\nTheir first message is queued and will be answered by the gateway.\n",
        "{}",
        approved.render()
    );
    let second = sandbox.run(&["sim", "text", "again"]);
    assert!(
        second.stdout.contains("Echo: hello") && second.stdout.contains("Echo: again"),
        "{}",
        second.render()
    );

    // Another sandbox (another port) approves in its state directory, and says so, naming the
    // gateway it did not reach.
    let elsewhere = Sandbox::new();
    let approve = elsewhere.run(&["pairing", "approve", "sms", "ABCD2345"]);
    drop(gateway);
    assert_eq!(approve.code, Some(1), "{}", approve.render());
    assert!(
        approve.stderr.contains(
            "note: no gateway answers on port [PORT], so the approval goes to the state directory [TMP]/state"
        ),
        "{}",
        approve.render()
    );
    assert!(
        approve.stderr.contains("a gateway runs on port") && approve.stderr.contains(&port),
        "{}",
        approve.render()
    );
}

#[test]
fn deny_revoke_and_list_approved_go_through_a_running_dev_gateway() {
    let sandbox = Sandbox::new();
    let port = sandbox.gateway_port().to_string();
    let gateway = Background(sandbox.spawn_background(&["gateway", "--dev", "--port", &port]));
    wait_for_the_gateway(&sandbox);
    // The pending code, from the running gateway (`sim text` may return before a paced code
    // text arrives).
    let pending_code = || {
        let list = sandbox.run(&["pairing", "list", "sms", "--json"]).json();
        list["requests"][0]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no pending request: {list}"))
            .to_owned()
    };
    sandbox.run(&["sim", "text", "hello"]);
    let denied = sandbox.run(&["pairing", "deny", "sms", &pending_code()]);
    assert_eq!(denied.code, Some(0), "{}", denied.render());
    assert_eq!(denied.stdout, "Denied sms sender +15557654321.\n");
    assert!(!denied.stderr.contains("note:"), "{}", denied.render());
    // Denied: the next text is challenged with a new request.
    sandbox.run(&["sim", "text", "hello again"]);
    let approved = sandbox.run(&["pairing", "approve", "sms", &pending_code()]);
    assert_eq!(approved.code, Some(0), "{}", approved.render());
    let list = sandbox
        .run(&["pairing", "list", "sms", "--approved", "--json"])
        .json();
    assert_eq!(list["approved"][0]["phoneNumber"], "+15557654321");
    let revoked = sandbox.run(&["pairing", "revoke", "sms", "+15557654321"]);
    assert!(
        revoked
            .stdout
            .starts_with("Revoked sms sender +15557654321"),
        "{}",
        revoked.render()
    );
    // Revoked: challenged again.
    sandbox.run(&["sim", "text", "still there?"]);
    assert_eq!(pending_code().len(), 8);
    drop(gateway);
}
