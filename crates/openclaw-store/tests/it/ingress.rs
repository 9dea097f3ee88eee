//! The ingress queue: enqueue, dedupe, lanes, every transition, pruning, restart.

use std::sync::Arc;

use openclaw_store::{
    ClaimScope, Enqueued, IngressId, IngressPruned, IngressQueue, IngressState, Retention,
    SqliteStore, Store, StoreError, StoreOptions, TransientFailure,
};

use crate::support::{db_path, file_store, msg, on_both_backends};

/// Claims everything due at `now` and returns the event ids, in claim order.
async fn claim_events(store: &Arc<dyn Store>, scope: ClaimScope, now: i64) -> Vec<String> {
    store
        .claim_next(scope, now, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.event_id)
        .collect()
}

async fn id_of(store: &Arc<dyn Store>, account: &str, event: &str) -> IngressId {
    // A duplicate enqueue reports the id without writing.
    store
        .enqueue(msg(account, event, "unused", 0))
        .await
        .unwrap()
        .id()
}

async fn enqueue_accepts_then_reports_duplicates_with_state(store: Arc<dyn Store>) {
    let first = store.enqueue(msg("a", "SM1", "l1", 10)).await.unwrap();
    let Enqueued::Accepted { id } = first else {
        panic!("{first:?}")
    };
    let again = store
        .enqueue(msg("a", "SM1", "other-lane", 11))
        .await
        .unwrap();
    assert_eq!(
        again,
        Enqueued::Duplicate {
            id,
            state: IngressState::Pending
        }
    );
    // Same event id, other account: a different message.
    let other = store.enqueue(msg("b", "SM1", "l1", 12)).await.unwrap();
    assert!(matches!(other, Enqueued::Accepted { id: o } if o != id));

    let claimed = store.claim_next(ClaimScope::All, 20, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].payload, b"payload of SM1");
    assert_eq!((claimed[0].received_at, claimed[0].attempt), (10, 1));
    assert_eq!(
        store.enqueue(msg("a", "SM1", "l1", 30)).await.unwrap(),
        Enqueued::Duplicate {
            id,
            state: IngressState::Claimed
        }
    );
    store.complete(id, 40).await.unwrap();
    assert_eq!(
        store.enqueue(msg("a", "SM1", "l1", 50)).await.unwrap(),
        Enqueued::Duplicate {
            id,
            state: IngressState::Completed
        }
    );
    store
        .dead_letter(claimed[1].id, "invalid-payload", 60)
        .await
        .unwrap();
    assert_eq!(
        store.enqueue(msg("b", "SM1", "l1", 70)).await.unwrap(),
        Enqueued::Duplicate {
            id: claimed[1].id,
            state: IngressState::DeadLettered
        }
    );
}

async fn lanes_run_one_at_a_time_in_order_and_in_parallel(store: Arc<dyn Store>) {
    for (event, lane) in [
        ("e1", "x"),
        ("e2", "x"),
        ("e3", "y"),
        ("e4", "x"),
        ("e5", "z"),
        ("e6", "y"),
    ] {
        store.enqueue(msg("a", event, lane, 1)).await.unwrap();
    }
    // One per lane, the oldest of each.
    assert_eq!(
        claim_events(&store, ClaimScope::All, 2).await,
        ["e1", "e3", "e5"]
    );
    // Nothing more while each lane has one in flight.
    assert!(claim_events(&store, ClaimScope::All, 2).await.is_empty());
    let e1 = id_of(&store, "a", "e1").await;
    store.complete(e1, 3).await.unwrap();
    assert_eq!(claim_events(&store, ClaimScope::All, 4).await, ["e2"]);
    let e3 = id_of(&store, "a", "e3").await;
    store.complete(e3, 5).await.unwrap();
    assert_eq!(claim_events(&store, ClaimScope::All, 6).await, ["e6"]);
    assert_eq!(store.queue_depth("a").await.unwrap(), 4); // e2, e4, e5, e6
}

async fn claim_respects_limit_scope_and_account_lanes(store: Arc<dyn Store>) {
    for (account, event) in [("a", "1"), ("b", "2"), ("a", "3"), ("b", "4")] {
        // Same lane name in two accounts: two different lanes.
        store
            .enqueue(msg(account, event, &format!("lane-{event}"), 1))
            .await
            .unwrap();
    }
    store.enqueue(msg("b", "5", "shared", 1)).await.unwrap();
    store.enqueue(msg("a", "6", "shared", 1)).await.unwrap();
    assert!(
        store
            .claim_next(ClaimScope::All, 2, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        claim_events(&store, ClaimScope::Account("b".into()), 2).await,
        ["2", "4", "5"]
    );
    let two = store.claim_next(ClaimScope::All, 2, 2).await.unwrap();
    assert_eq!(
        two.iter().map(|c| c.event_id.as_str()).collect::<Vec<_>>(),
        ["1", "3"]
    );
    assert_eq!(
        claim_events(&store, ClaimScope::Account("a".into()), 2).await,
        ["6"]
    );
    assert_eq!(store.queue_depth("a").await.unwrap(), 3);
    assert_eq!(store.queue_depth("nobody").await.unwrap(), 0);
}

async fn transient_failure_retries_later_and_blocks_its_lane(store: Arc<dyn Store>) {
    store.enqueue(msg("a", "m1", "s", 1)).await.unwrap();
    store.enqueue(msg("a", "m2", "s", 2)).await.unwrap();
    store.enqueue(msg("a", "m3", "t", 3)).await.unwrap();
    let first = store.claim_next(ClaimScope::All, 10, 10).await.unwrap();
    assert_eq!(first.len(), 2);
    let m1 = first[0].id;
    let failure = TransientFailure {
        now: 11,
        error: "media download 503".into(),
        retry_at: 100,
    };
    store.fail_transient(m1, failure).await.unwrap();
    // m1 waits until 100 and m2 (behind it in lane s) waits too.
    assert!(claim_events(&store, ClaimScope::All, 50).await.is_empty());
    let again = store.claim_next(ClaimScope::All, 100, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempt), (m1, 2));
    assert_eq!(again[0].last_error.as_deref(), Some("media download 503"));
    // A retry time in the past is treated as now.
    store
        .fail_transient(
            m1,
            TransientFailure {
                now: 120,
                error: "again".into(),
                retry_at: 5,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        claim_events(&store, ClaimScope::All, 119).await,
        Vec::<String>::new()
    );
    assert_eq!(claim_events(&store, ClaimScope::All, 120).await, ["m1"]);
    store.complete(m1, 121).await.unwrap();
    assert_eq!(claim_events(&store, ClaimScope::All, 122).await, ["m2"]);
}

async fn dead_letters_are_listed_resubmitted_and_stop_blocking(store: Arc<dyn Store>) {
    store.enqueue(msg("a", "bad", "s", 1)).await.unwrap();
    store.enqueue(msg("a", "next", "s", 2)).await.unwrap();
    let bad = store
        .claim_next(ClaimScope::All, 3, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .fail_transient(
            bad.id,
            TransientFailure {
                now: 4,
                error: "timeout".into(),
                retry_at: 4,
            },
        )
        .await
        .unwrap();
    let bad = store
        .claim_next(ClaimScope::All, 5, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .dead_letter(bad.id, "invalid-payload", 6)
        .await
        .unwrap();
    // The lane moves on.
    assert_eq!(claim_events(&store, ClaimScope::All, 7).await, ["next"]);
    let dead = store.list_dead_letters("a").await.unwrap();
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(
        (d.id, d.event_id.as_str(), d.lane.as_str()),
        (bad.id, "bad", "s")
    );
    assert_eq!(
        (d.attempts, d.reason.as_str(), d.last_error.as_deref()),
        (2, "invalid-payload", Some("timeout"))
    );
    assert_eq!((d.received_at, d.failed_at, d.payload_len), (1, 6, 14));
    assert!(store.list_dead_letters("b").await.unwrap().is_empty());
    // Resubmitted: back in the lane, fresh attempts, payload intact; waits behind the claimed one.
    store.resubmit(bad.id, 8).await.unwrap();
    assert!(store.list_dead_letters("a").await.unwrap().is_empty());
    assert!(claim_events(&store, ClaimScope::All, 9).await.is_empty());
    let next = id_of(&store, "a", "next").await;
    store.complete(next, 10).await.unwrap();
    let again = store.claim_next(ClaimScope::All, 11, 10).await.unwrap();
    assert_eq!(
        (again[0].id, again[0].attempt, again[0].last_error.clone()),
        (bad.id, 1, None)
    );
    assert_eq!(again[0].payload, b"payload of bad");
    // A pending message can be dead-lettered too.
    store.enqueue(msg("a", "p", "q", 12)).await.unwrap();
    let p = id_of(&store, "a", "p").await;
    store.dead_letter(p, "operator", 13).await.unwrap();
    assert_eq!(store.list_dead_letters("a").await.unwrap().len(), 1);
}

#[track_caller]
fn check_refused(result: Result<(), StoreError>, action: &str, state: &str) {
    match result {
        Err(StoreError::ChangeState {
            action: a,
            state: s,
            ..
        }) => assert_eq!((a, s.as_str()), (action, state)),
        other => panic!("expected refusal of {action} in {state}, got {other:?}"),
    }
}

async fn illegal_transitions_are_refused_and_change_nothing(store: Arc<dyn Store>) {
    let id = store.enqueue(msg("a", "m", "s", 1)).await.unwrap().id();
    check_refused(store.complete(id, 2).await, "complete", "pending");
    check_refused(
        store
            .fail_transient(
                id,
                TransientFailure {
                    now: 2,
                    error: "x".into(),
                    retry_at: 3,
                },
            )
            .await,
        "retry",
        "pending",
    );
    check_refused(store.hold(id, 2).await, "hold", "pending");
    check_refused(store.release_held(id, 2).await, "release", "pending");
    check_refused(store.discard_held(id, 2).await, "discard", "pending");
    check_refused(store.resubmit(id, 2).await, "resubmit", "pending");
    store.claim_next(ClaimScope::All, 3, 1).await.unwrap();
    store.complete(id, 4).await.unwrap();
    check_refused(store.complete(id, 5).await, "complete", "completed");
    check_refused(
        store.dead_letter(id, "x", 5).await,
        "dead-letter",
        "completed",
    );
    check_refused(store.resubmit(id, 5).await, "resubmit", "completed");
    assert_eq!(
        store.enqueue(msg("a", "m", "s", 6)).await.unwrap(),
        Enqueued::Duplicate {
            id,
            state: IngressState::Completed
        }
    );
    for (account, event, lane) in [("", "e", "l"), ("a", "", "l"), ("a", "e", "")] {
        let err = store
            .enqueue(msg(account, event, lane, 1))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    }
    let missing = IngressId::new(9_999);
    assert_eq!(
        store.complete(missing, 1).await,
        Err(StoreError::FindRow {
            what: "ingress message",
            id: 9_999
        })
    );
}

async fn held_messages_leave_the_lane_and_come_back_or_go(store: Arc<dyn Store>) {
    store.enqueue(msg("a", "first", "s", 1)).await.unwrap();
    store.enqueue(msg("a", "second", "s", 2)).await.unwrap();
    let first = store
        .claim_next(ClaimScope::All, 3, 10)
        .await
        .unwrap()
        .remove(0);
    store.hold(first.id, 4).await.unwrap();
    assert_eq!(
        store.enqueue(msg("a", "first", "s", 5)).await.unwrap(),
        Enqueued::Duplicate {
            id: first.id,
            state: IngressState::Held
        }
    );
    assert_eq!(store.queue_depth("a").await.unwrap(), 1);
    assert_eq!(claim_events(&store, ClaimScope::All, 6).await, ["second"]);
    let second = id_of(&store, "a", "second").await;
    store.complete(second, 7).await.unwrap();
    store.release_held(first.id, 8).await.unwrap();
    let back = store.claim_next(ClaimScope::All, 8, 10).await.unwrap();
    assert_eq!(
        (back[0].id, back[0].attempt, back[0].payload.clone()),
        (first.id, 2, b"payload of first".to_vec())
    );
    store.hold(first.id, 9).await.unwrap();
    store.discard_held(first.id, 10).await.unwrap();
    assert_eq!(
        store.enqueue(msg("a", "first", "s", 11)).await.unwrap(),
        Enqueued::Duplicate {
            id: first.id,
            state: IngressState::Completed
        }
    );
    assert!(claim_events(&store, ClaimScope::All, 12).await.is_empty());
}

async fn prune_drops_old_tombstones_and_caps_per_account(store: Arc<dyn Store>) {
    let day = openclaw_store::TOMBSTONE_TTL_MS;
    // Account a: 5 completed at t=1..5; account b: 1 completed at t=1 (under its cap).
    for i in 1..=5 {
        store
            .enqueue(msg("a", &format!("a{i}"), &format!("l{i}"), i))
            .await
            .unwrap();
    }
    store.enqueue(msg("b", "b1", "l", 1)).await.unwrap();
    for c in store.claim_next(ClaimScope::All, 10, 100).await.unwrap() {
        let at = c.received_at;
        store.complete(c.id, at).await.unwrap();
    }
    // Two dead letters in a (cap 1).
    for i in 6..=7 {
        let id = store
            .enqueue(msg("a", &format!("a{i}"), &format!("l{i}"), i))
            .await
            .unwrap()
            .id();
        store.dead_letter(id, "bad", i).await.unwrap();
    }
    let pruned = store.prune_ingress(day).await.unwrap();
    assert_eq!(
        pruned,
        IngressPruned {
            tombstones: 2,
            dead_letters: 1
        }
    );
    // The oldest of a are forgotten (accepted again); the newest are still duplicates.
    assert!(
        !store
            .enqueue(msg("a", "a1", "x", 10))
            .await
            .unwrap()
            .is_duplicate()
    );
    assert!(
        store
            .enqueue(msg("a", "a3", "x", 10))
            .await
            .unwrap()
            .is_duplicate()
    );
    assert!(
        store
            .enqueue(msg("b", "b1", "x", 10))
            .await
            .unwrap()
            .is_duplicate()
    );
    assert_eq!(
        store
            .list_dead_letters("a")
            .await
            .unwrap()
            .iter()
            .map(|d| d.event_id.as_str())
            .collect::<Vec<_>>(),
        ["a7"]
    );
    // After the TTL, every tombstone is gone; a pending message never is.
    let pruned = store.prune_ingress(5 + day + 1).await.unwrap();
    assert_eq!(pruned.tombstones, 4);
    assert!(
        !store
            .enqueue(msg("b", "b1", "x", 10))
            .await
            .unwrap()
            .is_duplicate()
    );
    assert!(
        store
            .enqueue(msg("a", "a1", "x", 10))
            .await
            .unwrap()
            .is_duplicate()
    );
}

#[tokio::test]
async fn reopening_makes_claimed_messages_claimable_again() {
    let (store, dir) = file_store().await;
    store.enqueue(msg("a", "m1", "s", 1)).await.unwrap();
    store.enqueue(msg("a", "m2", "t", 1)).await.unwrap();
    let claimed = store.claim_next(ClaimScope::All, 2, 1).await.unwrap();
    assert_eq!(claimed.len(), 1);
    store.close().await.unwrap();
    let store = SqliteStore::open(&db_path(&dir), &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.open_report().reclaimed, 1);
    let again = store.claim_next(ClaimScope::All, 3, 10).await.unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!((again[0].id, again[0].attempt), (claimed[0].id, 2));
    assert_eq!(store.integrity_check().await.unwrap(), ["ok"]);
}

#[tokio::test]
async fn concurrent_enqueues_are_group_committed_and_all_present() {
    let (store, dir) = file_store().await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for p in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..50 {
                let e = store
                    .enqueue(msg("a", &format!("p{p}-{i}"), &format!("p{p}"), i))
                    .await
                    .unwrap();
                ids.push(e.id());
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 800);
    assert_eq!(store.queue_depth("a").await.unwrap(), 800);
    drop(store);
    let conn = rusqlite::Connection::open(db_path(&dir)).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM ingress", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 800);
}

#[tokio::test]
async fn in_memory_store_works_without_readers() {
    let store = SqliteStore::open_in_memory().unwrap();
    let id = store.enqueue(msg("a", "m", "s", 1)).await.unwrap().id();
    assert_eq!(store.queue_depth("a").await.unwrap(), 1);
    assert_eq!(
        store.claim_next(ClaimScope::All, 1, 5).await.unwrap()[0].id,
        id
    );
    assert_eq!(store.path(), None);
    store.close().await.unwrap();
}

/// One sender's backlog fills more than the claim window and another sender texts after it:
/// the second sender is claimed at once, and each lane still runs in order.
async fn a_sender_behind_another_senders_backlog_is_claimed_at_once(store: Arc<dyn Store>) {
    let backlog = openclaw_store::CLAIM_WINDOW + 10;
    for n in 0..backlog {
        store
            .enqueue(msg("a", &format!("busy-{n:04}"), "busy", 1))
            .await
            .unwrap();
    }
    store
        .enqueue(msg("a", "quiet-0", "quiet", 2))
        .await
        .unwrap();
    let scope = || ClaimScope::Account("a".to_owned());
    let first = store.claim_next(scope(), 10, 5).await.unwrap();
    let events: Vec<_> = first.iter().map(|c| c.event_id.as_str()).collect();
    assert_eq!(events, ["busy-0000", "quiet-0"]);
    // While both lanes are busy the oldest messages are all blocked: nothing.
    assert!(store.claim_next(scope(), 10, 5).await.unwrap().is_empty());
    // Finishing the head hands its lane its next message, in order.
    store.complete(first[0].id, 11).await.unwrap();
    let next = store.claim_next(scope(), 12, 5).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event_id, "busy-0001");
    // A third sender beyond the window, scoped to all accounts this time.
    store
        .enqueue(msg("b", "other-0", "other", 13))
        .await
        .unwrap();
    let all = store.claim_next(ClaimScope::All, 14, 5).await.unwrap();
    let events: Vec<_> = all.iter().map(|c| c.event_id.as_str()).collect();
    assert_eq!(events, ["other-0"]);
}

on_both_backends!(
    a_sender_behind_another_senders_backlog_is_claimed_at_once,
    enqueue_accepts_then_reports_duplicates_with_state,
    lanes_run_one_at_a_time_in_order_and_in_parallel,
    claim_respects_limit_scope_and_account_lanes,
    transient_failure_retries_later_and_blocks_its_lane,
    dead_letters_are_listed_resubmitted_and_stop_blocking,
    illegal_transitions_are_refused_and_change_nothing,
    held_messages_leave_the_lane_and_come_back_or_go,
    prune_drops_old_tombstones_and_caps_per_account with StoreOptions {
        retention: Retention {
            max_tombstones_per_account: 3,
            max_dead_letters_per_account: 1,
            ..Retention::default()
        },
        ..StoreOptions::default()
    },
);
