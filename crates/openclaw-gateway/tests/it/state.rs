//! The `state` section and `openclaw state copy|status`: config errors, redaction of
//! `state.url`, a gateway that cannot reach its database, and a copy of a real SQLite state
//! into PostgreSQL.
//!
//! Tests that need PostgreSQL read its URL from `OPENCLAW_TEST_PG_URL` and work in a schema of
//! their own (dropped at the end). Without the variable they print one line and return,
//! unless `OPENCLAW_REQUIRE_POSTGRES` is set (CI), in which case they fail.

use std::time::{Duration, Instant};

use openclaw_store::{
    IngressQueue as _, NewIngress, NewPairingRequest, OptOut, OptOutStore as _, PairingKey,
    PairingStore as _, PostgresOptions, PostgresStore, SqliteStore, StoreOptions,
};
use serde_json::{Value, json};

use crate::harness::{Outcome, Sandbox};
use crate::snap;

/// The PostgreSQL URL for tests, or `None` (after saying so) when there is none.
fn pg_url(test: &str) -> Option<String> {
    match std::env::var("OPENCLAW_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("OPENCLAW_REQUIRE_POSTGRES").is_none(),
                "{test}: OPENCLAW_REQUIRE_POSTGRES is set but OPENCLAW_TEST_PG_URL is not"
            );
            static SKIPPED: std::sync::Once = std::sync::Once::new();
            SKIPPED.call_once(|| {
                // Straight to the process's stderr: the harness captures `println!` of passing
                // tests, and this line must be seen.
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "OPENCLAW_TEST_PG_URL is not set: the PostgreSQL tests of openclaw-gateway (state copy, a gateway on PostgreSQL) were not run (first: {test})"
                );
            });
            None
        }
    }
}

/// A schema name no other test run uses.
fn fresh_schema(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .subsec_nanos();
    format!("gwtest_{tag}_{}_{nanos}", std::process::id())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A test's own schema, dropped with everything in it when the guard goes (a failing test
/// included).
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(url: &str, tag: &str) -> Self {
        Self {
            url: url.to_owned(),
            name: fresh_schema(tag),
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        runtime().block_on(async move {
            let Ok((client, connection)) =
                tokio_postgres::connect(&url, tokio_postgres::NoTls).await
            else {
                return;
            };
            let task = tokio::spawn(connection);
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
            drop(client);
            let _ = task.await;
        });
    }
}

/// A background process killed when the guard goes (a failing test included).
pub(crate) struct Background(pub(crate) std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now_ms() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    i64::try_from(ms).expect("fits")
}

/// Fills the sandbox's SQLite state through the store, as a gateway would have: two pairing
/// requests, one allow entry, one opt-out, three queued texts of which one is finished.
fn fill_sqlite(sandbox: &Sandbox) {
    let path = sandbox.state_dir().join("state/openclaw-sms.sqlite");
    runtime().block_on(async {
        let store = SqliteStore::open(&path, &StoreOptions::default())
            .await
            .expect("open the store");
        let key = PairingKey::new("sms", "default");
        let now = now_ms();
        for (code, sender) in [("ABCD2345", "+15557654321"), ("EFGH2345", "+15557654322")] {
            store
                .create_request(
                    &key,
                    NewPairingRequest {
                        code: code.to_owned(),
                        sender_id: sender.to_owned(),
                        meta: json!({"accountId": "default"}),
                        created_at: now - 1000,
                        held_event_id: None,
                        pending_cap: None,
                    },
                )
                .await
                .expect("create request");
        }
        store
            .add_allow_entry(&key, "+15557650000", now)
            .await
            .expect("allow entry");
        store
            .set_opt_out(OptOut {
                account: "default".to_owned(),
                number: "+15557659999".to_owned(),
                keyword: "STOP".to_owned(),
                at: now,
            })
            .await
            .expect("opt-out");
        for n in 1..=3 {
            store
                .enqueue(NewIngress {
                    account: "default".to_owned(),
                    event_id: format!("SM{n:032x}"),
                    lane: format!("default/sender:+1555765000{n}"),
                    payload: format!("MessageSid=SM{n:032x}&Body=hi").into_bytes(),
                    received_at: now,
                })
                .await
                .expect("enqueue");
        }
        let claimed = store
            .claim_next(openclaw_store::ClaimScope::All, now, 1)
            .await
            .expect("claim");
        store.complete(claimed[0].id, now).await.expect("complete");
        store.close().await.expect("close");
    });
}

/// A configured account (a Messaging Service: no phone number to parse in debug builds).
fn account() -> Value {
    json!({
        "enabled": true,
        "accountSid": "AC00000000000000000000000000000001",
        "authToken": "tok",
        "messagingServiceSid": "MG00000000000000000000000000000001",
        "dmPolicy": "pairing",
    })
}

/// `outcome` with the test database's location and the schema replaced by placeholders.
fn scrub_pg(mut outcome: Outcome, url: &str, schema: &str) -> Outcome {
    let location = url
        .split_once('@')
        .map_or(url, |(_, rest)| rest)
        .trim_start_matches("postgres://")
        .trim_start_matches("postgresql://")
        .split('?')
        .next()
        .unwrap_or("")
        .to_owned();
    for text in [&mut outcome.stdout, &mut outcome.stderr] {
        *text = text.replace(&location, "[PG]").replace(schema, "[SCHEMA]");
    }
    outcome
}

#[test]
fn config_validate_checks_the_state_section() {
    let sandbox = Sandbox::new();
    for (name, state) in [
        ("state_unknown_key", json!({"backnd": "postgres"})),
        ("state_bad_backend", json!({"backend": "mysql"})),
        ("state_postgres_without_url", json!({"backend": "postgres"})),
        (
            "state_url_not_postgres",
            json!({"url": "mysql://u:hunter2@db/x"}),
        ),
        ("state_bad_max_connections", json!({"maxConnections": 65})),
        ("state_bad_lease", json!({"leaseMs": 500})),
        ("state_bad_schema", json!({"schema": "Gateway-1"})),
        (
            "state_unresolved_url",
            json!({"backend": "postgres", "url": "${OPENCLAW_STATE_URL}"}),
        ),
    ] {
        sandbox.write_config(&json!({ "state": state }));
        // `--resolve-secrets`: `state.url` is a reference that only resolving can find unset.
        let out = sandbox.run(&["config", "validate", "--resolve-secrets"]);
        assert_eq!(out.code, Some(1), "{name}: {}", out.render());
        assert!(!out.stderr.contains("hunter2"), "{}", out.render());
        snap!(name, out);
    }
    sandbox.write_config(&json!({"state": {
        "backend": "postgres", "url": "${OPENCLAW_STATE_URL}", "schema": "gw", "maxConnections": 16, "leaseMs": 10000,
    }}));
    let mut sandbox = sandbox;
    sandbox.env(
        "OPENCLAW_STATE_URL",
        "postgres://openclaw:hunter2@db.example.com/openclaw",
    );
    snap!(
        "state_valid",
        sandbox.run(&["config", "validate", "--resolve-secrets"])
    );
}

#[test]
fn config_get_never_prints_the_state_url() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"state": {
        "backend": "postgres", "url": "postgres://openclaw:hunter2@db.example.com/openclaw",
    }}));
    for (name, args) in [
        ("get_state_url", &["config", "get", "state.url"][..]),
        ("get_state_section", &["config", "get", "state"][..]),
    ] {
        let out = sandbox.run(args);
        assert!(!out.stdout.contains("hunter2"), "{}", out.render());
        snap!(name, out);
    }
    let whole = sandbox.run(&["config", "get"]);
    assert!(!whole.stdout.contains("hunter2"), "{}", whole.render());
    // A reference is shown as written: it is not the secret.
    sandbox.write_config(&json!({"state": {"url": "${OPENCLAW_STATE_URL}"}}));
    snap!(
        "get_state_url_ref",
        sandbox.run(&["config", "get", "state.url"])
    );
}

#[test]
fn a_gateway_that_cannot_reach_its_database_exits_with_one_line_and_no_password() {
    let mut sandbox = Sandbox::new();
    sandbox.env("RUST_LOG", "error");
    // Port 1 on loopback: nothing listens there.
    sandbox.write_config(
        &json!({"agents": {"defaults": {"model": {"primary": "echo"}}}, "state": {
            "backend": "postgres", "url": "postgres://openclaw:hunter2-secret@127.0.0.1:1/openclaw",
        }}),
    );
    let out = sandbox.run(&["gateway", "--port", "0"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(!out.stderr.contains("hunter2"), "{}", out.render());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.render());
    snap!("gateway_database_unreachable", out);
    // The same for the commands that open the store without a gateway.
    let list = sandbox.run(&["pairing", "list", "sms"]);
    assert_eq!(list.code, Some(1), "{}", list.render());
    assert!(!list.stderr.contains("hunter2"), "{}", list.render());
    assert!(
        list.stderr.contains("state.url") && list.stderr.contains("127.0.0.1:1/openclaw"),
        "{}",
        list.render()
    );
}

#[test]
fn a_bad_sslmode_or_sslrootcert_stops_the_start_naming_state_url() {
    let mut sandbox = Sandbox::new();
    sandbox.env("RUST_LOG", "error");
    let missing = sandbox.root().join("no-such-ca.pem");
    for (query, expected) in [
        (
            "sslmode=verify_full".to_owned(),
            "error: state.url (postgres at 127.0.0.1:1/openclaw): invalid sslmode of the PostgreSQL URL: \"verify_full\" is not one of disable, prefer, require, verify-ca, verify-full",
        ),
        (
            format!("sslmode=verify-full&sslrootcert={}", missing.display()),
            "error: state.url (postgres at 127.0.0.1:1/openclaw): invalid sslrootcert: ",
        ),
    ] {
        sandbox.write_config(&json!({"state": {
            "backend": "postgres",
            "url": format!("postgres://openclaw:hunter2-secret@127.0.0.1:1/openclaw?{query}"),
        }}));
        let out = sandbox.run(&["gateway", "--port", "0"]);
        assert_eq!(out.code, Some(1), "{}", out.render());
        assert!(!out.stderr.contains("hunter2"), "{}", out.render());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.render());
        assert!(out.stderr.starts_with(expected), "{}", out.render());
    }
}

#[test]
fn a_wrong_role_or_password_is_named_without_the_password() {
    let Some(url) = pg_url("a_wrong_role_or_password_is_named_without_the_password") else {
        return;
    };
    let host = url
        .split_once('@')
        .map_or(url.as_str(), |(_, rest)| rest)
        .to_owned();
    let mut sandbox = Sandbox::new();
    sandbox.env("RUST_LOG", "error");
    sandbox.env(
        "OPENCLAW_STATE_URL",
        &format!("postgres://no_such_role_xyz:hunter2-secret@{host}"),
    );
    sandbox
        .write_config(&json!({"agents": {"defaults": {"model": {"primary": "echo"}}}, "state": {"backend": "postgres", "url": "${OPENCLAW_STATE_URL}"}}));
    let out = sandbox.run(&["gateway", "--port", "0"]);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(!out.stderr.contains("hunter2"), "{}", out.render());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.render());
    assert!(
        out.stderr
            .starts_with("error: state.url: connect to state database "),
        "{}",
        out.render()
    );
}

#[test]
fn state_copy_needs_a_sqlite_state_and_a_url() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"state": {"url": "postgres://openclaw:hunter2@127.0.0.1:1/x"}}));
    snap!(
        "state_copy_no_sqlite",
        sandbox.run(&["state", "copy", "--from", "sqlite", "--to", "postgres"])
    );
    fill_sqlite(&sandbox);
    sandbox.write_config(&json!({}));
    snap!(
        "state_copy_no_url",
        sandbox.run(&["state", "copy", "--from", "sqlite", "--to", "postgres"])
    );
    snap!(
        "state_copy_bad_url_flag",
        sandbox.run(&[
            "state",
            "copy",
            "--from",
            "sqlite",
            "--to",
            "postgres",
            "--url",
            "mysql://u:hunter2@h/x"
        ])
    );
    snap!(
        "state_copy_only_sqlite_to_postgres",
        sandbox.run(&["state", "copy", "--from", "postgres", "--to", "sqlite"])
    );
}

#[test]
fn state_copy_refuses_while_a_gateway_runs_on_the_state_directory() {
    let sandbox = Sandbox::new();
    fill_sqlite(&sandbox);
    sandbox.write_config(&json!({"agents": {"defaults": {"model": {"primary": "echo"}}}, "state": {"url": "postgres://openclaw:hunter2@127.0.0.1:1/x"}}));
    let port = sandbox.gateway_port().to_string();
    let gateway = Background(sandbox.spawn_background(&["gateway", "--port", &port]));
    wait_for_the_gateway(&sandbox);
    let out = sandbox.run(&["state", "copy", "--from", "sqlite", "--to", "postgres"]);
    let pid = gateway.0.id().to_string();
    drop(gateway);
    assert_eq!(out.code, Some(1), "{}", out.render());
    let mut out = out;
    out.stderr = out.stderr.replace(&pid, "[PID]");
    snap!("state_copy_gateway_running", out);
}

#[test]
fn state_copy_refuses_while_scheduled_sends_wait() {
    let Some(url) = pg_url("state_copy_refuses_while_scheduled_sends_wait") else {
        return;
    };
    let guard = Schema::new(&url, "sched");
    let schema = guard.name.clone();
    let mut sandbox = Sandbox::new();
    sandbox.env("OPENCLAW_STATE_URL", &url);
    sandbox.write_config(&json!({
        "channels": {"sms": account()},
        "state": {"url": "${OPENCLAW_STATE_URL}", "schema": schema},
    }));
    let later = sandbox.run(&[
        "message",
        "send",
        "--target",
        "twilio-sms:+15557654321",
        "--message",
        "later",
        "--after",
        "2h",
        "--json",
    ]);
    assert_eq!(later.code, Some(0), "{}", later.render());
    let id = later.json()["scheduled"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let refused = sandbox.run(&["state", "copy", "--from", "sqlite", "--to", "postgres"]);
    assert_eq!(refused.code, Some(1), "{}", refused.render());
    assert!(
        refused
            .stderr
            .contains("1 scheduled send(s) wait in the SQLite state and are not copied"),
        "{}",
        refused.render()
    );
    let cancelled = sandbox.run(&["message", "scheduled", "cancel", &id]);
    assert_eq!(cancelled.code, Some(0), "{}", cancelled.render());
    let copied = sandbox.run(&["state", "copy", "--from", "sqlite", "--to", "postgres"]);
    assert_eq!(copied.code, Some(0), "{}", copied.render());
}

#[test]
fn state_copy_moves_a_sqlite_state_into_postgres_once() {
    let Some(url) = pg_url("state_copy_moves_a_sqlite_state_into_postgres_once") else {
        return;
    };
    let guard = Schema::new(&url, "copy");
    let schema = guard.name.clone();
    let mut sandbox = Sandbox::new();
    sandbox.env("OPENCLAW_STATE_URL", &url);
    fill_sqlite(&sandbox);
    // Still on SQLite: the URL is set first, the copy made, then the backend switched.
    sandbox.write_config(&json!({
        "channels": {"sms": account()},
        "state": {"url": "${OPENCLAW_STATE_URL}", "schema": schema},
    }));
    let first = sandbox.run(&["state", "copy", "--from", "sqlite", "--to", "postgres"]);
    assert_eq!(first.code, Some(0), "{}", first.render());
    snap!("state_copy_first", scrub_pg(first, &url, &schema));
    let again = sandbox.run(&[
        "state", "copy", "--from", "sqlite", "--to", "postgres", "--json",
    ]);
    assert_eq!(again.code, Some(0), "{}", again.render());
    assert_eq!(again.json()["copied"], 0, "{}", again.render());
    snap!("state_copy_again_json", scrub_pg(again, &url, &schema));

    // On PostgreSQL now: the copied state is what the commands see.
    sandbox.write_config(&json!({
        "channels": {"sms": account()},
        "state": {"backend": "postgres", "url": "${OPENCLAW_STATE_URL}", "schema": schema},
    }));
    snap!(
        "state_status_postgres",
        scrub_pg(sandbox.run(&["state", "status"]), &url, &schema)
    );
    let pairing = sandbox.run(&["pairing", "list", "sms", "--json"]);
    let listed = pairing.json();
    let mut codes: Vec<String> = listed["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter_map(|r| r["code"].as_str().map(str::to_owned))
        .collect();
    codes.sort();
    assert_eq!(codes, ["ABCD2345", "EFGH2345"], "{}", pairing.render());
    // Read back through the store: every row arrived once.
    let snapshot = runtime().block_on(async {
        let store = PostgresStore::connect(
            &url,
            &PostgresOptions {
                schema: Some(schema.clone()),
                ..PostgresOptions::default()
            },
        )
        .await
        .expect("connect");
        let snapshot = store.export_snapshot().await.expect("export");
        store.close().await;
        snapshot
    });
    assert_eq!(snapshot.ingress.len(), 3);
    assert_eq!(snapshot.pairing_requests.len(), 2);
    assert_eq!(snapshot.allow_entries.len(), 1);
    assert_eq!(snapshot.opt_outs.len(), 1);
    drop(guard);
}

#[test]
fn state_status_on_sqlite() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"channels": {"sms": account()}}));
    snap!(
        "state_status_sqlite_fresh",
        sandbox.run(&["state", "status"])
    );
    fill_sqlite(&sandbox);
    snap!("state_status_sqlite", sandbox.run(&["state", "status"]));
    snap!(
        "state_status_sqlite_json",
        sandbox.run(&["state", "status", "--json"])
    );
}

#[test]
fn a_gateway_on_postgres_answers_a_text() {
    let Some(url) = pg_url("a_gateway_on_postgres_answers_a_text") else {
        return;
    };
    let guard = Schema::new(&url, "run");
    let schema = guard.name.clone();
    let mut sandbox = Sandbox::new();
    sandbox.env("OPENCLAW_STATE_URL", &url);
    let port = sandbox.gateway_port();
    let webhook = format!("http://127.0.0.1:{port}/webhooks/sms");
    let twilio = crate::harness::FakeTwilio::start(Some(&webhook));
    let mut sms = twilio.sms_section();
    sms["publicWebhookUrl"] = json!(webhook);
    sms["dmPolicy"] = json!("open");
    sms["allowFrom"] = json!(["*"]);
    sandbox.write_config(&json!({
        "agents": {"defaults": {"model": {"primary": "echo"}}},
        "channels": {"sms": sms},
        "state": {"backend": "postgres", "url": "${OPENCLAW_STATE_URL}", "schema": schema, "leaseMs": 3000},
    }));
    let port_arg = port.to_string();
    let gateway = Background(sandbox.spawn_background(&["gateway", "--port", &port_arg]));
    let status = wait_for_the_gateway(&sandbox);
    // The running gateway says where its state is, without the URL.
    let state = &status.json()["state"];
    assert_eq!(state["backend"], "postgres", "{}", status.render());
    assert_eq!(state["schema"], schema.as_str(), "{}", status.render());
    twilio.text_from(crate::harness::PHONE, "hello");
    wait_for_a_reply(&twilio);
    // The message is finished in the shared queue (read by another process).
    wait_for_an_empty_queue(&sandbox);
    // The store's statements and commits, counted at the client, are exported.
    let metrics = get_metrics(port);
    for count in ["statements", "transactions"] {
        let value = store_writes(&metrics, count);
        assert!(value.is_some_and(|v| v > 0.0), "{count}: {metrics}");
    }
    drop(gateway);
    assert_eq!(twilio.bodies_to(crate::harness::PHONE), ["Echo: hello"]);
    drop(guard);
}

/// The body of `GET /metrics` on the gateway's port (empty when it does not answer).
fn get_metrics(port: u16) -> String {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// The value of `openclaw_sms_store_writes{count="<count>"}` in a metrics page.
fn store_writes(metrics: &str, count: &str) -> Option<f64> {
    let series = format!("openclaw_sms_store_writes{{count=\"{count}\"}}");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .and_then(|value| value.trim().parse().ok())
}

#[test]
fn a_turn_longer_than_the_lease_stays_with_its_gateway() {
    let Some(url) = pg_url("a_turn_longer_than_the_lease_stays_with_its_gateway") else {
        return;
    };
    let guard = Schema::new(&url, "lease");
    let schema = guard.name.clone();
    let mut sandbox = Sandbox::new();
    sandbox.env("OPENCLAW_STATE_URL", &url);
    // An agent that takes 7 s (more than two leases of 3 s) and counts its turns in a file.
    let turns = sandbox.root().join("turns.txt");
    let agent = sandbox.write(
        "bin/slow-agent",
        &format!(
            "#!/bin/sh\n/bin/echo turn >> '{}'\n/bin/sleep 7\n/bin/echo 'slow answer'\n",
            turns.display()
        ),
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let port = sandbox.gateway_port();
    let webhook = format!("http://127.0.0.1:{port}/webhooks/sms");
    let twilio = crate::harness::FakeTwilio::start(Some(&webhook));
    let mut sms = twilio.sms_section();
    sms["publicWebhookUrl"] = json!(webhook);
    sms["dmPolicy"] = json!("open");
    sms["allowFrom"] = json!(["*"]);
    sandbox.write_config(&json!({
        "channels": {"sms": sms},
        "models": {"providers": {"slow": {"api": "command", "command": [agent.display().to_string()]}}},
        "agents": {"defaults": {"model": {"primary": "slow/agent"}}},
        "state": {"backend": "postgres", "url": "${OPENCLAW_STATE_URL}", "schema": schema, "leaseMs": 3000},
    }));
    // Two gateways on one database; Twilio posts to the first, the second's pump waits for work.
    let first = Background(sandbox.spawn_background(&["gateway", "--port", &port.to_string()]));
    let other_port = crate::harness::free_port().to_string();
    let second = Background(sandbox.spawn_background(&["gateway", "--port", &other_port]));
    wait_for_the_gateway(&sandbox);
    twilio.text_from(crate::harness::PHONE, "take your time");
    wait_for_a_reply(&twilio);
    wait_for_an_empty_queue(&sandbox);
    drop(first);
    drop(second);
    // Renewed every third of the lease: the second gateway never took the message over.
    let count = std::fs::read_to_string(&turns)
        .expect("turns file")
        .lines()
        .count();
    assert_eq!(count, 1, "agent turns");
    assert_eq!(twilio.bodies_to(crate::harness::PHONE), ["slow answer"]);
    drop(guard);
}

/// Waits (up to 30 s) until a gateway on this sandbox answers `channels status` with its SMS
/// channel running; returns that status.
pub(crate) fn wait_for_the_gateway(sandbox: &Sandbox) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = sandbox.run(&["channels", "status", "--json"]);
        if status.code == Some(0) && status.json()["channels"]["sms"]["running"] == true {
            return status;
        }
        assert!(Instant::now() < deadline, "the gateway did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (up to 30 s) until the fake Twilio has sent something to the phone.
fn wait_for_a_reply(twilio: &crate::harness::FakeTwilio) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while twilio.bodies_to(crate::harness::PHONE).is_empty() {
        assert!(Instant::now() < deadline, "no reply");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (up to 30 s) until `openclaw state status` (another process reading the shared
/// database) shows the default account's queue empty.
fn wait_for_an_empty_queue(sandbox: &Sandbox) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = sandbox.run(&["state", "status", "--json"]);
        if status.json()["queueDepth"]["default"] == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{}", status.render());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP relay on loopback in front of the database, on std threads, that the test can cut
/// (listener and every relayed connection closed) and restore on the same port.
struct Relay {
    port: u16,
    target: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn start(target: std::net::SocketAddr) -> Self {
        let mut relay = Self {
            port: 0,
            target,
            stop: std::sync::Arc::default(),
            links: std::sync::Arc::default(),
            accept: None,
        };
        relay.restore();
        relay
    }

    fn restore(&mut self) {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).expect("bind relay");
        listener.set_nonblocking(true).expect("nonblocking");
        self.port = listener.local_addr().expect("addr").port();
        self.stop.store(false, Ordering::SeqCst);
        let (stop, links, target) = (self.stop.clone(), self.links.clone(), self.target);
        self.accept = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Ok((inbound, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = inbound.set_nonblocking(false);
                let Ok(outbound) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                    (outbound.try_clone().unwrap(), inbound.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
                links.lock().unwrap().extend([inbound, outbound]);
            }
        }));
    }

    fn cut(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for link in self.links.lock().unwrap().drain(..) {
            let _ = link.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// `GET /readyz` on the gateway: status code and body.
fn readyz(port: u16) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (code, body)
}

#[test]
fn readyz_follows_the_database() {
    let Some(url) = pg_url("readyz_follows_the_database") else {
        return;
    };
    let guard = Schema::new(&url, "ready");
    let schema = guard.name.clone();
    let config: tokio_postgres::Config = url.parse().expect("test URL");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("the test server must be reached over TCP, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let target = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .expect("resolve the test server")
        .next()
        .expect("an address");
    let mut relay = Relay::start(target);
    let through = format!(
        "postgres://{}@127.0.0.1:{}/{}",
        config.get_user().unwrap_or("postgres"),
        relay.port,
        config.get_dbname().unwrap_or("postgres")
    );
    let mut sandbox = Sandbox::new();
    sandbox.env("OPENCLAW_STATE_URL", &through);
    let gateway_port = sandbox.gateway_port();
    sandbox.write_config(&json!({
        "agents": {"defaults": {"model": {"primary": "echo"}}},
        "channels": {"sms": account()},
        "state": {"backend": "postgres", "url": "${OPENCLAW_STATE_URL}", "schema": schema},
    }));
    let port_arg = gateway_port.to_string();
    let gateway = Background(sandbox.spawn_background(&["gateway", "--port", &port_arg]));
    let wait_for = |code: u16| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = readyz(gateway_port);
            if answer.0 == code {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "/readyz never answered {code}: last {answer:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(wait_for(200).1, "ready");
    // The database out of reach: not ready, and the answer names no host or port.
    relay.cut();
    let (_, body) = wait_for(503);
    assert_eq!(body, "state database unavailable");
    // Back without a restart.
    relay.restore();
    assert_eq!(wait_for(200).1, "ready");
    drop(gateway);
    relay.cut();
    drop(guard);
}
