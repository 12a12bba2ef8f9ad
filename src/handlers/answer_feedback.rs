use std::sync::Arc;

use rocket::serde::json::{self, json, Value};

use super::input::Fields;
use super::{Handler, HandlerError, InvalidInput, Progress};
use crate::generator::{FeedbackRequest, Generator};

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
