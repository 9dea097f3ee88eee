//! The Twilio surface of OpenClaw channels (SMS and Voice Call): webhook signatures, webhook
//! forms and their typed messages, TwiML, and a REST client for Messages and Calls.
//!
//! Everything but the REST client is pure (no IO, no clock) and builds without an HTTP client,
//! TLS or an async runtime: depend on the crate with `default-features = false` for that part;
//! the `client` feature (on by default) adds `Client`. This crate does not decide what to
//! send or to whom (that is the channel's), it does not format or split text
//! (`openclaw-sms-text`) or parse phone numbers (`openclaw-sms-target`), and it is not a full
//! Twilio SDK: it covers what the SMS and Voice Call channels need; `Client::request` lets
//! another crate add an endpoint without forking this one.
//!
//! - [`signature`]: compute and verify `X-Twilio-Signature` (constant time, port and quote
//!   variants, `bodySHA256`, shared keys); failures list the URLs tried.
//! - [`form`]: `application/x-www-form-urlencoded` bodies as ordered pairs, and back.
//! - [`redact`]: URL credentials (`user:pass@`) out of anything shown.
//! - [`webhook`]: what a webhook form is ([`webhook::WebhookKind`]), typed inbound messages and
//!   delivery-status callbacks, the empty TwiML answer.
//! - [`voice`]: typed voice webhooks: an incoming call, a call-status callback, a gather result.
//! - [`twiml`]: a small TwiML builder (`Say`, `Gather`, `Play`, `Pause`, `Hangup`, `Redirect`,
//!   `Message`) with XML escaping.
//! - [`sid`]: newtypes for SIDs (`AC…`, `MG…`, `SM…`/`MM…`, `CA…`, `SK…`, `PN…`).
//! - [`escape`]: [`Escaped`](escape::Escaped), untrusted text (webhook fields, URLs, error
//!   bodies) written on one log line, with CR/LF and other controls escaped.
//! - [`hint_for_code`]: what an operator should do about a Twilio error code.
//! - `Client` (feature `client`): the REST client (messages, calls, account, incoming numbers,
//!   Messaging Services, media) with one opaque error, `TwilioError`, whose `RetryClass` says
//!   whether a retry is safe.
//!
//! Verify a webhook, then read it:
//!
//! ```
//! use openclaw_twilio::{form::Form, signature, webhook::InboundMessage};
//! use secrecy::SecretString;
//!
//! let token = SecretString::from("12345");
//! let url = "https://example.com/sms";
//! let body = b"MessageSid=SM0123456789abcdef0123456789abcdef\
//!              &AccountSid=AC0123456789abcdef0123456789abcdef\
//!              &From=%2B14155550100&To=%2B14155550199&Body=hi";
//! let form = Form::parse(body)?;
//! let header = signature::compute(url, form.pairs(), &token);
//!
//! let keys = signature::Keys::new(&token);
//! let request = signature::VerifyRequest::new(url, body).form(&form).signature(Some(&header));
//! signature::verify(&request, &keys)?;
//! let message = InboundMessage::from_form(&form)?;
//! assert_eq!(message.body, "hi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
pub mod escape;
pub mod form;
pub mod redact;
pub mod sid;
pub mod signature;
pub mod twiml;
pub mod voice;
pub mod webhook;

mod hints;

#[cfg(feature = "client")]
mod api;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod error;

pub use hints::hint_for_code;

#[cfg(feature = "client")]
pub use api::{
    Account, Capabilities, CreateMessage, IncomingPhoneNumber, ListMessages, MAX_BODY_UTF16_UNITS,
    MAX_MEDIA_URLS, MAX_PAGE_SIZE, MAX_VALIDITY_PERIOD_SECS, Message, MessagingService, Sender,
};
#[cfg(feature = "client")]
pub use api::{Call, CallTarget, CreateCall, ListCalls, MAX_CALL_TIMEOUT_SECS, UpdateCall};
#[cfg(feature = "client")]
pub use client::{
    ApiBase, Client, ClientConfig, Credentials, DEFAULT_API_BASE, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MESSAGING_BASE, DEFAULT_TIMEOUT, FetchedMedia, MAX_ERROR_BODY_BYTES,
    MAX_MEDIA_REDIRECTS, MAX_SUCCESS_BODY_BYTES, RequestMethod, TRUNCATED_MARKER,
};
#[cfg(feature = "client")]
pub use error::{ErrorKind, RetryClass, TwilioError};
