//! SMS targets (`sms:`, `twilio-sms:`, bare and national numbers) and inbound senders.

use std::fmt;
use std::str::FromStr;

use phonenumber::Mode;

use crate::e164::{
    E164, NumberWarning, Region, Scanned, check_len, missing_country_code, plan_check,
};
use crate::error::{EXAMPLE, ParseTargetError};

/// How to read a number: in which region national formats are read, and whether the
/// numbering-plan check refuses or only warns.
///
/// ```
/// use openclaw_sms_target::{ParseOptions, Region, Target};
///
/// let options = ParseOptions::new().with_default_region("US".parse::<Region>()?);
/// let target = Target::parse("(415) 555-2671", &options)?;
/// assert_eq!(target.number().as_str(), "+14155552671");
/// # Ok::<(), openclaw_sms_target::ParseTargetError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Region in which numbers written without `+` are read (`(415) 555-2671` with `US` is
    /// `+14155552671`; `07911 123456` with `GB` is `+447911123456`). `None` (the default):
    /// such numbers are refused with a hint, never guessed.
    pub default_region: Option<Region>,
    /// Refuse numbers that are not valid in their country's numbering plan instead of
    /// returning a [`NumberWarning`]. Off by default: test numbers such as `+15551234567`
    /// are not valid in the plan.
    pub strict: bool,
    /// Skip the numbering-plan check when not strict, so no [`NumberWarning`] is computed.
    /// The check loads libphonenumber's patterns, which is slow the first time; start-up
    /// paths skip it and report plan warnings later (see [`E164::plan_warning`]).
    pub skip_plan_warnings: bool,
}

impl ParseOptions {
    /// The defaults: no region, not strict, plan warnings computed.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ParseOptions::skip_plan_warnings`].
    #[must_use]
    pub fn with_skip_plan_warnings(mut self, skip: bool) -> Self {
        self.skip_plan_warnings = skip;
        self
    }

    /// Reads national numbers in `region`.
    #[must_use]
    pub fn with_default_region(mut self, region: Region) -> Self {
        self.default_region = Some(region);
        self
    }

    /// Sets [`ParseOptions::strict`].
    #[must_use]
    pub fn with_strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
}

/// The prefix a target was written with. The gateway uses it to route: `twilio-sms:` selects
/// the SMS channel on its own, while `sms:` belongs to iMessage's carrier-SMS service unless
/// the command says `--channel sms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TargetPrefix {
    /// A bare number: `+15551234567`.
    #[default]
    None,
    /// `sms:+15551234567` (any case).
    Sms,
    /// `twilio-sms:+15551234567` (any case).
    TwilioSms,
}

impl TargetPrefix {
    /// The prefix in its canonical spelling, colon included: `""`, `"sms:"`, `"twilio-sms:"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Sms => "sms:",
            Self::TwilioSms => "twilio-sms:",
        }
    }
}

/// A parsed SMS target: the number, the prefix it came with, and numbering-plan warnings.
///
/// ```
/// use openclaw_sms_target::{ParseOptions, Target, TargetPrefix};
///
/// let target = Target::parse("TWILIO-SMS:+1 555 123 4567", &ParseOptions::default())?;
/// assert_eq!(target.number().as_str(), "+15551234567");
/// assert_eq!(target.prefix(), TargetPrefix::TwilioSms);
/// assert_eq!(target.to_string(), "twilio-sms:+15551234567");
/// // A fictional number: usable, with a warning.
/// assert_eq!(target.warnings().len(), 1);
///
/// let err = Target::parse("whatsapp:+15551234567", &ParseOptions::default()).unwrap_err();
/// assert!(err.to_string().contains("write +15551234567, sms:+15551234567"));
/// # Ok::<(), openclaw_sms_target::ParseTargetError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    number: E164,
    prefix: TargetPrefix,
    warnings: Vec<NumberWarning>,
}

impl Target {
    /// Parses what a person or an agent wrote as an SMS target: `+15551234567`,
    /// `sms:+15551234567`, `twilio-sms:+15551234567` (prefixes case-insensitive, exactly one,
    /// spaces around them ignored), or a national number when `options` names a region.
    pub fn parse(input: &str, options: &ParseOptions) -> Result<Self, ParseTargetError> {
        let (prefix, rest) = split_target_prefix(input)?;
        let number = parse_number(rest, input, options.default_region)?;
        let warnings = if options.skip_plan_warnings && !options.strict {
            Vec::new()
        } else {
            plan_check(&number, options.strict)?
        };
        Ok(Self {
            number,
            prefix,
            warnings,
        })
    }

    /// The number.
    #[must_use]
    pub fn number(&self) -> &E164 {
        &self.number
    }

    /// The prefix the target was written with.
    #[must_use]
    pub fn prefix(&self) -> TargetPrefix {
        self.prefix
    }

    /// Numbering-plan warnings (empty in strict mode, which refuses instead).
    #[must_use]
    pub fn warnings(&self) -> &[NumberWarning] {
        &self.warnings
    }

    /// The number, dropping prefix and warnings.
    #[must_use]
    pub fn into_number(self) -> E164 {
        self.number
    }
}

/// `twilio-sms:+15551234567`: the prefix as written (canonical spelling) and the number.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.prefix.as_str(), self.number)
    }
}

/// Parses with [`ParseOptions::default`].
impl FromStr for Target {
    type Err = ParseTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s, &ParseOptions::default())
    }
}

/// The sender of an inbound message, from Twilio's `From` field: a number, reached over SMS
/// or over RCS (`rcs:+15551234567`).
///
/// ```
/// use openclaw_sms_target::InboundSender;
///
/// let sender = InboundSender::parse("rcs:+15551234567")?;
/// assert_eq!(sender.number().as_str(), "+15551234567");
/// assert!(sender.is_rcs());
/// assert!(InboundSender::parse("whatsapp:+15551234567").is_err());
/// # Ok::<(), openclaw_sms_target::ParseTargetError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InboundSender {
    number: E164,
    rcs: bool,
}

impl InboundSender {
    /// Parses Twilio's `From`: `+E164`, or `rcs:+E164` (prefix in any case). Any other
    /// prefix (`whatsapp:`, `signal:`, `sms:`) is refused, as upstream does. A missing `+` is
    /// supplied (upstream does the same). Never refuses for the numbering plan.
    pub fn parse(from: &str) -> Result<Self, ParseTargetError> {
        let trimmed = check_len(from)?.trim();
        let (rcs, rest) = match split_scheme(trimmed) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("rcs") => (true, rest.trim()),
            Some((scheme, rest)) => {
                return Err(unsupported_prefix(from, scheme, rest));
            }
            None => (false, trimmed),
        };
        if split_scheme(rest).is_some() {
            return Err(ParseTargetError::DoublePrefix {
                input: from.to_owned(),
            });
        }
        if rest.is_empty() {
            return Err(ParseTargetError::Empty);
        }
        let scanned = Scanned::scan(rest, from)?;
        let number = E164::from_digits(&scanned.digits, from)?;
        Ok(Self { number, rcs })
    }

    /// The sender's number.
    #[must_use]
    pub fn number(&self) -> &E164 {
        &self.number
    }

    /// Whether the message came over RCS (`From` was `rcs:+…`).
    #[must_use]
    pub fn is_rcs(&self) -> bool {
        self.rcs
    }
}

/// Splits `scheme:rest` where the scheme matches `[A-Za-z][A-Za-z0-9-]*` (upstream's pattern).
pub(crate) fn split_scheme(input: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = input.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    (first.is_ascii_alphabetic() && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then_some((scheme, rest))
}

/// Removes one `sms:`/`twilio-sms:` prefix; refuses any other prefix and a second one.
/// Returns the trimmed rest.
pub(crate) fn split_target_prefix(input: &str) -> Result<(TargetPrefix, &str), ParseTargetError> {
    let trimmed = check_len(input)?.trim();
    if trimmed.is_empty() {
        return Err(ParseTargetError::Empty);
    }
    let (prefix, rest) = match split_scheme(trimmed) {
        None => return Ok((TargetPrefix::None, trimmed)),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("sms") => (TargetPrefix::Sms, rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("twilio-sms") => {
            (TargetPrefix::TwilioSms, rest)
        }
        Some((scheme, rest)) => return Err(unsupported_prefix(input, scheme, rest)),
    };
    let rest = rest.trim();
    if split_scheme(rest).is_some() {
        return Err(ParseTargetError::DoublePrefix {
            input: input.to_owned(),
        });
    }
    if rest.is_empty() {
        return Err(ParseTargetError::Empty);
    }
    Ok((prefix, rest))
}

fn unsupported_prefix(input: &str, scheme: &str, rest: &str) -> ParseTargetError {
    let example = E164::parse(rest).map_or_else(|_| EXAMPLE.to_owned(), |n| n.to_string());
    ParseTargetError::UnsupportedPrefix {
        input: input.to_owned(),
        prefix: scheme.to_owned(),
        example,
    }
}

/// Parses the number part of a target (prefix removed, trimmed, non-empty). `input` is what
/// errors quote.
pub(crate) fn parse_number(
    number: &str,
    input: &str,
    region: Option<Region>,
) -> Result<E164, ParseTargetError> {
    let scanned = Scanned::scan(number, input)?;
    if scanned.plus {
        return E164::from_digits(&scanned.digits, input);
    }
    let Some(region) = region else {
        return Err(missing_country_code(input, &scanned.digits));
    };
    // National (or IDD, or country-code-without-plus) formats: phonenumber reads them in the
    // region. Only digits reach it, so none of its lenient extraction applies.
    let parsed = phonenumber::parse(Some(region.id()), &scanned.digits).map_err(|e| {
        let count = scanned.digits.len();
        match e {
            phonenumber::ParseError::InvalidCountryCode => ParseTargetError::UnknownCountryCode {
                input: input.to_owned(),
            },
            phonenumber::ParseError::TooLong | phonenumber::ParseError::MalformedInteger(_) => {
                ParseTargetError::TooLong {
                    input: input.to_owned(),
                    digits: count,
                }
            }
            _ => ParseTargetError::TooShort {
                input: input.to_owned(),
                digits: count,
            },
        }
    })?;
    let formatted = parsed.format().mode(Mode::E164).to_string();
    let digits = formatted.strip_prefix('+').unwrap_or(&formatted);
    E164::from_digits(digits, input)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok("prefix|number|warnings")` or `Err(part of the message)`.
    fn check(input: &str, options: ParseOptions, expected: Result<&str, &str>) {
        let got = Target::parse(input, &options)
            .map(|t| {
                format!(
                    "{}|{}|{}",
                    t.prefix().as_str(),
                    t.number(),
                    t.warnings().len()
                )
            })
            .map_err(|e| e.to_string());
        match (&got, expected) {
            (Ok(t), Ok(want)) => assert_eq!(t, want, "input {input:?}"),
            (Err(msg), Err(want)) => assert!(msg.contains(want), "input {input:?}: {msg}"),
            _ => panic!("input {input:?}: got {got:?}, want {expected:?}"),
        }
    }

    fn us() -> ParseOptions {
        ParseOptions::new().with_default_region(Region::parse("US").unwrap())
    }

    fn gb() -> ParseOptions {
        ParseOptions::new().with_default_region(Region::parse("GB").unwrap())
    }

    fn strict() -> ParseOptions {
        ParseOptions::new().with_strict(true)
    }

    #[test]
    fn target_table() {
        let d = ParseOptions::default();
        // Accepted forms.
        check("+15551234567", d, Ok("|+15551234567|1"));
        check("sms:+15551234567", d, Ok("sms:|+15551234567|1"));
        check("SMS:+15551234567", d, Ok("sms:|+15551234567|1"));
        check(
            "twilio-sms:+15557654321",
            d,
            Ok("twilio-sms:|+15557654321|1"),
        );
        check(
            "Twilio-SMS: +1 415 555 2671",
            d,
            Ok("twilio-sms:|+14155552671|0"),
        );
        check("  sms: +1 (415) 555-2671  ", d, Ok("sms:|+14155552671|0"));
        check("+15005550006", d, Ok("|+15005550006|0"));
        check("+447911123456", d, Ok("|+447911123456|0"));
        // National formats need a region.
        check("(415) 555-2671", us(), Ok("|+14155552671|0"));
        check("sms:(415) 555-2671", us(), Ok("sms:|+14155552671|0"));
        check("415-555-2671", us(), Ok("|+14155552671|0"));
        check("1 415 555 2671", us(), Ok("|+14155552671|0"));
        check("011 44 7911 123456", us(), Ok("|+447911123456|0"));
        check("(555) 123-4567", us(), Ok("|+15551234567|1"));
        check("07911 123456", gb(), Ok("|+447911123456|0"));
        check("+15551234567", gb(), Ok("|+15551234567|1"));
        check(
            "(555) 123-4567",
            d,
            Err(
                "\"(555) 123-4567\" is a national number and needs a country code: write + and the country code before it, as in +15551234567 if it is a US or Canadian number",
            ),
        );
        check("15551234567", d, Err("needs a country code"));
        check("07911 123456", d, Err("as in +17911123456"));
        // Seven digits have no area code: no `+1…` guess, which would be no number.
        check(
            "555-1234",
            d,
            Err(
                "\"555-1234\" is a national number and needs a country code: write +, the country code and the whole number (area code included), as in +15551234567",
            ),
        );
        // Strict mode.
        check(
            "+15551234567",
            strict(),
            Err("+15551234567 is not a valid number in its country's numbering plan: check it"),
        );
        check(
            "+4407911123456",
            strict(),
            Err("(did you mean +447911123456?)"),
        );
        check("+14155552671", strict(), Ok("|+14155552671|0"));
        check(
            "(555) 123-4567",
            us().with_strict(true),
            Err("not a valid number"),
        );
        // Refusals.
        check("", d, Err("empty phone number"));
        check("sms:", d, Err("empty phone number"));
        check("twilio-sms:   ", d, Err("empty phone number"));
        check(
            "whatsapp:+14155552671",
            d,
            Err(
                "`whatsapp:` is not an SMS prefix: write +14155552671, sms:+14155552671 or twilio-sms:+14155552671",
            ),
        );
        check(
            "signal:+15551234567",
            d,
            Err("`signal:` is not an SMS prefix"),
        );
        check("rcs:+15551234567", d, Err("`rcs:` is not an SMS prefix"));
        check("tel:+15551234567", d, Err("`tel:` is not an SMS prefix"));
        check(
            "whatsapp:hello",
            d,
            Err("write +15551234567, sms:+15551234567"),
        );
        check("sms:sms:+15551234567", d, Err("more than one prefix"));
        check(
            "sms:twilio-sms:+15551234567",
            d,
            Err("more than one prefix"),
        );
        check(
            "twilio-sms:whatsapp:+15551234567",
            d,
            Err("more than one prefix"),
        );
        check("abc", d, Err("contains letters"));
        check("+1 800 FLOWERS", d, Err("contains letters"));
        check("+1 415 555 2671 x12", d, Err("contains letters"));
        check("+1-415-555-2671#", d, Err("contains '#'"));
        check("++15551234567", d, Err("a `+` may only open the number"));
        check("+12345", d, Err("has 5 digits, too few"));
        check("+1234567890123456", d, Err("has 16 digits, too many"));
        check("+999 123 4567", d, Err("country calling code that exists"));
        check(
            "+0 555 123 4567",
            d,
            Err("country calling code that exists"),
        );
        check("12", us(), Err("too few"));
    }

    /// `Ok("number|rcs")` or `Err(part of the message)`.
    fn check_inbound(from: &str, expected: Result<&str, &str>) {
        let got = InboundSender::parse(from)
            .map(|s| format!("{}|{}", s.number(), s.is_rcs()))
            .map_err(|e| e.to_string());
        match (&got, expected) {
            (Ok(t), Ok(want)) => assert_eq!(t, want, "from {from:?}"),
            (Err(msg), Err(want)) => assert!(msg.contains(want), "from {from:?}: {msg}"),
            _ => panic!("from {from:?}: got {got:?}, want {expected:?}"),
        }
    }

    #[test]
    fn inbound_table() {
        check_inbound("+15551234567", Ok("+15551234567|false"));
        check_inbound(" +15551234567 ", Ok("+15551234567|false"));
        check_inbound("rcs:+15551234567", Ok("+15551234567|true"));
        check_inbound("RCS:+15551234567", Ok("+15551234567|true"));
        check_inbound("15551234567", Ok("+15551234567|false"));
        check_inbound(
            "whatsapp:+15551234567",
            Err("`whatsapp:` is not an SMS prefix"),
        );
        check_inbound("sms:+15551234567", Err("`sms:` is not an SMS prefix"));
        check_inbound("rcs:rcs:+15551234567", Err("more than one prefix"));
        check_inbound("rcs:", Err("empty"));
        check_inbound("", Err("empty"));
        check_inbound("22395", Err("too few"));
        check_inbound("OpenClaw", Err("contains letters"));
    }
}
