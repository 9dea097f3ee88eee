//! PostgreSQL only: several handles ("gateways") on one schema, leases, migrations under a
//! lock, the SQLite-to-PostgreSQL copy, and secrets kept out of errors.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use openclaw_store::{
    CLAIMED_ELSEWHERE, ClaimScope, CreateRequestOutcome, DeliveryObservation, DeliveryStore,
    Enqueued, HistoryEntry, HistoryStore, IngressQueue, IngressState, NewIntent, NewPairingRequest,
    NewReply, OptOut, OptOutStore, OutboundStore, PairingKey, PairingStore, PendingCap,
    PostgresOptions, PostgresStore, Role, StoreError, TransientFailure, TurnLedger, body_hash,
};

use crate::support::pg::{TestSchema, drop_schema, fresh_schema, schema_name, url};
use crate::support::{file_store, msg};

async fn schema() -> Option<TestSchema> {
    fresh_schema(PostgresOptions::default()).await
}

#[track_caller]
fn check_refused(result: Result<(), StoreError>, action: &str, state: &str) {
    match result {
        Err(StoreError::ChangeState {
            action: a,
            state: s,
            ..
        }) => assert_eq!((a, s.as_str()), (action, state)),
        other => panic!("expected refusal of {action} ({state}), got {other:?}"),
    }
}

const LANES: usize = 12;
const PER_LANE: usize = 8;

/// What the two claim loops saw.
#[derive(Default)]
struct Seen {
    in_flight: HashSet<String>,
    next_in_lane: HashMap<String, usize>,
    violations: Vec<String>,
    done: usize,
}

async fn claim_loop(node: PostgresStore, seen: Arc<Mutex<Seen>>) -> usize {
    let mut mine = 0;
    loop {
        if seen.lock().unwrap().done == LANES * PER_LANE {
            return mine;
        }
        let claimed = node.claim_next(ClaimScope::All, 1_000, 4).await.unwrap();
        for c in &claimed {
            let seq: usize = c.event_id.rsplit('-').next().unwrap().parse().unwrap();
            {
                let mut guard = seen.lock().unwrap();
                let s = &mut *guard;
                if !s.in_flight.insert(c.lane.clone()) {
                    s.violations
                        .push(format!("lane {} claimed twice at once", c.lane));
                }
                let expected = s.next_in_lane.entry(c.lane.clone()).or_insert(0);
                if *expected != seq {
                    let v = format!("lane {} ran {seq} when {expected} was due", c.lane);
                    s.violations.push(v);
                }
                *expected = seq + 1;
                if c.attempt != 1 {
                    s.violations.push(format!("{} ran twice", c.event_id));
                }
            }
            tokio::task::yield_now().await;
            {
                let mut s = seen.lock().unwrap();
                s.in_flight.remove(&c.lane);
                s.done += 1;
            }
            node.complete(c.id, 1_001).await.unwrap();
            mine += 1;
        }
        if claimed.is_empty() {
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_claim_each_lane_one_at_a_time_in_order_exactly_once() {
    let Some(db) = schema().await else { return };
    let other = db.node().await;
    assert_ne!(db.store.node_id(), other.node_id());
    // Interleaved arrivals over many lanes, half through each node.
    for seq in 0..PER_LANE {
        for lane in 0..LANES {
            let node = if (seq + lane) % 2 == 0 {
                &db.store
            } else {
                &other
            };
            let e = node
                .enqueue(msg(
                    "a",
                    &format!("l{lane}-{seq}"),
                    &format!("lane{lane}"),
                    1,
                ))
                .await
                .unwrap();
            assert!(matches!(e, Enqueued::Accepted { .. }));
        }
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let a = tokio::spawn(claim_loop(db.store.clone(), Arc::clone(&seen)));
    let b = tokio::spawn(claim_loop(other.clone(), Arc::clone(&seen)));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    {
        let seen = seen.lock().unwrap();
        assert!(seen.violations.is_empty(), "{:?}", seen.violations);
        assert_eq!(a + b, LANES * PER_LANE);
        assert!(
            seen.next_in_lane.values().all(|n| *n == PER_LANE),
            "{:?}",
            seen.next_in_lane
        );
    }
    assert_eq!(db.store.queue_depth("a").await.unwrap(), 0);
    // Every message is a tombstone now: a provider retry is a duplicate on either node.
    let retry = other.enqueue(msg("a", "l3-5", "lane3", 2)).await.unwrap();
    assert!(matches!(
        retry,
        Enqueued::Duplicate {
            state: IngressState::Completed,
            ..
        }
    ));
    other.close().await;
    db.drop_schema().await;
}

#[tokio::test]
async fn a_node_that_stops_renewing_loses_its_claim_and_its_late_answer() {
    let Some(db) = schema().await else { return };
    let (a, b) = (db.store.clone(), db.node().await);
    let lease = a.claim_lease_ms().unwrap();
    let m = a.enqueue(msg("a", "m", "s", 1)).await.unwrap().id();
    a.enqueue(msg("a", "behind", "s", 2)).await.unwrap();
    let claimed = a.claim_next(ClaimScope::All, 1_000, 10).await.unwrap();
    assert_eq!((claimed[0].id, claimed[0].attempt), (m, 1));
    // Renewed within the lease: the other node gets nothing, not even the lane's next one.
    assert_eq!(a.renew_claims(1_000 + lease - 1).await.unwrap(), 1);
    assert!(
        b.claim_next(ClaimScope::All, 1_000 + lease + 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Then `a` stops renewing: once its lease has run out, `b` takes the message over.
    let later = 1_000 + 2 * lease;
    let taken = b.claim_next(ClaimScope::All, later, 10).await.unwrap();
    assert_eq!(taken.len(), 1, "only the lane's head");
    assert_eq!((taken[0].id, taken[0].attempt), (m, 2));
    // Fenced: `a`'s late outcomes change nothing.
    check_refused(
        a.complete(m, later + 1).await,
        "complete",
        CLAIMED_ELSEWHERE,
    );
    let failure = TransientFailure {
        now: later + 1,
        error: "late".into(),
        retry_at: later + 2,
    };
    check_refused(
        a.fail_transient(m, failure).await,
        "retry",
        CLAIMED_ELSEWHERE,
    );
    check_refused(a.hold(m, later + 1).await, "hold", CLAIMED_ELSEWHERE);
    check_refused(
        a.dead_letter(m, "late", later + 1).await,
        "dead-letter",
        CLAIMED_ELSEWHERE,
    );
    assert_eq!(a.renew_claims(later + 1).await.unwrap(), 0);
    assert_eq!(b.renew_claims(later + 1).await.unwrap(), 1);
    b.complete(m, later + 2).await.unwrap();
    // A lease that ran out but was not taken over still lets its owner finish.
    let next = a.claim_next(ClaimScope::All, later + 3, 10).await.unwrap();
    assert_eq!(next[0].event_id, "behind");
    a.complete(next[0].id, later + 3 + 10 * lease)
        .await
        .unwrap();
    assert_eq!(a.queue_depth("a").await.unwrap(), 0);
    b.close().await;
    db.drop_schema().await;
}

#[tokio::test]
async fn released_claims_are_handed_over_at_once() {
    let Some(db) = schema().await else { return };
    let (a, b) = (db.store.clone(), db.node().await);
    for (event, lane) in [("m1", "s"), ("m2", "t"), ("m3", "s")] {
        a.enqueue(msg("a", event, lane, 1)).await.unwrap();
    }
    let mine = a.claim_next(ClaimScope::All, 10, 10).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert!(
        b.claim_next(ClaimScope::All, 11, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(a.release_claims(12).await.unwrap(), 2);
    assert_eq!(a.renew_claims(12).await.unwrap(), 0);
    let theirs = b.claim_next(ClaimScope::All, 12, 10).await.unwrap();
    assert_eq!(
        theirs
            .iter()
            .map(|c| (c.event_id.as_str(), c.attempt))
            .collect::<Vec<_>>(),
        [("m1", 2), ("m2", 2)]
    );
    // The released message is pending for `a` now, not claimed: the SQLite wording.
    check_refused(
        a.complete(mine[0].id, 13).await,
        "complete",
        CLAIMED_ELSEWHERE,
    );
    b.release_claims(14).await.unwrap();
    check_refused(a.complete(mine[0].id, 15).await, "complete", "pending");
    b.close().await;
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pairing_cap_holds_across_nodes() {
    let Some(db) = schema().await else { return };
    let nodes = [db.store.clone(), db.node().await];
    let cap = PendingCap {
        max: 3,
        ttl_ms: 3_600_000,
    };
    let key = PairingKey::new("sms", "default");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (node, key) = (nodes[i % 2].clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            node.create_request(
                &key,
                NewPairingRequest {
                    code: format!("CODE{i:04}"),
                    sender_id: format!("+1555000{i:04}"),
                    meta: serde_json::json!({}),
                    created_at: 1_000,
                    held_event_id: None,
                    pending_cap: Some(cap),
                },
            )
            .await
            .unwrap()
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            CreateRequestOutcome::Created(_) => created += 1,
            CreateRequestOutcome::CapReached => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((created, refused), (cap.max, 12 - cap.max));
    let live = nodes[1]
        .list_requests(&key, 1_001, cap.ttl_ms)
        .await
        .unwrap();
    assert_eq!(live.len(), cap.max);
    // An expired request no longer counts.
    let later = 1_000 + cap.ttl_ms;
    let fresh = nodes[0]
        .create_request(
            &key,
            NewPairingRequest {
                code: "LATER234".into(),
                sender_id: "+15559999".into(),
                meta: serde_json::json!({}),
                created_at: later,
                held_event_id: None,
                pending_cap: Some(cap),
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(fresh, CreateRequestOutcome::Created(_)),
        "{fresh:?}"
    );
    nodes[1].close().await;
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_starts_migrate_once() {
    let Some(url) = url() else { return };
    let schema = schema_name();
    let options = PostgresOptions {
        schema: Some(schema.clone()),
        ..PostgresOptions::default()
    };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (url, options) = (url.clone(), options.clone());
        tasks.push(tokio::spawn(async move {
            PostgresStore::connect(&url, &options).await
        }));
    }
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap().unwrap());
    }
    let ids: HashSet<&str> = stores.iter().map(PostgresStore::node_id).collect();
    assert_eq!(ids.len(), 4);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    let rows = client
        .query(&format!("SELECT version FROM {schema}.schema_version"), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].get::<_, i64>(0),
        i64::from(PostgresStore::schema_version())
    );
    // Every handle works on the one schema.
    stores[0].enqueue(msg("a", "m", "s", 1)).await.unwrap();
    assert_eq!(stores[3].queue_depth("a").await.unwrap(), 1);
    // A schema written by a newer build is refused, not touched.
    client
        .batch_execute(&format!("UPDATE {schema}.schema_version SET version = 99"))
        .await
        .unwrap();
    let newer = PostgresStore::connect(&url, &options).await.unwrap_err();
    assert_eq!(
        newer,
        StoreError::UnsupportedSchema {
            found: 99,
            supported: PostgresStore::schema_version()
        }
    );
    drop(client);
    let _ = task.await;
    for s in &stores {
        s.close().await;
    }
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn bad_options_are_refused_before_connecting() {
    let Some(url) = url() else { return };
    for schema in ["Bad", "a;b", ""] {
        let options = PostgresOptions {
            schema: Some(schema.to_owned()),
            ..PostgresOptions::default()
        };
        let err = PostgresStore::connect(&url, &options).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn the_password_never_shows() {
    const SECRET: &str = "hunter2-s3cret";
    let check = |text: String| assert!(!text.contains(SECRET), "password leaked: {text}");
    let options = PostgresOptions {
        connect_timeout: std::time::Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    // Nothing listens on port 1; a URL and a key=value string; an unparsable string.
    for url in [
        format!("postgres://alice:{SECRET}@127.0.0.1:1/state"),
        format!("host=127.0.0.1 port=1 user=alice password={SECRET} dbname=state"),
        format!("postgres://alice:{SECRET}@127.0.0.1:notaport/state"),
        format!("host=127.0.0.1 password={SECRET} bogus_option={SECRET}"),
    ] {
        let err = PostgresStore::connect(&url, &options).await.unwrap_err();
        assert!(matches!(err, StoreError::ConnectDatabase { .. }), "{err:?}");
        check(err.to_string());
        check(format!("{err:?}"));
    }
    // A connected store (the test server trusts loopback, so any password is accepted).
    let Some(url) = url() else { return };
    let Some(with_password) = url
        .strip_prefix("postgres://")
        .and_then(|rest| rest.split_once('@'))
        .map(|(user, rest)| format!("postgres://{user}:{SECRET}@{rest}"))
    else {
        return;
    };
    let schema = schema_name();
    let store = PostgresStore::connect(
        &with_password,
        &PostgresOptions {
            schema: Some(schema.clone()),
            ..PostgresOptions::default()
        },
    )
    .await
    .unwrap();
    check(format!("{store:?}"));
    check(store.target().to_owned());
    store.close().await;
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn sqlite_state_copies_into_postgres_once() {
    let Some(db) = schema().await else { return };
    let (sqlite, _dir) = file_store().await;
    let key = PairingKey::new("sms", "default");
    // The ingress queue: one pending, one claimed (the source died), one held for pairing,
    // one completed, one dead letter.
    let pending = sqlite
        .enqueue(msg("default", "SMpending", "s1", 1))
        .await
        .unwrap()
        .id();
    sqlite
        .enqueue(msg("default", "SMclaimed", "s2", 2))
        .await
        .unwrap();
    let held = sqlite
        .enqueue(msg("default", "SMheld", "s3", 3))
        .await
        .unwrap()
        .id();
    sqlite
        .enqueue(msg("default", "SMdone", "s4", 4))
        .await
        .unwrap();
    sqlite
        .enqueue(msg("default", "SMdead", "s5", 5))
        .await
        .unwrap();
    let claimed = sqlite.claim_next(ClaimScope::All, 10, 10).await.unwrap();
    assert_eq!(claimed.len(), 5);
    let by_event = |e: &str| claimed.iter().find(|c| c.event_id == e).unwrap().id;
    // `pending` goes back to its lane as if never claimed: a transient failure due now.
    sqlite
        .fail_transient(
            pending,
            TransientFailure {
                now: 11,
                error: "flaky".into(),
                retry_at: 11,
            },
        )
        .await
        .unwrap();
    sqlite.hold(held, 12).await.unwrap();
    sqlite.complete(by_event("SMdone"), 13).await.unwrap();
    sqlite
        .dead_letter(by_event("SMdead"), "invalid-payload", 14)
        .await
        .unwrap();
    let created = sqlite
        .create_request(
            &key,
            NewPairingRequest {
                code: "ABCD2345".into(),
                sender_id: "+15550003".into(),
                meta: serde_json::json!({"accountId": "default"}),
                created_at: 12,
                held_event_id: Some(held),
                pending_cap: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(created, CreateRequestOutcome::Created(_)));
    sqlite.add_allow_entry(&key, "+15550001", 20).await.unwrap();
    let stop = OptOut {
        account: "default".into(),
        number: "+15550009".into(),
        keyword: "STOP".into(),
        at: 21,
    };
    sqlite.set_opt_out(stop.clone()).await.unwrap();
    let reply = NewReply {
        reply_id: "reply:default:SMdone".into(),
        account: "default".into(),
        recipient: "+15550004".into(),
        text: "saved answer".into(),
        created_at: 22,
    };
    let saved = sqlite.save_reply(reply.clone()).await.unwrap();
    let intent = NewIntent {
        reply_id: reply.reply_id.clone(),
        account: "default".into(),
        recipient: "+15550004".into(),
        body_hash: body_hash("saved answer"),
        part_index: 0,
        part_count: 1,
        created_at: 23,
    };
    let intent_id = sqlite
        .create_intent(intent.clone())
        .await
        .unwrap()
        .intent()
        .id;
    sqlite
        .mark_ambiguous(intent_id, "timeout", 24)
        .await
        .unwrap();
    for (i, text) in ["hi", "hello!"].iter().enumerate() {
        let role = if i == 0 { Role::User } else { Role::Assistant };
        let at = 25 + i64::try_from(i).unwrap();
        let entry = HistoryEntry {
            role,
            text: (*text).into(),
            at,
        };
        sqlite
            .append_history("default", "+15550004", entry)
            .await
            .unwrap();
    }
    let delivery = sqlite
        .record_delivery(DeliveryObservation {
            account: "default".into(),
            message_sid: "SMout".into(),
            status: "delivered".into(),
            error_code: None,
            at: 27,
        })
        .await
        .unwrap();
    sqlite
        .record_agent_turn("default", "SMdone", 28)
        .await
        .unwrap();

    let snapshot = sqlite.export_snapshot().await.unwrap();
    let pg = &db.store;
    let report = pg.import_snapshot(&snapshot).await.unwrap();
    assert_eq!(report.ingress.copied, 5);
    assert_eq!(
        (
            report.pairing_requests.copied,
            report.allow_entries.copied,
            report.opt_outs.copied,
            report.history.copied,
            report.deliveries.copied,
            report.intents.copied,
            report.replies.copied,
            report.turns.copied,
        ),
        (1, 1, 1, 2, 1, 1, 1, 1)
    );
    // Pending and formerly claimed messages are claimable, with their attempts counted.
    let mut runnable = pg.claim_next(ClaimScope::All, 30, 10).await.unwrap();
    runnable.sort_by(|x, y| x.event_id.cmp(&y.event_id));
    assert_eq!(
        runnable
            .iter()
            .map(|c| (c.event_id.as_str(), c.attempt, c.last_error.as_deref()))
            .collect::<Vec<_>>(),
        [("SMclaimed", 2, None), ("SMpending", 2, Some("flaky"))]
    );
    assert_eq!(runnable[1].payload, b"payload of SMpending");
    // The held message follows its pairing request: approval releases it.
    let approved = pg
        .approve(&key, "abcd2345", 31, 3_600_000)
        .await
        .unwrap()
        .unwrap();
    let new_held = approved.held_event_id.unwrap();
    let released = pg.claim_next(ClaimScope::All, 31, 10).await.unwrap();
    assert_eq!(
        released
            .iter()
            .map(|c| (c.id, c.event_id.as_str()))
            .collect::<Vec<_>>(),
        [(new_held, "SMheld")]
    );
    assert_eq!(
        pg.allow_entries(&key)
            .await
            .unwrap()
            .iter()
            .map(|e| e.entry.as_str())
            .collect::<Vec<_>>(),
        ["+15550001", "+15550003"]
    );
    assert_eq!(pg.list_opt_outs("default").await.unwrap(), [stop]);
    assert_eq!(pg.reply(&reply.reply_id).await.unwrap(), Some(saved));
    assert_eq!(
        pg.save_reply(NewReply {
            text: "a second answer".into(),
            ..reply.clone()
        })
        .await
        .unwrap()
        .text,
        "saved answer"
    );
    let intents = pg.unfinished_intents("default").await.unwrap();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].state, openclaw_store::IntentState::Ambiguous);
    assert_eq!(
        pg.recent_history("default", "+15550004", 10)
            .await
            .unwrap()
            .iter()
            .map(|h| h.text.as_str())
            .collect::<Vec<_>>(),
        ["hi", "hello!"]
    );
    assert_eq!(
        pg.delivery("default", "SMout").await.unwrap(),
        Some(delivery)
    );
    assert_eq!(
        pg.agent_turns("default").await.unwrap(),
        [("SMdone".to_owned(), 1)]
    );
    // Tombstones and dead letters keep deduplicating provider retries.
    let retry = pg
        .enqueue(msg("default", "SMdone", "s4", 40))
        .await
        .unwrap();
    assert!(matches!(
        retry,
        Enqueued::Duplicate {
            state: IngressState::Completed,
            ..
        }
    ));
    let dead = pg.list_dead_letters("default").await.unwrap();
    assert_eq!(
        dead.iter()
            .map(|d| (d.event_id.as_str(), d.reason.as_str()))
            .collect::<Vec<_>>(),
        [("SMdead", "invalid-payload")]
    );
    // A second copy writes nothing.
    let again = pg.import_snapshot(&snapshot).await.unwrap();
    assert_eq!(again.copied(), 0, "{again:?}");
    assert_eq!(again.ingress.already_present, 5);
    assert_eq!(again.history.already_present, 2);
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_connections_are_replaced_and_a_closed_store_refuses() {
    let Some(url) = url() else { return };
    let schema = schema_name();
    // A private application name, so that only this test's sessions are killed below.
    let separator = if url.contains('?') { '&' } else { '?' };
    let tagged = format!("{url}{separator}application_name={schema}");
    let options = PostgresOptions {
        schema: Some(schema.clone()),
        max_connections: 2,
        ..PostgresOptions::default()
    };
    let store = PostgresStore::connect(&tagged, &options).await.unwrap();
    store.enqueue(msg("a", "m", "s", 1)).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    let killed: i64 = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1, "{killed}");
    // Each pooled connection that died can fail one call; then a fresh one is made.
    let mut answers = Vec::new();
    for _ in 0..=options.max_connections {
        answers.push(store.queue_depth("a").await);
    }
    assert_eq!(answers.last(), Some(&Ok(1)), "{answers:?}");
    store.close().await;
    let closed = store.queue_depth("a").await.unwrap_err();
    assert!(
        matches!(closed, StoreError::ConnectDatabase { .. }),
        "{closed:?}"
    );
    drop(client);
    let _ = task.await;
    drop_schema(&url, &schema).await;
}

/// A TCP relay on loopback in front of the test server, that the test can cut (every relayed
/// connection closed, new ones refused) and restore on the same port: a network partition
/// between one gateway and the database.
struct Relay {
    port: u16,
    target: (String, u16),
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(target: (String, u16)) -> Self {
        let mut relay = Self {
            port: 0,
            target,
            task: None,
        };
        relay.restore().await;
        relay
    }

    async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.port = listener.local_addr().unwrap().port();
        let target = self.target.clone();
        self.task = Some(tokio::spawn(async move {
            // Dropped with this task: aborting it closes every relayed connection.
            let mut links = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                links.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database() {
    let Some(url) = url() else { return };
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("the test server must be reached over TCP, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let mut relay = Relay::start((host, port)).await;
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut through = format!(
        "host=127.0.0.1 port={} user={} dbname={}",
        relay.port,
        quote(config.get_user().unwrap_or("postgres")),
        quote(config.get_dbname().unwrap_or("postgres")),
    );
    if let Some(password) = config.get_password() {
        through.push_str(&format!(
            " password={}",
            quote(&String::from_utf8_lossy(password))
        ));
    }
    let schema = schema_name();
    let options = PostgresOptions {
        schema: Some(schema.clone()),
        max_connections: 2,
        ..PostgresOptions::default()
    };
    let store = PostgresStore::connect(&through, &options).await.unwrap();
    assert_eq!(store.check_ready().await, Ok(()));

    relay.cut().await;
    let err = store.check_ready().await.unwrap_err();
    assert!(
        matches!(&err, StoreError::ConnectDatabase { target, .. } if target.contains(&relay.port.to_string())),
        "{err:?}"
    );
    // The webhook's enqueue fails the same way (and the gateway answers it with an error).
    assert!(matches!(
        store.enqueue(msg("a", "cut", "s", 1)).await,
        Err(StoreError::ConnectDatabase { .. } | StoreError::QueryDatabase { .. })
    ));

    // Back: the pool makes fresh connections, nothing to restart.
    relay.restore().await;
    let mut answers = Vec::new();
    for _ in 0..=options.max_connections {
        answers.push(store.check_ready().await);
    }
    assert_eq!(answers.last(), Some(&Ok(())), "{answers:?}");
    assert!(
        store
            .enqueue(msg("a", "back", "s", 2))
            .await
            .is_ok_and(|e| !e.is_duplicate())
    );
    store.close().await;
    relay.cut().await;
    drop_schema(&url, &schema).await;
}
