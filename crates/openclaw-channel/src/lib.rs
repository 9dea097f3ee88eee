//! Channel-neutral machinery that every OpenClaw channel needs, and nothing SMS-specific.
//!
//! An OpenClaw channel (SMS, Voice Call, …) receives signed webhooks, decides who may talk to
//! the agent, runs agent turns and answers. This crate holds the parts of that which do not
//! depend on the channel: the agent seam, secret inputs, the webhook guard, rate limiters, the
//! metrics registry and pairing orchestration over the store and policy traits.
//!
//! It is not a channel: the SMS adapter is `openclaw-sms`, and the binary that runs channels is
//! `openclaw-gateway`. Twilio's wire formats live in `openclaw-twilio`, durable state in
//! `openclaw-store`, access decisions in `openclaw-access-policy`.
