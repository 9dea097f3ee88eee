//! [`PairingStore`] on PostgreSQL. Every write of one pairing list runs under a
//! transaction-scoped advisory lock on that list, so the checks and the write of
//! `create_request` (sender, code, cap) and `approve` are atomic across gateways.

use super::conn::Sql;
use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::ingress::{REQUEUE_SQL, TOMBSTONE_SQL, execute, query, query_opt};
use super::{LOCK_CLASS_PAIRING, PostgresStore, decode, pg};
use crate::StoreError;
use crate::ingress::IngressId;
use crate::pairing::{
    AllowEntry, CreateRequestOutcome, NewPairingRequest, PairingKey, PairingRequest, PairingStore,
};

const COLUMNS: &str = "code, sender_id, meta_json, created_at, last_seen_at, held_event_id";

pub(super) fn decode_request(r: &Row) -> Result<PairingRequest, StoreError> {
    let d = decode("pairing request");
    let meta: String = r.try_get(2).map_err(&d)?;
    let meta = serde_json::from_str(&meta).map_err(|e| StoreError::DecodeRow {
        what: "pairing request meta",
        reason: e.to_string(),
    })?;
    Ok(PairingRequest {
        code: r.try_get(0).map_err(&d)?,
        sender_id: r.try_get(1).map_err(&d)?,
        meta,
        created_at: r.try_get(3).map_err(&d)?,
        last_seen_at: r.try_get(4).map_err(&d)?,
        held_event_id: r
            .try_get::<_, Option<i64>>(5)
            .map_err(&d)?
            .map(IngressId::new),
    })
}

/// The live request of `key` with `code` (created after `cutoff`), if any: what approve and
/// deny act on.
async fn live_by_code<C: Sql + ?Sized>(
    c: &C,
    key: &PairingKey,
    code: &str,
    cutoff: i64,
) -> Result<Option<PairingRequest>, StoreError> {
    Ok(select(
        c,
        "channel = $1 AND account = $2 AND code = $3 AND created_at > $4",
        &[&key.channel, &key.account, &code, &cutoff],
    )
    .await?
    .into_iter()
    .next())
}

async fn select<C: Sql + ?Sized>(
    c: &C,
    filter: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<PairingRequest>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM pairing_requests WHERE {filter} ORDER BY created_at, sender_id"
    );
    query(c, "read pairing requests", &sql, params)
        .await?
        .iter()
        .map(decode_request)
        .collect()
}

async fn by_sender<C: Sql + ?Sized>(
    c: &C,
    key: &PairingKey,
    sender: &str,
) -> Result<Option<PairingRequest>, StoreError> {
    Ok(select(
        c,
        "channel = $1 AND account = $2 AND sender_id = $3",
        &[&key.channel, &key.account, &sender],
    )
    .await?
    .into_iter()
    .next())
}

/// Takes the lock of one pairing list until the end of the transaction.
async fn lock<C: Sql + ?Sized>(c: &C, key: &PairingKey) -> Result<(), StoreError> {
    execute(
        c,
        "lock pairing list",
        "SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))",
        &[&LOCK_CLASS_PAIRING, &key.channel, &key.account],
    )
    .await
    .map(drop)
}

/// Deletes one request and discards its held message (if still held).
async fn remove<C: Sql + ?Sized>(
    c: &C,
    key: &PairingKey,
    request: &PairingRequest,
    now: i64,
) -> Result<(), StoreError> {
    execute(
        c,
        "delete pairing request",
        "DELETE FROM pairing_requests WHERE channel = $1 AND account = $2 AND sender_id = $3",
        &[&key.channel, &key.account, &request.sender_id],
    )
    .await?;
    if let Some(held) = request.held_event_id {
        execute(
            c,
            "discard held message",
            &format!("{TOMBSTONE_SQL} AND state = 'held'"),
            &[&held.as_i64(), &now],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn insert_allow<C: Sql + ?Sized>(
    c: &C,
    key: &PairingKey,
    entry: &str,
    now: i64,
) -> Result<bool, StoreError> {
    execute(
        c,
        "add allow entry",
        "INSERT INTO allow_entries (channel, account, entry, added_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        &[&key.channel, &key.account, &entry, &now],
    )
    .await
    .map(|n| n > 0)
}

#[async_trait]
impl PairingStore for PostgresStore {
    async fn create_request(
        &self,
        key: &PairingKey,
        request: NewPairingRequest,
    ) -> Result<CreateRequestOutcome, StoreError> {
        if request.code.trim().is_empty() {
            return Err(StoreError::InvalidInput {
                what: "pairing code",
                reason: "empty".to_owned(),
            });
        }
        let meta = serde_json::to_string(&request.meta).map_err(|e| StoreError::InvalidInput {
            what: "pairing meta",
            reason: e.to_string(),
        })?;
        let mut client = self.conn().await?;
        let tx = client
            .transaction()
            .await
            .map_err(pg("begin pairing request"))?;
        lock(&tx, key).await?;
        if let Some(existing) = by_sender(&tx, key, &request.sender_id).await? {
            return Ok(CreateRequestOutcome::SenderExists(existing));
        }
        let code = request.code.to_ascii_uppercase();
        let taken = !select(
            &tx,
            "channel = $1 AND account = $2 AND code = $3",
            &[&key.channel, &key.account, &code],
        )
        .await?
        .is_empty();
        if taken {
            return Ok(CreateRequestOutcome::CodeTaken);
        }
        if let Some(cap) = request.pending_cap {
            let cutoff = request.created_at.saturating_sub(cap.ttl_ms);
            let row = query_opt(
                &tx,
                "count live pairing requests",
                "SELECT count(*) FROM pairing_requests
                 WHERE channel = $1 AND account = $2 AND created_at > $3",
                &[&key.channel, &key.account, &cutoff],
            )
            .await?;
            let live: i64 = match row {
                Some(r) => r.try_get(0).map_err(decode("live pairing requests"))?,
                None => 0,
            };
            if usize::try_from(live).unwrap_or(usize::MAX) >= cap.max {
                return Ok(CreateRequestOutcome::CapReached);
            }
        }
        execute(
            &tx,
            "create pairing request",
            "INSERT INTO pairing_requests (channel, account, sender_id, code, meta_json, created_at,
                                           last_seen_at, held_event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
            &[
                &key.channel,
                &key.account,
                &request.sender_id,
                &code,
                &meta,
                &request.created_at,
                &request.held_event_id.map(IngressId::as_i64),
            ],
        )
        .await?;
        tx.commit().await.map_err(pg("commit pairing request"))?;
        Ok(CreateRequestOutcome::Created(PairingRequest {
            code,
            sender_id: request.sender_id,
            meta: request.meta,
            created_at: request.created_at,
            last_seen_at: request.created_at,
            held_event_id: request.held_event_id,
        }))
    }

    async fn touch_request(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let client = self.conn().await?;
        execute(
            &client,
            "touch pairing request",
            "UPDATE pairing_requests SET last_seen_at = greatest(last_seen_at, $4)
             WHERE channel = $1 AND account = $2 AND sender_id = $3",
            &[&key.channel, &key.account, &sender_id, &now],
        )
        .await
        .map(|n| n > 0)
    }

    async fn request_for(
        &self,
        key: &PairingKey,
        sender_id: &str,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let client = self.conn().await?;
        by_sender(&client, key, sender_id).await
    }

    async fn list_requests(
        &self,
        key: &PairingKey,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        let client = self.conn().await?;
        let cutoff = now.saturating_sub(ttl_ms);
        select(
            &client,
            "channel = $1 AND account = $2 AND created_at > $3",
            &[&key.channel, &key.account, &cutoff],
        )
        .await
    }

    async fn approve(
        &self,
        key: &PairingKey,
        code: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let code = code.trim().to_ascii_uppercase();
        let cutoff = now.saturating_sub(ttl_ms);
        let mut client = self.conn().await?;
        let tx = client.transaction().await.map_err(pg("begin approval"))?;
        lock(&tx, key).await?;
        let Some(request) = live_by_code(&tx, key, &code, cutoff).await? else {
            return Ok(None);
        };
        execute(
            &tx,
            "approve pairing request",
            "DELETE FROM pairing_requests WHERE channel = $1 AND account = $2 AND sender_id = $3",
            &[&key.channel, &key.account, &request.sender_id],
        )
        .await?;
        insert_allow(&tx, key, &request.sender_id, now).await?;
        if let Some(id) = request.held_event_id {
            execute(
                &tx,
                "release held message",
                REQUEUE_SQL,
                &[&id.as_i64(), &now],
            )
            .await?;
        }
        tx.commit().await.map_err(pg("commit approval"))?;
        Ok(Some(request))
    }

    async fn deny(
        &self,
        key: &PairingKey,
        code: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let code = code.trim().to_ascii_uppercase();
        let cutoff = now.saturating_sub(ttl_ms);
        let mut client = self.conn().await?;
        let tx = client.transaction().await.map_err(pg("begin denial"))?;
        lock(&tx, key).await?;
        let Some(request) = live_by_code(&tx, key, &code, cutoff).await? else {
            return Ok(None);
        };
        remove(&tx, key, &request, now).await?;
        tx.commit().await.map_err(pg("commit denial"))?;
        Ok(Some(request))
    }

    async fn revoke(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await.map_err(pg("begin revoke"))?;
        lock(&tx, key).await?;
        if let Some(request) = by_sender(&tx, key, sender_id).await? {
            remove(&tx, key, &request, now).await?;
        }
        let removed = execute(
            &tx,
            "revoke allow entry",
            "DELETE FROM allow_entries WHERE channel = $1 AND account = $2 AND entry = $3",
            &[&key.channel, &key.account, &sender_id],
        )
        .await?;
        tx.commit().await.map_err(pg("commit revoke"))?;
        Ok(removed > 0)
    }

    async fn delete_request(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut client = self.conn().await?;
        let tx = client
            .transaction()
            .await
            .map_err(pg("begin delete pairing request"))?;
        lock(&tx, key).await?;
        let Some(request) = by_sender(&tx, key, sender_id).await? else {
            return Ok(false);
        };
        remove(&tx, key, &request, now).await?;
        tx.commit()
            .await
            .map_err(pg("commit delete pairing request"))?;
        Ok(true)
    }

    async fn prune_requests(
        &self,
        key: &PairingKey,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        let cutoff = now.saturating_sub(ttl_ms);
        let mut client = self.conn().await?;
        let tx = client
            .transaction()
            .await
            .map_err(pg("begin prune pairing requests"))?;
        lock(&tx, key).await?;
        let expired = select(
            &tx,
            "channel = $1 AND account = $2 AND created_at <= $3",
            &[&key.channel, &key.account, &cutoff],
        )
        .await?;
        for request in &expired {
            remove(&tx, key, request, now).await?;
        }
        tx.commit()
            .await
            .map_err(pg("commit prune pairing requests"))?;
        Ok(expired)
    }

    async fn allow_entries(&self, key: &PairingKey) -> Result<Vec<AllowEntry>, StoreError> {
        let client = self.conn().await?;
        let d = decode("allow entry");
        query(
            &client,
            "list allow entries",
            "SELECT entry, added_at FROM allow_entries WHERE channel = $1 AND account = $2
             ORDER BY added_at, entry",
            &[&key.channel, &key.account],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(AllowEntry {
                entry: r.try_get(0).map_err(&d)?,
                added_at: r.try_get(1).map_err(&d)?,
            })
        })
        .collect()
    }

    async fn add_allow_entry(
        &self,
        key: &PairingKey,
        entry: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        if entry.trim().is_empty() {
            return Err(StoreError::InvalidInput {
                what: "allow entry",
                reason: "empty".to_owned(),
            });
        }
        let client = self.conn().await?;
        insert_allow(&client, key, entry, now).await
    }

    async fn remove_allow_entry(&self, key: &PairingKey, entry: &str) -> Result<bool, StoreError> {
        let client = self.conn().await?;
        execute(
            &client,
            "remove allow entry",
            "DELETE FROM allow_entries WHERE channel = $1 AND account = $2 AND entry = $3",
            &[&key.channel, &key.account, &entry],
        )
        .await
        .map(|n| n > 0)
    }
}
