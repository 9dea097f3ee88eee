//! Integration tests of `openclaw-store`: every operation and transition, each run on a real
//! SQLite file and on PostgreSQL (`OPENCLAW_TEST_PG_URL`, see `support::pg`); migrations from
//! each older SQLite schema, legacy import and the crash test (SQLite); several gateways on
//! one PostgreSQL schema, leases, concurrent migrations and the state copy (PostgreSQL); TLS to
//! PostgreSQL in each `sslmode` (`OPENCLAW_TEST_PG_CA`).

mod console;
mod crash;
mod delivery;
mod ingress;
mod legacy;
mod migrations;
mod optout;
mod outbound;
mod pairing;
#[cfg(feature = "postgres")]
mod pg_acks;
#[cfg(feature = "postgres")]
mod pgcounts;
#[cfg(feature = "postgres")]
mod postgres;
mod replies;
mod scheduled;
mod steps;
mod support;
#[cfg(feature = "postgres")]
mod tls;
mod traits;
mod turns;
mod usage;
