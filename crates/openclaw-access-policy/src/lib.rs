//! Channel-agnostic direct-message access decisions and pairing codes.
//!
//! This crate is **pure**: the caller passes the policy, the allow entries, the live pairing
//! requests, the sender id, the current time and a random number generator; it returns a
//! decision (allow, challenge or drop). It does no IO and reads no clock.
//!
//! Sender ids are opaque strings: nothing here knows about phone numbers, so SMS, Voice Call
//! and other channels can share it. Parsing phone numbers is `openclaw-sms-target`'s job;
//! storing pairing requests and allow entries is `openclaw-store`'s.
