//! The pump: runs accepted messages in order per sender, in parallel across senders.
//!
//! For each message: identity checks (else dead letter), opt-out keywords (never reach the
//! agent), the access decision (allow, pairing challenge, silent drop), then one agent turn and
//! the reply. The agent's answer is saved before any part is sent, so a crash between parts
//! resumes the same answer: one acknowledged SMS, one agent turn, each part sent once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openclaw_sms_target::InboundSender;
use openclaw_store::{
    AnswerContext, ClaimScope, Claimed, HistoryEntry, HistoryLine, NewReply, OptOut, Role,
    TransientFailure,
};
use openclaw_twilio::escape::Escaped;
use openclaw_twilio::form::Form;
use openclaw_twilio::webhook::InboundMessage;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::account::AccountRuntime;
use crate::agent::{AgentReply, AgentTurn, HistoryRole, HistoryTurn};
use crate::channel::{CHANNEL, SmsChannel};
use crate::keywords::{Keyword, classify};
use crate::metrics::{names, noted};
use crate::outbound::Finish;
use crate::texts::{SLOW_REPLY_NOTICE, unavailable_media_notice};

pub use crate::pairing::{
    PAIRING_TEXT_ATTEMPTS, PAIRING_TEXT_WINDOW_MS, pairing_key, pairing_ttl_ms,
};

/// How a processed message ended, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Answered by the agent.
    Answered,
    /// A keyword handled by the channel.
    Keyword(&'static str),
    /// A pairing code was texted (and the message held when `holdUntilApproved`).
    Challenged,
    /// Dropped silently.
    Dropped(String),
    /// Failed permanently.
    DeadLettered(String),
    /// Failed for now; retried later.
    Retrying(String),
}

/// Keeps the leases of a shared store's claims alive: renews every third of the lease while
/// the pump has messages running (a store without leases makes it do nothing).
#[derive(Debug)]
struct LeaseKeeper {
    /// The renewal period (a third of the lease), `None` for a store without leases.
    every: Option<Duration>,
    /// When the next renewal is due.
    next: tokio::time::Instant,
}

/// Renewals per lease: the pump renews every `lease / LEASE_RENEWALS_PER_LEASE`, so one
/// renewal may fail or come late without the lease running out.
pub const LEASE_RENEWALS_PER_LEASE: u32 = 3;

impl LeaseKeeper {
    fn new(lease_ms: Option<i64>) -> Self {
        let every = lease_ms
            .and_then(|ms| u64::try_from(ms).ok())
            .filter(|ms| *ms > 0)
            .map(|ms| Duration::from_millis(ms) / LEASE_RENEWALS_PER_LEASE);
        Self {
            every,
            next: tokio::time::Instant::now() + every.unwrap_or_default(),
        }
    }

    fn active(&self) -> bool {
        self.every.is_some()
    }

    /// Waits until the next renewal is due.
    async fn due(&self) {
        tokio::time::sleep_until(self.next).await;
    }

    /// Renews when due and something is running; with nothing running, the period restarts
    /// (the next claim gets a full lease from the store).
    async fn tick(
        &mut self,
        store: &dyn openclaw_store::Store,
        clock: &crate::Clock,
        running: bool,
    ) {
        let Some(every) = self.every else {
            return;
        };
        let now = tokio::time::Instant::now();
        if !running {
            self.next = now + every;
            return;
        }
        if now < self.next {
            return;
        }
        self.next = now + every;
        match store.renew_claims(clock.now_ms()).await {
            Ok(renewed) => tracing::debug!(renewed, "SMS claim leases renewed"),
            Err(err) => tracing::error!(
                "could not renew the leases of claimed SMS (another gateway may take them over): {err}"
            ),
        }
    }
}

/// A text to answer: the message, its reply id and what was read for it.
struct Asked<'a> {
    inbound: &'a InboundMessage,
    message: &'a Claimed,
    reply_id: String,
    context: AnswerContext,
}

/// How an answered message ends: the assistant's line to write with the completion, or
/// already completed with the answer's last part.
#[derive(Debug, Default)]
struct Ending {
    assistant: Option<HistoryLine>,
    completed: bool,
}

impl SmsChannel {
    /// Runs the pump until `stop` is cancelled, then waits up to `grace` for messages in
    /// flight; whatever is unfinished stays in the queue and runs after the next start.
    ///
    /// With a store whose claims are leases ([`openclaw_store::IngressQueue::claim_lease_ms`],
    /// PostgreSQL shared by several gateways), the pump renews its claims every
    /// [`LEASE_RENEWALS_PER_LEASE`]th of the lease while messages run (the grace included), and
    /// when the grace runs out it aborts them and releases their claims, so that another
    /// gateway takes them over at once rather than after the lease.
    pub async fn run_pump(self: Arc<Self>, stop: CancellationToken, grace: Duration) {
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut running: HashMap<tokio::task::Id, openclaw_store::IngressId> = HashMap::new();
        let mut last_prune = Instant::now();
        let mut leases = LeaseKeeper::new(self.store.claim_lease_ms());
        loop {
            while let Some(done) = tasks.try_join_next_with_id() {
                self.reap(done, &mut running).await;
            }
            if stop.is_cancelled() {
                break;
            }
            leases
                .tick(&*self.store, &self.clock, !tasks.is_empty())
                .await;
            let free = self.options.max_concurrent.saturating_sub(tasks.len());
            // Only the accounts this gateway runs: messages of a disabled or removed account
            // stay queued until it runs again, rather than failing here.
            let mut claimed = Vec::new();
            for account in &self.accounts {
                let room = free.saturating_sub(claimed.len());
                if room == 0 {
                    break;
                }
                let scope = ClaimScope::Account(account.id().to_owned());
                match self
                    .store
                    .claim_next(scope, self.clock.now_ms(), room)
                    .await
                {
                    Ok(c) => claimed.extend(c),
                    Err(err) => {
                        tracing::error!(
                            account = account.id(),
                            "could not claim queued SMS: {err}"
                        );
                    }
                }
            }
            let got_work = !claimed.is_empty();
            for message in claimed {
                let id = message.id;
                let channel = Arc::clone(&self);
                let handle = tasks.spawn(async move {
                    channel.process(message).await;
                });
                running.insert(handle.id(), id);
            }
            if last_prune.elapsed() > Duration::from_secs(60) {
                last_prune = Instant::now();
                self.prune().await;
            }
            if got_work && tasks.len() < self.options.max_concurrent {
                // Other lanes may have become due behind the ones just claimed.
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.options.poll_interval) => {}
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => self.reap(done, &mut running).await,
                () = leases.due(), if leases.active() && !tasks.is_empty() => {}
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !tasks.is_empty() {
            leases.tick(&*self.store, &self.clock, true).await;
            let until = if leases.active() {
                deadline.min(leases.next)
            } else {
                deadline
            };
            match tokio::time::timeout_at(until, tasks.join_next_with_id()).await {
                Ok(Some(done)) => self.reap(done, &mut running).await,
                Ok(None) => break,
                Err(_) if tokio::time::Instant::now() < deadline => {}
                Err(_) => {
                    tracing::warn!(
                        unfinished = tasks.len(),
                        "shutdown grace elapsed; unfinished SMS stay queued for the next start"
                    );
                    tasks.abort_all();
                    // Let the aborted tasks unwind so none writes after the release below.
                    while tasks.join_next().await.is_some() {}
                    if leases.active() {
                        match self.store.release_claims(self.clock.now_ms()).await {
                            Ok(released) => tracing::info!(
                                released,
                                "unfinished SMS released for another gateway to take over"
                            ),
                            Err(err) => tracing::error!(
                                "could not release unfinished SMS (another gateway takes them over when their lease ends): {err}"
                            ),
                        }
                    }
                    break;
                }
            }
        }
    }

    async fn reap(
        &self,
        done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
        running: &mut HashMap<tokio::task::Id, openclaw_store::IngressId>,
    ) {
        match done {
            Ok((id, ())) => {
                running.remove(&id);
            }
            Err(err) => {
                if let Some(ingress) = running.remove(&err.id())
                    && err.is_panic()
                {
                    tracing::error!(%ingress, "SMS processing panicked; it will be retried");
                    let now = self.clock.now_ms();
                    let failure = TransientFailure {
                        now,
                        error: "processing panicked".to_owned(),
                        retry_at: now + 5_000,
                    };
                    noted(
                        &self.metrics,
                        "fail_transient",
                        self.store.fail_transient(ingress, failure).await,
                    );
                }
            }
        }
    }

    async fn prune(&self) {
        let now = self.clock.now_ms();
        if let Err(err) = self.store.prune_ingress(now).await {
            tracing::warn!("pruning the ingress queue failed: {err}");
        }
        noted(
            &self.metrics,
            "prune_intents",
            self.store.prune_intents(now).await,
        );
        noted(
            &self.metrics,
            "prune_deliveries",
            self.store.prune_deliveries(now).await,
        );
        for account in &self.accounts {
            let ttl = pairing_ttl_ms(&account.settings.pairing.limits);
            noted(
                &self.metrics,
                "prune_requests",
                self.store
                    .prune_requests(&pairing_key(account.id()), now, ttl)
                    .await,
            );
        }
        self.drop_expired_rests().await;
        self.refresh_gauges().await;
    }

    /// Processes one claimed message to its end: completed, held, retried or dead-lettered.
    pub async fn process(&self, message: Claimed) -> Processed {
        let id = message.id;
        let mut ending = Ending::default();
        let outcome = self.process_inner(&message, &mut ending).await;
        let now = self.clock.now_ms();
        let result = match &outcome {
            Processed::DeadLettered(reason) => {
                tracing::warn!(account = %message.account, event = %Escaped(&message.event_id), "SMS dead-lettered: {}", Escaped(&reason));
                self.store.dead_letter(id, reason, now).await
            }
            Processed::Retrying(error) => {
                if message.attempt + 1 >= self.options.max_attempts {
                    let reason = format!("gave up after {} attempts: {error}", message.attempt + 1);
                    tracing::warn!(account = %message.account, event = %Escaped(&message.event_id), "SMS dead-lettered: {}", Escaped(&reason));
                    self.store.dead_letter(id, &reason, now).await
                } else {
                    let jitter = rand::random_range(0.8..1.2);
                    let delay = self.options.retry.delay_ms(message.attempt, jitter);
                    tracing::warn!(account = %message.account, event = %Escaped(&message.event_id), "SMS will be retried in {delay} ms: {}", Escaped(&error));
                    self.store
                        .fail_transient(
                            id,
                            TransientFailure {
                                now,
                                error: error.clone(),
                                retry_at: now + delay,
                            },
                        )
                        .await
                }
            }
            Processed::Challenged => Ok(()),
            // Completed with the answer's last part (one step).
            _ if ending.completed => Ok(()),
            // The answer's last write: its history line and the completion, one step.
            _ => {
                self.store
                    .complete_answered(id, now, ending.assistant)
                    .await
            }
        };
        if let Err(err) = result {
            tracing::error!(account = %message.account, event = %Escaped(&message.event_id), "could not record the outcome of an SMS: {err}");
        }
        outcome
    }

    /// Runs `message`; an answer leaves the assistant's history line in `ending`, to be
    /// written with the completion, or says that its last part completed the message.
    async fn process_inner(&self, message: &Claimed, ending: &mut Ending) -> Processed {
        let Some(account) = self.account(&message.account).cloned() else {
            return Processed::DeadLettered(format!(
                "account {} is not configured or not enabled",
                message.account
            ));
        };
        let Ok(form) = Form::parse(&message.payload) else {
            return Processed::DeadLettered(
                "invalid-payload: SMS ingress payload is invalid.".to_owned(),
            );
        };
        let inbound = match InboundMessage::from_form(&form) {
            Ok(m) => m,
            Err(err) => {
                return Processed::DeadLettered(format!(
                    "invalid-payload: SMS ingress payload is invalid ({err})."
                ));
            }
        };
        if let Err(reason) = check_identity(&account, &inbound) {
            return Processed::DeadLettered(format!("invalid-payload: {reason}"));
        }
        let sender = match InboundSender::parse(&inbound.from) {
            Ok(s) => s.number().to_string(),
            Err(err) => {
                return Processed::DeadLettered(format!(
                    "invalid-payload: invalid sender {:?}: {err}",
                    inbound.from
                ));
            }
        };
        if inbound.body.is_empty() && inbound.num_media == 0 {
            return Processed::DeadLettered(
                "invalid-payload: message has neither text nor media".to_owned(),
            );
        }
        let opt_out_type = inbound.opt_out_type.as_ref().map(|t| match t {
            openclaw_twilio::webhook::OptOutType::Stop => "STOP",
            openclaw_twilio::webhook::OptOutType::Start => "START",
            openclaw_twilio::webhook::OptOutType::Help => "HELP",
            _ => "",
        });
        if let Some(keyword) = classify(&inbound.body, opt_out_type) {
            return self.keyword(&account, &sender, keyword, message).await;
        }
        // An owner's APPROVE/DENY: only from an owner number of this account, never to the
        // agent. From anyone else the same words are an ordinary message.
        if account.settings.pairing.is_owner(&sender)
            && let Some(command) = crate::owner::parse_command(&inbound.body)
        {
            let reply_id = format!("owner:{}:{}", account.id(), message.event_id);
            return match self
                .owner_command(&account, &sender, &command, &reply_id)
                .await
            {
                Ok(()) => Processed::Keyword("owner-command"),
                Err(error) => Processed::Retrying(error),
            };
        }
        // The opt-out state, with what an answer reads (the saved answer, the history): one
        // read.
        let reply_id = format!("reply:{}:{}", account.id(), message.event_id);
        let context = match self
            .store
            .answer_context(account.id(), &sender, &reply_id, self.options.history_turns)
            .await
        {
            Ok(context) if context.opted_out => {
                tracing::info!(
                    account = account.id(),
                    sender,
                    "SMS from an opted-out sender: not answered (they must text START first)"
                );
                return Processed::Dropped("opted_out".to_owned());
            }
            Ok(context) => context,
            Err(err) => {
                return Processed::Retrying(format!(
                    "could not read the opt-out state, saved reply and history: {err}"
                ));
            }
        };
        match self.decide(&account, &sender, message).await {
            Ok(None) => {}
            Ok(Some(outcome)) => return outcome,
            Err(error) => return Processed::Retrying(error.to_string()),
        }
        if let Some(done) = self.more(&account, &sender, &inbound.body, message).await {
            return done;
        }
        let asked = Asked {
            inbound: &inbound,
            message,
            reply_id,
            context,
        };
        self.answer(&account, &sender, asked, ending).await
    }

    async fn keyword(
        &self,
        account: &AccountRuntime,
        sender: &str,
        keyword: Keyword,
        message: &Claimed,
    ) -> Processed {
        let now = self.clock.now_ms();
        match keyword {
            Keyword::OptOut(word) => {
                let opt_out = OptOut {
                    account: account.id().to_owned(),
                    number: sender.to_owned(),
                    keyword: word.to_owned(),
                    at: now,
                };
                if let Err(err) = self.store.set_opt_out(opt_out).await {
                    return Processed::Retrying(format!("could not record the opt-out: {err}"));
                }
                tracing::info!(
                    account = account.id(),
                    sender,
                    keyword = word,
                    "SMS sender opted out; nothing more will be sent to them"
                );
                Processed::Keyword("opt-out")
            }
            Keyword::OptIn(word) => {
                if let Err(err) = self.store.clear_opt_out(account.id(), sender).await {
                    return Processed::Retrying(format!("could not clear the opt-out: {err}"));
                }
                tracing::info!(
                    account = account.id(),
                    sender,
                    keyword = word,
                    "SMS sender opted back in"
                );
                Processed::Keyword("opt-in")
            }
            Keyword::Help => {
                if let Some(help) = &account.settings.help_text {
                    let reply_id = format!("help:{}:{}", account.id(), message.event_id);
                    let report = self
                        .outbound
                        .send_reply(account, sender, help, &reply_id)
                        .await;
                    if let Some(err) = report.first_error() {
                        tracing::warn!(
                            account = account.id(),
                            sender,
                            "SMS help reply failed: {err}"
                        );
                    }
                }
                Processed::Keyword("help")
            }
        }
    }

    async fn answer(
        &self,
        account: &AccountRuntime,
        sender: &str,
        asked: Asked<'_>,
        ending: &mut Ending,
    ) -> Processed {
        let Asked {
            inbound,
            message,
            reply_id,
            context,
        } = asked;
        let mut written = None;
        let text = if let Some(saved) = context.saved {
            tracing::info!(
                account = account.id(),
                sender,
                "resuming a saved SMS reply after a restart"
            );
            saved.text
        } else {
            let media = crate::media::materialize(account, inbound, &self.options).await;
            let media = match media {
                Ok(m) => m,
                Err(transient) => return Processed::Retrying(transient),
            };
            let mut text = inbound.body.clone();
            if media.unavailable > 0 {
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(&unavailable_media_notice(media.unavailable));
            }
            let history = context
                .history
                .into_iter()
                .map(|e| HistoryTurn {
                    role: if e.role == Role::Assistant {
                        HistoryRole::Assistant
                    } else {
                        HistoryRole::User
                    },
                    text: e.text,
                })
                .collect();
            let turn = AgentTurn {
                channel: CHANNEL.to_owned(),
                account_id: account.id().to_owned(),
                sender: sender.to_owned(),
                message_id: message.event_id.clone(),
                text,
                media: media.attachments,
                history,
                received_at_ms: message.received_at,
            };
            let started = Instant::now();
            noted(
                &self.metrics,
                "record_agent_turn",
                self.store
                    .record_agent_turn(account.id(), &message.event_id, self.clock.now_ms())
                    .await,
            );
            let reply = self.agent_reply(account, sender, &turn).await;
            self.metrics
                .observe(names::AGENT_SECONDS, &[], started.elapsed());
            let reply = match reply {
                Ok(r) => {
                    self.metrics
                        .inc(names::AGENT_TURNS, &[("outcome", "ok")], 1);
                    r
                }
                Err(err) => {
                    self.metrics
                        .inc(names::AGENT_TURNS, &[("outcome", "error")], 1);
                    return if err.is_retryable() {
                        Processed::Retrying(err.to_string())
                    } else {
                        Processed::DeadLettered(err.to_string())
                    };
                }
            };
            let new = NewReply {
                reply_id: reply_id.clone(),
                account: account.id().to_owned(),
                recipient: sender.to_owned(),
                text: reply.text,
                created_at: self.clock.now_ms(),
            };
            // The user's line joins the history once: with the answer that was saved (the same
            // step), not again when a restart resumes sending it.
            let user = HistoryLine {
                account: account.id().to_owned(),
                peer: sender.to_owned(),
                entry: HistoryEntry {
                    role: Role::User,
                    text: inbound.body.clone(),
                    at: message.received_at,
                },
            };
            let saved =
                match Self::first_intent(account, sender, &new.text, &reply_id, new.created_at) {
                    // The first part's intent is written with the answer (one step).
                    Some((reply, intent)) => {
                        let text = new.text.clone();
                        self.store
                            .save_answer_sending(new, user, intent)
                            .await
                            .map(|saved| {
                                if saved.reply.text == text {
                                    written = saved.first.map(|first| (reply, first));
                                }
                                saved.reply
                            })
                    }
                    None => self.store.save_answer(new, user).await,
                };
            match saved {
                Ok(saved) => saved.text,
                Err(err) => {
                    return Processed::Retrying(format!("could not save the agent's reply: {err}"));
                }
            }
        };
        let now = self.clock.now_ms();
        if !text.trim().is_empty() {
            tracing::info!(
                account = account.id(),
                sender,
                "SMS reply started for {sender}"
            );
            let finish = Finish {
                id: message.id,
                at: now,
            };
            let report = self
                .send_answer(account, sender, &text, &reply_id, (finish, written))
                .await;
            ending.completed = report.completed;
            ending.assistant = Some(HistoryLine {
                account: account.id().to_owned(),
                peer: sender.to_owned(),
                entry: HistoryEntry {
                    role: Role::Assistant,
                    text: report.reply.text.clone(),
                    at: now,
                },
            });
            self.metrics.observe(
                names::REPLY_SECONDS,
                &[],
                Duration::from_millis(
                    u64::try_from(self.clock.now_ms() - message.received_at).unwrap_or(0),
                ),
            );
            if let Some(err) = report.first_error() {
                tracing::warn!(
                    account = account.id(),
                    sender,
                    partial = report.is_partial(),
                    "SMS reply not fully delivered: {err}"
                );
            }
        }
        Processed::Answered
    }
}

impl SmsChannel {
    /// The agent's answer to `turn`; when it takes longer than `slow_reply_notice_after`,
    /// one "working on it" text goes out meanwhile. The notice has its own reply id per
    /// inbound message, so the outbound ledger sends it at most once per message, even when
    /// the turn is retried or the gateway restarts.
    async fn agent_reply(
        &self,
        account: &AccountRuntime,
        sender: &str,
        turn: &AgentTurn,
    ) -> Result<AgentReply, crate::AgentError> {
        let reply = self.agent.reply(turn);
        let Some(after) = self.options.slow_reply_notice_after else {
            return reply.await;
        };
        tokio::pin!(reply);
        tokio::select! {
            answer = &mut reply => return answer,
            () = tokio::time::sleep(after) => {}
        }
        let notice_id = format!("notice:{}:{}", account.id(), turn.message_id);
        let (answer, report) = tokio::join!(
            &mut reply,
            self.outbound
                .send_reply(account, sender, SLOW_REPLY_NOTICE, &notice_id)
        );
        if let Some(err) = report.first_error() {
            tracing::warn!(
                account = account.id(),
                sender,
                "the slow-reply notice to {sender} was not sent: {err}"
            );
        }
        answer
    }
}

/// Upstream's identity rules: the webhook must be for this account, and for its number (when
/// `fromNumber` is set) or its Messaging Service.
fn check_identity(account: &AccountRuntime, inbound: &InboundMessage) -> Result<(), String> {
    if inbound.account_sid.as_str() != account.settings.account_sid {
        return Err("SMS ingress payload has an invalid Twilio account.".to_owned());
    }
    if let Some(from_number) = &account.settings.from_number {
        let to = InboundSender::parse(&inbound.to)
            .map_err(|_| "SMS ingress payload has an invalid Twilio recipient.".to_owned())?;
        if to.number() != from_number {
            return Err("SMS ingress payload has an invalid Twilio recipient.".to_owned());
        }
    } else if let Some(service) = &account.settings.messaging_service_sid
        && inbound
            .messaging_service_sid
            .as_ref()
            .map(openclaw_twilio::sid::MessagingServiceSid::as_str)
            != Some(service.as_str())
    {
        return Err("SMS ingress payload has an invalid Twilio Messaging Service.".to_owned());
    }
    Ok(())
}
