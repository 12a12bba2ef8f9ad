//! The OpenAPI 3.1 document, generated from the routes' annotations and
//! the types they send and take.

use rocket::serde::json::{Json, Value};
use rocket::serde::Deserialize;
use rocket::State;
use utoipa::openapi::schema::{OneOfBuilder, Ref, Schema};
use utoipa::openapi::RefOr;
use utoipa::{OpenApi, ToSchema};

use crate::domain::{ErrorCode, Operation, ProgressReport, Status};
use crate::generator::{Difficulty, QuestionType};
use crate::handlers::{answer_feedback, echo, question_generation, Registry};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "longrun",
        description = "Asynchronous operations: create one, get its id at once, poll it (cheaply, with ETags, \
                       long polls or Server-Sent Events) until it is completed or failed.",
    ),
    paths(
        super::poll::get_operation,
        super::create::create_operation,
        super::cancel::cancel_operation,
        super::events::operation_events,
        super::health::live,
        super::health::ready,
        super::metrics::metrics,
        openapi_json,
    ),
    components(schemas(
        Operation,
        Status,
        ErrorCode,
        ProgressReport,
        ErrorBody,
        ErrorDetail,
        CreateOperation,
        QuestionGenerationRequest,
        AnswerFeedbackRequest,
        EchoRequest,
        question_generation::Input,
        answer_feedback::Input,
        echo::Input,
        QuestionType,
        Difficulty,
        Liveness,
        Readiness,
        ServerSentEvent,
    )),
    tags(
        (name = "operations", description = "Creating, polling and cancelling operations."),
        (name = "service", description = "Health, metrics and this document."),
    ),
)]
struct ApiDoc;

/// The one error shape of the API.
#[derive(ToSchema)]
#[allow(dead_code)] // describes what `ApiError` renders
pub struct ErrorBody {
    detail: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Machine-readable: `OPERATION_NOT_FOUND`, `INVALID_OPERATION_ID`, `INVALID_WAIT`,
    /// `UNKNOWN_OPERATION_TYPE`, `INVALID_INPUT`, `MALFORMED_JSON`, `PAYLOAD_TOO_LARGE`,
    /// `IDEMPOTENCY_KEY_REUSED`, `INVALID_IDEMPOTENCY_KEY`, `OPERATION_ALREADY_FINISHED`,
    /// `RATE_LIMITED`, `TOO_MANY_STREAMS`, `NOT_FOUND`, `METHOD_NOT_ALLOWED`, `BAD_REQUEST`,
    /// `INTERNAL_ERROR`, `SERVICE_UNAVAILABLE`.
    code: String,
    /// For people.
    message: String,
}

/// `POST /api/v1/operations`: one of the operation types this service
/// runs (the served document lists only those).
pub struct CreateOperation;

impl utoipa::PartialSchema for CreateOperation {
    fn schema() -> RefOr<Schema> {
        let one_of = TYPES_BY_SCHEMA
            .iter()
            .fold(OneOfBuilder::new(), |one_of, (schema, _)| {
                one_of.item(Ref::from_schema_name(*schema))
            });
        one_of.into()
    }
}

impl ToSchema for CreateOperation {}

// The request of each operation type: its name, and its input.

#[derive(Deserialize, ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
#[allow(dead_code)]
pub struct QuestionGenerationRequest {
    operation_type: QuestionGenerationType,
    input: question_generation::Input,
}

#[derive(Deserialize, ToSchema)]
#[serde(crate = "rocket::serde")]
pub enum QuestionGenerationType {
    #[serde(rename = "question_generation")]
    QuestionGeneration,
}

#[derive(Deserialize, ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
#[allow(dead_code)]
pub struct AnswerFeedbackRequest {
    operation_type: AnswerFeedbackType,
    input: answer_feedback::Input,
}

#[derive(Deserialize, ToSchema)]
#[serde(crate = "rocket::serde")]
pub enum AnswerFeedbackType {
    #[serde(rename = "answer_feedback")]
    AnswerFeedback,
}

#[derive(Deserialize, ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
#[allow(dead_code)]
pub struct EchoRequest {
    operation_type: EchoType,
    /// Every field is optional, so the input may be left out.
    #[schema(required = false)]
    input: echo::Input,
}

#[derive(Deserialize, ToSchema)]
#[serde(crate = "rocket::serde")]
pub enum EchoType {
    #[serde(rename = "echo")]
    Echo,
}

/// One event of the stream.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ServerSentEvent {
    /// `operation`.
    event: Option<String>,
    /// The state's ETag.
    id: Option<String>,
    /// The operation's JSON, as a GET returns it.
    data: Option<String>,
    retry: Option<u64>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Liveness {
    status: String,
}

/// Each check is `ok`, or names what is wrong.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    status: String,
    #[schema(value_type = Object)]
    checks: Value,
    /// Present when unavailable, with the code `NOT_READY`.
    detail: Option<ErrorDetail>,
}

/// The document, describing only the operation types this process runs.
pub fn document(registry: &Registry) -> Value {
    let mut document = rocket::serde::json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let runs: Vec<&str> = registry.operation_types().collect();
    let runs_type = |request: &Value| {
        let reference = request["$ref"].as_str().unwrap_or_default();
        TYPES_BY_SCHEMA
            .iter()
            .any(|(schema, name)| reference.ends_with(&format!("/{schema}")) && runs.contains(name))
    };
    if let Some(one_of) = document["components"]["schemas"]["CreateOperation"]["oneOf"].as_array_mut() {
        one_of.retain(runs_type);
    }
    document
}

/// The request schema of each operation type.
const TYPES_BY_SCHEMA: [(&str, &str); 3] = [
    ("QuestionGenerationRequest", "question_generation"),
    ("AnswerFeedbackRequest", "answer_feedback"),
    ("EchoRequest", "echo"),
];

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "service",
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json", body = Object)),
)]
#[rocket::get("/api/v1/openapi.json")]
pub fn openapi_json(registry: &State<std::sync::Arc<Registry>>) -> Json<Value> {
    Json(document(registry))
}
