//! longrun: a service for asynchronous operations.
//!
//! A client creates an operation, gets its id at once and polls
//! `GET /api/v1/operations/{id}` until the operation is finished; workers
//! run it in the background. [`build`] assembles the service from a
//! figment, so tests and the binary start the very same thing. See
//! `ARCHITECTURE.md` for the layers and how a poll and a create travel
//! through them.

pub mod auth;
pub mod catchers;
pub mod changes;
pub mod completion;
pub mod config;
pub mod cors;
pub mod docs;
pub mod domain;
pub mod error;
pub mod generator;
pub mod handlers;
pub mod headers;
#[cfg(test)]
mod layers;
pub mod operations;
pub mod outbound;
pub mod page;
pub mod rate_limit;
pub mod report;
pub mod routes;
pub mod security_headers;
pub mod startup;
pub mod store;
pub mod supervise;
pub mod sweeper;
pub mod telemetry;
pub mod webhooks;
pub mod workers;

use rocket::figment::Figment;
use rocket::shield::Shield;
use rocket::{Build, Rocket};

use config::{InvalidSetting, Settings};

pub use config::figment;

/// The service configured from `figment`, or the first setting that does
/// not fit.
pub fn build(figment: Figment) -> Result<Rocket<Build>, InvalidSetting> {
    let settings = Settings::load(&figment)?;
    Ok(assemble(figment, settings))
}

/// The parts of the service, in the order they start. Each adds what its
/// comment says and starts the tasks it names; a part that misses what an
/// earlier one adds stops the start, naming both.
pub fn assemble(figment: Figment, settings: Settings) -> Rocket<Build> {
    let operations = &settings.operations;
    rocket::custom(figment)
        .manage(operations.clone())
        // Where the parts' background tasks run: one that panics starts again.
        .manage(supervise::Supervisor::default())
        // Metrics; a request id, a log line and a count for every request.
        .attach(telemetry::Telemetry::default())
        // Who asks: the Authenticator (none, or jwt with its keys); in jwt
        // mode, an event stream's access_token lifted out of the URI
        // before anything logs it.
        .attach(auth::Authentication::new(&operations.auth))
        // The database pool, its migrations, the Store. Tasks: group
        // commit, gathered reads of polls' misses.
        .attach(store::Storage::new(settings.database.clone()))
        // The CompletionTokens HTTP targets finish operations with, under
        // the database's key.
        .attach(completion::CompletionSigning)
        // Changes (who waits for what; operations held in memory for polls)
        // and the Operations over the store. Tasks: the database's reports
        // of changes, the re-check of watched operations.
        .attach(operations::ChangeTracking::new(operations))
        // The generator and the Registry of operation types.
        .attach(handlers::OperationTypes::new(operations))
        // The WorkerPool. Tasks: `workers` worker loops, the lease watcher.
        .attach(workers::Workers::new(operations))
        // The webhook Dispatcher. Task: fanning out, claiming and sending
        // deliveries (in processes with workers).
        .attach(webhooks::Webhooks::new(operations))
        // Retention. Task: the sweep.
        .attach(sweeper::Sweeper::new(operations))
        // Rate limits per owner (jwt) or address. Task: forgetting idle
        // clients.
        .attach(rate_limit::RateLimiting::new(
            &operations.rate_limit,
            operations.auth.mode,
        ))
        // CORS for the allowed origins, preflights answered.
        .attach(cors::Cors::new(operations))
        // Content-Security-Policy and company on every response, in place
        // of Rocket's Shield.
        .attach(Shield::new())
        .attach(
            security_headers::SecurityHeaders::default()
                .with_policy_for(docs::PATH, docs::CONTENT_SECURITY_POLICY),
        )
        // The API routes, their catchers, the event streams' slots.
        .attach(routes::Api::new(operations))
        // The OpenAPI document and the docs page.
        .attach(docs::ApiDocs)
        // The page, built in or from `static_dir`.
        .attach(page::Page::new(operations.static_dir.clone()))
}
