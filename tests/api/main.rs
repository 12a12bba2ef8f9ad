//! The service through its HTTP interface, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_openai;
mod helpers;
mod proxy;
mod server;

mod cancel;
mod conditional;
mod create;
mod errors;
mod events;
mod group_commit;
mod leases;
mod lifecycle;
mod long_poll;
mod openai;
mod openapi;
mod operational;
mod poll_cache;
mod polling;
mod processes;
mod retention;
mod shutdown;
mod static_page;
mod unavailable;
