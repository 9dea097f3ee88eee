//! `prepare_reply`: the JSON shape, limits, numbering and the segment budget.

use openclaw_sms_text::{
    ChunkLimit, Encoding, Numbering, ReplyOptions, SplitOptions, TRUNCATION_NOTICE, analyze,
    prepare_reply, split,
};

fn options(limit: u64, numbering: Numbering, max_segments: Option<u32>) -> ReplyOptions {
    ReplyOptions {
        smart_encoding: true,
        split: SplitOptions {
            chunk_limit: ChunkLimit::new(limit),
            numbering,
            max_segments,
        },
    }
}

#[test]
fn json_shape() {
    let reply = prepare_reply(
        "**Hi** — see [docs](https://x.io) 👋",
        &ReplyOptions::default(),
    );
    insta::assert_json_snapshot!("json_shape", reply);
    // The report is flattened into the top level, in this order.
    let json = serde_json::to_string(&reply).unwrap();
    let keys = [
        "encoding",
        "segments",
        "characters",
        "units",
        "text",
        "parts",
        "billed_segments",
        "truncated",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| json.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
    assert!(
        json.starts_with(r#"{"encoding":"UCS-2","segments":1,"#),
        "{json}"
    );
}

#[test]
fn zero_limit_is_the_default_not_one_message_per_character() {
    // Upstream: SMS_TEXT_CHUNK_LIMIT=0 sent 7,550 messages for one reply.
    let text = "word ".repeat(1510);
    let reply = prepare_reply(&text, &options(0, Numbering::Off, None));
    assert_eq!(reply.parts.len(), 6);
    assert!(reply.parts.iter().all(|p| p.units <= 1500));
    let tiny = prepare_reply(&text, &options(1, Numbering::Off, None));
    let (last, full) = tiny.parts.split_last().unwrap();
    assert_eq!(
        tiny.parts.len(),
        108,
        "70-unit parts, not one message per character"
    );
    assert!(full.iter().all(|p| p.units == 69) && last.units <= 70);
}

#[test]
fn limit_is_capped_at_1600_utf16_units() {
    let text = "😀".repeat(2000);
    let reply = prepare_reply(&text, &options(99_999, Numbering::Off, None));
    assert_eq!(
        reply.parts.iter().map(|p| p.units).collect::<Vec<_>>(),
        [1600, 1600, 800]
    );
    // 800 emoji of 32 bits: 33 fit in the 1072 bits of a concatenated segment.
    assert_eq!(reply.parts[0].segments, 25);
}

#[test]
fn numbering_counts_toward_the_limit() {
    let text = "abc ".repeat(100);
    for numbering in [Numbering::Prefix, Numbering::Suffix] {
        let reply = prepare_reply(&text, &options(100, numbering, None));
        let n = reply.parts.len();
        assert_eq!(n, 5);
        for (i, part) in reply.parts.iter().enumerate() {
            assert!(part.units <= 100);
            let label = format!("({}/{n})", i + 1);
            match numbering {
                Numbering::Prefix => {
                    assert!(part.text.starts_with(&format!("{label} ")), "{}", part.text);
                }
                _ => assert!(part.text.ends_with(&format!(" {label}")), "{}", part.text),
            }
        }
    }
    let single = prepare_reply("short", &options(100, Numbering::Suffix, None));
    assert_eq!(single.parts[0].text, "short");
}

#[test]
fn budget_cuts_at_a_boundary_and_says_so() {
    let text = (1..=40)
        .map(|i| format!("Sentence number {i} is here."))
        .collect::<Vec<_>>()
        .join(" ");
    let full = prepare_reply(&text, &ReplyOptions::default());
    assert_eq!((full.billed_segments, full.truncated), (8, false));
    for budget in 1..=7 {
        let cut = prepare_reply(&text, &options(1500, Numbering::Off, Some(budget)));
        assert!(cut.truncated);
        assert!(
            cut.billed_segments <= budget,
            "{budget}: {}",
            cut.billed_segments
        );
        let last = cut.parts.last().unwrap();
        assert!(
            last.text.ends_with(&format!(".\n{TRUNCATION_NOTICE}")),
            "{}",
            last.text
        );
    }
    let roomy = prepare_reply(&text, &options(1500, Numbering::Off, Some(8)));
    assert!(!roomy.truncated);
    let zero = prepare_reply(&text, &options(1500, Numbering::Off, Some(0)));
    assert_eq!(zero, full, "Some(0) means no budget");
}

#[test]
fn budget_with_numbering_and_small_parts() {
    let text = "lorem ipsum dolor sit amet ".repeat(60);
    for budget in 1..12 {
        let reply = prepare_reply(&text, &options(160, Numbering::Suffix, Some(budget)));
        assert!(
            reply.billed_segments <= budget,
            "{budget}: {}",
            reply.billed_segments
        );
        assert!(reply.parts.iter().all(|p| p.units <= 160));
        let n = reply.parts.len();
        if n > 1 {
            assert!(reply.parts[n - 1].text.ends_with(&format!(" ({n}/{n})")));
        }
    }
}

#[test]
fn each_part_is_smart_encoded_on_its_own() {
    // One emoji at the end keeps the whole text UCS-2, but the first part can be GSM-7.
    let text = format!(
        "{}\n\nBye 👋 {}",
        "It’s “quoted” text. ".repeat(72),
        "See you soon. ".repeat(5)
    );
    let reply = prepare_reply(&text, &ReplyOptions::default());
    assert_eq!(reply.report.encoding, Encoding::Ucs2);
    assert_eq!(reply.parts.len(), 2);
    assert_eq!(reply.parts[0].encoding, Encoding::Gsm7);
    assert!(reply.parts[0].text.starts_with("It's \"quoted\" text."));
    assert!(reply.parts[1].text.starts_with("Bye 👋"));
    assert!(reply.billed_segments < analyze(&reply.text).segments);
    let off = prepare_reply(
        &text,
        &ReplyOptions {
            smart_encoding: false,
            ..ReplyOptions::default()
        },
    );
    assert_eq!(off.parts[0].encoding, Encoding::Ucs2);
}

#[test]
fn empty_reply_has_no_parts() {
    for md in ["", "   \n\n", "<think>only thoughts</think>", "---"] {
        let reply = prepare_reply(md, &ReplyOptions::default());
        assert_eq!(
            (
                reply.text.as_str(),
                reply.parts.len(),
                reply.report.segments
            ),
            ("", 0, 0),
            "{md:?}"
        );
    }
    assert!(split(" \n ", &SplitOptions::default()).is_empty());
}

#[test]
fn bullet_rendering_costs_twice_as_much() {
    // Upstream renders list items with `•`, which is not GSM-7.
    let markdown = include_str!("../data/long-answer.md");
    let ours = prepare_reply(markdown, &ReplyOptions::default());
    let bullets = openclaw_sms_text::to_plain_text(markdown)
        .replace("\n- ", "\n• ")
        .replace("\n  - ", "\n  • ");
    let upstream: u32 = split(&bullets, &SplitOptions::default())
        .iter()
        .map(|p| p.segments)
        .sum();
    assert_eq!(ours.report.encoding, Encoding::Gsm7);
    assert_eq!(analyze(&bullets).encoding, Encoding::Ucs2);
    assert_eq!((ours.billed_segments, upstream), (15, 33));
}
