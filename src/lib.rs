//! longrun: a service for asynchronous operations.
//!
//! A client creates an operation, gets its id at once and polls
//! `GET /api/v1/operations/{id}` until the operation is finished; workers
//! run it in the background. [`build`] assembles the service from a
//! figment, so tests and the binary start the very same thing.

pub mod catchers;
pub mod changes;
pub mod config;
pub mod cors;
pub mod domain;
pub mod error;
pub mod generator;
pub mod handlers;
pub mod headers;
pub mod rate_limit;
pub mod routes;
pub mod security_headers;
pub mod static_files;
pub mod store;
pub mod sweeper;
pub mod telemetry;
pub mod workers;

use rocket::figment::Figment;
use rocket::{Build, Rocket};

/// The service configured from `Rocket.toml` and `ROCKET_*` variables.
pub fn rocket() -> Rocket<Build> {
    build(rocket::Config::figment())
}

/// The service configured from `figment`.
pub fn build(figment: Figment) -> Rocket<Build> {
    let rocket = rocket::custom(figment);
    let rocket = store::attach_database(rocket);
    rocket
        .attach(config::Settings)
        .attach(telemetry::Telemetry)
        .attach(rate_limit::RateLimiting)
        .attach(cors::Cors)
        .attach(store::StoreFairing)
        .attach(store::Migrations)
        .attach(workers::Workers::default())
        .attach(sweeper::Sweeper)
        .attach(changes::Notifier)
        .attach(static_files::StaticFiles)
        // Rocket's own Shield would send a second, older set of headers.
        .attach(rocket::shield::Shield::new())
        .attach(security_headers::SecurityHeaders)
        .mount("/", routes::routes())
        .register("/", catchers::generic())
}
