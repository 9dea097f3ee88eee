//! Scheduled sends: schedule, claim when due (once), finish, cancel, leases, restarts, and two
//! gateways on one PostgreSQL schema.

use std::collections::HashSet;
use std::sync::Arc;

use openclaw_store::{
    NewScheduledSend, SCHEDULED_TTL_MS, ScheduleReason, ScheduledOutcome, ScheduledState,
    ScheduledStore, SqliteStore, Store, StoreOptions,
};

use crate::support::{db_path, file_store, on_both_backends};

const LEASE: i64 = 1_000;

fn send(id: &str, due_at: i64) -> NewScheduledSend {
    NewScheduledSend {
        id: id.to_owned(),
        account: "default".to_owned(),
        recipient: "+15557654321".to_owned(),
        text: format!("text of {id}"),
        reply_id: format!("sched:{id}"),
        due_at,
        reason: ScheduleReason::At,
        zone: Some("Europe/London".to_owned()),
        created_at: 1,
    }
}

fn ids(sends: &[openclaw_store::ScheduledSend]) -> Vec<&str> {
    sends.iter().map(|s| s.id.as_str()).collect()
}

async fn a_send_is_claimed_once_when_due(store: Arc<dyn Store>) {
    let first = store.schedule_send(send("b", 200)).await.unwrap();
    assert_eq!(first.state, ScheduledState::Scheduled);
    assert_eq!(first.zone.as_deref(), Some("Europe/London"));
    // First writer wins: the same id again changes nothing.
    let again = store
        .schedule_send(NewScheduledSend {
            text: "other".to_owned(),
            ..send("b", 5)
        })
        .await
        .unwrap();
    assert_eq!(again, first);
    store.schedule_send(send("a", 100)).await.unwrap();
    store
        .schedule_send(NewScheduledSend {
            reason: ScheduleReason::QuietHours,
            ..send("c", 300)
        })
        .await
        .unwrap();
    assert_eq!(store.next_scheduled_due().await.unwrap(), Some(100));
    // One millisecond early: nothing; at the due time: due ones, earliest first.
    assert!(
        store
            .claim_due_sends(99, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim_due_sends(200, LEASE, 10).await.unwrap();
    assert_eq!(ids(&claimed), ["a", "b"]);
    assert!(
        claimed
            .iter()
            .all(|s| s.state == ScheduledState::Claimed && s.claimed_until == Some(200 + LEASE))
    );
    assert!(
        store
            .claim_due_sends(201, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_scheduled_due().await.unwrap(), Some(300));
    assert!(
        store
            .finish_scheduled("a", ScheduledOutcome::Sent, 202)
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_scheduled("a", ScheduledOutcome::Sent, 203)
            .await
            .unwrap(),
        "finished once"
    );
    // The limit bounds a claim.
    let c = store.claim_due_sends(300, LEASE, 1).await.unwrap();
    assert_eq!(ids(&c), ["c"]);
    assert_eq!(c[0].reason, ScheduleReason::QuietHours);
    assert!(
        store
            .finish_scheduled("c", ScheduledOutcome::Failed("opted out".to_owned()), 301)
            .await
            .unwrap()
    );
    let c = store.scheduled_send("c").await.unwrap().unwrap();
    assert_eq!(
        (c.state, c.error.as_deref()),
        (ScheduledState::Failed, Some("opted out"))
    );
    // "b" is still claimed: listed as pending, not claimable until its lease runs out.
    assert_eq!(
        ids(&store.pending_scheduled(None, 10).await.unwrap()),
        ["b"]
    );
    assert!(
        store
            .claim_due_sends(200 + LEASE - 1, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let taken_over = store.claim_due_sends(200 + LEASE, LEASE, 10).await.unwrap();
    assert_eq!(ids(&taken_over), ["b"]);
    assert_eq!(taken_over[0].claimed_until, Some(200 + 2 * LEASE));
}

async fn cancel_only_a_waiting_send(store: Arc<dyn Store>) {
    store.schedule_send(send("a", 100)).await.unwrap();
    store.schedule_send(send("b", 100)).await.unwrap();
    store
        .schedule_send(NewScheduledSend {
            account: "other".to_owned(),
            ..send("c", 50)
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&store.pending_scheduled(Some("default"), 10).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        ids(&store.pending_scheduled(None, 10).await.unwrap()),
        ["c", "a", "b"]
    );
    let cancelled = store.cancel_scheduled("a", 10).await.unwrap().unwrap();
    assert_eq!(cancelled.state, ScheduledState::Cancelled);
    assert!(store.cancel_scheduled("nope", 10).await.unwrap().is_none());
    // Claimed: cancel leaves it as it is (it is being sent).
    assert_eq!(
        ids(&store.claim_due_sends(100, LEASE, 10).await.unwrap()),
        ["c", "b"]
    );
    let b = store.cancel_scheduled("b", 101).await.unwrap().unwrap();
    assert_eq!(b.state, ScheduledState::Claimed);
    assert!(
        store
            .pending_scheduled(Some("default"), 10)
            .await
            .unwrap()
            .iter()
            .all(|s| s.id != "a")
    );
    // A cancelled send is never claimed.
    assert!(
        store
            .claim_due_sends(i64::MAX / 2, LEASE, 10)
            .await
            .unwrap()
            .iter()
            .all(|s| s.id != "a")
    );
}

async fn finished_sends_are_pruned_after_the_ttl(store: Arc<dyn Store>) {
    store.schedule_send(send("done", 0)).await.unwrap();
    store
        .schedule_send(send("waiting", SCHEDULED_TTL_MS * 3))
        .await
        .unwrap();
    store.claim_due_sends(0, LEASE, 10).await.unwrap();
    store
        .finish_scheduled("done", ScheduledOutcome::Sent, 10)
        .await
        .unwrap();
    assert_eq!(
        store.prune_scheduled(10 + SCHEDULED_TTL_MS).await.unwrap(),
        0
    );
    assert_eq!(
        store.prune_scheduled(11 + SCHEDULED_TTL_MS).await.unwrap(),
        1
    );
    assert!(store.scheduled_send("done").await.unwrap().is_none());
    assert!(store.scheduled_send("waiting").await.unwrap().is_some());
}

on_both_backends!(
    a_send_is_claimed_once_when_due,
    cancel_only_a_waiting_send,
    finished_sends_are_pruned_after_the_ttl,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_send_survives_a_restart_and_its_claim_is_reset() {
    let (store, dir) = file_store().await;
    store.schedule_send(send("later", 500)).await.unwrap();
    store.schedule_send(send("mid-send", 100)).await.unwrap();
    assert_eq!(
        ids(&store.claim_due_sends(100, LEASE, 10).await.unwrap()),
        ["mid-send"]
    );
    store.close().await.unwrap();
    // The process that claimed it is gone: the claim is reset at open, so it is due again at
    // once (not only after its lease).
    let reopened = SqliteStore::open(&db_path(&dir), &StoreOptions::default())
        .await
        .unwrap();
    let later = reopened.scheduled_send("later").await.unwrap().unwrap();
    assert_eq!(
        (later.state, later.due_at),
        (ScheduledState::Scheduled, 500)
    );
    assert_eq!(
        ids(&reopened.claim_due_sends(101, LEASE, 10).await.unwrap()),
        ["mid-send"]
    );
    assert_eq!(
        ids(&reopened.claim_due_sends(500, LEASE, 10).await.unwrap()),
        ["later"]
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_on_postgres_claim_each_due_send_exactly_once() {
    use crate::support::pg::fresh_schema;
    let Some(db) = fresh_schema(openclaw_store::PostgresOptions::default()).await else {
        return;
    };
    const SENDS: usize = 60;
    for i in 0..SENDS {
        db.store
            .schedule_send(send(&format!("s{i:03}"), i64::try_from(i).unwrap()))
            .await
            .unwrap();
    }
    let nodes = [db.store.clone(), db.node().await, db.node().await];
    let mut tasks = Vec::new();
    for node in nodes {
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = node.claim_due_sends(1_000, 60_000, 3).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                for c in claimed {
                    tokio::task::yield_now().await;
                    assert!(
                        node.finish_scheduled(&c.id, ScheduledOutcome::Sent, 1_001)
                            .await
                            .unwrap()
                    );
                    mine.push(c.id);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), SENDS, "each send claimed exactly once");
    assert_eq!(unique.len(), SENDS);
    assert!(
        db.store
            .pending_scheduled(None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    db.drop_schema().await;
}
