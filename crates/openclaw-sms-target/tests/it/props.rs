//! Property tests: round trips and no panics on arbitrary input.

use openclaw_sms_target::{
    AllowEntry, E164, InboundSender, ParseOptions, Region, Target, TargetPrefix,
};
use proptest::prelude::*;

/// Country calling codes of every length, geographic and not.
const CODES: &[&str] = &[
    "1", "7", "20", "27", "30", "31", "33", "34", "39", "44", "49", "52", "55", "61", "81", "86",
    "91", "234", "351", "353", "800", "852", "880", "882", "971", "998",
];

/// Any structurally valid E.164 number.
fn e164() -> impl Strategy<Value = E164> {
    (
        prop::sample::select(CODES),
        prop::collection::vec(0u8..10, 6..=14),
    )
        .prop_filter_map("7 to 15 digits", |(cc, rest)| {
            let mut digits = cc.to_owned();
            digits.extend(rest.iter().map(|d| char::from(b'0' + d)));
            (7..=15)
                .contains(&digits.len())
                .then(|| E164::parse(&format!("+{digits}")).unwrap())
        })
}

/// Separators people put between digits.
fn spaced(number: &E164, seps: &[u8]) -> String {
    let mut out = String::from("+");
    for (i, d) in number.digits().chars().enumerate() {
        out.push(d);
        match seps.get(i).copied().unwrap_or(0) % 6 {
            1 => out.push(' '),
            2 => out.push('-'),
            3 => out.push('.'),
            _ => {}
        }
    }
    out
}

proptest! {
    #[test]
    fn e164_round_trips(n in e164()) {
        prop_assert_eq!(E164::parse(n.as_str()).unwrap(), n.clone());
        prop_assert_eq!(n.to_string().parse::<E164>().unwrap(), n.clone());
        let json = serde_json::to_string(&n).unwrap();
        prop_assert_eq!(serde_json::from_str::<E164>(&json).unwrap(), n.clone());
        prop_assert_eq!(
            format!("+{}{}", n.country_code(), n.national_digits()),
            n.to_string()
        );
    }

    #[test]
    fn separators_do_not_change_the_number(n in e164(), seps in prop::collection::vec(any::<u8>(), 15)) {
        prop_assert_eq!(E164::parse(&spaced(&n, &seps)).unwrap(), n);
    }

    #[test]
    fn targets_round_trip(n in e164(), which in 0usize..3, upper in any::<bool>()) {
        let prefix = ["", "sms:", "twilio-sms:"][which];
        let prefix = if upper { prefix.to_ascii_uppercase() } else { prefix.to_owned() };
        let target = Target::parse(&format!("{prefix}{n}"), &ParseOptions::default()).unwrap();
        prop_assert_eq!(target.number(), &n);
        let want = [TargetPrefix::None, TargetPrefix::Sms, TargetPrefix::TwilioSms][which];
        prop_assert_eq!(target.prefix(), want);
        prop_assert_eq!(target.to_string().parse::<Target>().unwrap(), target.clone());
        // Strict mode refuses exactly what the plan warns about.
        let strict = Target::parse(n.as_str(), &ParseOptions::new().with_strict(true));
        prop_assert_eq!(strict.is_ok(), n.plan_warning().is_none());
    }

    #[test]
    fn allow_entries_and_senders_round_trip(n in e164(), rcs in any::<bool>()) {
        let entry = AllowEntry::parse(&format!("sms:{n}")).unwrap();
        prop_assert_eq!(entry.to_string().parse::<AllowEntry>().unwrap(), entry.clone());
        prop_assert_eq!(AllowEntry::parse(n.digits()).unwrap(), entry);
        let from = if rcs { format!("rcs:{n}") } else { n.to_string() };
        let sender = InboundSender::parse(&from).unwrap();
        prop_assert_eq!((sender.number(), sender.is_rcs()), (&n, rcs));
    }

    #[test]
    fn us_national_numbers_read_in_the_us(
        area in 200u32..1000, exchange in 200u32..1000, line in 0u32..10000
    ) {
        let us = ParseOptions::new().with_default_region(Region::parse("US").unwrap());
        let national = format!("({area}) {exchange}-{line:04}");
        let target = Target::parse(&national, &us).unwrap();
        prop_assert_eq!(target.number().to_string(), format!("+1{area}{exchange}{line:04}"));
    }

    #[test]
    fn arbitrary_input_never_panics_and_results_reparse(s in "\\PC{0,40}") {
        check_arbitrary(&s);
    }

    #[test]
    fn number_like_input_never_panics_and_results_reparse(
        s in "(sms:|twilio-sms:|rcs:|SMS:|whatsapp:|accessGroup:)?[ +()0-9.-]{0,24}"
    ) {
        check_arbitrary(&s);
    }
}

fn check_arbitrary(s: &str) {
    let gb = ParseOptions::new().with_default_region(Region::parse("GB").unwrap());
    for options in [ParseOptions::default(), gb, gb.with_strict(true)] {
        if let Ok(t) = Target::parse(s, &options) {
            assert_eq!(&E164::parse(t.number().as_str()).unwrap(), t.number());
            assert_eq!(
                t.to_string().parse::<Target>().unwrap().number(),
                t.number()
            );
        }
    }
    if let Ok(sender) = InboundSender::parse(s) {
        assert_eq!(
            &E164::parse(sender.number().as_str()).unwrap(),
            sender.number()
        );
    }
    if let Ok(entry) = AllowEntry::parse(s) {
        assert_eq!(entry.to_string().parse::<AllowEntry>().unwrap(), entry);
    }
}
