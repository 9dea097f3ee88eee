//! Integration tests of `openclaw-store`: every operation and transition on a real SQLite file,
//! migrations from each older schema, legacy import, and the crash test.

mod crash;
mod delivery;
mod ingress;
mod legacy;
mod migrations;
mod optout;
mod outbound;
mod pairing;
mod replies;
mod support;
mod traits;
mod turns;
