//! Running one claimed operation: the handler in its own task, the lease
//! renewed while it runs, and whichever comes first of its end, its
//! timeout, a lost claim or shutdown.

use rocket::serde::json::Value;
use rocket::tokio::sync::watch;
use rocket::tokio::{self, time};

use super::{backoff, Phase, WorkerPool};
use crate::domain::ErrorCode;
use crate::handlers::{HandlerError, Progress};
use crate::store::{ClaimToken, Claimed, StoreError};

/// How a run ended.
pub(super) enum Outcome {
    Finished(Result<Value, HandlerError>),
    TimedOut,
    /// The claim no longer holds (cancelled, or expired and taken over):
    /// there is nothing left to write.
    Lost,
    /// Shutdown ran out of time: give the operation back.
    Abandoned,
}

/// Renewals per lease: a lease survives two missed renewals.
const RENEWALS_PER_LEASE: u32 = 3;

impl WorkerPool {
    pub(super) async fn run(&self, claimed: &Claimed) -> Outcome {
        let operation_type = &claimed.operation.operation_type;
        let Some(handler) = self.inner.registry.get(operation_type) else {
            let message = format!("No handler for operation type {operation_type:?} in this service.");
            return Outcome::Finished(Err(HandlerError::failed(message)));
        };
        let token = &claimed.token;
        let settings = &self.inner.settings;
        let input = claimed.input.clone();
        let (progress, mut reports) = Progress::channel();
        let mut task = tokio::spawn(async move { handler.run(input, progress).await });
        self.running().insert(token.id, task.abort_handle());
        // Progress is written at once, then at most once per interval: a
        // report that comes sooner waits, and a later one replaces it.
        let mut next_progress_write = time::Instant::now();
        let mut progress_waiting = false;

        let deadline = time::sleep(settings.handler_timeout);
        tokio::pin!(deadline);
        let mut renewal = time::interval(settings.lease / RENEWALS_PER_LEASE);
        renewal.tick().await; // the first tick is immediate; the claim is fresh
        let mut phase = self.inner.phase.subscribe();
        let outcome = loop {
            tokio::select! {
                joined = &mut task => break match joined {
                    Ok(result) => Outcome::Finished(result),
                    // Only stop_handler aborts a task that is still ours.
                    Err(e) if e.is_cancelled() => Outcome::Lost,
                    Err(_) => Outcome::Finished(Err(HandlerError::failed("The handler crashed."))),
                },
                _ = &mut deadline => {
                    task.abort();
                    break Outcome::TimedOut;
                }
                _ = renewal.tick() => match self.inner.store.renew(token, settings.lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        task.abort();
                        break Outcome::Lost;
                    }
                    // The lease still runs; the next renewal may get through.
                    Err(e) => rocket::warn!("operation {}: lease renewal failed: {e}", token.id),
                },
                _ = abandoning(&mut phase) => {
                    task.abort();
                    break Outcome::Abandoned;
                }
                Ok(()) = reports.changed(), if !progress_waiting => progress_waiting = true,
                _ = time::sleep_until(next_progress_write), if progress_waiting => {
                    progress_waiting = false;
                    next_progress_write = time::Instant::now() + settings.progress_interval;
                    let latest = reports.borrow_and_update().clone();
                    if let Some(latest) = latest {
                        if let Err(e) = self.inner.store.set_progress(token, &latest).await {
                            rocket::warn!("operation {}: progress not recorded: {e}", token.id);
                        }
                    }
                }
            }
        };
        self.running().remove(&token.id);
        outcome
    }

    /// Records how a run ended. Every write is conditional on the claim, so
    /// one that lost its claim meanwhile changes nothing.
    pub(super) async fn settle(&self, token: &ClaimToken, outcome: Outcome) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let settings = &self.inner.settings;
        let id = token.id;
        let written = match outcome {
            Outcome::Finished(Ok(result)) => {
                let written = store.complete(token, &result).await?;
                rocket::info!("operation {id}: completed");
                written
            }
            Outcome::Finished(Err(error)) => {
                let attempts_left = u32::try_from(token.attempt).map_or(true, |a| a < settings.max_attempts);
                if error.retryable && attempts_left {
                    let delay = backoff::delay_after(token.attempt, settings.retry_backoff);
                    rocket::warn!("operation {id}: {error}; retrying in {} ms", delay.as_millis());
                    store.retry_later(token, delay).await?
                } else {
                    rocket::warn!("operation {id}: failed with {}: {error}", error.code.as_str());
                    store.fail(token, error.code, &error.message).await?
                }
            }
            Outcome::TimedOut => {
                let message = format!(
                    "The operation did not finish within {} seconds.",
                    settings.handler_timeout.as_secs()
                );
                rocket::warn!("operation {id}: timed out");
                store.fail(token, ErrorCode::Timeout, &message).await?
            }
            Outcome::Abandoned => {
                rocket::warn!("operation {id}: given back to pending at shutdown");
                store.release(token).await?
            }
            Outcome::Lost => return Ok(()),
        };
        if !written {
            rocket::info!("operation {id}: claim lost before its outcome was written");
        }
        Ok(())
    }
}

async fn abandoning(phase: &mut watch::Receiver<Phase>) {
    // The guard wait_for returns is dropped here, before the next await.
    let _ = phase.wait_for(|phase| *phase == Phase::Abandoning).await;
}
