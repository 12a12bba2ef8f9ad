//! The service through its HTTP interface, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod proxy;

mod errors;
mod polling;
mod unavailable;
