//! [`ConsoleStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Row, params};

use super::SqliteStore;
use crate::StoreError;
use crate::console::{
    AccountTurn, ConsoleStore, ErrorCount, PartDelivery, ReplyPart, ThreadReply, group_replies,
};
use crate::optout::{HistoryEntry, Role};
use crate::outbound::IntentState;

/// A recipient's last replies, their parts, delivery records and saved texts, by reply then
/// part (the `outbound_recipient` index finds the replies).
const REPLIES_TO: &str = "
SELECT o.reply_id, r.first_at, s.text, o.part_index, o.part_count, o.state, o.message_sid,
       o.error, o.updated_at, d.status, d.error_code, d.last_observed_at
FROM (SELECT reply_id, MIN(id) AS first, MIN(created_at) AS first_at FROM outbound_intents
      WHERE account = ?1 AND recipient = ?2 GROUP BY reply_id ORDER BY first DESC LIMIT ?3) r
JOIN outbound_intents o ON o.reply_id = r.reply_id AND o.account = ?1 AND o.recipient = ?2
LEFT JOIN deliveries d ON d.account = o.account AND d.message_sid = o.message_sid
LEFT JOIN saved_replies s ON s.reply_id = o.reply_id
ORDER BY r.first, o.part_index";

/// One row of [`REPLIES_TO`] as read, before the state is parsed (a row mapper's error is
/// rusqlite's; the state's is the store's).
struct RawPart {
    reply_id: String,
    first_at: i64,
    text: Option<String>,
    part_index: i64,
    part_count: i64,
    state: String,
    message_sid: Option<String>,
    error: Option<String>,
    updated_at: i64,
    delivery: Option<PartDelivery>,
}

fn raw_part(r: &Row<'_>) -> rusqlite::Result<RawPart> {
    let status: Option<String> = r.get(9)?;
    let delivery = match status {
        Some(status) => Some(PartDelivery {
            status,
            error_code: r.get(10)?,
            last_observed_at: r.get(11)?,
        }),
        None => None,
    };
    Ok(RawPart {
        reply_id: r.get(0)?,
        first_at: r.get(1)?,
        text: r.get(2)?,
        part_index: r.get(3)?,
        part_count: r.get(4)?,
        state: r.get(5)?,
        message_sid: r.get(6)?,
        error: r.get(7)?,
        updated_at: r.get(8)?,
        delivery,
    })
}

impl RawPart {
    fn decode(self) -> Result<(String, i64, Option<String>, ReplyPart), StoreError> {
        let part = ReplyPart {
            part_index: u32::try_from(self.part_index).unwrap_or(u32::MAX),
            part_count: u32::try_from(self.part_count).unwrap_or(u32::MAX),
            state: IntentState::parse(&self.state)?,
            message_sid: self.message_sid,
            error: self.error,
            updated_at: self.updated_at,
            delivery: self.delivery,
        };
        Ok((self.reply_id, self.first_at, self.text, part))
    }
}

#[async_trait]
impl ConsoleStore for SqliteStore {
    async fn replies_to(
        &self,
        account: &str,
        recipient: &str,
        limit: usize,
    ) -> Result<Vec<ThreadReply>, StoreError> {
        let (account, recipient) = (account.to_owned(), recipient.to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let rows: Vec<RawPart> = conn
                .prepare_cached(REPLIES_TO)
                .and_then(|mut s| {
                    s.query_map(params![account, recipient, limit], raw_part)?
                        .collect()
                })
                .map_err(StoreError::query("read replies"))?;
            let rows = rows
                .into_iter()
                .map(RawPart::decode)
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(group_replies(rows))
        })
        .await
    }

    async fn account_history(
        &self,
        account: &str,
        after: i64,
        since: i64,
        limit: usize,
    ) -> Result<Vec<AccountTurn>, StoreError> {
        let account = account.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let rows: Vec<(i64, String, String, String, i64)> = conn
                .prepare_cached(
                    "SELECT id, peer, role, text, at FROM history
                     WHERE account = ?1 AND id > ?2 AND at >= ?3 ORDER BY id LIMIT ?4",
                )
                .and_then(|mut s| {
                    s.query_map(params![account, after, since, limit], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect()
                })
                .map_err(StoreError::query("read account history"))?;
            rows.into_iter()
                .map(|(id, peer, role, text, at)| {
                    Ok(AccountTurn {
                        id,
                        peer,
                        entry: HistoryEntry {
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

    async fn delivery_errors(
        &self,
        account: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<ErrorCount>, StoreError> {
        let account = account.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT error_code, COUNT(*), MAX(last_observed_at) FROM deliveries
                 WHERE account = ?1 AND last_observed_at >= ?2 AND error_code IS NOT NULL
                 GROUP BY error_code ORDER BY COUNT(*) DESC, MAX(last_observed_at) DESC, error_code
                 LIMIT ?3",
            )
            .and_then(|mut s| {
                s.query_map(params![account, since, limit], |r| {
                    Ok(ErrorCount {
                        code: r.get(0)?,
                        count: u64::try_from(r.get::<_, i64>(1)?).unwrap_or_default(),
                        last_at: r.get(2)?,
                    })
                })?
                .collect()
            })
            .map_err(StoreError::query("count delivery errors"))
        })
        .await
    }
}
