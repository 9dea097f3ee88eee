//! The PostgreSQL implementation: one database shared by several gateways.
//!
//! Every call takes a connection from a pool (`deadpool-postgres`, broken connections are
//! replaced), runs its statements (one where it can: data-modifying CTEs write several rows
//! atomically in one round trip; a transaction otherwise), and answers after the commit
//! (every session sets `synchronous_commit=on`). Statements are prepared once per connection
//! and counted on the handle ([`PostgresStore::store_counts`], see `conn.rs`). Ingress claims are leases owned
//! by this handle's [`PostgresStore::node_id`]; see [`IngressQueue`](crate::IngressQueue) for
//! the lease hooks.
//!
//! TLS follows libpq's `sslmode` and `sslrootcert` in the URL (see [`SslMode`]), over rustls.

mod ack;
mod conn;
mod console;
mod delivery;
mod ingress;

pub use ingress::CLAIMED_ELSEWHERE;
mod misc;
mod outbound;
mod pairing;
mod scheduled;
mod schema;
mod snapshot;
mod steps;
mod tls;
mod usage;

pub use ack::{MAX_ACK_BATCH, MAX_ACK_QUEUE};
pub use tls::{MAX_ROOT_CERT_BYTES, SslMode};

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::Retention;
use crate::StoreError;

pub(crate) use schema::SCHEMA_VERSION as PG_SCHEMA_VERSION;

/// Connections in the pool by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8;
/// How long a claim lasts without renewal by default, milliseconds (the pump renews every
/// third of it).
pub const DEFAULT_LEASE_MS: i64 = 30_000;
/// How long connecting (and taking a fresh connection) may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Enqueue writers (group commit) by default; see [`PostgresOptions::ack_writers`].
pub const DEFAULT_ACK_WRITERS: usize = MAX_INGRESS_CONNECTIONS;
/// The longest schema name accepted (PostgreSQL's identifier limit).
pub const MAX_SCHEMA_NAME_LEN: usize = 63;

/// Advisory lock classes (first key of `pg_advisory_xact_lock(int, int)`), one per purpose.
const LOCK_CLASS_MIGRATE: i32 = 0x6f63_0001;
const LOCK_CLASS_PAIRING: i32 = 0x6f63_0002;
const LOCK_CLASS_LANE: i32 = 0x6f63_0003;
// 0x6f63_0004 locked a delivery record; retired (the upsert's row lock orders observations).
const LOCK_CLASS_IMPORT: i32 = 0x6f63_0005;

/// Bounds and sizes of a [`PostgresStore`]. Every field has a documented default; build with
/// `PostgresOptions { schema: Some(..), ..PostgresOptions::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Connections in the pool ([`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// Claim lease, milliseconds ([`DEFAULT_LEASE_MS`]).
    pub lease_ms: i64,
    /// `None`: the connection's default schema (`search_path`). `Some(s)`: every table lives
    /// in schema `s` (a lower-case identifier: `a-z`, `0-9`, `_`, not starting with a digit, at
    /// most [`MAX_SCHEMA_NAME_LEN`] bytes), created if missing; for namespacing and tests.
    pub schema: Option<String>,
    /// Connect timeout ([`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// Retention bounds (lifetimes and caps), the same struct as the other backend's.
    pub retention: Retention,
    /// Tasks that write webhook enqueues in batches, each batch one statement and one commit
    /// on a connection kept for enqueues ([`DEFAULT_ACK_WRITERS`], at most
    /// [`MAX_INGRESS_CONNECTIONS`]). `0`: no batching, each enqueue its own statement and
    /// commit (the path before group commit, kept for comparison).
    pub ack_writers: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            lease_ms: DEFAULT_LEASE_MS,
            schema: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retention: Retention::default(),
            ack_writers: DEFAULT_ACK_WRITERS,
        }
    }
}

/// Whether `name` is a plain lower-case identifier (safe to splice into DDL unquoted).
fn valid_schema_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        && name.len() <= MAX_SCHEMA_NAME_LEN
}

struct Inner {
    pool: Pool,
    /// Connections only for [`IngressQueue::enqueue`](crate::IngressQueue::enqueue): a
    /// webhook's durable accept never waits behind the pipeline's work for a connection.
    ingress: ack::IngressPool,
    /// The enqueue writers (group commit); `None` when [`PostgresOptions::ack_writers`] is 0.
    acks: Option<ack::AckWriters>,
    node_id: String,
    target: String,
    ssl_mode: SslMode,
    options: PostgresOptions,
    /// Statements and commits of this handle and its clones (see [`conn`]).
    counters: Arc<conn::Counters>,
}

/// The PostgreSQL store: one database (or one schema of it) shared by any number of gateways.
///
/// A cheap handle (`Clone` shares the pool and the node id). Claims are leases: a message
/// claimed by this handle stays claimed while [`IngressQueue::renew_claims`] is called within
/// [`PostgresOptions::lease_ms`]; after that any handle may claim it again (its attempt counts
/// up), and this handle's late `complete` (or `fail_transient`, `hold`, `dead_letter`) is
/// refused with [`StoreError::ChangeState`] ("claimed by another gateway"). At most one
/// message per lane is claimed at a time across all handles (a partial unique index), and
/// only a lane's oldest unfinished message is claimable.
///
/// Connecting checks the server and migrates the schema. The URL may hold a password: it never
/// appears in errors, logs or `Debug` output (only `host:port/database` does). TLS follows
/// `sslmode` and `sslrootcert` in the URL, as libpq ([`SslMode`]; `prefer` by default).
///
/// ```no_run
/// use openclaw_store::{ClaimScope, IngressQueue, NewIngress, PostgresOptions, PostgresStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), openclaw_store::StoreError> {
/// let options = PostgresOptions::default();
/// let store = PostgresStore::connect("postgres://openclaw@127.0.0.1:5432/openclaw", &options).await?;
/// store
///     .enqueue(NewIngress {
///         account: "default".into(),
///         event_id: "SM0123".into(),
///         lane: "sender:+15551234567".into(),
///         payload: b"From=%2B15551234567&Body=hi".to_vec(),
///         received_at: 1_000,
///     })
///     .await?; // committed: another gateway can claim it now
/// let claimed = store.claim_next(ClaimScope::All, 1_001, 10).await?;
/// store.renew_claims(1_002).await?; // every third of `lease_ms` while working
/// store.complete(claimed[0].id, 1_003).await?;
/// store.close().await;
/// # Ok(())
/// # }
/// ```
///
/// [`IngressQueue::renew_claims`]: crate::IngressQueue::renew_claims
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.inner.target)
            .field("ssl_mode", &self.inner.ssl_mode)
            .field("schema", &self.inner.options.schema)
            .field("node_id", &self.inner.node_id)
            .finish_non_exhaustive()
    }
}

/// `host:port/dbname` of a parsed configuration: never the user or the password.
fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// Removes every occurrence of each secret (the password as written and as decoded) from a
/// message.
fn redact(message: &str, secrets: &[Vec<u8>]) -> String {
    let mut out = message.to_owned();
    for secret in secrets {
        if let Ok(s) = std::str::from_utf8(secret)
            && !s.is_empty()
        {
            out = out.replace(s, "***");
        }
    }
    out
}

/// [`redact`] on the reason of an error about the connection string.
fn redact_error(err: StoreError, secrets: &[Vec<u8>]) -> StoreError {
    match err {
        StoreError::InvalidInput { what, reason } => StoreError::InvalidInput {
            what,
            reason: redact(&reason, secrets),
        },
        other => other,
    }
}

/// The password part of a URL or key=value string, found without parsing (for the case
/// where parsing itself failed): `scheme://user:PASSWORD@...` or `password=PASSWORD`.
fn raw_password(url: &str) -> Option<String> {
    if let Some(rest) = url.split_once("://").map(|(_, r)| r) {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            return userinfo.split_once(':').map(|(_, p)| p.to_owned());
        }
        return None;
    }
    let at = url.find("password=")?;
    let value = &url[at + "password=".len()..];
    let value = value.strip_prefix('\'').unwrap_or(value);
    Some(
        value
            .split(|c: char| c.is_whitespace() || c == '\'')
            .next()
            .unwrap_or("")
            .to_owned(),
    )
}

/// The database's own reason for a failure: message and SQLSTATE for server errors, the
/// error chain otherwise (never the connection string).
pub(crate) fn pg_reason(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}

/// Maps a driver error to [`StoreError::QueryDatabase`].
pub(crate) fn pg(context: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |err| StoreError::QueryDatabase {
        context,
        reason: pg_reason(&err),
    }
}

/// Whether an error is a lost race worth one more try: a unique violation (SQLSTATE 23505), a
/// deadlock (40P01) or a serialization failure (40001).
fn is_lost_race(err: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    err.code().is_some_and(|c| {
        *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// Connections of each gateway kept for enqueues (webhook accepts), beside
/// [`PostgresOptions::max_connections`] for everything else; the most
/// [`PostgresOptions::ack_writers`] may be.
pub const MAX_INGRESS_CONNECTIONS: usize = 4;

/// A fresh random node id: 16 hex digits.
fn new_node_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl PostgresStore {
    /// Connects to `url` (a libpq URL, `postgres://user:password@host:port/db`, or a
    /// `key=value` string), checks the connection and brings the schema to the current
    /// version (under an advisory lock, so concurrent starts are safe). Errors never contain
    /// the user or the password.
    ///
    /// `sslmode` (`disable`, `prefer` (the default), `require`, `verify-ca`, `verify-full`) and
    /// `sslrootcert` (a PEM file of at most [`MAX_ROOT_CERT_BYTES`], or `system` for the bundled
    /// public roots, which `verify-*` also use when it is not set) work as in libpq; see
    /// [`SslMode`]. A connection error names the mode in force.
    pub async fn connect(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        let mut secrets: Vec<Vec<u8>> = raw_password(url)
            .map(String::into_bytes)
            .into_iter()
            .collect();
        let (driver_url, tls_params) =
            tls::split_tls_params(url).map_err(|e| redact_error(e, &secrets))?;
        let mut config: tokio_postgres::Config =
            driver_url
                .parse()
                .map_err(|e: tokio_postgres::Error| StoreError::ConnectDatabase {
                    target: "(unparsed connection string)".to_owned(),
                    reason: redact(&pg_reason(&e), &secrets),
                })?;
        let target = describe_target(&config);
        secrets.extend(config.get_password().map(<[u8]>::to_vec));
        let tls = tls::prepare(&tls_params, config.get_hosts())
            .await
            .map_err(|e| redact_error(e, &secrets))?;
        config.ssl_mode(tls.driver_mode);
        let error_target = describe_error_target(&target, tls.mode);
        let fail = |reason: String| StoreError::ConnectDatabase {
            target: error_target.clone(),
            reason: redact(&tls::with_hint(reason, tls.mode), &secrets),
        };
        if let Some(schema) = &options.schema
            && !valid_schema_name(schema)
        {
            return Err(StoreError::InvalidInput {
                what: "PostgreSQL schema name",
                reason: format!(
                    "{schema:?} is not a lower-case identifier of at most {MAX_SCHEMA_NAME_LEN} bytes"
                ),
            });
        }
        if options.ack_writers > MAX_INGRESS_CONNECTIONS {
            return Err(StoreError::InvalidInput {
                what: "enqueue writers (ack_writers)",
                reason: format!(
                    "{} is more than the {MAX_INGRESS_CONNECTIONS} connections kept for enqueues",
                    options.ack_writers
                ),
            });
        }
        if options.lease_ms <= 0 {
            return Err(StoreError::InvalidInput {
                what: "claim lease",
                reason: "must be positive".to_owned(),
            });
        }
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("openclaw-gateway");
        }
        // Durability: an answer after COMMIT means on disk, whatever the server's default;
        // the schema (a checked identifier) for every unqualified table name.
        let mut session = config.get_options().unwrap_or("").to_owned();
        session.push_str(" -c synchronous_commit=on");
        if let Some(schema) = &options.schema {
            session.push_str(&format!(" -c search_path={schema}"));
        }
        config.options(session.trim_start());
        let build = |config: tokio_postgres::Config, size: usize| {
            let manager = manager(config, tls.connector.clone());
            Pool::builder(manager)
                .max_size(size.max(1))
                .runtime(Runtime::Tokio1)
                .create_timeout(Some(options.connect_timeout))
                .recycle_timeout(Some(options.connect_timeout))
                .build()
                .map_err(|e| fail(e.to_string()))
        };
        let pool = build(config.clone(), options.max_connections)?;
        let counters = Arc::new(conn::Counters::default());
        let ingress = ack::IngressPool {
            pool: build(config, MAX_INGRESS_CONNECTIONS)?,
            error_target: error_target.clone(),
            ssl_mode: tls.mode,
            counters: Arc::clone(&counters),
        };
        let acks = (options.ack_writers > 0)
            .then(|| ack::AckWriters::start(&ingress, options.ack_writers));
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                ingress,
                acks,
                node_id: new_node_id(),
                target,
                ssl_mode: tls.mode,
                options: options.clone(),
                counters,
            }),
        };
        let object = store
            .inner
            .pool
            .get()
            .await
            .map_err(|e| fail(pool_reason(&e)))?;
        let mut client = conn::Conn::new(object, &store.inner.counters);
        let from = schema::migrate(&mut client, options.schema.as_deref()).await?;
        drop(client);
        tracing::debug!(
            target = %store.inner.target,
            sslmode = %store.inner.ssl_mode,
            node_id = %store.inner.node_id,
            schema_from = from,
            "PostgreSQL state store connected"
        );
        Ok(store)
    }

    /// Closes the pools: connections in use are closed when given back, later calls fail.
    pub async fn close(&self) {
        self.inner.pool.close();
        self.inner.ingress.pool.close();
        tokio::task::yield_now().await;
    }

    /// The random id of this handle (and its clones): the owner of its claims.
    #[must_use]
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// `host:port/dbname` (never the user or the password).
    #[must_use]
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// The `sslmode` in force (from the URL; `prefer` when it has none).
    #[must_use]
    pub fn ssl_mode(&self) -> SslMode {
        self.inner.ssl_mode
    }

    /// `host:port/dbname (sslmode=…)`, for connection errors.
    pub(crate) fn error_target(&self) -> String {
        describe_error_target(&self.inner.target, self.inner.ssl_mode)
    }

    /// The options in force.
    #[must_use]
    pub fn options(&self) -> &PostgresOptions {
        &self.inner.options
    }

    /// Statements sent and commits made by this handle (and its clones) since it connected,
    /// the schema check included; see [`crate::StoreCounts`].
    #[must_use]
    pub fn store_counts(&self) -> crate::StoreCounts {
        self.inner.counters.snapshot()
    }

    /// The schema version this build writes.
    #[must_use]
    pub const fn schema_version() -> u32 {
        PG_SCHEMA_VERSION
    }

    /// A connection of the pool reserved for enqueues (see `Inner::ingress`).
    pub(crate) async fn ingress_conn(&self) -> Result<conn::Conn<'_>, StoreError> {
        let object = self.inner.ingress.get().await?;
        Ok(conn::Conn::new(object, &self.inner.counters))
    }

    /// The enqueue writers, when enqueues are batched.
    fn ack_writers(&self) -> Option<&ack::AckWriters> {
        self.inner.acks.as_ref()
    }

    /// A pooled connection.
    pub(crate) async fn conn(&self) -> Result<conn::Conn<'_>, StoreError> {
        self.inner
            .pool
            .get()
            .await
            .map(|object| conn::Conn::new(object, &self.inner.counters))
            .map_err(|e| StoreError::ConnectDatabase {
                target: self.error_target(),
                reason: tls::with_hint(pool_reason(&e), self.inner.ssl_mode),
            })
    }
}

/// A pool manager that connects with TLS when `connector` is set, in the mode set in `config`.
fn manager(config: tokio_postgres::Config, connector: Option<MakeRustlsConnect>) -> Manager {
    let recycling = || ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    match connector {
        Some(connector) => Manager::from_config(config, connector, recycling()),
        None => Manager::from_config(config, NoTls, recycling()),
    }
}

/// `host:port/dbname (sslmode=…)`: where a failed connection went and how.
fn describe_error_target(target: &str, mode: SslMode) -> String {
    format!("{target} (sslmode={mode})")
}

/// The reason of a pool error, with the driver's reason for a failed connection.
fn pool_reason(err: &deadpool_postgres::PoolError) -> String {
    match err {
        deadpool_postgres::PoolError::Backend(e) => pg_reason(e),
        other => other.to_string(),
    }
}

/// A stored non-negative integer as `u32`, saturating.
pub(crate) fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// A `u64` bound as a SQL `BIGINT`, saturating.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Maps a row decoding error to [`StoreError::DecodeRow`].
pub(crate) fn decode(what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |err| StoreError::DecodeRow {
        what,
        reason: pg_reason(&err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_schema(name: &str, expected: bool) {
        assert_eq!(valid_schema_name(name), expected, "{name:?}");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        check_schema("t_0af3", true);
        check_schema("_x", true);
        check_schema("openclaw", true);
        check_schema("", false);
        check_schema("9a", false);
        check_schema("Upper", false);
        check_schema("a-b", false);
        check_schema("a;drop table x", false);
        check_schema("a\"b", false);
        check_schema(&"a".repeat(63), true);
        check_schema(&"a".repeat(64), false);
    }

    #[track_caller]
    fn check_password(url: &str, expected: Option<&str>) {
        assert_eq!(raw_password(url).as_deref(), expected, "{url}");
    }

    #[test]
    fn raw_passwords_are_found() {
        check_password("postgres://u:s3cret@h:5432/db", Some("s3cret"));
        check_password("postgresql://u:p%40ss@h/db?x=1", Some("p%40ss"));
        check_password("postgres://u@h/db", None);
        check_password("postgres://h/db", None);
        check_password("host=h user=u password=s3cret dbname=d", Some("s3cret"));
        check_password("host=h password='a b' dbname=d", Some("a"));
        check_password("host=h dbname=d", None);
    }

    #[test]
    fn redaction_removes_every_occurrence() {
        let secrets = [b"s3cret".to_vec(), b"p%40ss".to_vec(), Vec::new()];
        assert_eq!(
            redact("x s3cret y s3cret p%40ss", &secrets),
            "x *** y *** ***"
        );
        assert_eq!(redact("x", &[]), "x");
    }

    #[test]
    fn targets_name_host_port_and_database_only() {
        let config: tokio_postgres::Config = "postgres://alice:s3cret@db.example:6543/state"
            .parse()
            .unwrap();
        assert_eq!(describe_target(&config), "db.example:6543/state");
        let config: tokio_postgres::Config = "host=10.0.0.2 user=bob password=pw".parse().unwrap();
        assert_eq!(describe_target(&config), "10.0.0.2:5432/bob");
    }
}
