//! Newtypes for Twilio SIDs (string identifiers): two ASCII letters naming the resource type,
//! then 32 hexadecimal digits.
//!
//! Parse, don't validate: a value of one of these types is known to be well formed, so code
//! that receives an [`AccountSid`] never has to check it again.

use std::fmt;

/// Number of hexadecimal digits after the two-letter prefix of every Twilio SID.
pub const SID_HEX_DIGITS: usize = 32;

/// Total length of a Twilio SID (prefix and digits).
pub const SID_LEN: usize = 2 + SID_HEX_DIGITS;

/// A string that is not a SID of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseSidError {
    /// The value does not start with one of the prefixes of this kind of SID.
    #[error("invalid {kind}: expected it to start with {expected}")]
    WrongPrefix {
        /// The kind of SID that was expected (e.g. `AccountSid`).
        kind: &'static str,
        /// The accepted prefixes, e.g. `AC`.
        expected: &'static str,
    },
    /// The value has the right prefix but not 32 hexadecimal digits after it.
    #[error("invalid {kind}: expected {expected} followed by 32 hexadecimal digits")]
    InvalidDigits {
        /// The kind of SID that was expected (e.g. `AccountSid`).
        kind: &'static str,
        /// The accepted prefixes, e.g. `AC`.
        expected: &'static str,
    },
}

fn check_sid(
    value: &str,
    prefixes: &[&str],
    kind: &'static str,
    expected: &'static str,
) -> Result<(), ParseSidError> {
    if !prefixes.iter().any(|p| value.starts_with(p)) {
        return Err(ParseSidError::WrongPrefix { kind, expected });
    }
    let digits = value.as_bytes().get(2..).unwrap_or_default();
    if digits.len() != SID_HEX_DIGITS || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(ParseSidError::InvalidDigits { kind, expected });
    }
    Ok(())
}

/// Whether `value` is a well-formed SID with one of `prefixes`: the one SID syntax check, for
/// code that only needs a yes or no (a config validator, a classifier) and for SID kinds this
/// module has no type for.
///
/// ```
/// use openclaw_twilio::sid::is_sid;
/// assert!(is_sid("CA0123456789abcdef0123456789abcdef", &["CA"]));
/// assert!(!is_sid("CA0123", &["CA"]));
/// ```
#[must_use]
pub fn is_sid(value: &str, prefixes: &[&str]) -> bool {
    check_sid(value, prefixes, "Sid", "").is_ok()
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, [$($prefix:literal),+], $expected:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses a SID of this kind.
            ///
            /// # Errors
            /// [`ParseSidError`] when the prefix is wrong or the 32 hexadecimal digits are missing.
            pub fn parse(value: &str) -> Result<Self, ParseSidError> {
                check_sid(value, &[$($prefix),+], stringify!($name), $expected)?;
                Ok(Self(value.to_owned()))
            }

            /// The SID as Twilio spells it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseSidError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

sid_type!(
    /// An Account SID: `AC` followed by 32 hexadecimal digits.
    AccountSid, ["AC"], "AC"
);
sid_type!(
    /// A Messaging Service SID: `MG` followed by 32 hexadecimal digits.
    MessagingServiceSid, ["MG"], "MG"
);
sid_type!(
    /// A Message SID: `SM` (SMS) or `MM` (MMS) followed by 32 hexadecimal digits.
    MessageSid, ["SM", "MM"], "SM or MM"
);
sid_type!(
    /// A Call SID: `CA` followed by 32 hexadecimal digits.
    CallSid, ["CA"], "CA"
);
sid_type!(
    /// An API Key SID: `SK` followed by 32 hexadecimal digits.
    ApiKeySid, ["SK"], "SK"
);
sid_type!(
    /// An Incoming Phone Number SID: `PN` followed by 32 hexadecimal digits.
    PhoneNumberSid, ["PN"], "PN"
);

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789ABCDEF";

    fn check_account(input: &str, ok: bool) {
        assert_eq!(AccountSid::parse(input).is_ok(), ok, "{input:?}");
    }

    #[test]
    fn account_sid_table() {
        check_account(&format!("AC{HEX}"), true);
        check_account(&format!("ac{HEX}"), false);
        check_account(&format!("MG{HEX}"), false);
        check_account(&format!("AC{}", &HEX[1..]), false);
        check_account(&format!("AC{HEX}0"), false);
        check_account(&format!("AC{}g", &HEX[1..]), false);
        check_account("AC", false);
        check_account("", false);
        check_account("A", false);
        check_account(&format!("AC{}é", &HEX[2..]), false);
    }

    #[test]
    fn message_sid_accepts_sms_and_mms() {
        assert!(MessageSid::parse(&format!("SM{HEX}")).is_ok());
        assert!(MessageSid::parse(&format!("MM{HEX}")).is_ok());
        assert_eq!(
            MessageSid::parse(&format!("XX{HEX}")),
            Err(ParseSidError::WrongPrefix {
                kind: "MessageSid",
                expected: "SM or MM"
            })
        );
        assert_eq!(
            MessageSid::parse("SM123").unwrap_err().to_string(),
            "invalid MessageSid: expected SM or MM followed by 32 hexadecimal digits"
        );
    }

    #[test]
    fn call_sid_and_the_shared_check() {
        assert!(CallSid::parse(&format!("CA{HEX}")).is_ok());
        assert!(CallSid::parse(&format!("SM{HEX}")).is_err());
        assert!(is_sid(&format!("CA{HEX}"), &["CA"]));
        assert!(is_sid(&format!("MM{HEX}"), &["SM", "MM"]));
        assert!(!is_sid(&format!("CA{}", &HEX[1..]), &["CA"]));
        assert!(!is_sid(&format!("CA{HEX}"), &["SM"]));
    }

    #[test]
    fn display_and_serde_round_trip() {
        let sid = MessagingServiceSid::parse(&format!("MG{HEX}")).unwrap();
        assert_eq!(sid.to_string(), format!("MG{HEX}"));
        let json = serde_json::to_string(&sid).unwrap();
        let back: MessagingServiceSid = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sid);
        assert!(serde_json::from_str::<MessagingServiceSid>("\"MG1\"").is_err());
    }
}
