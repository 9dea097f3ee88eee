//! The SQLite implementation: one file, a writer thread with group commit, a pool of readers.

mod console;
mod delivery;
mod ingress;
mod legacy;
mod misc;
mod outbound;
mod pairing;
mod scheduled;
mod schema;
mod snapshot;
mod steps;
mod turns;
mod usage;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

pub use legacy::LegacyImport;

use crate::Retention;
use crate::StoreError;

pub(crate) use schema::SCHEMA_VERSION;

/// Reader connections opened by default (reads run on tokio's blocking pool, never on workers).
pub const DEFAULT_READERS: usize = 2;
/// At most this many write jobs share one transaction (one commit, one fsync).
pub const MAX_BATCH: usize = 1_024;
/// Write jobs waiting for the writer thread; a caller beyond this waits (asynchronously).
pub const WRITE_QUEUE_CAPACITY: usize = 8_192;
/// How long a connection waits for a lock held by another connection, milliseconds.
pub(crate) const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Group-commit gather window: when fewer jobs are waiting than the previous batch held, the
/// writer waits at most this long for the rest before it commits (callers just answered are
/// usually about to send their next job). Small against one fsync (about 4 ms on a typical
/// virtual disk), and never applied when the previous batch was a single job.
pub const GATHER_WINDOW: Duration = Duration::from_micros(1_000);
/// At most this many pipeline jobs join a transaction that carries webhook acknowledgements,
/// so that an acknowledgement waits for at most about one fsync and this much work ahead of
/// it, however much pipeline work is queued.
pub const WORK_PER_ACK_BATCH: usize = 64;
/// The writer asks the checkpointer thread for a passive WAL checkpoint after this many write
/// jobs, so that checkpoints (and their fsyncs) stay off the commit path.
pub(crate) const CHECKPOINT_EVERY_JOBS: usize = 1_000;

/// Bounds and sizes of a [`SqliteStore`]. Every field has a documented default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Reader connections ([`DEFAULT_READERS`]); 0 sends reads through the writer thread.
    pub readers: usize,
    /// Write jobs per transaction ([`MAX_BATCH`]).
    pub max_batch: usize,
    /// Queued write jobs ([`WRITE_QUEUE_CAPACITY`]).
    pub write_queue_capacity: usize,
    /// Group-commit gather window ([`GATHER_WINDOW`]); zero commits whatever is waiting.
    pub gather_window: Duration,
    /// Retention bounds (lifetimes and caps), the same struct as the other backend's.
    pub retention: Retention,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            readers: DEFAULT_READERS,
            max_batch: MAX_BATCH,
            write_queue_capacity: WRITE_QUEUE_CAPACITY,
            gather_window: GATHER_WINDOW,
            retention: Retention::default(),
        }
    }
}

/// What happened when the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenReport {
    /// Schema version found in the file (0 for a new file).
    pub schema_from: u32,
    /// Schema version now.
    pub schema_to: u32,
    /// Messages that were claimed when the previous process stopped and are claimable again.
    pub reclaimed: u64,
}

/// A unit of work for the writer thread.
trait WriteJob: Send {
    /// Runs inside the batch transaction; returns what to do once the commit's fate is known.
    fn run(self: Box<Self>, conn: &Connection) -> Responder;
    /// Answers without running (the transaction could not start).
    fn abort(self: Box<Self>, err: StoreError);
}

type Responder = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

struct TypedJob<T, F> {
    work: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
    /// A place in the bounded write queue, given back once the job is answered.
    permit: OwnedSemaphorePermit,
}

impl<T, F> WriteJob for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Responder {
        let Self {
            work,
            reply,
            permit,
        } = *self;
        let outcome = with_savepoint(conn, work);
        Box::new(move |commit: Result<(), &StoreError>| {
            let answer = match commit {
                Ok(()) => outcome,
                Err(err) => Err(err.clone()),
            };
            // The caller may have given up waiting; nothing to do then.
            let _ = reply.send(answer);
            drop(permit);
        })
    }

    fn abort(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(err));
    }
}

/// Runs one job in a savepoint so that a failing job leaves nothing behind in the batch.
fn with_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let exec = |sql: &str| -> Result<(), StoreError> {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(drop)
            .map_err(StoreError::query("savepoint"))
    };
    exec("SAVEPOINT job")?;
    let outcome = work(conn);
    if outcome.is_err() {
        exec("ROLLBACK TO job")?;
    }
    exec("RELEASE job")?;
    outcome
}

struct ReaderPool {
    conns: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

/// The SQLite store: one database file, WAL with `synchronous=FULL`.
///
/// Writes go to one dedicated thread that group-commits: whatever jobs are waiting when a
/// transaction starts share it (up to [`StoreOptions::max_batch`]), so one fsync acknowledges
/// many callers, and each caller is answered only after the commit. Reads run on reader
/// connections on tokio's blocking pool. All calls are async and never block a tokio worker.
///
/// Claims are reset on open: the file belongs to one process, so every message still claimed
/// when the store opens was claimed by a process that died, and is made claimable again (its
/// attempt stays counted). A shared-database implementation would use leases instead.
pub struct SqliteStore {
    jobs: Option<Arc<JobQueue>>,
    queue_permits: Arc<Semaphore>,
    /// Places in the acknowledgement lane, apart: pipeline work never fills them.
    ack_permits: Arc<Semaphore>,
    counts: Arc<WriteCounters>,
    writer: Option<JoinHandle<()>>,
    readers: Option<ReaderPool>,
    options: StoreOptions,
    path: Option<PathBuf>,
    report: OpenReport,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

fn open_failed(path: &Path) -> impl Fn(String) -> StoreError + '_ {
    move |reason| StoreError::OpenDatabase {
        path: path.to_owned(),
        reason,
    }
}

/// Creates the parent directory (0700) and the file (0600) if they do not exist.
fn create_file(path: &Path) -> Result<(), StoreError> {
    let fail = open_failed(path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent).map_err(|e| fail(e.to_string()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| fail(e.to_string()))?;
    Ok(())
}

fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode stayed {mode}"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

impl SqliteStore {
    /// Opens (creating as needed) the database at `path`: parent directory 0700, file 0600,
    /// WAL with `synchronous=FULL`, migrations applied, claims of a previous process reset.
    pub async fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let options = options.clone();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path, options))
            .await
            .map_err(|_| StoreError::WriterStopped)?
    }

    /// [`SqliteStore::open`] for callers outside an async context (the calling thread blocks).
    pub fn open_blocking(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        create_file(path)?;
        let fail = open_failed(path);
        let mut conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        configure_writer(&conn).map_err(|e| fail(e.to_string()))?;
        let mut readers = Vec::with_capacity(options.readers);
        for _ in 0..options.readers {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .and_then(|r| {
                r.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
                r.set_prepared_statement_cache_capacity(64);
                Ok(r)
            })
            .map_err(|e| fail(e.to_string()))?;
            readers.push(reader);
        }
        let checkpointer = Connection::open(path)
            .and_then(|c| {
                c.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
                c.pragma_update(None, "synchronous", "FULL")?;
                Ok(c)
            })
            .map_err(|e| fail(e.to_string()))?;
        Self::start(
            conn_migrated(&mut conn)?,
            conn,
            Some(checkpointer),
            readers,
            options,
            Some(path.to_owned()),
        )
    }

    /// A private in-memory database (for tests). Reads go through the writer thread.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::open_in_memory_with(StoreOptions::default())
    }

    /// [`SqliteStore::open_in_memory`] with options (`readers` is ignored).
    pub fn open_in_memory_with(options: StoreOptions) -> Result<Self, StoreError> {
        let fail = open_failed(Path::new(":memory:"));
        let mut conn = Connection::open_in_memory().map_err(|e| fail(e.to_string()))?;
        configure_writer(&conn).map_err(|e| fail(e.to_string()))?;
        Self::start(
            conn_migrated(&mut conn)?,
            conn,
            None,
            Vec::new(),
            options,
            None,
        )
    }

    fn start(
        schema_from: u32,
        conn: Connection,
        checkpointer: Option<Connection>,
        readers: Vec<Connection>,
        options: StoreOptions,
        path: Option<PathBuf>,
    ) -> Result<Self, StoreError> {
        let reclaimed = conn
            .execute(
                "UPDATE ingress SET state = 'pending' WHERE state = 'claimed'",
                [],
            )
            .map_err(StoreError::query("reset claims"))?;
        let reclaimed = u64::try_from(reclaimed).unwrap_or(u64::MAX);
        if reclaimed > 0 {
            tracing::warn!(
                reclaimed,
                "ingress messages claimed before a restart are claimable again"
            );
        }
        let rescheduled = scheduled::reset_scheduled_claims(&conn)?;
        if rescheduled > 0 {
            tracing::warn!(
                rescheduled,
                "scheduled sends claimed before a restart are claimable again"
            );
        }
        if checkpointer.is_some() {
            conn.pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(StoreError::query("move checkpoints off the writer"))?;
        }
        let queue = Arc::new(JobQueue::default());
        let counts = Arc::new(WriteCounters::default());
        let batching = Batching {
            max_batch: options.max_batch.max(1),
            gather_window: options.gather_window,
        };
        let (rx, writer_counts) = (Arc::clone(&queue), Arc::clone(&counts));
        let writer = std::thread::Builder::new()
            .name("openclaw-store-writer".to_owned())
            .spawn(move || writer_loop(&conn, &rx, batching, checkpointer, &writer_counts))
            .map_err(|e| StoreError::OpenDatabase {
                path: path.clone().unwrap_or_default(),
                reason: format!("spawn writer thread: {e}"),
            })?;
        let readers = (!readers.is_empty()).then(|| ReaderPool {
            permits: Arc::new(Semaphore::new(readers.len())),
            conns: Arc::new(Mutex::new(readers)),
        });
        Ok(Self {
            jobs: Some(queue),
            queue_permits: Arc::new(Semaphore::new(options.write_queue_capacity.max(1))),
            ack_permits: Arc::new(Semaphore::new(options.write_queue_capacity.max(1))),
            counts,
            writer: Some(writer),
            readers,
            options,
            path,
            report: OpenReport {
                schema_from,
                schema_to: SCHEMA_VERSION,
                reclaimed,
            },
        })
    }

    /// What happened at open: schema versions and reclaimed messages.
    #[must_use]
    pub const fn open_report(&self) -> OpenReport {
        self.report
    }

    /// The database file (`None` in memory).
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The options in force.
    #[must_use]
    pub const fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// The schema version this build writes.
    #[must_use]
    pub const fn schema_version() -> u32 {
        SCHEMA_VERSION
    }

    /// Runs `PRAGMA integrity_check`; returns its lines (`["ok"]` when healthy).
    pub async fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        self.write(|conn| {
            let mut stmt = conn
                .prepare("PRAGMA integrity_check")
                .map_err(StoreError::query("integrity check"))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(StoreError::query("integrity check"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::query("integrity check"))
        })
        .await
    }

    /// Stops the writer after the jobs already queued, and waits for it.
    pub async fn close(mut self) -> Result<(), StoreError> {
        if let Some(queue) = self.jobs.take() {
            queue.close();
        }
        if let Some(writer) = self.writer.take() {
            tokio::task::spawn_blocking(move || writer.join())
                .await
                .map_err(|_| StoreError::WriterStopped)?
                .map_err(|_| StoreError::WriterStopped)?;
        }
        Ok(())
    }

    /// Runs `work` on the writer thread inside the current batch transaction; answers after
    /// the commit.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(Lane::Work, work).await
    }

    /// [`SqliteStore::write`] in the acknowledgement lane (webhook enqueues): taken before any
    /// queued pipeline work, with its own places in the queue.
    pub(crate) async fn write_ack<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(Lane::Ack, work).await
    }

    async fn submit<T, F>(&self, lane: Lane, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let jobs = self.jobs.as_ref().ok_or(StoreError::WriterStopped)?;
        let permits = match lane {
            Lane::Ack => &self.ack_permits,
            Lane::Work => &self.queue_permits,
        };
        let permit = Arc::clone(permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        let (reply, answer) = oneshot::channel();
        jobs.push(
            lane,
            Box::new(TypedJob {
                work,
                reply,
                permit,
            }),
        )?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Write transactions committed and write jobs run since the store was opened.
    #[must_use]
    pub fn write_counts(&self) -> crate::StoreCounts {
        self.counts.snapshot()
    }

    /// Runs `work` on a reader connection (on the blocking pool), or on the writer thread when
    /// there are no readers.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Some(pool) = &self.readers else {
            return self.write(work).await;
        };
        let permit = Arc::clone(&pool.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        let conns = Arc::clone(&pool.conns);
        tokio::task::spawn_blocking(move || {
            let conn = conns.lock().unwrap_or_else(PoisonError::into_inner).pop();
            // One permit per pooled connection, so a permit holder always finds one.
            let conn = conn.ok_or(StoreError::WriterStopped)?;
            let outcome = work(&conn);
            conns
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            drop(permit);
            outcome
        })
        .await
        .map_err(|_| StoreError::WriterStopped)?
    }
}

fn conn_migrated(conn: &mut Connection) -> Result<u32, StoreError> {
    schema::migrate(conn)
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish the queued jobs and exit on its own; the
        // thread is not joined here so that dropping never blocks an async caller.
        if let Some(queue) = self.jobs.take() {
            queue.close();
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Batching {
    max_batch: usize,
    gather_window: Duration,
}

/// Which lane of the writer's queue a job waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// Webhook acknowledgements: every waiting one goes into the next transaction.
    Ack,
    /// Everything else (the pipeline's writes, maintenance).
    Work,
}

#[derive(Default)]
struct Lanes {
    ack: VecDeque<Box<dyn WriteJob>>,
    work: VecDeque<Box<dyn WriteJob>>,
    closed: bool,
}

impl Lanes {
    fn len(&self) -> usize {
        self.ack.len() + self.work.len()
    }
}

/// The writer's two-lane queue: acknowledgements first, pipeline work after them.
#[derive(Default)]
struct JobQueue {
    lanes: Mutex<Lanes>,
    ready: Condvar,
}

impl JobQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, lane: Lane, job: Box<dyn WriteJob>) -> Result<(), StoreError> {
        let mut lanes = self.lock();
        if lanes.closed {
            return Err(StoreError::WriterStopped);
        }
        match lane {
            Lane::Ack => lanes.ack.push_back(job),
            Lane::Work => lanes.work.push_back(job),
        }
        drop(lanes);
        self.ready.notify_one();
        Ok(())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Waits until a job is queued (`false`: closed and empty), then, while fewer than
    /// `expected` are queued, at most until `gather` has passed since the first one.
    fn wait(&self, expected: usize, gather: Duration) -> bool {
        let mut lanes = self.lock();
        while lanes.len() == 0 {
            if lanes.closed {
                return false;
            }
            lanes = self
                .ready
                .wait(lanes)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let deadline = Instant::now() + gather;
        while lanes.len() < expected && !lanes.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            lanes = self
                .ready
                .wait_timeout(lanes, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Takes the next batch: every waiting acknowledgement (up to `max`), then pipeline work
    /// up to `max` in all, or only [`WORK_PER_ACK_BATCH`] of it when acknowledgements ride
    /// along.
    fn take(&self, max: usize, batch: &mut Vec<Box<dyn WriteJob>>) {
        let mut lanes = self.lock();
        while batch.len() < max {
            match lanes.ack.pop_front() {
                Some(job) => batch.push(job),
                None => break,
            }
        }
        let work_room = if batch.is_empty() {
            max
        } else {
            WORK_PER_ACK_BATCH.min(max - batch.len())
        };
        for _ in 0..work_room {
            match lanes.work.pop_front() {
                Some(job) => batch.push(job),
                None => break,
            }
        }
    }
}

/// What the writer has done since the store was opened.
#[derive(Debug, Default)]
struct WriteCounters {
    transactions: AtomicU64,
    jobs: AtomicU64,
}

impl WriteCounters {
    fn snapshot(&self) -> crate::StoreCounts {
        crate::StoreCounts {
            transactions: self.transactions.load(Ordering::Relaxed),
            write_jobs: self.jobs.load(Ordering::Relaxed),
            statements: None,
        }
    }
}

fn writer_loop(
    conn: &Connection,
    jobs: &JobQueue,
    batching: Batching,
    checkpointer: Option<Connection>,
    counts: &WriteCounters,
) {
    let (nudge, nudges) = mpsc::sync_channel::<()>(1);
    let checkpoints = checkpointer.and_then(|c| {
        std::thread::Builder::new()
            .name("openclaw-store-checkpoint".to_owned())
            .spawn(move || checkpoint_loop(&c, &nudges))
            .ok()
    });
    let mut batch: Vec<Box<dyn WriteJob>> = Vec::with_capacity(batching.max_batch);
    let mut expected = 1;
    let mut since_checkpoint = 0;
    // Group commit: the previous batch's callers are probably about to send again.
    while jobs.wait(expected.min(batching.max_batch), batching.gather_window) {
        jobs.take(batching.max_batch, &mut batch);
        expected = batch.len();
        since_checkpoint += batch.len();
        counts.jobs.fetch_add(sio(batch.len()), Ordering::Relaxed);
        if run_batch(conn, &mut batch) {
            counts.transactions.fetch_add(1, Ordering::Relaxed);
        }
        if since_checkpoint >= CHECKPOINT_EVERY_JOBS {
            since_checkpoint = 0;
            // Full means a checkpoint is already asked for; without a checkpointer (memory)
            // nobody listens.
            let _ = nudge.try_send(());
        }
    }
    drop(nudge);
    if let Some(handle) = checkpoints {
        let _ = handle.join();
        // Leave a small WAL behind; failure only means a larger file until next time.
        let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    tracing::debug!("state database writer stopped");
}

fn sio(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Runs passive checkpoints when the writer asks; ends when the writer does.
fn checkpoint_loop(conn: &Connection, nudges: &mpsc::Receiver<()>) {
    while nudges.recv().is_ok() {
        let started = Instant::now();
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        }) {
            Ok((wal_pages, moved)) => tracing::trace!(
                wal_pages,
                moved,
                micros = started.elapsed().as_micros(),
                "state database checkpoint"
            ),
            Err(err) => tracing::warn!(%err, "state database checkpoint failed"),
        }
    }
}

/// Runs one batch in one transaction; whether it committed.
fn run_batch(conn: &Connection, batch: &mut Vec<Box<dyn WriteJob>>) -> bool {
    let started = Instant::now();
    let size = batch.len();
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = StoreError::query("begin transaction")(err);
        for job in batch.drain(..) {
            job.abort(err.clone());
        }
        return false;
    }
    let responders: Vec<Responder> = batch.drain(..).map(|job| job.run(conn)).collect();
    let commit = conn
        .execute_batch("COMMIT")
        .map_err(StoreError::query("commit"));
    if commit.is_err() {
        // A failed COMMIT may leave the transaction open; end it so the next batch can begin.
        let _ = conn.execute_batch("ROLLBACK");
    }
    for respond in responders {
        respond(commit.as_ref().map(|_| ()));
    }
    tracing::trace!(
        size,
        micros = started.elapsed().as_micros(),
        "state batch committed"
    );
    commit.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(conn: &Connection) -> Result<i64, StoreError> {
        conn.query_row("SELECT count(*) FROM opt_outs", [], |r| r.get(0))
            .map_err(StoreError::query("count"))
    }

    fn insert(conn: &Connection, number: &str) -> Result<(), StoreError> {
        conn.execute(
            "INSERT INTO opt_outs (account, number, keyword, at) VALUES ('a', ?1, 'STOP', 0)",
            [number],
        )
        .map(drop)
        .map_err(StoreError::query("insert"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_leaves_nothing_and_spares_its_batch() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let mut tasks = Vec::new();
        for i in 0..64 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                store
                    .write(move |conn| {
                        insert(conn, &format!("+{i}"))?;
                        if i % 4 == 0 {
                            // Written, then refused: the savepoint must undo the insert.
                            return Err(StoreError::InvalidInput {
                                what: "test",
                                reason: "refused after writing".to_owned(),
                            });
                        }
                        Ok(i)
                    })
                    .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 48);
        assert_eq!(store.write(count).await.unwrap(), 48);
        // A job that fails on a constraint is refused alone, too.
        let dup = store.write(|conn| insert(conn, "+1")).await;
        assert!(matches!(dup, Err(StoreError::QueryDatabase { .. })));
        assert_eq!(store.write(count).await.unwrap(), 48);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_acknowledgement_goes_before_queued_pipeline_work() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        // Hold the writer busy while work piles up behind it.
        let (release, blocked) = mpsc::channel::<()>();
        let (started, writer_busy) = oneshot::channel::<()>();
        let blocker = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .write(move |conn| {
                        let _ = started.send(());
                        blocked.recv().ok();
                        insert(conn, "+blocker")
                    })
                    .await
            })
        };
        writer_busy.await.unwrap();
        let mut work = Vec::new();
        for i in 0..500 {
            let store = Arc::clone(&store);
            work.push(tokio::spawn(async move {
                store
                    .write(move |conn| insert(conn, &format!("+{i}")))
                    .await
            }));
        }
        // Let every work job reach the queue before the acknowledgement.
        while store.jobs.as_ref().unwrap().lock().work.len() < 500 {
            tokio::task::yield_now().await;
        }
        let ack = {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.write_ack(count).await })
        };
        while store.jobs.as_ref().unwrap().lock().ack.is_empty() {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        // The acknowledgement ran in the first transaction after the blocker, ahead of the
        // queued work: it saw only the blocker's row.
        assert_eq!(ack.await.unwrap().unwrap(), 1);
        blocker.await.unwrap().unwrap();
        for w in work {
            w.await.unwrap().unwrap();
        }
        assert_eq!(store.write(count).await.unwrap(), 501);
        let counts = store.write_counts();
        assert_eq!(counts.write_jobs, 503);
        // The blocker's, then one ack batch with WORK_PER_ACK_BATCH, then the rest.
        assert!(counts.transactions >= 3, "{counts:?}");
    }

    #[tokio::test]
    async fn closed_store_refuses_writes() {
        let mut store = SqliteStore::open_in_memory().unwrap();
        if let Some(queue) = store.jobs.take() {
            queue.close();
        }
        assert_eq!(store.write(count).await, Err(StoreError::WriterStopped));
    }
}
