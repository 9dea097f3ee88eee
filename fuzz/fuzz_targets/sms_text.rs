//! `prepare_reply` on arbitrary UTF-8, with options taken from the first bytes: never panics,
//! no part over its limit, parts cost what they say, the budget holds, and without numbering
//! or Smart Encoding the parts are the text minus breaking whitespace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw_sms_text::{
    ChunkLimit, Numbering, ReplyOptions, SplitOptions, analyze, prepare_reply, split, utf16_len,
};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let Ok(text) = std::str::from_utf8(&data[4..]) else { return };
    let limit = ChunkLimit::new(u64::from(u16::from_le_bytes([data[0], data[1]])));
    let numbering = match data[2] % 3 {
        0 => Numbering::Off,
        1 => Numbering::Prefix,
        _ => Numbering::Suffix,
    };
    let budget = (data[3] & 0x0f != 0).then_some(u32::from(data[3] >> 4));
    let options = ReplyOptions {
        smart_encoding: data[2] & 0x80 != 0,
        split: SplitOptions { chunk_limit: limit, numbering, max_segments: budget },
    };
    let reply = prepare_reply(text, &options);
    let mut billed = 0;
    for part in &reply.parts {
        assert!(part.units <= limit.units(), "part of {} units over {}", part.units, limit.units());
        assert_eq!(part.units, utf16_len(&part.text));
        assert_eq!(part.segments, analyze(&part.text).segments);
        billed += part.segments;
    }
    assert_eq!(billed, reply.billed_segments);
    if let Some(b) = budget.filter(|&b| b > 0) {
        assert!(billed <= b, "{billed} segments over a budget of {b}");
    }
    // The raw text, split plainly: bodies are slices, gaps are whitespace.
    let parts = split(text, &SplitOptions { chunk_limit: limit, ..SplitOptions::default() });
    let mut pos = 0;
    for part in &parts {
        assert_eq!(part.text, &text[part.source.clone()]);
        assert!(text[pos..part.source.start].chars().all(char::is_whitespace));
        pos = part.source.end;
    }
    assert!(text[pos..].chars().all(char::is_whitespace));
});
