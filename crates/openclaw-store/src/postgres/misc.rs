//! [`OptOutStore`], [`HistoryStore`] and [`TurnLedger`] on PostgreSQL.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::ingress::{execute, query, query_opt};
use super::steps::append_history_on;
use super::{PostgresStore, decode, to_u32};
use crate::StoreError;
use crate::optout::{ConversationSummary, HistoryEntry, HistoryStore, OptOut, OptOutStore, Role};
use crate::steps::HistoryLine;
use crate::turns::TurnLedger;

pub(super) fn row_opt_out(r: &Row) -> Result<OptOut, StoreError> {
    let d = decode("opt-out");
    Ok(OptOut {
        account: r.try_get(0).map_err(&d)?,
        number: r.try_get(1).map_err(&d)?,
        keyword: r.try_get(2).map_err(&d)?,
        at: r.try_get(3).map_err(&d)?,
    })
}

impl PostgresStore {
    /// The most history lines kept per peer.
    pub(super) fn history_cap(&self) -> i64 {
        i64::try_from(self.inner.options.retention.history_per_peer).unwrap_or(i64::MAX)
    }
}

#[async_trait]
impl OptOutStore for PostgresStore {
    async fn set_opt_out(&self, opt_out: OptOut) -> Result<(), StoreError> {
        let client = self.conn().await?;
        execute(
            &client,
            "set opt-out",
            "INSERT INTO opt_outs (account, number, keyword, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account, number) DO UPDATE SET keyword = excluded.keyword, at = excluded.at",
            &[&opt_out.account, &opt_out.number, &opt_out.keyword, &opt_out.at],
        )
        .await
        .map(drop)
    }

    async fn clear_opt_out(&self, account: &str, number: &str) -> Result<bool, StoreError> {
        let client = self.conn().await?;
        execute(
            &client,
            "clear opt-out",
            "DELETE FROM opt_outs WHERE account = $1 AND number = $2",
            &[&account, &number],
        )
        .await
        .map(|n| n > 0)
    }

    async fn opt_out(&self, account: &str, number: &str) -> Result<Option<OptOut>, StoreError> {
        let client = self.conn().await?;
        query_opt(
            &client,
            "read opt-out",
            "SELECT account, number, keyword, at FROM opt_outs WHERE account = $1 AND number = $2",
            &[&account, &number],
        )
        .await?
        .as_ref()
        .map(row_opt_out)
        .transpose()
    }

    async fn list_opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError> {
        let client = self.conn().await?;
        query(
            &client,
            "list opt-outs",
            "SELECT account, number, keyword, at FROM opt_outs WHERE account = $1 ORDER BY number",
            &[&account],
        )
        .await?
        .iter()
        .map(row_opt_out)
        .collect()
    }
}

#[async_trait]
impl HistoryStore for PostgresStore {
    async fn append_history(
        &self,
        account: &str,
        peer: &str,
        entry: HistoryEntry,
    ) -> Result<(), StoreError> {
        let line = HistoryLine {
            account: account.to_owned(),
            peer: peer.to_owned(),
            entry,
        };
        let client = self.conn().await?;
        append_history_on(&client, &line, self.history_cap()).await
    }

    async fn recent_history(
        &self,
        account: &str,
        peer: &str,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.conn().await?;
        let d = decode("history turn");
        query(
            &client,
            "read history",
            "SELECT role, text, at FROM (
                SELECT id, role, text, at FROM history WHERE account = $1 AND peer = $2
                ORDER BY id DESC LIMIT $3) recent ORDER BY id",
            &[&account, &peer, &limit],
        )
        .await?
        .iter()
        .map(|r| {
            let role: String = r.try_get(0).map_err(&d)?;
            Ok(HistoryEntry {
                role: Role::parse(&role)?,
                text: r.try_get(1).map_err(&d)?,
                at: r.try_get(2).map_err(&d)?,
            })
        })
        .collect()
    }

    async fn list_conversations(
        &self,
        account: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let client = self.conn().await?;
        let d = decode("conversation");
        query(
            &client,
            "list conversations",
            "SELECT h.peer, h.role, h.text, h.at FROM history h
             JOIN (SELECT MAX(id) AS id FROM history WHERE account = $1 GROUP BY peer) l
             ON h.id = l.id ORDER BY h.id DESC LIMIT $2 OFFSET $3",
            &[&account, &limit, &offset],
        )
        .await?
        .iter()
        .map(|r| {
            let role: String = r.try_get(1).map_err(&d)?;
            Ok(ConversationSummary {
                peer: r.try_get(0).map_err(&d)?,
                last: HistoryEntry {
                    role: Role::parse(&role)?,
                    text: r.try_get(2).map_err(&d)?,
                    at: r.try_get(3).map_err(&d)?,
                },
            })
        })
        .collect()
    }

    async fn clear_history(&self, account: &str, peer: &str) -> Result<u64, StoreError> {
        let client = self.conn().await?;
        execute(
            &client,
            "clear history",
            "DELETE FROM history WHERE account = $1 AND peer = $2",
            &[&account, &peer],
        )
        .await
    }
}

#[async_trait]
impl TurnLedger for PostgresStore {
    async fn record_agent_turn(
        &self,
        account: &str,
        event_id: &str,
        now: i64,
    ) -> Result<u32, StoreError> {
        let client = self.conn().await?;
        let row = query_opt(
            &client,
            "record agent turn",
            "INSERT INTO agent_turns (account, event_id, turns, first_at, last_at)
             VALUES ($1, $2, 1, $3, $3)
             ON CONFLICT (account, event_id)
             DO UPDATE SET turns = agent_turns.turns + 1,
                           last_at = greatest(agent_turns.last_at, excluded.last_at)
             RETURNING turns",
            &[&account, &event_id, &now],
        )
        .await?
        .ok_or_else(|| StoreError::QueryDatabase {
            context: "record agent turn",
            reason: "no row returned".to_owned(),
        })?;
        Ok(to_u32(row.try_get(0).map_err(decode("agent turns"))?))
    }

    async fn agent_turns(&self, account: &str) -> Result<Vec<(String, u32)>, StoreError> {
        let client = self.conn().await?;
        let d = decode("agent turns");
        query(
            &client,
            "read agent turns",
            "SELECT event_id, turns FROM agent_turns WHERE account = $1 ORDER BY event_id",
            &[&account],
        )
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0).map_err(&d)?, to_u32(r.try_get(1).map_err(&d)?))))
        .collect()
    }
}
