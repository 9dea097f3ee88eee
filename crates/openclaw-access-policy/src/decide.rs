//! The access decision: allow, challenge or drop.

use std::collections::BTreeMap;
use std::fmt;

use rand_core::RngCore;

use crate::pairing::{PairingCode, PairingLimits, PairingRequest, Timestamp, generate_code};
use crate::policy::{AllowRule, DmPolicy};

/// Everything [`decide`] looks at. The caller reads it from config and the store, for one
/// channel account.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    /// The account's `dmPolicy`.
    pub policy: DmPolicy,
    /// The account's `allowFrom` rules from config, groups already expanded by the caller
    /// where it can (unexpanded groups never match).
    pub config_allow: &'a [AllowRule],
    /// Sender ids approved through pairing (the store's allow entries). Counted only under
    /// [`DmPolicy::Pairing`]; compared exactly (`"*"` here is not a wildcard).
    pub stored_allow: &'a [String],
    /// The account's pairing requests. Expired ones are ignored, so they need not be pruned
    /// first.
    pub pending: &'a [PairingRequest],
    /// The sender's opaque id, normalised by the channel (for SMS, E.164).
    pub sender: &'a str,
    /// The current time, read by the caller.
    pub now: Timestamp,
    /// Pairing bounds.
    pub limits: &'a PairingLimits,
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Serve the sender.
    Allow {
        /// The rule that admitted them.
        rule: MatchedRule,
    },
    /// Pairing: the sender is unknown.
    Challenge(Challenge),
    /// Drop the message. Every drop is silent: nothing is sent back.
    Drop {
        /// Why, for logs and metrics.
        reason: DropReason,
    },
}

impl Decision {
    /// Whether the sender is served.
    #[must_use]
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }
}

/// The pairing side of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Challenge {
    /// A new request: store it, then text its code to the sender once. Its `meta` is empty
    /// for the caller to fill (`accountId`, …).
    New(PairingRequest),
    /// The sender already has a live request: stay silent (the code was texted when it was
    /// made) and refresh its `last_seen_at`.
    AlreadyPending {
        /// The live request's code.
        code: PairingCode,
    },
}

/// The rule that admitted a sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchedRule {
    /// `"*"` in the config rules.
    Any,
    /// The sender's own entry in the config rules.
    Config(String),
    /// The sender's entry in the stored (paired) allow list.
    Stored(String),
}

/// Why a message was dropped. Every drop is silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// `dmPolicy` is `disabled`.
    PolicyDisabled,
    /// `allowlist` (or `open` without `"*"`) and the sender is not listed.
    NotAllowlisted,
    /// `pairing`, the sender is unknown, and [`PairingLimits::max_pending`] requests are
    /// already live: no new request until one expires or is approved.
    PendingLimitReached,
    /// `pairing`, but no free code came out of [`generate_code`]: the RNG is broken.
    CodeUnavailable,
    /// The sender id is empty or only whitespace.
    EmptySender,
}

impl DropReason {
    /// A stable snake-case name for logs and metrics (`dm_policy_disabled`,
    /// `dm_policy_not_allowlisted` as upstream; `pairing_pending_limit`,
    /// `pairing_code_unavailable`, `empty_sender`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PolicyDisabled => "dm_policy_disabled",
            Self::NotAllowlisted => "dm_policy_not_allowlisted",
            Self::PendingLimitReached => "pairing_pending_limit",
            Self::CodeUnavailable => "pairing_code_unavailable",
            Self::EmptySender => "empty_sender",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decides what to do with a direct message, as upstream does:
///
/// 1. `disabled`: drop.
/// 2. A config rule matches (`"*"` or the sender's id): allow. Under `pairing` only, a
///    stored entry also admits the sender.
/// 3. `allowlist`, or `open` without `"*"`: drop.
/// 4. `pairing`: if the sender has a live request, [`Challenge::AlreadyPending`] (stay
///    silent); else if [`PairingLimits::max_pending`] requests are live, drop; else a
///    [`Challenge::New`] request with a code from `rng`, unique among the live codes.
///
/// `rng` is drawn from only for a new request.
///
/// ```
/// use openclaw_access_policy::{
///     AllowRule, Challenge, Decision, DecisionInput, DmPolicy, MatchedRule, PairingLimits,
///     Timestamp, decide,
/// };
/// use rand::SeedableRng;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let config = [AllowRule::parse("+15557654321")?];
/// let limits = PairingLimits::default();
/// let input = DecisionInput {
///     policy: DmPolicy::Pairing,
///     config_allow: &config,
///     stored_allow: &[],
///     pending: &[],
///     sender: "+15557654321",
///     now: Timestamp::from_unix_millis(1_700_000_000_000),
///     limits: &limits,
/// };
/// assert_eq!(
///     decide(&input, &mut rng),
///     Decision::Allow { rule: MatchedRule::Config("+15557654321".into()) },
/// );
///
/// let stranger = DecisionInput { sender: "+15551234567", ..input };
/// let Decision::Challenge(Challenge::New(request)) = decide(&stranger, &mut rng) else {
///     panic!("a stranger is challenged under pairing");
/// };
/// assert_eq!(request.sender_id, "+15551234567");
/// assert_eq!(request.code.as_str().len(), 8);
/// # Ok::<(), openclaw_access_policy::PolicyConfigError>(())
/// ```
pub fn decide<R: RngCore + ?Sized>(input: &DecisionInput<'_>, rng: &mut R) -> Decision {
    let drop = |reason| Decision::Drop { reason };
    if input.policy == DmPolicy::Disabled {
        return drop(DropReason::PolicyDisabled);
    }
    let sender = input.sender;
    if sender.trim().is_empty() {
        return drop(DropReason::EmptySender);
    }
    if let Some(rule) = match_rule(input) {
        return Decision::Allow { rule };
    }
    if input.policy != DmPolicy::Pairing {
        return drop(DropReason::NotAllowlisted);
    }
    let (now, limits) = (input.now, input.limits);
    let live: Vec<&PairingRequest> = input
        .pending
        .iter()
        .filter(|r| !r.is_expired(now, limits))
        .collect();
    if let Some(mine) = live.iter().find(|r| r.sender_id == sender) {
        return Decision::Challenge(Challenge::AlreadyPending { code: mine.code });
    }
    if live.len() >= limits.max_pending {
        return drop(DropReason::PendingLimitReached);
    }
    let live_codes: Vec<PairingCode> = live.iter().map(|r| r.code).collect();
    match generate_code(rng, &live_codes) {
        Some(code) => Decision::Challenge(Challenge::New(PairingRequest {
            code,
            sender_id: sender.to_owned(),
            created_at: now,
            last_seen_at: now,
            meta: BTreeMap::new(),
        })),
        None => drop(DropReason::CodeUnavailable),
    }
}

/// The first rule admitting the sender: a config wildcard, the sender's config entry, or
/// (under `pairing`) the sender's stored entry.
fn match_rule(input: &DecisionInput<'_>) -> Option<MatchedRule> {
    let sender = input.sender;
    if input.config_allow.contains(&AllowRule::Any) {
        return Some(MatchedRule::Any);
    }
    if input.config_allow.iter().any(|r| r.matches(sender)) {
        return Some(MatchedRule::Config(sender.to_owned()));
    }
    let stored_counts = input.policy == DmPolicy::Pairing;
    (stored_counts && input.stored_allow.iter().any(|s| s == sender))
        .then(|| MatchedRule::Stored(sender.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const HOUR: i64 = 3_600_000;
    const ME: &str = "+15551234567";

    fn request(code: &str, sender: &str, created: i64) -> PairingRequest {
        PairingRequest {
            code: PairingCode::parse(code).unwrap(),
            sender_id: sender.to_owned(),
            created_at: Timestamp::from_unix_millis(created),
            last_seen_at: Timestamp::from_unix_millis(created),
            meta: BTreeMap::new(),
        }
    }

    /// The world a sender meets. `now` is always 10 hours after the epoch.
    fn world(state: &str) -> (Vec<AllowRule>, Vec<String>, Vec<PairingRequest>) {
        let now = 10 * HOUR;
        let others = || {
            vec![
                request("AAAA2222", "+15550000001", now - 10),
                request("BBBB3333", "+15550000002", now - 20),
                request("CCCC4444", "+15550000003", now - 30),
            ]
        };
        let rule = |s: &str| AllowRule::parse(s).unwrap();
        match state {
            "unknown" => (vec![rule("+15557654321")], vec![], vec![]),
            "config" => (vec![rule("+15557654321"), rule(ME)], vec![], vec![]),
            "wildcard" => (vec![rule("*")], vec![], vec![]),
            "stored" => (vec![], vec![ME.to_owned()], vec![]),
            "group" => (vec![rule("accessGroup:+15551234567")], vec![], vec![]),
            "pending" => (
                vec![],
                vec![],
                vec![request("MEME2345", ME, now - HOUR + 1)],
            ),
            "expired" => (vec![], vec![], vec![request("MEME2345", ME, now - HOUR)]),
            "full" => (vec![], vec![], others()),
            "full-one-expired" => {
                let mut r = others();
                r[1].created_at = Timestamp::from_unix_millis(now - 2 * HOUR);
                (vec![], vec![], r)
            }
            "full-mine-pending" => {
                let mut r = others();
                r.push(request("MEME2345", ME, now - 5));
                (vec![], vec![], r)
            }
            other => panic!("unknown state {other}"),
        }
    }

    fn show(decision: &Decision) -> String {
        match decision {
            Decision::Allow {
                rule: MatchedRule::Any,
            } => "allow:any".into(),
            Decision::Allow {
                rule: MatchedRule::Config(s),
            } => format!("allow:config:{s}"),
            Decision::Allow {
                rule: MatchedRule::Stored(s),
            } => format!("allow:stored:{s}"),
            Decision::Challenge(Challenge::New(r)) => format!("new:{}", r.sender_id),
            Decision::Challenge(Challenge::AlreadyPending { code }) => format!("pending:{code}"),
            Decision::Drop { reason } => format!("drop:{reason}"),
        }
    }

    fn check(policy: DmPolicy, state: &str, expected: &str) {
        let (config, stored, pending) = world(state);
        let limits = PairingLimits::default();
        let input = DecisionInput {
            policy,
            config_allow: &config,
            stored_allow: &stored,
            pending: &pending,
            sender: ME,
            now: Timestamp::from_unix_millis(10 * HOUR),
            limits: &limits,
        };
        let got = show(&decide(&input, &mut StdRng::seed_from_u64(9)));
        assert_eq!(got, expected, "{policy} / {state}");
    }

    #[test]
    fn every_policy_and_sender_state() {
        use DmPolicy::*;
        check(Pairing, "unknown", "new:+15551234567");
        check(Pairing, "config", "allow:config:+15551234567");
        check(Pairing, "wildcard", "allow:any");
        check(Pairing, "stored", "allow:stored:+15551234567");
        check(Pairing, "group", "new:+15551234567");
        check(Pairing, "pending", "pending:MEME2345");
        check(Pairing, "expired", "new:+15551234567");
        check(Pairing, "full", "drop:pairing_pending_limit");
        check(Pairing, "full-one-expired", "new:+15551234567");
        check(Pairing, "full-mine-pending", "pending:MEME2345");
        check(Allowlist, "unknown", "drop:dm_policy_not_allowlisted");
        check(Allowlist, "config", "allow:config:+15551234567");
        check(Allowlist, "wildcard", "allow:any");
        check(Allowlist, "stored", "drop:dm_policy_not_allowlisted");
        check(Allowlist, "group", "drop:dm_policy_not_allowlisted");
        check(Allowlist, "pending", "drop:dm_policy_not_allowlisted");
        check(Allowlist, "expired", "drop:dm_policy_not_allowlisted");
        check(Allowlist, "full", "drop:dm_policy_not_allowlisted");
        check(
            Allowlist,
            "full-one-expired",
            "drop:dm_policy_not_allowlisted",
        );
        check(
            Allowlist,
            "full-mine-pending",
            "drop:dm_policy_not_allowlisted",
        );
        check(Open, "unknown", "drop:dm_policy_not_allowlisted");
        check(Open, "config", "allow:config:+15551234567");
        check(Open, "wildcard", "allow:any");
        check(Open, "stored", "drop:dm_policy_not_allowlisted");
        check(Open, "group", "drop:dm_policy_not_allowlisted");
        check(Open, "pending", "drop:dm_policy_not_allowlisted");
        check(Open, "expired", "drop:dm_policy_not_allowlisted");
        check(Open, "full", "drop:dm_policy_not_allowlisted");
        check(Open, "full-one-expired", "drop:dm_policy_not_allowlisted");
        check(Open, "full-mine-pending", "drop:dm_policy_not_allowlisted");
        check(Disabled, "unknown", "drop:dm_policy_disabled");
        check(Disabled, "config", "drop:dm_policy_disabled");
        check(Disabled, "wildcard", "drop:dm_policy_disabled");
        check(Disabled, "stored", "drop:dm_policy_disabled");
        check(Disabled, "group", "drop:dm_policy_disabled");
        check(Disabled, "pending", "drop:dm_policy_disabled");
        check(Disabled, "expired", "drop:dm_policy_disabled");
        check(Disabled, "full", "drop:dm_policy_disabled");
        check(Disabled, "full-one-expired", "drop:dm_policy_disabled");
        check(Disabled, "full-mine-pending", "drop:dm_policy_disabled");
    }

    #[test]
    fn new_requests_are_stamped_now_and_avoid_live_codes() {
        let pending = [request("AAAA2222", "+15550000001", 0)];
        let limits = PairingLimits::default();
        let input = DecisionInput {
            policy: DmPolicy::Pairing,
            config_allow: &[],
            stored_allow: &[],
            pending: &pending,
            sender: ME,
            now: Timestamp::from_unix_millis(42),
            limits: &limits,
        };
        let Decision::Challenge(Challenge::New(r)) = decide(&input, &mut StdRng::seed_from_u64(3))
        else {
            panic!("expected a new request");
        };
        assert_eq!((r.created_at, r.last_seen_at), (input.now, input.now));
        assert_ne!(r.code, pending[0].code);
        assert!(r.meta.is_empty());
    }

    #[test]
    fn empty_sender_and_broken_rng_drop() {
        let limits = PairingLimits::default();
        let base = DecisionInput {
            policy: DmPolicy::Pairing,
            config_allow: &[AllowRule::Any],
            stored_allow: &[],
            pending: &[],
            sender: "  ",
            now: Timestamp::from_unix_millis(0),
            limits: &limits,
        };
        assert_eq!(
            show(&decide(&base, &mut StdRng::seed_from_u64(0))),
            "drop:empty_sender"
        );

        struct Zero;
        impl RngCore for Zero {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, dst: &mut [u8]) {
                dst.fill(0);
            }
        }
        let pending = [request("AAAAAAAA", "+15550000001", 0)];
        let input = DecisionInput {
            config_allow: &[],
            pending: &pending,
            sender: ME,
            ..base
        };
        assert_eq!(
            show(&decide(&input, &mut Zero)),
            "drop:pairing_code_unavailable"
        );
        // With a working RNG and the same state, a request is made.
        assert_eq!(
            show(&decide(&input, &mut StdRng::seed_from_u64(0))),
            "new:+15551234567"
        );
    }

    #[test]
    fn a_zero_cap_never_challenges() {
        let limits = PairingLimits::default().with_max_pending(0);
        let input = DecisionInput {
            policy: DmPolicy::Pairing,
            config_allow: &[],
            stored_allow: &[],
            pending: &[],
            sender: ME,
            now: Timestamp::from_unix_millis(0),
            limits: &limits,
        };
        assert_eq!(
            show(&decide(&input, &mut StdRng::seed_from_u64(0))),
            "drop:pairing_pending_limit"
        );
    }
}
