//! [`PipelineSteps`] on PostgreSQL: each step is one transaction (one commit); its best-effort
//! part (a history line, the provider's first delivery status) runs in a savepoint, so that its
//! failure is rolled back alone and never undoes the part that must hold.

use async_trait::async_trait;
use deadpool_postgres::Transaction;

use super::delivery::record_delivery_in;
use super::ingress::complete_in;
use super::misc::append_history_in;
use super::outbound::save_reply_in;
use super::usage::mark_sent_counted_in;
use super::{PostgresStore, pg};
use crate::steps::{HistoryLine, PipelineSteps};
use crate::{DeliveryObservation, IngressId, NewReply, SavedReply, SentPart, StoreError};

/// Runs the best-effort part of a step in a savepoint of `tx`: when it fails (or the savepoint
/// cannot be taken or released), what it wrote is rolled back, the failure is logged and the
/// step goes on. The transaction stays usable either way.
async fn best_effort(tx: &mut Transaction<'_>, what: &'static str, part: BestEffort<'_>) {
    let savepoint = match tx.savepoint("best_effort").await {
        Ok(savepoint) => savepoint,
        Err(err) => {
            tracing::warn!("{what}: {}", pg("take a savepoint")(err));
            return;
        }
    };
    let outcome = match part {
        BestEffort::History { line, cap } => {
            append_history_in(&savepoint, &line.account, &line.peer, &line.entry, cap).await
        }
        BestEffort::Delivery(observation) => {
            record_delivery_in(&savepoint, observation).await.map(drop)
        }
    };
    let end = match outcome {
        Ok(()) => savepoint.commit().await.map_err(pg("release a savepoint")),
        Err(err) => {
            tracing::warn!("{what}: {err}");
            savepoint
                .rollback()
                .await
                .map_err(pg("roll back to a savepoint"))
        }
    };
    if let Err(err) = end {
        tracing::warn!("{what}: {err}");
    }
}

/// What a step writes in its savepoint.
enum BestEffort<'a> {
    /// A line of the conversation, keeping at most `cap` lines per peer.
    History { line: &'a HistoryLine, cap: i64 },
    /// The provider's first delivery status of a part.
    Delivery(&'a DeliveryObservation),
}

const HISTORY_FAILED: &str = "could not append to the conversation history";

#[async_trait]
impl PipelineSteps for PostgresStore {
    async fn save_answer(
        &self,
        reply: NewReply,
        user: HistoryLine,
    ) -> Result<SavedReply, StoreError> {
        let cap = self.history_cap();
        let mut client = self.conn().await?;
        let mut tx = client
            .transaction()
            .await
            .map_err(pg("begin save answer"))?;
        let saved = save_reply_in(&tx, &reply).await?;
        let line = BestEffort::History { line: &user, cap };
        best_effort(&mut tx, HISTORY_FAILED, line).await;
        tx.commit().await.map_err(pg("commit save answer"))?;
        Ok(saved)
    }

    async fn part_sent(
        &self,
        part: SentPart,
        first_status: Option<DeliveryObservation>,
    ) -> Result<(), StoreError> {
        let mut client = self.conn().await?;
        let mut tx = client.transaction().await.map_err(pg("begin part sent"))?;
        if let Some(observation) = &first_status {
            let status = BestEffort::Delivery(observation);
            let what = "SMS delivery initial state could not be persisted";
            best_effort(&mut tx, what, status).await;
        }
        mark_sent_counted_in(&tx, &part).await?;
        tx.commit().await.map_err(pg("commit part sent"))
    }

    /// The completion is the part that must hold and it is fenced (this node must still hold
    /// the claim): when it is refused (the lease was taken over, the message is no longer
    /// claimed), the whole transaction is rolled back, the assistant's line with it, so that
    /// the conversation does not gain a line for an answer another gateway now owns (as on
    /// SQLite, where the step is one write job).
    async fn complete_answered(
        &self,
        id: IngressId,
        now: i64,
        assistant: Option<HistoryLine>,
    ) -> Result<(), StoreError> {
        let cap = self.history_cap();
        let mut client = self.conn().await?;
        let mut tx = client
            .transaction()
            .await
            .map_err(pg("begin complete answered"))?;
        if let Some(line) = &assistant {
            best_effort(&mut tx, HISTORY_FAILED, BestEffort::History { line, cap }).await;
        }
        // On an error `tx` is dropped uncommitted: rolled back.
        complete_in(&tx, self.node_id(), id, now).await?;
        tx.commit().await.map_err(pg("commit complete answered"))
    }
}
