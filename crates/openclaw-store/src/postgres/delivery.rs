//! [`DeliveryStore`] on PostgreSQL.

use super::conn::Sql;
use async_trait::async_trait;
use tokio_postgres::Row;

use std::sync::LazyLock;

use tokio_postgres::types::ToSql;

use super::ingress::{execute, query_opt};
use super::{PostgresStore, decode, pg, to_i64, to_u32};
use crate::StoreError;
use crate::delivery::{
    CONFLICTED, DeliveryObservation, DeliveryRecord, DeliveryStore, STATUS_RANKS,
    TERMINAL_STATUSES, is_terminal, normalized, status_rank,
};

pub(super) const COLUMNS: &str = "account, message_sid, status, error_code, first_observed_at, last_observed_at, conflict, observations";

pub(super) fn row_of(r: &Row) -> Result<DeliveryRecord, StoreError> {
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

async fn find<C: Sql + ?Sized>(
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
    .map(row_of)
    .transpose()
}

/// The delivery reducer (`crate::delivery::reduce_delivery`) in one upsert, its parameters from
/// `$first` on ([`DeliveryParams`]): account, message sid, the normalised status, the
/// normalised error code, the time, whether the status is terminal, its rank. `guard` ends the
/// `SELECT` of the inserted row (a `WHERE`, or nothing). The row lock of `ON CONFLICT DO
/// UPDATE` orders observations that arrive at two gateways at once: each is reduced into the
/// other's result.
pub(super) fn record_delivery_sql(first: usize, guard: &str) -> String {
    let p = |i: usize| format!("${}", first + i);
    let (account, sid, status, code, at, terminal, rank) =
        (p(0), p(1), p(2), p(3), p(4), p(5), p(6));
    let terminal_list = TERMINAL_STATUSES
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let ranks: String = STATUS_RANKS
        .iter()
        .map(|(s, r)| format!(" WHEN '{s}' THEN {r}"))
        .collect();
    let current_terminal = format!("d.status IN ({terminal_list})");
    let current_rank = format!("(CASE d.status{ranks} ELSE -1 END)");
    let (terminal, rank) = (format!("{terminal}::boolean"), format!("{rank}::integer"));
    format!(
        "INSERT INTO deliveries AS d (account, message_sid, status, error_code, first_observed_at,
                                      last_observed_at, conflict, observations)
         SELECT {account}::text, {sid}::text, {status}::text, {code}::text, {at}::bigint,
                {at}::bigint, FALSE, 1 {guard}
         ON CONFLICT (account, message_sid) DO UPDATE SET
            first_observed_at = least(d.first_observed_at, excluded.first_observed_at),
            last_observed_at = greatest(d.last_observed_at, excluded.last_observed_at),
            observations = d.observations + 1,
            status = CASE
                WHEN d.status = '{CONFLICTED}' OR excluded.status = d.status THEN d.status
                WHEN {current_terminal} THEN
                    CASE WHEN {terminal} THEN '{CONFLICTED}' ELSE d.status END
                WHEN {terminal} OR {rank} > {current_rank} THEN excluded.status
                ELSE d.status END,
            conflict = CASE
                WHEN d.status <> '{CONFLICTED}' AND excluded.status <> d.status
                     AND {current_terminal} AND {terminal} THEN TRUE
                ELSE d.conflict END,
            error_code = CASE
                WHEN d.status = '{CONFLICTED}' THEN d.error_code
                WHEN excluded.status = d.status THEN coalesce(d.error_code, excluded.error_code)
                WHEN {current_terminal} THEN
                    CASE WHEN {terminal} THEN coalesce(d.error_code, excluded.error_code)
                         ELSE d.error_code END
                WHEN {terminal} OR {rank} > {current_rank} THEN
                    coalesce(excluded.error_code, d.error_code)
                ELSE d.error_code END
         RETURNING {COLUMNS}"
    )
}

/// [`record_delivery_sql`] on its own.
static RECORD_DELIVERY_SQL: LazyLock<String> = LazyLock::new(|| record_delivery_sql(1, ""));

/// The parameters of [`record_delivery_sql`] for one observation.
pub(super) struct DeliveryParams {
    account: String,
    message_sid: String,
    status: String,
    error_code: Option<String>,
    at: i64,
    terminal: bool,
    rank: i32,
}

impl DeliveryParams {
    pub(super) fn new(observation: &DeliveryObservation) -> Self {
        let (status, error_code) = normalized(observation);
        Self {
            account: observation.account.clone(),
            message_sid: observation.message_sid.clone(),
            terminal: is_terminal(&status),
            rank: status_rank(&status),
            status,
            error_code,
            at: observation.at,
        }
    }

    /// Parameters that bind but are not used (a step without a first status).
    pub(super) fn none() -> Self {
        Self {
            account: String::new(),
            message_sid: String::new(),
            status: String::new(),
            error_code: None,
            at: 0,
            terminal: false,
            rank: -1,
        }
    }

    /// The parameters, in the order of [`record_delivery_sql`].
    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.account,
            &self.message_sid,
            &self.status,
            &self.error_code,
            &self.at,
            &self.terminal,
            &self.rank,
        ]
    }
}

/// Reduces an observation into the message's delivery record (one statement, its own commit
/// on a connection), answering the record as it is now.
async fn record_delivery_on<C: Sql + ?Sized>(
    c: &C,
    observation: &DeliveryObservation,
) -> Result<DeliveryRecord, StoreError> {
    let params = DeliveryParams::new(observation);
    let row = query_opt(c, "record delivery", &RECORD_DELIVERY_SQL, &params.params())
        .await?
        .ok_or_else(|| StoreError::QueryDatabase {
            context: "record delivery",
            reason: "no row returned".to_owned(),
        })?;
    row_of(&row)
}

#[async_trait]
impl DeliveryStore for PostgresStore {
    async fn record_delivery(
        &self,
        observation: DeliveryObservation,
    ) -> Result<DeliveryRecord, StoreError> {
        let client = self.conn().await?;
        record_delivery_on(&client, &observation).await
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
        .map(row_of)
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
