use std::time::Duration;

use rocket::serde::uuid::Uuid;
use rocket::tokio;
use rocket::tokio::time::{self, Instant};
use rocket::{Shutdown, State};

use super::conditional::{self, IfNoneMatch, Polled, PreferWait, WaitQuery};
use super::operation_id::{parse_operation_id, OperationIdParam};
use crate::auth::{AuthFailure, Caller};
use crate::changes::Observed;
use crate::config::OperationsConfig;
use crate::domain::Operation;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::operations::Operations;
use crate::rate_limit::{Polling, Within};
use crate::telemetry::{Held, Metrics};

/// The operation's current state, or 304 if the client's `If-None-Match`
/// has it. With `?wait=N` (or `Prefer: wait=N`), held until it differs
/// from the client's version (or from its state when the request came), is
/// finished, or N seconds pass. Never writes.
#[utoipa::path(
    get,
    path = "/api/v1/operations/{operation_id}",
    tag = "operations",
    params(
        ("operation_id" = Uuid, Path, description = "The operation's id (hyphenated, any case; also 32 hex digits, braced or urn:uuid:)."),
        ("wait" = Option<f64>, Query, minimum = 0, description = "Long poll: hold the request up to this many seconds (at most max_wait_secs) until the operation differs from If-None-Match (or from its state on arrival) or is finished. Also accepted as `Prefer: wait=N` (answered with `Preference-Applied`)."),
        ("If-None-Match" = Option<String>, Header, description = "ETags the client has; a match is answered with 304."),
    ),
    responses(
        (status = 200, description = "The operation.", body = Operation, headers(
            ("ETag" = String, description = "Strong; changes exactly when the body does."),
            ("Cache-Control" = String, description = "no-cache"),
            ("Retry-After" = u64, description = "Seconds until the next poll, while unfinished."),
        )),
        (status = 304, description = "The client's ETag is current.", headers(
            ("ETag" = String), ("Cache-Control" = String), ("Retry-After" = u64),
        )),
        (status = 401, description = "UNAUTHENTICATED (jwt mode): no valid bearer token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "OPERATION_NOT_FOUND: no such operation, or (jwt mode) it is another owner's", body = ErrorBody),
        (status = 422, description = "INVALID_OPERATION_ID or INVALID_WAIT", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 500, description = "OPERATION_UNREADABLE (the stored row cannot be read) or INTERNAL_ERROR", body = ErrorBody),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::get("/api/v1/operations/<operation_id>")]
pub(crate) async fn get_operation(
    _limit: Within<Polling>,
    caller: Result<Caller, AuthFailure>,
    operation_id: OperationIdParam,
    wait: WaitQuery,
    prefer: PreferWait,
    if_none_match: IfNoneMatch,
    operations: &State<Operations>,
    config: &State<OperationsConfig>,
    metrics: &State<Metrics>,
    shutdown: Shutdown,
) -> ApiResult<Polled> {
    let caller = caller?;
    let id = parse_operation_id(operation_id)?;
    let wait = conditional::requested_wait(wait, prefer, config.max_wait())?;
    let Some(wait) = wait else {
        let observed = operations
            .observe_as(id, &caller)
            .await?
            .ok_or(ApiError::OperationNotFound)?;
        return Ok(polled(observed, &if_none_match, config, None));
    };
    // Boxed: what a held request keeps across its awaits is then allocated
    // for held requests only, not part of every poll's future.
    Box::pin(hold(
        id,
        &caller,
        wait,
        if_none_match,
        operations,
        config,
        metrics,
        shutdown,
    ))
    .await
}

/// A long poll: held until the operation differs from what the client has
/// (or from its state on arrival), is finished, or the wait is over.
async fn hold(
    id: Uuid,
    caller: &Caller,
    wait: conditional::Wait,
    if_none_match: IfNoneMatch,
    operations: &Operations,
    config: &OperationsConfig,
    metrics: &Metrics,
    mut shutdown: Shutdown,
) -> ApiResult<Polled> {
    // Subscribed before the first read, so no change falls in between.
    let mut subscription = operations.changes().subscribe(id);
    let _waiting = Held::new(&metrics.long_poll_waiters);
    let deadline = Instant::now() + wait.duration;
    let mut observed = operations
        .observe_as(id, caller)
        .await?
        .ok_or(ApiError::OperationNotFound)?;
    let arrived_as = observed.clone();
    let unchanged = |etag: &str| match if_none_match.is_present() {
        true => if_none_match.matches(etag),
        false => etag == arrived_as.etag(),
    };
    loop {
        let etag = observed.etag();
        if observed.is_finished() || !unchanged(etag) {
            break;
        }
        subscription.saw(etag);
        tokio::select! {
            _ = subscription.changed() => {}
            _ = time::sleep_until(deadline) => break,
            _ = &mut shutdown => break,
        }
        observed = subscription
            .read(|id| operations.observe_as(id, caller))
            .await?
            .ok_or(ApiError::OperationNotFound)?;
    }
    let applied = wait.from_prefer.then_some(wait.duration);
    Ok(polled(observed, &if_none_match, config, applied))
}

fn polled(
    observed: Observed,
    if_none_match: &IfNoneMatch,
    config: &OperationsConfig,
    preference_applied: Option<Duration>,
) -> Polled {
    Polled {
        not_modified: if_none_match.matches(observed.etag()),
        observed,
        retry_after_secs: config.retry_after_secs,
        preference_applied,
    }
}
