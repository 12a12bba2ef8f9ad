//! The OpenAPI 3.1 document: the routes' annotations and the types they
//! send and take, and the create body of each operation type this process
//! runs, from that type's input.

use rocket::serde::json::{self, Value};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Ref, Type};
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
/// `registry` holds: `{"operation_type": NAME, "input": INPUT}`.
pub fn document(registry: &Registry) -> Value {
    let mut document: Document = ApiDoc::openapi();
    let components = document.components.get_or_insert_with(Default::default);
    let mut create = OneOfBuilder::new();
    for (name, handler) in registry.iter() {
        let input = handler.input_schema();
        let operation_type = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([name]));
        let mut request = ObjectBuilder::new()
            .property("operation_type", operation_type)
            .required("operation_type")
            .property("input", Ref::from_schema_name(input.name.as_str()))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        if !input.optional {
            request = request.required("input");
        }
        let request_name = format!("{}Request", upper_camel_case(name));
        components.schemas.extend(input.references);
        components.schemas.insert(input.name, input.schema);
        components.schemas.insert(request_name.clone(), request.into());
        create = create.item(Ref::from_schema_name(request_name));
    }
    components
        .schemas
        .insert("CreateOperation".to_owned(), create.into());
    json::to_value(document).unwrap_or_default()
}

/// `question_generation` → `QuestionGeneration`.
fn upper_camel_case(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::upper_camel_case;

    #[test]
    fn type_names_become_schema_names() {
        assert_eq!(upper_camel_case("question_generation"), "QuestionGeneration");
        assert_eq!(upper_camel_case("echo"), "Echo");
    }
}
