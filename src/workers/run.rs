//! Running one claimed operation: the handler in its own task, the lease
//! renewed while it runs, and whichever comes first of its end, its
//! timeout, a lost claim or shutdown.

use std::time::Duration;

use rocket::tokio::sync::watch;
use rocket::tokio::{self, time};
use uuid::Uuid;

use super::{backoff, Phase, WorkerPool};
use crate::domain::{ErrorCode, HandlerError, Operation, Progress};
use crate::handlers::{nul_at, Attempt, Limits, Ran};
use crate::report::Chain;
use crate::store::{Claimed, StoreError};

/// How a run ended.
pub(super) enum Outcome {
    Finished(Result<Ran, HandlerError>),
    /// After this long.
    TimedOut(Duration),
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
        let timeout = handler.limits().timeout.unwrap_or(settings.handler_timeout);
        let input = claimed.input.clone();
        let (progress, mut reports) = Progress::channel();
        let attempt = Attempt::new(token.clone(), self.inner.completion_tokens.clone(), progress);
        let mut task = tokio::spawn(async move { handler.run(input, attempt).await });
        self.running().insert(token.id, task.abort_handle());
        // Progress is written at once, then at most once per interval: a
        // report that comes sooner waits, and a later one replaces it.
        let mut next_progress_write = time::Instant::now();
        let mut progress_waiting = false;

        let deadline = time::sleep(timeout);
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
                    // A panic is this operation's failure alone: logged,
                    // and retried like an upstream error that may pass.
                    Err(e) => {
                        tracing::error!(operation_id = %token.id, error = %e, "operation.handler_panicked");
                        Outcome::Finished(Err(HandlerError::crashed()))
                    }
                },
                _ = &mut deadline => {
                    task.abort();
                    break Outcome::TimedOut(timeout);
                }
                _ = renewal.tick() => match self.inner.operations.renew(token, settings.lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        task.abort();
                        break Outcome::Lost;
                    }
                    // The lease still runs; the next renewal may get through.
                    Err(e) => tracing::warn!(operation_id = %token.id, error = %Chain(&e), "operation.lease_renewal_failed"),
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
                        if let Err(e) = self.inner.operations.set_progress(token, &latest).await {
                            tracing::warn!(operation_id = %token.id, error = %Chain(&e), "operation.progress_not_recorded");
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
    pub(super) async fn settle(&self, claimed: &Claimed, outcome: Outcome) -> Result<(), StoreError> {
        let operations = &self.inner.operations;
        let token = &claimed.token;
        let id = token.id;
        let error = match outcome {
            Outcome::Finished(Ok(Ran::Completed(result))) if nul_at(&result, "result").is_some() => {
                HandlerError::failed("The result holds the NUL character (U+0000), which cannot be stored.")
            }
            Outcome::Finished(Ok(Ran::Completed(result))) => {
                let completed = operations.complete(token, &result).await?;
                self.count_finished(completed.as_ref());
                log_write(
                    id,
                    completed.is_some(),
                    || tracing::info!(operation_id = %id, "operation.completed"),
                );
                return Ok(());
            }
            Outcome::Finished(Ok(Ran::HandedOn { wait })) => {
                // The claim stays, for the target to finish with; if it
                // does not in time, the lease runs out like a worker's.
                let written = operations.renew(token, wait).await?;
                log_write(id, written, || {
                    tracing::info!(operation_id = %id, wait_secs = wait.as_secs(), "operation.handed_on");
                });
                return Ok(());
            }
            Outcome::Finished(Err(error)) => error,
            Outcome::TimedOut(timeout) => HandlerError {
                code: ErrorCode::Timeout,
                message: format!(
                    "The operation did not finish within {} seconds.",
                    timeout.as_secs()
                ),
                retryable: false,
            },
            Outcome::Abandoned => {
                let written = operations.give_back(token).await?;
                log_write(
                    id,
                    written,
                    || tracing::info!(operation_id = %id, "operation.given_back"),
                );
                return Ok(());
            }
            Outcome::Lost => {
                log_write(id, false, || ());
                return Ok(());
            }
        };
        self.settle_failure(claimed, error).await
    }

    /// A retryable failure with attempts left waits for its retry; any
    /// other fails the operation.
    async fn settle_failure(&self, claimed: &Claimed, error: HandlerError) -> Result<(), StoreError> {
        let (operations, settings) = (&self.inner.operations, &self.inner.settings);
        let token = &claimed.token;
        let id = token.id;
        // A message is stored as text, which holds no NUL character.
        let message = error.message.replace('\0', "\u{fffd}");
        let (code, message) = (error.code.as_str(), message.as_str());
        let max_attempts = self
            .limits_of(claimed)
            .max_attempts
            .unwrap_or(settings.max_attempts);
        let attempts_left = u32::try_from(token.attempt).map_or(true, |a| a < max_attempts);
        if error.retryable && attempts_left {
            let delay = backoff::delay_after(token.attempt, settings.retry_backoff);
            let written = operations.retry_later(token, delay).await?;
            let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            log_write(id, written, || {
                tracing::info!(operation_id = %id, error_code = code, error_message = message, retry_in_ms, "operation.retrying");
            });
        } else {
            let failed = operations.fail(token, error.code, message).await?;
            self.count_finished(failed.as_ref());
            log_write(id, failed.is_some(), || {
                tracing::info!(operation_id = %id, error_code = code, error_message = message, "operation.failed");
            });
        }
        Ok(())
    }

    fn limits_of(&self, claimed: &Claimed) -> Limits {
        self.inner
            .registry
            .get(&claimed.operation.operation_type)
            .map(|handler| handler.limits())
            .unwrap_or_default()
    }

    fn count_finished(&self, finished: Option<&Operation>) {
        if let Some(operation) = finished {
            self.inner.metrics.count_finished(operation);
        }
    }
}

/// Logs the step a write made with `step`, or that the claim was lost
/// before it.
fn log_write(id: Uuid, written: bool, step: impl FnOnce()) {
    match written {
        true => step(),
        false => tracing::info!(operation_id = %id, "operation.claim_lost"),
    }
}

async fn abandoning(phase: &mut watch::Receiver<Phase>) {
    // The guard wait_for returns is dropped here, before the next await.
    let _ = phase.wait_for(|phase| *phase == Phase::Abandoning).await;
}
