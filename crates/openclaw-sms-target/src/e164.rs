//! The [`E164`] newtype, [`Region`], numbering-plan warnings and the digit scanner they share.

use std::fmt;
use std::str::FromStr;

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, Type};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{EXAMPLE, ParseTargetError, did_you_mean};

/// Fewest digits an E.164 number may have, country code included (as upstream's
/// `^\+[1-9]\d{6,14}$`).
pub const MIN_DIGITS: usize = 7;

/// Most digits an E.164 number may have, country code included (ITU-T E.164).
pub const MAX_DIGITS: usize = 15;

/// Longest input, in bytes, that any parser here looks at. A written phone number with
/// prefix, separators and spaces fits easily; longer input is refused before it is scanned or
/// quoted in an error.
pub const MAX_INPUT_LEN: usize = 128;

/// Longest country calling code, in digits (ITU-T E.164).
const MAX_COUNTRY_CODE_DIGITS: usize = 3;

/// Number types that make a number valid in its numbering plan (libphonenumber's
/// `isValidNumber`: any type but unknown).
const VALID_TYPES: &[Type] = &[
    Type::FixedLine,
    Type::Mobile,
    Type::TollFree,
    Type::PremiumRate,
    Type::SharedCost,
    Type::PersonalNumber,
    Type::Voip,
    Type::Pager,
    Type::Uan,
    Type::Voicemail,
];

/// A phone number in E.164 form: `+`, a country calling code that exists, 7 to 15 digits in
/// all. Displays (and serialises) as `+15551234567`.
///
/// Acceptance is structural: the numbering-plan check (is this range allocated?) is a
/// separate, advisory [`E164::plan_warning`], because the product's own examples
/// (`+15551234567`) and Twilio's test numbers are not valid in the plan and must work
/// everywhere.
///
/// The digits are kept exactly as written. `phonenumber` on its own would rewrite some
/// numbers (it reads `+78001234567`, a Russian freephone number, as `+7001234567`) and would
/// accept 16 digits, letters and `whatsapp:` prefixes, so it serves here for country codes,
/// the numbering plan and national formats only.
///
/// ```
/// use openclaw_sms_target::E164;
///
/// let number = E164::parse("+1 (555) 123-4567")?;
/// assert_eq!(number.as_str(), "+15551234567");
/// assert_eq!(number.country_code(), 1);
/// assert_eq!(number.to_string().parse::<E164>()?, number);
/// # Ok::<(), openclaw_sms_target::ParseTargetError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164 {
    /// `+` and 7 to 15 ASCII digits. Sole field that takes part in comparisons, because
    /// `cc_len` is a function of it.
    text: String,
    /// Number of digits of the country calling code (1 to 3).
    cc_len: u8,
}

impl E164 {
    /// Parses a bare E.164 number: `+`, then digits, optionally grouped with spaces, dashes,
    /// dots or parentheses. Surrounding whitespace is ignored. Prefixes (`sms:`) and national
    /// formats are [`Target::parse`](crate::Target::parse)'s job.
    ///
    /// Never refuses a number for the numbering plan; see [`E164::plan_warning`].
    pub fn parse(input: &str) -> Result<Self, ParseTargetError> {
        let trimmed = check_len(input)?.trim();
        if trimmed.is_empty() {
            return Err(ParseTargetError::Empty);
        }
        let scanned = Scanned::scan(trimmed, input)?;
        if !scanned.plus {
            return Err(missing_country_code(input, &scanned.digits));
        }
        Self::from_digits(&scanned.digits, input)
    }

    /// Builds the number from its digits (no `+`), checking the structure. `input` is what
    /// errors quote.
    pub(crate) fn from_digits(digits: &str, input: &str) -> Result<Self, ParseTargetError> {
        let count = digits.len();
        if count < MIN_DIGITS {
            return Err(ParseTargetError::TooShort {
                input: input.to_owned(),
                digits: count,
            });
        }
        if count > MAX_DIGITS {
            return Err(ParseTargetError::TooLong {
                input: input.to_owned(),
                digits: count,
            });
        }
        let cc_len =
            country_code_len(digits).ok_or_else(|| ParseTargetError::UnknownCountryCode {
                input: input.to_owned(),
            })?;
        Ok(Self {
            text: format!("+{digits}"),
            cc_len,
        })
    }

    /// The number as `+15551234567`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The digits without the `+`: `15551234567`.
    #[must_use]
    pub fn digits(&self) -> &str {
        // Invariant: `text` always starts with the one-byte `+`.
        &self.text[1..]
    }

    /// The country calling code: `1` for `+15551234567`, `44` for `+447911123456`.
    #[must_use]
    pub fn country_code(&self) -> u16 {
        // Invariant: the first `cc_len` (1 to 3) characters of `digits()` are ASCII digits, so
        // they always fit a `u16`; 0 is unreachable.
        self.digits()[..usize::from(self.cc_len)]
            .parse()
            .unwrap_or(0)
    }

    /// The national significant number: the digits after the country code.
    #[must_use]
    pub fn national_digits(&self) -> &str {
        &self.digits()[usize::from(self.cc_len)..]
    }

    /// The region the numbering plan places the number in (`+44 7911…` → `GB`), when it knows
    /// one: the only region of its country code, or the one whose leading digits match.
    /// `+1` numbers outside any region's ranges read as the code's main region (`US`).
    #[must_use]
    pub fn region(&self) -> Option<Region> {
        let id = phonenumber::parse(None, self.as_str())
            .ok()?
            .country()
            .id()?;
        DATABASE.by_id(id.as_ref()).map(|_| Region(id))
    }

    /// Checks the number against its country's numbering plan (libphonenumber metadata, via
    /// `phonenumber`). `None` means valid. A warning does not make the number unusable: test
    /// numbers such as `+15551234567` are not valid, and Twilio's `+15005550006` is.
    ///
    /// Cost: tens of microseconds once `phonenumber` has compiled the country's patterns. It
    /// keeps only 100 compiled patterns, so a stream of numbers from many countries can cost
    /// milliseconds per check. [`Target::parse`](crate::Target::parse) runs it (for its
    /// warnings); [`E164::parse`], [`InboundSender::parse`](crate::InboundSender::parse) and
    /// [`AllowEntry::parse`](crate::AllowEntry::parse) do not (unless strict).
    ///
    /// ```
    /// use openclaw_sms_target::E164;
    ///
    /// assert!(E164::parse("+14155552671")?.plan_warning().is_none());
    /// assert!(E164::parse("+15551234567")?.plan_warning().is_some());
    /// # Ok::<(), openclaw_sms_target::ParseTargetError>(())
    /// ```
    #[must_use]
    pub fn plan_warning(&self) -> Option<NumberWarning> {
        let reading = phonenumber::parse(None, self.as_str()).ok();
        let read_as = reading
            .as_ref()
            .map(|n| n.format().mode(Mode::E164).to_string());
        let valid = match (&reading, &read_as) {
            // libphonenumber reads the digits as written: its verdict stands.
            (Some(n), Some(text)) if *text == self.text => n.is_valid(),
            // It reads them differently (it strips what it takes for a national prefix, as in
            // `+7 800…`): judge the digits as written against the metadata.
            _ => self.matches_plan_exactly(),
        };
        if valid {
            return None;
        }
        // Offer libphonenumber's reading (`+44 0 7911…` → `+44 7911…`) when it is valid itself.
        let suggestion = reading
            .filter(phonenumber::PhoneNumber::is_valid)
            .and(read_as)
            .and_then(|text| text.strip_prefix('+').map(str::to_owned))
            .and_then(|digits| Self::from_digits(&digits, &digits).ok())
            .filter(|s| s != self);
        Some(NumberWarning::NotValidInNumberingPlan {
            number: self.clone(),
            suggestion,
        })
    }

    /// Whether the national digits, exactly as written, match a valid number type of a
    /// region with this country code. Checks the general pattern first, so that only the
    /// matching regions' type patterns are compiled (`phonenumber` keeps only 100 compiled
    /// patterns).
    fn matches_plan_exactly(&self) -> bool {
        let national = self.national_digits();
        DATABASE.by_code(&self.country_code()).is_some_and(|metas| {
            metas.iter().any(|meta| {
                let d = meta.descriptors();
                d.general().is_match(national)
                    && VALID_TYPES
                        .iter()
                        .any(|t| d.get(*t).is_some_and(|desc| desc.is_match(national)))
            })
        })
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.text)
    }
}

impl FromStr for E164 {
    type Err = ParseTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for E164 {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl From<E164> for String {
    fn from(number: E164) -> Self {
        number.text
    }
}

impl Serialize for E164 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for E164 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A numbering-plan finding that does not stop a number from being used (unless the caller
/// asked for [strict](crate::ParseOptions::strict) parsing).
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum NumberWarning {
    /// The number is well formed but its range is not allocated in its country's numbering
    /// plan. Expected for test numbers such as `+15551234567`; a typo otherwise.
    #[error(
        "{number} is not a valid number in its country's numbering plan{}; fine for test numbers, but carriers may refuse it",
        did_you_mean(.suggestion.as_ref())
    )]
    NotValidInNumberingPlan {
        /// The number.
        number: E164,
        /// What the numbering plan reads the digits as, when that differs and is valid.
        suggestion: Option<E164>,
    },
}

/// A region (ISO 3166-1 alpha-2 country code known to the numbering plan) in which national
/// numbers such as `(415) 555-2671` are read. Parses case-insensitively; displays and
/// serialises upper-case.
///
/// ```
/// use openclaw_sms_target::Region;
///
/// let us: Region = "us".parse()?;
/// assert_eq!(us.to_string(), "US");
/// # Ok::<(), openclaw_sms_target::ParseTargetError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(phonenumber::country::Id);

impl Region {
    /// Parses a two-letter region code, case-insensitively (`US`, `gb`).
    pub fn parse(input: &str) -> Result<Self, ParseTargetError> {
        let code = input.trim();
        let unknown = || ParseTargetError::UnknownRegion {
            input: input.chars().take(MAX_INPUT_LEN).collect(),
        };
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(unknown());
        }
        let id = phonenumber::country::Id::from_str(&code.to_ascii_uppercase())
            .map_err(|_| unknown())?;
        // Only regions the numbering plan has metadata for can read national numbers.
        if DATABASE.by_id(id.as_ref()).is_none() {
            return Err(unknown());
        }
        Ok(Self(id))
    }

    /// The two-letter code, upper-case.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        // `Id::as_ref` borrows from `self` in its signature, but the strings are the variant
        // names, so look the static one up through the database's key instead.
        region_name(self.0)
    }

    pub(crate) fn id(self) -> phonenumber::country::Id {
        self.0
    }
}

/// The static name of a region id.
fn region_name(id: phonenumber::country::Id) -> &'static str {
    DATABASE
        .by_id(id.as_ref())
        .map_or("ZZ", phonenumber::Metadata::id)
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({})", self.as_str())
    }
}

impl FromStr for Region {
    type Err = ParseTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The plan warnings for `number`, or, in strict mode, the error they turn into.
pub(crate) fn plan_check(
    number: &E164,
    strict: bool,
) -> Result<Vec<NumberWarning>, ParseTargetError> {
    match number.plan_warning() {
        None => Ok(Vec::new()),
        Some(NumberWarning::NotValidInNumberingPlan { number, suggestion }) if strict => {
            Err(ParseTargetError::NotValidInNumberingPlan { number, suggestion })
        }
        Some(warning) => Ok(vec![warning]),
    }
}

/// Refuses input longer than [`MAX_INPUT_LEN`].
pub(crate) fn check_len(input: &str) -> Result<&str, ParseTargetError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(ParseTargetError::InputTooLong {
            len: input.len(),
            max: MAX_INPUT_LEN,
        });
    }
    Ok(input)
}

/// Every country calling code libphonenumber's metadata knows, sorted. Kept as a table so that
/// the structural check does not load the whole metadata (slow the first time, which would
/// delay a gateway's start); a test checks it against `phonenumber`'s database.
pub(crate) const COUNTRY_CODES: &[u16] = &[
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54,
    55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211,
    212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234,
    235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253,
    254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298,
    299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377,
    378, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505, 506,
    507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675, 676,
    677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850, 852,
    853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966, 967,
    968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

/// The length of the country calling code that `digits` starts with, if one exists.
/// Country calling codes are prefix-free, so the first hit is the only one.
fn country_code_len(digits: &str) -> Option<u8> {
    (1..=MAX_COUNTRY_CODE_DIGITS.min(digits.len())).find_map(|len| {
        let code: u16 = digits.get(..len)?.parse().ok()?;
        // Country calling codes never start with 0.
        let exists = !digits.starts_with('0') && COUNTRY_CODES.binary_search(&code).is_ok();
        // `len` is at most 3.
        exists.then(|| u8::try_from(len).ok()).flatten()
    })
}

/// Whether national digits could be a US or Canadian number after `+1`: ten digits, the area
/// code not starting with 0 or 1.
fn is_nanp_shaped(national: &str) -> bool {
    national.len() == 10 && !national.starts_with(['0', '1'])
}

/// The error for a number written without a country code, with a concrete suggestion.
pub(crate) fn missing_country_code(input: &str, digits: &str) -> ParseTargetError {
    let national = digits.trim_start_matches('0');
    let suggestion = if national.is_empty() {
        format!("+ and the country code, as in {EXAMPLE}")
    } else if is_nanp_shaped(national) {
        format!(
            "+ and the country code before it, as in +1{national} if it is a US or Canadian number"
        )
    } else {
        // `555-1234` has no area code: `+15551234` would be no number at all.
        format!("+, the country code and the whole number (area code included), as in {EXAMPLE}")
    };
    ParseTargetError::MissingCountryCode {
        input: input.to_owned(),
        suggestion,
    }
}

/// A number as written, reduced to its digits.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// Whether it opened with `+`.
    pub(crate) plus: bool,
    /// The ASCII digits (at most [`MAX_DIGITS`]: more are refused).
    pub(crate) digits: String,
}

impl Scanned {
    /// Scans `number` (already trimmed, prefix removed). `input` is what errors quote.
    pub(crate) fn scan(number: &str, input: &str) -> Result<Self, ParseTargetError> {
        let mut plus = false;
        let mut digits = String::with_capacity(MAX_DIGITS + 1);
        let mut count = 0usize;
        let mut seen_any = false;
        for ch in number.chars() {
            match ch {
                '0'..='9' => {
                    count += 1;
                    if digits.len() <= MAX_DIGITS {
                        digits.push(ch);
                    }
                }
                '+' if !seen_any => plus = true,
                '+' => {
                    return Err(ParseTargetError::MisplacedPlus {
                        input: input.to_owned(),
                    });
                }
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                c if c.is_alphabetic() => {
                    return Err(ParseTargetError::Letters {
                        input: input.to_owned(),
                    });
                }
                c => {
                    return Err(ParseTargetError::InvalidCharacter {
                        input: input.to_owned(),
                        ch: c,
                    });
                }
            }
            seen_any = true;
        }
        if count > MAX_DIGITS {
            return Err(ParseTargetError::TooLong {
                input: input.to_owned(),
                digits: count,
            });
        }
        Ok(Self { plus, digits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(canonical)` or `Err(first words of the message)`.
    fn check(input: &str, expected: Result<&str, &str>) {
        let got = E164::parse(input)
            .map(|n| n.to_string())
            .map_err(|e| e.to_string());
        match (&got, expected) {
            (Ok(n), Ok(want)) => assert_eq!(n, want, "input {input:?}"),
            (Err(msg), Err(want)) => assert!(msg.contains(want), "input {input:?}: {msg}"),
            _ => panic!("input {input:?}: got {got:?}, want {expected:?}"),
        }
    }

    #[test]
    fn parse_table() {
        check("+15551234567", Ok("+15551234567"));
        check("  +1 (555) 123-4567 ", Ok("+15551234567"));
        check("+1.555.123.4567", Ok("+15551234567"));
        check("+78001234567", Ok("+78001234567"));
        check("+4407911123456", Ok("+4407911123456"));
        check("+390612345678", Ok("+390612345678"));
        check("+80012345678", Ok("+80012345678"));
        check("+1234567", Ok("+1234567"));
        check("+123456789012345", Ok("+123456789012345"));
        check("+123456", Err("has 6 digits, too few"));
        check("+1234567890123456", Err("has 16 digits, too many"));
        check("+999123456789", Err("country calling code that exists"));
        check("+0123456789", Err("country calling code that exists"));
        check("", Err("empty phone number"));
        check("   ", Err("empty phone number"));
        check(
            "5551234567",
            Err("needs a country code: write + and the country code before it, as in +15551234567"),
        );
        check("++15551234567", Err("a `+` may only open the number"));
        check("+1555+1234567", Err("a `+` may only open the number"));
        check("+1 800 FLOWERS", Err("contains letters"));
        check("+15551234567;ext=1", Err("contains ';'"));
        check("sms:+15551234567", Err("contains letters"));
        check(&"1".repeat(200), Err("more than the 128"));
    }

    #[test]
    fn parts() {
        let n = E164::parse("+447911123456").unwrap();
        assert_eq!(
            (n.country_code(), n.national_digits(), n.digits()),
            (44, "7911123456", "447911123456")
        );
        let n = E164::parse("+12425550123").unwrap();
        assert_eq!(n.country_code(), 1);
        let n = E164::parse("+971501234567").unwrap();
        assert_eq!((n.country_code(), n.national_digits()), (971, "501234567"));
    }

    /// `None` = valid in the plan; `Some(None)` = warning without suggestion;
    /// `Some(Some(s))` = warning suggesting `s`.
    fn check_plan(input: &str, expected: Option<Option<&str>>) {
        let n = E164::parse(input).unwrap();
        let got = n.plan_warning().map(|w| match w {
            NumberWarning::NotValidInNumberingPlan { suggestion, .. } => {
                suggestion.map(|s| s.to_string())
            }
        });
        assert_eq!(
            got,
            expected.map(|s| s.map(str::to_owned)),
            "input {input:?}"
        );
    }

    #[test]
    fn plan_table() {
        check_plan("+14155552671", None);
        check_plan("+15005550006", None); // Twilio magic test number: valid (personal number)
        check_plan("+447911123456", None);
        check_plan("+33612345678", None);
        check_plan("+390612345678", None); // Italian fixed line keeps its 0
        check_plan("+78001234567", None); // Russian freephone, which phonenumber alone mangles
        check_plan("+15551234567", Some(None)); // the product page's example: fictional
        check_plan("+15557654321", Some(None));
        check_plan("+1234567", Some(None));
        check_plan("+4407911123456", Some(Some("+447911123456")));
        check_plan("+4903012345678", Some(Some("+493012345678")));
    }

    fn check_region(input: &str, expected: Option<&str>) {
        let got = Region::parse(input).ok().map(|r| r.to_string());
        assert_eq!(got.as_deref(), expected, "input {input:?}");
    }

    #[test]
    fn region_table() {
        check_region("US", Some("US"));
        check_region("us", Some("US"));
        check_region(" gb ", Some("GB"));
        check_region("DE", Some("DE"));
        check_region("ZZ", None);
        check_region("USA", None);
        check_region("", None);
        check_region("1A", None);
        check_region("ÜS", None);
    }

    #[test]
    fn serde_round_trip() {
        let n = E164::parse("+15551234567").unwrap();
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(json, "\"+15551234567\"");
        assert_eq!(serde_json::from_str::<E164>(&json).unwrap(), n);
        let err = serde_json::from_str::<E164>("\"whatsapp:+1555\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("contains letters"), "{err}");
        let r: Region = serde_json::from_str("\"gb\"").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"GB\"");
    }
}

#[cfg(test)]
mod country_code_table {
    use super::*;

    #[test]
    fn table_matches_the_metadata() {
        let from_metadata: Vec<u16> = (1..1000)
            .filter(|c| DATABASE.by_code(c).is_some())
            .collect();
        assert_eq!(COUNTRY_CODES, from_metadata.as_slice());
    }
}
