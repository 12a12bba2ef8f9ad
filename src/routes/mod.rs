//! HTTP routes: they translate requests into store and domain calls.

mod body;
mod conditional;
mod events;
mod operations;

pub use events::StreamSlots;

use rocket::Route;

pub fn routes() -> Vec<Route> {
    operations::routes()
}
