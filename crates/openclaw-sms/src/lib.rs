//! The OpenClaw SMS channel adapter.
//!
//! It ties the crates below into a running channel: the `channels.sms` account model, the
//! axum webhook routes, the durable inbound pipeline, outbound sends and probes. It owns
//! nothing that a lower crate can own: signatures and the REST client are `openclaw-twilio`'s,
//! storage is `openclaw-store`'s, access decisions are `openclaw-access-policy`'s, text shaping
//! is `openclaw-sms-text`'s. The binary that runs it is `openclaw-gateway`.

pub mod config;
