//! HTTP routes: they translate requests into store and domain calls.

// A Rocket handler takes one argument per guard; splitting them up would
// only hide what each route depends on.
#![allow(clippy::too_many_arguments)]

mod body;
mod conditional;
mod events;
mod health;
mod metrics;
mod openapi;
mod operations;

pub use events::StreamSlots;

use rocket::Route;

pub fn routes() -> Vec<Route> {
    let mut routes = operations::routes();
    routes.extend(rocket::routes![
        health::live,
        health::ready,
        metrics::metrics,
        openapi::openapi_json
    ]);
    routes
}
