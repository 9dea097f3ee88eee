//! Typed Twilio Voice webhooks: an incoming call, a call-progress callback, a `<Gather>`
//! result. Pure.
//!
//! As for messaging ([`crate::webhook`]): verify the signature over the raw [`Form`] first,
//! then classify it with [`WebhookKind::of`] and read the typed fields. Values are kept as
//! Twilio sent them (trimmed where noted); every field a type does not model stays in `extra`.
//! Caller ids are not parsed here: `From` may be an E.164 number, `client:NAME`, `sip:…` or
//! `anonymous`; parsing them is the channel's (`openclaw_sms_target::CallerId` does it).
//!
//! ```
//! use openclaw_twilio::form::Form;
//! use openclaw_twilio::voice::GatherResult;
//! use openclaw_twilio::webhook::WebhookKind;
//!
//! let form = Form::parse(
//!     b"CallSid=CA0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef\
//!       &From=%2B14155550100&To=%2B14155550199&CallStatus=in-progress\
//!       &SpeechResult=What+is+the+weather&Confidence=0.92",
//! )?;
//! assert_eq!(WebhookKind::of(&form), WebhookKind::Gather);
//! let gather = GatherResult::from_form(&form)?;
//! assert_eq!(gather.speech_result.as_deref(), Some("What is the weather"));
//! # Ok::<(), openclaw_twilio::form::ParseFormError>(())
//! ```

use std::fmt;

use crate::form::{Form, ParseFormError};
use crate::sid::{AccountSid, CallSid};
use crate::webhook::{WebhookKind, account_sid, has_message_sid, non_blank, required};

/// The classification of voice forms, for [`WebhookKind::of`]: `None` for a messaging form.
pub(crate) fn voice_kind(form: &Form) -> Option<WebhookKind> {
    if non_blank(form, "CallSid").is_none() || has_message_sid(form) {
        return None;
    }
    if form.get("Digits").is_some() || form.get("SpeechResult").is_some() {
        return Some(WebhookKind::Gather);
    }
    let is_final = non_blank(form, "CallStatus").is_some_and(|s| CallStatus::parse(s).is_final());
    if non_blank(form, "CallbackSource").is_some() || is_final {
        return Some(WebhookKind::CallStatus);
    }
    Some(WebhookKind::IncomingCall)
}

/// A call status as Twilio reports it (`CallStatus`, the Calls API `status`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallStatus {
    /// `queued`
    Queued,
    /// `initiated`
    Initiated,
    /// `ringing`
    Ringing,
    /// `in-progress` (answered)
    InProgress,
    /// `completed` (final)
    Completed,
    /// `busy` (final)
    Busy,
    /// `failed` (final)
    Failed,
    /// `no-answer` (final)
    NoAnswer,
    /// `canceled` (final)
    Canceled,
    /// A status this crate does not know (trimmed, lower-cased).
    Other(String),
}

impl CallStatus {
    /// Parses a status, trimmed and case-insensitively.
    #[must_use]
    pub fn parse(value: &str) -> Self {
        let v = value.trim().to_ascii_lowercase();
        match v.as_str() {
            "queued" => Self::Queued,
            "initiated" => Self::Initiated,
            "ringing" => Self::Ringing,
            "in-progress" => Self::InProgress,
            "completed" => Self::Completed,
            "busy" => Self::Busy,
            "failed" => Self::Failed,
            "no-answer" => Self::NoAnswer,
            "canceled" => Self::Canceled,
            _ => Self::Other(v),
        }
    }

    /// The status as Twilio spells it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::NoAnswer => "no-answer",
            Self::Canceled => "canceled",
            Self::Other(s) => s,
        }
    }

    /// Whether the call is over (`completed`, `busy`, `failed`, `no-answer`, `canceled`).
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled
        )
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn call_sid(form: &Form) -> Result<CallSid, ParseFormError> {
    CallSid::parse(required(form, "CallSid")?).map_err(|e| ParseFormError::InvalidField {
        name: "CallSid",
        reason: e.to_string(),
    })
}

fn call_status(form: &Form) -> Result<CallStatus, ParseFormError> {
    required(form, "CallStatus").map(CallStatus::parse)
}

fn optional(form: &Form, name: &str) -> Option<String> {
    non_blank(form, name).map(str::to_owned)
}

fn number<T: std::str::FromStr>(
    form: &Form,
    name: &'static str,
) -> Result<Option<T>, ParseFormError> {
    non_blank(form, name)
        .map(|v| {
            v.parse::<T>().map_err(|_| ParseFormError::InvalidField {
                name,
                reason: "expected a number".to_owned(),
            })
        })
        .transpose()
}

fn extra(form: &Form, modelled: &[&str]) -> Vec<(String, String)> {
    form.iter()
        .filter(|(k, _)| !modelled.contains(k))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `<N> bytes` for personal data in `Debug` output.
struct Len<'a>(Option<&'a str>);

impl fmt::Debug for Len<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "<{} bytes>", v.len()),
            None => f.write_str("None"),
        }
    }
}

const INCOMING_FIELDS: &[&str] = &[
    "CallSid",
    "AccountSid",
    "From",
    "To",
    "CallStatus",
    "Direction",
    "CallerName",
    "ForwardedFrom",
    "ParentCallSid",
];

/// A call to one of our numbers (the "A call comes in" webhook): Twilio waits for TwiML.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncomingCall {
    /// `CallSid`.
    pub call_sid: CallSid,
    /// `AccountSid`; compare it with the configured account.
    pub account_sid: AccountSid,
    /// `From`, trimmed: the caller id as Twilio gives it (E.164, `client:…`, `sip:…`,
    /// `anonymous`, …); not validated here.
    pub from: String,
    /// `To`, trimmed.
    pub to: String,
    /// `CallStatus` (usually `ringing`).
    pub call_status: CallStatus,
    /// `Direction` (`inbound`, `outbound-api`, `outbound-dial`), when present.
    pub direction: Option<String>,
    /// `CallerName` (CNAM lookup), when present.
    pub caller_name: Option<String>,
    /// `ForwardedFrom`, when the carrier reports a forward.
    pub forwarded_from: Option<String>,
    /// `ParentCallSid`, for a child leg.
    pub parent_call_sid: Option<CallSid>,
    /// Every other pair, in arrival order.
    pub extra: Vec<(String, String)>,
}

impl fmt::Debug for IncomingCall {
    /// Phone numbers and names are personal data: `Debug` shows their lengths only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingCall")
            .field("call_sid", &self.call_sid)
            .field("account_sid", &self.account_sid)
            .field("from", &Len(Some(&self.from)))
            .field("to", &Len(Some(&self.to)))
            .field("call_status", &self.call_status)
            .field("direction", &self.direction)
            .field("caller_name", &Len(self.caller_name.as_deref()))
            .field("forwarded_from", &Len(self.forwarded_from.as_deref()))
            .field("parent_call_sid", &self.parent_call_sid)
            .field(
                "extra",
                &self.extra.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl IncomingCall {
    /// Reads an incoming call from a (verified) webhook form.
    ///
    /// # Errors
    /// [`ParseFormError::MissingField`] without `CallSid`, `AccountSid`, `From`, `To` or
    /// `CallStatus`; [`ParseFormError::InvalidField`] for a malformed SID.
    pub fn from_form(form: &Form) -> Result<Self, ParseFormError> {
        let parent_call_sid = non_blank(form, "ParentCallSid")
            .map(|v| {
                CallSid::parse(v).map_err(|e| ParseFormError::InvalidField {
                    name: "ParentCallSid",
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        Ok(Self {
            call_sid: call_sid(form)?,
            account_sid: account_sid(form)?,
            from: required(form, "From")?.to_owned(),
            to: required(form, "To")?.to_owned(),
            call_status: call_status(form)?,
            direction: optional(form, "Direction"),
            caller_name: optional(form, "CallerName"),
            forwarded_from: optional(form, "ForwardedFrom"),
            parent_call_sid,
            extra: extra(form, INCOMING_FIELDS),
        })
    }
}

const STATUS_FIELDS: &[&str] = &[
    "CallSid",
    "AccountSid",
    "From",
    "To",
    "CallStatus",
    "CallDuration",
    "CallbackSource",
    "SequenceNumber",
    "Timestamp",
];

/// A call-progress callback (`StatusCallback` of a number or of a created call).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallStatusCallback {
    /// `CallSid`.
    pub call_sid: CallSid,
    /// `AccountSid`.
    pub account_sid: AccountSid,
    /// `CallStatus`.
    pub call_status: CallStatus,
    /// `CallDuration` in seconds, on the final callback.
    pub call_duration: Option<u32>,
    /// `CallbackSource` (e.g. `call-progress-events`), when present.
    pub callback_source: Option<String>,
    /// `SequenceNumber`: callbacks may arrive out of order; order them by this.
    pub sequence_number: Option<u32>,
    /// `Timestamp` (RFC 2822, as sent).
    pub timestamp: Option<String>,
    /// `From`, trimmed, if present.
    pub from: Option<String>,
    /// `To`, trimmed, if present.
    pub to: Option<String>,
    /// Every other pair, in arrival order.
    pub extra: Vec<(String, String)>,
}

impl fmt::Debug for CallStatusCallback {
    /// Phone numbers are personal data: `Debug` shows their lengths only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallStatusCallback")
            .field("call_sid", &self.call_sid)
            .field("account_sid", &self.account_sid)
            .field("call_status", &self.call_status)
            .field("call_duration", &self.call_duration)
            .field("callback_source", &self.callback_source)
            .field("sequence_number", &self.sequence_number)
            .field("timestamp", &self.timestamp)
            .field("from", &Len(self.from.as_deref()))
            .field("to", &Len(self.to.as_deref()))
            .field(
                "extra",
                &self.extra.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl CallStatusCallback {
    /// Reads a call-status callback from a (verified) webhook form.
    ///
    /// # Errors
    /// [`ParseFormError::MissingField`] without `CallSid`, `AccountSid` or `CallStatus`;
    /// [`ParseFormError::InvalidField`] for a malformed SID or a count that is not a number.
    pub fn from_form(form: &Form) -> Result<Self, ParseFormError> {
        Ok(Self {
            call_sid: call_sid(form)?,
            account_sid: account_sid(form)?,
            call_status: call_status(form)?,
            call_duration: number(form, "CallDuration")?,
            callback_source: optional(form, "CallbackSource"),
            sequence_number: number(form, "SequenceNumber")?,
            timestamp: optional(form, "Timestamp"),
            from: optional(form, "From"),
            to: optional(form, "To"),
            extra: extra(form, STATUS_FIELDS),
        })
    }
}

const GATHER_FIELDS: &[&str] = &[
    "CallSid",
    "AccountSid",
    "From",
    "To",
    "CallStatus",
    "Digits",
    "SpeechResult",
    "Confidence",
];

/// What a caller said or typed in answer to a `<Gather>` (its `action` webhook).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct GatherResult {
    /// `CallSid`.
    pub call_sid: CallSid,
    /// `AccountSid`.
    pub account_sid: AccountSid,
    /// `From`, trimmed, if present.
    pub from: Option<String>,
    /// `To`, trimmed, if present.
    pub to: Option<String>,
    /// `Digits` as typed (DTMF, may include `*` and `#`); `None` when absent or empty.
    pub digits: Option<String>,
    /// `SpeechResult` as transcribed, untrimmed; `None` when absent or blank.
    pub speech_result: Option<String>,
    /// `Confidence` of the transcription, 0.0 to 1.0, when present and in range.
    pub confidence: Option<f32>,
    /// Every other pair, in arrival order.
    pub extra: Vec<(String, String)>,
}

impl fmt::Debug for GatherResult {
    /// What the caller said or typed is personal data: `Debug` shows lengths only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherResult")
            .field("call_sid", &self.call_sid)
            .field("account_sid", &self.account_sid)
            .field("from", &Len(self.from.as_deref()))
            .field("to", &Len(self.to.as_deref()))
            .field("digits", &Len(self.digits.as_deref()))
            .field("speech_result", &Len(self.speech_result.as_deref()))
            .field("confidence", &self.confidence)
            .field(
                "extra",
                &self.extra.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl GatherResult {
    /// Reads a gather result from a (verified) webhook form.
    ///
    /// # Errors
    /// [`ParseFormError::MissingField`] without `CallSid` or `AccountSid`, or with neither
    /// `Digits` nor `SpeechResult` present; [`ParseFormError::InvalidField`] for a malformed
    /// SID or a `Confidence` that is not a number from 0 to 1.
    pub fn from_form(form: &Form) -> Result<Self, ParseFormError> {
        if form.get("Digits").is_none() && form.get("SpeechResult").is_none() {
            return Err(ParseFormError::MissingField { name: "Digits" });
        }
        let confidence = number::<f32>(form, "Confidence")?;
        if confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
            return Err(ParseFormError::InvalidField {
                name: "Confidence",
                reason: "expected a number from 0 to 1".to_owned(),
            });
        }
        Ok(Self {
            call_sid: call_sid(form)?,
            account_sid: account_sid(form)?,
            from: optional(form, "From"),
            to: optional(form, "To"),
            digits: form
                .get("Digits")
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            speech_result: form
                .get("SpeechResult")
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned),
            confidence,
            extra: extra(form, GATHER_FIELDS),
        })
    }
}
