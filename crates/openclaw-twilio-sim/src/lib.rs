//! A local Twilio for development and tests.
//!
//! It serves the Messages API surface that the gateway uses, simulates phones that text a
//! webhook exactly as Twilio does (signed forms), records what each phone receives, sends
//! status callbacks, and injects faults on request. It only ever listens on loopback.
//!
//! It is not Twilio: it implements what OpenClaw's channels use and documents what it does
//! not. The production client is `openclaw-twilio`.
