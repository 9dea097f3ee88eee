//! Integration tests of `openclaw-sms-text`: the calculator's published cases, markdown
//! snapshots, reply shape, and properties.

mod calculator;
mod markdown;
mod properties;
mod reply;
