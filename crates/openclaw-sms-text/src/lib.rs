//! What a reply looks like on a phone, and what it costs.
//!
//! This crate is **pure**: it turns an agent's markdown reply into plain SMS text, detects
//! whether the text fits GSM-7 or needs UCS-2, counts segments exactly as Twilio does, and
//! splits long replies into parts that never break a grapheme cluster. No IO, no clock.
//!
//! It does not send anything: sending is `openclaw-twilio`'s job, and choosing what to send is
//! `openclaw-sms`'s.
//!
//! - [`to_plain_text`]: markdown to plain text (pulldown-cmark, smart punctuation off; lists
//!   with `- `, not `•`, so that a reply stays GSM-7).
//! - [`smart_encode`]: Twilio's Smart Encoding (curly quotes, dashes, odd spaces, fullwidth
//!   ASCII, … to GSM-7 look-alikes) when it makes the text GSM-7.
//! - [`analyze`]: encoding and segments, as Twilio's message-segment-calculator counts them.
//! - [`split`]: parts of at most `min(textChunkLimit, 1600)` UTF-16 units, broken at a
//!   paragraph, line, sentence or word; optional numbering and segment budget.
//! - [`prepare_reply`]: all of the above, the one call the gateway makes.
//!
//! ```
//! use openclaw_sms_text::{prepare_reply, ReplyOptions};
//!
//! let reply = prepare_reply("## Status\n\n- build: **green**\n- deploy: “queued”", &ReplyOptions::default());
//! assert_eq!(reply.text, "Status\n\n- build: green\n- deploy: \"queued\"");
//! let json = serde_json::to_string(&reply)?;
//! assert!(json.starts_with(r#"{"encoding":"GSM-7","segments":1,"characters":41,"units":41,"text":"#));
//! # Ok::<(), serde_json::Error>(())
//! ```

mod error;
mod gsm;
mod markdown;
mod reply;
mod segments;
mod smart;
mod split;

pub use error::ParseChunkLimitError;
pub use markdown::{HIDDEN_BLOCK_TAGS, to_plain_text};
pub use reply::{Reply, ReplyOptions, prepare_plain_reply, prepare_reply};
pub use segments::{
    Encoding, GSM7_MULTI_SEGMENT, GSM7_SINGLE_SEGMENT, SEGMENT_BITS, SegmentReport,
    UCS2_MULTI_SEGMENT, UCS2_SINGLE_SEGMENT, UDH_BITS, analyze, utf16_len,
};
pub use smart::{
    SMART_ENCODING_ADDITIONS, SMART_ENCODING_TABLE, smart_encode, smart_replacement, transliterate,
};
pub use split::{
    ChunkLimit, DEFAULT_CHUNK_LIMIT, LOOKAHEAD_LIMITS, MAX_CHUNK_LIMIT, MIN_CHUNK_LIMIT,
    MIN_FILL_PERCENT, Numbering, Part, SplitOptions, TRUNCATION_NOTICE, split,
};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
