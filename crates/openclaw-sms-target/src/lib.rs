//! Parse SMS targets, E.164 numbers and allow-list entries.
//!
//! This crate is **pure**: values in, values out. It does no IO, reads no clock and no
//! environment. It turns what people type (`sms:+15551234567`, `twilio-sms:+1…`, `(415) 555-2671`
//! with a default region) into an [`E164`] newtype, or into an error that says what to write
//! instead.
//!
//! It is not a phone-number library (that is [`phonenumber`], which it uses), and it knows
//! nothing about Twilio or sending. Access decisions live in `openclaw-access-policy`; the SMS
//! channel that uses both is `openclaw-sms`.
