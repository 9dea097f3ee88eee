//! Saved replies: first writer wins, lookups, pruning with intents.

use std::sync::Arc;

use openclaw_store::{
    INTENT_TTL_MS, NewIntent, NewReply, OutboundStore, Retention, SavedReply, Store, StoreOptions,
    body_hash,
};

use crate::support::{file_store, on_both_backends};

fn answer(reply: &str, text: &str, at: i64) -> NewReply {
    NewReply {
        reply_id: reply.into(),
        account: "a".into(),
        recipient: "+15551234567".into(),
        text: text.into(),
        created_at: at,
    }
}

fn saved(reply: &str, text: &str, at: i64) -> SavedReply {
    SavedReply {
        reply_id: reply.into(),
        account: "a".into(),
        recipient: "+15551234567".into(),
        text: text.into(),
        created_at: at,
    }
}

fn part(reply: &str, index: u32, count: u32, at: i64) -> NewIntent {
    NewIntent {
        reply_id: reply.into(),
        account: "a".into(),
        recipient: "+15551234567".into(),
        body_hash: body_hash(&format!("part {index}")),
        part_index: index,
        part_count: count,
        created_at: at,
    }
}

async fn first_writer_wins_and_missing_reply_is_none(store: Arc<dyn Store>) {
    assert_eq!(store.reply("SM1").await.unwrap(), None);
    let first = store
        .save_reply(answer("SM1", "first answer", 10))
        .await
        .unwrap();
    assert_eq!(first, saved("SM1", "first answer", 10));
    // A second answer for the same reply changes nothing: the stored one comes back.
    let mut other = answer("SM1", "second answer", 20);
    other.recipient = "+15550000000".into();
    other.account = "b".into();
    assert_eq!(store.save_reply(other).await.unwrap(), first);
    assert_eq!(store.reply("SM1").await.unwrap(), Some(first));
    // Other ids are independent; text is stored as given (no cap, unicode and newlines kept).
    let long = "é\n".repeat(5_000);
    assert_eq!(
        store.save_reply(answer("SM2", &long, 30)).await.unwrap(),
        saved("SM2", &long, 30)
    );
    assert_eq!(
        store.reply("SM2").await.unwrap(),
        Some(saved("SM2", &long, 30))
    );
    assert_eq!(store.reply("SM3").await.unwrap(), None);
}

async fn concurrent_writers_all_get_the_one_stored_reply(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .save_reply(answer("SMrace", &format!("answer {i}"), i))
                .await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().unwrap());
    }
    let stored = store.reply("SMrace").await.unwrap().unwrap();
    assert!(stored.text.starts_with("answer "), "{stored:?}");
    assert!(answers.iter().all(|a| *a == stored), "{answers:?}");
}

#[tokio::test]
async fn replies_survive_reopening() {
    let (store, dir) = file_store().await;
    store.save_reply(answer("SM1", "kept", 1)).await.unwrap();
    store.close().await.unwrap();
    let store =
        openclaw_store::SqliteStore::open(&crate::support::db_path(&dir), &StoreOptions::default())
            .await
            .unwrap();
    assert_eq!(
        store.reply("SM1").await.unwrap(),
        Some(saved("SM1", "kept", 1))
    );
}

async fn replies_are_pruned_with_their_last_intent(store: Arc<dyn Store>) {
    // "done": fully sent; "lonely": no intents; "open": one part still ambiguous.
    store.save_reply(answer("done", "d", 0)).await.unwrap();
    store.save_reply(answer("lonely", "l", 0)).await.unwrap();
    store.save_reply(answer("open", "o", 0)).await.unwrap();
    store.save_reply(answer("young", "y", 5)).await.unwrap();
    let sent = store.create_intent(part("done", 0, 1, 0)).await.unwrap();
    store.mark_sent(sent.intent().id, "SM", 0).await.unwrap();
    let open0 = store.create_intent(part("open", 0, 2, 0)).await.unwrap();
    let open1 = store.create_intent(part("open", 1, 2, 0)).await.unwrap();
    store.mark_sent(open0.intent().id, "SMo0", 0).await.unwrap();
    store
        .mark_ambiguous(open1.intent().id, "timeout", 0)
        .await
        .unwrap();
    // At the TTL nothing is older than the cutoff yet.
    assert_eq!(store.prune_intents(INTENT_TTL_MS).await.unwrap(), 0);
    // Just past it: the sent intents of "done" and "open" (2), the replies "done" and
    // "lonely" (2); "open" is kept for its ambiguous part, "young" is not old enough.
    assert_eq!(store.prune_intents(INTENT_TTL_MS + 1).await.unwrap(), 4);
    let left = |ids: &[&str]| {
        let store = &store;
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        async move {
            let mut present = Vec::new();
            for id in ids {
                present.push(store.reply(&id).await.unwrap().is_some());
            }
            present
        }
    };
    assert_eq!(
        left(&["done", "lonely", "open", "young"]).await,
        [false, false, true, true]
    );
    assert_eq!(store.intents_for_reply("open").await.unwrap().len(), 1);
    assert_eq!(store.prune_intents(INTENT_TTL_MS + 6).await.unwrap(), 1); // "young"
    assert_eq!(left(&["open", "young"]).await, [true, false]);
    // Once reconciled and old, the last intent and its reply go together.
    store
        .mark_sent(open1.intent().id, "SMo1", 100)
        .await
        .unwrap();
    assert_eq!(store.prune_intents(INTENT_TTL_MS + 100).await.unwrap(), 0);
    assert_eq!(store.prune_intents(INTENT_TTL_MS + 101).await.unwrap(), 2);
    assert_eq!(left(&["open", "young"]).await, [false, false]);
}

async fn reply_ttl_follows_the_intent_option(store: Arc<dyn Store>) {
    store.save_reply(answer("r", "t", 0)).await.unwrap();
    assert_eq!(store.prune_intents(10).await.unwrap(), 0);
    assert_eq!(store.prune_intents(11).await.unwrap(), 1);
    assert_eq!(store.reply("r").await.unwrap(), None);
}

on_both_backends!(
    first_writer_wins_and_missing_reply_is_none,
    concurrent_writers_all_get_the_one_stored_reply,
    replies_are_pruned_with_their_last_intent,
    reply_ttl_follows_the_intent_option with StoreOptions {
        retention: Retention {
            intent_ttl_ms: 10,
            ..Retention::default()
        },
        ..StoreOptions::default()
    },
);
