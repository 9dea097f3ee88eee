//! Integration tests of `openclaw-twilio`: signature vectors from Twilio's helper libraries,
//! webhook fixtures, and the REST client against a local `mockito` server.

#[cfg(feature = "client")]
mod calls;
#[cfg(feature = "client")]
mod client;
mod signature;
mod twiml;
mod voice;
mod webhook;
