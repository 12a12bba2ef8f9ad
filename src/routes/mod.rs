//! HTTP routes: they translate requests into store and domain calls.

// A Rocket handler takes one argument per guard; splitting them up would
// only hide what each route depends on.
#![allow(clippy::too_many_arguments)]

mod body;
mod cancel;
mod conditional;
mod create;
mod events;
mod health;
mod metrics;
mod openapi;
mod operation_id;
mod poll;

pub use events::StreamSlots;

use rocket::Route;

pub fn routes() -> Vec<Route> {
    rocket::routes![
        poll::get_operation,
        create::create_operation,
        cancel::cancel_operation,
        events::operation_events,
        health::live,
        health::ready,
        metrics::metrics,
        openapi::openapi_json,
    ]
}
