//! Background workers: claim pending operations, run their handlers, and
//! record how they ended.
//!
//! [`WorkerPool::run_once`] claims and runs one operation; tests call it
//! directly instead of waiting. A worker runs operations in a loop, woken
//! at once by operations created in this process and every `idle_poll_ms`
//! for those created elsewhere. One worker at a time claims, in one
//! statement, as many operations as there are idle workers; the others
//! take theirs from what it claimed.

mod backoff;
mod part;
mod run;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rocket::serde::json::Value;
use rocket::tokio::sync::{watch, Mutex as AsyncMutex, Notify};
use rocket::tokio::task::AbortHandle;
use uuid::Uuid;

use crate::completion::CompletionTokens;
use crate::config::OperationsConfig;
use crate::handlers::Registry;
use crate::operations::Operations;
use crate::report::Chain;
use crate::store::{Claimed, Claims, StoreError};
use crate::telemetry::Metrics;

pub use part::Workers;

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
            retry_backoff: config.retry_backoff(),
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
    operations: Operations,
    completion_tokens: CompletionTokens,
    metrics: Metrics,
    registry: Registry,
    /// The types with `max_attempts` of their own, as the lease watcher
    /// passes them to the store.
    max_attempts_by_type: Value,
    settings: Settings,
    /// Names this process's workers in `claimed_by`.
    process: String,
    wake: Notify,
    phase: watch::Sender<Phase>,
    running: Mutex<HashMap<Uuid, AbortHandle>>,
    /// Worker loops alive now.
    alive: Arc<AtomicUsize>,
    /// Workers running an operation now.
    busy: Arc<AtomicUsize>,
    /// Held by the worker that claims for all.
    claiming: AsyncMutex<()>,
    /// Claimed for an idle worker, not yet taken.
    claimed: Mutex<VecDeque<Claimed>>,
}

impl WorkerPool {
    fn new(
        operations: Operations,
        completion_tokens: CompletionTokens,
        registry: Registry,
        config: &OperationsConfig,
        metrics: Metrics,
    ) -> Self {
        let process = format!(
            "{}-{}",
            std::process::id(),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        Self {
            inner: Arc::new(Inner {
                operations,
                completion_tokens,
                metrics,
                max_attempts_by_type: registry.max_attempts_by_type(),
                registry,
                settings: Settings::from(config),
                process,
                wake: Notify::new(),
                phase: watch::Sender::new(Phase::Running),
                running: Mutex::new(HashMap::new()),
                alive: Arc::default(),
                busy: Arc::default(),
                claiming: AsyncMutex::new(()),
                claimed: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// Whether every configured worker is running and claiming.
    pub fn is_healthy(&self) -> bool {
        *self.inner.phase.borrow() == Phase::Running
            && self.inner.alive.load(Ordering::Relaxed) == self.inner.settings.workers
    }

    /// Stops claiming: the first step of shutdown.
    pub fn stop_claiming(&self) {
        self.inner.phase.send_replace(Phase::Draining);
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
    /// A row that could not be read counts as one that ran.
    pub async fn run_once(&self, worker: &str) -> Result<bool, StoreError> {
        let claims = self.claim(worker, 1).await?;
        let found_unreadable = !claims.unreadable.is_empty();
        let Some(claimed) = claims.claimed.into_iter().next() else {
            return Ok(found_unreadable);
        };
        self.execute(worker, claimed).await?;
        Ok(true)
    }

    /// Claims up to `limit` operations; reports the rows that could not be
    /// read (already failed, or left to their lease where they could not
    /// even be failed).
    async fn claim(&self, worker: &str, limit: u32) -> Result<Claims, StoreError> {
        let claims = self
            .inner
            .operations
            .claim(worker, self.inner.settings.lease, limit)
            .await?;
        for unreadable in &claims.unreadable {
            let outcome = match &unreadable.failed {
                Ok(true) => "failed",
                _ => "skipped",
            };
            self.inner
                .metrics
                .unreadable_rows
                .with_label_values(&[outcome])
                .inc();
            tracing::warn!(
                operation_id = unreadable.id,
                outcome,
                error = %Chain(&unreadable.cause),
                "operation.unreadable"
            );
        }
        Ok(claims)
    }

    async fn execute(&self, worker: &str, claimed: Claimed) -> Result<(), StoreError> {
        tracing::info!(
            operation_id = %claimed.token.id,
            operation_type = claimed.operation.operation_type,
            worker,
            attempt = claimed.token.attempt,
            "operation.claimed"
        );
        let outcome = self.run(&claimed).await;
        self.settle(&claimed, outcome).await
    }

    /// An operation for an idle worker: one claimed for it already, or a
    /// claim for every idle worker, of which it keeps the first.
    async fn next_claimed(&self, worker: &str) -> Result<Option<Claimed>, StoreError> {
        if let Some(claimed) = self.queued().pop_front() {
            return Ok(Some(claimed));
        }
        let _claiming = self.inner.claiming.lock().await;
        // Filled while this worker waited for its turn.
        if let Some(claimed) = self.queued().pop_front() {
            return Ok(Some(claimed));
        }
        let busy = self.inner.busy.load(Ordering::Relaxed);
        let idle = self.inner.settings.workers.saturating_sub(busy).max(1);
        let limit = u32::try_from(idle).unwrap_or(u32::MAX);
        // Rows that could not be read were failed and claim nothing: claim
        // again until something runs or nothing is due.
        let mut claimed = loop {
            let claims = self.claim(worker, limit).await?;
            if !claims.claimed.is_empty() || claims.unreadable.is_empty() {
                break claims.claimed.into_iter();
            }
        };
        let mine = claimed.next();
        let mut queued = self.queued();
        for other in claimed {
            queued.push_back(other);
            self.inner.wake.notify_one();
        }
        Ok(mine)
    }

    /// Gives back what was claimed and not started: shutdown.
    async fn release_queued(&self) {
        loop {
            let Some(claimed) = self.queued().pop_front() else {
                return;
            };
            if let Err(e) = self.inner.operations.give_back(&claimed.token).await {
                tracing::warn!(operation_id = %claimed.token.id, error = %Chain(&e), "operation.give_back_failed");
            }
        }
    }

    /// Takes back operations whose lease ran out, waking workers for those
    /// that may run again.
    pub async fn expire_leases(&self) -> Result<(), StoreError> {
        let expired = self
            .inner
            .operations
            .expire_leases(self.inner.settings.max_attempts, &self.inner.max_attempts_by_type)
            .await?;
        let expiries = &self.inner.metrics.lease_expiries;
        for id in &expired.requeued {
            expiries.with_label_values(&["requeued"]).inc();
            tracing::info!(operation_id = %id, outcome = "pending", "operation.lease_expired");
        }
        for id in &expired.failed {
            expiries.with_label_values(&["failed"]).inc();
            tracing::info!(operation_id = %id, outcome = "failed", "operation.lease_expired");
        }
        if !expired.requeued.is_empty() {
            self.inner.wake.notify_waiters();
        }
        Ok(())
    }

    fn queued(&self) -> std::sync::MutexGuard<'_, VecDeque<Claimed>> {
        // A panic while holding the lock leaves the queue itself intact.
        self.inner.claimed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, AbortHandle>> {
        // A panic while holding the lock leaves the map itself intact.
        self.inner.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn worker_name(&self, index: usize) -> String {
        format!("{}-w{index}", self.inner.process)
    }

    /// One worker: runs operations until shutdown, resting when nothing is
    /// due. It counts as alive from this call rather than from its first
    /// poll, so readiness asked right after launch sees every worker.
    fn work(self, index: usize) -> impl Future<Output = ()> + Send + 'static {
        let alive = Counted::new(&self.inner.alive);
        async move {
            let _alive = alive;
            let name = self.worker_name(index);
            let mut phase = self.inner.phase.subscribe();
            while *phase.borrow() == Phase::Running {
                let ran = match self.next_claimed(&name).await {
                    Ok(Some(claimed)) => {
                        let _busy = Counted::new(&self.inner.busy);
                        self.execute(&name, claimed).await.map(|()| true)
                    }
                    Ok(None) => Ok(false),
                    Err(e) => Err(e),
                };
                match ran {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(worker = name, error = %Chain(&e), "worker.error"),
                }
                rocket::tokio::select! {
                    _ = self.inner.wake.notified() => {}
                    _ = rocket::tokio::time::sleep(self.inner.settings.idle_poll) => {}
                    _ = phase.changed() => {}
                }
            }
            self.release_queued().await;
        }
    }

    /// Takes back expired leases every `idle_poll` until shutdown.
    async fn watch_leases(self) {
        let mut phase = self.inner.phase.subscribe();
        while *phase.borrow() == Phase::Running {
            if let Err(e) = self.expire_leases().await {
                tracing::warn!(error = %Chain(&e), "lease_expiry.error");
            }
            rocket::tokio::select! {
                _ = rocket::tokio::time::sleep(self.inner.settings.idle_poll) => {}
                _ = phase.changed() => {}
            }
        }
    }
}

/// Counts a worker loop (alive, or busy) until it ends, however it ends.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Counted(Arc::clone(count))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
