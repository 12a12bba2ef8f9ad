//! Completion webhooks: when an operation finishes, the configured
//! endpoints (and the operation's own `callback_url`) are sent its event,
//! signed per Standard Webhooks, at least once.
//!
//! The event is recorded by the statement that finishes the operation (the
//! store's outbox), so a crash after that commit loses nothing; the
//! [`Dispatcher`] turns events into deliveries, claims them for a lease
//! (one process at a time delivers each), sends them and retries on the
//! schedule of `webhook_retry_secs`.

mod dispatcher;
mod recorder;
mod targets;

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Orbit, Rocket};

use crate::config::OperationsConfig;
use crate::operations::Operations;
use crate::report::Chain;
use crate::startup::{self, needs, StartError};
use crate::store::{StoreHold, StoreHolds};
use crate::supervise::Supervisor;
use crate::telemetry::Metrics;

pub use dispatcher::Dispatcher;

const PART: &str = "the webhook dispatcher";

/// Manages the [`Dispatcher`]. At liftoff records in the database whether
/// every finished operation makes an event (there are endpoints) or only
/// those with a callback (every process over one database is meant to
/// share this configuration), and, in a process with workers, starts
/// dispatching; at shutdown stops claiming and gives what is in flight
/// Rocket's grace period, holding the store open until then.
pub struct Webhooks {
    config: OperationsConfig,
    store_hold: Mutex<Option<StoreHold>>,
}

impl Webhooks {
    pub fn new(config: &OperationsConfig) -> Self {
        Webhooks {
            config: config.clone(),
            store_hold: Mutex::default(),
        }
    }

    fn start(&self, rocket: &Rocket<Build>) -> Result<Dispatcher, StartError> {
        let operations = needs::<Operations>(rocket, PART)?;
        let metrics = needs::<Metrics>(rocket, PART)?;
        let holds = needs::<StoreHolds>(rocket, PART)?;
        let dispatcher = Dispatcher::new(operations.store().clone(), metrics, &self.config)
            .map_err(|e| StartError::failed(PART, format!("cannot make its HTTP client: {e}")))?;
        *self.store_hold.lock().unwrap_or_else(PoisonError::into_inner) = Some(holds.hold());
        Ok(dispatcher)
    }
}

#[rocket::async_trait]
impl Fairing for Webhooks {
    fn info(&self) -> Info {
        Info {
            name: "Webhooks",
            kind: Kind::Ignite | Kind::Liftoff | Kind::Shutdown,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let dispatcher = match self.start(&rocket) {
            Ok(dispatcher) => dispatcher,
            Err(e) => return Err(startup::failed(rocket, e)),
        };
        if let Err(e) = dispatcher.record_events_of_finishes().await {
            let reason = format!("cannot record which operations make events: {}", Chain(&e));
            return Err(startup::failed(rocket, StartError::failed(PART, reason)));
        }
        Ok(rocket.manage(dispatcher))
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        // Also without endpoints: events and deliveries left from an
        // earlier configuration are then settled rather than kept forever.
        if self.config.workers == 0 {
            return;
        }
        let (Some(dispatcher), Some(supervisor)) =
            (rocket.state::<Dispatcher>(), rocket.state::<Supervisor>())
        else {
            return;
        };
        let (dispatcher, shutdown) = (dispatcher.clone(), rocket.shutdown());
        supervisor.spawn("webhook dispatcher", move || {
            dispatcher.clone().run(shutdown.clone())
        });
    }

    async fn on_shutdown(&self, rocket: &Rocket<Orbit>) {
        if let Some(dispatcher) = rocket.state::<Dispatcher>() {
            let grace = Duration::from_secs(u64::from(rocket.config().shutdown.grace));
            if !dispatcher.drained(grace).await {
                tracing::warn!("webhook.shutdown_with_deliveries_in_flight");
            }
        }
        self.store_hold
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}
