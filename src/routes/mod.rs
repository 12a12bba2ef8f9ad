//! HTTP routes: they translate requests into store and domain calls.

mod body;
mod operations;

use rocket::Route;

pub fn routes() -> Vec<Route> {
    operations::routes()
}
