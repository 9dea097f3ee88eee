//! [`OptOutStore`] and [`HistoryStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::SqliteStore;
use super::ingress::to_u64;
use crate::StoreError;
use crate::optout::{ConversationSummary, HistoryEntry, HistoryStore, OptOut, OptOutStore, Role};

#[async_trait]
impl OptOutStore for SqliteStore {
    async fn set_opt_out(&self, opt_out: OptOut) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO opt_outs (account, number, keyword, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account, number) DO UPDATE SET keyword = excluded.keyword, at = excluded.at",
            )
            .and_then(|mut s| s.execute(params![opt_out.account, opt_out.number, opt_out.keyword, opt_out.at]))
            .map(drop)
            .map_err(StoreError::query("set opt-out"))
        })
        .await
    }

    async fn clear_opt_out(&self, account: &str, number: &str) -> Result<bool, StoreError> {
        let (account, number) = (account.to_owned(), number.to_owned());
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM opt_outs WHERE account = ?1 AND number = ?2")
                .and_then(|mut s| s.execute(params![account, number]))
                .map(|n| n > 0)
                .map_err(StoreError::query("clear opt-out"))
        })
        .await
    }

    async fn opt_out(&self, account: &str, number: &str) -> Result<Option<OptOut>, StoreError> {
        let (account, number) = (account.to_owned(), number.to_owned());
        self.read(move |conn| opt_out_in(conn, &account, &number))
            .await
    }

    async fn list_opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError> {
        let account = account.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT account, number, keyword, at FROM opt_outs WHERE account = ?1 ORDER BY number")
                .and_then(|mut s| s.query_map([account], row_opt_out)?.collect())
                .map_err(StoreError::query("list opt-outs"))
        })
        .await
    }
}

/// The opt-out of `number`, if any (on the caller's connection).
pub(super) fn opt_out_in(
    conn: &Connection,
    account: &str,
    number: &str,
) -> Result<Option<OptOut>, StoreError> {
    conn.prepare_cached(
        "SELECT account, number, keyword, at FROM opt_outs WHERE account = ?1 AND number = ?2",
    )
    .and_then(|mut s| {
        s.query_row(params![account, number], row_opt_out)
            .optional()
    })
    .map_err(StoreError::query("read opt-out"))
}

/// The conversation's last `limit` lines, oldest first (on the caller's connection).
pub(super) fn recent_history_in(
    conn: &Connection,
    account: &str,
    peer: &str,
    limit: usize,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<(String, String, i64)> = conn
        .prepare_cached(
            "SELECT role, text, at FROM (
                SELECT id, role, text, at FROM history WHERE account = ?1 AND peer = ?2
                ORDER BY id DESC LIMIT ?3) ORDER BY id",
        )
        .and_then(|mut s| {
            s.query_map(params![account, peer, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect()
        })
        .map_err(StoreError::query("read history"))?;
    rows.into_iter()
        .map(|(role, text, at)| {
            Ok(HistoryEntry {
                role: Role::parse(&role)?,
                text,
                at,
            })
        })
        .collect()
}

pub(super) fn row_opt_out(r: &rusqlite::Row<'_>) -> rusqlite::Result<OptOut> {
    Ok(OptOut {
        account: r.get(0)?,
        number: r.get(1)?,
        keyword: r.get(2)?,
        at: r.get(3)?,
    })
}

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn append_history(
        &self,
        account: &str,
        peer: &str,
        entry: HistoryEntry,
    ) -> Result<(), StoreError> {
        let (account, peer) = (account.to_owned(), peer.to_owned());
        let cap = i64::try_from(self.options.retention.history_per_peer).unwrap_or(i64::MAX);
        self.write(move |conn| append_history_in(conn, &account, &peer, &entry, cap))
            .await
    }

    async fn recent_history(
        &self,
        account: &str,
        peer: &str,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let (account, peer) = (account.to_owned(), peer.to_owned());
        self.read(move |conn| recent_history_in(conn, &account, &peer, limit))
            .await
    }

    async fn list_conversations(
        &self,
        account: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let account = account.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let rows: Vec<(String, String, String, i64)> = conn
                .prepare_cached(
                    "SELECT h.peer, h.role, h.text, h.at FROM history h
                     JOIN (SELECT MAX(id) AS id FROM history WHERE account = ?1 GROUP BY peer) l
                     ON h.id = l.id ORDER BY h.id DESC LIMIT ?2 OFFSET ?3",
                )
                .and_then(|mut s| {
                    s.query_map(params![account, limit, offset], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect()
                })
                .map_err(StoreError::query("list conversations"))?;
            rows.into_iter()
                .map(|(peer, role, text, at)| {
                    Ok(ConversationSummary {
                        peer,
                        last: HistoryEntry {
                            role: Role::parse(&role)?,
                            text,
                            at,
                        },
                    })
                })
                .collect()
        })
        .await
    }

    async fn clear_history(&self, account: &str, peer: &str) -> Result<u64, StoreError> {
        let (account, peer) = (account.to_owned(), peer.to_owned());
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM history WHERE account = ?1 AND peer = ?2")
                .and_then(|mut s| s.execute(params![account, peer]))
                .map(to_u64)
                .map_err(StoreError::query("clear history"))
        })
        .await
    }
}

/// Appends a line to a conversation and drops the oldest beyond `cap` lines.
pub(super) fn append_history_in(
    conn: &Connection,
    account: &str,
    peer: &str,
    entry: &HistoryEntry,
    cap: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO history (account, peer, role, text, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            account,
            peer,
            entry.role.as_str(),
            entry.text,
            entry.at
        ])
    })
    .map_err(StoreError::query("append history"))?;
    conn.prepare_cached(
        "DELETE FROM history WHERE account = ?1 AND peer = ?2 AND id <= (
            SELECT id FROM history WHERE account = ?1 AND peer = ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3)",
    )
    .and_then(|mut s| s.execute(params![account, peer, cap]))
    .map(drop)
    .map_err(StoreError::query("cap history"))
}
