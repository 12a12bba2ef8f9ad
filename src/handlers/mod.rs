//! What each operation type does. A built-in [`OperationType`] names its
//! input (one struct: what it reads, the schema the API documents, the
//! rules it checks) and runs it on a worker; a [`declared`] type is built
//! from configuration. The [`Registry`] holds the types this process runs,
//! by `operation_type`. Adding a built-in type is one module here and one
//! line in [`Registry::from_config`].

pub mod answer_feedback;
mod declared;
pub mod echo;
mod input;
pub mod question_generation;
mod registry;

use std::time::Duration;

use rocket::serde::de::DeserializeOwned;
use rocket::serde::json::{self, Value};
use rocket::serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::completion::CompletionTokens;
use crate::domain::{HandlerError, Progress};
use crate::store::ClaimToken;

pub use input::{nul_at, read as read_input, InvalidInput, Text};
use registry::upper_camel_case;
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

    async fn run(&self, input: Value, attempt: Attempt) -> Result<Ran, HandlerError>;

    /// The input's schema, for the OpenAPI document.
    fn input_schema(&self) -> InputSchema;

    /// The type's own limits, where it has them.
    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// Whether `result`, made elsewhere (by a target that finishes the
    /// operation later), fits the type's result; the path below `root`
    /// where it does not.
    fn check_result(&self, _root: &str, _result: &Value) -> Result<(), InvalidInput> {
        Ok(())
    }
}

/// What a handler knows of the attempt it runs: the claim it runs under,
/// and where it reports progress.
pub struct Attempt {
    claim: ClaimToken,
    completion_tokens: CompletionTokens,
    pub progress: Progress,
}

impl Attempt {
    pub fn new(claim: ClaimToken, completion_tokens: CompletionTokens, progress: Progress) -> Self {
        Attempt {
            claim,
            completion_tokens,
            progress,
        }
    }

    pub fn operation_id(&self) -> Uuid {
        self.claim.id
    }

    /// 1 for the first.
    pub fn number(&self) -> u32 {
        u32::try_from(self.claim.attempt).unwrap_or_default()
    }

    /// What a target that finishes the operation later presents to do so;
    /// made only for the handlers that hand operations on.
    pub fn completion_token(&self) -> String {
        self.completion_tokens.mint(&self.claim)
    }
}

/// How a handler's run ended well.
#[derive(Debug)]
pub enum Ran {
    Completed(Value),
    /// Handed on to a target that finishes the operation later, through
    /// `POST /api/v1/operations/{id}/complete` or `/fail`, within `wait`.
    HandedOn {
        wait: Duration,
    },
}

/// Limits a type sets for itself instead of the service's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub timeout: Option<Duration>,
    pub max_attempts: Option<u32>,
}

/// A type as the registry holds it: its `operation_type` and its handler.
pub type Entry = (String, std::sync::Arc<dyn Handler>);

/// An input's schema, as JSON: its name, itself, and the schemas it refers
/// to.
pub struct InputSchema {
    pub name: String,
    pub schema: Value,
    pub references: Vec<(String, Value)>,
    /// Whether the input may be left out of a request (an empty object is
    /// an input).
    pub optional: bool,
}

/// `value` as it is stored, unless a string in it (named below `root`)
/// holds what a backend cannot store.
pub fn storable(value: Value, root: &str) -> Result<Value, InvalidInput> {
    match input::nul_at(&value, root) {
        Some(field) => Err(InvalidInput::new(
            &field,
            "must not hold the NUL character (U+0000), which cannot be stored",
        )),
        None => Ok(value),
    }
}

/// An [`OperationType`] behind [`Handler`].
struct Typed<T>(T);

#[rocket::async_trait]
impl<T: OperationType> Handler for Typed<T> {
    fn accept(&self, input: Value) -> Result<Value, InvalidInput> {
        let input: T::Input = input::read("input", input)?;
        let input = json::to_value(input).map_err(|e| InvalidInput::new("input", e.to_string()))?;
        storable(input, "input")
    }

    async fn run(&self, input: Value, attempt: Attempt) -> Result<Ran, HandlerError> {
        let input: T::Input = json::from_value(input)
            .map_err(|e| HandlerError::failed(format!("The stored input does not fit {}: {e}", T::NAME)))?;
        let output = self.0.run(input, attempt.progress).await?;
        json::to_value(output)
            .map(Ran::Completed)
            .map_err(|e| HandlerError::failed(format!("The result could not be written: {e}")))
    }

    fn input_schema(&self) -> InputSchema {
        let mut references = Vec::new();
        <T::Input as ToSchema>::schemas(&mut references);
        let as_json = |schema| json::to_value(schema).unwrap_or_default();
        InputSchema {
            name: <T::Input as ToSchema>::name().into_owned(),
            schema: as_json(<T::Input as utoipa::PartialSchema>::schema()),
            references: references
                .into_iter()
                .map(|(name, schema)| (name, as_json(schema)))
                .collect(),
            optional: json::from_value::<T::Input>(Value::Object(Default::default())).is_ok(),
        }
    }
}
