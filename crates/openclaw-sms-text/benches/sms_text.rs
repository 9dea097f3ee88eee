//! Throughput of segment counting (1 MB of mixed text) and of plain text + split (a 2 KB
//! model reply), each against `str::chars().count()` over the same bytes, measured in the same
//! run so that the ratio is visible.
//!
//! `cargo bench -p openclaw-sms-text --bench sms_text -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use openclaw_sms_text::{ReplyOptions, analyze, prepare_reply};

const MB: usize = 1_000_000;

/// About 1 MB of mixed text: mostly English with typographic punctuation, GSM-7 extension
/// characters, accented letters, emoji (with modifiers and ZWJ), flags and Japanese.
fn mixed_megabyte() -> String {
    let samples = [
        "The quick brown fox jumps over the lazy dog. Meet at 5 [room 2] {bring €10}.\n",
        "Café crème, naïve façade — “quoted” text… ",
        "Thanks! 👍🏽 See you soon 👩‍👩‍👧 🇯🇵\n",
        "明日の予定：東京駅で10時に集合です。\n",
        "Plain ASCII line with numbers 1234567890 and an URL https://example.com/path?q=1\n\n",
    ];
    let mut text = String::with_capacity(MB + 256);
    let mut i = 0;
    while text.len() < MB {
        text.push_str(samples[i % samples.len()]);
        text.push_str(samples[0]);
        i += 1;
    }
    text
}

fn reply_markdown() -> &'static str {
    include_str!("../tests/data/long-answer.md")
}

fn criterion_benches(c: &mut Criterion) {
    let text = mixed_megabyte();
    let mut group = c.benchmark_group("segments_1mb");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("analyze", |b| b.iter(|| analyze(black_box(&text))));
    group.bench_function("baseline_chars_count", |b| {
        b.iter(|| black_box(&text).chars().count());
    });
    group.finish();

    let md = reply_markdown();
    let options = ReplyOptions::default();
    let mut group = c.benchmark_group("reply_2kb");
    group.throughput(Throughput::Bytes(md.len() as u64));
    group.bench_function("prepare_reply", |b| {
        b.iter(|| prepare_reply(black_box(md), &options));
    });
    let plain = openclaw_sms_text::to_plain_text(md);
    group.bench_function("to_plain_text", |b| {
        b.iter(|| openclaw_sms_text::to_plain_text(black_box(md)));
    });
    group.bench_function("split", |b| {
        b.iter(|| openclaw_sms_text::split(black_box(&plain), &options.split));
    });
    group.bench_function("baseline_chars_count", |b| {
        b.iter(|| black_box(md).chars().count());
    });
    group.finish();
}

/// Runs `f` for about `budget` and returns MB/s over `bytes` per call.
#[allow(clippy::disallowed_methods)] // reason: a benchmark measures time by design
fn mb_per_s(bytes: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < budget {
        f();
        calls += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    f64::from(calls) * bytes as f64 / secs / 1e6
}

fn summary() {
    let budget = Duration::from_secs(2);
    let text = mixed_megabyte();
    let analyze_rate = mb_per_s(text.len(), budget, || {
        black_box(analyze(black_box(&text)));
    });
    let base = mb_per_s(text.len(), budget, || {
        black_box(black_box(&text).chars().count());
    });
    println!(
        "segment counting, {:.2} MB mixed text: {analyze_rate:.1} MB/s; baseline chars().count(): {base:.1} MB/s; ratio {:.3} (aim > 50 MB/s)",
        text.len() as f64 / 1e6,
        analyze_rate / base
    );
    let md = reply_markdown();
    let options = ReplyOptions::default();
    let reply_rate = mb_per_s(md.len(), budget, || {
        black_box(prepare_reply(black_box(md), &options));
    });
    let base = mb_per_s(md.len(), budget, || {
        black_box(black_box(md).chars().count());
    });
    println!(
        "plain text + split, {} B model reply: {reply_rate:.1} MB/s; baseline chars().count(): {base:.1} MB/s; ratio {:.4} (aim > 20 MB/s)",
        md.len(),
        reply_rate / base
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
    if !std::env::args().any(|a| a == "--test" || a == "--list" || a == "--profile-time") {
        summary();
    }
}
