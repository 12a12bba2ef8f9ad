use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Ref, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::{answer_feedback, echo, question_generation, Handler, OperationType, Typed};
use crate::config::OperationsConfig;
use crate::generator::{self, Generator};
use crate::startup::{self, StartError};

/// The operation types of this process, by `operation_type`, in the order
/// they were registered. Cheap to clone.
#[derive(Clone, Default)]
pub struct Registry {
    types: Arc<Vec<(&'static str, Arc<dyn Handler>)>>,
}

impl Registry {
    pub fn from_config(config: &OperationsConfig, generator: Arc<dyn Generator>) -> Self {
        let mut types = vec![
            entry(question_generation::QuestionGeneration::new(generator.clone())),
            entry(answer_feedback::AnswerFeedback::new(generator)),
        ];
        if config.enable_echo {
            types.push(entry(echo::Echo));
        }
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
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &dyn Handler)> + '_ {
        self.types.iter().map(|(name, handler)| (*name, handler.as_ref()))
    }

    pub fn operation_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.types.iter().map(|(name, _)| *name)
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
    /// for each type, named `{Name}Request`, with the inputs' schemas.
    pub fn create_schemas(&self) -> Vec<(String, RefOr<Schema>)> {
        let mut schemas = Vec::new();
        let mut create = OneOfBuilder::new();
        for (name, handler) in self.iter() {
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
            let request_name = request_schema_name(name);
            schemas.extend(input.references);
            schemas.push((input.name, input.schema));
            schemas.push((request_name.clone(), request.into()));
            create = create.item(Ref::from_schema_name(request_name));
        }
        schemas.push((CreateOperation::name().into_owned(), create.into()));
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

fn entry<T: OperationType>(operation_type: T) -> (&'static str, Arc<dyn Handler>) {
    (T::NAME, Arc::new(Typed(operation_type)))
}

const PART: &str = "the operation types";

/// Builds the generator the settings ask for and the [`Registry`] of the
/// operation types, and manages the registry. No tasks.
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
        Ok(Registry::from_config(&self.config, generator))
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
