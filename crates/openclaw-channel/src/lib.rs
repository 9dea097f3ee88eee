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
//!
//! What is here so far:
//! - [`agent`]: the agent seam ([`agent::Agent`], [`agent::AgentTurn`], [`agent::AgentError`]).
//! - [`guard`]: the webhook guard (method, per-client pre-auth slots, bounded body read in
//!   time, form, Twilio signature, invalid-request limiter) and its [`guard::Rejection`].
//! - [`limits`]: fixed-window rate limiters keyed by string, and an in-flight cap per client.
//! - [`metrics`]: a small registry rendered in the Prometheus text format; channels name and
//!   describe their own series.
//! - [`pairing`]: pairing orchestration over the store and the policy (decide, challenge,
//!   refresh, approve with the sender's notice and the held message released, deny).
//! - [`proxies`]: the client address of a request behind trusted reverse proxies
//!   (`gateway.trustedProxies`), for limiters keyed by client.
//! - [`public_url`]: whether a public webhook URL can receive Twilio's callbacks (read by the
//!   `url` crate), the path requests arrive on, and the `StatusCallback` URL with connection
//!   overrides.
//! - [`secret`]: secret inputs in config (a plain string, or a reference resolved by the
//!   gateway's secrets runtime).
//! - [`ChannelError`]: the crate's one error type.

pub mod agent;
mod error;
pub mod guard;
pub mod limits;
pub mod metrics;
pub mod pairing;
pub mod proxies;
pub mod public_url;
pub mod secret;

pub use error::ChannelError;

/// The README's example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
