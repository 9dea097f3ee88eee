//! Pairing codes, pending requests, their lifetime and the pure helpers over them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rand_core::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::PolicyConfigError;

/// The characters of a pairing code: upper-case letters and digits without the look-alikes
/// `0`, `O`, `1` and `I` (upstream's alphabet). 32 characters, so each is 5 random bits.
pub const PAIRING_CODE_ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Length of a pairing code.
pub const PAIRING_CODE_LEN: usize = 8;

/// How many codes [`generate_code`] draws before giving up on finding one that no live
/// request uses (upstream's bound). With a working RNG and a handful of live requests the
/// first draw is all but certain to do.
pub const MAX_CODE_ATTEMPTS: usize = 500;

/// Default for [`PairingLimits::max_pending`]: live requests per channel account
/// (upstream's `PAIRING_PENDING_MAX`).
pub const DEFAULT_MAX_PENDING: usize = 3;

/// Default for [`PairingLimits::ttl`]: one hour (upstream's `PAIRING_PENDING_TTL_MS`).
pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(60 * 60);

/// Longest input quoted back in an error.
const MAX_QUOTED: usize = 64;

/// The alphabet as bytes; index `i` is the character for the 5-bit value `i`.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A point in time, as milliseconds since the Unix epoch. The caller reads the clock; this
/// crate only compares.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use openclaw_access_policy::Timestamp;
///
/// let t = Timestamp::from_system_time(UNIX_EPOCH + Duration::from_secs(2));
/// assert_eq!(t.unix_millis(), 2_000);
/// assert_eq!(t.saturating_add(Duration::from_millis(5)).unix_millis(), 2_005);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The time `millis` milliseconds after the Unix epoch (negative: before it).
    #[must_use]
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    #[must_use]
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Converts a `SystemTime` the caller read, saturating at the ends of `i64` milliseconds.
    #[must_use]
    pub fn from_system_time(time: SystemTime) -> Self {
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        match time.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => Self(millis(after)),
            Err(before) => Self(millis(before.duration()).saturating_neg()),
        }
    }

    /// This time plus `duration`, saturating.
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Self::from_system_time(time)
    }
}

/// Bounds on pairing: how many requests may wait per channel account, and for how long.
///
/// ```
/// use std::time::Duration;
/// use openclaw_access_policy::PairingLimits;
///
/// let limits = PairingLimits::default();
/// assert_eq!((limits.max_pending, limits.ttl), (3, Duration::from_secs(3600)));
/// let tight = PairingLimits::default().with_max_pending(1);
/// assert_eq!(tight.max_pending, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PairingLimits {
    /// Live requests per channel account. A new unknown sender beyond this is dropped
    /// silently until a request expires or is approved. Default [`DEFAULT_MAX_PENDING`].
    pub max_pending: usize,
    /// How long a request (and its code) lives, from its creation. Default
    /// [`DEFAULT_PENDING_TTL`].
    pub ttl: Duration,
}

impl Default for PairingLimits {
    fn default() -> Self {
        Self {
            max_pending: DEFAULT_MAX_PENDING,
            ttl: DEFAULT_PENDING_TTL,
        }
    }
}

impl PairingLimits {
    /// Sets [`PairingLimits::max_pending`].
    #[must_use]
    pub fn with_max_pending(mut self, max_pending: usize) -> Self {
        self.max_pending = max_pending;
        self
    }

    /// Sets [`PairingLimits::ttl`].
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
}

/// A pairing code: [`PAIRING_CODE_LEN`] characters from [`PAIRING_CODE_ALPHABET`], stored
/// upper-case. Parsing accepts any case, as approval does.
///
/// ```
/// use openclaw_access_policy::PairingCode;
///
/// let code = PairingCode::parse(" abcd2345 ")?;
/// assert_eq!(code.as_str(), "ABCD2345");
/// assert!(PairingCode::parse("ABCD0000").is_err()); // 0 is not in the alphabet
/// # Ok::<(), openclaw_access_policy::PolicyConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PairingCode([u8; PAIRING_CODE_LEN]);

impl PairingCode {
    /// Parses a code in any case, ignoring surrounding whitespace.
    pub fn parse(input: &str) -> Result<Self, PolicyConfigError> {
        let invalid = || PolicyConfigError::InvalidPairingCode {
            input: input.chars().take(MAX_QUOTED).collect(),
        };
        let t = input.trim().as_bytes();
        let mut code = [0u8; PAIRING_CODE_LEN];
        if t.len() != PAIRING_CODE_LEN {
            return Err(invalid());
        }
        for (slot, b) in code.iter_mut().zip(t) {
            let upper = b.to_ascii_uppercase();
            if !ALPHABET.contains(&upper) {
                return Err(invalid());
            }
            *slot = upper;
        }
        Ok(Self(code))
    }

    /// The code, upper-case.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Invariant: every byte comes from the ASCII `ALPHABET`, so this is always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PairingCode({})", self.as_str())
    }
}

impl FromStr for PairingCode {
    type Err = PolicyConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for PairingCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PairingCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Draws a fresh pairing code from `rng`, unique among `live` (the codes of the account's
/// live requests). Each character takes 5 bits of one `u64` draw, so with a uniform RNG
/// every code is equally likely. The gateway passes a CSPRNG.
///
/// Returns `None` only if [`MAX_CODE_ATTEMPTS`] draws all collide, which means the RNG is
/// broken.
///
/// ```
/// use openclaw_access_policy::{PAIRING_CODE_ALPHABET, generate_code};
/// use rand::SeedableRng;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let code = generate_code(&mut rng, &[]).expect("a working RNG");
/// assert_eq!(code.as_str().len(), 8);
/// assert!(code.as_str().chars().all(|c| PAIRING_CODE_ALPHABET.contains(c)));
/// ```
pub fn generate_code<R: RngCore + ?Sized>(
    rng: &mut R,
    live: &[PairingCode],
) -> Option<PairingCode> {
    (0..MAX_CODE_ATTEMPTS).find_map(|_| {
        let mut bits = rng.next_u64();
        let mut code = [0u8; PAIRING_CODE_LEN];
        for slot in &mut code {
            // `bits & 31` is below 32 = ALPHABET.len().
            *slot = ALPHABET[(bits & 31) as usize];
            bits >>= 5;
        }
        let code = PairingCode(code);
        (!live.contains(&code)).then_some(code)
    })
}

/// A sender waiting for the operator's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingRequest {
    /// The code texted to the sender, which the operator approves.
    pub code: PairingCode,
    /// The sender's opaque id (for SMS, the E.164 number). Approval adds it to the allow
    /// list.
    pub sender_id: String,
    /// When the request was made; it expires [`PairingLimits::ttl`] later.
    pub created_at: Timestamp,
    /// When the sender last wrote while the request was live.
    pub last_seen_at: Timestamp,
    /// Channel details (`accountId`, …), shown by `pairing list`.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

impl PairingRequest {
    /// When the request expires: `created_at + limits.ttl`.
    #[must_use]
    pub fn expires_at(&self, limits: &PairingLimits) -> Timestamp {
        self.created_at.saturating_add(limits.ttl)
    }

    /// Whether the request has expired at `now` (`now >= expires_at`). An expired request
    /// never matches a code, never blocks a new one, and never counts towards the cap.
    #[must_use]
    pub fn is_expired(&self, now: Timestamp, limits: &PairingLimits) -> bool {
        now >= self.expires_at(limits)
    }
}

/// The live request whose code is `code`, compared case-insensitively (surrounding spaces
/// ignored). Expired requests never match.
///
/// ```
/// use openclaw_access_policy::{PairingCode, PairingLimits, PairingRequest, Timestamp, find_request_by_code};
///
/// let created = Timestamp::from_unix_millis(0);
/// let request = PairingRequest {
///     code: PairingCode::parse("ABCD2345")?,
///     sender_id: "+15551234567".into(),
///     created_at: created,
///     last_seen_at: created,
///     meta: Default::default(),
/// };
/// let limits = PairingLimits::default();
/// let requests = [request];
/// let soon = Timestamp::from_unix_millis(60_000);
/// assert!(find_request_by_code(&requests, "abcd2345", soon, &limits).is_some());
/// let later = Timestamp::from_unix_millis(3_600_000);
/// assert!(find_request_by_code(&requests, "ABCD2345", later, &limits).is_none());
/// # Ok::<(), openclaw_access_policy::PolicyConfigError>(())
/// ```
#[must_use]
pub fn find_request_by_code<'a>(
    requests: &'a [PairingRequest],
    code: &str,
    now: Timestamp,
    limits: &PairingLimits,
) -> Option<&'a PairingRequest> {
    let code = PairingCode::parse(code).ok()?;
    requests
        .iter()
        .find(|r| r.code == code && !r.is_expired(now, limits))
}

/// Removes expired requests; returns how many it removed.
pub fn prune_expired(
    requests: &mut Vec<PairingRequest>,
    now: Timestamp,
    limits: &PairingLimits,
) -> usize {
    let before = requests.len();
    requests.retain(|r| !r.is_expired(now, limits));
    before - requests.len()
}

/// Approves the live request with `code`: removes it from `requests` and appends its sender
/// to `allow` (unless already there). Returns the approved request, or `None` if no live
/// request has that code (then nothing changes).
///
/// ```
/// use openclaw_access_policy::{PairingCode, PairingLimits, PairingRequest, Timestamp, approve_by_code};
///
/// let now = Timestamp::from_unix_millis(1_000);
/// let mut requests = vec![PairingRequest {
///     code: PairingCode::parse("ABCD2345")?,
///     sender_id: "+15551234567".into(),
///     created_at: now,
///     last_seen_at: now,
///     meta: Default::default(),
/// }];
/// let mut allow = Vec::new();
/// let approved = approve_by_code(&mut requests, &mut allow, "abcd2345", now, &PairingLimits::default());
/// assert_eq!(approved.map(|r| r.sender_id), Some("+15551234567".to_owned()));
/// assert!(requests.is_empty());
/// assert_eq!(allow, ["+15551234567"]);
/// # Ok::<(), openclaw_access_policy::PolicyConfigError>(())
/// ```
pub fn approve_by_code(
    requests: &mut Vec<PairingRequest>,
    allow: &mut Vec<String>,
    code: &str,
    now: Timestamp,
    limits: &PairingLimits,
) -> Option<PairingRequest> {
    let code = PairingCode::parse(code).ok()?;
    let index = requests
        .iter()
        .position(|r| r.code == code && !r.is_expired(now, limits))?;
    let request = requests.remove(index);
    if !allow.contains(&request.sender_id) {
        allow.push(request.sender_id.clone());
    }
    Some(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RNG that replays the given `u64`s in a loop.
    struct Replay(Vec<u64>, usize);

    impl RngCore for Replay {
        fn next_u32(&mut self) -> u32 {
            // Truncation intended: only the low half.
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            let v = self.0[self.1 % self.0.len()];
            self.1 += 1;
            v
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            rand_core::impls::fill_bytes_via_next(self, dst);
        }
    }

    fn code_of(bits: u64) -> String {
        generate_code(&mut Replay(vec![bits], 0), &[])
            .unwrap()
            .to_string()
    }

    #[test]
    fn bits_map_to_characters() {
        assert_eq!(code_of(0), "AAAAAAAA");
        assert_eq!(code_of(u64::MAX), "99999999");
        assert_eq!(code_of(1), "BAAAAAAA");
        assert_eq!(code_of(31 << 35), "AAAAAAA9");
        assert_eq!(
            code_of(0b01000_00111_00110_00101_00100_00011_00010_00001),
            "BCDEFGHJ"
        );
    }

    #[test]
    fn skips_live_codes_and_gives_up_on_a_stuck_rng() {
        let first = PairingCode::parse("AAAAAAAA").unwrap();
        let second = PairingCode::parse("BAAAAAAA").unwrap();
        let got = generate_code(&mut Replay(vec![0, 0, 1], 0), &[first]);
        assert_eq!(got, Some(second));
        let mut stuck = Replay(vec![0], 0);
        assert_eq!(generate_code(&mut stuck, &[first]), None);
        assert_eq!(stuck.1, MAX_CODE_ATTEMPTS);
    }

    fn check_code(input: &str, expected: Option<&str>) {
        let got = PairingCode::parse(input).ok().map(|c| c.to_string());
        assert_eq!(got.as_deref(), expected, "{input:?}");
    }

    #[test]
    fn code_parse_table() {
        check_code("ABCD2345", Some("ABCD2345"));
        check_code("abcd2345", Some("ABCD2345"));
        check_code("  XyZ98765 ", Some("XYZ98765"));
        check_code("ABCD234", None);
        check_code("ABCD23456", None);
        check_code("ABCDO345", None); // letter O
        check_code("ABCDI345", None); // letter I
        check_code("ABCD0345", None); // digit 0
        check_code("ABCD1345", None); // digit 1
        check_code("ABCD-345", None);
        check_code("ÄBCD2345", None);
        check_code("", None);
        let msg = PairingCode::parse("nope").unwrap_err().to_string();
        assert!(
            msg.starts_with("\"nope\" is not a pairing code: copy the 8-character code"),
            "{msg}"
        );
    }

    fn request(code: &str, sender: &str, created: i64) -> PairingRequest {
        PairingRequest {
            code: PairingCode::parse(code).unwrap(),
            sender_id: sender.to_owned(),
            created_at: Timestamp::from_unix_millis(created),
            last_seen_at: Timestamp::from_unix_millis(created),
            meta: BTreeMap::new(),
        }
    }

    /// Which sender `code` finds at `now` (ms), with the default one-hour lifetime.
    fn check_find(code: &str, now: i64, expected: Option<&str>) {
        let requests = [request("AAAA2222", "a", 0), request("BBBB3333", "b", 1_000)];
        let got = find_request_by_code(
            &requests,
            code,
            Timestamp::from_unix_millis(now),
            &PairingLimits::default(),
        );
        assert_eq!(
            got.map(|r| r.sender_id.as_str()),
            expected,
            "{code} at {now}"
        );
    }

    #[test]
    fn find_table() {
        check_find("AAAA2222", 0, Some("a"));
        check_find("aaaa2222", 3_599_999, Some("a"));
        check_find("AAAA2222", 3_600_000, None); // expired exactly at created + ttl
        check_find("bbbb3333", 3_600_999, Some("b"));
        check_find("BBBB3333", 3_601_000, None);
        check_find("CCCC4444", 0, None);
        check_find("not a code", 0, None);
        check_find("", 0, None);
    }

    #[test]
    fn prune_and_approve() {
        let limits = PairingLimits::default();
        let mut requests = vec![request("AAAA2222", "a", 0), request("BBBB3333", "b", 1_000)];
        assert_eq!(
            prune_expired(
                &mut requests,
                Timestamp::from_unix_millis(3_600_500),
                &limits
            ),
            1
        );
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].sender_id, "b");

        let now = Timestamp::from_unix_millis(2_000);
        let mut allow = vec!["b".to_owned()];
        assert!(approve_by_code(&mut requests, &mut allow, "AAAA2222", now, &limits).is_none());
        let approved =
            approve_by_code(&mut requests, &mut allow, "bbbb3333", now, &limits).unwrap();
        assert_eq!(approved.sender_id, "b");
        assert!(requests.is_empty());
        assert_eq!(allow, ["b"]); // no duplicate
    }

    #[test]
    fn timestamps_convert_and_saturate() {
        use std::time::UNIX_EPOCH;
        let before = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(Timestamp::from_system_time(before).unix_millis(), -1_500);
        assert_eq!(
            Timestamp::from(UNIX_EPOCH + Duration::from_millis(7)).unix_millis(),
            7
        );
        let end = Timestamp::from_unix_millis(i64::MAX - 1);
        assert_eq!(
            end.saturating_add(Duration::from_secs(10)).unix_millis(),
            i64::MAX
        );
    }

    #[test]
    fn request_serde_shape() {
        let mut r = request("ABCD2345", "+15551234567", 5);
        r.meta.insert("accountId".into(), "default".into());
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"code":"ABCD2345","senderId":"+15551234567","createdAt":5,"lastSeenAt":5,"meta":{"accountId":"default"}}"#
        );
        assert_eq!(serde_json::from_str::<PairingRequest>(&json).unwrap(), r);
        assert!(
            serde_json::from_str::<PairingRequest>(&json.replace("ABCD2345", "ABCD0000")).is_err()
        );
    }
}
