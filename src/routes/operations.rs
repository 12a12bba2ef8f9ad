use rocket::http::Header;
use rocket::response::{self, Responder};
use rocket::serde::json::{json, Json, Value};
use rocket::serde::uuid::Uuid;
use rocket::tokio::{self, time};
use rocket::{Request, Route, Shutdown, State};
use sha2::{Digest, Sha256};
use std::time::Duration;
use time::Instant;

use super::body::{IdempotencyKey, JsonBody};
use super::conditional::{self, IfNoneMatch, Polled, PreferWait, WaitQuery};
use super::openapi::{CreateOperation, ErrorBody};
use crate::config::OperationsConfig;
use crate::domain::Operation;
use crate::error::{ApiError, ApiResult};
use crate::handlers::{InvalidInput, Registry};
use crate::rate_limit::{Polling, Within, Writing};
use crate::store::{Created, Idempotency, NewOperation, Store};
use crate::telemetry::{EventLog, Held, Metrics};
use crate::workers::WorkerPool;

pub fn routes() -> Vec<Route> {
    rocket::routes![
        get_operation,
        create_operation,
        cancel_operation,
        super::events::operation_events
    ]
}

/// A path segment the `Uuid` guard read. The guard's failure is taken here
/// rather than forwarded: a forward would end at the file server mounted on
/// `/`, whose 404 would hide that the id, not the path, was wrong.
pub(super) type OperationIdParam = Result<Uuid, uuid::Error>;

pub(super) fn parse_operation_id(param: OperationIdParam) -> ApiResult<Uuid> {
    param.map_err(|_| ApiError::InvalidOperationId)
}

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
        (status = 404, description = "OPERATION_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "INVALID_OPERATION_ID or INVALID_WAIT", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorBody),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::get("/api/v1/operations/<operation_id>")]
async fn get_operation(
    _limit: Within<Polling>,
    operation_id: OperationIdParam,
    wait: WaitQuery,
    prefer: PreferWait,
    if_none_match: IfNoneMatch,
    store: &State<Store>,
    config: &State<OperationsConfig>,
    metrics: &State<Metrics>,
    shutdown: Shutdown,
) -> ApiResult<Polled> {
    let id = parse_operation_id(operation_id)?;
    let max_wait = Duration::from_secs(config.max_wait_secs);
    let wait = conditional::requested_wait(wait, prefer, max_wait)?;
    let Some(wait) = wait else {
        let operation = store.find(id).await?.ok_or(ApiError::OperationNotFound)?;
        return Ok(polled(&operation, &if_none_match, config, None));
    };
    // Subscribed before the first read, so no change falls in between.
    let mut subscription = store.changes().subscribe(id);
    let _waiting = Held::new(&metrics.long_poll_waiters);
    let deadline = Instant::now() + wait.duration;
    let mut operation = store.find(id).await?.ok_or(ApiError::OperationNotFound)?;
    let arrived_as = operation.representation().etag;
    let unchanged = |etag: &str| match if_none_match.is_present() {
        true => if_none_match.matches(etag),
        false => etag == arrived_as,
    };
    let mut shutdown = shutdown;
    loop {
        let etag = operation.representation().etag;
        if operation.status.is_finished() || !unchanged(&etag) {
            break;
        }
        subscription.saw(&etag);
        tokio::select! {
            _ = subscription.changed() => {}
            _ = time::sleep_until(deadline) => break,
            _ = &mut shutdown => break,
        }
        operation = store.find(id).await?.ok_or(ApiError::OperationNotFound)?;
    }
    let applied = wait.from_prefer.then_some(wait.duration);
    Ok(polled(&operation, &if_none_match, config, applied))
}

fn polled(
    operation: &Operation,
    if_none_match: &IfNoneMatch,
    config: &OperationsConfig,
    preference_applied: Option<Duration>,
) -> Polled {
    let representation = operation.representation();
    Polled {
        not_modified: if_none_match.matches(&representation.etag),
        representation,
        finished: operation.status.is_finished(),
        retry_after_secs: config.retry_after_secs,
        preference_applied,
    }
}

/// Creates a pending operation and wakes a worker for it.
#[utoipa::path(
    post,
    path = "/api/v1/operations",
    tag = "operations",
    request_body(content = CreateOperation, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Retries with the same key and request return the same operation."),
    ),
    responses(
        (status = 202, description = "Created; poll the Location.", body = Operation, headers(
            ("Location" = String), ("Retry-After" = u64), ("ETag" = String),
        )),
        (status = 400, description = "MALFORMED_JSON or INVALID_IDEMPOTENCY_KEY", body = ErrorBody),
        (status = 409, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 422, description = "UNKNOWN_OPERATION_TYPE or INVALID_INPUT", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorBody),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::post("/api/v1/operations", data = "<body>")]
async fn create_operation(
    _limit: Within<Writing>,
    body: Result<JsonBody, ApiError>,
    idempotency_key: IdempotencyKey,
    store: &State<Store>,
    registry: &State<std::sync::Arc<Registry>>,
    workers: &State<WorkerPool>,
    config: &State<OperationsConfig>,
    metrics: &State<Metrics>,
    log: &State<EventLog>,
) -> ApiResult<Accepted> {
    let idempotency_key = idempotency_key.checked()?;
    let (operation_type, input) = read_create_request(body?.0)?;
    let handler = registry
        .get(&operation_type)
        .ok_or_else(|| ApiError::UnknownOperationType {
            known: registry.operation_types().collect::<Vec<_>>().join(", "),
            given: operation_type.clone(),
        })?;
    let input = handler.validate(&input)?;
    let idempotency = idempotency_key.map(|key| Idempotency {
        request_hash: request_hash(&operation_type, &input),
        key,
    });
    let new = NewOperation {
        id: Uuid::new_v4(),
        operation_type,
        input,
        idempotency,
    };
    match store.create(new).await? {
        Created::New(operation) => {
            metrics
                .operations_created
                .with_label_values(&[&operation.operation_type])
                .inc();
            let operation_type = ("operation_type", Value::from(operation.operation_type.as_str()));
            log.operation("operation.created", operation.id, &[operation_type]);
            workers.wake();
            Ok(Accepted {
                operation,
                retry_after_secs: config.retry_after_secs,
            })
        }
        Created::Existing(operation) => Ok(Accepted {
            operation,
            retry_after_secs: config.retry_after_secs,
        }),
        Created::KeyReused => Err(ApiError::IdempotencyKeyReused),
    }
}

/// `{"operation_type": "...", "input": {...}}`; `input` may be left out
/// (for types whose input fields are all optional).
fn read_create_request(body: Value) -> ApiResult<(String, Value)> {
    let Value::Object(mut fields) = body else {
        return Err(InvalidInput::new("body", "must be a JSON object with operation_type and input").into());
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["operation_type", "input"].contains(&k.as_str()))
    {
        return Err(InvalidInput::new(unknown, "unknown field; expected operation_type and input").into());
    }
    let operation_type = match fields.remove("operation_type") {
        Some(Value::String(name)) if !name.is_empty() => name,
        Some(_) => return Err(InvalidInput::new("operation_type", "must be a non-empty string").into()),
        None => return Err(InvalidInput::new("operation_type", "is required").into()),
    };
    let input = match fields.remove("input") {
        None => json!({}),
        Some(input @ Value::Object(_)) => input,
        Some(_) => return Err(InvalidInput::new("input", "must be a JSON object").into()),
    };
    Ok((operation_type, input))
}

/// What makes two creations "the same request" for an idempotency key: the
/// type and the input as validated, defaults included.
fn request_hash(operation_type: &str, input: &Value) -> String {
    let canonical = json!({"operation_type": operation_type, "input": input}).to_string();
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Fails a pending or processing operation with `CANCELLED` and stops its
/// handler if it runs here (elsewhere, at its next lease renewal).
#[utoipa::path(
    post,
    path = "/api/v1/operations/{operation_id}/cancel",
    tag = "operations",
    params(("operation_id" = Uuid, Path, description = "The operation's id.")),
    responses(
        (status = 200, description = "Cancelled: failed with CANCELLED.", body = Operation),
        (status = 404, description = "OPERATION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "OPERATION_ALREADY_FINISHED", body = ErrorBody),
        (status = 422, description = "INVALID_OPERATION_ID", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorBody),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::post("/api/v1/operations/<operation_id>/cancel")]
async fn cancel_operation(
    _limit: Within<Writing>,
    operation_id: OperationIdParam,
    store: &State<Store>,
    workers: &State<WorkerPool>,
    log: &State<EventLog>,
) -> ApiResult<Json<Operation>> {
    let id = parse_operation_id(operation_id)?;
    if let Some(operation) = store.cancel(id).await? {
        workers.stop_handler(id);
        log.operation("operation.cancelled", id, &[]);
        return Ok(Json(operation));
    }
    match store.find(id).await? {
        Some(operation) => Err(ApiError::OperationAlreadyFinished(operation.status)),
        None => Err(ApiError::OperationNotFound),
    }
}

/// 202 with the operation, where to poll it and how soon.
struct Accepted {
    operation: Operation,
    retry_after_secs: u64,
}

impl<'r> Responder<'r, 'static> for Accepted {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let location = format!("/api/v1/operations/{}", self.operation.id);
        let etag = self.operation.representation().etag;
        let mut response = Json(self.operation).respond_to(request)?;
        response.set_status(rocket::http::Status::Accepted);
        response.set_header(Header::new("Location", location));
        response.set_header(Header::new("Retry-After", self.retry_after_secs.to_string()));
        response.set_header(Header::new("ETag", etag));
        Ok(response)
    }
}
