use chrono::{DateTime, Utc};
use rocket::serde::json::Json;
use rocket::serde::Serialize;
use rocket::State;
use utoipa::ToSchema;

use super::operation_id::{parse_operation_id, OperationIdParam};
use crate::auth::{AuthFailure, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::operations::Operations;
use crate::rate_limit::{Polling, Within};
use crate::store::{AttemptReport, DeliveryReport};

/// The webhook deliveries of an operation and every attempt of each: one
/// delivery per endpoint its event went to (`callback` for its own
/// `callback_url`), in the order they were made. Empty until the operation
/// has finished and its event was taken up (within a moment).
#[utoipa::path(
    get,
    path = "/api/v1/operations/{operation_id}/deliveries",
    tag = "operations",
    params(("operation_id" = Uuid, Path, description = "The operation's id.")),
    responses(
        (status = 200, description = "The deliveries and their attempts.", body = Deliveries),
        (status = 401, description = "UNAUTHENTICATED (jwt mode): no valid bearer token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "OPERATION_NOT_FOUND: no such operation, or (jwt mode) it is another owner's", body = ErrorBody),
        (status = 422, description = "INVALID_OPERATION_ID", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 500, description = "OPERATION_UNREADABLE or INTERNAL_ERROR", body = ErrorBody),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::get("/api/v1/operations/<operation_id>/deliveries")]
pub(crate) async fn list_deliveries(
    _limit: Within<Polling>,
    caller: Result<Caller, AuthFailure>,
    operation_id: OperationIdParam,
    operations: &State<Operations>,
) -> ApiResult<Json<Deliveries>> {
    let caller = caller?;
    let id = parse_operation_id(operation_id)?;
    operations
        .observe_as(id, &caller)
        .await?
        .ok_or(ApiError::OperationNotFound)?;
    let deliveries = operations.store().deliveries_of(id).await?;
    Ok(Json(Deliveries {
        deliveries: deliveries.into_iter().map(Delivery::from).collect(),
    }))
}

/// `GET /api/v1/operations/{id}/deliveries`.
#[derive(Serialize, ToSchema)]
#[serde(crate = "rocket::serde")]
pub struct Deliveries {
    pub deliveries: Vec<Delivery>,
}

/// One event sent to one endpoint.
#[derive(Serialize, ToSchema)]
#[serde(crate = "rocket::serde")]
pub struct Delivery {
    /// The configured endpoint's name, or `callback`.
    endpoint: String,
    /// The `webhook-id` header, the same at every attempt.
    webhook_id: String,
    /// `operation.completed` or `operation.failed`.
    event_type: String,
    /// `pending` (to be tried, or tried again), `delivered` (a 2xx),
    /// `gone` (a 410: not tried again), `refused` (a target calls may not
    /// reach) or `exhausted` (every retry failed).
    state: String,
    /// When it is tried next; null unless pending.
    next_attempt_at: Option<DateTime<Utc>>,
    attempts: Vec<Attempt>,
}

/// One attempt of a delivery.
#[derive(Serialize, ToSchema)]
#[serde(crate = "rocket::serde")]
pub struct Attempt {
    /// 1 for the first.
    attempt: i32,
    attempted_at: DateTime<Utc>,
    /// `delivered`, `failed`, `gone` or `refused`.
    status: String,
    /// The endpoint's HTTP status; null when none came (timeout, no
    /// connection, refused target).
    response_code: Option<i32>,
    /// Why it failed, when it did.
    error: Option<String>,
}

impl From<DeliveryReport> for Delivery {
    fn from(report: DeliveryReport) -> Self {
        Delivery {
            endpoint: report.endpoint,
            webhook_id: report.webhook_id,
            event_type: report.event_type,
            state: report.state,
            next_attempt_at: report.next_attempt_at,
            attempts: report.attempts.into_iter().map(Attempt::from).collect(),
        }
    }
}

impl From<AttemptReport> for Attempt {
    fn from(report: AttemptReport) -> Self {
        Attempt {
            attempt: report.attempt,
            attempted_at: report.attempted_at,
            status: report.outcome,
            response_code: report.response_code,
            error: report.error,
        }
    }
}
