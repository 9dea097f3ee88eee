//! Helpers shared by the test modules.

use std::path::PathBuf;

use openclaw_store::{NewIngress, SqliteStore, StoreOptions};
use tempfile::TempDir;

/// A store on a file in a fresh temporary directory (kept alive by the returned guard).
pub(crate) async fn file_store() -> (SqliteStore, TempDir) {
    file_store_with(StoreOptions::default()).await
}

pub(crate) async fn file_store_with(options: StoreOptions) -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db_path(&dir), &options).await.unwrap();
    (store, dir)
}

pub(crate) fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("state").join("openclaw-sms.sqlite")
}

pub(crate) fn msg(account: &str, event: &str, lane: &str, at: i64) -> NewIngress {
    NewIngress {
        account: account.to_owned(),
        event_id: event.to_owned(),
        lane: lane.to_owned(),
        payload: format!("payload of {event}").into_bytes(),
        received_at: at,
    }
}
