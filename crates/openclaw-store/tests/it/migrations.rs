//! Opening databases made by each older schema version, and a newer one.

use std::collections::BTreeMap;
use std::path::Path;

use openclaw_store::{
    ClaimScope, DeliveryStore, Enqueued, HistoryStore, IngressId, IngressQueue, IngressState,
    IntentState, LegacyImport, NewReply, OptOutStore, OutboundStore, PairingKey, PairingStore,
    Role, SqliteStore, StoreError, StoreOptions, TurnLedger,
};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// Every table's columns (name, type, not-null, default, pk) and every index's SQL.
fn schema_of(path: &Path) -> BTreeMap<String, Vec<String>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out = BTreeMap::new();
    let objects: Vec<(String, String, Option<String>)> = conn
        .prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (kind, name, sql) in objects {
        let described = if kind == "table" {
            conn.prepare(&format!("PRAGMA table_info({name})"))
                .unwrap()
                .query_map([], |r| {
                    Ok(format!(
                        "{} {} notnull={} default={:?} pk={}",
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, i64>(5)?
                    ))
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        } else {
            vec![sql.unwrap_or_default()]
        };
        out.insert(format!("{kind} {name}"), described);
    }
    out
}

async fn fresh_schema() -> BTreeMap<String, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.sqlite");
    let store = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.open_report().schema_from, 0);
    store.close().await.unwrap();
    schema_of(&path)
}

#[tokio::test]
async fn version_1_database_is_migrated_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&fixture("schema-v1.sql"))
        .unwrap();
    let store = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap();
    let report = store.open_report();
    assert_eq!(
        (report.schema_from, report.schema_to, report.reclaimed),
        (1, SqliteStore::schema_version(), 1)
    );
    // Ingress rows survive: the claimed one was reclaimed, dedupe still answers.
    let claimed = store.claim_next(ClaimScope::All, 2_000, 10).await.unwrap();
    let events: Vec<_> = claimed
        .iter()
        .map(|c| (c.event_id.as_str(), c.payload.as_slice(), c.attempt))
        .collect();
    assert_eq!(
        events,
        [
            ("SMpending", b"Body=hi".as_slice(), 1),
            ("SMclaimed", b"Body=yo".as_slice(), 2)
        ]
    );
    let dup = store
        .enqueue(crate::support::msg("default", "SMdone", "x", 0))
        .await
        .unwrap();
    assert!(matches!(
        dup,
        Enqueued::Duplicate {
            state: IngressState::Completed,
            ..
        }
    ));
    // Pairing rows survive and gain the new column.
    let key = PairingKey::new("sms", "default");
    let requests = store.list_requests(&key, 1_000, 3_600_000).await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (
            requests[0].code.as_str(),
            requests[0].last_seen_at,
            requests[0].held_event_id
        ),
        ("ABCD2345", 600, None)
    );
    assert_eq!(
        store.allow_entries(&key).await.unwrap()[0].entry,
        "+15550004"
    );
    assert_eq!(store.integrity_check().await.unwrap(), ["ok"]);
    store.close().await.unwrap();
    // The migrated schema is the fresh schema.
    assert_eq!(schema_of(&path), fresh_schema().await);
    // Opening again migrates nothing.
    let store = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        store.open_report().schema_from,
        SqliteStore::schema_version()
    );
}

#[tokio::test]
async fn version_2_database_is_migrated_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&fixture("schema-v2.sql"))
        .unwrap();
    let store = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap();
    let report = store.open_report();
    assert_eq!(
        (report.schema_from, report.schema_to, report.reclaimed),
        (2, SqliteStore::schema_version(), 0)
    );
    assert_eq!(SqliteStore::schema_version(), 7);
    // Ingress: the pending one is claimable, the held one is not, dedupe still answers.
    let claimed = store.claim_next(ClaimScope::All, 2_000, 10).await.unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|c| (c.event_id.as_str(), c.payload.as_slice()))
            .collect::<Vec<_>>(),
        [("SMpending", b"Body=hi".as_slice())]
    );
    let dup = store
        .enqueue(crate::support::msg("default", "SMheld", "x", 0))
        .await
        .unwrap();
    assert!(matches!(
        dup,
        Enqueued::Duplicate {
            state: IngressState::Held,
            ..
        }
    ));
    // Pairing keeps its held message; allow entries, opt-outs, history, deliveries survive.
    let key = PairingKey::new("sms", "default");
    let requests = store.list_requests(&key, 1_100, 3_600_000).await.unwrap();
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.code.as_str(), r.held_event_id))
            .collect::<Vec<_>>(),
        [("ABCD2345", Some(IngressId::new(2)))]
    );
    assert_eq!(
        store.allow_entries(&key).await.unwrap()[0].entry,
        "+15550004"
    );
    let opt_out = store
        .opt_out("default", "+15550005")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((opt_out.keyword.as_str(), opt_out.at), ("STOP", 800));
    let history = store
        .recent_history("default", "+15550001", 10)
        .await
        .unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| (h.role, h.text.as_str(), h.at))
            .collect::<Vec<_>>(),
        [
            (Role::User, "hello", 900),
            (Role::Assistant, "hi there", 940)
        ]
    );
    let delivery = store.delivery("default", "SMout1").await.unwrap().unwrap();
    assert_eq!(
        (delivery.status.as_str(), delivery.observations),
        ("delivered", 2)
    );
    // Outbound intents survive; the ambiguous one is still to be resumed.
    let intents = store.intents_for_reply("SMdone").await.unwrap();
    assert_eq!(
        intents
            .iter()
            .map(|i| (i.part_index, i.state, i.message_sid.as_deref()))
            .collect::<Vec<_>>(),
        [
            (0, IntentState::Sent, Some("SMout1")),
            (1, IntentState::Ambiguous, None)
        ]
    );
    assert_eq!(store.unfinished_intents("default").await.unwrap().len(), 1);
    // The legacy import marker survives, so nothing is imported again.
    assert_eq!(
        store.import_legacy(dir.path(), 2_000).await.unwrap(),
        LegacyImport::AlreadyDone { at: 400 }
    );
    // The new tables start empty and work.
    assert_eq!(store.reply("SMdone").await.unwrap(), None);
    assert!(store.agent_turns("default").await.unwrap().is_empty());
    let saved = store
        .save_reply(NewReply {
            reply_id: "SMdone".into(),
            account: "default".into(),
            recipient: "+15550001".into(),
            text: "resumed".into(),
            created_at: 2_000,
        })
        .await
        .unwrap();
    assert_eq!(store.reply("SMdone").await.unwrap(), Some(saved));
    assert_eq!(
        store
            .record_agent_turn("default", "SMpending", 2_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.integrity_check().await.unwrap(), ["ok"]);
    store.close().await.unwrap();
    // The migrated schema is the fresh schema.
    assert_eq!(schema_of(&path), fresh_schema().await);
    // Opening again migrates nothing and keeps the new rows.
    let store = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        store.open_report().schema_from,
        SqliteStore::schema_version()
    );
    assert_eq!(
        store.reply("SMdone").await.unwrap().map(|r| r.text),
        Some("resumed".to_owned())
    );
}

#[tokio::test]
async fn version_0_is_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.sqlite");
    std::fs::write(&path, b"").unwrap();
    let store = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.open_report().schema_from, 0);
    store.close().await.unwrap();
    assert_eq!(schema_of(&path), fresh_schema().await);
}

#[tokio::test]
async fn newer_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::UnsupportedSchema {
            found: 99,
            supported: SqliteStore::schema_version()
        }
    );
}

#[tokio::test]
async fn open_creates_private_file_and_directories_with_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/state.sqlite");
    let store = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.path(), Some(path.as_path()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // SQLite gives the WAL and shared-memory files the database file's mode, whatever the umask.
    #[cfg(unix)]
    for suffix in ["-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt as _;
        let side = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        let mode = std::fs::metadata(&side).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", side.display());
    }
    // A path that cannot be a directory fails with OpenDatabase.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let err = SqliteStore::open(&blocker.join("db.sqlite"), &StoreOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OpenDatabase { .. }), "{err:?}");
}
