//! Pipeline steps that write several things at once: one transaction per step instead of one
//! per row, so that an answered message costs a handful of commits (see issue 18).
//!
//! Each method means exactly what its parts in sequence mean; the default implementations are
//! those sequences, and a backend overrides them with one transaction. What is best effort in
//! a step (history lines, the provider's first delivery status) never undoes the part that
//! must hold (the saved answer, a sent part, a completed message): a backend runs it in a
//! savepoint and keeps going when it fails.

use async_trait::async_trait;

use crate::{
    DeliveryObservation, DeliveryStore, HistoryEntry, HistoryStore, IngressId, IngressQueue,
    NewReply, OutboundStore, SavedReply, SentPart, StoreError, UsageStore,
};

/// A line of a conversation to append: the account, the peer and the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    /// The channel account.
    pub account: String,
    /// The other party.
    pub peer: String,
    /// The line.
    pub entry: HistoryEntry,
}

/// The pipeline's multi-row steps, each one transaction on a backend that overrides them.
#[async_trait]
pub trait PipelineSteps:
    IngressQueue + OutboundStore + HistoryStore + DeliveryStore + UsageStore
{
    /// [`OutboundStore::save_reply`] and then, in the same transaction, the user's line that
    /// the reply answers ([`HistoryStore::append_history`], best effort).
    async fn save_answer(
        &self,
        reply: NewReply,
        user: HistoryLine,
    ) -> Result<SavedReply, StoreError> {
        let saved = self.save_reply(reply).await?;
        if let Err(err) = self
            .append_history(&user.account, &user.peer, user.entry)
            .await
        {
            tracing::warn!("could not append to the conversation history: {err}");
        }
        Ok(saved)
    }

    /// A part the provider accepted: its first delivery status, if it gave one
    /// ([`DeliveryStore::record_delivery`], best effort), and the part marked sent with its
    /// segments counted ([`UsageStore::mark_sent_counted`]).
    async fn part_sent(
        &self,
        part: SentPart,
        first_status: Option<DeliveryObservation>,
    ) -> Result<(), StoreError> {
        if let Some(observation) = first_status
            && let Err(err) = self.record_delivery(observation).await
        {
            tracing::warn!("SMS delivery initial state could not be persisted: {err}");
        }
        self.mark_sent_counted(part).await
    }

    /// The answer's last write: the assistant's line, if any
    /// ([`HistoryStore::append_history`], best effort), and [`IngressQueue::complete`].
    async fn complete_answered(
        &self,
        id: IngressId,
        now: i64,
        assistant: Option<HistoryLine>,
    ) -> Result<(), StoreError> {
        if let Some(line) = assistant
            && let Err(err) = self
                .append_history(&line.account, &line.peer, line.entry)
                .await
        {
            tracing::warn!("could not append to the conversation history: {err}");
        }
        self.complete(id, now).await
    }
}
