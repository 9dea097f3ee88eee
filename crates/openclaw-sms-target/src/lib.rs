//! Parse SMS targets, E.164 numbers and allow-list entries.
//!
//! This crate is **pure**: values in, values out. It does no IO, reads no clock and no
//! environment. It turns what people type (`sms:+15551234567`, `twilio-sms:+1…`, `(415) 555-2671`
//! with a default region) into an [`E164`] newtype, or into an error that says what to write
//! instead.
//!
//! It is not a phone-number library (that is [`phonenumber`], which it uses), and it knows
//! nothing about Twilio or sending. Access decisions live in `openclaw-access-policy`; the SMS
//! channel that uses both is `openclaw-sms`.
//!
//! # What it accepts
//!
//! - [`E164::parse`]: a bare `+` number, digits optionally grouped with spaces, dashes, dots
//!   or parentheses. Accepted when the structure is right: a country calling code that
//!   exists, 7 to 15 digits in all ([`MIN_DIGITS`], [`MAX_DIGITS`]).
//! - [`Target::parse`]: the same with one `sms:` or `twilio-sms:` prefix (any case), which
//!   the result remembers ([`TargetPrefix`]), or a national number when
//!   [`ParseOptions::default_region`] is set.
//! - [`InboundSender::parse`]: Twilio's `From`, `+E164` or `rcs:+E164`.
//! - [`CallerId::parse`]: a voice caller's `From`: `+E164`, `client:NAME`, `sip:user@host`,
//!   or a withheld number (`anonymous`, `restricted`, …).
//! - [`AllowEntry::parse`], [`parse_allow_list`], [`parse_comma_allow_list`]: `*`, numbers
//!   (also as bare digits, `15551234567`), and `accessGroup:<name>`.
//!
//! The numbering-plan check (is this range allocated?) is a [`NumberWarning`], not a
//! refusal, unless [`ParseOptions::strict`] is set: the product's own examples
//! (`+15551234567`) and Twilio's test numbers are not valid in the plan, and they must work.
//!
//! Unlike the upstream TypeScript plugin, nothing is guessed: `(555) 123-4567` without a
//! region is not `+5551234567`, and `whatsapp:+1…` is not `++1…`; both are errors.
//!
//! ```
//! use openclaw_sms_target::{ParseOptions, Region, Target, TargetPrefix};
//!
//! let options = ParseOptions::new().with_default_region(Region::parse("US")?);
//! let target = Target::parse("sms:(415) 555-2671", &options)?;
//! assert_eq!(target.number().as_str(), "+14155552671");
//! assert_eq!(target.prefix(), TargetPrefix::Sms);
//! assert!(target.warnings().is_empty());
//!
//! let err = Target::parse("(555) 123-4567", &ParseOptions::default()).unwrap_err();
//! assert!(err.to_string().contains("needs a country code: write + and the country code"));
//! # Ok::<(), openclaw_sms_target::ParseTargetError>(())
//! ```

mod allow;
mod caller;
mod e164;
mod error;
mod target;

pub use allow::{
    ACCESS_GROUP_PREFIX, AllowEntry, parse_allow_list, parse_allow_list_with,
    parse_comma_allow_list,
};
pub use caller::{CallerId, MAX_CALLER_ID_LEN};
pub use e164::{E164, MAX_DIGITS, MAX_INPUT_LEN, MIN_DIGITS, NumberWarning, Region};
pub use error::ParseTargetError;
pub use target::{InboundSender, ParseOptions, Target, TargetPrefix};

/// The README's example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
