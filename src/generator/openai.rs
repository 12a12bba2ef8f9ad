//! The generator backed by any OpenAI-compatible chat-completions endpoint.
//! Prompts are the files in `prompts/`; the model answers in JSON, which is
//! parsed and checked before it becomes a result.

use rocket::serde::json::{self, json, Value};
use rocket::serde::Deserialize;

use super::chat::{answer_json, malformed, ChatClient};
use super::{Feedback, FeedbackRequest, Generator, Question, QuestionRequest};
use crate::config::OpenAiConfig;
use crate::domain::{HandlerError, Progress};

const QUESTION_PROMPT: &str = include_str!("../../prompts/question_generation.md");
const FEEDBACK_PROMPT: &str = include_str!("../../prompts/answer_feedback.md");

pub use super::chat::API_KEY_VAR;

pub struct OpenAi {
    chat: ChatClient,
    model: String,
}

impl OpenAi {
    pub fn new(config: &OpenAiConfig) -> Result<Self, String> {
        let chat = ChatClient::new(config)
            .map_err(|reason| format!("generator \"openai\" cannot start: {reason}"))?;
        Ok(Self {
            chat,
            model: config.model.clone(),
        })
    }

    /// Sends one chat completion and returns the model's JSON answer.
    async fn complete(
        &self,
        prompt: &str,
        request: Value,
        progress: &Progress,
    ) -> Result<Value, HandlerError> {
        let body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt},
                {"role": "user", "content": request.to_string()},
            ],
            "response_format": {"type": "json_object"},
        });
        answer_json(&self.chat.complete(&body, progress).await?)
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
            .complete(
                QUESTION_PROMPT,
                json::to_value(request).unwrap_or_default(),
                progress,
            )
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
            .complete(
                FEEDBACK_PROMPT,
                json::to_value(request).unwrap_or_default(),
                progress,
            )
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
struct ModelQuestion {
    question_text: String,
    topic: Option<String>,
}
