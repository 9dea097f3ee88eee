//! Allow-list entries (`allowFrom`, `SMS_ALLOWED_USERS`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::e164::{E164, check_len, plan_check};
use crate::error::ParseTargetError;
use crate::target::{ParseOptions, parse_number, split_target_prefix};

/// The prefix of an access-group entry, kept verbatim.
pub const ACCESS_GROUP_PREFIX: &str = "accessGroup:";

/// One `allowFrom` entry: everyone, one number, or a named access group.
///
/// Displays (and serialises) in the canonical stored form: `*`, `+15551234567`,
/// `accessGroup:<name>`.
///
/// ```
/// use openclaw_sms_target::AllowEntry;
///
/// assert_eq!(AllowEntry::parse("*")?, AllowEntry::Any);
/// assert_eq!(AllowEntry::parse("sms:+1 555 123 4567")?.to_string(), "+15551234567");
/// assert_eq!(AllowEntry::parse("15551234567")?.to_string(), "+15551234567");
/// assert_eq!(
///     AllowEntry::parse("accessGroup:family")?,
///     AllowEntry::AccessGroup("family".to_owned()),
/// );
/// # Ok::<(), openclaw_sms_target::ParseTargetError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AllowEntry {
    /// `*`: every sender.
    Any,
    /// One number.
    Number(E164),
    /// `accessGroup:<name>`: the members of a named group, resolved elsewhere. The name is
    /// kept verbatim (case and inner spaces included).
    AccessGroup(String),
}

impl AllowEntry {
    /// Parses one entry with [`ParseOptions::default`]: `*`, `accessGroup:<name>`, or a
    /// number as [`Target::parse`](crate::Target::parse) accepts it (`+15551234567`,
    /// `sms:+15551234567`, `twilio-sms:…`). A string of digits only (`15551234567`, as a JSON
    /// number in config) is read as international, with the `+` supplied, as upstream does.
    /// Never refuses for the numbering plan.
    pub fn parse(input: &str) -> Result<Self, ParseTargetError> {
        Self::parse_with(input, &ParseOptions::default())
    }

    /// [`AllowEntry::parse`] with options: a default region reads national numbers (and
    /// digit strings) in that region; strict mode refuses numbers not valid in the plan.
    pub fn parse_with(input: &str, options: &ParseOptions) -> Result<Self, ParseTargetError> {
        let trimmed = check_len(input)?.trim();
        if trimmed == "*" {
            return Ok(Self::Any);
        }
        if let Some(name) = trimmed.strip_prefix(ACCESS_GROUP_PREFIX) {
            if name.trim().is_empty() {
                return Err(ParseTargetError::EmptyAccessGroup {
                    input: input.to_owned(),
                });
            }
            return Ok(Self::AccessGroup(name.to_owned()));
        }
        let (_, rest) = split_target_prefix(input)?;
        let number = if options.default_region.is_none() && rest.bytes().all(|b| b.is_ascii_digit())
        {
            // Upstream's numeric coercion: `15551234567` → `+15551234567`.
            E164::from_digits(rest, input)?
        } else {
            parse_number(rest, input, options.default_region)?
        };
        if options.strict {
            plan_check(&number, true)?;
        }
        Ok(Self::Number(number))
    }

    /// The number, for a [`AllowEntry::Number`] entry.
    #[must_use]
    pub fn number(&self) -> Option<&E164> {
        match self {
            Self::Number(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Number(n) => fmt::Display::fmt(n, f),
            Self::AccessGroup(name) => write!(f, "{ACCESS_GROUP_PREFIX}{name}"),
        }
    }
}

impl FromStr for AllowEntry {
    type Err = ParseTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for AllowEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AllowEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Parses an allow list with [`ParseOptions::default`]. Blank entries are skipped (as
/// upstream drops empties); the first invalid entry is an error naming it and its index.
///
/// ```
/// use openclaw_sms_target::{AllowEntry, parse_allow_list};
///
/// let list = parse_allow_list(&["+15557654321", "sms:+15551234567", "", "*"])?;
/// assert_eq!(list.len(), 3);
///
/// let err = parse_allow_list(&["+15557654321", "(555) 123-4567"]).unwrap_err();
/// assert!(err.to_string().starts_with("allow-list entry 1 (\"(555) 123-4567\"):"));
/// # Ok::<(), openclaw_sms_target::ParseTargetError>(())
/// ```
pub fn parse_allow_list<S: AsRef<str>>(entries: &[S]) -> Result<Vec<AllowEntry>, ParseTargetError> {
    parse_allow_list_with(entries, &ParseOptions::default())
}

/// [`parse_allow_list`] with options (see [`AllowEntry::parse_with`]).
pub fn parse_allow_list_with<S: AsRef<str>>(
    entries: &[S],
    options: &ParseOptions,
) -> Result<Vec<AllowEntry>, ParseTargetError> {
    parse_entries(entries.iter().map(AsRef::as_ref), options)
}

/// Parses a comma-separated allow list, such as upstream's `SMS_ALLOWED_USERS` environment
/// variable or an `allowFrom` written as one string: `"+15551234567, +15557654321"`.
/// Spaces around entries and empty entries (`a,,b`, a trailing comma) are ignored; indexes in
/// errors count the comma-separated pieces from zero.
///
/// ```
/// use openclaw_sms_target::parse_comma_allow_list;
///
/// let list = parse_comma_allow_list("+15551234567, sms:+15557654321,")?;
/// assert_eq!(list.len(), 2);
/// assert!(parse_comma_allow_list("").is_ok_and(|l| l.is_empty()));
/// # Ok::<(), openclaw_sms_target::ParseTargetError>(())
/// ```
pub fn parse_comma_allow_list(list: &str) -> Result<Vec<AllowEntry>, ParseTargetError> {
    parse_entries(list.split(','), &ParseOptions::default())
}

fn parse_entries<'a>(
    entries: impl Iterator<Item = &'a str>,
    options: &ParseOptions,
) -> Result<Vec<AllowEntry>, ParseTargetError> {
    let mut out = Vec::new();
    for (index, entry) in entries.enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let parsed = AllowEntry::parse_with(entry, options).map_err(|reason| {
            ParseTargetError::InvalidAllowEntry {
                index,
                // Long entries are refused by length; do not copy all of them into the error.
                entry: entry.chars().take(crate::MAX_INPUT_LEN).collect(),
                reason: Box::new(reason),
            }
        })?;
        out.push(parsed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(display)` or `Err(part of the message)`.
    fn check(input: &str, expected: Result<&str, &str>) {
        let got = AllowEntry::parse(input)
            .map(|e| e.to_string())
            .map_err(|e| e.to_string());
        match (&got, expected) {
            (Ok(t), Ok(want)) => assert_eq!(t, want, "input {input:?}"),
            (Err(msg), Err(want)) => assert!(msg.contains(want), "input {input:?}: {msg}"),
            _ => panic!("input {input:?}: got {got:?}, want {expected:?}"),
        }
    }

    #[test]
    fn entry_table() {
        check("*", Ok("*"));
        check(" * ", Ok("*"));
        check("+15551234567", Ok("+15551234567"));
        check("sms:+15551234567", Ok("+15551234567"));
        check("SMS: +1 (555) 123-4567", Ok("+15551234567"));
        check("twilio-sms:+15557654321", Ok("+15557654321"));
        check("15551234567", Ok("+15551234567"));
        check("sms:15551234567", Ok("+15551234567"));
        check("accessGroup:family", Ok("accessGroup:family"));
        check("accessGroup:Night Shift", Ok("accessGroup:Night Shift"));
        check("accessGroup:", Err("names no access group"));
        check("accessGroup:  ", Err("names no access group"));
        check(
            "accessgroup:family",
            Err("`accessgroup:` is not an SMS prefix"),
        );
        check("**", Err("contains '*'"));
        check("", Err("empty phone number"));
        check("(555) 123-4567", Err("needs a country code"));
        check("555 123 4567", Err("needs a country code"));
        check("whatsapp:+15551234567", Err("not an SMS prefix"));
        check("abc", Err("contains letters"));
        check("12345", Err("too few"));
    }

    #[test]
    fn options_apply() {
        let us = ParseOptions::new().with_default_region(crate::Region::parse("US").unwrap());
        let e = AllowEntry::parse_with("(415) 555-2671", &us).unwrap();
        assert_eq!(e.to_string(), "+14155552671");
        let e = AllowEntry::parse_with("4155552671", &us).unwrap();
        assert_eq!(e.to_string(), "+14155552671");
        let strict = ParseOptions::new().with_strict(true);
        assert!(AllowEntry::parse_with("+15551234567", &strict).is_err());
        assert!(AllowEntry::parse_with("*", &strict).is_ok());
    }

    #[test]
    fn lists_name_the_bad_entry() {
        let err =
            parse_allow_list(&["*", "", "+15551234567", "whatsapp:+15551234567"]).unwrap_err();
        let ParseTargetError::InvalidAllowEntry {
            index,
            entry,
            reason,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!((*index, entry.as_str()), (3, "whatsapp:+15551234567"));
        assert!(matches!(
            **reason,
            ParseTargetError::UnsupportedPrefix { .. }
        ));
        assert!(
            err.to_string()
                .starts_with("allow-list entry 3 (\"whatsapp:+15551234567\"): ")
        );

        let list = parse_comma_allow_list(" +15551234567 ,, accessGroup:ops ,*,").unwrap();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["+15551234567", "accessGroup:ops", "*"]);
        let err = parse_comma_allow_list("+15551234567,,nope").unwrap_err();
        assert!(
            matches!(err, ParseTargetError::InvalidAllowEntry { index: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn serde_uses_the_stored_form() {
        let list: Vec<AllowEntry> =
            serde_json::from_str(r#"["*", "sms:+15551234567", "accessGroup:ops"]"#).unwrap();
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"["*","+15551234567","accessGroup:ops"]"#
        );
    }
}
