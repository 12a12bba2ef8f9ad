//! The defaults of settings that Rocket and rocket_db_pools would default
//! otherwise (or not at all). The service's own settings under `operations`
//! have theirs in [`OperationsConfig`](super::OperationsConfig)'s `Default`.

use rocket::data::{ByteUnit, Limits};
use rocket::figment::providers::Serialized;
use rocket::figment::{Figment, Profile};
use rocket::serde::Serialize;

/// The largest request body, `POST /api/v1/operations` included (Rocket's
/// own default for JSON is 1 MiB).
pub const BODY_LIMIT: ByteUnit = ByteUnit::Kibibyte(64);

/// Where the database is when nothing says otherwise: a SQLite file below
/// the working directory, created at the first start.
pub const DATABASE_URL: &str = "sqlite://data/longrun.db";

/// Seconds to wait for a database connection; also SQLite's busy timeout.
pub const CONNECT_TIMEOUT_SECS: u64 = 5;

#[derive(Serialize)]
#[serde(crate = "rocket::serde")]
struct RocketDefaults {
    /// No `Server` header: it tells clients nothing they need.
    ident: bool,
    limits: Limits,
    databases: Databases,
}

#[derive(Serialize)]
#[serde(crate = "rocket::serde")]
struct Databases {
    operations: Database,
}

#[derive(Serialize)]
#[serde(crate = "rocket::serde")]
struct Database {
    url: &'static str,
    connect_timeout: u64,
}

/// The defaults above, and those of the `debug` profile (`cargo run`): the
/// `echo` operation type, for trying the service out.
pub fn provider() -> Figment {
    let defaults = RocketDefaults {
        ident: false,
        limits: Limits::default().limit("json", BODY_LIMIT),
        databases: Databases {
            operations: Database {
                url: DATABASE_URL,
                connect_timeout: CONNECT_TIMEOUT_SECS,
            },
        },
    };
    Figment::new()
        .merge(Serialized::defaults(defaults))
        .merge(Serialized::default("operations.enable_echo", true).profile(Profile::const_new("debug")))
}
