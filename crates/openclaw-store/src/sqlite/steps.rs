//! [`PipelineSteps`] on SQLite: each step is one write job (one savepoint in a group commit).

use async_trait::async_trait;
use rusqlite::Connection;

use super::SqliteStore;
use super::delivery::record_delivery_in;
use super::ingress::complete_in;
use super::misc::{append_history_in, opt_out_in, recent_history_in};
use super::outbound::{create_intent_in, save_reply_in, saved_reply};
use super::usage::mark_sent_counted_in;
use crate::outbound::check_part_index;
use crate::steps::{AnswerContext, Completion, FirstPart, HistoryLine, PipelineSteps, SavedAnswer};
use crate::{
    DeliveryObservation, IngressId, IntentCreated, NewIntent, NewReply, SavedReply, SentPart,
    StoreError,
};

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

/// Completes the answered message `done` (and appends its assistant line, best effort) in a
/// savepoint: when the completion is refused, nothing of it is written and the rest of the
/// step stays; answers whether the message was completed.
fn complete_in_savepoint(conn: &Connection, done: &Completion, now: i64, cap: i64) -> bool {
    let exec = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(drop)
    };
    const WHAT: &str = "the answered SMS was not completed with its last part";
    if let Err(err) = exec("SAVEPOINT completion") {
        tracing::warn!("{WHAT}: {err}");
        return false;
    }
    let completed = match complete_in(conn, done.id, now) {
        Ok(()) => {
            if let Some(line) = &done.assistant {
                append_line(conn, line, cap);
            }
            true
        }
        Err(err) => {
            tracing::warn!("{WHAT}: {err}");
            if let Err(err) = exec("ROLLBACK TO completion") {
                tracing::warn!("{WHAT}: {err}");
            }
            false
        }
    };
    if let Err(err) = exec("RELEASE completion") {
        tracing::warn!("{WHAT}: {err}");
    }
    completed
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

    async fn last_part_sent(
        &self,
        part: SentPart,
        first_status: Option<DeliveryObservation>,
        done: Completion,
    ) -> Result<bool, StoreError> {
        let cap = self.history_cap();
        self.write(move |conn| {
            if let Some(observation) = &first_status {
                best_effort(
                    conn,
                    "SMS delivery initial state could not be persisted",
                    |c| record_delivery_in(c, observation).map(drop),
                );
            }
            mark_sent_counted_in(conn, &part)?;
            Ok(complete_in_savepoint(conn, &done, part.now, cap))
        })
        .await
    }

    async fn save_answer_sending(
        &self,
        reply: NewReply,
        user: HistoryLine,
        first: NewIntent,
    ) -> Result<SavedAnswer, StoreError> {
        check_part_index(&first)?;
        let cap = self.history_cap();
        self.write(move |conn| {
            let saved = save_reply_in(conn, &reply)?;
            // The reply's INSERT is the last change before the read in `save_reply_in`.
            let inserted = conn.changes() == 1;
            append_line(conn, &user, cap);
            if !inserted {
                return Ok(SavedAnswer {
                    reply: saved,
                    first: None,
                });
            }
            let IntentCreated::New(intent) = create_intent_in(conn, &first)? else {
                return Ok(SavedAnswer {
                    reply: saved,
                    first: None,
                });
            };
            let opted_out = opt_out_in(conn, &first.account, &first.recipient)?;
            Ok(SavedAnswer {
                reply: saved,
                first: Some(FirstPart { intent, opted_out }),
            })
        })
        .await
    }

    /// One read job (one hand-off to a reader) for the three reads the pipeline makes before
    /// it answers.
    async fn answer_context(
        &self,
        account: &str,
        peer: &str,
        reply_id: &str,
        limit: usize,
    ) -> Result<AnswerContext, StoreError> {
        let (account, peer, reply_id) = (account.to_owned(), peer.to_owned(), reply_id.to_owned());
        self.read(move |conn| {
            Ok(AnswerContext {
                opted_out: opt_out_in(conn, &account, &peer)?.is_some(),
                saved: saved_reply(conn, &reply_id)?,
                history: recent_history_in(conn, &account, &peer, limit)?,
            })
        })
        .await
    }
}
