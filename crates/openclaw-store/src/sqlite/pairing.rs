//! [`PairingStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::SqliteStore;
use super::ingress::{requeue, tombstone};
use crate::StoreError;
use crate::ingress::IngressId;
use crate::pairing::{
    AllowEntry, CreateRequestOutcome, NewPairingRequest, PairingKey, PairingRequest, PairingStore,
};

const COLUMNS: &str = "code, sender_id, meta_json, created_at, last_seen_at, held_event_id";

pub(super) type RawRequest = (String, String, String, i64, i64, Option<i64>);

pub(super) fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRequest> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

pub(super) fn decode(
    (code, sender_id, meta, created_at, last_seen_at, held): RawRequest,
) -> Result<PairingRequest, StoreError> {
    let meta = serde_json::from_str(&meta).map_err(|e| StoreError::DecodeRow {
        what: "pairing request meta",
        reason: e.to_string(),
    })?;
    Ok(PairingRequest {
        code,
        sender_id,
        meta,
        created_at,
        last_seen_at,
        held_event_id: held.map(IngressId::new),
    })
}

/// The live request of `key` with `code` (created after `cutoff`), if any: what approve and
/// deny act on.
fn live_by_code(
    conn: &Connection,
    key: &PairingKey,
    code: &str,
    cutoff: i64,
) -> Result<Option<PairingRequest>, StoreError> {
    Ok(select(
        conn,
        "channel = ?1 AND account = ?2 AND code = ?3 AND created_at > ?4",
        params![key.channel, key.account, code, cutoff],
    )?
    .into_iter()
    .next())
}

fn select(
    conn: &Connection,
    filter: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<PairingRequest>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM pairing_requests WHERE {filter} ORDER BY created_at, sender_id"
    );
    let rows: Vec<RawRequest> = conn
        .prepare_cached(&sql)
        .and_then(|mut s| s.query_map(p, raw)?.collect())
        .map_err(StoreError::query("read pairing requests"))?;
    rows.into_iter().map(decode).collect()
}

fn by_sender(
    conn: &Connection,
    key: &PairingKey,
    sender: &str,
) -> Result<Option<PairingRequest>, StoreError> {
    Ok(select(
        conn,
        "channel = ?1 AND account = ?2 AND sender_id = ?3",
        params![key.channel, key.account, sender],
    )?
    .into_iter()
    .next())
}

fn exec(
    conn: &Connection,
    context: &'static str,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(p))
        .map_err(StoreError::query(context))
}

/// Deletes one request and discards its held message.
fn remove(
    conn: &Connection,
    key: &PairingKey,
    request: &PairingRequest,
    now: i64,
) -> Result<(), StoreError> {
    exec(
        conn,
        "delete pairing request",
        "DELETE FROM pairing_requests WHERE channel = ?1 AND account = ?2 AND sender_id = ?3",
        params![key.channel, key.account, request.sender_id],
    )?;
    if let Some(held) = request.held_event_id {
        discard_if_held(conn, held, now)?;
    }
    Ok(())
}

fn held(conn: &Connection, id: IngressId) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM ingress WHERE id = ?1 AND state = 'held'")
        .and_then(|mut s| s.query_row([id.as_i64()], |_| Ok(())).optional())
        .map(|o| o.is_some())
        .map_err(StoreError::query("find held message"))
}

fn discard_if_held(conn: &Connection, id: IngressId, now: i64) -> Result<(), StoreError> {
    if held(conn, id)? {
        tombstone(conn, id, now)?;
    }
    Ok(())
}

pub(super) fn insert_allow(
    conn: &Connection,
    key: &PairingKey,
    entry: &str,
    now: i64,
) -> Result<bool, StoreError> {
    exec(
        conn,
        "add allow entry",
        "INSERT OR IGNORE INTO allow_entries (channel, account, entry, added_at) VALUES (?1, ?2, ?3, ?4)",
        params![key.channel, key.account, entry, now],
    )
    .map(|n| n > 0)
}

pub(super) fn insert_request(
    conn: &Connection,
    key: &PairingKey,
    request: &NewPairingRequest,
) -> Result<CreateRequestOutcome, StoreError> {
    if let Some(existing) = by_sender(conn, key, &request.sender_id)? {
        return Ok(CreateRequestOutcome::SenderExists(existing));
    }
    let code = request.code.to_ascii_uppercase();
    let taken = !select(
        conn,
        "channel = ?1 AND account = ?2 AND code = ?3",
        params![key.channel, key.account, code],
    )?
    .is_empty();
    if taken {
        return Ok(CreateRequestOutcome::CodeTaken);
    }
    if let Some(cap) = request.pending_cap {
        let cutoff = request.created_at.saturating_sub(cap.ttl_ms);
        let live: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM pairing_requests
                 WHERE channel = ?1 AND account = ?2 AND created_at > ?3",
            )
            .and_then(|mut s| s.query_row(params![key.channel, key.account, cutoff], |r| r.get(0)))
            .map_err(StoreError::query("count live pairing requests"))?;
        if usize::try_from(live).unwrap_or(usize::MAX) >= cap.max {
            return Ok(CreateRequestOutcome::CapReached);
        }
    }
    let meta = serde_json::to_string(&request.meta).map_err(|e| StoreError::InvalidInput {
        what: "pairing meta",
        reason: e.to_string(),
    })?;
    exec(
        conn,
        "create pairing request",
        "INSERT INTO pairing_requests (channel, account, sender_id, code, meta_json, created_at, last_seen_at, held_event_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
        params![
            key.channel,
            key.account,
            request.sender_id,
            code,
            meta,
            request.created_at,
            request.held_event_id.map(IngressId::as_i64)
        ],
    )?;
    Ok(CreateRequestOutcome::Created(PairingRequest {
        code,
        sender_id: request.sender_id.clone(),
        meta: request.meta.clone(),
        created_at: request.created_at,
        last_seen_at: request.created_at,
        held_event_id: request.held_event_id,
    }))
}

#[async_trait]
impl PairingStore for SqliteStore {
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
        let key = key.clone();
        self.write(move |conn| insert_request(conn, &key, &request))
            .await
    }

    async fn touch_request(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (key, sender) = (key.clone(), sender_id.to_owned());
        self.write(move |conn| {
            exec(
                conn,
                "touch pairing request",
                "UPDATE pairing_requests SET last_seen_at = max(last_seen_at, ?4)
                 WHERE channel = ?1 AND account = ?2 AND sender_id = ?3",
                params![key.channel, key.account, sender, now],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn request_for(
        &self,
        key: &PairingKey,
        sender_id: &str,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let (key, sender) = (key.clone(), sender_id.to_owned());
        self.read(move |conn| by_sender(conn, &key, &sender)).await
    }

    async fn list_requests(
        &self,
        key: &PairingKey,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        let key = key.clone();
        let cutoff = now.saturating_sub(ttl_ms);
        self.read(move |conn| {
            select(
                conn,
                "channel = ?1 AND account = ?2 AND created_at > ?3",
                params![key.channel, key.account, cutoff],
            )
        })
        .await
    }

    async fn approve(
        &self,
        key: &PairingKey,
        code: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let (key, code) = (key.clone(), code.trim().to_ascii_uppercase());
        let cutoff = now.saturating_sub(ttl_ms);
        self.write(move |conn| {
            let Some(request) = live_by_code(conn, &key, &code, cutoff)? else {
                return Ok(None);
            };
            exec(
                conn,
                "approve pairing request",
                "DELETE FROM pairing_requests WHERE channel = ?1 AND account = ?2 AND sender_id = ?3",
                params![key.channel, key.account, request.sender_id],
            )?;
            insert_allow(conn, &key, &request.sender_id, now)?;
            if let Some(id) = request.held_event_id
                && held(conn, id)?
            {
                requeue(conn, id, now)?;
            }
            Ok(Some(request))
        })
        .await
    }

    async fn deny(
        &self,
        key: &PairingKey,
        code: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let (key, code) = (key.clone(), code.trim().to_ascii_uppercase());
        let cutoff = now.saturating_sub(ttl_ms);
        self.write(move |conn| {
            let Some(request) = live_by_code(conn, &key, &code, cutoff)? else {
                return Ok(None);
            };
            remove(conn, &key, &request, now)?;
            Ok(Some(request))
        })
        .await
    }

    async fn revoke(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (key, sender) = (key.clone(), sender_id.to_owned());
        self.write(move |conn| {
            if let Some(request) = by_sender(conn, &key, &sender)? {
                remove(conn, &key, &request, now)?;
            }
            exec(
                conn,
                "revoke allow entry",
                "DELETE FROM allow_entries WHERE channel = ?1 AND account = ?2 AND entry = ?3",
                params![key.channel, key.account, sender],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn delete_request(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (key, sender) = (key.clone(), sender_id.to_owned());
        self.write(move |conn| {
            let Some(request) = by_sender(conn, &key, &sender)? else {
                return Ok(false);
            };
            remove(conn, &key, &request, now)?;
            Ok(true)
        })
        .await
    }

    async fn prune_requests(
        &self,
        key: &PairingKey,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        let key = key.clone();
        let cutoff = now.saturating_sub(ttl_ms);
        self.write(move |conn| {
            let expired = select(
                conn,
                "channel = ?1 AND account = ?2 AND created_at <= ?3",
                params![key.channel, key.account, cutoff],
            )?;
            for request in &expired {
                remove(conn, &key, request, now)?;
            }
            Ok(expired)
        })
        .await
    }

    async fn allow_entries(&self, key: &PairingKey) -> Result<Vec<AllowEntry>, StoreError> {
        let key = key.clone();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT entry, added_at FROM allow_entries WHERE channel = ?1 AND account = ?2 ORDER BY added_at, entry",
            )
            .and_then(|mut s| {
                s.query_map(params![key.channel, key.account], |r| {
                    Ok(AllowEntry {
                        entry: r.get(0)?,
                        added_at: r.get(1)?,
                    })
                })?
                .collect()
            })
            .map_err(StoreError::query("list allow entries"))
        })
        .await
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
        let (key, entry) = (key.clone(), entry.to_owned());
        self.write(move |conn| insert_allow(conn, &key, &entry, now))
            .await
    }

    async fn remove_allow_entry(&self, key: &PairingKey, entry: &str) -> Result<bool, StoreError> {
        let (key, entry) = (key.clone(), entry.to_owned());
        self.write(move |conn| {
            exec(
                conn,
                "remove allow entry",
                "DELETE FROM allow_entries WHERE channel = ?1 AND account = ?2 AND entry = ?3",
                params![key.channel, key.account, entry],
            )
            .map(|n| n > 0)
        })
        .await
    }
}
