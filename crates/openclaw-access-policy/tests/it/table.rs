//! The cases of `tests/data/decisions.tsv`, one per line.

use openclaw_access_policy::{
    AllowRule, Challenge, Decision, DecisionInput, DmPolicy, MatchedRule, PairingCode,
    PairingLimits, PairingRequest, Timestamp, decide,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const TABLE: &str = include_str!("../data/decisions.tsv");
const MINUTE: i64 = 60_000;
const NOW: i64 = 1_000 * MINUTE;
/// Fixed codes for pending requests, distinct and from the alphabet.
const CODES: [&str; 4] = ["AAAA2222", "BBBB3333", "CCCC4444", "DDDD5555"];

fn list(col: &str) -> Vec<&str> {
    if col == "-" {
        Vec::new()
    } else {
        col.split(',').collect()
    }
}

fn check(line: &str) {
    let cols: Vec<&str> = line.split('\t').collect();
    let [policy, allow, stored, pending, sender, expected] = cols[..] else {
        panic!("malformed fixture line {line:?}");
    };
    let policy: DmPolicy = policy.parse().unwrap();
    let config: Vec<AllowRule> = list(allow)
        .into_iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let stored: Vec<String> = list(stored).into_iter().map(str::to_owned).collect();
    let pending: Vec<PairingRequest> = list(pending)
        .into_iter()
        .zip(CODES)
        .map(|(p, code)| {
            let (who, ago) = p.split_once('@').unwrap();
            let created = Timestamp::from_unix_millis(NOW - ago.parse::<i64>().unwrap() * MINUTE);
            PairingRequest {
                code: PairingCode::parse(code).unwrap(),
                sender_id: who.to_owned(),
                created_at: created,
                last_seen_at: created,
                meta: Default::default(),
            }
        })
        .collect();
    let limits = PairingLimits::default();
    let input = DecisionInput {
        policy,
        config_allow: &config,
        stored_allow: &stored,
        pending: &pending,
        sender,
        now: Timestamp::from_unix_millis(NOW),
        limits: &limits,
    };
    let decision = decide(&input, &mut StdRng::seed_from_u64(5));
    let got = match &decision {
        Decision::Allow {
            rule: MatchedRule::Any,
        } => "allow:any".to_owned(),
        Decision::Allow {
            rule: MatchedRule::Config(s),
        } => {
            assert_eq!(s, sender);
            "allow:config".to_owned()
        }
        Decision::Allow {
            rule: MatchedRule::Stored(s),
        } => {
            assert_eq!(s, sender);
            "allow:stored".to_owned()
        }
        Decision::Challenge(Challenge::New(r)) => {
            assert_eq!(r.sender_id, sender);
            assert!(
                pending.iter().all(|p| p.code != r.code),
                "code reused: {r:?}"
            );
            "new".to_owned()
        }
        Decision::Challenge(Challenge::AlreadyPending { code }) => {
            let mine = pending.iter().find(|p| p.sender_id == sender).unwrap();
            assert_eq!(&mine.code, code);
            "pending".to_owned()
        }
        Decision::Drop { reason } => format!("drop:{reason}"),
        other => format!("{other:?}"),
    };
    assert_eq!(got, expected, "line {line:?}");
}

#[test]
fn fixture_table() {
    let lines: Vec<&str> = TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert!(lines.len() > 20, "fixture lost its cases");
    for line in lines {
        check(line);
    }
}
