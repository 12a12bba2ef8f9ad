use std::sync::Arc;

use rocket::serde::json::{self, json, Value};

use super::input::Fields;
use super::{Handler, HandlerError, InvalidInput, Progress};
use crate::generator::{FeedbackRequest, Generator, QuestionType};
use rocket::serde::Deserialize;

/// The input of `answer_feedback`, for the OpenAPI document; `validate`
/// enforces the same rules.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
#[schema(as = AnswerFeedbackInput)]
#[allow(dead_code)]
pub struct Input {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    question_text: String,
    #[schema(min_length = 1, max_length = 20000, pattern = r"\S")]
    answer_text: String,
    /// `technical` when absent.
    question_type: Option<QuestionType>,
}

/// `answer_feedback`: a score, strengths and improvements for an answer.
pub struct AnswerFeedback {
    generator: Arc<dyn Generator>,
}

impl AnswerFeedback {
    pub fn new(generator: Arc<dyn Generator>) -> Self {
        Self { generator }
    }
}

#[rocket::async_trait]
impl Handler for AnswerFeedback {
    fn validate(&self, input: &Value) -> Result<Value, InvalidInput> {
        let fields = Fields::of(input, &["question_text", "answer_text", "question_type"])?;
        Ok(json!({
            "question_text": fields.required_text("question_text", 2000)?,
            "answer_text": fields.required_text("answer_text", 20_000)?,
            "question_type": fields.choice("question_type", &["technical", "behavioral"], "technical")?,
        }))
    }

    async fn run(&self, input: Value, progress: Progress) -> Result<Value, HandlerError> {
        let request: FeedbackRequest = json::from_value(input)
            .map_err(|e| HandlerError::failed(format!("invalid stored input: {e}")))?;
        let feedback = self.generator.feedback(&request, &progress).await?;
        Ok(json!({
            "score": feedback.score,
            "strengths": feedback.strengths,
            "improvements": feedback.improvements,
            "feedback_text": feedback.feedback_text,
            "generator": self.generator.name(),
        }))
    }
}
