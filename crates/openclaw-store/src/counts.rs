//! What a store has written, counted (not estimated), for the benchmark and `/metrics`.

/// Writes since a store handle was opened.
///
/// SQLite: `transactions` are the writer's commits (each a group commit shared by every job in
/// it, one fsync), `write_jobs` the callers' units of work in them; statements are not counted.
/// PostgreSQL: `transactions` are the commits this handle made (explicit transactions and
/// single statements outside one), `statements` every statement it sent, reads included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Committed write transactions.
    pub transactions: u64,
    /// Write jobs run (SQLite; on PostgreSQL, the calls that wrote).
    pub write_jobs: u64,
    /// Statements sent to the server (PostgreSQL), `None` where not counted.
    pub statements: Option<u64>,
}
