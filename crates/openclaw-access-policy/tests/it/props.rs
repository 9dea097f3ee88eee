//! Property tests: codes, expiry, the pending cap.

use std::collections::BTreeMap;
use std::time::Duration;

use openclaw_access_policy::{
    Challenge, Decision, DecisionInput, DmPolicy, PAIRING_CODE_ALPHABET, PAIRING_CODE_LEN,
    PairingCode, PairingLimits, PairingRequest, Timestamp, decide, find_request_by_code,
    generate_code, prune_expired,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn code() -> impl Strategy<Value = PairingCode> {
    proptest::string::string_regex("[ABCDEFGHJKLMNPQRSTUVWXYZ2-9]{8}")
        .unwrap()
        .prop_map(|s| PairingCode::parse(&s).unwrap())
}

/// Requests from distinct senders `s0`, `s1`, … created up to two hours before `now`.
fn requests(now: i64) -> impl Strategy<Value = Vec<PairingRequest>> {
    prop::collection::vec((code(), 0i64..7_200_000), 0..8).prop_map(move |v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (code, age))| PairingRequest {
                code,
                sender_id: format!("s{i}"),
                created_at: Timestamp::from_unix_millis(now - age),
                last_seen_at: Timestamp::from_unix_millis(now - age / 2),
                meta: BTreeMap::new(),
            })
            .collect()
    })
}

fn limits() -> impl Strategy<Value = PairingLimits> {
    (0usize..5, 1u64..7_200_000).prop_map(|(max, ttl)| {
        PairingLimits::default()
            .with_max_pending(max)
            .with_ttl(Duration::from_millis(ttl))
    })
}

proptest! {
    #[test]
    fn codes_are_in_the_alphabet_and_length(seed in any::<u64>(), live in prop::collection::vec(code(), 0..5)) {
        let code = generate_code(&mut StdRng::seed_from_u64(seed), &live).unwrap();
        prop_assert_eq!(code.as_str().len(), PAIRING_CODE_LEN);
        prop_assert!(code.as_str().chars().all(|c| PAIRING_CODE_ALPHABET.contains(c)));
        prop_assert!(!live.contains(&code));
        prop_assert_eq!(PairingCode::parse(&code.as_str().to_lowercase()).unwrap(), code);
        prop_assert_eq!(code.to_string().parse::<PairingCode>().unwrap(), code);
    }

    #[test]
    fn expired_requests_never_match(
        now in 10_000_000i64..20_000_000, reqs in requests(15_000_000), limits in limits(), idx in any::<prop::sample::Index>()
    ) {
        let now = Timestamp::from_unix_millis(now);
        for r in &reqs {
            let found = find_request_by_code(&reqs, &r.code.as_str().to_lowercase(), now, &limits);
            if r.is_expired(now, &limits) {
                // Nothing expired is ever returned, for any code.
                prop_assert!(found.is_none_or(|f| !f.is_expired(now, &limits)));
            } else {
                // A live request is found (the first live one with that code).
                prop_assert!(found.is_some_and(|f| f.code == r.code));
            }
        }
        if !reqs.is_empty() {
            // The sender of an expired request is never "already pending".
            let r = &reqs[idx.index(reqs.len())];
            let input = DecisionInput {
                policy: DmPolicy::Pairing,
                config_allow: &[],
                stored_allow: &[],
                pending: &reqs,
                sender: &r.sender_id,
                now,
                limits: &limits,
            };
            let decision = decide(&input, &mut StdRng::seed_from_u64(1));
            let pending = matches!(decision, Decision::Challenge(Challenge::AlreadyPending { .. }));
            prop_assert_eq!(pending, !r.is_expired(now, &limits));
        }
        let mut pruned = reqs.clone();
        let removed = prune_expired(&mut pruned, now, &limits);
        prop_assert!(pruned.iter().all(|r| !r.is_expired(now, &limits)));
        prop_assert_eq!(removed, reqs.iter().filter(|r| r.is_expired(now, &limits)).count());
    }

    #[test]
    fn new_requests_respect_the_cap_and_live_codes(
        reqs in requests(15_000_000), limits in limits(), seed in any::<u64>()
    ) {
        let now = Timestamp::from_unix_millis(15_000_000);
        let input = DecisionInput {
            policy: DmPolicy::Pairing,
            config_allow: &[],
            stored_allow: &[],
            pending: &reqs,
            sender: "newcomer",
            now,
            limits: &limits,
        };
        let live: Vec<&PairingRequest> = reqs.iter().filter(|r| !r.is_expired(now, &limits)).collect();
        match decide(&input, &mut StdRng::seed_from_u64(seed)) {
            Decision::Challenge(Challenge::New(r)) => {
                prop_assert!(live.len() < limits.max_pending);
                prop_assert!(live.iter().all(|l| l.code != r.code));
                prop_assert_eq!((r.created_at, r.sender_id.as_str()), (now, "newcomer"));
            }
            Decision::Drop { .. } => prop_assert!(live.len() >= limits.max_pending),
            other => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
