//! The SMS side of pairing: what the channel core's orchestration
//! ([`openclaw_channel::pairing`]) calls around a challenge. A new request holds (or finishes)
//! the message that asked, texts the code and tells the owners; a sender who writes again while
//! pending gets the owners' notices and the code text that did not go out. The daily cap on
//! code texts is checked before a request is stored.

use openclaw_access_policy::{AllowRule, DropReason, PairingLimits};
use openclaw_channel::ChannelError;
use openclaw_channel::pairing::{Admission, Challenger, NewRequest, Pairing};
use openclaw_store::{
    Claimed, IntentState, PairingKey, PairingRequest as StoredRequest, StoreError,
};

use crate::account::AccountRuntime;
use crate::channel::{CHANNEL, SmsChannel};
use crate::metrics::{names, noted};
use crate::pipeline::Processed;
use crate::texts::pairing_reply;

/// How many texts one pairing code gets at most: the first, then again when the sender writes
/// while none went through.
pub const PAIRING_TEXT_ATTEMPTS: u32 = 3;

/// The window of `pairing.maxCodeTextsPerSenderPerDay`: a rolling 24 hours.
pub const PAIRING_TEXT_WINDOW_MS: i64 = 86_400_000;

/// The store key of an account's pairing requests and allow entries.
pub fn pairing_key(account: &str) -> PairingKey {
    PairingKey::new(CHANNEL, account)
}

/// Pairing lifetime in milliseconds.
pub fn pairing_ttl_ms(limits: &PairingLimits) -> i64 {
    openclaw_channel::pairing::ttl_ms(limits)
}

/// The common start of the reply ids of every pairing-code text to `sender` on `account`.
fn pairing_reply_prefix(account: &str, sender: &str) -> String {
    format!("pairing:{account}:{sender}:")
}

/// The reply id of a pairing code's text: one per request and attempt, so that a replayed or
/// resumed message never texts it twice.
fn pairing_reply_id(account: &str, request: &StoredRequest, attempt: u32) -> String {
    let base = format!(
        "{}{}",
        pairing_reply_prefix(account, &request.sender_id),
        request.created_at
    );
    if attempt == 0 {
        base
    } else {
        format!("{base}:{attempt}")
    }
}

/// The silent drop of an unauthorized sender (logged with the policy's reason).
fn not_authorized(account: &AccountRuntime, sender: &str, reason: DropReason) -> Processed {
    tracing::info!(
        account = account.id(),
        sender,
        reason = reason.as_str(),
        "SMS sender {sender} is not authorized"
    );
    Processed::Dropped(reason.as_str().to_owned())
}

/// What SMS does around a pairing challenge of the sender of `message`.
struct SmsChallenger<'a> {
    channel: &'a SmsChannel,
    account: &'a AccountRuntime,
    message: &'a Claimed,
}

#[async_trait::async_trait]
impl Challenger for SmsChallenger<'_> {
    async fn may_challenge(&self, sender: &str, now: i64) -> bool {
        !self
            .channel
            .pairing_texts_capped(self.account, sender, now)
            .await
    }

    async fn challenged(&self, created: &StoredRequest, now: i64) -> Result<(), ChannelError> {
        let (channel, account, id) = (self.channel, self.account, self.message.id);
        if account.settings.hold_until_approved {
            channel
                .store
                .hold(id, now)
                .await
                .map_err(|e| ChannelError::store("hold the message", e))?;
        } else {
            channel
                .store
                .complete(id, now)
                .await
                .map_err(|e| ChannelError::store("complete", e))?;
        }
        let sender = created.sender_id.as_str();
        tracing::info!(
            account = account.id(),
            sender,
            "SMS pairing request created for {sender}"
        );
        let reply_id = pairing_reply_id(account.id(), created, 0);
        channel
            .text_code(account, sender, &created.code, &reply_id)
            .await;
        channel.notify_owners(account, created).await;
        Ok(())
    }

    async fn still_pending(&self, sender: &str, now: i64) {
        let key = pairing_key(self.account.id());
        let ttl = pairing_ttl_ms(&self.account.settings.pairing.limits);
        self.channel
            .resume_pending(self.account, &key, sender, now, ttl)
            .await;
    }

    fn write_failed(&self, step: &'static str, err: &StoreError) {
        noted::<()>(&self.channel.metrics, step, Err(err.clone()));
    }
}

impl SmsChannel {
    /// The access decision for the sender of `message`, carried out by the channel core's
    /// pairing orchestration. `Ok(None)`: allowed, go on. `Ok(Some(..))`: handled here.
    pub(crate) async fn decide(
        &self,
        account: &AccountRuntime,
        sender: &str,
        message: &Claimed,
    ) -> Result<Option<Processed>, ChannelError> {
        let key = pairing_key(account.id());
        let config_allow: Vec<AllowRule> = account
            .settings
            .allow_from
            .iter()
            .map(crate::config::allow_rule)
            .collect();
        let pairing = Pairing {
            store: &*self.store,
            key: &key,
            policy: account.settings.dm_policy,
            config_allow: &config_allow,
            limits: account.settings.pairing.limits,
        };
        let new = NewRequest {
            meta: serde_json::json!({"accountId": account.id()}),
            held_event_id: account.settings.hold_until_approved.then_some(message.id),
        };
        let challenger = SmsChallenger {
            channel: self,
            account,
            message,
        };
        let admission = pairing
            .admit(sender, self.clock.now_ms(), new, &challenger)
            .await?;
        Ok(match admission {
            Admission::Allowed => None,
            Admission::Dropped(reason) => Some(not_authorized(account, sender, reason)),
            Admission::Challenged(_) => Some(Processed::Challenged),
            Admission::AlreadyPending => {
                Some(Processed::Dropped("pairing_already_pending".to_owned()))
            }
            Admission::Declined => Some(Processed::Dropped("pairing_texts_capped".to_owned())),
            _ => Some(Processed::Dropped("unknown decision".to_owned())),
        })
    }

    /// Texts a pairing code under `reply_id` (a failure is logged: the sender's next text
    /// sends it again, see [`Self::text_code_again_if_undelivered`]).
    async fn text_code(&self, account: &AccountRuntime, sender: &str, code: &str, reply_id: &str) {
        let text = pairing_reply(sender, code);
        let report = self
            .outbound
            .send_reply(account, sender, &text, reply_id)
            .await;
        if let Some(err) = report.first_error() {
            tracing::warn!(
                account = account.id(),
                sender,
                "SMS pairing reply failed for {sender}: {err} (the code is texted again when they write next)"
            );
        }
    }

    /// Whether `sender` already had `pairing.maxCodeTextsPerSenderPerDay` pairing-code texts
    /// begun in the last 24 hours (counted from the store's intents, so it holds across
    /// restarts and requests). A store error counts as capped: no billable text on doubt.
    async fn pairing_texts_capped(&self, account: &AccountRuntime, sender: &str, now: i64) -> bool {
        let cap = account.settings.pairing.max_code_texts_per_day;
        let prefix = pairing_reply_prefix(account.id(), sender);
        let since = now.saturating_sub(PAIRING_TEXT_WINDOW_MS);
        let capped = match self.store.count_replies_since(&prefix, since).await {
            Ok(count) => count >= u64::from(cap),
            Err(err) => {
                tracing::warn!(
                    account = account.id(),
                    sender,
                    "could not count the pairing texts of {sender} (no code texted): {err}"
                );
                true
            }
        };
        if capped {
            tracing::info!(
                account = account.id(),
                sender,
                cap,
                "no pairing code texted to {sender}: {cap} already in the last 24 hours"
            );
            self.metrics
                .inc(names::PAIRING_TEXTS_CAPPED, &[("account", account.id())], 1);
        }
        capped
    }

    /// A sender with a live request wrote again (or its first message runs again after a crash):
    /// the owners' notices that did not go out go out now (once per request and owner), and the
    /// code is texted again if no text of it went through.
    async fn resume_pending(
        &self,
        account: &AccountRuntime,
        key: &PairingKey,
        sender: &str,
        now: i64,
        ttl: i64,
    ) {
        let request = match self.store.request_for(key, sender).await {
            Ok(Some(request)) if request.is_live(now, ttl) => request,
            Ok(_) => return,
            Err(err) => {
                tracing::warn!(
                    account = account.id(),
                    sender,
                    "could not read the pairing request: {err}"
                );
                return;
            }
        };
        self.notify_owners(account, &request).await;
        self.text_code_again_if_undelivered(account, sender, now, &request)
            .await;
    }

    /// When no text of the request's code went through (the send failed, or a crash came
    /// before it), the same code is texted again, up to [`PAIRING_TEXT_ATTEMPTS`] sends per
    /// request and within the sender's daily cap. A send still pending resumes under its own
    /// id, so a code is never texted twice by one attempt.
    async fn text_code_again_if_undelivered(
        &self,
        account: &AccountRuntime,
        sender: &str,
        now: i64,
        request: &StoredRequest,
    ) {
        for attempt in 0..PAIRING_TEXT_ATTEMPTS {
            let reply_id = pairing_reply_id(account.id(), request, attempt);
            let intents = match self.store.intents_for_reply(&reply_id).await {
                Ok(intents) => intents,
                Err(err) => {
                    tracing::warn!(
                        account = account.id(),
                        sender,
                        "could not read the pairing reply: {err}"
                    );
                    return;
                }
            };
            if intents.iter().any(|i| i.state == IntentState::Sent) {
                return;
            }
            let unfinished = intents
                .iter()
                .any(|i| matches!(i.state, IntentState::Pending | IntentState::Ambiguous));
            if intents.is_empty() && self.pairing_texts_capped(account, sender, now).await {
                return;
            }
            if intents.is_empty() || unfinished {
                tracing::info!(
                    account = account.id(),
                    sender,
                    "texting the pairing code to {sender} again: no earlier text of it went through"
                );
                self.text_code(account, sender, &request.code, &reply_id)
                    .await;
                return;
            }
        }
    }
}
