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
    IntentCreated, NewIntent, NewReply, OptOut, OptOutStore, OutboundIntent, OutboundStore,
    SavedReply, SentPart, StoreError, UsageStore,
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

/// What the pipeline reads before it answers a text ([`PipelineSteps::answer_context`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerContext {
    /// Whether the sender opted out.
    pub opted_out: bool,
    /// The answer saved by an earlier run, if any.
    pub saved: Option<SavedReply>,
    /// The conversation's recent lines, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// What [`PipelineSteps::save_answer_sending`] wrote and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedAnswer {
    /// The saved reply (the first writer's).
    pub reply: SavedReply,
    /// The first part's intent, when this step saved the reply (and so the intent is new);
    /// `None` when the reply was saved before (the caller creates its intents as usual).
    pub first: Option<FirstPart>,
}

/// The first part's intent, written with the reply, and the recipient's opt-out as the same
/// step saw it (the check before the part is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstPart {
    /// The new intent (pending).
    pub intent: OutboundIntent,
    /// The recipient's opt-out, if they opted out.
    pub opted_out: Option<OptOut>,
}

/// The message an answer's last part completes ([`PipelineSteps::last_part_sent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The claimed message the answer answers.
    pub id: IngressId,
    /// The assistant's line, if any (best effort).
    pub assistant: Option<HistoryLine>,
}

/// The pipeline's multi-row steps, each one transaction on a backend that overrides them.
#[async_trait]
pub trait PipelineSteps:
    IngressQueue + OutboundStore + HistoryStore + DeliveryStore + UsageStore + OptOutStore
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

    /// The answer's last part sent and its message completed, one step:
    /// [`PipelineSteps::part_sent`] and then [`PipelineSteps::complete_answered`] (at the
    /// part's `now`). The part is what must hold: `Ok(false)` when the message could not be
    /// completed with it (the part is still marked sent, nothing of the completion is
    /// written; the caller completes the message on its own, as when nothing is folded).
    async fn last_part_sent(
        &self,
        part: SentPart,
        first_status: Option<DeliveryObservation>,
        done: Completion,
    ) -> Result<bool, StoreError> {
        let now = part.now;
        self.part_sent(part, first_status).await?;
        match self.complete_answered(done.id, now, done.assistant).await {
            Ok(()) => Ok(true),
            Err(err) => {
                tracing::warn!("the answered SMS was not completed with its last part: {err}");
                Ok(false)
            }
        }
    }

    /// [`PipelineSteps::save_answer`] and, when that saved the reply (it was not saved
    /// before), the intent of its first part `first` ([`OutboundStore::create_intent`]) and
    /// the recipient's opt-out ([`crate::OptOutStore::opt_out`]), one step: the intent is
    /// durable with the answer, before the part is sent.
    async fn save_answer_sending(
        &self,
        reply: NewReply,
        user: HistoryLine,
        first: NewIntent,
    ) -> Result<SavedAnswer, StoreError> {
        let (created_at, text) = (reply.created_at, reply.text.clone());
        let saved = self.save_answer(reply, user).await?;
        if saved.created_at != created_at || saved.text != text {
            return Ok(SavedAnswer {
                reply: saved,
                first: None,
            });
        }
        let (account, recipient) = (first.account.clone(), first.recipient.clone());
        let intent = match self.create_intent(first).await? {
            IntentCreated::New(intent) => intent,
            IntentCreated::Existing(_) => {
                return Ok(SavedAnswer {
                    reply: saved,
                    first: None,
                });
            }
        };
        let opted_out = self.opt_out(&account, &recipient).await?;
        Ok(SavedAnswer {
            reply: saved,
            first: Some(FirstPart { intent, opted_out }),
        })
    }

    /// The reads before an answer, one read: [`crate::OptOutStore::is_opted_out`] of `peer`,
    /// [`OutboundStore::reply`] of `reply_id` and [`HistoryStore::recent_history`] (`limit`
    /// lines).
    async fn answer_context(
        &self,
        account: &str,
        peer: &str,
        reply_id: &str,
        limit: usize,
    ) -> Result<AnswerContext, StoreError> {
        Ok(AnswerContext {
            opted_out: self.is_opted_out(account, peer).await?,
            saved: self.reply(reply_id).await?,
            history: self.recent_history(account, peer, limit).await?,
        })
    }
}
