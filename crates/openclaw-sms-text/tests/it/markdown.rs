//! Snapshots of markdown replies as a phone shows them, with their cost.
//!
//! Each snapshot holds the plain text, then the report of `prepare_reply` with the default
//! options (Smart Encoding on, 1500-unit parts).

use std::fmt::Write as _;

use openclaw_sms_text::{ReplyOptions, prepare_reply, to_plain_text};

fn render(markdown: &str) -> String {
    let reply = prepare_reply(markdown, &ReplyOptions::default());
    let mut out = String::new();
    writeln!(out, "{}", reply.text).unwrap();
    writeln!(out, "----").unwrap();
    writeln!(
        out,
        "{} · {} segment(s) as one message · {} characters · {} units",
        reply.report.encoding, reply.report.segments, reply.report.characters, reply.report.units
    )
    .unwrap();
    for (i, part) in reply.parts.iter().enumerate() {
        writeln!(
            out,
            "part {}: {} · {} segment(s) · {} units",
            i + 1,
            part.encoding,
            part.segments,
            part.units
        )
        .unwrap();
    }
    out
}

macro_rules! snapshot {
    ($name:ident, $file:literal) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(
                stringify!($name),
                render(include_str!(concat!("../data/", $file)))
            );
        }
    };
}

snapshot!(headings, "headings.md");
snapshot!(nested_lists, "nested-lists.md");
snapshot!(code, "code.md");
snapshot!(table, "table.md");
snapshot!(links, "links.md");
snapshot!(emoji, "emoji.md");
snapshot!(japanese, "japanese.md");
snapshot!(upstream, "upstream.md");
snapshot!(typography, "typography.md");
snapshot!(long_answer, "long-answer.md");

fn check(markdown: &str, expected: &str) {
    assert_eq!(to_plain_text(markdown), expected, "{markdown:?}");
}

/// Upstream's behaviours (`toSmsPlainText` of the npm `@openclaw/sms` plugin), one line each; where we
/// differ on purpose the comment says so.
#[test]
fn upstream_cases() {
    check("[label](https://x.io/a)", "label (https://x.io/a)");
    check("[https://x.io/a](https://x.io/a)", "https://x.io/a");
    check("[a@b.io](mailto:a@b.io)", "a@b.io");
    check("a\r\n\r\n\r\n\r\nb", "a\n\nb");
    check("  \n\n text \n\n ", "text");
    check("# Heading\n\nBody", "Heading\n\nBody");
    check("> quote", "quote");
    check("a\n\n***\n\nb", "a\n\nb");
    check("`code` and\n```\nblock\n```", "code and\n\nblock");
    // Upstream renders list items with `•`, which is not GSM-7; we use `- `.
    check("* one\n* two", "- one\n- two");
    // Upstream renders tables as bullets too.
    check("| k | v |\n|---|---|\n| a | 1 |", "- k: a; v: 1");
    // Reasoning scaffolding is removed (upstream `sanitizeAssistantVisibleText`).
    check("<think>plan</think>\nHello", "Hello");
}
