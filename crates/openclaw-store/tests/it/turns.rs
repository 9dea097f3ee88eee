//! Agent-turn counters.

use std::sync::Arc;

use openclaw_store::{INTENT_TTL_MS, Store};

use crate::support::on_both_backends;

async fn turns_count_per_account_and_event(store: Arc<dyn Store>) {
    assert!(store.agent_turns("a").await.unwrap().is_empty());
    // (account, event, now, expected count after this turn)
    let steps: &[(&str, &str, i64, u32)] = &[
        ("a", "SM2", 1, 1),
        ("a", "SM1", 2, 1),
        ("a", "SM2", 3, 2),
        ("b", "SM2", 4, 1),
        ("a", "SM2", 5, 3),
    ];
    for &(account, event, now, expected) in steps {
        assert_eq!(
            store.record_agent_turn(account, event, now).await.unwrap(),
            expected,
            "{account} {event} at {now}"
        );
    }
    assert_eq!(
        store.agent_turns("a").await.unwrap(),
        [("SM1".to_owned(), 1), ("SM2".to_owned(), 3)]
    );
    assert_eq!(
        store.agent_turns("b").await.unwrap(),
        [("SM2".to_owned(), 1)]
    );
    assert!(store.agent_turns("c").await.unwrap().is_empty());
}

async fn turns_are_pruned_by_their_last_turn(store: Arc<dyn Store>) {
    store.record_agent_turn("a", "old", 0).await.unwrap();
    store.record_agent_turn("a", "again", 0).await.unwrap();
    store.record_agent_turn("a", "again", 50).await.unwrap();
    // An out-of-order (earlier) time does not move the last turn back.
    store.record_agent_turn("a", "again", 20).await.unwrap();
    assert_eq!(store.prune_intents(INTENT_TTL_MS).await.unwrap(), 0);
    assert_eq!(store.prune_intents(INTENT_TTL_MS + 1).await.unwrap(), 1);
    assert_eq!(
        store.agent_turns("a").await.unwrap(),
        [("again".to_owned(), 3)]
    );
    assert_eq!(store.prune_intents(INTENT_TTL_MS + 51).await.unwrap(), 1);
    assert!(store.agent_turns("a").await.unwrap().is_empty());
    // A pruned counter starts again from one.
    assert_eq!(store.record_agent_turn("a", "old", 1).await.unwrap(), 1);
}

async fn concurrent_turns_each_get_their_own_count(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.record_agent_turn("a", "SM", i).await
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap().unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=32).collect::<Vec<u32>>());
    assert_eq!(
        store.agent_turns("a").await.unwrap(),
        [("SM".to_owned(), 32)]
    );
}

on_both_backends!(
    turns_count_per_account_and_event,
    turns_are_pruned_by_their_last_turn,
    concurrent_turns_each_get_their_own_count,
);
