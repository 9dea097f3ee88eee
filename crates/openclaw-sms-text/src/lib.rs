//! What a reply looks like on a phone, and what it costs.
//!
//! This crate is **pure**: it turns an agent's markdown reply into plain SMS text, detects
//! whether the text fits GSM-7 or needs UCS-2, counts segments exactly as Twilio does, and
//! splits long replies into parts that never break a grapheme cluster. No IO, no clock.
//!
//! It does not send anything: sending is `openclaw-twilio`'s job, and choosing what to send is
//! `openclaw-sms`'s.
