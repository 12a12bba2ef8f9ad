//! Retention: finished operations are deleted `retention_secs` after they
//! last changed, checked every `sweep_interval_secs`. Pending and processing
//! operations are never deleted.

use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::tokio::{self, time};
use rocket::{Build, Orbit, Rocket};

use crate::config::OperationsConfig;
use crate::store::{Store, StoreError};
use crate::telemetry::EventLog;
use rocket::serde::json::Value;

/// The retention policy, managed so that it can be applied on demand.
#[derive(Clone)]
pub struct Retention {
    store: Store,
    log: EventLog,
    keep_for: Duration,
    every: Duration,
}

impl Retention {
    /// Deletes what has expired now; returns how many operations.
    pub async fn sweep_once(&self) -> Result<u64, StoreError> {
        let deleted = self.store.delete_finished_older_than(self.keep_for).await?;
        if deleted > 0 {
            self.log
                .emit("retention.deleted", &[("count", Value::from(deleted))]);
        }
        Ok(deleted)
    }
}

/// Manages [`Retention`] and applies it in the background until shutdown.
pub struct Sweeper;

#[rocket::async_trait]
impl Fairing for Sweeper {
    fn info(&self) -> Info {
        Info {
            name: "Sweeper",
            kind: Kind::Ignite | Kind::Liftoff,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let (Some(config), Some(store), Some(log)) = (
            rocket.state::<OperationsConfig>(),
            rocket.state::<Store>(),
            rocket.state::<EventLog>(),
        ) else {
            return Err(rocket);
        };
        let retention = Retention {
            store: store.clone(),
            log: *log,
            keep_for: config.retention(),
            every: config.sweep_interval(),
        };
        Ok(rocket.manage(retention))
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let Some(retention) = rocket.state::<Retention>().cloned() else {
            return;
        };
        let mut shutdown = rocket.shutdown();
        tokio::spawn(async move {
            let mut ticks = time::interval(retention.every);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        if let Err(e) = retention.sweep_once().await {
                            retention.log.emit("retention.error", &[("error", Value::from(e.to_string()))]);
                        }
                    }
                    _ = &mut shutdown => break,
                }
            }
        });
    }
}
