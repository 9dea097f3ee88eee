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

/// PostgreSQL reduces observations in SQL (one upsert); SQLite with the reducer of the unit
/// tests. Every sequence of three observations from a mixed set (ranks, terminal statuses,
/// error codes, unknown and unnormalised statuses, times out of order) ends in the same record
/// on both.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reduces_observations_as_the_reducer_does() {
    use openclaw_store::{DeliveryStore as _, PostgresOptions, SqliteStore};

    let Some(db) = crate::support::pg::fresh_schema(PostgresOptions::default()).await else {
        return;
    };
    let sqlite = SqliteStore::open_in_memory().unwrap();
    let steps: [(&str, Option<&str>, i64); 10] = [
        ("accepted", None, 10),
        ("queued", None, 30),
        (" Sent ", Some("  "), 20),
        ("sent", Some("123"), 40),
        ("delivered", None, 50),
        ("undelivered", Some("30003"), 5),
        ("failed", Some("30007"), 60),
        ("canceled", None, 70),
        ("read", None, 15),
        ("conflicted", None, 80),
    ];
    let mut sequences = 0;
    for a in &steps {
        for b in &steps {
            for c in &steps {
                sequences += 1;
                let sid = format!("SM{sequences:04}");
                for (status, code, at) in [a, b, c] {
                    let observation = obs(&sid, status, *code, *at);
                    let on_pg = db.store.record_delivery(observation.clone()).await.unwrap();
                    let on_sqlite = sqlite.record_delivery(observation).await.unwrap();
                    assert_eq!(on_pg, on_sqlite, "{:?}", [a, b, c]);
                }
            }
        }
    }
    assert_eq!(sequences, 1_000);
    db.drop_schema().await;
}
