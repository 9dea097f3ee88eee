//! The adapter's view: one `Arc<dyn Store>`, upcast to the part a component needs.

use std::sync::Arc;

use openclaw_store::{ClaimScope, IngressQueue, OptOut, OptOutStore, SqliteStore, Store};

use crate::support::msg;

fn ingress_part(store: Arc<dyn Store>) -> Arc<dyn IngressQueue> {
    store
}

#[tokio::test]
async fn store_is_object_safe_and_upcasts() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
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
