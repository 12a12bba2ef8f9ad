use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::serde::json::serde_json::Map;
use rocket::serde::json::{json, Value};
use rocket::{Build, Rocket};
use utoipa::openapi::schema::{OneOfBuilder, Schema};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::{answer_feedback, declared, echo, question_generation, Entry, Handler, OperationType, Typed};
use crate::config::OperationsConfig;
use crate::generator::{self, Generator};
use crate::startup::{self, StartError};

/// The operation types of this process, by `operation_type`, in the order
/// they were registered. Cheap to clone.
#[derive(Clone, Default)]
pub struct Registry {
    types: Arc<Vec<Entry>>,
}

impl Registry {
    /// The built-in types `config` enables, then `declared`.
    pub fn from_config(
        config: &OperationsConfig,
        generator: Arc<dyn Generator>,
        declared: Vec<Entry>,
    ) -> Self {
        let mut types = vec![
            entry(question_generation::QuestionGeneration::new(generator.clone())),
            entry(answer_feedback::AnswerFeedback::new(generator)),
        ];
        if config.enable_echo {
            types.push(entry(echo::Echo));
        }
        types.extend(declared);
        Registry {
            types: Arc::new(types),
        }
    }

    pub fn get(&self, operation_type: &str) -> Option<Arc<dyn Handler>> {
        self.types
            .iter()
            .find(|(name, _)| *name == operation_type)
            .map(|(_, handler)| Arc::clone(handler))
    }

    /// The types and their handlers, in the order registered.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &dyn Handler)> + '_ {
        self.types
            .iter()
            .map(|(name, handler)| (name.as_str(), handler.as_ref()))
    }

    pub fn operation_types(&self) -> impl Iterator<Item = &str> + '_ {
        self.types.iter().map(|(name, _)| name.as_str())
    }

    /// `{"type": max_attempts}` for the types that set their own.
    pub fn max_attempts_by_type(&self) -> Value {
        let limited = self.iter().filter_map(|(name, handler)| {
            Some((name.to_owned(), Value::from(handler.limits().max_attempts?)))
        });
        Value::Object(limited.collect::<Map<String, Value>>())
    }
}

/// The body of `POST /api/v1/operations` in the OpenAPI document: the
/// request of one of the types a registry holds. Only a registry knows
/// which, so its schema here is empty and the document takes
/// [`Registry::create_schemas`] instead.
pub struct CreateOperation;

impl PartialSchema for CreateOperation {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new().into()
    }
}

impl ToSchema for CreateOperation {}

impl Registry {
    /// `CreateOperation`, one of `{"operation_type": NAME, "input": INPUT}`
    /// for each type, named `{Name}Request`, with the inputs' schemas, as
    /// the JSON of the OpenAPI document's components.
    pub fn create_schemas(&self) -> Vec<(String, Value)> {
        let mut schemas = Vec::new();
        let mut requests = Vec::new();
        for (name, handler) in self.iter() {
            let input = handler.input_schema();
            let mut request = json!({
                "type": "object",
                "properties": {
                    "operation_type": {"type": "string", "enum": [name]},
                    "input": {"$ref": format!("#/components/schemas/{}", input.name)},
                },
                "required": ["operation_type"],
                "additionalProperties": false,
            });
            if !input.optional {
                request["required"] = json!(["operation_type", "input"]);
            }
            let request_name = request_schema_name(name);
            schemas.extend(input.references);
            schemas.push((input.name, input.schema));
            requests.push(json!({"$ref": format!("#/components/schemas/{request_name}")}));
            schemas.push((request_name, request));
        }
        schemas.push((CreateOperation::name().into_owned(), json!({"oneOf": requests})));
        schemas
    }

    /// The names of the create requests' schemas, one per type.
    pub fn request_schema_names(&self) -> impl Iterator<Item = String> + '_ {
        self.operation_types().map(request_schema_name)
    }
}

/// The schema of the create request of `operation_type`.
fn request_schema_name(operation_type: &str) -> String {
    format!("{}Request", upper_camel_case(operation_type))
}

/// `question_generation` → `QuestionGeneration`.
pub(super) fn upper_camel_case(name: &str) -> String {
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

fn entry<T: OperationType>(operation_type: T) -> Entry {
    (T::NAME.to_owned(), Arc::new(Typed(operation_type)))
}

const PART: &str = "the operation types";

/// Builds the generator the settings ask for, the declared types and the
/// [`Registry`] of all the operation types, and manages the registry. No
/// tasks.
pub struct OperationTypes {
    config: OperationsConfig,
}

impl OperationTypes {
    pub fn new(config: &OperationsConfig) -> Self {
        OperationTypes {
            config: config.clone(),
        }
    }

    fn start(&self) -> Result<Registry, StartError> {
        let generator = generator::from_config(&self.config)
            .map_err(|reason| StartError::failed(PART, format!("cannot start the generator: {reason}")))?;
        let declared = declared::build(&self.config).map_err(|reason| StartError::failed(PART, reason))?;
        Ok(Registry::from_config(&self.config, generator, declared))
    }
}

#[rocket::async_trait]
impl Fairing for OperationTypes {
    fn info(&self) -> Info {
        Info {
            name: "Operation types",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        match self.start() {
            Ok(registry) => Ok(rocket.manage(registry)),
            Err(e) => Err(startup::failed(rocket, e)),
        }
    }
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
