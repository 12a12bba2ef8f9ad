//! Retention: finished operations are deleted `retention_secs` after they
//! last changed, checked every `sweep_interval_secs`. Pending and processing
//! operations are never deleted.

use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Orbit, Rocket, Shutdown};

use crate::config::OperationsConfig;
use crate::operations::Operations;
use crate::report::Chain;
use crate::startup::{self, needs};
use crate::store::StoreError;
use crate::supervise::{Supervisor, Ticks};

/// The retention policy, managed so that it can be applied on demand.
#[derive(Clone)]
pub struct Retention {
    operations: Operations,
    keep_for: Duration,
}

impl Retention {
    /// Deletes what has expired now; returns how many operations.
    pub async fn sweep_once(&self) -> Result<u64, StoreError> {
        let deleted = self.operations.delete_finished_older_than(self.keep_for).await?;
        if deleted > 0 {
            tracing::info!(count = deleted, "retention.deleted");
        }
        Ok(deleted)
    }
}

const PART: &str = "the sweeper";

/// Manages [`Retention`] and, from liftoff, applies it every
/// `sweep_interval_secs` (and once at once) until shutdown.
pub struct Sweeper {
    keep_for: Duration,
    every: Duration,
}

impl Sweeper {
    pub fn new(config: &OperationsConfig) -> Self {
        Sweeper {
            keep_for: config.retention(),
            every: config.sweep_interval(),
        }
    }
}

#[rocket::async_trait]
impl Fairing for Sweeper {
    fn info(&self) -> Info {
        Info {
            name: "Sweeper",
            kind: Kind::Ignite | Kind::Liftoff,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        match needs::<Operations>(&rocket, PART) {
            Ok(operations) => Ok(rocket.manage(Retention {
                operations,
                keep_for: self.keep_for,
            })),
            Err(e) => Err(startup::failed(rocket, e)),
        }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let (Some(retention), Some(supervisor)) =
            (rocket.state::<Retention>().cloned(), rocket.state::<Supervisor>())
        else {
            return;
        };
        let (every, shutdown) = (self.every, rocket.shutdown());
        supervisor.spawn("sweeper", move || {
            sweep(retention.clone(), every, shutdown.clone())
        });
    }
}

/// Applies `retention` every `every`, and once at once, until shutdown.
async fn sweep(retention: Retention, every: Duration, shutdown: Shutdown) {
    let mut ticks = Ticks::every(every, shutdown);
    while ticks.next().await {
        if let Err(e) = retention.sweep_once().await {
            tracing::warn!(error = %Chain(&e), "retention.error");
        }
    }
}
