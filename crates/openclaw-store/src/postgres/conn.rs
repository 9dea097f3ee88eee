//! Counted connections: every statement the PostgreSQL store sends goes through a [`Conn`] or a
//! [`Tx`] of it and the SQL helpers (`execute`, `query`, `query_opt`, … in `ingress.rs`), which
//! count statements and commits on the store handle ([`Counters`], read as
//! [`StoreCounts`]).
//!
//! What is counted, at the client:
//! - a statement: every statement sent (reads, `BEGIN`, `COMMIT`, the `ROLLBACK` a
//!   dropped transaction sends), failed ones included; preparing a
//!   statement (a cache miss of `prepare_cached`, once per connection) is not a statement;
//! - a commit: a `COMMIT` that succeeded after a statement of its transaction wrote rows, or a
//!   single statement outside a transaction that wrote rows (its own commit). A transaction
//!   or statement that wrote nothing writes no commit record and is not counted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use deadpool_postgres::GenericClient;

use crate::StoreCounts;

/// Statements and commits of one store handle (shared by its clones).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    statements: AtomicU64,
    commits: AtomicU64,
}

impl Counters {
    /// One statement sent.
    pub(crate) fn sent(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far: `write_jobs` is the commits (each is one store call that wrote).
    pub(crate) fn snapshot(&self) -> StoreCounts {
        let commits = self.commits.load(Ordering::Relaxed);
        StoreCounts {
            transactions: commits,
            write_jobs: commits,
            statements: Some(self.statements.load(Ordering::Relaxed)),
        }
    }
}

/// Where the SQL helpers send statements: a pooled connection ([`Conn`], each statement its
/// own transaction) or a transaction of one ([`Tx`]).
pub(crate) trait Sql: Sync {
    /// The driver's client.
    type Db: GenericClient + Sync;
    /// The driver's client, to prepare and run statements on.
    fn db(&self) -> &Self::Db;
    /// The handle's counters.
    fn counters(&self) -> &Counters;
    /// A statement sent here wrote rows: its own commit outside a transaction, or one that
    /// makes the transaction's commit count.
    fn wrote(&self);
}

/// A pooled connection of the store, counted. It gives no access to the driver's client:
/// statements go through the SQL helpers (or the methods here), so none escapes the count.
pub(crate) struct Conn<'h> {
    object: deadpool_postgres::Object,
    counters: &'h Counters,
}

impl<'h> Conn<'h> {
    pub(crate) fn new(object: deadpool_postgres::Object, counters: &'h Counters) -> Self {
        Self { object, counters }
    }

    /// `BEGIN`: a counted transaction.
    pub(crate) async fn transaction(&mut self) -> Result<Tx<'_>, tokio_postgres::Error> {
        self.counters.sent();
        let tx = self.object.transaction().await?;
        Ok(Tx::new(tx, self.counters))
    }

    /// `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`: a consistent picture for a reader.
    pub(crate) async fn snapshot_transaction(&mut self) -> Result<Tx<'_>, tokio_postgres::Error> {
        self.counters.sent();
        let tx = self
            .object
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        Ok(Tx::new(tx, self.counters))
    }

    /// Runs `sql` (one or more statements, no parameters) with the simple query protocol;
    /// counted as one statement.
    pub(crate) async fn batch_execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.counters.sent();
        self.object.batch_execute(sql).await
    }
}

impl Sql for Conn<'_> {
    type Db = deadpool_postgres::Object;
    fn db(&self) -> &Self::Db {
        &self.object
    }
    fn counters(&self) -> &Counters {
        self.counters
    }
    fn wrote(&self) {
        self.counters.committed();
    }
}

/// A counted transaction of a [`Conn`]. Dropped unfinished, it is rolled back (the driver
/// sends `ROLLBACK`, counted here).
pub(crate) struct Tx<'c> {
    tx: Option<deadpool_postgres::Transaction<'c>>,
    counters: &'c Counters,
    /// Whether a statement of it wrote rows (then its commit counts).
    wrote: AtomicBool,
}

impl<'c> Tx<'c> {
    fn new(tx: deadpool_postgres::Transaction<'c>, counters: &'c Counters) -> Self {
        Self {
            tx: Some(tx),
            counters,
            wrote: AtomicBool::new(false),
        }
    }

    /// `COMMIT`.
    pub(crate) async fn commit(mut self) -> Result<(), tokio_postgres::Error> {
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        self.counters.sent();
        tx.commit().await?;
        if self.wrote.load(Ordering::Relaxed) {
            self.counters.committed();
        }
        Ok(())
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.tx.take().is_some() {
            // The driver sends `ROLLBACK` for a transaction dropped unfinished.
            self.counters.sent();
        }
    }
}

impl<'c> Sql for Tx<'c> {
    type Db = deadpool_postgres::Transaction<'c>;
    fn db(&self) -> &Self::Db {
        match &self.tx {
            Some(tx) => tx,
            // `commit` consumes the transaction: no statement can follow it.
            None => unreachable!("a committed transaction takes no statement"),
        }
    }
    fn counters(&self) -> &Counters {
        self.counters
    }
    fn wrote(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }
}
