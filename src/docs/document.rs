//! The OpenAPI 3.1 document: the routes' annotations and the types they
//! send and take, and the create body of each operation type this process
//! runs, from that type's input.

use rocket::serde::json::{self, Value};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

use crate::auth::ACCESS_TOKEN_PARAMETER;
use crate::config::{AuthConfig, AuthMode};

use crate::domain::{ErrorCode, Operation, ProgressReport, Status};
use crate::error::{ErrorBody, ErrorDetail};
use crate::handlers::Registry;
use crate::routes::{cancel, create, events, health, list, metrics, poll};

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
        list::list_operations,
        health::live,
        health::ready,
        metrics::metrics,
        super::openapi_json,
    ),
    components(schemas(Operation, Status, ErrorCode, ProgressReport, ErrorBody, ErrorDetail, list::OperationsPage)),
    tags(
        (name = "operations", description = "Creating, polling and cancelling operations."),
        (name = "service", description = "Health, metrics and this document."),
    ),
)]
struct ApiDoc;

/// The scheme of `Authorization: Bearer`, and of the event stream's
/// query parameter.
const BEARER: &str = "bearer";
const QUERY_TOKEN: &str = "access_token";

/// Where the API is: what tokens guard in jwt mode.
const API_PREFIX: &str = "/api/v1/operations";

/// The document, with `CreateOperation` one of the requests of the types
/// `registry` holds; the list where `auth` has one; the security schemes
/// in jwt mode.
pub fn document(registry: &Registry, auth: &AuthConfig) -> Value {
    let mut document: Document = ApiDoc::openapi();
    let components = document.components.get_or_insert_with(Default::default);
    components.schemas.extend(registry.create_schemas());
    if !auth.lists() {
        if let Some(item) = document.paths.paths.get_mut(API_PREFIX) {
            item.get = None;
        }
    }
    if auth.mode == AuthMode::Jwt {
        require_tokens(&mut document);
    }
    json::to_value(document).unwrap_or_default()
}

/// Every operation of the API takes a bearer token; the event stream also
/// takes it as `access_token`.
fn require_tokens(document: &mut Document) {
    let components = document.components.get_or_insert_with(Default::default);
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .build();
    components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
    components.add_security_scheme(
        QUERY_TOKEN,
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new(ACCESS_TOKEN_PARAMETER))),
    );
    let empty: [&str; 0] = [];
    for (path, item) in document.paths.paths.iter_mut() {
        if !path.starts_with(API_PREFIX) {
            continue;
        }
        let mut requirements = vec![SecurityRequirement::new(BEARER, empty)];
        if path.ends_with("/events") {
            requirements.push(SecurityRequirement::new(QUERY_TOKEN, empty));
        }
        for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
            operation.security = Some(requirements.clone());
        }
    }
}
