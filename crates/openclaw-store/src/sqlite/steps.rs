//! [`PipelineSteps`] on SQLite: each step is one write job (one savepoint in a group commit).

use async_trait::async_trait;
use rusqlite::Connection;

use super::SqliteStore;
use super::delivery::record_delivery_in;
use super::ingress::complete_in;
use super::misc::append_history_in;
use super::outbound::save_reply_in;
use super::usage::mark_sent_counted_in;
use crate::steps::{HistoryLine, PipelineSteps};
use crate::{DeliveryObservation, IngressId, NewReply, SavedReply, SentPart, StoreError};

/// Runs `work` in its own savepoint: when it fails, what it wrote is undone, the failure is
/// logged, and the rest of the step goes on.
fn best_effort(
    conn: &Connection,
    what: &'static str,
    work: impl FnOnce(&Connection) -> Result<(), StoreError>,
) {
    let exec = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(drop)
    };
    if let Err(err) = exec("SAVEPOINT best_effort") {
        tracing::warn!("{what}: {err}");
        return;
    }
    let outcome = work(conn);
    if let Err(err) = &outcome {
        tracing::warn!("{what}: {err}");
        if let Err(err) = exec("ROLLBACK TO best_effort") {
            tracing::warn!("{what}: {err}");
        }
    }
    if let Err(err) = exec("RELEASE best_effort") {
        tracing::warn!("{what}: {err}");
    }
}

impl SqliteStore {
    fn history_cap(&self) -> i64 {
        i64::try_from(self.options.retention.history_per_peer).unwrap_or(i64::MAX)
    }
}

fn append_line(conn: &Connection, line: &HistoryLine, cap: i64) {
    best_effort(conn, "could not append to the conversation history", |c| {
        append_history_in(c, &line.account, &line.peer, &line.entry, cap)
    });
}

#[async_trait]
impl PipelineSteps for SqliteStore {
    async fn save_answer(
        &self,
        reply: NewReply,
        user: HistoryLine,
    ) -> Result<SavedReply, StoreError> {
        let cap = self.history_cap();
        self.write(move |conn| {
            let saved = save_reply_in(conn, &reply)?;
            append_line(conn, &user, cap);
            Ok(saved)
        })
        .await
    }

    async fn part_sent(
        &self,
        part: SentPart,
        first_status: Option<DeliveryObservation>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            if let Some(observation) = &first_status {
                best_effort(
                    conn,
                    "SMS delivery initial state could not be persisted",
                    |c| record_delivery_in(c, observation).map(drop),
                );
            }
            mark_sent_counted_in(conn, &part)
        })
        .await
    }

    async fn complete_answered(
        &self,
        id: IngressId,
        now: i64,
        assistant: Option<HistoryLine>,
    ) -> Result<(), StoreError> {
        let cap = self.history_cap();
        self.write(move |conn| {
            if let Some(line) = &assistant {
                append_line(conn, line, cap);
            }
            complete_in(conn, id, now)
        })
        .await
    }
}
