//! Channel-agnostic direct-message access decisions and pairing codes.
//!
//! This crate is **pure**: the caller passes the policy, the allow entries, the live pairing
//! requests, the sender id, the current time and a random number generator; it returns a
//! decision (allow, challenge or drop). It does no IO and reads no clock.
//!
//! Sender ids are opaque strings: nothing here knows about phone numbers, so SMS, Voice Call
//! and other channels can share it. Parsing phone numbers is `openclaw-sms-target`'s job;
//! storing pairing requests and allow entries is `openclaw-store`'s.
//!
//! # What is here
//!
//! - [`DmPolicy`] (`pairing`, the default; `allowlist`; `open`; `disabled`) and
//!   [`check_policy_config`]: `open` without `"*"` is an error with upstream's message, an
//!   empty `allowlist` a warning; every message names the caller's [`PolicyKeys`] (the crate
//!   knows no channel's config keys).
//! - [`AllowRule`]: `*`, a sender id, or `accessGroup:<name>` (never matched here: the
//!   caller expands groups it can resolve).
//! - [`decide`] over a [`DecisionInput`]: [`Decision::Allow`] with the [`MatchedRule`],
//!   [`Decision::Challenge`] ([`Challenge::New`] request or [`Challenge::AlreadyPending`]:
//!   stay silent), or [`Decision::Drop`] with a [`DropReason`] (always silent).
//! - Pairing: [`PairingCode`] (8 characters of [`PAIRING_CODE_ALPHABET`]),
//!   [`generate_code`] from a caller-supplied [`rand_core::RngCore`], [`PairingRequest`],
//!   [`PairingLimits`] (3 live requests per account, one hour each), and the pure helpers
//!   [`find_request_by_code`], [`approve_by_code`], [`prune_expired`].
//!
//! # Example
//!
//! ```
//! use openclaw_access_policy::{
//!     AllowRule, Challenge, Decision, DecisionInput, DmPolicy, DropReason, PairingLimits,
//!     PolicyKeys, Timestamp, approve_by_code, check_policy_config, decide,
//! };
//! use rand::SeedableRng;
//!
//! let policy: DmPolicy = "pairing".parse()?;
//! let config: Vec<AllowRule> = vec![AllowRule::parse("+15557654321")?];
//! assert!(check_policy_config(policy, &config, &PolicyKeys::dm("channels.sms"))?.is_empty());
//!
//! let limits = PairingLimits::default();
//! let mut rng = rand::rngs::StdRng::seed_from_u64(42); // the gateway passes a CSPRNG
//! let now = Timestamp::from_unix_millis(1_700_000_000_000);
//! let mut pending = Vec::new();
//! let mut stored: Vec<String> = Vec::new();
//! let mut ask = |policy, stored: &[String], pending: &[_]| {
//!     let input = DecisionInput {
//!         policy,
//!         config_allow: &config,
//!         stored_allow: stored,
//!         pending,
//!         sender: "+15551234567",
//!         now,
//!         limits: &limits,
//!     };
//!     decide(&input, &mut rng)
//! };
//!
//! // A stranger writes: a pairing request with a fresh code.
//! let Decision::Challenge(Challenge::New(request)) = ask(policy, &stored, &pending) else {
//!     panic!("strangers are challenged under pairing");
//! };
//! let code = request.code;
//! pending.push(request);
//!
//! // They write again: no second code.
//! let again = ask(policy, &stored, &pending);
//! assert_eq!(again, Decision::Challenge(Challenge::AlreadyPending { code }));
//!
//! // The operator approves (any case); now they are served.
//! let code = code.as_str().to_lowercase();
//! approve_by_code(&mut pending, &mut stored, &code, now, &limits);
//! assert!(ask(policy, &stored, &pending).is_allow());
//!
//! // Under `disabled`, everything is dropped silently.
//! let off = ask(DmPolicy::Disabled, &stored, &pending);
//! assert_eq!(off, Decision::Drop { reason: DropReason::PolicyDisabled });
//! # Ok::<(), openclaw_access_policy::PolicyConfigError>(())
//! ```

mod decide;
mod error;
mod pairing;
mod policy;

pub use decide::{Challenge, Decision, DecisionInput, DropReason, MatchedRule, decide};
pub use error::PolicyConfigError;
pub use pairing::{
    DEFAULT_MAX_PENDING, DEFAULT_PENDING_TTL, MAX_CODE_ATTEMPTS, PAIRING_CODE_ALPHABET,
    PAIRING_CODE_LEN, PairingCode, PairingLimits, PairingRequest, Timestamp, approve_by_code,
    find_request_by_code, generate_code, prune_expired,
};
pub use policy::{
    AllowRule, DmPolicy, GROUP_PREFIX, PolicyKeys, PolicyWarning, check_policy_config,
};

/// The README's example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
