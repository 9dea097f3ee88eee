//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in a store call.
///
/// Messages never contain payloads, message bodies or secrets: only identifiers that the caller
/// passed in (row ids, codes are never echoed) and the database's own reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file or its directory could not be created or opened.
    #[error("open state database {path}: {reason}")]
    OpenDatabase {
        /// The database file.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A schema migration step failed; the database is left at the previous version.
    #[error("migrate state database to version {to}: {reason}")]
    MigrateSchema {
        /// The version the failed step would have produced.
        to: u32,
        /// Why it failed.
        reason: String,
    },
    /// The database was written by a newer build than this one.
    #[error("state database has schema version {found}, newer than the supported {supported}")]
    UnsupportedSchema {
        /// `PRAGMA user_version` of the file (SQLite) or `schema_version` (PostgreSQL).
        found: i64,
        /// The newest version this build knows.
        supported: u32,
    },
    /// The database server could not be reached or refused the connection.
    #[error("connect to state database {target}: {reason}")]
    ConnectDatabase {
        /// `host:port/database`, and `(sslmode=…)` once the URL is parsed: never the user or
        /// the password.
        target: String,
        /// Why it failed (the password is never included).
        reason: String,
    },
    /// A statement or a commit failed.
    #[error("query state database ({context}): {reason}")]
    QueryDatabase {
        /// What the store was doing.
        context: &'static str,
        /// The database's reason.
        reason: String,
    },
    /// A stored value could not be decoded (a corrupt or foreign row).
    #[error("decode stored {what}: {reason}")]
    DecodeRow {
        /// What kind of value.
        what: &'static str,
        /// Why it did not decode.
        reason: String,
    },
    /// The writer thread or the reader pool is gone (the store was closed or a thread died).
    #[error("state database writer is not running")]
    WriterStopped,
    /// The row named by an id does not exist (or was pruned).
    #[error("no {what} with id {id}")]
    FindRow {
        /// What kind of row.
        what: &'static str,
        /// The id asked for.
        id: i64,
    },
    /// The row exists but is not in a state that allows the requested transition.
    #[error("cannot {action} {what} {id}: it is {state}")]
    ChangeState {
        /// What kind of row.
        what: &'static str,
        /// Its id.
        id: i64,
        /// The transition asked for (`complete`, `resubmit`, ...).
        action: &'static str,
        /// The state it is in.
        state: String,
    },
    /// A legacy upstream file exists but could not be read or parsed.
    #[error("import legacy file {path}: {reason}")]
    ImportLegacy {
        /// The file.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A caller-supplied value is outside what the store accepts.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which argument.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl StoreError {
    pub(crate) fn query(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |err| Self::QueryDatabase {
            context,
            reason: err.to_string(),
        }
    }
}
