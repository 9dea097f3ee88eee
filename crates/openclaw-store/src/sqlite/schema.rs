//! Versioned migrations, tracked in `PRAGMA user_version`.
//!
//! Step `n` (1-based) takes a database from version `n - 1` to `n`. Steps are never edited
//! once released; a change is a new step. `tests/data/schema-v<n>.sql` holds a database as each
//! older version left it, and the integration tests open each one.

use rusqlite::Connection;

use crate::StoreError;

/// Version 1: the ingress queue, pairing requests and allow entries.
const V1: &str = "
CREATE TABLE ingress (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    event_id TEXT NOT NULL,
    lane TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'claimed', 'held', 'completed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL,
    last_error TEXT,
    dead_reason TEXT,
    finished_at INTEGER,
    UNIQUE (account, event_id)
) STRICT;
CREATE INDEX ingress_lane ON ingress (account, lane, id) WHERE state IN ('pending', 'claimed');
CREATE INDEX ingress_ready ON ingress (id) WHERE state = 'pending';
CREATE INDEX ingress_completed ON ingress (account, finished_at) WHERE state = 'completed';
CREATE INDEX ingress_dead ON ingress (account, finished_at) WHERE state = 'dead';
CREATE TABLE pairing_requests (
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    code TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    PRIMARY KEY (channel, account, sender_id)
) STRICT;
CREATE UNIQUE INDEX pairing_code ON pairing_requests (channel, account, code);
CREATE TABLE allow_entries (
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    entry TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (channel, account, entry)
) STRICT;
";

/// Version 2: held first messages, opt-outs, history, deliveries, outbound intents, and a
/// key-value table for one-time jobs (the legacy import marker).
const V2: &str = "
ALTER TABLE pairing_requests ADD COLUMN held_event_id INTEGER;
CREATE TABLE opt_outs (
    account TEXT NOT NULL,
    number TEXT NOT NULL,
    keyword TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (account, number)
) STRICT;
CREATE TABLE history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    peer TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    at INTEGER NOT NULL
) STRICT;
CREATE INDEX history_peer ON history (account, peer, id);
CREATE TABLE deliveries (
    account TEXT NOT NULL,
    message_sid TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    first_observed_at INTEGER NOT NULL,
    last_observed_at INTEGER NOT NULL,
    conflict INTEGER NOT NULL,
    observations INTEGER NOT NULL,
    PRIMARY KEY (account, message_sid)
) STRICT;
CREATE INDEX deliveries_last ON deliveries (last_observed_at);
CREATE INDEX deliveries_account_last ON deliveries (account, last_observed_at);
CREATE TABLE outbound_intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reply_id TEXT NOT NULL,
    account TEXT NOT NULL,
    recipient TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    part_index INTEGER NOT NULL,
    part_count INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'ambiguous')),
    message_sid TEXT,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (reply_id, part_index)
) STRICT;
CREATE INDEX outbound_unfinished ON outbound_intents (account, id) WHERE state IN ('pending', 'ambiguous');
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
";

/// Version 3: saved replies (the agent's answer, kept for a resume) and agent-turn counters.
const V3: &str = "
CREATE TABLE saved_replies (
    reply_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    recipient TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX saved_replies_created ON saved_replies (created_at);
CREATE TABLE agent_turns (
    account TEXT NOT NULL,
    event_id TEXT NOT NULL,
    turns INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (account, event_id)
) STRICT;
CREATE INDEX agent_turns_last ON agent_turns (last_at);
";

/// Budgets: usage counters per account, day and peer, budget hits, and the held rest of long
/// replies waiting for `MORE`.
const V_BUDGETS: &str = "
CREATE TABLE usage_daily (
    account TEXT NOT NULL,
    day TEXT NOT NULL,
    peer TEXT NOT NULL,
    segments INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account, day, peer)
) STRICT;
CREATE TABLE budget_hits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    day TEXT NOT NULL,
    scope TEXT NOT NULL,
    peer TEXT NOT NULL,
    reply_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL,
    UNIQUE (reply_id, scope)
) STRICT;
CREATE INDEX budget_hits_day ON budget_hits (account, day);
CREATE TABLE held_rests (
    account TEXT NOT NULL,
    peer TEXT NOT NULL,
    reply_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    text TEXT NOT NULL,
    offered_at INTEGER NOT NULL,
    PRIMARY KEY (account, peer)
) STRICT;
";

/// The console's thread page: a recipient's replies by their first part.
const V_CONSOLE: &str = "
CREATE INDEX outbound_recipient ON outbound_intents (account, recipient, id);
";

/// Scheduled sends (`message send --at/--after`, the send API's `sendAt`, quiet-hours holds).
const V_SCHEDULED: &str = "
CREATE TABLE scheduled_sends (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    recipient TEXT NOT NULL,
    text TEXT NOT NULL,
    reply_id TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('at', 'quiet_hours')),
    zone TEXT,
    state TEXT NOT NULL CHECK (state IN ('scheduled', 'claimed', 'sent', 'failed', 'cancelled')),
    claimed_until INTEGER,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX scheduled_sends_due ON scheduled_sends (due_at, id) WHERE state IN ('scheduled', 'claimed');
CREATE INDEX scheduled_sends_finished ON scheduled_sends (updated_at) WHERE state IN ('sent', 'failed', 'cancelled');
";

/// Lane heads: the claimed message of a lane found by one index probe, so that a claim never
/// walks a lane's backlog to learn whether the lane is busy (see `sqlite/ingress.rs`).
const V_LANES: &str = "
CREATE INDEX ingress_lane_claimed ON ingress (account, lane) WHERE state = 'claimed';
";

/// The steps, in order. The schema version of a fresh database is `MIGRATIONS.len()`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V_BUDGETS, V_CONSOLE, V_SCHEDULED, V_LANES];

/// The schema version this build writes.
#[allow(clippy::cast_possible_truncation)] // a handful of steps, far below u32::MAX
pub(crate) const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database to [`SCHEMA_VERSION`], one transaction per step.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(StoreError::query("read schema version"))?;
    if found > i64::from(SCHEMA_VERSION) || found < 0 {
        return Err(StoreError::UnsupportedSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // Checked just above: 0 <= found <= SCHEMA_VERSION.
    let from = u32::try_from(found).unwrap_or(SCHEMA_VERSION);
    for (index, step) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let to = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let fail = |e: rusqlite::Error| StoreError::MigrateSchema {
            to,
            reason: e.to_string(),
        };
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(step).map_err(fail)?;
        tx.pragma_update(None, "user_version", to).map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(version = to, "state database migrated");
    }
    Ok(from)
}
