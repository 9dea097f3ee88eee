//! Properties: no part over its limit, no grapheme cluster split, parts re-join to the text,
//! segment counts agree with the closed formulas where those apply, the budget holds.

use openclaw_sms_text::{
    ChunkLimit, Encoding, Numbering, ReplyOptions, SplitOptions, analyze, prepare_reply, split,
};
use proptest::prelude::*;
use unicode_segmentation::UnicodeSegmentation;

/// Text built from pieces a reply is made of: words, punctuation, spaces, line breaks,
/// paragraphs, URLs, emoji (with modifiers and ZWJ), flags, CJK, combining marks, no-break
/// spaces and GSM-7 extension characters.
fn reply_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z]{1,12}",
        Just(" ".to_owned()),
        Just(" ".to_owned()),
        Just(". ".to_owned()),
        Just("! ".to_owned()),
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\t".to_owned()),
        Just("https://example.com/some/long/path?x=1".to_owned()),
        Just("😀".to_owned()),
        Just("👍🏽".to_owned()),
        Just("👩‍👩‍👧".to_owned()),
        Just("🇯🇵".to_owned()),
        Just("日本語です。".to_owned()),
        Just("e\u{301}".to_owned()),
        Just("\u{a0}".to_owned()),
        Just("[x]{€}".to_owned()),
        Just("“q” — …".to_owned()),
        "\\PC{1,3}",
    ];
    proptest::collection::vec(piece, 0..400).prop_map(|v| v.concat())
}

fn limit() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..2000, Just(70), Just(160), Just(1600)]
}

fn numbering() -> impl Strategy<Value = Numbering> {
    prop_oneof![
        Just(Numbering::Off),
        Just(Numbering::Prefix),
        Just(Numbering::Suffix)
    ]
}

fn is_breaking_whitespace(s: &str) -> bool {
    s.graphemes(true).all(|g| {
        g.chars()
            .all(|c| c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}'))
    })
}

fn boundaries(text: &str) -> Vec<usize> {
    let mut b: Vec<usize> = text.grapheme_indices(true).map(|(i, _)| i).collect();
    b.push(text.len());
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn parts_fit_rejoin_and_keep_graphemes(text in reply_text(), limit in limit(), numbering in numbering()) {
        let options = SplitOptions { chunk_limit: ChunkLimit::new(limit), numbering, max_segments: None };
        let max = options.chunk_limit.units();
        let parts = split(&text, &options);
        let cuts = boundaries(&text);
        let mut pos = 0;
        for part in &parts {
            prop_assert!(part.units <= max, "{} > {max}", part.units);
            prop_assert!(part.units == openclaw_sms_text::utf16_len(&part.text));
            let body = &text[part.source.clone()];
            prop_assert!(!body.is_empty());
            prop_assert!(part.text.contains(body));
            if numbering == Numbering::Off {
                prop_assert_eq!(&part.text, body);
            }
            // Only breaking whitespace is dropped between parts.
            prop_assert!(is_breaking_whitespace(&text[pos..part.source.start]), "dropped {:?}", &text[pos..part.source.start]);
            // Parts start and end on grapheme-cluster boundaries.
            prop_assert!(cuts.binary_search(&part.source.start).is_ok());
            prop_assert!(cuts.binary_search(&part.source.end).is_ok());
            pos = part.source.end;
        }
        prop_assert!(is_breaking_whitespace(&text[pos..]));
        // Re-join: the bodies and the dropped whitespace give back the text.
        let mut rejoined = String::new();
        let mut at = 0;
        for part in &parts {
            rejoined.push_str(&text[at..part.source.start]);
            rejoined.push_str(&text[part.source.clone()]);
            at = part.source.end;
        }
        rejoined.push_str(&text[at..]);
        prop_assert_eq!(rejoined, text.clone());
        prop_assert_eq!(parts.is_empty(), is_breaking_whitespace(&text));
    }

    #[test]
    fn budget_holds(text in reply_text(), limit in limit(), numbering in numbering(), budget in 1u32..12) {
        let options = ReplyOptions {
            smart_encoding: true,
            split: SplitOptions { chunk_limit: ChunkLimit::new(limit), numbering, max_segments: Some(budget) },
        };
        let reply = prepare_reply(&text, &options);
        prop_assert!(reply.billed_segments <= budget || reply.parts.is_empty());
        prop_assert_eq!(reply.billed_segments, reply.parts.iter().map(|p| p.segments).sum::<u32>());
        for part in &reply.parts {
            prop_assert!(part.units <= options.split.chunk_limit.units());
        }
    }

    #[test]
    fn gsm_segments_match_the_formula(text in "[a-zA-Z0-9 .,!?@£$_\n]{0,2000}") {
        let r = analyze(&text);
        let n = u32::try_from(text.chars().count()).unwrap();
        let expected = match n { 0 => 0, 1..=160 => 1, _ => n.div_ceil(153) };
        prop_assert_eq!((r.encoding, r.segments, r.characters), (Encoding::Gsm7, expected, n));
    }

    #[test]
    fn ucs2_segments_match_the_formula(text in "[a-zé日本ωж ]{0,1500}") {
        // All single-unit graphemes; the CJK or Cyrillic ones force UCS-2 when present.
        let r = analyze(&text);
        let n = openclaw_sms_text::utf16_len(&text);
        let expected = match n { 0 => 0, 1..=70 => 1, _ => n.div_ceil(67) };
        if r.encoding == Encoding::Ucs2 {
            prop_assert_eq!(r.segments, expected);
            prop_assert_eq!(r.characters, n);
        }
    }

    #[test]
    fn analyze_never_panics(text in "\\PC*") {
        let r = analyze(&text);
        prop_assert_eq!(r.units, openclaw_sms_text::utf16_len(&text));
    }
}
