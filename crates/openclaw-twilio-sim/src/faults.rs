//! Fault injection: latency, 5xx, 429 and "timeout after the message was recorded".

use std::time::Duration;

use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use serde::{Deserialize, Serialize};

/// Default hold for the timeout fault: longer than `openclaw-twilio`'s and twilio-node's
/// 30 s client timeout, so a client gives up before the answer comes.
pub const DEFAULT_TIMEOUT_HOLD: Duration = Duration::from_secs(60);

/// Default `Retry-After` of an injected 429, in whole seconds as Twilio sends it.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The fault knobs. All shares are probabilities in `0.0..=1.0` and their sum must not exceed
/// 1; each create-message request draws once from the simulator's RNG (seeded with
/// [`SimConfig::with_seed`](crate::SimConfig::with_seed) for reproducible runs) and gets at
/// most one fault, checked in the order 429, 5xx, timeout.
///
/// `latency` applies to every Twilio API request (not to the `/_sim` control API); the other
/// faults apply to message creation only, because that is where a client's retry policy
/// matters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added before every Twilio API answer.
    #[serde(with = "millis", rename = "latency_ms")]
    pub latency: Duration,
    /// Share of create requests answered `500` with Twilio error 20500; nothing is recorded.
    pub server_error_share: f64,
    /// Share of create requests answered `429` with Twilio error 20429 and `Retry-After`;
    /// nothing is recorded (Twilio: "never processed and is always safe to retry").
    pub rate_limit_share: f64,
    /// `Retry-After` sent with an injected 429 (rounded up to whole seconds).
    #[serde(with = "millis", rename = "retry_after_ms")]
    pub retry_after: Duration,
    /// Share of create requests whose message IS recorded (and delivered) but whose HTTP
    /// answer is held for `timeout_hold`, so the client times out.
    pub timeout_share: f64,
    /// How long a "timeout" answer is held before the `201` is finally written.
    #[serde(with = "millis", rename = "timeout_hold_ms")]
    pub timeout_hold: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            server_error_share: 0.0,
            rate_limit_share: 0.0,
            retry_after: DEFAULT_RETRY_AFTER,
            timeout_share: 0.0,
            timeout_hold: DEFAULT_TIMEOUT_HOLD,
        }
    }
}

impl Faults {
    /// Checks that every share is within `0..=1` and that they sum to at most 1.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let shares = [
            ("server_error_share", self.server_error_share),
            ("rate_limit_share", self.rate_limit_share),
            ("timeout_share", self.timeout_share),
        ];
        for (name, share) in shares {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("{name} must be within 0..=1, got {share}"));
            }
        }
        let sum: f64 = shares.iter().map(|(_, s)| s).sum();
        if sum > 1.0 + f64::EPSILON {
            return Err(format!("fault shares sum to {sum}, more than 1"));
        }
        Ok(())
    }
}

/// How many create requests were seen and how many of them got each fault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FaultCounts {
    /// Create-message requests that passed authentication.
    pub create_requests: u64,
    /// Answered 429.
    pub rate_limited: u64,
    /// Answered 500.
    pub server_errors: u64,
    /// Recorded, then answered late.
    pub timeouts: u64,
}

/// The outcome of one draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultDecision {
    None,
    RateLimit,
    ServerError,
    TimeoutAfterRecord,
}

/// The fault state: knobs, RNG, counters.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub(crate) faults: Faults,
    rng: StdRng,
    pub(crate) counts: FaultCounts,
}

impl FaultState {
    pub(crate) fn new(faults: Faults, seed: Option<u64>) -> Self {
        let rng = seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64);
        Self {
            faults,
            rng,
            counts: FaultCounts::default(),
        }
    }

    /// Draws the fault for one create request and counts it.
    pub(crate) fn draw(&mut self) -> FaultDecision {
        self.counts.create_requests += 1;
        let f = &self.faults;
        if f.rate_limit_share + f.server_error_share + f.timeout_share <= 0.0 {
            return FaultDecision::None;
        }
        let x: f64 = self.rng.random();
        let decision = if x < f.rate_limit_share {
            FaultDecision::RateLimit
        } else if x < f.rate_limit_share + f.server_error_share {
            FaultDecision::ServerError
        } else if x < f.rate_limit_share + f.server_error_share + f.timeout_share {
            FaultDecision::TimeoutAfterRecord
        } else {
            FaultDecision::None
        };
        match decision {
            FaultDecision::RateLimit => self.counts.rate_limited += 1,
            FaultDecision::ServerError => self.counts.server_errors += 1,
            FaultDecision::TimeoutAfterRecord => self.counts.timeouts += 1,
            FaultDecision::None => {}
        }
        decision
    }
}

/// Serde helper: a `Duration` as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(faults: &Faults, seed: u64, n: usize) -> Vec<FaultDecision> {
        let mut state = FaultState::new(faults.clone(), Some(seed));
        (0..n).map(|_| state.draw()).collect()
    }

    #[test]
    fn same_seed_same_sequence() {
        let f = Faults {
            rate_limit_share: 0.2,
            server_error_share: 0.2,
            timeout_share: 0.2,
            ..Faults::default()
        };
        assert_eq!(draws(&f, 7, 200), draws(&f, 7, 200));
        assert_ne!(draws(&f, 7, 200), draws(&f, 8, 200));
    }

    #[test]
    fn certain_and_impossible_shares() {
        let all_429 = Faults {
            rate_limit_share: 1.0,
            ..Faults::default()
        };
        assert!(
            draws(&all_429, 1, 50)
                .iter()
                .all(|d| *d == FaultDecision::RateLimit)
        );
        let none = Faults::default();
        assert!(
            draws(&none, 1, 50)
                .iter()
                .all(|d| *d == FaultDecision::None)
        );
    }

    fn check_validate(f: &Faults, ok: bool) {
        assert_eq!(f.validate().is_ok(), ok, "{f:?}");
    }

    #[test]
    fn validation_table() {
        check_validate(&Faults::default(), true);
        check_validate(
            &Faults {
                server_error_share: 1.5,
                ..Faults::default()
            },
            false,
        );
        check_validate(
            &Faults {
                timeout_share: -0.1,
                ..Faults::default()
            },
            false,
        );
        check_validate(
            &Faults {
                timeout_share: 0.6,
                rate_limit_share: 0.6,
                ..Faults::default()
            },
            false,
        );
        check_validate(
            &Faults {
                timeout_share: 0.5,
                rate_limit_share: 0.5,
                ..Faults::default()
            },
            true,
        );
    }

    #[test]
    fn json_uses_milliseconds() {
        let f: Faults = serde_json::from_str(r#"{"latency_ms": 25, "rate_limit_share": 0.5}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.latency, Duration::from_millis(25));
        assert!((f.rate_limit_share - 0.5).abs() < f64::EPSILON);
        assert_eq!(f.timeout_hold, DEFAULT_TIMEOUT_HOLD);
    }
}
