//! Request and response types of the REST calls the client makes.

use serde::Deserialize;
use serde_json::Value;

use crate::sid::{AccountSid, CallSid, MessageSid, MessagingServiceSid, PhoneNumberSid};
use crate::voice::CallStatus;
use crate::webhook::MessageStatus;

/// Most `MediaUrl` values one message may carry (Twilio's limit).
pub const MAX_MEDIA_URLS: usize = 10;

/// Longest `Body` Twilio accepts, in UTF-16 code units (Twilio counts characters that way;
/// an emoji counts as two).
pub const MAX_BODY_UTF16_UNITS: usize = 1600;

/// Largest `ValidityPeriod` in seconds (Twilio's maximum and default).
pub const MAX_VALIDITY_PERIOD_SECS: u32 = 36_000;

/// Largest `PageSize` Twilio accepts on list calls.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Who sends a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sender {
    /// `From`: a Twilio number (E.164), short code, alphanumeric sender ID or channel address.
    From(String),
    /// `MessagingServiceSid`: Twilio picks a sender from the service's pool.
    MessagingService(MessagingServiceSid),
}

/// A message to create (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`).
///
/// Form fields are sent in this order: `To`, `Body` (when not empty), `MediaUrl` (each,
/// trimmed, blanks dropped), `From` or `MessagingServiceSid`, `StatusCallback`, `SmartEncoded`,
/// `ValidityPeriod`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreateMessage {
    /// `To`: the recipient.
    pub to: String,
    /// `Body`: the text (omitted when empty). At most [`MAX_BODY_UTF16_UNITS`].
    pub body: String,
    /// `MediaUrl`: public URLs of media, at most [`MAX_MEDIA_URLS`].
    pub media_urls: Vec<String>,
    /// `From` or `MessagingServiceSid`.
    pub sender: Sender,
    /// `StatusCallback`: where Twilio posts delivery status.
    pub status_callback: Option<String>,
    /// `SmartEncoded`: let Twilio replace Unicode look-alikes with GSM-7 characters.
    pub smart_encoded: Option<bool>,
    /// `ValidityPeriod` in seconds, 1 to [`MAX_VALIDITY_PERIOD_SECS`].
    pub validity_period: Option<u32>,
}

impl CreateMessage {
    /// A text message from `sender` to `to`; set the other fields as needed.
    #[must_use]
    pub fn new(to: impl Into<String>, sender: Sender, body: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            body: body.into(),
            media_urls: Vec::new(),
            sender,
            status_callback: None,
            smart_encoded: None,
            validity_period: None,
        }
    }

    /// The request's form body, in Twilio field order. `Err` names why the request is refused
    /// before any HTTP.
    pub(crate) fn encode(&self) -> Result<String, &'static str> {
        let to = self.to.trim();
        if to.is_empty() {
            return Err("a message needs a To address");
        }
        let media: Vec<&str> = self
            .media_urls
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .collect();
        if self.body.is_empty() && media.is_empty() {
            return Err("a message needs text or media");
        }
        if self.body.encode_utf16().count() > MAX_BODY_UTF16_UNITS {
            return Err("Body supports at most 1600 characters");
        }
        if media.len() > MAX_MEDIA_URLS {
            return Err("a message supports at most 10 media URLs");
        }
        if self
            .validity_period
            .is_some_and(|v| v == 0 || v > MAX_VALIDITY_PERIOD_SECS)
        {
            return Err("ValidityPeriod must be between 1 and 36000 seconds");
        }
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", to);
        if !self.body.is_empty() {
            form.append_pair("Body", &self.body);
        }
        for url in media {
            form.append_pair("MediaUrl", url);
        }
        match &self.sender {
            Sender::From(from) => {
                let from = from.trim();
                if from.is_empty() {
                    return Err("a message needs a From address or a Messaging Service");
                }
                form.append_pair("From", from);
            }
            Sender::MessagingService(sid) => {
                form.append_pair("MessagingServiceSid", sid.as_str());
            }
        }
        if let Some(cb) = self.status_callback.as_deref().filter(|c| !c.is_empty()) {
            form.append_pair("StatusCallback", cb);
        }
        if let Some(smart) = self.smart_encoded {
            form.append_pair("SmartEncoded", if smart { "true" } else { "false" });
        }
        if let Some(v) = self.validity_period {
            form.append_pair("ValidityPeriod", &v.to_string());
        }
        Ok(form.finish())
    }
}

/// Filters for listing messages (first page only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListMessages {
    /// `To`: only messages to this address.
    pub to: Option<String>,
    /// `From`: only messages from this address.
    pub from: Option<String>,
    /// `DateSent>`: only messages sent on or after this day, `YYYY-MM-DD` (UTC).
    pub date_sent_after: Option<String>,
    /// `PageSize`, 1 to [`MAX_PAGE_SIZE`] (Twilio's default when `None`: 50).
    pub page_size: Option<u32>,
}

impl ListMessages {
    pub(crate) fn query(&self) -> Result<String, &'static str> {
        let mut q = list_query(self.to.as_deref(), self.from.as_deref());
        if let Some(date) = &self.date_sent_after {
            if !is_iso_date(date) {
                return Err("date_sent_after must be YYYY-MM-DD");
            }
            q.append_pair("DateSent>", date);
        }
        page_size(&mut q, self.page_size)?;
        Ok(q.finish())
    }
}

/// The `To` and `From` filters every list call takes.
fn list_query(
    to: Option<&str>,
    from: Option<&str>,
) -> form_urlencoded::Serializer<'static, String> {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(to) = to {
        q.append_pair("To", to);
    }
    if let Some(from) = from {
        q.append_pair("From", from);
    }
    q
}

/// `PageSize`, 1 to [`MAX_PAGE_SIZE`], when set.
fn page_size(
    q: &mut form_urlencoded::Serializer<'static, String>,
    size: Option<u32>,
) -> Result<(), &'static str> {
    if let Some(size) = size {
        if size == 0 || size > MAX_PAGE_SIZE {
            return Err("page_size must be between 1 and 1000");
        }
        q.append_pair("PageSize", &size.to_string());
    }
    Ok(())
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// A Message resource as Twilio returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// `sid`.
    pub sid: MessageSid,
    /// `status` (for a new message `queued`, or `accepted`/`scheduled` with a Messaging Service).
    pub status: Option<MessageStatus>,
    /// `to` (for a created message: the requested `To` when Twilio's is blank).
    pub to: String,
    /// `from`.
    pub from: Option<String>,
    /// `body`.
    pub body: Option<String>,
    /// `num_segments` (Twilio sends a string; 0 at first with a Messaging Service).
    pub num_segments: Option<u32>,
    /// `num_media`.
    pub num_media: Option<u32>,
    /// `error_code` (Twilio advises not to branch on it).
    pub error_code: Option<u32>,
    /// `error_message`.
    pub error_message: Option<String>,
    /// `direction` (`inbound`, `outbound-api`, …).
    pub direction: Option<String>,
    /// `account_sid`.
    pub account_sid: Option<AccountSid>,
    /// `messaging_service_sid`.
    pub messaging_service_sid: Option<MessagingServiceSid>,
    /// `date_created` (RFC 2822, as sent).
    pub date_created: Option<String>,
    /// `date_sent` (RFC 2822, as sent).
    pub date_sent: Option<String>,
    /// `date_updated` (RFC 2822, as sent).
    pub date_updated: Option<String>,
    /// `price` (a decimal string, negative for charges).
    pub price: Option<String>,
    /// `price_unit` (ISO 4217).
    pub price_unit: Option<String>,
}

/// The Account resource, without its `auth_token` field (never read, never kept).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Account {
    /// `sid`.
    pub sid: AccountSid,
    /// `friendly_name`.
    pub friendly_name: Option<String>,
    /// `status`: `active`, `suspended` or `closed`.
    pub status: Option<String>,
    /// `type`: `Trial` (expect 21608 for unverified recipients) or `Full`.
    pub kind: Option<String>,
    /// `owner_account_sid`.
    pub owner_account_sid: Option<AccountSid>,
}

impl Account {
    /// Whether Twilio reports a trial account.
    #[must_use]
    pub fn is_trial(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("trial"))
    }
}

/// What a phone number can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// SMS.
    #[serde(default, alias = "SMS")]
    pub sms: bool,
    /// MMS.
    #[serde(default, alias = "MMS")]
    pub mms: bool,
    /// Voice.
    #[serde(default)]
    pub voice: bool,
    /// Fax.
    #[serde(default)]
    pub fax: bool,
}

/// An Incoming Phone Number resource (the fields the SMS channel checks).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncomingPhoneNumber {
    /// `sid`.
    pub sid: PhoneNumberSid,
    /// `phone_number` (E.164).
    pub phone_number: String,
    /// `friendly_name`.
    pub friendly_name: Option<String>,
    /// `capabilities`.
    pub capabilities: Capabilities,
    /// `sms_url`: compare with the configured public webhook URL.
    pub sms_url: Option<String>,
    /// `sms_method` (`GET` or `POST`).
    pub sms_method: Option<String>,
    /// `sms_fallback_url`.
    pub sms_fallback_url: Option<String>,
    /// `sms_application_sid` (when set, the application's URL wins).
    pub sms_application_sid: Option<String>,
    /// `status_callback`.
    pub status_callback: Option<String>,
}

/// A Messaging Service resource (the fields the SMS channel checks).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessagingService {
    /// `sid`.
    pub sid: MessagingServiceSid,
    /// `friendly_name`.
    pub friendly_name: Option<String>,
    /// `inbound_request_url` (`None`: inbound disabled unless the number's own URL is used).
    pub inbound_request_url: Option<String>,
    /// `inbound_method`.
    pub inbound_method: Option<String>,
    /// `fallback_url`.
    pub fallback_url: Option<String>,
    /// `status_callback`.
    pub status_callback: Option<String>,
    /// `use_inbound_webhook_on_number`: the number's own `sms_url` wins.
    pub use_inbound_webhook_on_number: bool,
    /// `smart_encoding`.
    pub smart_encoding: bool,
    /// `validity_period` in seconds.
    pub validity_period: Option<u32>,
    /// `sticky_sender`.
    pub sticky_sender: Option<bool>,
    /// `us_app_to_person_registered`.
    pub us_app_to_person_registered: Option<bool>,
    /// `usecase`.
    pub usecase: Option<String>,
}

/// What a call does once answered: inline TwiML, or a URL that serves TwiML.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallTarget {
    /// `Twiml`: the document itself (e.g. [`crate::twiml::Response::to_xml`]).
    Twiml(String),
    /// `Url`: where Twilio fetches the TwiML (absolute `http`/`https`).
    Url(String),
}

impl CallTarget {
    fn append(
        &self,
        form: &mut form_urlencoded::Serializer<'_, String>,
    ) -> Result<(), &'static str> {
        match self {
            Self::Twiml(twiml) if twiml.trim().is_empty() => Err("Twiml must not be empty"),
            Self::Twiml(twiml) => {
                form.append_pair("Twiml", twiml);
                Ok(())
            }
            Self::Url(url) => {
                let url = url.trim();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err("Url must be an absolute http(s) URL");
                }
                form.append_pair("Url", url);
                Ok(())
            }
        }
    }
}

/// A call to place (`POST /2010-04-01/Accounts/{AccountSid}/Calls.json`).
///
/// Form fields are sent in this order: `To`, `From`, `Twiml` or `Url`, `StatusCallback`,
/// `StatusCallbackEvent` (each), `Timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreateCall {
    /// `To`: a phone number, `client:NAME` or a SIP URI.
    pub to: String,
    /// `From`: a Twilio number or verified caller id of the account.
    pub from: String,
    /// What the call does once answered.
    pub target: CallTarget,
    /// `StatusCallback`: where Twilio posts call progress.
    pub status_callback: Option<String>,
    /// `StatusCallbackEvent`: which progress events (`initiated`, `ringing`, `answered`,
    /// `completed`); Twilio's default is `completed` only.
    pub status_callback_events: Vec<String>,
    /// `Timeout`: seconds to let it ring (5 to 600).
    pub timeout: Option<u32>,
}

/// Longest ring time Twilio accepts for a created call, in seconds.
pub const MAX_CALL_TIMEOUT_SECS: u32 = 600;

impl CreateCall {
    /// A call from `from` to `to` that runs `target` once answered.
    #[must_use]
    pub fn new(to: impl Into<String>, from: impl Into<String>, target: CallTarget) -> Self {
        Self {
            to: to.into(),
            from: from.into(),
            target,
            status_callback: None,
            status_callback_events: Vec::new(),
            timeout: None,
        }
    }

    pub(crate) fn encode(&self) -> Result<String, &'static str> {
        let (to, from) = (self.to.trim(), self.from.trim());
        if to.is_empty() || from.is_empty() {
            return Err("a call needs a To and a From");
        }
        if self
            .timeout
            .is_some_and(|t| !(5..=MAX_CALL_TIMEOUT_SECS).contains(&t))
        {
            return Err("Timeout must be between 5 and 600 seconds");
        }
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", to);
        form.append_pair("From", from);
        self.target.append(&mut form)?;
        if let Some(cb) = self.status_callback.as_deref().filter(|c| !c.is_empty()) {
            form.append_pair("StatusCallback", cb);
        }
        for event in &self.status_callback_events {
            form.append_pair("StatusCallbackEvent", event);
        }
        if let Some(t) = self.timeout {
            form.append_pair("Timeout", &t.to_string());
        }
        Ok(form.finish())
    }
}

/// A change to a call in progress (`POST …/Calls/{CallSid}.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateCall {
    /// New instructions, run at once.
    pub target: Option<CallTarget>,
    /// `Status`: `completed` (hang up a call in progress) or `canceled` (one not yet answered).
    pub end: Option<CallStatus>,
}

impl UpdateCall {
    /// Redirects the call to new instructions.
    #[must_use]
    pub fn redirect(target: CallTarget) -> Self {
        Self {
            target: Some(target),
            end: None,
        }
    }

    /// Hangs the call up (`Status=completed`).
    #[must_use]
    pub fn hang_up() -> Self {
        Self {
            target: None,
            end: Some(CallStatus::Completed),
        }
    }

    pub(crate) fn encode(&self) -> Result<String, &'static str> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        match (&self.target, &self.end) {
            (Some(target), None) => target.append(&mut form)?,
            (None, Some(end @ (CallStatus::Completed | CallStatus::Canceled))) => {
                form.append_pair("Status", end.as_str());
            }
            (None, Some(_)) => return Err("a call can only be ended as completed or canceled"),
            (Some(_), Some(_)) => {
                return Err("update a call with new instructions or end it, not both");
            }
            (None, None) => return Err("an update needs new instructions or an end"),
        }
        Ok(form.finish())
    }
}

/// Filters for listing calls (first page only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListCalls {
    /// `To`: only calls to this address.
    pub to: Option<String>,
    /// `From`: only calls from this address.
    pub from: Option<String>,
    /// `Status`: only calls in this status.
    pub status: Option<CallStatus>,
    /// `PageSize`, 1 to [`MAX_PAGE_SIZE`].
    pub page_size: Option<u32>,
}

impl ListCalls {
    pub(crate) fn query(&self) -> Result<String, &'static str> {
        let mut q = list_query(self.to.as_deref(), self.from.as_deref());
        if let Some(status) = &self.status {
            q.append_pair("Status", status.as_str());
        }
        page_size(&mut q, self.page_size)?;
        Ok(q.finish())
    }
}

/// A Call resource as Twilio returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Call {
    /// `sid`.
    pub sid: CallSid,
    /// `status`.
    pub status: Option<CallStatus>,
    /// `to`.
    pub to: Option<String>,
    /// `from`.
    pub from: Option<String>,
    /// `direction` (`inbound`, `outbound-api`, `outbound-dial`).
    pub direction: Option<String>,
    /// `duration` in seconds, once the call is over.
    pub duration: Option<u32>,
    /// `parent_call_sid`.
    pub parent_call_sid: Option<CallSid>,
    /// `account_sid`.
    pub account_sid: Option<AccountSid>,
    /// `start_time` (RFC 2822, as sent).
    pub start_time: Option<String>,
    /// `end_time` (RFC 2822, as sent).
    pub end_time: Option<String>,
    /// `price` (a decimal string, negative for charges).
    pub price: Option<String>,
    /// `price_unit` (ISO 4217).
    pub price_unit: Option<String>,
}

impl Call {
    pub(crate) fn from_json(v: &Value) -> Result<Self, DecodeError> {
        Ok(Self {
            sid: required_sid(v, CallSid::parse)?,
            status: str_field(v, "status").map(|s| CallStatus::parse(&s)),
            to: str_field(v, "to"),
            from: str_field(v, "from"),
            direction: str_field(v, "direction"),
            duration: u32_field(v, "duration"),
            parent_call_sid: sid_field(v, "parent_call_sid", CallSid::parse),
            account_sid: sid_field(v, "account_sid", AccountSid::parse),
            start_time: str_field(v, "start_time"),
            end_time: str_field(v, "end_time"),
            price: str_field(v, "price"),
            price_unit: str_field(v, "price_unit"),
        })
    }
}

// ---- decoding from JSON values (lenient about types, strict about SIDs) ----

pub(crate) fn str_field(v: &Value, name: &str) -> Option<String> {
    match v.get(name)? {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn raw_str_field(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn u32_field(v: &Value, name: &str) -> Option<u32> {
    match v.get(name)? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bool_field(v: &Value, name: &str) -> Option<bool> {
    match v.get(name)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn sid_field<T>(
    v: &Value,
    name: &str,
    parse: fn(&str) -> Result<T, crate::sid::ParseSidError>,
) -> Option<T> {
    str_field(v, name).and_then(|s| parse(&s).ok())
}

/// Why a 2xx body was not usable.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DecodeError {
    MissingSid,
    Malformed(&'static str),
}

fn required_sid<T>(
    v: &Value,
    parse: fn(&str) -> Result<T, crate::sid::ParseSidError>,
) -> Result<T, DecodeError> {
    let sid = str_field(v, "sid").ok_or(DecodeError::MissingSid)?;
    parse(&sid).map_err(|_| DecodeError::Malformed("the sid is not a SID of the expected kind"))
}

impl Message {
    pub(crate) fn from_json(v: &Value, requested_to: Option<&str>) -> Result<Self, DecodeError> {
        Ok(Self {
            sid: required_sid(v, MessageSid::parse)?,
            status: str_field(v, "status").map(|s| MessageStatus::parse(&s)),
            to: str_field(v, "to")
                .or_else(|| requested_to.map(str::to_owned))
                .unwrap_or_default(),
            from: str_field(v, "from"),
            body: raw_str_field(v, "body"),
            num_segments: u32_field(v, "num_segments"),
            num_media: u32_field(v, "num_media"),
            error_code: u32_field(v, "error_code"),
            error_message: str_field(v, "error_message"),
            direction: str_field(v, "direction"),
            account_sid: sid_field(v, "account_sid", AccountSid::parse),
            messaging_service_sid: sid_field(
                v,
                "messaging_service_sid",
                MessagingServiceSid::parse,
            ),
            date_created: str_field(v, "date_created"),
            date_sent: str_field(v, "date_sent"),
            date_updated: str_field(v, "date_updated"),
            price: str_field(v, "price"),
            price_unit: str_field(v, "price_unit"),
        })
    }
}

impl Account {
    pub(crate) fn from_json(v: &Value) -> Result<Self, DecodeError> {
        // `auth_token` is deliberately never read.
        Ok(Self {
            sid: required_sid(v, AccountSid::parse)?,
            friendly_name: str_field(v, "friendly_name"),
            status: str_field(v, "status"),
            kind: str_field(v, "type"),
            owner_account_sid: sid_field(v, "owner_account_sid", AccountSid::parse),
        })
    }
}

impl IncomingPhoneNumber {
    pub(crate) fn from_json(v: &Value) -> Result<Self, DecodeError> {
        Ok(Self {
            sid: required_sid(v, PhoneNumberSid::parse)?,
            phone_number: str_field(v, "phone_number")
                .ok_or(DecodeError::Malformed("a phone number has no phone_number"))?,
            friendly_name: str_field(v, "friendly_name"),
            capabilities: v
                .get("capabilities")
                .and_then(|c| Capabilities::deserialize(c).ok())
                .unwrap_or_default(),
            sms_url: str_field(v, "sms_url"),
            sms_method: str_field(v, "sms_method"),
            sms_fallback_url: str_field(v, "sms_fallback_url"),
            sms_application_sid: str_field(v, "sms_application_sid"),
            status_callback: str_field(v, "status_callback"),
        })
    }
}

impl MessagingService {
    pub(crate) fn from_json(v: &Value) -> Result<Self, DecodeError> {
        Ok(Self {
            sid: required_sid(v, MessagingServiceSid::parse)?,
            friendly_name: str_field(v, "friendly_name"),
            inbound_request_url: str_field(v, "inbound_request_url"),
            inbound_method: str_field(v, "inbound_method"),
            fallback_url: str_field(v, "fallback_url"),
            status_callback: str_field(v, "status_callback"),
            use_inbound_webhook_on_number: bool_field(v, "use_inbound_webhook_on_number")
                .unwrap_or(false),
            smart_encoding: bool_field(v, "smart_encoding").unwrap_or(false),
            validity_period: u32_field(v, "validity_period"),
            sticky_sender: bool_field(v, "sticky_sender"),
            us_app_to_person_registered: bool_field(v, "us_app_to_person_registered"),
            usecase: str_field(v, "usecase"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MG: &str = "MG0123456789abcdef0123456789abcdef";

    fn check(msg: &CreateMessage, expected: Result<&str, &str>) {
        assert_eq!(msg.encode().as_deref().map_err(|e| *e), expected, "{msg:?}");
    }

    fn from(body: &str) -> CreateMessage {
        CreateMessage::new(
            "+15550001111",
            Sender::From("+15550002222".to_owned()),
            body,
        )
    }

    #[test]
    fn create_message_encoding_table() {
        check(
            &from("hi"),
            Ok("To=%2B15550001111&Body=hi&From=%2B15550002222"),
        );
        check(
            &from(" a+b & ✓ "),
            Ok("To=%2B15550001111&Body=+a%2Bb+%26+%E2%9C%93+&From=%2B15550002222"),
        );
        let mut m = from("cap");
        m.media_urls = vec![
            " https://x/1 ".into(),
            "".into(),
            "https://x/2?a=b&c".into(),
        ];
        m.status_callback = Some("https://cb/sms#rc=1".into());
        m.smart_encoded = Some(true);
        m.validity_period = Some(600);
        check(
            &m,
            Ok(
                "To=%2B15550001111&Body=cap&MediaUrl=https%3A%2F%2Fx%2F1&MediaUrl=https%3A%2F%2Fx%2F2%3Fa%3Db%26c&From=%2B15550002222&StatusCallback=https%3A%2F%2Fcb%2Fsms%23rc%3D1&SmartEncoded=true&ValidityPeriod=600",
            ),
        );
        let mut m = from("");
        m.media_urls = vec!["https://x/1".into()];
        m.sender = Sender::MessagingService(MessagingServiceSid::parse(MG).unwrap());
        check(
            &m,
            Ok(&format!(
                "To=%2B15550001111&MediaUrl=https%3A%2F%2Fx%2F1&MessagingServiceSid={MG}"
            )),
        );
        check(&from(""), Err("a message needs text or media"));
        check(
            &from(&"a".repeat(1600)),
            Ok(&format!(
                "To=%2B15550001111&Body={}&From=%2B15550002222",
                "a".repeat(1600)
            )),
        );
        check(
            &from(&"a".repeat(1601)),
            Err("Body supports at most 1600 characters"),
        );
        check(
            &from(&"😀".repeat(801)),
            Err("Body supports at most 1600 characters"),
        );
        let mut m = from("x");
        m.media_urls = (0..11).map(|i| format!("https://x/{i}")).collect();
        check(&m, Err("a message supports at most 10 media URLs"));
        let mut m = from("x");
        m.validity_period = Some(0);
        check(
            &m,
            Err("ValidityPeriod must be between 1 and 36000 seconds"),
        );
        m.validity_period = Some(36_001);
        check(
            &m,
            Err("ValidityPeriod must be between 1 and 36000 seconds"),
        );
        let mut m = from("x");
        m.to = " ".into();
        check(&m, Err("a message needs a To address"));
        let mut m = from("x");
        m.sender = Sender::From(String::new());
        check(
            &m,
            Err("a message needs a From address or a Messaging Service"),
        );
    }

    #[test]
    fn list_query_table() {
        fn check(q: &ListMessages, expected: Result<&str, &str>) {
            assert_eq!(q.query().as_deref().map_err(|e| *e), expected, "{q:?}");
        }
        check(&ListMessages::default(), Ok(""));
        let q = ListMessages {
            to: Some("+1555".into()),
            from: Some("+1666".into()),
            date_sent_after: Some("2026-11-25".into()),
            page_size: Some(20),
        };
        check(
            &q,
            Ok("To=%2B1555&From=%2B1666&DateSent%3E=2026-11-25&PageSize=20"),
        );
        let bad_date = ListMessages {
            date_sent_after: Some("25/11/2026".into()),
            ..Default::default()
        };
        check(&bad_date, Err("date_sent_after must be YYYY-MM-DD"));
        let big = ListMessages {
            page_size: Some(1001),
            ..Default::default()
        };
        check(&big, Err("page_size must be between 1 and 1000"));
    }
}
