//! A local Twilio for development and tests.
//!
//! It serves the Messages API surface that the gateway uses, simulates phones that text a
//! webhook exactly as Twilio does (signed forms), records what each phone receives, sends
//! status callbacks, and injects faults on request. It only ever listens on loopback.
//!
//! It is not Twilio: it implements what OpenClaw's channels use and documents what it does
//! not. The production client is `openclaw-twilio`.
//!
//! # What it serves
//!
//! On one HTTP server (`http://127.0.0.1:PORT`), mirroring Twilio's paths so a client given one
//! custom base URL reaches both hosts:
//!
//! - `POST /2010-04-01/Accounts/{AC}/Messages.json`: create (`To`, `From` or
//!   `MessagingServiceSid`, `Body`, `MediaUrl`…, `StatusCallback`); errors 21211, 21602,
//!   21603, 21604, 21606, 21608, 21610, 21617, 21623, 21701, 21703 and the injected 20429/20500;
//! - `GET …/Messages.json` (filters `To`, `From`, `DateSent`, `DateSent>`, `DateSent<`;
//!   `PageSize`, `Page`), `GET …/Messages/{SM}.json`, `GET /2010-04-01/Accounts/{AC}.json`,
//!   `GET …/IncomingPhoneNumbers.json?PhoneNumber=`;
//! - `GET /v1/Services/{MG}` (the Messaging Service, `messaging.twilio.com` path);
//! - `/_sim/…`: a JSON control API for other processes (see the README).
//!
//! Basic auth takes the Account SID + Auth Token or an API key SID + secret; anything else is
//! `401` with error 20003.
//!
//! # Behaviour
//!
//! - [`Phone::text`] records an inbound message, applies Twilio's keyword handling (STOP and
//!   friends block the (phone, sender) pair and get Twilio's reply; START/YES/UNSTOP restore;
//!   HELP/INFO get the help reply), then POSTs the webhook with Twilio's fields, signed with the
//!   account's Auth Token over the configured URL (via `openclaw_twilio::signature`).
//! - A created message goes to the phone's inbox at once (so a phone sees messages in creation
//!   order), then moves through queued, sent, delivered (or the phone's configured
//!   [`DeliveryOutcome`]), with a signed status callback per step when it has a URL.
//! - [`Faults`]: latency on every API call; shares of 429, 500 and "recorded but answered too
//!   late" on creates, reproducible with [`SimConfig::with_seed`].
//!
//! Not simulated: scheduling, media fetches, pricing, carrier throughput, webhook retries
//! (replay with [`OutgoingText::with_sid`]), fallback URLs, connection-override fragments
//! (they are stripped, as Twilio never sends them).
//!
//! # Example
//!
//! ```
//! use openclaw_twilio_sim::{SimAccount, SimConfig, SimNumber, Simulator};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let account = SimAccount::new("AC00000000000000000000000000000001", "token")
//!     .with_number(SimNumber::new("+15550001111"));
//! let sim = Simulator::start(SimConfig::new().with_account(account)).await?;
//!
//! // Send a message as the gateway would.
//! let response = reqwest::Client::new()
//!     .post(format!(
//!         "{}/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json",
//!         sim.base_url()
//!     ))
//!     .basic_auth("AC00000000000000000000000000000001", Some("token"))
//!     .form(&[("To", "+15557654321"), ("From", "+15550001111"), ("Body", "hello")])
//!     .send()
//!     .await?;
//! assert_eq!(response.status().as_u16(), 201);
//!
//! // The phone got it.
//! let phone = sim.phone("+15557654321")?;
//! let reply = phone.next_reply(std::time::Duration::from_secs(5)).await;
//! assert_eq!(reply.map(|r| r.body).as_deref(), Some("hello"));
//! # Ok(())
//! # }
//! ```

mod api;
mod config;
mod control;
mod error;
mod faults;
mod json;
mod model;
mod optout;
mod phone;
mod segments;
mod sid;
mod sign;
mod sim;
mod state;
mod time;
mod webhook;

pub use api::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use config::{
    AccountType, DEFAULT_WEBHOOK_TIMEOUT, InitialStatusCallback, OptOutTypeField, SimAccount,
    SimConfig, SimMessagingService, SimNumber, WebhookMethod,
};
pub use control::MAX_REPLY_WAIT;
pub use error::RunSimulatorError;
pub use faults::{DEFAULT_RETRY_AFTER, DEFAULT_TIMEOUT_HOLD, FaultCounts, Faults};
pub use model::{
    DeliveryOutcome, Direction, MessageStatus, OptOut, ReceivedSms, SimMessage,
    StatusCallbackRecord, WebhookResult,
};
pub use optout::{HELP_REPLY, START_REPLY, STOP_REPLY};
pub use phone::{OutgoingText, Phone};
pub use sim::{SimHandle, Simulator};
pub use state::{MAX_BODY_CHARS, MAX_MEDIA, PhoneMedia};
