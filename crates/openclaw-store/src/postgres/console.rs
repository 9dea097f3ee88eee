//! [`ConsoleStore`] on PostgreSQL.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::ingress::query;
use super::{PostgresStore, decode, to_u32};
use crate::StoreError;
use crate::console::{
    AccountTurn, ConsoleStore, ErrorCount, PartDelivery, ReplyPart, ThreadReply, group_replies,
};
use crate::optout::{HistoryEntry, Role};
use crate::outbound::IntentState;

/// The SQLite query with PostgreSQL's placeholders.
const REPLIES_TO: &str = "
SELECT o.reply_id, r.first_at, s.text, o.part_index, o.part_count, o.state, o.message_sid,
       o.error, o.updated_at, d.status, d.error_code, d.last_observed_at
FROM (SELECT reply_id, MIN(id) AS first, MIN(created_at) AS first_at FROM outbound_intents
      WHERE account = $1 AND recipient = $2 GROUP BY reply_id ORDER BY first DESC LIMIT $3) r
JOIN outbound_intents o ON o.reply_id = r.reply_id AND o.account = $1 AND o.recipient = $2
LEFT JOIN deliveries d ON d.account = o.account AND d.message_sid = o.message_sid
LEFT JOIN saved_replies s ON s.reply_id = o.reply_id
ORDER BY r.first, o.part_index";

fn reply_row(r: &Row) -> Result<(String, i64, Option<String>, ReplyPart), StoreError> {
    let d = decode("reply part");
    let state: String = r.try_get(5).map_err(&d)?;
    let status: Option<String> = r.try_get(9).map_err(&d)?;
    let delivery = match status {
        Some(status) => Some(PartDelivery {
            status,
            error_code: r.try_get(10).map_err(&d)?,
            last_observed_at: r.try_get(11).map_err(&d)?,
        }),
        None => None,
    };
    let part = ReplyPart {
        part_index: to_u32(r.try_get(3).map_err(&d)?),
        part_count: to_u32(r.try_get(4).map_err(&d)?),
        state: IntentState::parse(&state)?,
        message_sid: r.try_get(6).map_err(&d)?,
        error: r.try_get(7).map_err(&d)?,
        updated_at: r.try_get(8).map_err(&d)?,
        delivery,
    };
    Ok((
        r.try_get(0).map_err(&d)?,
        r.try_get(1).map_err(&d)?,
        r.try_get(2).map_err(&d)?,
        part,
    ))
}

#[async_trait]
impl ConsoleStore for PostgresStore {
    async fn replies_to(
        &self,
        account: &str,
        recipient: &str,
        limit: usize,
    ) -> Result<Vec<ThreadReply>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.conn().await?;
        let rows = query(
            &client,
            "read replies",
            REPLIES_TO,
            &[&account, &recipient, &limit],
        )
        .await?
        .iter()
        .map(reply_row)
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(group_replies(rows))
    }

    async fn account_history(
        &self,
        account: &str,
        after: i64,
        since: i64,
        limit: usize,
    ) -> Result<Vec<AccountTurn>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.conn().await?;
        let d = decode("history turn");
        query(
            &client,
            "read account history",
            "SELECT id, peer, role, text, at FROM history
             WHERE account = $1 AND id > $2 AND at >= $3 ORDER BY id LIMIT $4",
            &[&account, &after, &since, &limit],
        )
        .await?
        .iter()
        .map(|r| {
            let role: String = r.try_get(2).map_err(&d)?;
            Ok(AccountTurn {
                id: r.try_get(0).map_err(&d)?,
                peer: r.try_get(1).map_err(&d)?,
                entry: HistoryEntry {
                    role: Role::parse(&role)?,
                    text: r.try_get(3).map_err(&d)?,
                    at: r.try_get(4).map_err(&d)?,
                },
            })
        })
        .collect()
    }

    async fn delivery_errors(
        &self,
        account: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<ErrorCount>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.conn().await?;
        let d = decode("delivery error count");
        query(
            &client,
            "count delivery errors",
            "SELECT error_code, COUNT(*), MAX(last_observed_at) FROM deliveries
             WHERE account = $1 AND last_observed_at >= $2 AND error_code IS NOT NULL
             GROUP BY error_code ORDER BY COUNT(*) DESC, MAX(last_observed_at) DESC, error_code
             LIMIT $3",
            &[&account, &since, &limit],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(ErrorCount {
                code: r.try_get(0).map_err(&d)?,
                count: u64::try_from(r.try_get::<_, i64>(1).map_err(&d)?).unwrap_or_default(),
                last_at: r.try_get(2).map_err(&d)?,
            })
        })
        .collect()
    }
}
