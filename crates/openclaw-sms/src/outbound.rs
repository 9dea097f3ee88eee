//! Outbound: a reply becomes SMS parts sent through Twilio, exactly once.
//!
//! For each part an intent is stored before the send and completed after it, so a crash in
//! the middle resumes with the next unsent part. Failures by class: safe-to-retry errors are
//! retried with exponential backoff and jitter (honouring `Retry-After`); an ambiguous failure
//! (timeout or 5xx after the request was sent) is reconciled by listing recent messages to the
//! recipient and matching the body before any resend; permanent errors stop the reply and are
//! recorded. Parts to one recipient are paced (`sendRatePerSecond`); different recipients go
//! out concurrently.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openclaw_sms_text::{ChunkLimit, Reply, ReplyOptions, SplitOptions, prepare_reply};
use openclaw_store::{
    Completion, DeliveryObservation, FirstPart, HistoryEntry, HistoryLine, IngressId,
    IntentCreated, IntentState, NewIntent, OptOut, OutboundIntent, Role, Store, body_hash,
};
use openclaw_twilio::{CreateMessage, ListMessages, Message, RetryClass, TwilioError};
use rand::Rng as _;
use tokio::sync::Mutex;

use crate::account::AccountRuntime;
use crate::clock::Clock;
use crate::metrics::{Metrics, names, noted};

/// Attempts per part for safe-to-retry errors.
pub const MAX_SEND_ATTEMPTS: u32 = 4;
/// First backoff after a safe-to-retry error; doubled per attempt, with ±20 % jitter.
pub const SEND_BACKOFF: Duration = Duration::from_millis(500);
/// Longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// How many recent messages are listed to reconcile an ambiguous send.
pub const RECONCILE_PAGE_SIZE: u32 = 50;
/// Twilio error: the recipient has opted out (replied STOP).
pub const TWILIO_UNSUBSCRIBED: u32 = 21610;

/// How one part ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome {
    /// Twilio accepted it (now or earlier): its Message SID.
    Sent {
        /// The Message SID.
        sid: String,
        /// Billed segments of the part.
        segments: u32,
        /// Whether an earlier run had already sent it.
        earlier: bool,
    },
    /// Not sent.
    Failed {
        /// Why (operator-facing; includes Twilio's code and hint where there is one).
        error: String,
    },
    /// Not attempted: an earlier part failed.
    Skipped,
}

/// The outcome of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// One outcome per part, in order.
    pub parts: Vec<PartOutcome>,
    /// The prepared reply (text, encoding, segments).
    pub reply: Reply,
    /// The daily budget that stopped the reply, if one did (its part is `Failed` with the
    /// reason, the later ones `Skipped`).
    pub budget: Option<crate::budget::Over>,
    /// Whether the message the reply answers was completed with its last part
    /// ([`Finish`]); when not, the caller completes it.
    pub completed: bool,
}

/// The claimed message an answer completes with its last part, when that part is sent now
/// (one store step, [`openclaw_store::PipelineSteps::last_part_sent`]), with the assistant's
/// history line (the reply's text at `at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finish {
    /// The claimed message.
    pub id: IngressId,
    /// When the answer started going out, unix milliseconds (the history line's time).
    pub at: i64,
}

/// What an answer's send brings from the step that saved it: the message its last part
/// completes, and the first part's intent written with the answer.
#[derive(Debug, Default)]
pub struct Answering {
    /// The message to complete with the last part.
    pub finish: Option<Finish>,
    /// The first part's intent and the recipient's opt-out, from
    /// [`openclaw_store::PipelineSteps::save_answer_sending`].
    pub first: Option<FirstPart>,
}

/// The completion that rides on the last part, and whether it was written.
struct LastPart {
    done: Completion,
    completed: bool,
}

impl SendReport {
    /// Whether every part was sent.
    pub fn is_complete(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, PartOutcome::Sent { .. }))
    }

    /// Whether some but not all parts were sent.
    pub fn is_partial(&self) -> bool {
        !self.is_complete()
            && self
                .parts
                .iter()
                .any(|p| matches!(p, PartOutcome::Sent { .. }))
    }

    /// The first failure, if any.
    pub fn first_error(&self) -> Option<&str> {
        self.parts.iter().find_map(|p| match p {
            PartOutcome::Failed { error } => Some(error.as_str()),
            _ => None,
        })
    }
}

/// Whether a send is held to the daily budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budgets {
    /// Each part must fit (replies, pairing texts, automation).
    Apply,
    /// Sent whatever the budgets say, and counted: the budget notices themselves.
    Exempt,
}

/// Sends replies for every account; cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Clock,
    pacing: Arc<Mutex<HashMap<(String, String), Instant>>>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

/// The reply options of an account.
pub fn reply_options(account: &AccountRuntime) -> ReplyOptions {
    let split = SplitOptions {
        chunk_limit: ChunkLimit::new(account.settings.text_chunk_limit as u64),
        max_segments: account.settings.max_segments_per_reply,
        ..SplitOptions::default()
    };
    ReplyOptions {
        smart_encoding: account.settings.smart_encoding,
        split,
    }
}

impl Outbound {
    /// A sender over `store`.
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>, clock: Clock) -> Self {
        Self {
            store,
            metrics,
            clock,
            pacing: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Formats `text` (markdown) for SMS and sends its parts to `to`, in order. `reply_id`
    /// names the reply durably: sending the same reply again sends only what was not sent.
    pub async fn send_reply(
        &self,
        account: &AccountRuntime,
        to: &str,
        text: &str,
        reply_id: &str,
    ) -> SendReport {
        let reply = prepare_reply(text, &reply_options(account));
        self.send_prepared(account, to, reply, reply_id, Budgets::Apply)
            .await
    }

    /// Sends the parts of a prepared reply to `to`, in order, under `reply_id`; with
    /// [`Budgets::Apply`], each part not sent before must fit the daily budgets
    /// ([`crate::budget`]).
    pub async fn send_prepared(
        &self,
        account: &AccountRuntime,
        to: &str,
        reply: Reply,
        reply_id: &str,
        budgets: Budgets,
    ) -> SendReport {
        self.send_prepared_finishing(account, to, reply, reply_id, budgets, Answering::default())
            .await
    }

    /// [`Outbound::send_prepared`] of an answer: its first part's intent may already be
    /// written (`answering.first`, then not written again and its opt-out not read again), and
    /// its last part completes `answering.finish` when that part is sent now (see
    /// [`SendReport::completed`]).
    pub async fn send_prepared_finishing(
        &self,
        account: &AccountRuntime,
        to: &str,
        reply: Reply,
        reply_id: &str,
        budgets: Budgets,
        answering: Answering,
    ) -> SendReport {
        let Answering { finish, mut first } = answering;
        let count = u32::try_from(reply.parts.len()).unwrap_or(u32::MAX);
        let mut outcomes = Vec::with_capacity(reply.parts.len());
        let mut failed = false;
        let mut gate = self.budget_gate(account, reply_id, budgets).await;
        let mut last = finish.map(|f| LastPart {
            done: Completion {
                id: f.id,
                assistant: Some(HistoryLine {
                    account: account.id().to_owned(),
                    peer: to.to_owned(),
                    entry: HistoryEntry {
                        role: Role::Assistant,
                        text: reply.text.clone(),
                        at: f.at,
                    },
                }),
            },
            completed: false,
        });
        for (index, part) in reply.parts.iter().enumerate() {
            let is_last = index + 1 == reply.parts.len();
            if failed {
                outcomes.push(PartOutcome::Skipped);
                continue;
            }
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            if let Some(error) = gate.stops(self, account, to, index, part.segments).await {
                failed = true;
                outcomes.push(PartOutcome::Failed { error });
                continue;
            }
            let outcome = self
                .send_part(
                    account,
                    to,
                    &part.text,
                    part.segments,
                    reply_id,
                    (index, count),
                    first.take().filter(|_| index == 0),
                    last.as_mut().filter(|_| is_last),
                )
                .await;
            failed = matches!(outcome, PartOutcome::Failed { .. });
            if matches!(outcome, PartOutcome::Sent { earlier: false, .. }) {
                gate.sent(self, account, to).await;
            }
            outcomes.push(outcome);
        }
        let report = SendReport {
            parts: outcomes,
            reply,
            budget: gate.into_over(),
            completed: last.is_some_and(|l| l.completed),
        };
        if let Some(over) = &report.budget {
            self.budget_hit(account, to, reply_id, over).await;
        }
        if report.is_partial() {
            tracing::warn!(
                account = account.id(),
                to,
                reply_id,
                "SMS reply partially delivered: {}",
                report.first_error().unwrap_or("")
            );
        }
        report
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one part of one reply: each argument is needed"
    )]
    async fn send_part(
        &self,
        account: &AccountRuntime,
        to: &str,
        body: &str,
        segments: u32,
        reply_id: &str,
        (index, count): (u32, u32),
        written: Option<FirstPart>,
        mut last: Option<&mut LastPart>,
    ) -> PartOutcome {
        let (intent, existing, opt_out) = match written {
            Some(FirstPart { intent, opted_out }) => (intent, false, Some(opted_out)),
            None => {
                let created = self
                    .store
                    .create_intent(NewIntent {
                        reply_id: reply_id.to_owned(),
                        account: account.id().to_owned(),
                        recipient: to.to_owned(),
                        body_hash: body_hash(body),
                        part_index: index,
                        part_count: count,
                        created_at: self.clock.now_ms(),
                    })
                    .await;
                match created {
                    Ok(IntentCreated::New(intent)) => (intent, false, None),
                    Ok(IntentCreated::Existing(intent)) => (intent, true, None),
                    Err(err) => {
                        return PartOutcome::Failed {
                            error: format!("could not record the send intent: {err}"),
                        };
                    }
                }
            }
        };
        if existing {
            match intent.state {
                IntentState::Sent => {
                    return PartOutcome::Sent {
                        sid: intent.message_sid.clone().unwrap_or_default(),
                        segments,
                        earlier: true,
                    };
                }
                IntentState::Failed => {
                    return PartOutcome::Failed {
                        error: intent
                            .error
                            .clone()
                            .unwrap_or_else(|| "failed earlier".to_owned()),
                    };
                }
                // Pending or ambiguous: an earlier run may have sent it before it died.
                _ => {
                    if let Some(sid) = self.reconcile(account, to, body, &intent).await {
                        return self
                            .mark_sent(account, &intent, (&sid, None), (segments, true), last)
                            .await;
                    }
                }
            }
        }
        // Read with the intent when the answer's step wrote it, else now.
        let opt_out = match opt_out {
            Some(known) => known,
            None => self.store.opt_out(account.id(), to).await.ok().flatten(),
        };
        if let Some(opt_out) = opt_out {
            let error = format!(
                "{to} opted out of SMS from this number ({} at {}); nothing was sent",
                opt_out.keyword, opt_out.at
            );
            self.fail(account, &intent, &error, "opted_out").await;
            return PartOutcome::Failed { error };
        }
        let mut request = CreateMessage::new(to, account.sender.clone(), body);
        request.status_callback.clone_from(&account.status_callback);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace(account, to).await;
            match account.twilio.create_message(&request).await {
                Ok(message) => {
                    let first_status = self.initial_status(account, &message);
                    return self
                        .mark_sent(
                            account,
                            &intent,
                            (message.sid.as_str(), first_status),
                            (segments, false),
                            last,
                        )
                        .await;
                }
                Err(err) => match err.retry_class() {
                    RetryClass::Safe if attempt < MAX_SEND_ATTEMPTS => {
                        self.metrics.inc(names::SENDS, &[("outcome", "retried")], 1);
                        let wait = err
                            .retry_after()
                            .map_or_else(|| backoff(attempt), |d| d.min(MAX_RETRY_AFTER));
                        tracing::warn!(
                            account = account.id(),
                            to,
                            attempt,
                            "Twilio send will be retried in {wait:?}: {err}"
                        );
                        tokio::time::sleep(wait).await;
                    }
                    RetryClass::Ambiguous if attempt < MAX_SEND_ATTEMPTS => {
                        self.metrics
                            .inc(names::SENDS, &[("outcome", "ambiguous")], 1);
                        noted(
                            &self.metrics,
                            "mark_ambiguous",
                            self.store
                                .mark_ambiguous(intent.id, &err.to_string(), self.clock.now_ms())
                                .await,
                        );
                        tracing::warn!(
                            account = account.id(),
                            to,
                            "Twilio send outcome unknown, reconciling before any resend: {err}"
                        );
                        if let Some(sid) = self.reconcile(account, to, body, &intent).await {
                            return self
                                .mark_sent(
                                    account,
                                    &intent,
                                    (&sid, None),
                                    (segments, false),
                                    last.as_deref_mut(),
                                )
                                .await;
                        }
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    _ => {
                        let error = describe(&err);
                        if err.twilio_code() == Some(TWILIO_UNSUBSCRIBED) {
                            noted(
                                &self.metrics,
                                "set_opt_out",
                                self.store
                                    .set_opt_out(OptOut {
                                        account: account.id().to_owned(),
                                        number: to.to_owned(),
                                        keyword: "STOP (Twilio 21610)".to_owned(),
                                        at: self.clock.now_ms(),
                                    })
                                    .await,
                            );
                        }
                        tracing::info!(account = account.id(), to, "SMS send failed: {error}");
                        self.fail(account, &intent, &error, "failed").await;
                        return PartOutcome::Failed { error };
                    }
                },
            }
        }
    }

    /// Records a sent part and, for a message just created, the provider's first status
    /// with it, and for the last part of an answer its completion (one store step).
    async fn mark_sent(
        &self,
        account: &AccountRuntime,
        intent: &OutboundIntent,
        (sid, first_status): (&str, Option<DeliveryObservation>),
        (segments, earlier): (u32, bool),
        last: Option<&mut LastPart>,
    ) -> PartOutcome {
        let now = self.clock.now_ms();
        let sent = openclaw_store::SentPart {
            intent: intent.id,
            message_sid: sid.to_owned(),
            day: crate::budget::budget_day(&account.settings.budgets, now),
            segments,
            now,
        };
        let recorded = match last {
            Some(last) => self
                .store
                .last_part_sent(sent, first_status, last.done.clone())
                .await
                .map(|completed| last.completed = completed),
            None => self.store.part_sent(sent, first_status).await,
        };
        if let Err(err) = recorded {
            tracing::error!(
                account = account.id(),
                sid,
                "could not record a sent part: {err}"
            );
        }
        self.metrics.inc(names::SENDS, &[("outcome", "sent")], 1);
        self.metrics.inc(names::SEGMENTS, &[], u64::from(segments));
        PartOutcome::Sent {
            sid: sid.to_owned(),
            segments,
            earlier,
        }
    }

    async fn fail(
        &self,
        account: &AccountRuntime,
        intent: &OutboundIntent,
        error: &str,
        outcome: &'static str,
    ) {
        if let Err(err) = self
            .store
            .mark_failed(intent.id, error, self.clock.now_ms())
            .await
        {
            tracing::error!(
                account = account.id(),
                "could not record a failed part: {err}"
            );
        }
        self.metrics.inc(names::SENDS, &[("outcome", outcome)], 1);
    }

    /// Twilio's first status of a new message, recorded with its sent part (best effort).
    fn initial_status(
        &self,
        account: &AccountRuntime,
        message: &Message,
    ) -> Option<DeliveryObservation> {
        let status = message.status.as_ref()?;
        Some(DeliveryObservation {
            account: account.id().to_owned(),
            message_sid: message.sid.as_str().to_owned(),
            status: status.as_str().to_owned(),
            error_code: None,
            at: self.clock.now_ms(),
        })
    }

    /// Looks for a message that an earlier, unanswered attempt may have created: same
    /// recipient, same sender, same body, and not already claimed by another intent.
    async fn reconcile(
        &self,
        account: &AccountRuntime,
        to: &str,
        body: &str,
        intent: &OutboundIntent,
    ) -> Option<String> {
        let from = match &account.sender {
            openclaw_twilio::Sender::From(from) => Some(from.clone()),
            _ => None,
        };
        let filter = ListMessages {
            to: Some(to.to_owned()),
            from,
            date_sent_after: Some(utc_day(intent.created_at - 86_400_000)),
            page_size: Some(RECONCILE_PAGE_SIZE),
        };
        let messages = match account.twilio.list_messages(&filter).await {
            Ok(m) => m,
            Err(err) => {
                tracing::warn!(
                    account = account.id(),
                    to,
                    "could not list messages to reconcile: {err}"
                );
                return None;
            }
        };
        let taken: Vec<String> = match self.store.intents_for_reply(&intent.reply_id).await {
            Ok(intents) => intents.into_iter().filter_map(|i| i.message_sid).collect(),
            Err(_) => Vec::new(),
        };
        messages
            .into_iter()
            .filter(|m| {
                m.direction
                    .as_deref()
                    .is_none_or(|d| d.starts_with("outbound"))
            })
            .filter(|m| m.body.as_deref() == Some(body))
            .map(|m| m.sid.as_str().to_owned())
            .find(|sid| !taken.contains(sid))
    }

    /// Waits until `to` may get another part from this account.
    async fn pace(&self, account: &AccountRuntime, to: &str) {
        let interval = Duration::from_secs_f64(1.0 / account.settings.send_rate_per_second);
        let key = (account.id().to_owned(), to.to_owned());
        let wait = {
            let mut pacing = self.pacing.lock().await;
            let now = Instant::now();
            let next = pacing.get(&key).copied().unwrap_or(now).max(now);
            pacing.insert(key, next + interval);
            if pacing.len() > 10_000 {
                pacing.retain(|_, t| *t > now);
            }
            next.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    let base = SEND_BACKOFF * 2u32.saturating_pow(attempt.saturating_sub(1));
    base.mul_f64(rand::rng().random_range(0.8..1.2))
}

/// `TwilioError` with its code's hint, for logs and the store.
pub fn describe(err: &TwilioError) -> String {
    match err.hint() {
        Some(hint) => format!("{err} ({hint})"),
        None => err.to_string(),
    }
}

/// `YYYY-MM-DD` (UTC) of a unix-millisecond time.
pub fn utc_day(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(1_795_564_800_000), "2026-11-25");
        assert_eq!(utc_day(1_795_651_199_999), "2026-11-25");
        assert_eq!(utc_day(1_795_651_200_000), "2026-11-26");
        assert_eq!(utc_day(-1), "1969-12-31");
    }
}
