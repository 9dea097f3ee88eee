//! Durable state for the OpenClaw SMS channel.
//!
//! Everything the gateway must not lose: the ingress queue of accepted webhooks, pairing
//! requests and allow entries, opt-outs, delivery observations, conversation history and
//! outbound intents. The embedded default is SQLite, one file in the state directory.
//!
//! This crate stores and answers; it does not decide. Access decisions are
//! `openclaw-access-policy`'s, and the pipeline that drives the store is `openclaw-sms`'s.
