//! Integration tests for `openclaw-sms-target`: the fixture table and property tests.

mod props;
mod table;
