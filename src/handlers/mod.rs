//! What each operation type does. An [`OperationType`] names its input (one
//! struct: what it reads, the schema the API documents, the rules it
//! checks) and runs it on a worker; the [`Registry`] holds the types this
//! process runs, by `operation_type`. Adding a type is one module here and
//! one line in [`Registry::from_config`].

pub mod answer_feedback;
pub mod echo;
mod input;
pub mod question_generation;
mod registry;

use rocket::serde::de::DeserializeOwned;
use rocket::serde::json::{self, Value};
use rocket::serde::Serialize;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use crate::domain::{HandlerError, Progress};

pub use input::{nul_at, read as read_input, InvalidInput};
pub use registry::{CreateOperation, OperationTypes, Registry};

/// One operation type.
#[rocket::async_trait]
pub trait OperationType: Send + Sync + 'static {
    /// Its `operation_type`.
    const NAME: &'static str;

    /// Its input, as clients send it (unknown fields refused) and as
    /// [`OperationType::run`] receives it, defaults filled in.
    type Input: DeserializeOwned + Serialize + ToSchema + Send + 'static;

    /// What a completed operation holds as `result`.
    type Output: Serialize + Send + 'static;

    /// Does the work, reporting `progress` as it goes if it likes. May be
    /// stopped at any await point (cancel, timeout, shutdown) and may run
    /// again after a crash, so it must not leave anything half-done that a
    /// second run would trip over.
    async fn run(&self, input: Self::Input, progress: Progress) -> Result<Self::Output, HandlerError>;
}

/// An operation type as the registry holds it, its input and output as
/// JSON.
#[rocket::async_trait]
pub trait Handler: Send + Sync {
    /// Reads `input` as this type's input: what [`Handler::run`] will
    /// receive, defaults filled in, or the field that does not fit.
    fn accept(&self, input: Value) -> Result<Value, InvalidInput>;

    async fn run(&self, input: Value, progress: Progress) -> Result<Value, HandlerError>;

    /// The input's schema, for the OpenAPI document.
    fn input_schema(&self) -> InputSchema;
}

/// An input's schema: its name, itself, and the schemas it refers to.
pub struct InputSchema {
    pub name: String,
    pub schema: RefOr<Schema>,
    pub references: Vec<(String, RefOr<Schema>)>,
    /// Whether the input may be left out of a request (every field has a
    /// default).
    pub optional: bool,
}

/// An [`OperationType`] behind [`Handler`].
struct Typed<T>(T);

#[rocket::async_trait]
impl<T: OperationType> Handler for Typed<T> {
    fn accept(&self, input: Value) -> Result<Value, InvalidInput> {
        let input: T::Input = input::read("input", input)?;
        let input = json::to_value(input).map_err(|e| InvalidInput::new("input", e.to_string()))?;
        match input::nul_at(&input, "input") {
            Some(field) => Err(InvalidInput::new(
                &field,
                "must not hold the NUL character (U+0000), which cannot be stored",
            )),
            None => Ok(input),
        }
    }

    async fn run(&self, input: Value, progress: Progress) -> Result<Value, HandlerError> {
        let input: T::Input = json::from_value(input)
            .map_err(|e| HandlerError::failed(format!("The stored input does not fit {}: {e}", T::NAME)))?;
        let output = self.0.run(input, progress).await?;
        json::to_value(output)
            .map_err(|e| HandlerError::failed(format!("The result could not be written: {e}")))
    }

    fn input_schema(&self) -> InputSchema {
        let mut references = Vec::new();
        <T::Input as ToSchema>::schemas(&mut references);
        InputSchema {
            name: <T::Input as ToSchema>::name().into_owned(),
            schema: <T::Input as utoipa::PartialSchema>::schema(),
            references,
            optional: json::from_value::<T::Input>(Value::Object(Default::default())).is_ok(),
        }
    }
}
