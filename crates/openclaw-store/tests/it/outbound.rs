//! Outbound intents.

use std::sync::Arc;

use openclaw_store::{
    IntentCreated, IntentId, IntentState, NewIntent, Store, StoreError, body_hash,
};

use crate::support::on_both_backends;

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

async fn intents_are_idempotent_and_resume_lists_unfinished(store: Arc<dyn Store>) {
    let IntentCreated::New(p0) = store.create_intent(part("r1", 0, 3, 1)).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            p0.state,
            p0.message_sid.clone(),
            p0.created_at,
            p0.updated_at
        ),
        (IntentState::Pending, None, 1, 1)
    );
    let again = store.create_intent(part("r1", 0, 3, 2)).await.unwrap();
    assert_eq!(again, IntentCreated::Existing(p0.clone()));
    let p1 = store
        .create_intent(part("r1", 1, 3, 2))
        .await
        .unwrap()
        .intent()
        .clone();
    let p2 = store
        .create_intent(part("r1", 2, 3, 2))
        .await
        .unwrap()
        .intent()
        .clone();
    store.create_intent(part("r2", 0, 1, 3)).await.unwrap();
    store.mark_sent(p0.id, "SM0", 10).await.unwrap();
    store
        .mark_ambiguous(p1.id, "timeout after dispatch", 11)
        .await
        .unwrap();
    let unfinished = store.unfinished_intents("a").await.unwrap();
    assert_eq!(
        unfinished
            .iter()
            .map(|i| (i.reply_id.as_str(), i.part_index, i.state))
            .collect::<Vec<_>>(),
        [
            ("r1", 1, IntentState::Ambiguous),
            ("r1", 2, IntentState::Pending),
            ("r2", 0, IntentState::Pending)
        ]
    );
    assert_eq!(
        unfinished[0].error.as_deref(),
        Some("timeout after dispatch")
    );
    // Reconciled: the ambiguous one had been sent.
    store.mark_sent(p1.id, "SM1", 12).await.unwrap();
    store
        .mark_failed(p2.id, "21610 unsubscribed", 13)
        .await
        .unwrap();
    let reply = store.intents_for_reply("r1").await.unwrap();
    assert_eq!(
        reply
            .iter()
            .map(|i| (i.state, i.message_sid.as_deref()))
            .collect::<Vec<_>>(),
        [
            (IntentState::Sent, Some("SM0")),
            (IntentState::Sent, Some("SM1")),
            (IntentState::Failed, None)
        ]
    );
    assert_eq!(reply[1].error, None);
    assert_eq!(reply[2].updated_at, 13);
    assert!(store.unfinished_intents("b").await.unwrap().is_empty());
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

async fn finished_intents_do_not_move_and_are_pruned(store: Arc<dyn Store>) {
    let sent = store
        .create_intent(part("r", 0, 2, 0))
        .await
        .unwrap()
        .intent()
        .id;
    let failed = store
        .create_intent(part("r", 1, 2, 0))
        .await
        .unwrap()
        .intent()
        .id;
    store.mark_sent(sent, "SM", 1).await.unwrap();
    store.mark_failed(failed, "x", 1).await.unwrap();
    check_refused(store.mark_sent(sent, "SM2", 2).await, "mark sent", "sent");
    check_refused(store.mark_failed(sent, "x", 2).await, "mark failed", "sent");
    check_refused(
        store.mark_ambiguous(failed, "x", 2).await,
        "mark ambiguous",
        "failed",
    );
    let amb = store
        .create_intent(part("s", 0, 1, 0))
        .await
        .unwrap()
        .intent()
        .id;
    store.mark_ambiguous(amb, "x", 1).await.unwrap();
    check_refused(
        store.mark_ambiguous(amb, "y", 2).await,
        "mark ambiguous",
        "ambiguous",
    );
    assert!(matches!(
        store.mark_sent(IntentId::new(999), "SM", 1).await,
        Err(StoreError::FindRow { .. })
    ));
    assert!(matches!(
        store.create_intent(part("t", 2, 2, 0)).await,
        Err(StoreError::InvalidInput { .. })
    ));
    assert_eq!(
        store
            .prune_intents(openclaw_store::INTENT_TTL_MS)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .prune_intents(openclaw_store::INTENT_TTL_MS + 2)
            .await
            .unwrap(),
        2
    );
    assert!(store.intents_for_reply("r").await.unwrap().is_empty());
    // Ambiguous intents are never pruned.
    assert_eq!(store.intents_for_reply("s").await.unwrap().len(), 1);
}

async fn count_replies_since_counts_first_parts_under_a_prefix(store: Arc<dyn Store>) {
    for (reply, parts, at) in [
        ("pairing:a:+1:100", 2, 100),
        ("pairing:a:+1:100:1", 1, 200),
        ("pairing:a:+1:300", 1, 300),
        ("pairing:a:+12:300", 1, 300),
        ("pairing:b:+1:300", 1, 300),
        ("reply:a:SM1", 1, 300),
        // LIKE wildcards in a prefix are literal characters.
        ("pairing:a_x:+1:300", 1, 300),
    ] {
        for index in 0..parts {
            store
                .create_intent(part(reply, index, parts, at))
                .await
                .unwrap();
        }
    }
    let count = |prefix: &'static str, since| {
        let store = store.clone();
        async move { store.count_replies_since(prefix, since).await.unwrap() }
    };
    assert_eq!(count("pairing:a:+1:", 0).await, 3);
    assert_eq!(count("pairing:a:+1:", 200).await, 2);
    assert_eq!(count("pairing:a:+1:", 301).await, 0);
    assert_eq!(count("pairing:a:+12:", 0).await, 1);
    assert_eq!(count("pairing:a%", 0).await, 0);
    assert_eq!(count("pairing:_", 0).await, 0);
    assert_eq!(count("pairing:a_", 0).await, 1);
    assert_eq!(count("pairing:", 0).await, 6);
}

on_both_backends!(
    count_replies_since_counts_first_parts_under_a_prefix,
    intents_are_idempotent_and_resume_lists_unfinished,
    finished_intents_do_not_move_and_are_pruned,
);
