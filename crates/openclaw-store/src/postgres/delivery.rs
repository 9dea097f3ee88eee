//! [`DeliveryStore`] on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::ingress::{execute, query_opt};
use super::{LOCK_CLASS_DELIVERY, PostgresStore, decode, pg, to_i64, to_u32};
use crate::StoreError;
use crate::delivery::{DeliveryObservation, DeliveryRecord, DeliveryStore, reduce_delivery};

pub(super) const COLUMNS: &str = "account, message_sid, status, error_code, first_observed_at, last_observed_at, conflict, observations";

pub(super) fn row(r: &Row) -> Result<DeliveryRecord, StoreError> {
    let d = decode("delivery record");
    Ok(DeliveryRecord {
        account: r.try_get(0).map_err(&d)?,
        message_sid: r.try_get(1).map_err(&d)?,
        status: r.try_get(2).map_err(&d)?,
        error_code: r.try_get(3).map_err(&d)?,
        first_observed_at: r.try_get(4).map_err(&d)?,
        last_observed_at: r.try_get(5).map_err(&d)?,
        conflict: r.try_get(6).map_err(&d)?,
        observations: to_u32(r.try_get(7).map_err(&d)?),
    })
}

async fn find<C: GenericClient + ?Sized>(
    c: &C,
    account: &str,
    sid: &str,
) -> Result<Option<DeliveryRecord>, StoreError> {
    query_opt(
        c,
        "read delivery",
        &format!("SELECT {COLUMNS} FROM deliveries WHERE account = $1 AND message_sid = $2"),
        &[&account, &sid],
    )
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// Reduces an observation into the message's delivery record under a lock on the message, in
/// `tx`, and answers the record as it will be once `tx` commits.
pub(super) async fn record_delivery_in(
    tx: &Transaction<'_>,
    observation: &DeliveryObservation,
) -> Result<DeliveryRecord, StoreError> {
    // Read-reduce-write under a lock on the message, so that observations arriving at two
    // gateways at once are both reduced in.
    execute(
        tx,
        "lock delivery record",
        "SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))",
        &[
            &LOCK_CLASS_DELIVERY,
            &observation.account,
            &observation.message_sid,
        ],
    )
    .await?;
    let current = find(tx, &observation.account, &observation.message_sid).await?;
    let next = reduce_delivery(current.as_ref(), observation);
    execute(
        tx,
        "record delivery",
        "INSERT INTO deliveries (account, message_sid, status, error_code, first_observed_at,
                                 last_observed_at, conflict, observations)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (account, message_sid) DO UPDATE SET status = excluded.status,
            error_code = excluded.error_code, first_observed_at = excluded.first_observed_at,
            last_observed_at = excluded.last_observed_at, conflict = excluded.conflict,
            observations = excluded.observations",
        &[
            &next.account,
            &next.message_sid,
            &next.status,
            &next.error_code,
            &next.first_observed_at,
            &next.last_observed_at,
            &next.conflict,
            &i64::from(next.observations),
        ],
    )
    .await?;
    Ok(next)
}

#[async_trait]
impl DeliveryStore for PostgresStore {
    async fn record_delivery(
        &self,
        observation: DeliveryObservation,
    ) -> Result<DeliveryRecord, StoreError> {
        let mut client = self.conn().await?;
        let tx = client
            .transaction()
            .await
            .map_err(pg("begin record delivery"))?;
        let next = record_delivery_in(&tx, &observation).await?;
        tx.commit().await.map_err(pg("commit record delivery"))?;
        Ok(next)
    }

    async fn delivery(
        &self,
        account: &str,
        message_sid: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let client = self.conn().await?;
        find(&client, account, message_sid).await
    }

    async fn latest_delivery(&self, account: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        let client = self.conn().await?;
        query_opt(
            &client,
            "read latest delivery",
            &format!(
                "SELECT {COLUMNS} FROM deliveries WHERE account = $1
                 ORDER BY last_observed_at DESC, seq DESC LIMIT 1"
            ),
            &[&account],
        )
        .await?
        .as_ref()
        .map(row)
        .transpose()
    }

    async fn prune_deliveries(&self, now: i64) -> Result<u64, StoreError> {
        let cutoff = now.saturating_sub(self.inner.options.retention.delivery_ttl_ms);
        let cap = to_i64(self.inner.options.retention.max_delivery_records);
        let mut client = self.conn().await?;
        let tx = client
            .transaction()
            .await
            .map_err(pg("begin prune deliveries"))?;
        let old = execute(
            &tx,
            "prune deliveries",
            "DELETE FROM deliveries WHERE last_observed_at < $1",
            &[&cutoff],
        )
        .await?;
        let over = execute(
            &tx,
            "cap deliveries",
            "DELETE FROM deliveries WHERE seq IN (
                SELECT seq FROM deliveries ORDER BY last_observed_at DESC, seq DESC OFFSET $1)",
            &[&cap],
        )
        .await?;
        tx.commit().await.map_err(pg("commit prune deliveries"))?;
        Ok(old + over)
    }
}
