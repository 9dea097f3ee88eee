//! Typed Twilio Messaging webhooks: inbound messages and delivery-status callbacks. Pure.
//!
//! Verify the signature over the raw [`Form`] first ([`crate::signature`]); only then read
//! the typed fields. Parsing keeps values as Twilio sent them (the body untrimmed) and keeps
//! every field this module does not model in `extra`, because Twilio adds parameters without
//! notice.
//!
//! ```
//! use openclaw_twilio::form::Form;
//! use openclaw_twilio::webhook::{InboundMessage, WebhookKind};
//!
//! let form = Form::parse(
//!     b"MessageSid=SM0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef\
//!       &From=%2B14155550100&To=%2B14155550199&Body=Hello+there&NumMedia=0",
//! )?;
//! assert_eq!(WebhookKind::of(&form), WebhookKind::InboundMessage);
//! let message = InboundMessage::from_form(&form)?;
//! assert_eq!(message.body, "Hello there");
//! # Ok::<(), openclaw_twilio::form::ParseFormError>(())
//! ```

use std::fmt;

use crate::form::{Form, ParseFormError};
use crate::sid::{AccountSid, MessageSid, MessagingServiceSid};

/// The empty TwiML answer: acknowledge a webhook without replying through TwiML.
pub const EMPTY_TWIML: &str = "<Response></Response>";

/// The content type to send with [`EMPTY_TWIML`] (Twilio requires an XML type).
pub const TWIML_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// Most media items taken from one inbound message (Twilio's MMS limit); further declared
/// media are counted in [`InboundMessage::unavailable_media`].
pub const MAX_INBOUND_MEDIA: usize = 10;

/// What a webhook form is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WebhookKind {
    /// A message sent to one of our numbers ([`InboundMessage`]).
    InboundMessage,
    /// A delivery-status callback for a message we sent ([`StatusCallback`]).
    StatusCallback,
    /// A call to one of our numbers: Twilio asks what to do ([`crate::voice::IncomingCall`]).
    IncomingCall,
    /// A call-progress callback ([`crate::voice::CallStatusCallback`]).
    CallStatus,
    /// The result of a `<Gather>`: digits or speech ([`crate::voice::GatherResult`]).
    Gather,
}

impl WebhookKind {
    /// Classifies a form.
    ///
    /// A form with a `CallSid` and no message SID is a voice webhook: a gather result when it
    /// carries `Digits` or `SpeechResult`, a call-status callback when it carries
    /// `CallbackSource` or a final `CallStatus`, and otherwise an incoming call. Messaging forms
    /// are classified the way upstream does: `MessageStatus` (else `SmsStatus`), trimmed and
    /// lower-cased; non-empty and not `receiving`/`received` means a status callback.
    #[must_use]
    pub fn of(form: &Form) -> Self {
        if let Some(kind) = crate::voice::voice_kind(form) {
            return kind;
        }
        match status_field(form) {
            Some(status) if !is_inbound_status(&status) => Self::StatusCallback,
            _ => Self::InboundMessage,
        }
    }

    /// Whether this is one of the voice kinds.
    #[must_use]
    pub fn is_voice(self) -> bool {
        matches!(self, Self::IncomingCall | Self::CallStatus | Self::Gather)
    }
}

/// Whether the form names a message (`MessageSid`, `SmsSid` or `SmsMessageSid`, non-blank).
pub(crate) fn has_message_sid(form: &Form) -> bool {
    message_sid_field(form).is_some()
}

/// The message SID a form names, as sent (trimmed) and before any syntax check, with the field
/// it came from: `MessageSid`, else `SmsSid`, else `SmsMessageSid` (upstream's order). For a
/// caller that keys on the SID before parsing the whole form (a durable queue's event id).
///
/// ```
/// use openclaw_twilio::form::Form;
/// use openclaw_twilio::webhook::message_sid_field;
///
/// let form = Form::parse(b"SmsSid=SM1&SmsMessageSid=SM2")?;
/// assert_eq!(message_sid_field(&form), Some(("SmsSid", "SM1")));
/// # Ok::<(), openclaw_twilio::form::ParseFormError>(())
/// ```
#[must_use]
pub fn message_sid_field(form: &Form) -> Option<(&'static str, &str)> {
    ["MessageSid", "SmsSid", "SmsMessageSid"]
        .into_iter()
        .find_map(|name| non_blank(form, name).map(|v| (name, v)))
}

fn status_field(form: &Form) -> Option<String> {
    ["MessageStatus", "SmsStatus"]
        .into_iter()
        .filter_map(|name| form.get(name))
        .map(|v| v.trim().to_ascii_lowercase())
        .find(|v| !v.is_empty())
}

fn is_inbound_status(status: &str) -> bool {
    status == "received" || status == "receiving"
}

/// One media item of an inbound MMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `MediaUrl{N}`, trimmed. Fetching it may need Basic auth and follows a redirect to a CDN.
    pub url: String,
    /// `MediaContentType{N}`, trimmed; `None` when absent or blank.
    pub content_type: Option<String>,
}

/// The `OptOutType` Twilio adds with Advanced Opt-Out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptOutType {
    /// An opt-out keyword (STOP and its synonyms).
    Stop,
    /// An opt-in keyword (START, UNSTOP, YES).
    Start,
    /// A help keyword (HELP, INFO).
    Help,
    /// A value this crate does not know, as sent.
    Other(String),
}

impl OptOutType {
    fn parse(value: &str) -> Self {
        match value.trim().to_ascii_uppercase().as_str() {
            "STOP" => Self::Stop,
            "START" => Self::Start,
            "HELP" => Self::Help,
            _ => Self::Other(value.to_owned()),
        }
    }
}

/// An inbound SMS/MMS webhook.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundMessage {
    /// `MessageSid`, else `SmsSid`, else `SmsMessageSid` (trimmed).
    pub message_sid: MessageSid,
    /// `AccountSid`; compare it with the configured account before trusting media.
    pub account_sid: AccountSid,
    /// `MessagingServiceSid`, when the number belongs to a Messaging Service.
    pub messaging_service_sid: Option<MessagingServiceSid>,
    /// `From`, trimmed (E.164 or a channel address such as `rcs:+1…`; not validated here).
    pub from: String,
    /// `To`, trimmed.
    pub to: String,
    /// `Body`, untrimmed; empty when absent.
    pub body: String,
    /// `NumMedia` as declared (blank or absent: 0).
    pub num_media: u32,
    /// The media with a URL, at most [`MAX_INBOUND_MEDIA`].
    pub media: Vec<Media>,
    /// Declared media not in [`InboundMessage::media`]: beyond the limit or with a blank URL.
    pub unavailable_media: u32,
    /// `NumSegments`, when present and a number.
    pub num_segments: Option<u32>,
    /// `OptOutType`, when present and not blank.
    pub opt_out_type: Option<OptOutType>,
    /// Every other pair, in arrival order.
    pub extra: Vec<(String, String)>,
}

impl fmt::Debug for InboundMessage {
    /// Phone numbers and the body are personal data: `Debug` shows their lengths only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundMessage")
            .field("message_sid", &self.message_sid)
            .field("account_sid", &self.account_sid)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("from", &format_args!("<{} bytes>", self.from.len()))
            .field("to", &format_args!("<{} bytes>", self.to.len()))
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("num_media", &self.num_media)
            .field("media", &self.media.len())
            .field("unavailable_media", &self.unavailable_media)
            .field("num_segments", &self.num_segments)
            .field("opt_out_type", &self.opt_out_type)
            .field(
                "extra",
                &self.extra.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

pub(crate) fn non_blank<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.get(name).map(str::trim).filter(|v| !v.is_empty())
}

pub(crate) fn required<'a>(form: &'a Form, name: &'static str) -> Result<&'a str, ParseFormError> {
    non_blank(form, name).ok_or(ParseFormError::MissingField { name })
}

fn message_sid(form: &Form) -> Result<MessageSid, ParseFormError> {
    let (name, value) =
        message_sid_field(form).ok_or(ParseFormError::MissingField { name: "MessageSid" })?;
    MessageSid::parse(value).map_err(|e| ParseFormError::InvalidField {
        name,
        reason: e.to_string(),
    })
}

pub(crate) fn account_sid(form: &Form) -> Result<AccountSid, ParseFormError> {
    AccountSid::parse(required(form, "AccountSid")?).map_err(|e| ParseFormError::InvalidField {
        name: "AccountSid",
        reason: e.to_string(),
    })
}

fn messaging_service_sid(form: &Form) -> Result<Option<MessagingServiceSid>, ParseFormError> {
    non_blank(form, "MessagingServiceSid")
        .map(|v| {
            MessagingServiceSid::parse(v).map_err(|e| ParseFormError::InvalidField {
                name: "MessagingServiceSid",
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// Whether `name` is `prefix` followed by ASCII digits.
fn is_indexed(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

const INBOUND_FIELDS: &[&str] = &[
    "MessageSid",
    "SmsSid",
    "SmsMessageSid",
    "AccountSid",
    "MessagingServiceSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "NumSegments",
    "OptOutType",
];

impl InboundMessage {
    /// Reads an inbound message from a (verified) webhook form.
    ///
    /// Upstream's rules: `From`, `To` and a message SID are required; the message needs a
    /// non-empty `Body` or `NumMedia > 0`; `NumMedia` blank means 0 and must otherwise be a
    /// non-negative integer; at most [`MAX_INBOUND_MEDIA`] media are taken, and declared media
    /// beyond that or with a blank URL are counted as unavailable.
    ///
    /// # Errors
    /// [`ParseFormError::MissingField`], [`ParseFormError::InvalidField`] (SIDs, `NumMedia`),
    /// [`ParseFormError::EmptyMessage`].
    pub fn from_form(form: &Form) -> Result<Self, ParseFormError> {
        let message_sid = message_sid(form)?;
        let account_sid = account_sid(form)?;
        let messaging_service_sid = messaging_service_sid(form)?;
        let from = required(form, "From")?.to_owned();
        let to = required(form, "To")?.to_owned();
        let body = form.get("Body").unwrap_or_default().to_owned();
        let num_media = match non_blank(form, "NumMedia") {
            None => 0,
            Some(v) => v.parse::<u32>().map_err(|_| ParseFormError::InvalidField {
                name: "NumMedia",
                reason: "expected a non-negative integer".to_owned(),
            })?,
        };
        if body.is_empty() && num_media == 0 {
            return Err(ParseFormError::EmptyMessage);
        }
        let mut media = Vec::new();
        let mut unavailable_media = 0u32;
        // `num_media` may be huge; only the first MAX_INBOUND_MEDIA indices are looked at.
        let taken = num_media.min(u32::try_from(MAX_INBOUND_MEDIA).unwrap_or(u32::MAX));
        for i in 0..taken {
            match non_blank(form, &format!("MediaUrl{i}")) {
                Some(url) => media.push(Media {
                    url: url.to_owned(),
                    content_type: non_blank(form, &format!("MediaContentType{i}"))
                        .map(str::to_owned),
                }),
                None => unavailable_media += 1,
            }
        }
        unavailable_media += num_media - taken;
        let num_segments = non_blank(form, "NumSegments").and_then(|v| v.parse().ok());
        let opt_out_type = non_blank(form, "OptOutType").map(OptOutType::parse);
        let extra = form
            .iter()
            .filter(|(k, _)| {
                !INBOUND_FIELDS.contains(k)
                    && !is_indexed(k, "MediaUrl")
                    && !is_indexed(k, "MediaContentType")
            })
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Self {
            message_sid,
            account_sid,
            messaging_service_sid,
            from,
            to,
            body,
            num_media,
            media,
            unavailable_media,
            num_segments,
            opt_out_type,
            extra,
        })
    }
}

/// A message status as Twilio reports it (Messages API `status`, `MessageStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageStatus {
    /// `queued`
    Queued,
    /// `sending`
    Sending,
    /// `sent`
    Sent,
    /// `failed` (terminal)
    Failed,
    /// `delivered` (terminal)
    Delivered,
    /// `undelivered` (terminal)
    Undelivered,
    /// `receiving` (inbound)
    Receiving,
    /// `received` (inbound)
    Received,
    /// `accepted` (Messaging Service, before queueing)
    Accepted,
    /// `scheduled`
    Scheduled,
    /// `read`
    Read,
    /// `partially_delivered`
    PartiallyDelivered,
    /// `canceled` (terminal)
    Canceled,
    /// A status this crate does not know (trimmed, lower-cased).
    Other(String),
}

impl MessageStatus {
    /// Parses a status, trimmed and case-insensitively.
    #[must_use]
    pub fn parse(value: &str) -> Self {
        let v = value.trim().to_ascii_lowercase();
        match v.as_str() {
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "delivered" => Self::Delivered,
            "undelivered" => Self::Undelivered,
            "receiving" => Self::Receiving,
            "received" => Self::Received,
            "accepted" => Self::Accepted,
            "scheduled" => Self::Scheduled,
            "read" => Self::Read,
            "partially_delivered" => Self::PartiallyDelivered,
            "canceled" => Self::Canceled,
            _ => Self::Other(v),
        }
    }

    /// The status as Twilio spells it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Receiving => "receiving",
            Self::Received => "received",
            Self::Accepted => "accepted",
            Self::Scheduled => "scheduled",
            Self::Read => "read",
            Self::PartiallyDelivered => "partially_delivered",
            Self::Canceled => "canceled",
            Self::Other(s) => s,
        }
    }

    /// Whether no further delivery status will follow (`delivered`, `undelivered`, `failed`,
    /// `canceled`).
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::Canceled
        )
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const STATUS_FIELDS: &[&str] = &[
    "MessageSid",
    "SmsSid",
    "AccountSid",
    "MessagingServiceSid",
    "MessageStatus",
    "SmsStatus",
    "ErrorCode",
    "From",
    "To",
    "RawDlrDoneDate",
];

/// A delivery-status callback for a message we sent.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusCallback {
    /// `MessageSid`, else `SmsSid`.
    pub message_sid: MessageSid,
    /// `AccountSid`, if present (upstream ignores callbacks whose account does not match).
    pub account_sid: Option<AccountSid>,
    /// `MessagingServiceSid`, if present.
    pub messaging_service_sid: Option<MessagingServiceSid>,
    /// `MessageStatus`, else `SmsStatus`, normalised.
    pub status: MessageStatus,
    /// `ErrorCode` on `failed`/`undelivered`, when a number.
    pub error_code: Option<u32>,
    /// `RawDlrDoneDate` (`YYMMDDhhmm`, no time zone), when present.
    pub raw_dlr_done_date: Option<String>,
    /// `From`, trimmed, if present.
    pub from: Option<String>,
    /// `To`, trimmed, if present.
    pub to: Option<String>,
    /// Every other pair, in arrival order.
    pub extra: Vec<(String, String)>,
}

impl fmt::Debug for StatusCallback {
    /// Phone numbers are personal data: `Debug` shows whether they are present only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusCallback")
            .field("message_sid", &self.message_sid)
            .field("account_sid", &self.account_sid)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("status", &self.status)
            .field("error_code", &self.error_code)
            .field("raw_dlr_done_date", &self.raw_dlr_done_date)
            .field("from", &self.from.as_ref().map(|_| "<redacted>"))
            .field("to", &self.to.as_ref().map(|_| "<redacted>"))
            .field(
                "extra",
                &self.extra.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl StatusCallback {
    /// Reads a delivery-status callback from a (verified) webhook form.
    ///
    /// # Errors
    /// [`ParseFormError::MissingField`] without a message SID or status;
    /// [`ParseFormError::InvalidField`] for a malformed SID or an inbound status
    /// (`received`/`receiving` forms are inbound messages, see [`WebhookKind::of`]).
    pub fn from_form(form: &Form) -> Result<Self, ParseFormError> {
        let message_sid = message_sid(form)?;
        let status = status_field(form).ok_or(ParseFormError::MissingField {
            name: "MessageStatus",
        })?;
        if is_inbound_status(&status) {
            return Err(ParseFormError::InvalidField {
                name: "MessageStatus",
                reason: "an inbound status is not a delivery-status callback".to_owned(),
            });
        }
        let account_sid = non_blank(form, "AccountSid")
            .map(|v| {
                AccountSid::parse(v).map_err(|e| ParseFormError::InvalidField {
                    name: "AccountSid",
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        let extra = form
            .iter()
            .filter(|(k, _)| !STATUS_FIELDS.contains(k))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Self {
            message_sid,
            account_sid,
            messaging_service_sid: messaging_service_sid(form)?,
            status: MessageStatus::parse(&status),
            error_code: non_blank(form, "ErrorCode").and_then(|v| v.parse().ok()),
            raw_dlr_done_date: non_blank(form, "RawDlrDoneDate").map(str::to_owned),
            from: non_blank(form, "From").map(str::to_owned),
            to: non_blank(form, "To").map(str::to_owned),
            extra,
        })
    }
}
