//! The one entry point the gateway uses: markdown in, SMS parts out.

use serde::Serialize;

use crate::markdown::to_plain_text;
use crate::segments::{SegmentReport, analyze};
use crate::smart::smart_encode;
use crate::split::{Part, SplitOptions, split_with};

/// How to prepare a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyOptions {
    /// Replace GSM-7 look-alikes when that makes the text GSM-7 (default: on). Applied to the
    /// whole text and, when the whole text still needs UCS-2, to each part on its own.
    pub smart_encoding: bool,
    /// How to split the text into parts.
    pub split: SplitOptions,
}

impl Default for ReplyOptions {
    fn default() -> Self {
        Self {
            smart_encoding: true,
            split: SplitOptions::default(),
        }
    }
}

/// A reply ready to send, and what it costs.
///
/// Serialises as `{"encoding", "segments", "characters", "units", "text", "parts": [{"text",
/// "encoding", "segments", "units"}], "billed_segments", "truncated"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Reply {
    /// Encoding and segments of `text` as if sent as one message.
    #[serde(flatten)]
    pub report: SegmentReport,
    /// The plain text, after Smart Encoding when that made the whole text GSM-7.
    pub text: String,
    /// The messages to send, in order; empty when `text` is empty. Each part's `source` is its
    /// byte range in `text`; its `text` differs from that slice only by numbering, the budget
    /// notice, and Smart Encoding of that part alone (when the whole text needs UCS-2 but the
    /// part does not).
    pub parts: Vec<Part>,
    /// Segments the parts cost together: what Twilio bills.
    pub billed_segments: u32,
    /// The segment budget cut the reply: `parts` cover only the start of `text`, and the last
    /// part ends with [`TRUNCATION_NOTICE`](crate::TRUNCATION_NOTICE).
    pub truncated: bool,
}

/// Markdown reply -> plain text -> Smart Encoding -> parts, with the cost of each.
///
/// ```
/// use openclaw_sms_text::{prepare_reply, Encoding, ReplyOptions};
///
/// let reply = prepare_reply("**Done** — it’s saved.", &ReplyOptions::default());
/// assert_eq!(reply.text, "Done - it's saved.");
/// assert_eq!(reply.report.encoding, Encoding::Gsm7);
/// assert_eq!(reply.parts.len(), 1);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[must_use]
pub fn prepare_reply(markdown: &str, options: &ReplyOptions) -> Reply {
    prepare_plain_reply(&to_plain_text(markdown), options)
}

/// As [`prepare_reply`] for a text that is already plain (no markdown conversion): e.g. the
/// rest of a reply that was prepared before.
///
/// ```
/// use openclaw_sms_text::{prepare_plain_reply, ReplyOptions};
///
/// let reply = prepare_plain_reply("**kept** as written", &ReplyOptions::default());
/// assert_eq!(reply.text, "**kept** as written");
/// ```
#[must_use]
pub fn prepare_plain_reply(plain: &str, options: &ReplyOptions) -> Reply {
    let plain = plain.to_owned();
    let text = if options.smart_encoding {
        smart_encode(&plain).into_owned()
    } else {
        plain
    };
    let (parts, truncated) = split_with(&text, &options.split, options.smart_encoding);
    let billed_segments = parts.iter().map(|p| p.segments).sum();
    Reply {
        report: analyze(&text),
        text,
        parts,
        billed_segments,
        truncated,
    }
}
