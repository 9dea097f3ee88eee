//! The simulator's shared state and the Twilio rules that change it. No HTTP here: the
//! server (`api`) and the phones (`phone`) translate requests into these calls.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Notify;

use crate::config::{
    AccountType, InitialStatusCallback, OptOutTypeField, SimConfig, SimMessagingService,
    WebhookMethod,
};
use crate::error::RunSimulatorError;
use crate::faults::FaultState;
use crate::model::{
    DeliveryOutcome, Direction, MessageStatus, OptOut, ReceivedSms, SimMessage,
    StatusCallbackRecord,
};
use crate::optout::Keyword;
use crate::sid::{is_e164, is_sid, new_sid};
use crate::{segments, time};

/// Twilio's API version string, in JSON and webhooks.
pub(crate) const API_VERSION: &str = "2010-04-01";

/// Longest `Body` Twilio accepts, in characters (error 21617 beyond).
pub const MAX_BODY_CHARS: usize = 1600;

/// Most `MediaUrl` values per message.
pub const MAX_MEDIA: usize = 10;

/// A Twilio REST error: HTTP status, Twilio code, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: u32,
    pub(crate) message: String,
    pub(crate) retry_after_secs: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub(crate) fn unauthenticated() -> Self {
        Self::new(401, 20003, "Authenticate")
    }

    pub(crate) fn not_found(path: &str) -> Self {
        Self::new(
            404,
            20404,
            format!("The requested resource {path} was not found"),
        )
    }
}

/// A number as the state keeps it (its webhook can change at run time).
#[derive(Clone, Debug)]
pub(crate) struct NumberState {
    pub(crate) sid: String,
    pub(crate) number: String,
    pub(crate) sms_url: Option<String>,
    pub(crate) sms_method: WebhookMethod,
    pub(crate) date_created: SystemTime,
}

/// An account as the state keeps it.
#[derive(Debug)]
pub(crate) struct AccountState {
    pub(crate) sid: String,
    pub(crate) auth_token: SecretString,
    pub(crate) friendly_name: String,
    pub(crate) account_type: AccountType,
    pub(crate) api_keys: Vec<(String, SecretString)>,
    pub(crate) numbers: Vec<NumberState>,
    pub(crate) services: Vec<SimMessagingService>,
    pub(crate) date_created: SystemTime,
}

impl AccountState {
    /// The Messaging Service whose pool holds `number`, if any.
    pub(crate) fn service_of(&self, number: &str) -> Option<&SimMessagingService> {
        self.services
            .iter()
            .find(|s| s.numbers.iter().any(|n| n == number))
    }

    /// The opt-out scope of a sender number: its service, else the number itself.
    fn sender_key(&self, number: &str) -> String {
        self.service_of(number)
            .map_or_else(|| number.to_owned(), |s| s.sid.clone())
    }
}

/// One simulated phone's inbox.
#[derive(Debug, Default)]
pub(crate) struct PhoneState {
    pub(crate) received: Vec<ReceivedSms>,
    pub(crate) cursor: usize,
    pub(crate) delivery: DeliveryOutcome,
    /// Woken whenever this phone receives a message.
    pub(crate) arrived: Arc<Notify>,
}

impl PhoneState {
    /// Adds a message to the inbox and wakes whoever waits for this phone.
    pub(crate) fn receive(&mut self, sms: ReceivedSms) {
        self.received.push(sms);
        self.arrived.notify_waiters();
    }
}

/// All mutable simulator state, behind one mutex (never held across an `.await`).
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) accounts: Vec<AccountState>,
    pub(crate) messages: Vec<SimMessage>,
    index: HashMap<String, usize>,
    pub(crate) phones: HashMap<String, PhoneState>,
    pub(crate) opt_outs: BTreeSet<OptOut>,
    pub(crate) faults: FaultState,
    pub(crate) callbacks: Vec<StatusCallbackRecord>,
    /// Media the control API uploaded, by `ME…` id: content type and bytes (at most
    /// [`MAX_MEDIA_ITEMS`] of at most [`MAX_MEDIA_BYTES`] each).
    pub(crate) media: HashMap<String, (String, Vec<u8>)>,
}

/// Most media items the simulator keeps.
pub(crate) const MAX_MEDIA_ITEMS: usize = 64;
/// Largest media item the simulator keeps (the control API's body limit).
pub(crate) const MAX_MEDIA_BYTES: usize = 2 * 1024 * 1024;

/// The state plus the fixed options and the tools tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Woken whenever a status callback is recorded.
    pub(crate) callback_recorded: Notify,
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) opt_out_type: OptOutTypeField,
    pub(crate) initial_status_callback: InitialStatusCallback,
    pub(crate) delivery_step: Duration,
    pub(crate) webhook_timeout: Duration,
}

impl Shared {
    pub(crate) fn new(
        state: State,
        config: &SimConfig,
        base_url: String,
        http: reqwest::Client,
    ) -> Self {
        Self {
            state: Mutex::new(state),
            callback_recorded: Notify::new(),
            http,
            base_url,
            opt_out_type: config.opt_out_type,
            initial_status_callback: config.initial_status_callback,
            delivery_step: config.delivery_step,
            webhook_timeout: config.webhook_timeout,
        }
    }

    /// Locks the state. A panic while holding the lock cannot leave it half-updated in a way
    /// that matters to a simulator, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A create-message request, parsed from the form.
#[derive(Clone, Debug, Default)]
pub(crate) struct CreateMessage {
    pub(crate) to: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) messaging_service_sid: Option<String>,
    pub(crate) body: Option<String>,
    pub(crate) media_urls: Vec<String>,
    pub(crate) status_callback: Option<String>,
}

/// What the delivery task must do after a create: status steps and callbacks.
#[derive(Debug)]
pub(crate) struct DeliveryPlan {
    pub(crate) message_sid: String,
    pub(crate) account_sid: String,
    pub(crate) auth_token: SecretString,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) messaging_service_sid: Option<String>,
    pub(crate) status_callback: Option<String>,
    /// Statuses to move through, in order; each gets a callback when there is a URL.
    pub(crate) steps: Vec<MessageStatus>,
    pub(crate) error_code: Option<u32>,
}

/// Media a phone attaches to a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneMedia {
    /// `MediaUrl{N}`.
    pub url: String,
    /// `MediaContentType{N}`.
    pub content_type: String,
}

/// What a phone text turns into: the webhook request to make.
#[derive(Debug)]
pub(crate) struct InboundPlan {
    pub(crate) message_sid: String,
    pub(crate) account_sid: String,
    pub(crate) auth_token: SecretString,
    pub(crate) number: String,
    pub(crate) target: Option<(String, WebhookMethod)>,
    pub(crate) params: Vec<(String, String)>,
}

fn optional(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

/// ISO country of a number for the `FromCountry`/`ToCountry` fields (a few calling codes).
fn country_of(number: &str) -> &'static str {
    const CODES: [(&str, &str); 8] = [
        ("+1", "US"),
        ("+44", "GB"),
        ("+49", "DE"),
        ("+33", "FR"),
        ("+81", "JP"),
        ("+61", "AU"),
        ("+34", "ES"),
        ("+39", "IT"),
    ];
    CODES
        .iter()
        .find(|(p, _)| number.starts_with(p))
        .map_or("", |(_, c)| c)
}

impl State {
    /// Validates the configuration and builds the initial state.
    pub(crate) fn from_config(
        config: &SimConfig,
        now: SystemTime,
    ) -> Result<Self, RunSimulatorError> {
        let bad = |m: String| RunSimulatorError::InvalidConfig(m);
        config.faults.validate().map_err(bad)?;
        let mut seen_numbers = BTreeSet::new();
        let mut accounts = Vec::new();
        for account in &config.accounts {
            if !is_sid(&account.sid, "AC") {
                return Err(bad(format!(
                    "account SID {:?} is not AC + 32 hex digits",
                    account.sid
                )));
            }
            if accounts.iter().any(|a: &AccountState| a.sid == account.sid) {
                return Err(bad(format!("account {} is listed twice", account.sid)));
            }
            if account.auth_token.expose_secret().is_empty() {
                return Err(bad(format!(
                    "account {} has an empty Auth Token",
                    account.sid
                )));
            }
            for (key, _) in &account.api_keys {
                if !is_sid(key, "SK") {
                    return Err(bad(format!(
                        "API key SID {key:?} is not SK + 32 hex digits"
                    )));
                }
            }
            if let AccountType::Trial { verified } = &account.account_type
                && let Some(n) = verified.iter().find(|n| !is_e164(n))
            {
                return Err(bad(format!("verified number {n:?} is not E.164")));
            }
            let mut numbers = Vec::new();
            for n in &account.numbers {
                if !is_e164(&n.number) {
                    return Err(bad(format!("number {:?} is not E.164", n.number)));
                }
                if !seen_numbers.insert(n.number.clone()) {
                    return Err(bad(format!("number {} is owned twice", n.number)));
                }
                numbers.push(NumberState {
                    sid: new_sid("PN"),
                    number: n.number.clone(),
                    sms_url: n.sms_url.clone(),
                    sms_method: n.sms_method,
                    date_created: now,
                });
            }
            for s in &account.services {
                if !is_sid(&s.sid, "MG") {
                    return Err(bad(format!(
                        "Messaging Service SID {:?} is not MG + 32 hex digits",
                        s.sid
                    )));
                }
                if let Some(n) = s
                    .numbers
                    .iter()
                    .find(|n| !numbers.iter().any(|o| &o.number == *n))
                {
                    return Err(bad(format!(
                        "service {} pools {n}, which account {} does not own",
                        s.sid, account.sid
                    )));
                }
            }
            accounts.push(AccountState {
                sid: account.sid.clone(),
                auth_token: account.auth_token.clone(),
                friendly_name: account.friendly_name.clone(),
                account_type: account.account_type.clone(),
                api_keys: account.api_keys.clone(),
                numbers,
                services: account.services.clone(),
                date_created: now,
            });
        }
        Ok(Self {
            accounts,
            messages: Vec::new(),
            index: HashMap::new(),
            phones: HashMap::new(),
            opt_outs: BTreeSet::new(),
            faults: FaultState::new(config.faults.clone(), config.seed),
            callbacks: Vec::new(),
            media: HashMap::new(),
        })
    }

    pub(crate) fn account(&self, sid: &str) -> Option<&AccountState> {
        self.accounts.iter().find(|a| a.sid == sid)
    }

    /// Checks HTTP Basic credentials (Account SID + Auth Token, or API key SID + secret)
    /// against the account named in the path. A simulator need not compare in constant time.
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
        path_account: &str,
    ) -> Result<(), ApiError> {
        let unauth = ApiError::unauthenticated;
        let encoded = authorization
            .and_then(|h| {
                h.strip_prefix("Basic ")
                    .or_else(|| h.strip_prefix("basic "))
            })
            .ok_or_else(unauth)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| unauth())?;
        let decoded = String::from_utf8(decoded).map_err(|_| unauth())?;
        let (user, password) = decoded.split_once(':').ok_or_else(unauth)?;
        let account = self.account(path_account).ok_or_else(unauth)?;
        let ok = if user == account.sid {
            account.auth_token.expose_secret() == password
        } else {
            account
                .api_keys
                .iter()
                .any(|(k, s)| k == user && s.expose_secret() == password)
        };
        if ok { Ok(()) } else { Err(unauth()) }
    }

    pub(crate) fn message(&self, sid: &str) -> Option<&SimMessage> {
        self.index.get(sid).and_then(|&i| self.messages.get(i))
    }

    pub(crate) fn message_mut(&mut self, sid: &str) -> Option<&mut SimMessage> {
        match self.index.get(sid) {
            Some(&i) => self.messages.get_mut(i),
            None => None,
        }
    }

    fn push_message(&mut self, message: SimMessage) {
        self.index.insert(message.sid.clone(), self.messages.len());
        self.messages.push(message);
    }

    pub(crate) fn phone_mut(&mut self, number: &str) -> &mut PhoneState {
        self.phones.entry(number.to_owned()).or_default()
    }

    /// Records a message Twilio itself sends to a phone (keyword reply, TwiML `<Message>`).
    pub(crate) fn record_reply(
        &mut self,
        account_sid: &str,
        from: &str,
        to: &str,
        body: &str,
        now: SystemTime,
    ) -> String {
        let sid = new_sid("SM");
        self.push_message(SimMessage {
            sid: sid.clone(),
            account_sid: account_sid.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            body: body.to_owned(),
            media_urls: Vec::new(),
            messaging_service_sid: None,
            direction: Direction::OutboundReply,
            status: MessageStatus::Delivered,
            error_code: None,
            num_segments: segments::count(body),
            status_callback: None,
            date_created: now,
            date_sent: Some(now),
            date_updated: now,
        });
        self.phone_mut(to).receive(ReceivedSms {
            sid: sid.clone(),
            from: from.to_owned(),
            to: to.to_owned(),
            body: body.to_owned(),
            media_urls: Vec::new(),
        });
        sid
    }

    /// Applies Twilio's create-message rules. On success the message is recorded (and, when
    /// it will be delivered, put in the phone's inbox at once, so a phone sees messages in
    /// creation order).
    pub(crate) fn create_message(
        &mut self,
        account_sid: &str,
        request: CreateMessage,
        initial_callback: InitialStatusCallback,
        now: SystemTime,
    ) -> Result<(SimMessage, DeliveryPlan), ApiError> {
        let account = self
            .account(account_sid)
            .ok_or_else(ApiError::unauthenticated)?;
        let to = optional(request.to.as_deref())
            .ok_or_else(|| ApiError::new(400, 21604, "A 'To' phone number is required."))?;
        if !is_e164(&to) {
            return Err(ApiError::new(
                400,
                21211,
                format!("Invalid 'To' Phone Number: {to}"),
            ));
        }
        let body = request.body.unwrap_or_default();
        if body.is_empty() && request.media_urls.is_empty() {
            return Err(ApiError::new(400, 21602, "Message body is required."));
        }
        if body.chars().count() > MAX_BODY_CHARS {
            return Err(ApiError::new(
                400,
                21617,
                "The concatenated message body exceeds the 1600 character limit.",
            ));
        }
        if request.media_urls.len() > MAX_MEDIA {
            return Err(ApiError::new(
                400,
                21623,
                "Number of media files exceeds allowed limit.",
            ));
        }
        let service_sid = optional(request.messaging_service_sid.as_deref());
        let service = match &service_sid {
            Some(sid) => Some(account.services.iter().find(|s| &s.sid == sid).ok_or_else(
                || {
                    ApiError::new(
                        400,
                        21701,
                        format!("The Messaging Service Sid {sid} is invalid."),
                    )
                },
            )?),
            None => None,
        };
        let from = match (optional(request.from.as_deref()), service) {
            (Some(from), _) => {
                if !account.numbers.iter().any(|n| n.number == from) {
                    return Err(ApiError::new(400, 21606, format!("The From phone number {from} is not a valid, SMS-capable inbound phone number or short code for your account.")));
                }
                from
            }
            (None, Some(service)) => service.numbers.first().cloned().ok_or_else(|| {
                ApiError::new(400, 21703, "The Messaging Service does not have a phone number available to send a message.")
            })?,
            (None, None) => {
                return Err(ApiError::new(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."));
            }
        };
        if let AccountType::Trial { verified } = &account.account_type
            && !verified.iter().any(|v| v == &to)
        {
            return Err(ApiError::new(
                400,
                21608,
                format!(
                    "The number {to} is unverified. Trial accounts cannot send messages to unverified numbers; verify {to} at twilio.com/user/account/phone-numbers/verified, or purchase a Twilio number to send messages to unverified numbers."
                ),
            ));
        }
        let sender = service.map_or_else(|| account.sender_key(&from), |s| s.sid.clone());
        if self.opt_outs.contains(&OptOut {
            phone: to.clone(),
            sender,
        }) {
            return Err(ApiError::new(
                400,
                21610,
                "Attempt to send to unsubscribed recipient",
            ));
        }
        let messaging_service_sid = service
            .map(|s| s.sid.clone())
            .or_else(|| account.service_of(&from).map(|s| s.sid.clone()));
        let status_callback = optional(request.status_callback.as_deref())
            .or_else(|| service.and_then(|s| s.status_callback.clone()));
        let auth_token = account.auth_token.clone();
        let via_service = service.is_some();

        let outcome = self.phones.get(&to).map(|p| p.delivery).unwrap_or_default();
        let mut steps = Vec::new();
        if via_service || initial_callback == InitialStatusCallback::Send {
            steps.push(MessageStatus::Queued);
        }
        let error_code = match outcome {
            DeliveryOutcome::Delivered => {
                steps.extend([MessageStatus::Sent, MessageStatus::Delivered]);
                None
            }
            DeliveryOutcome::Undelivered { error_code } => {
                steps.extend([MessageStatus::Sent, MessageStatus::Undelivered]);
                Some(error_code)
            }
            DeliveryOutcome::Failed { error_code } => {
                steps.push(MessageStatus::Failed);
                Some(error_code)
            }
        };
        let sid = new_sid("SM");
        let message = SimMessage {
            sid: sid.clone(),
            account_sid: account_sid.to_owned(),
            from: from.clone(),
            to: to.clone(),
            body: body.clone(),
            media_urls: request.media_urls.clone(),
            messaging_service_sid: messaging_service_sid.clone(),
            direction: Direction::OutboundApi,
            status: if via_service {
                MessageStatus::Accepted
            } else {
                MessageStatus::Queued
            },
            error_code: None,
            num_segments: segments::count(&body),
            status_callback: status_callback.clone(),
            date_created: now,
            date_sent: None,
            date_updated: now,
        };
        self.push_message(message.clone());
        if outcome == DeliveryOutcome::Delivered {
            self.phone_mut(&to).receive(ReceivedSms {
                sid: sid.clone(),
                from: from.clone(),
                to: to.clone(),
                body,
                media_urls: request.media_urls,
            });
        }
        let plan = DeliveryPlan {
            message_sid: sid,
            account_sid: account_sid.to_owned(),
            auth_token,
            from,
            to,
            messaging_service_sid,
            status_callback,
            steps,
            error_code,
        };
        Ok((message, plan))
    }

    /// Moves a message to `status` (with the plan's error code on a failure status).
    pub(crate) fn advance(
        &mut self,
        sid: &str,
        status: MessageStatus,
        error_code: Option<u32>,
        now: SystemTime,
    ) {
        if let Some(m) = self.message_mut(sid) {
            m.status = status;
            m.date_updated = now;
            if matches!(status, MessageStatus::Sent | MessageStatus::Failed)
                && m.date_sent.is_none()
            {
                m.date_sent = Some(now);
            }
            if matches!(status, MessageStatus::Failed | MessageStatus::Undelivered) {
                m.error_code = error_code;
            }
        }
    }

    /// Applies Twilio's inbound rules to a phone's text: records the message (once per SID),
    /// applies keyword opt-out/opt-in with Twilio's standard reply, and builds the webhook.
    #[allow(clippy::too_many_arguments)] // reason: internal; one call site mirrors the form fields
    pub(crate) fn receive_text(
        &mut self,
        phone: &str,
        to: &str,
        body: &str,
        media: &[PhoneMedia],
        sid: Option<String>,
        opt_out_type: OptOutTypeField,
        now: SystemTime,
    ) -> Result<InboundPlan, RunSimulatorError> {
        let account = self
            .accounts
            .iter()
            .find(|a| a.numbers.iter().any(|n| n.number == to))
            .ok_or_else(|| RunSimulatorError::UnknownNumber(to.to_owned()))?;
        let number = account
            .numbers
            .iter()
            .find(|n| n.number == to)
            .ok_or_else(|| RunSimulatorError::UnknownNumber(to.to_owned()))?;
        let service = account.service_of(to);
        let target = match service {
            Some(s) if !s.use_inbound_webhook_on_number => {
                s.inbound_request_url.clone().map(|u| (u, s.inbound_method))
            }
            _ => number.sms_url.clone().map(|u| (u, number.sms_method)),
        };
        let account_sid = account.sid.clone();
        let auth_token = account.auth_token.clone();
        let service_sid = service.map(|s| s.sid.clone());
        let sender = account.sender_key(to);
        let message_sid =
            sid.unwrap_or_else(|| new_sid(if media.is_empty() { "SM" } else { "MM" }));
        let first_time = self.message(&message_sid).is_none();
        let keyword = Keyword::classify(body);
        let num_segments = segments::count(body).max(1);
        if first_time {
            self.push_message(SimMessage {
                sid: message_sid.clone(),
                account_sid: account_sid.clone(),
                from: phone.to_owned(),
                to: to.to_owned(),
                body: body.to_owned(),
                media_urls: media.iter().map(|m| m.url.clone()).collect(),
                messaging_service_sid: service_sid.clone(),
                direction: Direction::Inbound,
                status: MessageStatus::Received,
                error_code: None,
                num_segments,
                status_callback: None,
                date_created: now,
                date_sent: Some(now),
                date_updated: now,
            });
            if let Some(keyword) = keyword {
                let pair = OptOut {
                    phone: phone.to_owned(),
                    sender,
                };
                match keyword {
                    Keyword::Stop => {
                        self.record_reply(&account_sid, to, phone, keyword.reply(), now);
                        self.opt_outs.insert(pair);
                    }
                    Keyword::Start => {
                        self.opt_outs.remove(&pair);
                        self.record_reply(&account_sid, to, phone, keyword.reply(), now);
                    }
                    Keyword::Help => {
                        self.record_reply(&account_sid, to, phone, keyword.reply(), now);
                    }
                }
            }
        }

        let mut params: Vec<(String, String)> = Vec::new();
        let mut push = |k: &str, v: &str| params.push((k.to_owned(), v.to_owned()));
        push("ToCountry", country_of(to));
        push("ToState", "");
        push("SmsMessageSid", &message_sid);
        push("NumMedia", &media.len().to_string());
        push("ToCity", "");
        push("FromZip", "");
        push("SmsSid", &message_sid);
        push("FromState", "");
        push("SmsStatus", "received");
        push("FromCity", "");
        push("Body", body);
        push("FromCountry", country_of(phone));
        push("To", to);
        if let Some(s) = &service_sid {
            push("MessagingServiceSid", s);
        }
        push("ToZip", "");
        push("NumSegments", &num_segments.to_string());
        for (i, m) in media.iter().enumerate() {
            push(&format!("MediaContentType{i}"), &m.content_type);
            push(&format!("MediaUrl{i}"), &m.url);
        }
        let with_type = match opt_out_type {
            OptOutTypeField::Always => true,
            OptOutTypeField::MessagingServiceOnly => service_sid.is_some(),
        };
        if let (Some(k), true) = (keyword, with_type) {
            push("OptOutType", k.opt_out_type());
        }
        push("MessageSid", &message_sid);
        push("AccountSid", &account_sid);
        push("From", phone);
        push("ApiVersion", API_VERSION);

        Ok(InboundPlan {
            message_sid,
            account_sid,
            auth_token,
            number: to.to_owned(),
            target,
            params,
        })
    }

    /// Marks an inbound message whose webhook failed with 11200, as Twilio does.
    pub(crate) fn mark_webhook_failed(&mut self, sid: &str, now: SystemTime) {
        if let Some(m) = self.message_mut(sid) {
            m.error_code = Some(11200);
            m.date_updated = now;
        }
    }
}

/// The date a message counts as sent on, for the `DateSent` filters.
pub(crate) fn date_sent_ymd(message: &SimMessage) -> Option<String> {
    message.date_sent.map(time::ymd)
}
