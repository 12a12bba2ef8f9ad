//! Operation types declared in configuration rather than written in Rust:
//! [`llm`] types ask an OpenAI-compatible model with a prompt template,
//! [`http`] types hand the input to a target the user runs. Each has an
//! input schema (validated at create, documented in the OpenAPI document)
//! and may have an output schema (checked before a result is kept).

mod http;
mod llm;
mod schema;

use std::sync::Arc;
use std::time::Duration;

use rocket::serde::json::{json, Value};

use super::{storable, upper_camel_case, Entry, Handler, InputSchema, InvalidInput, Limits};
use crate::config::{DeclaredKind, DeclaredType, OperationsConfig};
use crate::generator::chat::ChatClient;
use schema::JsonSchema;

/// The handlers of the types `config` declares, or the one line that says
/// which declaration cannot be used and why.
pub fn build(config: &OperationsConfig) -> Result<Vec<Entry>, String> {
    // One client for every llm type; without one (no key), each type says
    // why on every operation rather than pretend.
    let chat = match config.types.values().any(|t| t.kind == DeclaredKind::Llm) {
        true => ChatClient::new(&config.openai).map(Arc::new),
        false => Err("no declared type asks a model".to_owned()),
    };
    config
        .types
        .iter()
        .map(|(name, declared)| {
            build_one(name, declared, config, chat.clone())
                .map(|handler| (name.clone(), handler))
                .map_err(|problem| format!("operation type {name:?} (operations.types.{name}): {problem}"))
        })
        .collect()
}

fn build_one(
    name: &str,
    declared: &DeclaredType,
    config: &OperationsConfig,
    chat: Result<Arc<ChatClient>, String>,
) -> Result<Arc<dyn Handler>, String> {
    let input = JsonSchema::load(&declared.input_schema).map_err(|e| format!("input_schema: {e}"))?;
    if input.document.get("type") != Some(&json!("object")) {
        return Err(
            "input_schema: must describe an object (\"type\": \"object\"): an input is one".to_owned(),
        );
    }
    let output = declared
        .output_schema
        .as_ref()
        .map(JsonSchema::load)
        .transpose()
        .map_err(|e| format!("output_schema: {e}"))?;
    let common = Declared {
        name: name.to_owned(),
        input,
        output,
        limits: Limits {
            timeout: declared.timeout_secs.map(Duration::from_secs),
            max_attempts: declared.max_attempts,
        },
    };
    Ok(match declared.kind {
        DeclaredKind::Llm => Arc::new(llm::LlmType::new(common, declared, config, chat)?),
        DeclaredKind::Http => Arc::new(http::HttpType::new(common, declared, config)?),
    })
}

/// What every declared type has: its name, its schemas, its limits.
struct Declared {
    name: String,
    input: JsonSchema,
    output: Option<JsonSchema>,
    limits: Limits,
}

impl Declared {
    fn accept(&self, input: Value) -> Result<Value, InvalidInput> {
        self.input.check("input", &input)?;
        storable(input, "input")
    }

    fn input_schema(&self) -> InputSchema {
        InputSchema {
            name: format!("{}Input", upper_camel_case(&self.name)),
            schema: self.input.document.clone(),
            references: Vec::new(),
            optional: self.input.accepts(&json!({})),
        }
    }
}
