//! Durable state for the OpenClaw SMS channel.
//!
//! Everything the gateway must not lose: the ingress queue of accepted webhooks, pairing
//! requests and allow entries, opt-outs, delivery observations, conversation history,
//! outbound intents, saved replies and agent-turn counters. Two backends implement the same
//! traits: SQLite (the embedded default, one file in the state directory) and PostgreSQL
//! (several gateways sharing one state; cargo feature `postgres`, on by default).
//!
//! This crate stores and answers; it does not decide. Access decisions are
//! `openclaw-access-policy`'s, and the pipeline that drives the store is `openclaw-sms`'s.
//! It knows nothing of SMS: account ids, senders, numbers, codes and payloads are opaque
//! strings and bytes (delivery statuses are Twilio's, judged by the pure part of
//! `openclaw-twilio`), and time is always the caller's (unix milliseconds passed in, never a
//! database clock), so tests control it.
//!
//! # Shape
//!
//! One small trait per concern ([`IngressQueue`], [`PairingStore`], [`OptOutStore`],
//! [`HistoryStore`], [`DeliveryStore`], [`OutboundStore`], [`TurnLedger`], [`UsageStore`],
//! [`ScheduledStore`], and the console's read-only [`ConsoleStore`]) and a [`Store`] supertrait
//! that is all of them. Narrow traits let a test fake only what it needs and let a component take only
//! what it uses; the supertrait gives the adapter one `Arc<dyn Store>` (which upcasts to any
//! part). The traits are object-safe (`async_trait`) and name no database type.
//!
//! # Which backend
//!
//! [`SqliteStore`] is the default and the right choice for one gateway: nothing to run, one
//! file to back up, the fastest durable enqueue on one machine. WAL with `synchronous=FULL`,
//! versioned migrations, a writer thread that group-commits (many callers, one transaction,
//! one fsync; each caller answered after the commit), reader connections for reads. The file
//! belongs to one process: claims are reset when it is opened.
//!
//! `PostgresStore` (feature `postgres`) is for several gateways behind one load balancer, or
//! no single point of failure: they share the queue, pairings, opt-outs and deliveries through
//! one PostgreSQL database (or one schema of it). Claims are leases owned by a handle's node
//! id (`claim_lease_ms`, `renew_claims`, `release_claims` on [`IngressQueue`]): a gateway that
//! dies loses its claims after the lease and another finishes its work, while its late
//! answers are refused (fencing). At most one message per lane is claimed across all
//! gateways, in arrival order; the pairing cap, deduplication, first-writer-wins replies and
//! prune caps hold across gateways (transactions and advisory locks). Migrations run at
//! connect under an advisory lock. Driver: `tokio-postgres` with a `deadpool-postgres` pool;
//! TLS (rustls) as libpq's `sslmode` and `sslrootcert` in the URL say ([`SslMode`]).
//!
//! To move an existing state, [`SqliteStore::export_snapshot`] gives a [`StateSnapshot`] and
//! `PostgresStore::import_snapshot` copies it in (one transaction, idempotent, with a
//! [`CopyReport`]).
//!
//! # One answer per message
//!
//! A claimed message whose reply is already saved ([`OutboundStore::reply`]) is not shown to
//! the agent again: its stored text is split and sent, skipping parts whose intents are sent.
//! Otherwise the agent answers and the answer is saved ([`OutboundStore::save_reply`], first
//! writer wins) before its first part's intent is written. [`TurnLedger`] counts agent calls
//! per event so a test can check the outcome; the only window left for a second call is a
//! kill between the agent's answer and the commit of `save_reply`.
//!
//! # Runtime
//!
//! Calls are async and must run inside a tokio runtime (reads use its blocking pool); no call
//! blocks a tokio worker thread. Open the store once and share it (`Arc`); dropping the last
//! handle lets the writer finish what is queued, [`SqliteStore::close`] also waits for it.
//!
//! # Durability
//!
//! An `Ok` from a write means the transaction is committed. PostgreSQL: `COMMIT` has returned
//! (every session sets `synchronous_commit=on`). SQLite: committed with `synchronous=FULL`: it survives
//! the process being killed and, as far as the disk honours fsync, a power cut. The crash test
//! (`tests/it/crash.rs`) kills a writing child process with SIGKILL and checks every
//! acknowledged message; `OPENCLAW_STORE_CRASH_KILLS` sets how many times.
//!
//! # Example
//!
//! ```
//! use openclaw_store::{ClaimScope, Enqueued, IngressQueue, NewIngress, SqliteStore, StoreOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(&dir.path().join("state/openclaw-sms.sqlite"), &StoreOptions::default()).await?;
//! let message = NewIngress {
//!     account: "default".into(),
//!     event_id: "SM0123".into(),
//!     lane: "sender:+15551234567".into(),
//!     payload: b"From=%2B15551234567&Body=hi".to_vec(),
//!     received_at: 1_000,
//! };
//! let first = store.enqueue(message.clone()).await?; // durable when this returns
//! assert!(matches!(first, Enqueued::Accepted { .. }));
//! assert!(store.enqueue(message).await?.is_duplicate()); // a provider retry
//!
//! let claimed = store.claim_next(ClaimScope::All, 1_001, 10).await?;
//! assert_eq!(claimed.len(), 1);
//! store.complete(claimed[0].id, 1_002).await?;
//! # Ok(())
//! # }
//! ```

mod console;
mod counts;
mod delivery;
mod error;
mod ingress;
mod optout;
mod outbound;
mod pairing;
#[cfg(feature = "postgres")]
mod postgres;
mod retention;
mod scheduled;
mod snapshot;
mod sqlite;
mod steps;
mod turns;
mod usage;

pub use console::{AccountTurn, ConsoleStore, ErrorCount, PartDelivery, ReplyPart, ThreadReply};
pub use counts::StoreCounts;
pub use delivery::{
    CONFLICTED, DELIVERY_TTL_MS, DeliveryObservation, DeliveryRecord, DeliveryStore,
    MAX_DELIVERY_RECORDS, is_terminal,
};
pub use error::StoreError;
pub use ingress::{
    CLAIM_WINDOW, ClaimScope, Claimed, DEAD_LETTER_TTL_MS, DeadLetter, Enqueued, IngressId,
    IngressPruned, IngressQueue, IngressState, MAX_DEAD_LETTERS_PER_ACCOUNT,
    MAX_TOMBSTONES_PER_ACCOUNT, NewIngress, RetryBackoff, TOMBSTONE_TTL_MS, TransientFailure,
};
pub use optout::{
    ConversationSummary, HISTORY_PER_PEER, HistoryEntry, HistoryStore, OptOut, OptOutStore, Role,
};
pub use outbound::{
    INTENT_TTL_MS, IntentCreated, IntentId, IntentState, NewIntent, NewReply, OutboundIntent,
    OutboundStore, SavedReply, body_hash,
};
pub use pairing::{
    AllowEntry, CreateRequestOutcome, NewPairingRequest, PairingKey, PairingRequest, PairingStore,
    PendingCap,
};
#[cfg(feature = "postgres")]
pub use postgres::{
    CLAIMED_ELSEWHERE, DEFAULT_ACK_WRITERS, DEFAULT_CONNECT_TIMEOUT, DEFAULT_LEASE_MS,
    DEFAULT_MAX_CONNECTIONS, MAX_ACK_BATCH, MAX_ACK_QUEUE, MAX_INGRESS_CONNECTIONS,
    MAX_ROOT_CERT_BYTES, MAX_SCHEMA_NAME_LEN, PostgresOptions, PostgresStore, SslMode,
};
pub use retention::Retention;
pub use scheduled::{
    NewScheduledSend, SCHEDULE_LEASE_MS, SCHEDULED_TTL_MS, ScheduleReason, ScheduledOutcome,
    ScheduledSend, ScheduledState, ScheduledStore,
};
pub use snapshot::{
    CopyReport, SnapshotAllowEntry, SnapshotHistory, SnapshotIngress, SnapshotPairingRequest,
    SnapshotTurns, StateSnapshot, TableCopy,
};
pub use sqlite::{
    DEFAULT_READERS, GATHER_WINDOW, LegacyImport, MAX_BATCH, OpenReport, SqliteStore, StoreOptions,
    WORK_PER_ACK_BATCH, WRITE_QUEUE_CAPACITY,
};
pub use steps::{AnswerContext, Completion, FirstPart, HistoryLine, PipelineSteps, SavedAnswer};
pub use turns::TurnLedger;
pub use usage::{BudgetHit, DayUsage, HeldRest, SentPart, UsageRow, UsageStore};

/// The longest [`IngressQueue::check_ready`] waits for a database server's answer.
pub const READY_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// All of the store: what the channel adapter holds as `Arc<dyn Store>`.
pub trait Store:
    IngressQueue
    + PairingStore
    + OptOutStore
    + HistoryStore
    + DeliveryStore
    + OutboundStore
    + TurnLedger
    + UsageStore
    + ConsoleStore
    + ScheduledStore
    + PipelineSteps
{
}

impl<T> Store for T where
    T: IngressQueue
        + PairingStore
        + OptOutStore
        + HistoryStore
        + DeliveryStore
        + OutboundStore
        + TurnLedger
        + UsageStore
        + ConsoleStore
        + ScheduledStore
        + PipelineSteps
{
}
