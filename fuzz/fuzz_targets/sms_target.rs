//! Fuzz `openclaw-sms-target`'s parsers on arbitrary strings: no panics, and whatever parses
//! re-parses from its display to the same value.
//!
//! The first byte picks the options (none, region US, region US strict), so that each input
//! runs each parser once: the numbering-plan check is the expensive part.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw_sms_target::{
    AllowEntry, E164, InboundSender, ParseOptions, Region, Target, parse_comma_allow_list,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    let us = ParseOptions::new().with_default_region(Region::parse("US").expect("US is a region"));
    let options = match selector % 3 {
        0 => ParseOptions::default(),
        1 => us,
        _ => us.with_strict(true),
    };
    if let Ok(target) = Target::parse(s, &options) {
        let again = E164::parse(target.number().as_str()).expect("a parsed number re-parses");
        assert_eq!(&again, target.number());
        let shown: Target = target.to_string().parse().expect("a target re-parses");
        assert_eq!(shown.number(), target.number());
        assert_eq!(shown.prefix(), target.prefix());
        assert_eq!(shown.warnings(), target.warnings());
    }
    if let Ok(number) = E164::parse(s) {
        assert_eq!(E164::parse(number.as_str()).ok(), Some(number));
    }
    if let Ok(sender) = InboundSender::parse(s) {
        assert_eq!(
            E164::parse(sender.number().as_str()).as_ref(),
            Ok(sender.number())
        );
    }
    if let Ok(entry) = AllowEntry::parse_with(s, &options) {
        assert_eq!(entry.to_string().parse::<AllowEntry>().ok(), Some(entry));
    }
    let _ = parse_comma_allow_list(s);
    let _ = Region::parse(s);
});
