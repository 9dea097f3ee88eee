//! One-time import of upstream's JSON pairing files.

use std::path::Path;

use openclaw_store::{LegacyImport, PairingKey, PairingStore, StoreError};

use crate::support::file_store;

const NOW: i64 = 1_795_635_000_000; // 2026-11-25T19:30:00Z
const TTL: i64 = 3_600_000;

fn copy_fixture(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy/credentials");
    let dest = to.join("credentials");
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
    }
}

#[tokio::test]
async fn imports_requests_and_allow_lists_once() {
    let (store, dir) = file_store().await;
    let state = dir.path().join("legacy-state");
    copy_fixture(&state);
    let report = store.import_legacy(&state, NOW).await.unwrap();
    let LegacyImport::Imported {
        requests,
        allow_entries,
        files,
    } = report
    else {
        panic!("{report:?}")
    };
    assert_eq!((requests, allow_entries, files.len()), (2, 3, 3));

    let default = PairingKey::new("sms", "default");
    let live = store.list_requests(&default, NOW, TTL).await.unwrap();
    assert_eq!(live.len(), 1);
    // 2026-11-25T19:00:00Z and 19:10:00Z.
    assert_eq!(
        (live[0].sender_id.as_str(), live[0].code.as_str()),
        ("+15550001111", "ABCD2345")
    );
    assert_eq!(
        (live[0].created_at, live[0].last_seen_at),
        (1_795_633_200_000, 1_795_633_800_000)
    );
    let work = PairingKey::new("sms", "work");
    let w = store
        .request_for(&work, "+15550002222")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (w.code.as_str(), w.meta["name"].as_str()),
        ("WXYZ6789", Some("Bob"))
    );
    // Imported requests are expired by the caller's clock like any other.
    assert!(!w.is_live(NOW, TTL));
    let entries: Vec<String> = store
        .allow_entries(&default)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.entry)
        .collect();
    assert_eq!(entries, ["+15551230000", "+15551239999"]);
    assert_eq!(
        store.allow_entries(&work).await.unwrap()[0].entry,
        "+15557770000"
    );
    assert!(
        store
            .allow_entries(&PairingKey::new("telegram", "default"))
            .await
            .unwrap()
            .is_empty()
    );

    // Approval of an imported request works like any other.
    assert!(
        store
            .approve(&default, "abcd2345", NOW, TTL)
            .await
            .unwrap()
            .is_some()
    );
    // Second run: recorded, nothing read or re-added.
    assert_eq!(
        store.import_legacy(&state, NOW + 1).await.unwrap(),
        LegacyImport::AlreadyDone { at: NOW }
    );
    assert_eq!(
        store.request_for(&default, "+15550001111").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn missing_files_import_nothing_and_record_it() {
    let (store, dir) = file_store().await;
    let report = store
        .import_legacy(&dir.path().join("nothing-here"), NOW)
        .await
        .unwrap();
    assert_eq!(
        report,
        LegacyImport::Imported {
            requests: 0,
            allow_entries: 0,
            files: vec![]
        }
    );
    assert!(matches!(
        store.import_legacy(dir.path(), NOW).await.unwrap(),
        LegacyImport::AlreadyDone { .. }
    ));
}

#[tokio::test]
async fn malformed_file_fails_and_is_retried_later() {
    let (store, dir) = file_store().await;
    let state = dir.path().join("legacy-state");
    copy_fixture(&state);
    let pairing = state.join("credentials/sms-pairing.json");
    std::fs::write(&pairing, "{not json").unwrap();
    let err = store.import_legacy(&state, NOW).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::ImportLegacy { path, .. } if path == &pairing),
        "{err:?}"
    );
    std::fs::write(&pairing, r#"{"version":2,"requests":[]}"#).unwrap();
    assert!(matches!(
        store.import_legacy(&state, NOW).await,
        Err(StoreError::ImportLegacy { .. })
    ));
    assert!(
        store
            .allow_entries(&PairingKey::new("sms", "default"))
            .await
            .unwrap()
            .is_empty()
    );
    std::fs::write(&pairing, r#"{"version":1,"requests":[]}"#).unwrap();
    let report = store.import_legacy(&state, NOW).await.unwrap();
    assert!(
        matches!(
            report,
            LegacyImport::Imported {
                requests: 0,
                allow_entries: 3,
                ..
            }
        ),
        "{report:?}"
    );
}
