//! Background workers: claim pending operations, run their handlers, and
//! record how they ended.
//!
//! [`WorkerPool::run_once`] claims and runs one operation; a worker is that
//! in a loop, woken at once by operations created in this process and every
//! `idle_poll_ms` for those created elsewhere. Tests call `run_once`
//! directly instead of waiting.

mod backoff;
mod fairing;
mod run;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rocket::tokio::sync::{watch, Notify};
use rocket::tokio::task::AbortHandle;
use uuid::Uuid;

use crate::config::OperationsConfig;
use crate::handlers::Registry;
use crate::store::{Store, StoreError};

pub use fairing::Workers;

/// What the workers of this process are doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Shutting down: claim nothing new, let running handlers finish.
    Draining,
    /// Out of time: stop the handlers and give their operations back.
    Abandoning,
}

/// The settings workers run with.
#[derive(Debug, Clone)]
struct Settings {
    workers: usize,
    idle_poll: Duration,
    lease: Duration,
    max_attempts: u32,
    handler_timeout: Duration,
    retry_backoff: Duration,
    progress_interval: Duration,
}

impl From<&OperationsConfig> for Settings {
    fn from(config: &OperationsConfig) -> Self {
        Self {
            workers: config.workers,
            idle_poll: config.idle_poll(),
            lease: config.lease(),
            max_attempts: config.max_attempts,
            handler_timeout: config.handler_timeout(),
            retry_backoff: Duration::from_millis(config.retry_backoff_ms),
            progress_interval: config.progress_interval(),
        }
    }
}

/// The workers of this process and what they share. Cheap to clone.
#[derive(Clone)]
pub struct WorkerPool {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    registry: Arc<Registry>,
    settings: Settings,
    /// Names this process's workers in `claimed_by`.
    process: String,
    wake: Notify,
    phase: watch::Sender<Phase>,
    running: Mutex<HashMap<Uuid, AbortHandle>>,
}

impl WorkerPool {
    fn new(store: Store, registry: Arc<Registry>, config: &OperationsConfig) -> Self {
        let process = format!(
            "{}-{}",
            std::process::id(),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        Self {
            inner: Arc::new(Inner {
                store,
                registry,
                settings: Settings::from(config),
                process,
                wake: Notify::new(),
                phase: watch::Sender::new(Phase::Running),
                running: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Tells an idle worker that an operation is waiting.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops the handler of `id` if it runs in this process. Whatever it
    /// would have written is refused: its claim no longer holds.
    pub fn stop_handler(&self, id: Uuid) {
        if let Some(handle) = self.running().remove(&id) {
            handle.abort();
        }
    }

    /// Claims the oldest due operation and runs it to its end: completed,
    /// failed, or pending again for a retry. False when none was due.
    pub async fn run_once(&self, worker: &str) -> Result<bool, StoreError> {
        let Some(claimed) = self.inner.store.claim(worker, self.inner.settings.lease).await? else {
            return Ok(false);
        };
        rocket::info!(
            "operation {} ({}) claimed by {worker}, attempt {}",
            claimed.token.id,
            claimed.operation.operation_type,
            claimed.token.attempt
        );
        let outcome = self.run(&claimed).await;
        self.settle(&claimed.token, outcome).await?;
        Ok(true)
    }

    /// Takes back operations whose lease ran out, waking workers for those
    /// that may run again.
    pub async fn expire_leases(&self) -> Result<(), StoreError> {
        let expired = self
            .inner
            .store
            .expire_leases(self.inner.settings.max_attempts)
            .await?;
        for id in &expired.requeued {
            rocket::warn!("operation {id}: lease expired, pending again");
        }
        for id in &expired.failed {
            rocket::warn!("operation {id}: lease expired with no attempt left, failed with LEASE_EXPIRED");
        }
        if !expired.requeued.is_empty() {
            self.inner.wake.notify_waiters();
        }
        Ok(())
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, AbortHandle>> {
        // A panic while holding the lock leaves the map itself intact.
        self.inner.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn worker_name(&self, index: usize) -> String {
        format!("{}-w{index}", self.inner.process)
    }

    /// One worker: `run_once` until shutdown, resting when nothing is due.
    async fn work(self, index: usize) {
        let name = self.worker_name(index);
        let mut phase = self.inner.phase.subscribe();
        while *phase.borrow() == Phase::Running {
            match self.run_once(&name).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => rocket::warn!("worker {name}: {e}"),
            }
            rocket::tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = rocket::tokio::time::sleep(self.inner.settings.idle_poll) => {}
                _ = phase.changed() => {}
            }
        }
    }

    /// Takes back expired leases every `idle_poll` until shutdown.
    async fn watch_leases(self) {
        let mut phase = self.inner.phase.subscribe();
        while *phase.borrow() == Phase::Running {
            if let Err(e) = self.expire_leases().await {
                rocket::warn!("lease expiry: {e}");
            }
            rocket::tokio::select! {
                _ = rocket::tokio::time::sleep(self.inner.settings.idle_poll) => {}
                _ = phase.changed() => {}
            }
        }
    }
}
