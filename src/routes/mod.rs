//! HTTP routes: they translate requests into store and domain calls.

mod body;
mod conditional;
mod events;
mod health;
mod metrics;
mod operations;

pub use events::StreamSlots;

use rocket::Route;

pub fn routes() -> Vec<Route> {
    let mut routes = operations::routes();
    routes.extend(rocket::routes![health::live, health::ready, metrics::metrics]);
    routes
}
