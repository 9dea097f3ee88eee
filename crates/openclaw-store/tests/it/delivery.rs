//! Delivery observations through the store (the reducer's table is in the unit tests).

use std::sync::Arc;

use openclaw_store::{DeliveryObservation, Retention, Store, StoreOptions};

use crate::support::on_both_backends;

fn obs(sid: &str, status: &str, code: Option<&str>, at: i64) -> DeliveryObservation {
    DeliveryObservation {
        account: "a".into(),
        message_sid: sid.into(),
        status: status.into(),
        error_code: code.map(Into::into),
        at,
    }
}

async fn records_reduce_and_persist(store: Arc<dyn Store>) {
    assert_eq!(store.delivery("a", "SM1").await.unwrap(), None);
    let r = store
        .record_delivery(obs("SM1", "Queued", None, 10))
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.observations), ("queued", 1));
    store
        .record_delivery(obs("SM1", "sent", None, 20))
        .await
        .unwrap();
    store
        .record_delivery(obs("SM1", "queued", None, 30))
        .await
        .unwrap();
    let r = store
        .record_delivery(obs("SM1", "undelivered", Some("30003"), 40))
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_str(), r.error_code.as_deref(), r.conflict),
        ("undelivered", Some("30003"), false)
    );
    let r = store
        .record_delivery(obs("SM1", "delivered", None, 50))
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_str(), r.conflict, r.observations),
        ("conflicted", true, 5)
    );
    assert_eq!(store.delivery("a", "SM1").await.unwrap(), Some(r.clone()));
    assert_eq!((r.first_observed_at, r.last_observed_at), (10, 50));
    assert_eq!(store.delivery("b", "SM1").await.unwrap(), None);
    store
        .record_delivery(obs("SM2", "sent", None, 45))
        .await
        .unwrap();
    assert_eq!(
        store
            .latest_delivery("a")
            .await
            .unwrap()
            .unwrap()
            .message_sid,
        "SM1"
    );
    store
        .record_delivery(obs("SM2", "delivered", None, 60))
        .await
        .unwrap();
    assert_eq!(
        store
            .latest_delivery("a")
            .await
            .unwrap()
            .unwrap()
            .message_sid,
        "SM2"
    );
    assert_eq!(store.latest_delivery("b").await.unwrap(), None);
}

async fn prune_applies_ttl_and_cap(store: Arc<dyn Store>) {
    for (i, sid) in ["SM1", "SM2", "SM3", "SM4"].iter().enumerate() {
        store
            .record_delivery(obs(sid, "sent", None, i64::try_from(i).unwrap()))
            .await
            .unwrap();
    }
    // Cap 2: SM1 and SM2 go.
    assert_eq!(store.prune_deliveries(3).await.unwrap(), 2);
    assert_eq!(store.delivery("a", "SM2").await.unwrap(), None);
    assert!(store.delivery("a", "SM3").await.unwrap().is_some());
    // TTL: both remaining are older than 30 days at this time.
    assert_eq!(
        store
            .prune_deliveries(openclaw_store::DELIVERY_TTL_MS + 4)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.latest_delivery("a").await.unwrap(), None);
}

on_both_backends!(
    records_reduce_and_persist,
    prune_applies_ttl_and_cap with StoreOptions {
        retention: Retention {
            max_delivery_records: 2,
            ..Retention::default()
        },
        ..StoreOptions::default()
    },
);
