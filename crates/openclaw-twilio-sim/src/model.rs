//! The public records the simulator keeps: messages, what phones received, callbacks, opt-outs.

use std::time::SystemTime;

/// A message's status, as Twilio names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageStatus {
    /// Accepted by a Messaging Service, no sender chosen yet.
    Accepted,
    /// Queued to be sent.
    Queued,
    /// Handed to the carrier.
    Sent,
    /// Confirmed on the handset.
    Delivered,
    /// The carrier could not deliver it.
    Undelivered,
    /// It could not be sent.
    Failed,
    /// An inbound message.
    Received,
}

impl MessageStatus {
    /// The lowercase status word Twilio uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Received => "received",
        }
    }

    /// Parses the status word.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        [
            Self::Accepted,
            Self::Queued,
            Self::Sent,
            Self::Delivered,
            Self::Undelivered,
            Self::Failed,
            Self::Received,
        ]
        .into_iter()
        .find(|s| s.as_str() == word)
    }
}

/// A message's direction, as Twilio names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Direction {
    /// A phone texted a Twilio number.
    Inbound,
    /// Created through the Messages API.
    OutboundApi,
    /// A reply Twilio sent itself (keyword replies, TwiML `<Message>`).
    OutboundReply,
}

impl Direction {
    /// `inbound`, `outbound-api` or `outbound-reply`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::OutboundApi => "outbound-api",
            Self::OutboundReply => "outbound-reply",
        }
    }
}

/// One message the simulator knows, inbound or outbound.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SimMessage {
    /// `SM` + 32 hex.
    pub sid: String,
    /// The owning account.
    pub account_sid: String,
    /// The sender (for a Messaging Service send, the pool number chosen).
    pub from: String,
    /// The recipient.
    pub to: String,
    /// The text.
    pub body: String,
    /// `MediaUrl` values, in order.
    pub media_urls: Vec<String>,
    /// The Messaging Service involved, if any.
    pub messaging_service_sid: Option<String>,
    /// Direction.
    pub direction: Direction,
    /// Current status.
    pub status: MessageStatus,
    /// Twilio error code on failure (or 11200 on an inbound message whose webhook failed).
    pub error_code: Option<u32>,
    /// Segments, as Twilio bills them.
    pub num_segments: u32,
    /// The status callback URL in effect.
    pub status_callback: Option<String>,
    /// Creation time.
    pub date_created: SystemTime,
    /// Time it left for the carrier (or was received).
    pub date_sent: Option<SystemTime>,
    /// Last change.
    pub date_updated: SystemTime,
}

/// A message a simulated phone received.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedSms {
    /// The message SID.
    pub sid: String,
    /// The Twilio number that sent it.
    pub from: String,
    /// The phone.
    pub to: String,
    /// The text.
    pub body: String,
    /// Media URLs, in order.
    pub media_urls: Vec<String>,
}

/// How messages to a phone end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Queued, sent, delivered; the phone receives it (the default).
    #[default]
    Delivered,
    /// Queued, sent, undelivered with this error code (e.g. 30003); the phone gets nothing.
    Undelivered {
        /// Twilio error code reported in `ErrorCode`.
        error_code: u32,
    },
    /// Queued, failed with this error code (e.g. 30008); the phone gets nothing.
    Failed {
        /// Twilio error code reported in `ErrorCode`.
        error_code: u32,
    },
}

/// One status callback the simulator POSTed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusCallbackRecord {
    /// The message.
    pub message_sid: String,
    /// The status reported.
    pub status: MessageStatus,
    /// Where it was sent (without any `#` fragment).
    pub url: String,
    /// The HTTP status of the answer, if there was one.
    pub response_status: Option<u16>,
    /// Why there was no answer, if there was none.
    pub error: Option<String>,
}

/// A (phone, sender) pair blocked by an opt-out keyword.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct OptOut {
    /// The phone that texted STOP.
    pub phone: String,
    /// The blocked sender: the Messaging Service SID when the number is in one, else the number.
    pub sender: String,
}

/// What a webhook answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookResult {
    /// The `MessageSid` that was sent.
    pub message_sid: String,
    /// HTTP status.
    pub status: u16,
    /// Response body (TwiML, usually).
    pub body: String,
    /// Response headers (lowercase names), in order.
    pub headers: Vec<(String, String)>,
}

impl WebhookResult {
    /// The first header with this (case-insensitive) name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
