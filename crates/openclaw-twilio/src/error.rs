//! [`TwilioError`]: the one error of the REST client, opaque, with predicates.

use std::fmt;
use std::time::Duration;

use crate::escape::Escaped;
use crate::hints::hint_for_code;

/// Whether a failed call may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryClass {
    /// Twilio did not process the request (HTTP 429, Twilio 20429, HTTP 503, or the connection
    /// failed before the request was sent): retrying cannot duplicate anything. Back off first.
    Safe,
    /// The request may have been processed (a timeout or another 5xx after sending, or a 2xx
    /// whose body could not be read): a message may exist. Do not resend without de-duplication.
    Ambiguous,
    /// Retrying will fail the same way (another 4xx, an invalid request, a configuration error).
    Permanent,
}

/// What went wrong, for callers that branch on more than [`RetryClass`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client configuration is unusable (bad base URL, region or edge).
    Config,
    /// The request was refused before any HTTP (e.g. more than 10 media, an empty message).
    InvalidRequest,
    /// The connection could not be established; nothing was sent.
    Connect,
    /// The connect or total timeout expired.
    Timeout,
    /// Another transport failure (connection reset, body read error).
    Transport,
    /// Twilio answered with a non-2xx status.
    Api,
    /// A 2xx body exceeded the size limit.
    BodyTooLarge,
    /// A 2xx body was not the JSON object expected.
    MalformedResponse,
    /// A 2xx body lacked the resource SID.
    MissingSid,
}

/// The operation that failed, named in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Configure,
    Send,
    AccountLookup,
    PhoneNumberLookup,
    MessagingServiceLookup,
    MessageLookup,
    MediaFetch,
    CallCreate,
    CallLookup,
    CallUpdate,
    /// A request made through [`crate::Client::request`].
    Request,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Configure => "client configuration",
            Self::Send => "send",
            Self::AccountLookup => "account lookup",
            Self::PhoneNumberLookup => "phone-number lookup",
            Self::MessagingServiceLookup => "messaging-service lookup",
            Self::MessageLookup => "message lookup",
            Self::MediaFetch => "media fetch",
            Self::CallCreate => "call",
            Self::CallLookup => "call lookup",
            Self::CallUpdate => "call update",
            Self::Request => "request",
        })
    }
}

/// An error of the Twilio REST client.
///
/// Opaque: ask [`TwilioError::status`], [`TwilioError::twilio_code`],
/// [`TwilioError::is_timeout`], [`TwilioError::retry_class`] and [`TwilioError::hint`]. Its
/// `Display` and `Debug` never contain a credential: Basic-auth strings, the Auth Token or API
/// Key secret and any `auth_token` field are redacted from the text Twilio sent back.
pub struct TwilioError {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    operation: Operation,
    status: Option<u16>,
    twilio_code: Option<u32>,
    message: String,
    response_text: Option<String>,
    retry_after: Option<Duration>,
    timed_out: bool,
}

impl TwilioError {
    pub(crate) fn new(kind: ErrorKind, operation: Operation, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                operation,
                status: None,
                twilio_code: None,
                message: message.into(),
                response_text: None,
                retry_after: None,
                timed_out: kind == ErrorKind::Timeout,
            }),
        }
    }

    pub(crate) fn api(
        operation: Operation,
        status: u16,
        twilio_code: Option<u32>,
        message: String,
        response_text: String,
        retry_after: Option<Duration>,
    ) -> Self {
        let mut e = Self::new(ErrorKind::Api, operation, message);
        e.inner.status = Some(status);
        e.inner.twilio_code = twilio_code;
        e.inner.response_text = Some(response_text);
        e.inner.retry_after = retry_after;
        e
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    pub(crate) fn with_timeout(mut self, timed_out: bool) -> Self {
        self.inner.timed_out |= timed_out;
        self
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The HTTP status, when Twilio answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// Twilio's error code (the JSON `code`, e.g. 21211), when the error body carried one.
    #[must_use]
    pub fn twilio_code(&self) -> Option<u32> {
        self.inner.twilio_code
    }

    /// Whether the connect or total timeout expired (a connect timeout is [`ErrorKind::Connect`]
    /// and safe to retry; a later timeout is [`ErrorKind::Timeout`] and ambiguous).
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        self.inner.timed_out
    }

    /// The `Retry-After` Twilio sent with a 429 or 503, in seconds form.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The error body Twilio sent (a prefix of at most 8 KiB, credentials redacted).
    #[must_use]
    pub fn response_text(&self) -> Option<&str> {
        self.inner.response_text.as_deref()
    }

    /// Whether the call may be repeated; see [`RetryClass`].
    #[must_use]
    pub fn retry_class(&self) -> RetryClass {
        let inner = &self.inner;
        match inner.kind {
            ErrorKind::Config | ErrorKind::InvalidRequest => RetryClass::Permanent,
            ErrorKind::Connect => RetryClass::Safe,
            ErrorKind::Timeout | ErrorKind::Transport => RetryClass::Ambiguous,
            ErrorKind::BodyTooLarge | ErrorKind::MalformedResponse | ErrorKind::MissingSid => {
                RetryClass::Ambiguous
            }
            ErrorKind::Api => match (inner.status, inner.twilio_code) {
                (_, Some(20429)) | (Some(429 | 503), _) => RetryClass::Safe,
                (Some(s), _) if s >= 500 => RetryClass::Ambiguous,
                _ => RetryClass::Permanent,
            },
        }
    }

    /// A one-line hint for the operator, for the Twilio error codes that need action.
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        self.inner
            .twilio_code
            .and_then(hint_for_code)
            .or(match self.inner.status {
                Some(401) => hint_for_code(20003),
                _ => None,
            })
    }
}

impl fmt::Display for TwilioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        write!(f, "Twilio {} failed", inner.operation)?;
        match (inner.status, inner.twilio_code) {
            (Some(s), Some(c)) => write!(f, " ({s}, code {c})")?,
            (Some(s), None) => write!(f, " ({s})")?,
            _ => {}
        }
        // The message is often Twilio's text (or a proxy's page) as it came: one log line.
        write!(f, ": {}", Escaped(&inner.message))
    }
}

impl fmt::Debug for TwilioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("TwilioError")
            .field("kind", &inner.kind)
            .field("operation", &inner.operation)
            .field("status", &inner.status)
            .field("twilio_code", &inner.twilio_code)
            .field("message", &inner.message)
            .field("retry_after", &inner.retry_after)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for TwilioError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<u32>) -> TwilioError {
        TwilioError::api(
            Operation::Send,
            status,
            code,
            "m".to_owned(),
            String::new(),
            None,
        )
    }

    #[test]
    fn retry_class_table() {
        fn check(e: &TwilioError, expected: RetryClass) {
            assert_eq!(e.retry_class(), expected, "{e:?}");
        }
        check(&api(429, None), RetryClass::Safe);
        check(&api(429, Some(20429)), RetryClass::Safe);
        check(&api(400, Some(20429)), RetryClass::Safe);
        check(&api(503, None), RetryClass::Safe);
        check(&api(500, None), RetryClass::Ambiguous);
        check(&api(502, Some(20500)), RetryClass::Ambiguous);
        check(&api(504, None), RetryClass::Ambiguous);
        for code in [20003, 21211, 21408, 21606, 21608, 21610, 21614, 21617] {
            check(&api(400, Some(code)), RetryClass::Permanent);
        }
        check(&api(401, None), RetryClass::Permanent);
        check(&api(404, None), RetryClass::Permanent);
        check(
            &TwilioError::new(ErrorKind::Connect, Operation::Send, "x"),
            RetryClass::Safe,
        );
        check(
            &TwilioError::new(ErrorKind::Timeout, Operation::Send, "x"),
            RetryClass::Ambiguous,
        );
        check(
            &TwilioError::new(ErrorKind::MissingSid, Operation::Send, "x"),
            RetryClass::Ambiguous,
        );
        check(
            &TwilioError::new(ErrorKind::InvalidRequest, Operation::Send, "x"),
            RetryClass::Permanent,
        );
    }

    #[test]
    fn hints_for_the_codes_an_operator_can_fix() {
        for code in [
            20003, 20429, 21211, 21408, 21606, 21608, 21610, 21614, 21617,
        ] {
            assert!(api(400, Some(code)).hint().is_some(), "{code}");
        }
        assert_eq!(api(400, Some(99999)).hint(), None);
        assert_eq!(api(401, None).hint(), hint_for_code(20003));
    }

    #[test]
    fn display_names_operation_status_and_code() {
        assert_eq!(
            api(400, Some(21211)).to_string(),
            "Twilio send failed (400, code 21211): m"
        );
        let e = TwilioError::new(ErrorKind::Timeout, Operation::AccountLookup, "timed out");
        assert_eq!(e.to_string(), "Twilio account lookup failed: timed out");
        assert!(e.is_timeout());
    }

    #[test]
    fn display_keeps_an_error_body_on_one_line() {
        let e = TwilioError::api(
            Operation::Send,
            400,
            None,
            "bad\r\n2026-01-01T00:00:00Z  INFO forged\u{2028}x".to_owned(),
            String::new(),
            None,
        );
        assert_eq!(
            e.to_string(),
            r"Twilio send failed (400): bad\r\n2026-01-01T00:00:00Z  INFO forged\u{2028}x"
        );
    }
}
