//! Opt-outs and conversation history.

use std::sync::Arc;

use openclaw_store::{
    ConversationSummary, HistoryEntry, OptOut, Retention, Role, Store, StoreOptions,
};

use crate::support::on_both_backends;

fn opt(number: &str, keyword: &str, at: i64) -> OptOut {
    OptOut {
        account: "a".into(),
        number: number.into(),
        keyword: keyword.into(),
        at,
    }
}

async fn opt_outs_set_replace_clear_list(store: Arc<dyn Store>) {
    assert!(!store.is_opted_out("a", "+1").await.unwrap());
    store.set_opt_out(opt("+1", "STOP", 1)).await.unwrap();
    store.set_opt_out(opt("+0", "QUIT", 2)).await.unwrap();
    assert!(store.is_opted_out("a", "+1").await.unwrap());
    assert!(!store.is_opted_out("b", "+1").await.unwrap());
    store
        .set_opt_out(opt("+1", "UNSUBSCRIBE", 3))
        .await
        .unwrap();
    assert_eq!(
        store.opt_out("a", "+1").await.unwrap(),
        Some(opt("+1", "UNSUBSCRIBE", 3))
    );
    assert_eq!(
        store.list_opt_outs("a").await.unwrap(),
        [opt("+0", "QUIT", 2), opt("+1", "UNSUBSCRIBE", 3)]
    );
    assert!(store.clear_opt_out("a", "+1").await.unwrap());
    assert!(!store.clear_opt_out("a", "+1").await.unwrap());
    assert!(!store.is_opted_out("a", "+1").await.unwrap());
    assert!(store.list_opt_outs("b").await.unwrap().is_empty());
}

fn turn(role: Role, text: &str, at: i64) -> HistoryEntry {
    HistoryEntry {
        role,
        text: text.into(),
        at,
    }
}

async fn history_keeps_the_last_turns_per_peer(store: Arc<dyn Store>) {
    for i in 0..5 {
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        store
            .append_history("a", "+1", turn(role, &format!("t{i}"), i))
            .await
            .unwrap();
    }
    store
        .append_history("a", "+2", turn(Role::User, "other", 9))
        .await
        .unwrap();
    store
        .append_history("b", "+1", turn(Role::User, "other account", 9))
        .await
        .unwrap();
    let all = store.recent_history("a", "+1", 10).await.unwrap();
    assert_eq!(
        all,
        [
            turn(Role::User, "t2", 2),
            turn(Role::Assistant, "t3", 3),
            turn(Role::User, "t4", 4)
        ]
    );
    assert_eq!(store.recent_history("a", "+1", 2).await.unwrap(), all[1..]);
    assert!(store.recent_history("a", "+1", 0).await.unwrap().is_empty());
    assert_eq!(store.clear_history("a", "+1").await.unwrap(), 3);
    assert!(
        store
            .recent_history("a", "+1", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.recent_history("a", "+2", 10).await.unwrap().len(), 1);
    assert_eq!(store.recent_history("b", "+1", 10).await.unwrap().len(), 1);
}

async fn history_default_cap_is_fifty(store: Arc<dyn Store>) {
    for i in 0..60 {
        store
            .append_history("a", "+1", turn(Role::User, &i.to_string(), i))
            .await
            .unwrap();
    }
    let kept = store.recent_history("a", "+1", 100).await.unwrap();
    assert_eq!(kept.len(), openclaw_store::HISTORY_PER_PEER);
    assert_eq!(kept[0].text, "10");
}

async fn conversations_list_one_row_per_peer_latest_first(store: Arc<dyn Store>) {
    for (peer, text, at) in [
        ("+1", "hi", 1),
        ("+2", "yo", 2),
        ("+1", "reply", 3),
        ("+3", "hey", 4),
    ] {
        store
            .append_history("a", peer, turn(Role::User, text, at))
            .await
            .unwrap();
    }
    store
        .append_history("b", "+9", turn(Role::User, "other account", 5))
        .await
        .unwrap();
    let row = |peer: &str, text: &str, at| ConversationSummary {
        peer: peer.into(),
        last: turn(Role::User, text, at),
    };
    let all = store.list_conversations("a", 10, 0).await.unwrap();
    assert_eq!(
        all,
        [
            row("+3", "hey", 4),
            row("+1", "reply", 3),
            row("+2", "yo", 2)
        ]
    );
    assert_eq!(
        store.list_conversations("a", 1, 1).await.unwrap(),
        all[1..2]
    );
    assert!(
        store
            .list_conversations("a", 10, 3)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_conversations("b", 10, 0).await.unwrap().len(), 1);
}

on_both_backends!(
    opt_outs_set_replace_clear_list,
    conversations_list_one_row_per_peer_latest_first,
    history_keeps_the_last_turns_per_peer with StoreOptions {
        retention: Retention {
            history_per_peer: 3,
            ..Retention::default()
        },
        ..StoreOptions::default()
    },
    history_default_cap_is_fifty,
);
