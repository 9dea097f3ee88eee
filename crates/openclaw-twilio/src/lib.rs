//! The Twilio surface of OpenClaw channels: webhook signatures, webhook forms, and a REST
//! client for the Messages API.
//!
//! Signature computation and verification, and webhook form parsing, are pure functions with
//! no IO; the REST client does HTTP. This crate does not decide what to send or to whom
//! (that is `openclaw-sms`), it does not format or split text (that is `openclaw-sms-text`)
//! or parse phone numbers (`openclaw-sms-target`), and it is not a full Twilio SDK: it covers
//! what the SMS and Voice Call channels need. For other Twilio APIs use Twilio's OpenAPI
//! bindings.
//!
//! - [`signature`]: compute and verify `X-Twilio-Signature` (constant time, port and quote
//!   variants, `bodySHA256`, shared keys); failures list the URLs tried.
//! - [`form`]: `application/x-www-form-urlencoded` bodies as ordered pairs, and back.
//! - [`webhook`]: typed inbound messages and delivery-status callbacks, the empty TwiML answer.
//! - [`sid`]: newtypes for SIDs (`AC…`, `MG…`, `SM…`/`MM…`, `SK…`, `PN…`).
//! - [`escape`]: [`Escaped`](escape::Escaped), untrusted text (webhook fields, URLs, error
//!   bodies) written on one log line, with CR/LF and other controls escaped.
//! - [`Client`]: the REST client (create message, fetch account, list incoming numbers,
//!   fetch a Messaging Service, list messages) with one opaque error, [`TwilioError`], whose
//!   [`RetryClass`] says whether a retry is safe.
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
pub mod sid;
pub mod signature;
pub mod webhook;

mod api;
mod client;
mod error;

pub use api::{
    Account, Capabilities, CreateMessage, IncomingPhoneNumber, ListMessages, MAX_BODY_UTF16_UNITS,
    MAX_MEDIA_URLS, MAX_PAGE_SIZE, MAX_VALIDITY_PERIOD_SECS, Message, MessagingService, Sender,
};
pub use client::{
    ApiBase, Client, ClientConfig, Credentials, DEFAULT_API_BASE, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MESSAGING_BASE, DEFAULT_TIMEOUT, FetchedMedia, MAX_ERROR_BODY_BYTES,
    MAX_MEDIA_REDIRECTS, MAX_SUCCESS_BODY_BYTES, TRUNCATED_MARKER,
};
pub use error::{ErrorKind, RetryClass, TwilioError, hint_for_code};
