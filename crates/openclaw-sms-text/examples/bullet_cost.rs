//! What one long markdown reply costs: sent raw, formatted by this crate, and formatted with
//! `•` bullets as upstream does (no Smart Encoding, 1500-unit chunks).
//!
//! `cargo run -p openclaw-sms-text --example bullet_cost` (the reply is `tests/data/long-answer.md`).

use openclaw_sms_text::{
    ReplyOptions, SplitOptions, analyze, prepare_reply, smart_encode, split, to_plain_text,
};

/// Our plain text with upstream's list marker: `- ` at the start of a line becomes `• `.
fn with_bullets(plain: &str) -> String {
    plain
        .lines()
        .map(|line| {
            let indent = line.len() - line.trim_start().len();
            match line[indent..].strip_prefix("- ") {
                Some(rest) => format!("{}• {rest}", &line[..indent]),
                None => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn row(label: &str, text: &str) {
    let report = analyze(text);
    let parts = split(text, &SplitOptions::default());
    let billed: u32 = parts.iter().map(|p| p.segments).sum();
    println!(
        "{label:<34} {:>5} {:>6} {:>9} {:>6} {:>7}",
        report.encoding.as_str(),
        report.units,
        report.segments,
        parts.len(),
        billed
    );
}

fn main() {
    let markdown = include_str!("../tests/data/long-answer.md");
    let ours = prepare_reply(markdown, &ReplyOptions::default());
    let bullets = with_bullets(&to_plain_text(markdown));
    println!(
        "{:<34} {:>5} {:>6} {:>9} {:>6} {:>7}",
        "rendering", "enc", "units", "as 1 msg", "parts", "billed"
    );
    row("raw markdown (no formatting)", markdown);
    row("ours, smart encoding off", &to_plain_text(markdown));
    row("ours: plain text + smart encoding", &ours.text);
    row("upstream style: `•` bullets", &bullets);
    // Twilio's own Smart Encoding maps `•` to `-`, but upstream neither applies it nor sets
    // `SmartEncoded`, so this row is what Smart Encoding alone would recover.
    row("`•` bullets, then Smart Encoding", &smart_encode(&bullets));
}
