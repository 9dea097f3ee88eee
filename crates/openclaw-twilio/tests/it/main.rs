//! Integration tests of `openclaw-twilio`: signature vectors from Twilio's helper libraries,
//! webhook fixtures, and the REST client against a local `mockito` server.

mod client;
mod signature;
mod webhook;
