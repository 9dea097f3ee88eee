//! Integration tests for `openclaw-access-policy`: the decision fixture and property tests.

mod props;
mod table;
