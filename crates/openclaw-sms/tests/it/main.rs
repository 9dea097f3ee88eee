//! Integration tests of the SMS channel adapter: the webhook route in process, and the
//! pipeline against the local Twilio simulator.

mod budgets;
mod guard;
mod hooked;
mod leases;
mod owner;
mod pgcounts;
mod pipeline;
mod replies;
mod router;
mod support;
