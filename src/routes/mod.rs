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
pub(crate) mod deliveries;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod list;
pub(crate) mod metrics;
mod operation_id;
mod page_token;
pub(crate) mod poll;
mod quota;
pub(crate) mod target_finish;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket, Route};

use crate::catchers;
use crate::config::OperationsConfig;
use events::StreamSlots;
use quota::UnfinishedQuota;

/// Every route of the API; the list only where `listing` (see
/// [`AuthConfig::lists`](crate::config::AuthConfig::lists)).
pub fn routes(listing: bool) -> Vec<Route> {
    let mut routes = rocket::routes![
        poll::get_operation,
        create::create_operation,
        cancel::cancel_operation,
        target_finish::complete_operation,
        target_finish::fail_operation,
        deliveries::list_deliveries,
        events::operation_events,
        health::live,
        health::ready,
        metrics::metrics,
    ];
    if listing {
        routes.extend(rocket::routes![list::list_operations]);
    }
    routes
}

/// Mounts the API's routes and the catchers, and manages the slots of the
/// event streams and the quota of unfinished operations. No tasks.
pub struct Api {
    max_streams: usize,
    listing: bool,
    max_unfinished_per_owner: u64,
    retry_after_secs: u64,
}

impl Api {
    pub fn new(config: &OperationsConfig) -> Self {
        Api {
            max_streams: config.max_streams,
            listing: config.auth.lists(),
            max_unfinished_per_owner: config.auth.max_unfinished_per_owner,
            retry_after_secs: config.retry_after_secs,
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
            .manage(UnfinishedQuota::new(
                self.max_unfinished_per_owner,
                self.retry_after_secs,
            ))
            .mount("/", routes(self.listing))
            .register("/", catchers::all()))
    }
}
