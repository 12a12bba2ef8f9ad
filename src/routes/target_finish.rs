//! How the target of an `http` type that answered 202 finishes the
//! operation later: `POST …/complete` with the result or `POST …/fail` with
//! a message, authorized by the completion token its request carried (not
//! by the service's own authentication: the target is not an owner).

use rocket::request::{self, FromRequest, Request};
use rocket::serde::json::{Json, Value};
use rocket::serde::Deserialize;
use rocket::State;

use super::body::JsonBody;
use super::operation_id::{parse_operation_id, OperationIdParam};
use crate::auth::bearer_token;
use crate::completion::CompletionTokens;
use crate::domain::{ErrorCode, Operation, Status};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::handlers::{read_input, storable, Registry, Text};
use crate::operations::Operations;
use crate::store::ClaimToken;
use crate::telemetry::{Metrics, RequestSpan};
use crate::workers::WorkerPool;

/// The body of `…/complete`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
pub struct CompleteRequest {
    /// The operation's result: any JSON, checked against the type's
    /// output_schema when it has one.
    result: Value,
}

/// The body of `…/fail`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
pub struct FailRequest {
    /// Why it failed, for people; stored as the operation's error_message.
    #[schema(inline)]
    error_message: Text<2000>,
}

/// `Authorization: Bearer <token>`, as sent; checked against the operation
/// in the route.
pub struct CompletionToken<'r>(Option<&'r str>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CompletionToken<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        request::Outcome::Success(CompletionToken(bearer_token(request)))
    }
}

/// Completes an operation handed to its target, with the result the target
/// made.
#[utoipa::path(
    post,
    path = "/api/v1/operations/{operation_id}/complete",
    tag = "targets",
    params(("operation_id" = Uuid, Path, description = "The operation's id.")),
    request_body(content = CompleteRequest, content_type = "application/json"),
    security(("completion_token" = [])),
    responses(
        (status = 200, description = "Completed.", body = Operation),
        (status = 400, description = "MALFORMED_JSON", body = ErrorBody),
        (status = 401, description = "INVALID_COMPLETION_TOKEN: no token, or not one made for this operation", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "COMPLETION_TOKEN_SPENT: the operation finished, was cancelled or is another attempt's", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 415, description = "UNSUPPORTED_MEDIA_TYPE", body = ErrorBody),
        (status = 422, description = "INVALID_OPERATION_ID or INVALID_INPUT (the body, or a result that does not fit the type's output_schema)", body = ErrorBody),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 507, description = "INSUFFICIENT_STORAGE", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::post("/api/v1/operations/<operation_id>/complete", data = "<body>")]
pub(crate) async fn complete_operation(
    operation_id: OperationIdParam,
    token: CompletionToken<'_>,
    body: Result<JsonBody, ApiError>,
    tokens: &State<CompletionTokens>,
    registry: &State<Registry>,
    operations: &State<Operations>,
    workers: &State<WorkerPool>,
    metrics: &State<Metrics>,
    span: RequestSpan,
) -> ApiResult<Json<Operation>> {
    let claim = claim_of(tokens, operation_id, token)?;
    let finishing = Finishing {
        operations,
        workers,
        metrics,
        span,
    };
    let CompleteRequest { result } = read_input("body", storable(body?.0, "body")?)?;
    // A spent token is told so whatever the result; a result for an
    // operation that still awaits one must fit its type.
    let operation = operations.find(claim.id).await?;
    let awaiting = operation.filter(|o| o.status == Status::Processing && o.attempts == claim.attempt);
    let operation = awaiting.ok_or(ApiError::CompletionTokenSpent)?;
    if let Some(handler) = registry.get(&operation.operation_type) {
        handler.check_result("body.result", &result)?;
    }
    finishing.finish(&claim, Finish::Complete(&result)).await
}

/// Fails an operation handed to its target, with the target's message
/// (`HANDLER_ERROR`, not retried).
#[utoipa::path(
    post,
    path = "/api/v1/operations/{operation_id}/fail",
    tag = "targets",
    params(("operation_id" = Uuid, Path, description = "The operation's id.")),
    request_body(content = FailRequest, content_type = "application/json"),
    security(("completion_token" = [])),
    responses(
        (status = 200, description = "Failed with HANDLER_ERROR and the message given.", body = Operation),
        (status = 400, description = "MALFORMED_JSON", body = ErrorBody),
        (status = 401, description = "INVALID_COMPLETION_TOKEN: no token, or not one made for this operation", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "COMPLETION_TOKEN_SPENT: the operation finished, was cancelled or is another attempt's", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 415, description = "UNSUPPORTED_MEDIA_TYPE", body = ErrorBody),
        (status = 422, description = "INVALID_OPERATION_ID or INVALID_INPUT", body = ErrorBody),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 507, description = "INSUFFICIENT_STORAGE", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::post("/api/v1/operations/<operation_id>/fail", data = "<body>")]
pub(crate) async fn fail_operation(
    operation_id: OperationIdParam,
    token: CompletionToken<'_>,
    body: Result<JsonBody, ApiError>,
    tokens: &State<CompletionTokens>,
    operations: &State<Operations>,
    workers: &State<WorkerPool>,
    metrics: &State<Metrics>,
    span: RequestSpan,
) -> ApiResult<Json<Operation>> {
    let claim = claim_of(tokens, operation_id, token)?;
    let finishing = Finishing {
        operations,
        workers,
        metrics,
        span,
    };
    let FailRequest { error_message } = read_input("body", storable(body?.0, "body")?)?;
    finishing
        .finish(&claim, Finish::Fail(error_message.as_str()))
        .await
}

enum Finish<'a> {
    Complete(&'a Value),
    Fail(&'a str),
}

/// What both routes finish an operation with.
struct Finishing<'r> {
    operations: &'r Operations,
    workers: &'r WorkerPool,
    metrics: &'r Metrics,
    span: RequestSpan,
}

/// The claim the token stands for, if it is one made for `operation_id`.
fn claim_of(
    tokens: &CompletionTokens,
    operation_id: OperationIdParam,
    token: CompletionToken<'_>,
) -> ApiResult<ClaimToken> {
    let id = parse_operation_id(operation_id)?;
    token
        .0
        .and_then(|token| tokens.verify(id, token))
        .ok_or(ApiError::InvalidCompletionToken)
}

impl Finishing<'_> {
    async fn finish(&self, claim: &ClaimToken, finish: Finish<'_>) -> ApiResult<Json<Operation>> {
        let id = claim.id;
        let finished = match finish {
            Finish::Complete(result) => self.operations.complete(claim, result).await?,
            Finish::Fail(message) => {
                self.operations
                    .fail(claim, ErrorCode::HandlerError, message)
                    .await?
            }
        };
        let operation = finished.ok_or(ApiError::CompletionTokenSpent)?;
        // A handler may still wait here for the target's answer.
        self.workers.stop_handler(id);
        self.metrics.count_finished(&operation);
        self.span.0.in_scope(|| {
            tracing::info!(operation_id = %id, status = operation.status.as_str(), "operation.finished_by_target");
        });
        Ok(Json(operation))
    }
}
