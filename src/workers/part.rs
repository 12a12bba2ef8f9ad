use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::tokio::task::JoinHandle;
use rocket::tokio::time;
use rocket::{Build, Orbit, Rocket};

use super::{Phase, WorkerPool};
use crate::completion::CompletionTokens;
use crate::config::OperationsConfig;
use crate::handlers::Registry;
use crate::operations::Operations;
use crate::startup::{self, needs, StartError};
use crate::store::{StoreHold, StoreHolds};
use crate::supervise::Supervisor;
use crate::telemetry::Metrics;

const PART: &str = "the workers";

/// Manages the [`WorkerPool`]. At liftoff starts `workers` worker loops and
/// the lease watcher; at shutdown stops claiming, gives running handlers
/// Rocket's grace period, and gives back to pending whatever still runs,
/// holding the store open until then.
pub struct Workers {
    config: OperationsConfig,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    store_hold: Mutex<Option<StoreHold>>,
}

impl Workers {
    pub fn new(config: &OperationsConfig) -> Self {
        Workers {
            config: config.clone(),
            tasks: Mutex::default(),
            store_hold: Mutex::default(),
        }
    }

    fn start(&self, rocket: &Rocket<Build>) -> Result<WorkerPool, StartError> {
        let operations = needs::<Operations>(rocket, PART)?;
        let registry = needs::<Registry>(rocket, PART)?;
        let metrics = needs::<Metrics>(rocket, PART)?;
        let completion_tokens = needs::<CompletionTokens>(rocket, PART)?;
        let holds = needs::<StoreHolds>(rocket, PART)?;
        *lock(&self.store_hold) = Some(holds.hold());
        Ok(WorkerPool::new(
            operations,
            completion_tokens,
            registry,
            &self.config,
            metrics,
        ))
    }
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
        match self.start(&rocket) {
            Ok(pool) => Ok(rocket.manage(pool)),
            Err(e) => Err(startup::failed(rocket, e)),
        }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let Some(pool) = rocket.state::<WorkerPool>() else {
            return;
        };
        let count = pool.inner.settings.workers;
        if count == 0 {
            return;
        }
        let Some(supervisor) = rocket.state::<Supervisor>() else {
            return;
        };
        let mut tasks = lock(&self.tasks);
        for index in 0..count {
            let pool = pool.clone();
            tasks.push(supervisor.spawn(format!("worker {index}"), move || pool.clone().work(index)));
        }
        let watching = pool.clone();
        tasks.push(supervisor.spawn("lease watcher", move || watching.clone().watch_leases()));
        tracing::info!(count, process = pool.inner.process, "workers.started");
    }

    async fn on_shutdown(&self, rocket: &Rocket<Orbit>) {
        if let Some(pool) = rocket.state::<WorkerPool>() {
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
            let tasks = std::mem::take(&mut *lock(&self.tasks));
            for task in tasks {
                let _ = task.await;
            }
        }
        // What was given back above went through the store: it may close now.
        lock(&self.store_hold).take();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update leaves the value consistent; a panic elsewhere while it
    // was held does not make it unusable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
