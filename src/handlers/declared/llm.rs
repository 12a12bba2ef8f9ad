//! `kind = "llm"`: the input rendered into a prompt (a minijinja template,
//! strict about undefined variables), sent to the OpenAI-compatible
//! endpoint of `operations.openai`, and the model's JSON answer checked
//! against the output schema. An answer that does not fit is asked again,
//! within the type's attempts, and then fails with `UPSTREAM_ERROR`.

use std::fs;
use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior};
use rocket::serde::json::{json, Value};

use super::{Declared, InputSchema, InvalidInput, Limits};
use crate::config::{DeclaredType, OperationsConfig};
use crate::domain::HandlerError;
use crate::generator::chat::{answer_json, ChatClient};
use crate::handlers::{Attempt, Handler, Ran};

pub struct LlmType {
    declared: Declared,
    prompt: Environment<'static>,
    /// The request without its messages.
    request: Value,
    /// Why there is none (no key): every operation fails with
    /// `GENERATOR_UNAVAILABLE`.
    chat: Result<Arc<ChatClient>, String>,
}

impl LlmType {
    pub(super) fn new(
        declared: Declared,
        settings: &DeclaredType,
        config: &OperationsConfig,
        chat: Result<Arc<ChatClient>, String>,
    ) -> Result<Self, String> {
        let path = settings
            .prompt
            .as_ref()
            .ok_or("prompt: a template file is required")?;
        let source =
            fs::read_to_string(path).map_err(|e| format!("prompt: cannot read {}: {e}", path.display()))?;
        let mut prompt = Environment::new();
        prompt.set_undefined_behavior(UndefinedBehavior::Strict);
        prompt
            .add_template_owned(declared.name.clone(), source)
            .map_err(|e| format!("prompt: {} is not a valid template: {e}", path.display()))?;
        let output = declared
            .output
            .as_ref()
            .ok_or("output_schema: required for kind = \"llm\"")?;
        let response_format = match settings.structured_output {
            true => json!({
                "type": "json_schema",
                "json_schema": {"name": declared.name, "schema": output.document, "strict": false},
            }),
            false => json!({"type": "json_object"}),
        };
        let mut request = json!({
            "model": settings.model.as_deref().unwrap_or(&config.openai.model),
            "response_format": response_format,
        });
        if let Some(temperature) = settings.temperature {
            request["temperature"] = json!(temperature);
        }
        if let Some(max_tokens) = settings.max_tokens {
            request["max_tokens"] = json!(max_tokens);
        }
        if settings.stream {
            request["stream"] = json!(true);
        }
        if let Err(reason) = &chat {
            tracing::warn!(
                operation_type = declared.name,
                "no model can be asked ({reason}): operations of this type fail with GENERATOR_UNAVAILABLE"
            );
        }
        Ok(LlmType {
            declared,
            prompt,
            request,
            chat,
        })
    }
}

#[rocket::async_trait]
impl Handler for LlmType {
    fn accept(&self, input: Value) -> Result<Value, InvalidInput> {
        self.declared.accept(input)
    }

    async fn run(&self, input: Value, attempt: Attempt) -> Result<Ran, HandlerError> {
        let name = &self.declared.name;
        let chat = self.chat.as_ref().map_err(|reason| {
            HandlerError::generator_unavailable(format!(
                "Operation type {name} needs a model, and the service cannot ask one: {reason}."
            ))
        })?;
        let prompt = self
            .prompt
            .get_template(name)
            .and_then(|template| template.render(minijinja::value::Serde(&input)))
            .map_err(|e| {
                HandlerError::failed(format!("The prompt could not be written from the input: {e}"))
            })?;
        let mut request = self.request.clone();
        request["messages"] = json!([{"role": "user", "content": prompt}]);
        attempt.progress.report(10, "Asking the model");
        let answer = answer_json(&chat.complete(&request, &attempt.progress).await?)?;
        if let Some(output) = &self.declared.output {
            output.check("result", &answer).map_err(|unfit| {
                HandlerError::upstream(
                    format!("The model's output does not fit the output schema: {unfit}"),
                    true,
                )
            })?;
        }
        Ok(Ran::Completed(answer))
    }

    fn input_schema(&self) -> InputSchema {
        self.declared.input_schema()
    }

    fn limits(&self) -> Limits {
        self.declared.limits
    }
}
