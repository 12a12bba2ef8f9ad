//! Background tasks that outlive their own faults: a task that panics is
//! logged, marked down, and started again after a backoff, until it ends
//! on its own (at shutdown). `/health/ready` names the tasks that are down,
//! only while they are. [`Ticks`] paces the tasks that work at intervals.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rocket::tokio::sync::oneshot;
use rocket::tokio::time::{Interval, MissedTickBehavior};
use rocket::tokio::{self, task::JoinHandle, time};
use rocket::Shutdown;

/// The first wait before a task that panicked starts again; it doubles up
/// to [`MAX_BACKOFF`] while the task keeps failing.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long resets the backoff: the task had recovered.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The supervised tasks of this process that are down now. Cheap to clone.
#[derive(Clone, Default)]
pub struct Supervisor {
    down: Arc<Mutex<BTreeSet<String>>>,
}

impl Supervisor {
    /// Spawns `start()`'s task under supervision, named `name` in logs and
    /// in readiness.
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, mut start: F) -> JoinHandle<()>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // The first run is made here, not in the new task, so that whatever
        // it sets up on creation is in place once `spawn` returns.
        let first = start();
        tokio::spawn(self.clone().supervise(name.into(), first, start))
    }

    /// The same on a thread of its own, with a runtime of its own: for a
    /// task that must keep its pace while the request tasks keep every
    /// worker of the service's runtime busy. It ends, as a task of the
    /// service's runtime would, at the latest when that runtime does. Fails
    /// only if the thread or its runtime cannot be made.
    pub fn spawn_on_own_thread<F, Fut>(&self, name: impl Into<String>, mut start: F) -> std::io::Result<()>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let first = start();
        let supervisor = self.clone();
        let (alive, runtime_ended) = oneshot::channel::<()>();
        std::thread::Builder::new().name(name.clone()).spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = supervisor.supervise(name, first, start) => {}
                    _ = runtime_ended => {}
                }
            })
        })?;
        // Dropped with the service's runtime, which ends the thread's task.
        tokio::spawn(async move {
            let _alive = alive;
            std::future::pending::<()>().await
        });
        Ok(())
    }

    /// The tasks down now, restarting.
    pub fn down(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    async fn supervise<F, Fut>(self, name: String, first: Fut, mut start: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut backoff = FIRST_BACKOFF;
        let mut run = first;
        loop {
            let started = time::Instant::now();
            let ended = tokio::spawn(run).await;
            match ended {
                Err(e) if e.is_panic() => {
                    if started.elapsed() >= HEALTHY_RUN {
                        backoff = FIRST_BACKOFF;
                    }
                    tracing::error!(
                        task = name,
                        restart_in_ms = backoff.as_millis() as u64,
                        "task.panicked"
                    );
                    self.lock().insert(name.clone());
                    time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    self.lock().remove(&name);
                    run = start();
                }
                // It ended on its own (shutdown), or was stopped.
                _ => return,
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeSet<String>> {
        // Every update leaves the set consistent; a panic elsewhere while it
        // was held does not make it unusable.
        self.down.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The pace of a task that works every `period` (the first time at once)
/// until shutdown. A tick missed while the task was busy is not made up.
pub struct Ticks {
    interval: Interval,
    shutdown: Shutdown,
}

impl Ticks {
    pub fn every(period: Duration, shutdown: Shutdown) -> Self {
        let mut interval = time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticks { interval, shutdown }
    }

    /// Waits for the next tick; false once the service is shutting down.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.interval.tick() => true,
            _ = &mut self.shutdown => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A runtime of one thread, and a task it started on a thread of its
    /// own that counts a tick every `every`.
    fn ticking_on_own_thread(every: Duration) -> std::io::Result<(tokio::runtime::Runtime, Arc<AtomicU32>)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let ticks = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&ticks);
        runtime.block_on(async {
            Supervisor::default().spawn_on_own_thread("ticking", move || {
                let counted = Arc::clone(&counted);
                async move {
                    loop {
                        counted.fetch_add(1, Ordering::SeqCst);
                        time::sleep(every).await;
                    }
                }
            })
        })?;
        Ok((runtime, ticks))
    }

    #[test]
    fn a_task_on_its_own_thread_keeps_its_pace_while_the_runtime_is_busy() -> std::io::Result<()> {
        let (runtime, ticks) = ticking_on_own_thread(Duration::from_millis(10))?;
        // The only thread of this runtime, busy: a task spawned on it could
        // not run meanwhile.
        runtime.block_on(async { std::thread::sleep(Duration::from_millis(150)) });
        assert!(ticks.load(Ordering::SeqCst) >= 3, "ticks: {ticks:?}");
        Ok(())
    }

    #[test]
    fn a_task_on_its_own_thread_ends_with_the_runtime_that_started_it() -> std::io::Result<()> {
        let (runtime, ticks) = ticking_on_own_thread(Duration::from_millis(5))?;
        drop(runtime);
        // A moment for the thread to see it; then no more ticks.
        std::thread::sleep(Duration::from_millis(50));
        let after_the_end = ticks.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(ticks.load(Ordering::SeqCst), after_the_end);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_panics_is_started_again_and_marked_down_meanwhile() {
        let supervisor = Supervisor::default();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&runs);
        let task = supervisor.spawn("flaky", move || {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if run == 0 {
                    panic!("the first run fails");
                }
            }
        });
        // The first run panics; the supervisor waits before the second.
        while supervisor.down().is_empty() {
            tokio::task::yield_now().await;
        }
        assert_eq!(supervisor.down(), ["flaky"]);
        time::advance(FIRST_BACKOFF).await;
        let _ = task.await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "started again, then ended on its own"
        );
        assert!(supervisor.down().is_empty());
    }
}
