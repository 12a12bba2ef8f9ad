use rocket::serde::json::Json;
use rocket::State;

use super::operation_id::{parse_operation_id, OperationIdParam};
use crate::auth::{AuthFailure, Caller};
use crate::domain::Operation;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::operations::Operations;
use crate::rate_limit::{Within, Writing};
use crate::telemetry::RequestSpan;
use crate::workers::WorkerPool;

/// Fails a pending or processing operation with `CANCELLED` and stops its
/// handler if it runs here (elsewhere, at its next lease renewal).
#[utoipa::path(
    post,
    path = "/api/v1/operations/{operation_id}/cancel",
    tag = "operations",
    params(("operation_id" = Uuid, Path, description = "The operation's id.")),
    responses(
        (status = 200, description = "Cancelled: failed with CANCELLED.", body = Operation),
        (status = 401, description = "UNAUTHENTICATED (jwt mode): no valid bearer token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "OPERATION_NOT_FOUND: no such operation, or (jwt mode) it is another owner's", body = ErrorBody),
        (status = 409, description = "OPERATION_ALREADY_FINISHED", body = ErrorBody),
        (status = 422, description = "INVALID_OPERATION_ID", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 500, description = "OPERATION_UNREADABLE (the stored row cannot be read) or INTERNAL_ERROR", body = ErrorBody),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 507, description = "INSUFFICIENT_STORAGE: the database has no room left", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::post("/api/v1/operations/<operation_id>/cancel")]
pub(crate) async fn cancel_operation(
    _limit: Within<Writing>,
    caller: Result<Caller, AuthFailure>,
    operation_id: OperationIdParam,
    operations: &State<Operations>,
    workers: &State<WorkerPool>,
    span: RequestSpan,
) -> ApiResult<Json<Operation>> {
    let caller = caller?;
    let id = parse_operation_id(operation_id)?;
    if !caller.sees_all() {
        operations
            .observe_as(id, &caller)
            .await?
            .ok_or(ApiError::OperationNotFound)?;
    }
    if let Some(operation) = operations.cancel(id).await? {
        workers.stop_handler(id);
        span.0
            .in_scope(|| tracing::info!(operation_id = %id, "operation.cancelled"));
        return Ok(Json(operation));
    }
    match operations.find(id).await? {
        Some(operation) => Err(ApiError::OperationAlreadyFinished(operation.status)),
        None => Err(ApiError::OperationNotFound),
    }
}
