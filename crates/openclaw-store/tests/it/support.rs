//! Helpers shared by the test modules: stores on both backends and the macro that runs one
//! test body on each.

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

/// Runs each named `async fn case(store: Arc<dyn Store>)` of the calling module once on a
/// SQLite file and once on PostgreSQL (a fresh schema): `on_both_backends!(case_a, case_b
/// with StoreOptions { .. })`. The options (SQLite's; PostgreSQL takes their retention
/// bounds) default to `StoreOptions::default()`. Each case becomes a module with two tests,
/// `case::sqlite` and `case::postgres`.
macro_rules! on_both_backends {
    ($($case:ident $(with $options:expr)?),* $(,)?) => {$(
        mod $case {
            #[allow(unused_imports)]
            use super::*;

            #[allow(clippy::redundant_closure_call)]
            fn options() -> openclaw_store::StoreOptions {
                None$(.or(Some($options)))?.unwrap_or_default()
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _dir) = crate::support::file_store_with(options()).await;
                super::$case(std::sync::Arc::new(store)).await;
            }

            #[cfg(feature = "postgres")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let pg_options = openclaw_store::PostgresOptions {
                    retention: options().retention,
                    ..openclaw_store::PostgresOptions::default()
                };
                let Some(db) = crate::support::pg::fresh_schema(pg_options).await else {
                    return;
                };
                super::$case(std::sync::Arc::new(db.store.clone())).await;
                db.drop_schema().await;
            }
        }
    )*};
}

pub(crate) use on_both_backends;

#[cfg(feature = "postgres")]
pub(crate) mod pg {
    //! PostgreSQL test databases: one fresh schema per test on `OPENCLAW_TEST_PG_URL`.

    use std::io::Write as _;
    use std::sync::Once;

    use openclaw_store::{PostgresOptions, PostgresStore};

    /// The server URL, or `None` when PostgreSQL tests cannot run here. Panics when
    /// `OPENCLAW_REQUIRE_POSTGRES` is set and the URL is missing (CI must run them).
    pub(crate) fn url() -> Option<String> {
        static SKIPPED: Once = Once::new();
        match std::env::var("OPENCLAW_TEST_PG_URL") {
            Ok(url) if !url.trim().is_empty() => Some(url),
            _ => {
                assert!(
                    std::env::var_os("OPENCLAW_REQUIRE_POSTGRES").is_none(),
                    "PostgreSQL tests need OPENCLAW_TEST_PG_URL; CI installs and starts \
                     PostgreSQL in .ci/run"
                );
                SKIPPED.call_once(|| {
                    // Straight to the process's stderr: the test harness captures `eprintln!`
                    // of passing tests, and this line must be seen.
                    let _ = writeln!(
                        std::io::stderr(),
                        "OPENCLAW_TEST_PG_URL is not set: the PostgreSQL half of the store tests \
                         was not run"
                    );
                });
                None
            }
        }
    }

    /// The PEM file of the CA that issued the test server's certificate
    /// (`OPENCLAW_TEST_PG_CA`, set by `cargo xtask ci` and `cargo xtask pg` for the private
    /// cluster), with the server URL; `None` when the TLS tests cannot run here. Panics when
    /// `OPENCLAW_REQUIRE_POSTGRES` is set and either is missing.
    pub(crate) fn url_and_ca() -> Option<(String, std::path::PathBuf)> {
        static SKIPPED: Once = Once::new();
        let url = url()?;
        match std::env::var_os("OPENCLAW_TEST_PG_CA") {
            Some(ca) if !ca.is_empty() => Some((url, ca.into())),
            _ => {
                assert!(
                    std::env::var_os("OPENCLAW_REQUIRE_POSTGRES").is_none(),
                    "the PostgreSQL TLS tests need OPENCLAW_TEST_PG_CA (the CA of the server's \
                     certificate); `cargo xtask ci` and `cargo xtask pg` set it"
                );
                SKIPPED.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "OPENCLAW_TEST_PG_CA is not set: the PostgreSQL TLS tests were not run"
                    );
                });
                None
            }
        }
    }

    /// A fresh schema name, `t_` and 16 random hex digits.
    pub(crate) fn schema_name() -> String {
        format!("t_{:016x}", rand::random::<u64>())
    }

    /// One test's schema, with a first handle ("node") on it.
    pub(crate) struct TestSchema {
        pub(crate) url: String,
        pub(crate) schema: String,
        pub(crate) options: PostgresOptions,
        pub(crate) store: PostgresStore,
    }

    /// Connects a first handle to a fresh schema; `None` when PostgreSQL tests are skipped.
    pub(crate) async fn fresh_schema(mut options: PostgresOptions) -> Option<TestSchema> {
        let url = url()?;
        let schema = schema_name();
        options.schema = Some(schema.clone());
        let store = PostgresStore::connect(&url, &options).await.unwrap();
        Some(TestSchema {
            url,
            schema,
            options,
            store,
        })
    }

    impl TestSchema {
        /// Another handle on the same schema: another gateway, with its own node id.
        pub(crate) async fn node(&self) -> PostgresStore {
            PostgresStore::connect(&self.url, &self.options)
                .await
                .unwrap()
        }

        /// Drops the schema and everything in it.
        pub(crate) async fn drop_schema(self) {
            self.store.close().await;
            drop_schema(&self.url, &self.schema).await;
        }
    }

    /// Drops a schema (best effort: a leftover schema only costs space).
    pub(crate) async fn drop_schema(url: &str, schema: &str) {
        let Ok((client, connection)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await
        else {
            return;
        };
        let task = tokio::spawn(connection);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await;
        drop(client);
        let _ = task.await;
    }
}
