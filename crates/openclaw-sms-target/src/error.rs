//! The crate's one error type.

use crate::e164::E164;

/// The example every hint falls back to: the product page's own sender number.
pub(crate) const EXAMPLE: &str = "+15551234567";

/// Why a phone number, SMS target, inbound sender, region or allow-list entry was refused.
///
/// Every message names the input and says what to write instead. Inputs are quoted with
/// Rust's `{:?}` so that control characters stay visible; inputs longer than
/// [`MAX_INPUT_LEN`](crate::MAX_INPUT_LEN) are refused before they are quoted anywhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseTargetError {
    /// The input was empty or only whitespace.
    #[error("empty phone number: write an E.164 number such as {EXAMPLE}")]
    Empty,

    /// The input is longer than [`MAX_INPUT_LEN`](crate::MAX_INPUT_LEN) bytes.
    #[error(
        "input is {len} bytes long, more than the {max} a phone number needs: write an E.164 number such as {EXAMPLE}"
    )]
    InputTooLong {
        /// The input's length in bytes.
        len: usize,
        /// The bound, [`MAX_INPUT_LEN`](crate::MAX_INPUT_LEN).
        max: usize,
    },

    /// The input starts with a prefix that is not `sms:` or `twilio-sms:` (for targets) or
    /// `rcs:` (for inbound senders): `whatsapp:`, `signal:`, `tel:` and so on.
    #[error(
        "{input:?}: `{prefix}:` is not an SMS prefix: write {example}, sms:{example} or twilio-sms:{example}"
    )]
    UnsupportedPrefix {
        /// The whole input.
        input: String,
        /// The prefix as written, without the colon.
        prefix: String,
        /// What to write instead: the number after the prefix when it parses, else an example.
        example: String,
    },

    /// The input has a second prefix after the first (`sms:twilio-sms:+1…`, `sms:sms:+1…`).
    #[error(
        "{input:?} has more than one prefix: write exactly one, as in sms:{EXAMPLE} or twilio-sms:{EXAMPLE}"
    )]
    DoublePrefix {
        /// The whole input.
        input: String,
    },

    /// The number contains letters (vanity numbers such as `1-800-FLOWERS`, extensions such
    /// as `x12`, or text that is not a number at all).
    #[error(
        "{input:?} contains letters: write digits only, as in {EXAMPLE} (spell vanity numbers out as digits and leave extensions off)"
    )]
    Letters {
        /// The whole input.
        input: String,
    },

    /// The number contains a character that is neither a digit, a leading `+`, nor one of
    /// the separators (space, `-`, `.`, `(`, `)`).
    #[error(
        "{input:?} contains {ch:?}: write digits, optionally grouped with spaces, dashes, dots or parentheses, as in +1 (555) 123-4567"
    )]
    InvalidCharacter {
        /// The whole input.
        input: String,
        /// The first offending character.
        ch: char,
    },

    /// A `+` appears somewhere other than at the very start of the number (`++1…`, `1+555…`).
    #[error("{input:?}: a `+` may only open the number, once: write it as in {EXAMPLE}")]
    MisplacedPlus {
        /// The whole input.
        input: String,
    },

    /// Fewer than [`MIN_DIGITS`](crate::MIN_DIGITS) digits, country code included.
    #[error(
        "{input:?} has {digits} digits, too few for a phone number: write the whole number with its country code, 7 to 15 digits, as in {EXAMPLE}"
    )]
    TooShort {
        /// The whole input.
        input: String,
        /// How many digits it has.
        digits: usize,
    },

    /// More than [`MAX_DIGITS`](crate::MAX_DIGITS) digits, country code included.
    #[error(
        "{input:?} has {digits} digits, too many for a phone number: write 7 to 15 digits with the country code and no extension, as in {EXAMPLE}"
    )]
    TooLong {
        /// The whole input.
        input: String,
        /// How many digits it has.
        digits: usize,
    },

    /// The digits after `+` do not start with a country calling code that exists.
    #[error(
        "{input:?} does not start with a country calling code that exists: write + and the country code first, as in +1 555 123 4567 (US) or +44 7911 123456 (UK)"
    )]
    UnknownCountryCode {
        /// The whole input.
        input: String,
    },

    /// A national number (no `+`, no country code) and no default region to read it in.
    #[error("{input:?} is a national number and needs a country code: write {suggestion}")]
    MissingCountryCode {
        /// The whole input.
        input: String,
        /// A concrete suggestion, such as `+15551234567 if it is a US or Canadian number`.
        suggestion: String,
    },

    /// Strict mode only: the number is well formed but not valid in its country's numbering
    /// plan (test numbers such as `+15551234567` are in this class).
    #[error(
        "{number} is not a valid number in its country's numbering plan{}: check it, or parse without strict mode to accept test numbers",
        did_you_mean(.suggestion.as_ref())
    )]
    NotValidInNumberingPlan {
        /// The number as parsed.
        number: E164,
        /// What the numbering plan reads the digits as, when that differs and is valid
        /// (`+4407911123456` → `+447911123456`: a national `0` written after the country code).
        suggestion: Option<E164>,
    },

    /// A region code that is not an ISO 3166-1 alpha-2 code known to the numbering plan.
    #[error(
        "unknown region {input:?}: write an ISO 3166 two-letter country code such as US, GB or DE"
    )]
    UnknownRegion {
        /// The region as written.
        input: String,
    },

    /// An `accessGroup:` allow entry without a group name.
    #[error("{input:?} names no access group: write accessGroup:<name>")]
    EmptyAccessGroup {
        /// The whole input.
        input: String,
    },

    /// A voice caller id that is none of the forms Twilio sends (see
    /// [`CallerId`](crate::CallerId)).
    #[error(
        "{input:?} is not a caller id ({reason}): write a number such as {EXAMPLE}, client:NAME, sip:user@host, or anonymous"
    )]
    InvalidCallerId {
        /// The input as written (at most [`MAX_CALLER_ID_LEN`](crate::MAX_CALLER_ID_LEN)
        /// characters of it).
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// One entry of an allow list is invalid.
    #[error("allow-list entry {index} ({entry:?}): {reason}")]
    InvalidAllowEntry {
        /// The entry's zero-based position in the list as given (blank entries count).
        index: usize,
        /// The entry as written.
        entry: String,
        /// Why it was refused.
        reason: Box<ParseTargetError>,
    },
}

/// `"; did you mean +447911123456?"` or nothing.
pub(crate) fn did_you_mean(suggestion: Option<&E164>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean {s}?)"))
}
