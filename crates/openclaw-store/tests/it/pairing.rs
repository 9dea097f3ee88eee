//! Pairing requests and allow entries.

use std::sync::Arc;

use openclaw_store::{
    ClaimScope, CreateRequestOutcome, Enqueued, IngressState, NewPairingRequest, PairingKey,
    PendingCap, Store, StoreError,
};
use serde_json::json;

use crate::support::{msg, on_both_backends};

const TTL: i64 = 3_600_000;

fn key(account: &str) -> PairingKey {
    PairingKey::new("sms", account)
}

fn request(code: &str, sender: &str, at: i64) -> NewPairingRequest {
    NewPairingRequest {
        code: code.to_owned(),
        sender_id: sender.to_owned(),
        meta: json!({ "accountId": "default" }),
        created_at: at,
        held_event_id: None,
        pending_cap: None,
    }
}

/// A request carrying the pending cap `max` (lifetime [`TTL`]).
fn capped(code: &str, sender: &str, at: i64, max: usize) -> NewPairingRequest {
    NewPairingRequest {
        pending_cap: Some(PendingCap { max, ttl_ms: TTL }),
        ..request(code, sender, at)
    }
}

fn senders(list: &[openclaw_store::PairingRequest]) -> Vec<&str> {
    list.iter().map(|r| r.sender_id.as_str()).collect()
}

async fn create_refuses_existing_sender_and_taken_code(store: Arc<dyn Store>) {
    let k = key("default");
    let created = store
        .create_request(&k, request("abcd2345", "+15550001", 10))
        .await
        .unwrap();
    let CreateRequestOutcome::Created(r) = created else {
        panic!("{created:?}")
    };
    assert_eq!(
        (r.code.as_str(), r.created_at, r.last_seen_at),
        ("ABCD2345", 10, 10)
    );
    assert_eq!(r.meta, json!({ "accountId": "default" }));
    let again = store
        .create_request(&k, request("WXYZ6789", "+15550001", 20))
        .await
        .unwrap();
    assert_eq!(again, CreateRequestOutcome::SenderExists(r.clone()));
    let clash = store
        .create_request(&k, request("ABCD2345", "+15550002", 20))
        .await
        .unwrap();
    assert_eq!(clash, CreateRequestOutcome::CodeTaken);
    // Same code, other account: fine.
    assert!(matches!(
        store
            .create_request(&key("work"), request("ABCD2345", "+15550002", 20))
            .await
            .unwrap(),
        CreateRequestOutcome::Created(_)
    ));
    assert!(matches!(
        store.create_request(&k, request("  ", "+1", 1)).await,
        Err(StoreError::InvalidInput { .. })
    ));
    assert_eq!(store.request_for(&k, "+15550001").await.unwrap(), Some(r));
    assert_eq!(store.request_for(&k, "+15550009").await.unwrap(), None);
}

async fn touch_list_and_expiry(store: Arc<dyn Store>) {
    let k = key("default");
    store
        .create_request(&k, request("AAAA2222", "+1", 0))
        .await
        .unwrap();
    store
        .create_request(&k, request("BBBB3333", "+2", 1_000))
        .await
        .unwrap();
    assert!(store.touch_request(&k, "+1", 500).await.unwrap());
    assert!(!store.touch_request(&k, "+9", 500).await.unwrap());
    // last_seen never moves back.
    assert!(store.touch_request(&k, "+1", 100).await.unwrap());
    let live = store.list_requests(&k, 2_000, TTL).await.unwrap();
    assert_eq!(senders(&live), ["+1", "+2"]);
    assert_eq!(live[0].last_seen_at, 500);
    assert!(live[0].is_live(2_000, TTL));
    // At exactly created_at + ttl a request is expired.
    assert_eq!(
        senders(&store.list_requests(&k, TTL, TTL).await.unwrap()),
        ["+2"]
    );
    assert!(
        store
            .list_requests(&key("other"), 0, TTL)
            .await
            .unwrap()
            .is_empty()
    );
    let pruned = store.prune_requests(&k, TTL, TTL).await.unwrap();
    assert_eq!(senders(&pruned), ["+1"]);
    assert_eq!(store.request_for(&k, "+1").await.unwrap(), None);
    assert!(store.prune_requests(&k, TTL, TTL).await.unwrap().is_empty());
}

async fn approve_is_case_insensitive_atomic_and_only_for_live_requests(store: Arc<dyn Store>) {
    let k = key("default");
    store
        .create_request(&k, request("ABCD2345", "+15550001", 0))
        .await
        .unwrap();
    store
        .create_request(&k, request("WXYZ6789", "+15550002", 0))
        .await
        .unwrap();
    assert_eq!(store.approve(&k, "nope", 1, TTL).await.unwrap(), None);
    assert_eq!(
        store
            .approve(&key("work"), "ABCD2345", 1, TTL)
            .await
            .unwrap(),
        None
    );
    let approved = store
        .approve(&k, " abcd2345 ", 5, TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(approved.sender_id, "+15550001");
    assert_eq!(
        senders(&store.list_requests(&k, 6, TTL).await.unwrap()),
        ["+15550002"]
    );
    let allowed = store.allow_entries(&k).await.unwrap();
    assert_eq!(
        allowed
            .iter()
            .map(|e| (e.entry.as_str(), e.added_at))
            .collect::<Vec<_>>(),
        [("+15550001", 5)]
    );
    // A second approval of the same code finds nothing.
    assert_eq!(store.approve(&k, "ABCD2345", 6, TTL).await.unwrap(), None);
    // Expired: not approvable.
    assert_eq!(store.approve(&k, "WXYZ6789", TTL, TTL).await.unwrap(), None);
    assert_eq!(store.allow_entries(&k).await.unwrap().len(), 1);
}

async fn approve_releases_the_held_message_and_expiry_discards_it(store: Arc<dyn Store>) {
    let k = key("default");
    let ids: Vec<_> = futures_ids(&store).await;
    let (kept, dropped) = (ids[0], ids[1]);
    let mut r = request("ABCD2345", "+1", 0);
    r.held_event_id = Some(kept);
    store.create_request(&k, r).await.unwrap();
    let mut r = request("WXYZ6789", "+2", 0);
    r.held_event_id = Some(dropped);
    store.create_request(&k, r).await.unwrap();
    let approved = store
        .approve(&k, "abcd2345", 10, TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(approved.held_event_id, Some(kept));
    let claimed = store.claim_next(ClaimScope::All, 10, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|c| c.id).collect::<Vec<_>>(), [kept]);
    let pruned = store.prune_requests(&k, TTL, TTL).await.unwrap();
    assert_eq!(pruned[0].held_event_id, Some(dropped));
    assert_eq!(
        store.enqueue(msg("a", "m2", "s2", 0)).await.unwrap(),
        Enqueued::Duplicate {
            id: dropped,
            state: IngressState::Completed
        }
    );
}

/// Two messages, claimed and held, as the pipeline does for two unknown senders.
async fn futures_ids(store: &Arc<dyn Store>) -> Vec<openclaw_store::IngressId> {
    store.enqueue(msg("a", "m1", "s1", 0)).await.unwrap();
    store.enqueue(msg("a", "m2", "s2", 0)).await.unwrap();
    let mut ids = Vec::new();
    for c in store.claim_next(ClaimScope::All, 0, 10).await.unwrap() {
        store.hold(c.id, 0).await.unwrap();
        ids.push(c.id);
    }
    ids
}

async fn delete_request_discards_its_held_message(store: Arc<dyn Store>) {
    let k = key("default");
    let ids = futures_ids(&store).await;
    let mut r = request("ABCD2345", "+1", 0);
    r.held_event_id = Some(ids[0]);
    store.create_request(&k, r).await.unwrap();
    assert!(store.delete_request(&k, "+1", 5).await.unwrap());
    assert!(!store.delete_request(&k, "+1", 5).await.unwrap());
    assert_eq!(
        store.enqueue(msg("a", "m1", "s1", 0)).await.unwrap(),
        Enqueued::Duplicate {
            id: ids[0],
            state: IngressState::Completed
        }
    );
}

async fn allow_entries_add_remove_per_key(store: Arc<dyn Store>) {
    let k = key("default");
    assert!(store.add_allow_entry(&k, "+2", 2).await.unwrap());
    assert!(store.add_allow_entry(&k, "+1", 1).await.unwrap());
    assert!(!store.add_allow_entry(&k, "+1", 3).await.unwrap());
    assert!(
        store
            .add_allow_entry(&PairingKey::new("telegram", "default"), "+1", 1)
            .await
            .unwrap()
    );
    assert!(matches!(
        store.add_allow_entry(&k, " ", 1).await,
        Err(StoreError::InvalidInput { .. })
    ));
    let list = store.allow_entries(&k).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|e| (e.entry.as_str(), e.added_at))
            .collect::<Vec<_>>(),
        [("+1", 1), ("+2", 2)]
    );
    assert!(store.remove_allow_entry(&k, "+1").await.unwrap());
    assert!(!store.remove_allow_entry(&k, "+1").await.unwrap());
    assert_eq!(store.allow_entries(&k).await.unwrap().len(), 1);
    assert_eq!(
        store
            .allow_entries(&PairingKey::new("telegram", "default"))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn pending_cap_is_checked_with_the_insert(store: Arc<dyn Store>) {
    let k = key("default");
    let create = |r: NewPairingRequest| {
        let (store, k) = (store.clone(), k.clone());
        async move { store.create_request(&k, r).await.unwrap() }
    };
    let is_created = |o: &CreateRequestOutcome| matches!(o, CreateRequestOutcome::Created(_));
    let first = create(capped("AAAA2222", "+1", 0, 2)).await;
    assert!(is_created(&first), "{first:?}");
    assert!(is_created(&create(capped("BBBB3333", "+2", 10, 2)).await));
    // Two live requests: a third is refused and nothing is stored.
    assert_eq!(
        create(capped("CCCC4444", "+3", 20, 2)).await,
        CreateRequestOutcome::CapReached
    );
    assert_eq!(store.request_for(&k, "+3").await.unwrap(), None);
    assert_eq!(
        senders(&store.list_requests(&k, 20, TTL).await.unwrap()),
        ["+1", "+2"]
    );
    // Precedence: an existing sender, then a taken code, then the cap.
    let CreateRequestOutcome::Created(a) = first else {
        unreachable!()
    };
    assert_eq!(
        create(capped("DDDD5555", "+1", 30, 2)).await,
        CreateRequestOutcome::SenderExists(a)
    );
    assert_eq!(
        create(capped("AAAA2222", "+4", 30, 2)).await,
        CreateRequestOutcome::CodeTaken
    );
    // Another account has its own count.
    assert!(is_created(
        &store
            .create_request(&key("work"), capped("CCCC4444", "+3", 20, 2))
            .await
            .unwrap()
    ));
    // At TTL the first request (created at 0) has expired and no longer counts, even unpruned.
    assert!(is_created(&create(capped("EEEE6666", "+5", TTL, 2)).await));
    assert_eq!(
        create(capped("FFFF7777", "+6", TTL, 2)).await,
        CreateRequestOutcome::CapReached
    );
    // No cap: the store stores whatever the caller decided.
    assert!(is_created(&create(request("GGGG8888", "+7", TTL)).await));
    assert_eq!(
        senders(&store.list_requests(&k, TTL, TTL).await.unwrap()),
        ["+2", "+5", "+7"]
    );
    // A cap of 0 refuses every new request.
    assert_eq!(
        store
            .create_request(&key("none"), capped("HHHH9999", "+8", 0, 0))
            .await
            .unwrap(),
        CreateRequestOutcome::CapReached
    );
}

async fn deny_removes_the_live_request_and_discards_its_held_message(store: Arc<dyn Store>) {
    let k = key("default");
    let ids = futures_ids(&store).await;
    let mut r = request("ABCD2345", "+1", 0);
    r.held_event_id = Some(ids[0]);
    store.create_request(&k, r).await.unwrap();
    store
        .create_request(&k, request("WXYZ6789", "+2", 0))
        .await
        .unwrap();
    assert_eq!(store.deny(&k, "ZZZZ2222", 5, TTL).await.unwrap(), None);
    assert_eq!(
        store.deny(&key("work"), "ABCD2345", 5, TTL).await.unwrap(),
        None
    );
    let denied = store
        .deny(&k, " abcd2345\n", 5, TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(denied.sender_id, "+1");
    assert_eq!(store.request_for(&k, "+1").await.unwrap(), None);
    // Not approved: no allow entry; the held message is gone for good.
    assert!(store.allow_entries(&k).await.unwrap().is_empty());
    assert_eq!(
        store.enqueue(msg("a", "m1", "s1", 0)).await.unwrap(),
        Enqueued::Duplicate {
            id: ids[0],
            state: IngressState::Completed
        }
    );
    assert_eq!(store.deny(&k, "ABCD2345", 6, TTL).await.unwrap(), None);
    // An expired request cannot be denied (it is pruned instead), nor approved afterwards.
    assert_eq!(store.deny(&k, "WXYZ6789", TTL, TTL).await.unwrap(), None);
    assert_eq!(
        senders(&store.list_requests(&k, 6, TTL).await.unwrap()),
        ["+2"]
    );
}

async fn revoke_removes_the_allow_entry_and_any_request(store: Arc<dyn Store>) {
    let k = key("default");
    store
        .create_request(&k, request("ABCD2345", "+1", 0))
        .await
        .unwrap();
    store
        .approve(&k, "ABCD2345", 1, TTL)
        .await
        .unwrap()
        .unwrap();
    store.add_allow_entry(&k, "+2", 2).await.unwrap();
    store.add_allow_entry(&key("work"), "+1", 2).await.unwrap();
    assert!(store.revoke(&k, "+1", 3).await.unwrap());
    assert!(!store.revoke(&k, "+1", 3).await.unwrap());
    let left: Vec<_> = store
        .allow_entries(&k)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.entry)
        .collect();
    assert_eq!(left, ["+2"]);
    // Another account's entry for the same number stays.
    assert_eq!(store.allow_entries(&key("work")).await.unwrap().len(), 1);
    // A sender with only a request: the request goes, the answer says it was not approved.
    store
        .create_request(&k, request("WXYZ6789", "+3", 4))
        .await
        .unwrap();
    assert!(!store.revoke(&k, "+3", 5).await.unwrap());
    assert_eq!(store.request_for(&k, "+3").await.unwrap(), None);
}

on_both_backends!(
    deny_removes_the_live_request_and_discards_its_held_message,
    revoke_removes_the_allow_entry_and_any_request,
    pending_cap_is_checked_with_the_insert,
    create_refuses_existing_sender_and_taken_code,
    touch_list_and_expiry,
    approve_is_case_insensitive_atomic_and_only_for_live_requests,
    approve_releases_the_held_message_and_expiry_discards_it,
    delete_request_discards_its_held_message,
    allow_entries_add_remove_per_key,
);
