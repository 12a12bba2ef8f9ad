use rocket::http::Header;
use rocket::response::{self, Responder};
use rocket::serde::json::{json, serde_json, Json, Value};
use rocket::serde::uuid::Uuid;
use rocket::serde::Deserialize;
use rocket::{Request, State};
use sha2::{Digest, Sha256};

use super::body::{IdempotencyKey, JsonBody};
use super::quota::UnfinishedQuota;
use crate::auth::{AuthFailure, Caller};
use crate::config::OperationsConfig;
use crate::domain::Operation;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::handlers::{read_input, CreateOperation, InvalidInput, Registry};
use crate::operations::Operations;
use crate::outbound;
use crate::rate_limit::{Within, Writing};
use crate::store::{Created, Idempotency, NewOperation};
use crate::telemetry::{Metrics, RequestSpan};
use crate::workers::WorkerPool;

/// Creates a pending operation and wakes a worker for it.
#[utoipa::path(
    post,
    path = "/api/v1/operations",
    tag = "operations",
    request_body(content = CreateOperation, content_type = "application/json",
        description = "One of the operation types this service runs, with its input. No string in it may hold U+0000 (NUL), which neither database stores."),
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Retries with the same key and request return the same operation."),
    ),
    responses(
        (status = 202, description = "Created; poll the Location.", body = Operation, headers(
            ("Location" = String), ("Retry-After" = u64), ("ETag" = String),
        )),
        (status = 400, description = "MALFORMED_JSON or INVALID_IDEMPOTENCY_KEY", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED (jwt mode): no valid bearer token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 409, description = "IDEMPOTENCY_KEY_REUSED (keys are each owner's own)", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 415, description = "UNSUPPORTED_MEDIA_TYPE: the body is not sent as application/json", body = ErrorBody),
        (status = 422, description = "UNKNOWN_OPERATION_TYPE or INVALID_INPUT (including a string holding U+0000)", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED, or TOO_MANY_OPERATIONS: the owner has max_unfinished_per_owner operations pending or processing", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorBody),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 507, description = "INSUFFICIENT_STORAGE: the database has no room left", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::post("/api/v1/operations", data = "<body>")]
pub(crate) async fn create_operation(
    _limit: Within<Writing>,
    caller: Result<Caller, AuthFailure>,
    body: Result<JsonBody, ApiError>,
    idempotency_key: IdempotencyKey,
    operations: &State<Operations>,
    registry: &State<Registry>,
    workers: &State<WorkerPool>,
    config: &State<OperationsConfig>,
    quota: &State<UnfinishedQuota>,
    metrics: &State<Metrics>,
    span: RequestSpan,
) -> ApiResult<Accepted> {
    let caller = caller?;
    let idempotency_key = idempotency_key.checked()?;
    let body = body?.0;
    if !body.is_object() {
        return Err(InvalidInput::new("body", "must be a JSON object with operation_type and input").into());
    }
    let CreateRequest {
        operation_type,
        input,
        callback_url,
    } = read_input("body", body)?;
    let callback_url = callback_url
        .map(|url| checked_callback(url, config))
        .transpose()?;
    let handler = registry
        .get(&operation_type)
        .ok_or_else(|| ApiError::UnknownOperationType {
            known: registry.operation_types().collect::<Vec<_>>().join(", "),
            given: operation_type.clone(),
        })?;
    let input = handler.accept(Value::Object(input))?;
    let idempotency = idempotency_key.map(|key| Idempotency {
        request_hash: request_hash(&operation_type, &input, callback_url.as_deref()),
        key,
    });
    let owner = caller.owner();
    let admitted = match owner {
        Some(owner) => Some(quota.admit(owner, operations).await),
        None => None,
    };
    let created = match admitted {
        Some(Err(over_quota)) => replay(operations, owner, idempotency.as_ref())
            .await?
            .ok_or(over_quota)?,
        _ => {
            let new = NewOperation {
                id: Uuid::new_v4(),
                operation_type,
                input,
                idempotency,
                owner: owner.map(str::to_owned),
                callback_url,
            };
            operations.create(new).await?
        }
    };
    match created {
        Created::New(operation) => {
            metrics
                .operations_created
                .with_label_values(&[&operation.operation_type])
                .inc();
            span.0.in_scope(|| {
                tracing::info!(
                    operation_id = %operation.id,
                    operation_type = operation.operation_type,
                    "operation.created"
                );
            });
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

/// A create over the quota that repeats one that went through (same key,
/// same request) is answered as the first was, whatever the quota says
/// now; what the key made, if anything.
async fn replay(
    operations: &Operations,
    owner: Option<&str>,
    idempotency: Option<&Idempotency>,
) -> ApiResult<Option<Created>> {
    match idempotency {
        Some(idempotency) => Ok(operations.created_before(owner, idempotency).await?),
        None => Ok(None),
    }
}

/// `{"operation_type": "...", "input": {...}}`; `input` may be left out
/// (for types whose input fields are all optional). The OpenAPI document
/// describes it per operation type, from each type's input.
#[derive(Deserialize)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
struct CreateRequest {
    operation_type: String,
    #[serde(default)]
    input: serde_json::Map<String, Value>,
    /// Where to send the operation when it finishes (where
    /// `allow_callback_urls` is set).
    #[serde(default)]
    callback_url: Option<String>,
}

/// A create's `callback_url`, if this service takes them and it is one a
/// call may go to.
fn checked_callback(url: String, config: &OperationsConfig) -> Result<String, InvalidInput> {
    if !config.allow_callback_urls {
        return Err(InvalidInput::new(
            "body.callback_url",
            "is not taken by this service (allow_callback_urls is off)",
        ));
    }
    match outbound::check_url(&url, config.allow_private_targets) {
        Ok(_) => Ok(url),
        Err(unfit) => Err(InvalidInput::new("body.callback_url", unfit.to_string())),
    }
}

/// What makes two creations "the same request" for an idempotency key: the
/// type and the input as validated, defaults included, and the callback.
fn request_hash(operation_type: &str, input: &Value, callback_url: Option<&str>) -> String {
    let mut canonical = json!({"operation_type": operation_type, "input": input});
    if let Some(url) = callback_url {
        canonical["callback_url"] = Value::from(url);
    }
    let canonical = canonical.to_string();
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// 202 with the operation, where to poll it and how soon.
pub(crate) struct Accepted {
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
