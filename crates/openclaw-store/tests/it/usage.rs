//! Usage counters, budget hits and held rests.

use std::sync::Arc;

use openclaw_store::{
    BudgetHit, DayUsage, HeldRest, IntentState, NewIntent, SentPart, SqliteStore, Store,
    StoreError, StoreOptions, UsageRow, UsageStore as _, body_hash,
};

use crate::support::{db_path, file_store, on_both_backends};

fn part(reply: &str, to: &str, index: u32) -> NewIntent {
    NewIntent {
        reply_id: reply.into(),
        account: "a".into(),
        recipient: to.into(),
        body_hash: body_hash(&format!("{reply} {index}")),
        part_index: index,
        part_count: 3,
        created_at: 1,
    }
}

async fn send(store: &Arc<dyn Store>, reply: &str, to: &str, index: u32, day: &str, segments: u32) {
    let intent = store
        .create_intent(part(reply, to, index))
        .await
        .unwrap()
        .intent()
        .clone();
    store
        .mark_sent_counted(SentPart {
            intent: intent.id,
            message_sid: format!("SM{reply}{index}"),
            day: day.into(),
            segments,
            now: 10,
        })
        .await
        .unwrap();
}

fn row(day: &str, peer: &str, segments: u64, messages: u64) -> UsageRow {
    UsageRow {
        account: "a".into(),
        day: day.into(),
        peer: peer.into(),
        segments,
        messages,
    }
}

async fn sent_parts_are_counted_once_per_day_and_peer(store: Arc<dyn Store>) {
    send(&store, "r1", "+1", 0, "2026-12-04", 2).await;
    send(&store, "r1", "+1", 1, "2026-12-04", 1).await;
    send(&store, "r2", "+2", 0, "2026-12-04", 3).await;
    send(&store, "r3", "+1", 0, "2026-12-05", 1).await;
    // The intent is sent and carries its SID, as with `mark_sent`.
    let intents = store.intents_for_reply("r1").await.unwrap();
    assert_eq!(
        intents
            .iter()
            .map(|i| (i.state, i.message_sid.as_deref()))
            .collect::<Vec<_>>(),
        [
            (IntentState::Sent, Some("SMr10")),
            (IntentState::Sent, Some("SMr11"))
        ]
    );
    // A second record of the same part is refused and counts nothing.
    let again = store
        .mark_sent_counted(SentPart {
            intent: intents[0].id,
            message_sid: "SMagain".into(),
            day: "2026-12-04".into(),
            segments: 2,
            now: 11,
        })
        .await;
    assert!(
        matches!(again, Err(StoreError::ChangeState { .. })),
        "{again:?}"
    );
    assert_eq!(
        store.day_usage("a", "2026-12-04", "+1").await.unwrap(),
        DayUsage {
            peer_segments: 3,
            account_segments: 6
        }
    );
    assert_eq!(
        store.day_usage("a", "2026-12-05", "+2").await.unwrap(),
        DayUsage {
            peer_segments: 0,
            account_segments: 1
        }
    );
    assert_eq!(
        store.day_usage("other", "2026-12-04", "+1").await.unwrap(),
        DayUsage::default()
    );
    assert_eq!(
        store.usage(Some("a"), None).await.unwrap(),
        [
            row("2026-12-04", "+1", 3, 2),
            row("2026-12-04", "+2", 3, 1),
            row("2026-12-05", "+1", 1, 1)
        ]
    );
    assert_eq!(
        store.usage(None, Some("2026-12-05")).await.unwrap(),
        [row("2026-12-05", "+1", 1, 1)]
    );
    assert!(store.usage(Some("b"), None).await.unwrap().is_empty());
}

fn hit(reply: &str, scope: &str, day: &str, at: i64) -> BudgetHit {
    BudgetHit {
        account: "a".into(),
        day: day.into(),
        scope: scope.into(),
        peer: "+1".into(),
        reply_id: reply.into(),
        reason: format!("{scope} budget reached"),
        at,
    }
}

async fn budget_hits_are_recorded_once_per_reply_and_scope(store: Arc<dyn Store>) {
    assert!(
        store
            .record_budget_hit(hit("r1", "sender", "2026-12-04", 1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_budget_hit(hit("r1", "sender", "2026-12-04", 2))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_budget_hit(hit("r1", "account", "2026-12-04", 3))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_budget_hit(hit("r2", "sender", "2026-12-05", 4))
            .await
            .unwrap()
    );
    let all = store.budget_hits("a", "2026-12-04", 10).await.unwrap();
    assert_eq!(all.iter().map(|h| h.at).collect::<Vec<_>>(), [1, 3, 4]);
    let newest = store.budget_hits("a", "2026-12-04", 2).await.unwrap();
    assert_eq!(newest.iter().map(|h| h.at).collect::<Vec<_>>(), [3, 4]);
    let later = store.budget_hits("a", "2026-12-05", 10).await.unwrap();
    assert_eq!(later, [hit("r2", "sender", "2026-12-05", 4)]);
    assert!(
        store
            .budget_hits("b", "2026-12-04", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

fn rest(peer: &str, reply: &str, page: u32, at: i64) -> HeldRest {
    HeldRest {
        account: "a".into(),
        peer: peer.into(),
        reply_id: reply.into(),
        page,
        text: format!("the rest of {reply}"),
        offered_at: at,
    }
}

async fn rests_are_held_replaced_and_dropped(store: Arc<dyn Store>) {
    assert_eq!(store.held_rest("a", "+1").await.unwrap(), None);
    store.hold_rest(rest("+1", "r1", 1, 100)).await.unwrap();
    store.hold_rest(rest("+2", "r2", 1, 200)).await.unwrap();
    assert_eq!(
        store.held_rest("a", "+1").await.unwrap(),
        Some(rest("+1", "r1", 1, 100))
    );
    // The next page of the same reply, then a newer reply, replace it.
    store.hold_rest(rest("+1", "r1", 2, 150)).await.unwrap();
    assert_eq!(
        store.held_rest("a", "+1").await.unwrap().map(|r| r.page),
        Some(2)
    );
    store.hold_rest(rest("+1", "r3", 1, 160)).await.unwrap();
    // Dropping the older reply's rest leaves the newer one.
    assert!(!store.drop_rest("a", "+1", "r1").await.unwrap());
    assert_eq!(
        store.held_rest("a", "+1").await.unwrap(),
        Some(rest("+1", "r3", 1, 160))
    );
    // Expired ones go, and are returned for the record; the boundary is exclusive.
    let dropped = store.drop_rests_before("a", 200).await.unwrap();
    assert_eq!(dropped, [rest("+1", "r3", 1, 160)]);
    assert_eq!(store.held_rest("a", "+1").await.unwrap(), None);
    assert!(
        store
            .drop_rests_before("b", 1_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.drop_rest("a", "+2", "r2").await.unwrap());
    assert_eq!(store.held_rest("a", "+2").await.unwrap(), None);
}

on_both_backends!(
    sent_parts_are_counted_once_per_day_and_peer,
    budget_hits_are_recorded_once_per_reply_and_scope,
    rests_are_held_replaced_and_dropped,
);

/// Counters and held rests survive closing and reopening the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_rests_survive_a_reopen() {
    let (sqlite, dir) = file_store().await;
    let store = Arc::new(sqlite);
    let shared: Arc<dyn Store> = store.clone();
    send(&shared, "r1", "+1", 0, "2026-12-04", 2).await;
    shared.hold_rest(rest("+1", "r1", 1, 100)).await.unwrap();
    drop(shared);
    let Ok(sqlite) = Arc::try_unwrap(store) else {
        panic!("the store is still shared")
    };
    sqlite.close().await.unwrap();
    let reopened = SqliteStore::open(&db_path(&dir), &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        reopened.usage(None, None).await.unwrap(),
        [row("2026-12-04", "+1", 2, 1)]
    );
    assert_eq!(
        reopened.held_rest("a", "+1").await.unwrap(),
        Some(rest("+1", "r1", 1, 100))
    );
}
