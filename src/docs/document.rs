//! The OpenAPI 3.1 document: the routes' annotations and the types they
//! send and take, and the create body of each operation type this process
//! runs, from that type's input.

use rocket::serde::json::{self, Value};
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

use crate::domain::{ErrorCode, Operation, ProgressReport, Status};
use crate::error::{ErrorBody, ErrorDetail};
use crate::handlers::Registry;
use crate::routes::{cancel, create, events, health, metrics, poll};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "longrun",
        description = "Asynchronous operations: create one, get its id at once, poll it (cheaply, with ETags, \
                       long polls or Server-Sent Events) until it is completed or failed.",
    ),
    paths(
        poll::get_operation,
        create::create_operation,
        cancel::cancel_operation,
        events::operation_events,
        health::live,
        health::ready,
        metrics::metrics,
        super::openapi_json,
    ),
    components(schemas(Operation, Status, ErrorCode, ProgressReport, ErrorBody, ErrorDetail)),
    tags(
        (name = "operations", description = "Creating, polling and cancelling operations."),
        (name = "service", description = "Health, metrics and this document."),
    ),
)]
struct ApiDoc;

/// The document, with `CreateOperation` one of the requests of the types
/// `registry` holds.
pub fn document(registry: &Registry) -> Value {
    let mut document: Document = ApiDoc::openapi();
    let components = document.components.get_or_insert_with(Default::default);
    components.schemas.extend(registry.create_schemas());
    json::to_value(document).unwrap_or_default()
}
