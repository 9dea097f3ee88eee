//! Simulated phones: they text Twilio numbers (which POSTs the signed webhook) and keep
//! what they receive.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::RunSimulatorError;
use crate::model::{DeliveryOutcome, ReceivedSms, WebhookResult};
use crate::sid::is_e164;
use crate::state::{PhoneMedia, Shared};
use crate::webhook;

/// A text a phone sends: recipient, body, optional media and an optional fixed `MessageSid`
/// (to replay a webhook the way Twilio retries one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingText {
    to: String,
    body: String,
    media: Vec<PhoneMedia>,
    sid: Option<String>,
}

impl OutgoingText {
    /// A text to the Twilio number `to`.
    pub fn new(to: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            body: body.into(),
            media: Vec::new(),
            sid: None,
        }
    }

    /// Attaches media (`MediaUrl{N}` / `MediaContentType{N}`).
    #[must_use]
    pub fn with_media(mut self, url: impl Into<String>, content_type: impl Into<String>) -> Self {
        self.media.push(PhoneMedia {
            url: url.into(),
            content_type: content_type.into(),
        });
        self
    }

    /// Uses this `MessageSid` instead of a fresh one. Sending the same SID again posts the
    /// webhook again but records the message (and any keyword effect) only once.
    #[must_use]
    pub fn with_sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }
}

/// A handle on one simulated phone. Cheap to clone; all clones share the phone's inbox.
#[derive(Clone, Debug)]
pub struct Phone {
    shared: Arc<Shared>,
    number: String,
}

impl Phone {
    pub(crate) fn new(shared: Arc<Shared>, number: &str) -> Result<Self, RunSimulatorError> {
        if !is_e164(number) {
            return Err(RunSimulatorError::InvalidNumber(number.to_owned()));
        }
        shared.lock().phone_mut(number);
        Ok(Self {
            shared,
            number: number.to_owned(),
        })
    }

    /// The phone's number.
    #[must_use]
    pub fn number(&self) -> &str {
        &self.number
    }

    /// Texts `body` to the Twilio number `to`, as Twilio delivers it: the message is recorded,
    /// keywords are handled, and the signed webhook is POSTed; returns the webhook's answer.
    pub async fn text(&self, to: &str, body: &str) -> Result<WebhookResult, RunSimulatorError> {
        self.send(OutgoingText::new(to, body)).await
    }

    /// Like [`Phone::text`] with a fixed `MessageSid`, to replay a delivery.
    pub async fn text_with_sid(
        &self,
        sid: &str,
        to: &str,
        body: &str,
    ) -> Result<WebhookResult, RunSimulatorError> {
        self.send(OutgoingText::new(to, body).with_sid(sid)).await
    }

    /// Sends a text (see [`OutgoingText`]).
    ///
    /// A webhook answered with a non-2xx status is still `Ok` (look at
    /// [`WebhookResult::status`]); the inbound message then carries error 11200. TwiML
    /// `<Message>` verbs in a 2xx answer are sent to this phone as replies.
    pub async fn send(&self, text: OutgoingText) -> Result<WebhookResult, RunSimulatorError> {
        if let Some(sid) = &text.sid
            && !crate::sid::is_sid(sid, "SM")
            && !crate::sid::is_sid(sid, "MM")
        {
            return Err(RunSimulatorError::InvalidConfig(format!(
                "MessageSid {sid:?} is not SM/MM + 32 hex digits"
            )));
        }
        let plan = self.shared.lock().receive_text(
            &self.number,
            &text.to,
            &text.body,
            &text.media,
            text.sid,
            self.shared.opt_out_type,
            SystemTime::now(),
        )?;
        let Some((url, method)) = plan.target else {
            return Err(RunSimulatorError::NoWebhook(plan.number));
        };
        let answer =
            webhook::send(&self.shared, &url, method, &plan.params, &plan.auth_token).await;
        let now = SystemTime::now();
        match answer {
            Ok(answer) => {
                {
                    let mut state = self.shared.lock();
                    if (200..300).contains(&answer.status) {
                        for reply in webhook::twiml_messages(&answer.body) {
                            state.record_reply(
                                &plan.account_sid,
                                &plan.number,
                                &self.number,
                                &reply,
                                now,
                            );
                        }
                    } else {
                        state.mark_webhook_failed(&plan.message_sid, now);
                    }
                }
                Ok(WebhookResult {
                    message_sid: plan.message_sid,
                    status: answer.status,
                    body: answer.body,
                    headers: answer.headers,
                })
            }
            Err(reason) => {
                self.shared
                    .lock()
                    .mark_webhook_failed(&plan.message_sid, now);
                Err(RunSimulatorError::DeliverWebhook {
                    url: webhook::request_url(&url).to_owned(),
                    reason,
                })
            }
        }
    }

    /// Everything this phone has received, oldest first.
    #[must_use]
    pub fn replies(&self) -> Vec<ReceivedSms> {
        self.shared
            .lock()
            .phones
            .get(&self.number)
            .map(|p| p.received.clone())
            .unwrap_or_default()
    }

    /// The next message this phone has not yet taken with `next_reply`, waiting up to
    /// `timeout` for one to arrive; `None` when none came in time.
    pub async fn next_reply(&self, timeout: Duration) -> Option<ReceivedSms> {
        let deadline = tokio::time::Instant::now() + timeout;
        let arrived = Arc::clone(&self.shared.lock().phone_mut(&self.number).arrived);
        loop {
            let notified = arrived.notified();
            tokio::pin!(notified);
            // Register before looking, so a message arriving in between still wakes us.
            notified.as_mut().enable();
            if let Some(reply) = self.take_next() {
                return Some(reply);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.take_next();
            }
        }
    }

    fn take_next(&self) -> Option<ReceivedSms> {
        let mut state = self.shared.lock();
        let phone = state.phone_mut(&self.number);
        let reply = phone.received.get(phone.cursor).cloned()?;
        phone.cursor += 1;
        Some(reply)
    }

    /// How later messages to this phone end (delivered by default).
    pub fn set_delivery(&self, outcome: DeliveryOutcome) {
        self.shared.lock().phone_mut(&self.number).delivery = outcome;
    }
}
