use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::tokio::task::JoinHandle;
use rocket::tokio::{self, time};
use rocket::{Build, Orbit, Rocket};

use super::{Phase, WorkerPool};
use crate::config::OperationsConfig;
use crate::generator;
use crate::handlers::Registry;
use crate::store::Store;
use crate::telemetry::{EventLog, Metrics};
use rocket::serde::json::Value;

/// Starts `workers` workers and the lease watcher at liftoff; at shutdown
/// stops claiming, gives running handlers Rocket's grace period, and gives
/// back to pending whatever still runs. Manages the handler [`Registry`]
/// and the [`WorkerPool`].
#[derive(Default)]
pub struct Workers {
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

#[rocket::async_trait]
impl Fairing for Workers {
    fn info(&self) -> Info {
        Info {
            name: "Workers",
            kind: Kind::Ignite | Kind::Liftoff | Kind::Shutdown,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let (Some(config), Some(store), Some(log), Some(metrics)) = (
            rocket.state::<OperationsConfig>(),
            rocket.state::<Store>(),
            rocket.state::<EventLog>(),
            rocket.state::<Metrics>(),
        ) else {
            return Err(rocket);
        };
        let generator = match generator::from_config(config) {
            Ok(generator) => generator,
            Err(e) => {
                rocket::error!("cannot start the generator: {e}");
                return Err(rocket);
            }
        };
        let registry = Arc::new(Registry::from_config(config, generator));
        let pool = WorkerPool::new(store.clone(), registry.clone(), config, *log, metrics.clone());
        Ok(rocket.manage(registry).manage(pool))
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let Some(pool) = rocket.state::<WorkerPool>() else {
            return;
        };
        let count = pool.inner.settings.workers;
        if count == 0 {
            return;
        }
        let mut tasks = self.tasks();
        tasks.extend((0..count).map(|index| tokio::spawn(pool.clone().work(index))));
        tasks.push(tokio::spawn(pool.clone().watch_leases()));
        let process = Value::from(pool.inner.process.as_str());
        pool.inner.log.emit(
            "workers.started",
            &[("count", Value::from(count)), ("process", process)],
        );
    }

    async fn on_shutdown(&self, rocket: &Rocket<Orbit>) {
        let Some(pool) = rocket.state::<WorkerPool>() else {
            return;
        };
        pool.stop_claiming();
        let grace = Duration::from_secs(u64::from(rocket.config().shutdown.grace));
        let drained = time::timeout(grace, async {
            while !pool.running().is_empty() {
                time::sleep(Duration::from_millis(20)).await;
            }
        });
        if drained.await.is_err() {
            pool.inner.phase.send_replace(Phase::Abandoning);
        }
        let tasks = std::mem::take(&mut *self.tasks());
        for task in tasks {
            let _ = task.await;
        }
        // The store outlives rocket_db_pools' own shutdown, which Rocket runs
        // alongside this one: operations given back above needed it.
        pool.inner.store.close().await;
    }
}

impl Workers {
    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
