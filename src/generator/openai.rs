//! The generator backed by any OpenAI-compatible chat-completions endpoint.
//! Prompts are the files in `prompts/`; the model answers in JSON, which is
//! parsed and checked before it becomes a result.

use std::time::Duration;

use rocket::serde::json::{self, json, Value};
use rocket::serde::Deserialize;

use super::{Feedback, FeedbackRequest, Generator, Question, QuestionRequest};
use crate::config::OpenAiConfig;
use crate::domain::{HandlerError, Progress};

const QUESTION_PROMPT: &str = include_str!("../../prompts/question_generation.md");
const FEEDBACK_PROMPT: &str = include_str!("../../prompts/answer_feedback.md");

/// Where the key comes from: the environment only, so it is never in a
/// configuration file or a log of one.
pub const API_KEY_VAR: &str = "OPENAI_API_KEY";

pub struct OpenAi {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: ApiKey,
}

/// The key, kept out of `Debug` output.
struct ApiKey(String);

impl OpenAi {
    pub fn new(config: &OpenAiConfig) -> Result<Self, String> {
        let api_key = std::env::var(API_KEY_VAR)
            .ok()
            .filter(|key| !key.trim().is_empty())
            .ok_or_else(|| format!("generator \"openai\" needs the {API_KEY_VAR} environment variable"))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            client,
            url: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            model: config.model.clone(),
            api_key: ApiKey(api_key),
        })
    }

    /// Sends one chat completion and returns the model's JSON answer.
    async fn complete(&self, prompt: &str, request: Value) -> Result<Value, HandlerError> {
        let body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt},
                {"role": "user", "content": request.to_string()},
            ],
            "response_format": {"type": "json_object"},
        });
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.api_key.0)
            .json(&body)
            .send()
            .await
            .map_err(|e| HandlerError::upstream(describe(&e), true))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(HandlerError::rate_limited());
        }
        if !status.is_success() {
            let message = format!("OpenAI API error: HTTP {}", status.as_u16());
            return Err(HandlerError::upstream(message, status.is_server_error()));
        }
        let completion: Completion = response.json().await.map_err(|e| {
            HandlerError::upstream(
                format!("OpenAI API returned an unreadable response: {}", describe(&e)),
                true,
            )
        })?;
        let content = completion
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message.content)
            .ok_or_else(|| malformed("no message content"))?;
        json::from_str(strip_code_fence(&content)).map_err(|_| malformed("not a JSON object"))
    }
}

#[rocket::async_trait]
impl Generator for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn question(
        &self,
        request: &QuestionRequest,
        progress: &Progress,
    ) -> Result<Question, HandlerError> {
        progress.report(10, "Asking the model");
        let answer = self
            .complete(QUESTION_PROMPT, json::to_value(request).unwrap_or_default())
            .await?;
        progress.report(90, "Checking the model's answer");
        let ModelQuestion { question_text, topic } =
            json::from_value(answer).map_err(|_| malformed("no question_text"))?;
        let question_text = question_text.trim().to_owned();
        if question_text.is_empty() {
            return Err(malformed("an empty question_text"));
        }
        if request
            .previous_questions
            .iter()
            .any(|q| super::same_question(q, &question_text))
        {
            return Err(malformed("a question that was already asked"));
        }
        Ok(Question {
            question_text,
            question_type: request.question_type,
            difficulty: request.difficulty,
            topic: topic
                .filter(|t| !t.trim().is_empty())
                .or_else(|| request.topic.clone()),
        })
    }

    async fn feedback(
        &self,
        request: &FeedbackRequest,
        progress: &Progress,
    ) -> Result<Feedback, HandlerError> {
        progress.report(10, "Asking the model");
        let answer = self
            .complete(FEEDBACK_PROMPT, json::to_value(request).unwrap_or_default())
            .await?;
        progress.report(90, "Checking the model's answer");
        let feedback: Feedback =
            json::from_value(answer).map_err(|_| malformed("not the feedback fields"))?;
        if !(1..=10).contains(&feedback.score) {
            return Err(malformed("a score outside 1 to 10"));
        }
        if feedback.feedback_text.trim().is_empty() {
            return Err(malformed("an empty feedback_text"));
        }
        Ok(feedback)
    }
}

#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct ModelQuestion {
    question_text: String,
    topic: Option<String>,
}

/// A model's answer that does not fit: asked again, since another sample
/// of the same model usually does.
fn malformed(what: &str) -> HandlerError {
    HandlerError::upstream(format!("The model's output was invalid: {what}."), true)
}

/// What went wrong with a request, without its URL (which may hold a
/// proxy's credentials) or anything else from the configuration.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_decode() {
        "unreadable body"
    } else {
        "request failed"
    };
    format!("OpenAI API {kind}")
}

/// Models sometimes wrap JSON in a Markdown code fence despite the prompt.
fn strip_code_fence(content: &str) -> &str {
    let trimmed = content.trim();
    trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map(str::trim)
        .unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::strip_code_fence;

    #[test]
    fn a_fenced_json_answer_is_unwrapped() {
        assert_eq!(strip_code_fence("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(strip_code_fence(" {\"a\": 1} "), "{\"a\": 1}");
    }
}
