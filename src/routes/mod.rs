//! HTTP routes: they translate requests into calls on the
//! [`Operations`](crate::operations::Operations) and back. [`Api`] mounts
//! them with the catchers that render what Rocket rejects.

// A Rocket handler takes one argument per guard; splitting them up would
// only hide what each route depends on.
#![allow(clippy::too_many_arguments)]

mod body;
pub(crate) mod cancel;
mod conditional;
pub(crate) mod create;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod metrics;
mod operation_id;
pub(crate) mod poll;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket, Route};

use crate::catchers;
use crate::config::OperationsConfig;
use events::StreamSlots;

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    rocket::routes![
        poll::get_operation,
        create::create_operation,
        cancel::cancel_operation,
        events::operation_events,
        health::live,
        health::ready,
        metrics::metrics,
    ]
}

/// Mounts the API's routes and the catchers, and manages the slots of the
/// event streams. No tasks.
pub struct Api {
    max_streams: usize,
}

impl Api {
    pub fn new(config: &OperationsConfig) -> Self {
        Api {
            max_streams: config.max_streams,
        }
    }
}

#[rocket::async_trait]
impl Fairing for Api {
    fn info(&self) -> Info {
        Info {
            name: "API",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        Ok(rocket
            .manage(StreamSlots::new(self.max_streams))
            .mount("/", routes())
            .register("/", catchers::all()))
    }
}
