//! End-to-end tests of the `openclaw` binary: each command runs as a real process against a
//! temp config and state directory, a clean environment, and (where Twilio is involved) the
//! in-process Twilio simulator. Outputs are insta snapshots in `tests/it/snapshots/`.

mod harness;

mod admin_socket;
mod channels;
mod config;
mod console;
mod gateway;
mod help;
mod message;
mod pairing;
mod paths;
mod plugins;
mod proxies;
mod secrets;
mod segments;
mod server;
mod state;
mod usage;
