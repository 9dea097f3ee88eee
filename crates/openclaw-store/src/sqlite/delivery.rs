//! [`DeliveryStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::SqliteStore;
use super::ingress::to_u64;
use crate::StoreError;
use crate::delivery::{DeliveryObservation, DeliveryRecord, DeliveryStore, reduce_delivery};

const COLUMNS: &str = "account, message_sid, status, error_code, first_observed_at, last_observed_at, conflict, observations";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        account: r.get(0)?,
        message_sid: r.get(1)?,
        status: r.get(2)?,
        error_code: r.get(3)?,
        first_observed_at: r.get(4)?,
        last_observed_at: r.get(5)?,
        conflict: r.get(6)?,
        observations: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(u32::MAX),
    })
}

fn find(conn: &Connection, account: &str, sid: &str) -> Result<Option<DeliveryRecord>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM deliveries WHERE account = ?1 AND message_sid = ?2"
    ))
    .and_then(|mut s| s.query_row(params![account, sid], row).optional())
    .map_err(StoreError::query("read delivery"))
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn record_delivery(
        &self,
        observation: DeliveryObservation,
    ) -> Result<DeliveryRecord, StoreError> {
        self.write(move |conn| record_delivery_in(conn, &observation))
            .await
    }

    async fn delivery(
        &self,
        account: &str,
        message_sid: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let (account, sid) = (account.to_owned(), message_sid.to_owned());
        self.read(move |conn| find(conn, &account, &sid)).await
    }

    async fn latest_delivery(&self, account: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        let account = account.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM deliveries WHERE account = ?1 ORDER BY last_observed_at DESC, rowid DESC LIMIT 1"
            ))
            .and_then(|mut s| s.query_row([account], row).optional())
            .map_err(StoreError::query("read latest delivery"))
        })
        .await
    }

    async fn prune_deliveries(&self, now: i64) -> Result<u64, StoreError> {
        let cutoff = now.saturating_sub(self.options.retention.delivery_ttl_ms);
        let cap = i64::try_from(self.options.retention.max_delivery_records).unwrap_or(i64::MAX);
        self.write(move |conn| {
            let old = conn
                .prepare_cached("DELETE FROM deliveries WHERE last_observed_at < ?1")
                .and_then(|mut s| s.execute([cutoff]))
                .map_err(StoreError::query("prune deliveries"))?;
            let over = conn
                .prepare_cached(
                    "DELETE FROM deliveries WHERE rowid IN (
                        SELECT rowid FROM deliveries ORDER BY last_observed_at DESC, rowid DESC LIMIT -1 OFFSET ?1)",
                )
                .and_then(|mut s| s.execute([cap]))
                .map_err(StoreError::query("cap deliveries"))?;
            Ok(to_u64(old + over))
        })
        .await
    }
}

/// Records one observation of a message's delivery (read, reduce, write: the writer's
/// transaction lets no other writer in between).
pub(super) fn record_delivery_in(
    conn: &Connection,
    observation: &DeliveryObservation,
) -> Result<DeliveryRecord, StoreError> {
    // Read-reduce-write inside the writer's transaction: no concurrent writer can
    // interleave, so upstream's compare-and-apply loop is not needed.
    let current = find(conn, &observation.account, &observation.message_sid)?;
    let next = reduce_delivery(current.as_ref(), observation);
    conn.prepare_cached(
        "INSERT INTO deliveries (account, message_sid, status, error_code, first_observed_at,
                                 last_observed_at, conflict, observations)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (account, message_sid) DO UPDATE SET status = excluded.status,
            error_code = excluded.error_code, first_observed_at = excluded.first_observed_at,
            last_observed_at = excluded.last_observed_at, conflict = excluded.conflict,
            observations = excluded.observations",
    )
    .and_then(|mut s| {
        s.execute(params![
            next.account,
            next.message_sid,
            next.status,
            next.error_code,
            next.first_observed_at,
            next.last_observed_at,
            next.conflict,
            next.observations
        ])
    })
    .map_err(StoreError::query("record delivery"))?;
    Ok(next)
}
