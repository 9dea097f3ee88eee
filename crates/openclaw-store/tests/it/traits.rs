//! The adapter's view: one `Arc<dyn Store>`, upcast to the part a component needs.

use std::sync::Arc;

use openclaw_store::{
    ClaimScope, IngressQueue, NewReply, OptOut, OptOutStore, OutboundStore, Store, TurnLedger,
};

use crate::support::{msg, on_both_backends};

fn ingress_part(store: Arc<dyn Store>) -> Arc<dyn IngressQueue> {
    store
}

async fn store_is_object_safe_and_upcasts(store: Arc<dyn Store>) {
    store
        .set_opt_out(OptOut {
            account: "a".into(),
            number: "+1".into(),
            keyword: "STOP".into(),
            at: 1,
        })
        .await
        .unwrap();
    let queue = ingress_part(Arc::clone(&store));
    let id = queue.enqueue(msg("a", "m", "s", 1)).await.unwrap().id();
    assert_eq!(
        store.claim_next(ClaimScope::All, 1, 1).await.unwrap()[0].id,
        id
    );
    let opt_outs: Arc<dyn OptOutStore> = store;
    assert!(opt_outs.is_opted_out("a", "+1").await.unwrap());
}

async fn replies_and_turns_through_trait_objects(store: Arc<dyn Store>) {
    let ledger: Arc<dyn TurnLedger> = Arc::clone(&store) as Arc<dyn TurnLedger>;
    let outbound: Arc<dyn OutboundStore> = store;
    let reply = |text: &str| NewReply {
        reply_id: "SM1".into(),
        account: "a".into(),
        recipient: "+1".into(),
        text: text.into(),
        created_at: 1,
    };
    assert_eq!(ledger.record_agent_turn("a", "SM1", 1).await.unwrap(), 1);
    assert_eq!(outbound.save_reply(reply("one")).await.unwrap().text, "one");
    assert_eq!(ledger.record_agent_turn("a", "SM1", 2).await.unwrap(), 2);
    assert_eq!(outbound.save_reply(reply("two")).await.unwrap().text, "one");
    assert_eq!(
        outbound.reply("SM1").await.unwrap().map(|r| r.text),
        Some("one".to_owned())
    );
    assert_eq!(
        ledger.agent_turns("a").await.unwrap(),
        [("SM1".to_owned(), 2)]
    );
}

/// The lease hooks: none on SQLite (a store owned by one process), a lease on PostgreSQL.
async fn lease_hooks_match_the_backend(store: Arc<dyn Store>) {
    let lease = store.claim_lease_ms();
    store.enqueue(msg("a", "m", "s", 1)).await.unwrap();
    store.claim_next(ClaimScope::All, 1, 1).await.unwrap();
    match lease {
        None => {
            assert_eq!(store.renew_claims(2).await.unwrap(), 0);
            assert_eq!(store.release_claims(2).await.unwrap(), 0);
        }
        Some(ms) => {
            assert!(ms > 0, "{ms}");
            assert_eq!(store.renew_claims(2).await.unwrap(), 1);
            assert_eq!(store.release_claims(2).await.unwrap(), 1);
            assert_eq!(store.release_claims(2).await.unwrap(), 0);
            let again = store.claim_next(ClaimScope::All, 2, 1).await.unwrap();
            assert_eq!(again[0].attempt, 2);
        }
    }
}

#[tokio::test]
async fn in_memory_store_is_a_store() {
    let store: Arc<dyn Store> = Arc::new(openclaw_store::SqliteStore::open_in_memory().unwrap());
    store_is_object_safe_and_upcasts(store).await;
}

on_both_backends!(
    store_is_object_safe_and_upcasts,
    replies_and_turns_through_trait_objects,
    lease_hooks_match_the_backend,
);
