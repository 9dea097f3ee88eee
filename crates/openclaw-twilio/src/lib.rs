//! The Twilio surface of OpenClaw channels: webhook signatures, webhook forms, and a REST
//! client for the Messages API.
//!
//! Signature computation and verification, and webhook form parsing, are pure functions with
//! no IO; the REST client does HTTP. This crate does not decide what to send or to whom
//! (that is `openclaw-sms`), and it is not a full Twilio SDK: it covers what the SMS and Voice
//! Call channels need.
