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
use crate::config::{AuthMode, OperationsConfig};

use crate::domain::{ErrorCode, Operation, ProgressReport, Status};
use crate::error::{ErrorBody, ErrorDetail};
use crate::handlers::Registry;
use crate::routes::{cancel, create, deliveries, events, health, list, metrics, poll, target_finish};

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
        target_finish::complete_operation,
        target_finish::fail_operation,
        deliveries::list_deliveries,
        events::operation_events,
        list::list_operations,
        health::live,
        health::ready,
        metrics::metrics,
        super::openapi_json,
    ),
    components(schemas(Operation, Status, ErrorCode, ProgressReport, ErrorBody, ErrorDetail, list::OperationsPage,
        deliveries::Deliveries, deliveries::Delivery, deliveries::Attempt, target_finish::CompleteRequest,
        target_finish::FailRequest)),
    modifiers(&CompletionTokenScheme),
    tags(
        (name = "operations", description = "Creating, polling and cancelling operations."),
        (name = "targets", description = "How the target of an http operation type finishes an operation it \
                                           answered 202 for, with the token its request carried."),
        (name = "service", description = "Health, metrics and this document."),
    ),
)]
struct ApiDoc;

/// The `completion_token` scheme the target routes take: the
/// `Longrun-Completion-Token` an http type's request carried.
struct CompletionTokenScheme;

impl utoipa::Modify for CompletionTokenScheme {
    fn modify(&self, document: &mut Document) {
        let token = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The Longrun-Completion-Token header of the request the service sent the target.",
            ))
            .build();
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(COMPLETION_TOKEN, SecurityScheme::Http(token));
    }
}

const COMPLETION_TOKEN: &str = "completion_token";

/// The scheme of `Authorization: Bearer`, and of the event stream's
/// query parameter.
const BEARER: &str = "bearer";
const QUERY_TOKEN: &str = "access_token";

/// Where the API is: what tokens guard in jwt mode.
const API_PREFIX: &str = "/api/v1/operations";

/// The document, with `CreateOperation` one of the requests of the types
/// `registry` holds (each with `callback_url` where callbacks are taken);
/// the list where `auth` has one; the security schemes in jwt mode; the
/// completion webhook.
pub fn document(registry: &Registry, config: &OperationsConfig) -> Value {
    let auth = &config.auth;
    let mut document: Document = ApiDoc::openapi();
    if !auth.lists() {
        if let Some(item) = document.paths.paths.get_mut(API_PREFIX) {
            item.get = None;
        }
    }
    if auth.mode == AuthMode::Jwt {
        require_tokens(&mut document);
    }
    let mut document = json::to_value(document).unwrap_or_default();
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.extend(registry.create_schemas());
    }
    if config.allow_callback_urls {
        take_callback_urls(&mut document, registry);
    }
    add_webhook(&mut document);
    document
}

/// Each type's create request also takes `callback_url`.
fn take_callback_urls(document: &mut Value, registry: &Registry) {
    let callback_url = json::json!({
        "type": ["string", "null"],
        "format": "uri",
        "maxLength": crate::outbound::MAX_URL_BYTES,
        "description": "Where to send the operation's completion webhook (http or https, no credentials), \
                        signed with the service's callback secret.",
    });
    for name in registry.request_schema_names() {
        if let Some(properties) = document
            .pointer_mut(&format!("/components/schemas/{name}/properties"))
            .and_then(Value::as_object_mut)
        {
            properties.insert("callback_url".to_owned(), callback_url.clone());
        }
    }
}

/// The `webhooks` section (OpenAPI 3.1): what an endpoint receives when an
/// operation finishes, and the `WebhookEvent` schema.
fn add_webhook(document: &mut Value) {
    let header = |name: &str, description: &str| {
        json::json!({"name": name, "in": "header", "required": true, "description": description,
                     "schema": {"type": "string"}})
    };
    let webhook = json::json!({
        "post": {
            "summary": "An operation finished",
            "description": "Sent to each configured endpoint that asks for the event and operation type, and to \
                the operation's own callback_url, at least once: retried on the schedule of webhook_retry_secs \
                until a 2xx (delivered) or a 410 (never sent again), signed per Standard Webhooks.",
            "parameters": [
                header("webhook-id", "The event's id (msg_ and the operation's id), the same at every retry: \
                                      receivers drop what they have seen."),
                header("webhook-timestamp", "Seconds since 1970 when this attempt was signed."),
                header("webhook-signature", "v1, and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` \
                                             under the key of the endpoint's whsec_ secret."),
            ],
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/WebhookEvent"}}}},
            "responses": {
                "2XX": {"description": "Delivered."},
                "410": {"description": "Gone: this event is not sent to this endpoint again."},
                "default": {"description": "Anything else (or no answer within webhook_timeout_secs) is retried."},
            },
        }
    });
    let event = json::json!({
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {"type": "string", "enum": crate::config::EVENT_TYPES},
            "timestamp": {"type": "string", "format": "date-time", "description": "When the operation finished."},
            "data": {"$ref": "#/components/schemas/Operation",
                     "description": "The operation exactly as GET /api/v1/operations/{id} returns it."},
        },
    });
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert("WebhookEvent".to_owned(), event);
    }
    if let Some(root) = document.as_object_mut() {
        root.insert("webhooks".to_owned(), json::json!({"operationFinished": webhook}));
    }
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
        if path.ends_with("/complete") || path.ends_with("/fail") {
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
