use std::sync::Arc;

use rocket::serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::{null_as_default, Text};
use super::OperationType;
use crate::domain::{HandlerError, Progress};
use crate::generator::{FeedbackRequest, Generator, QuestionType};

/// The input of `answer_feedback`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
pub struct AnswerFeedbackInput {
    #[schema(inline)]
    question_text: Text<2000>,
    #[schema(inline)]
    answer_text: Text<20000>,
    /// `technical` when absent.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(nullable)]
    question_type: QuestionType,
}

/// The result of `answer_feedback`.
#[derive(Debug, Serialize)]
#[serde(crate = "rocket::serde")]
pub struct AnswerFeedbackResult {
    /// From 1 to 10.
    score: u8,
    strengths: Vec<String>,
    improvements: Vec<String>,
    feedback_text: String,
    /// The generator that wrote it: `builtin` or `openai`.
    generator: &'static str,
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
impl OperationType for AnswerFeedback {
    const NAME: &'static str = "answer_feedback";
    type Input = AnswerFeedbackInput;
    type Output = AnswerFeedbackResult;

    async fn run(&self, input: Self::Input, progress: Progress) -> Result<Self::Output, HandlerError> {
        let request = FeedbackRequest {
            question_text: input.question_text.into_string(),
            answer_text: input.answer_text.into_string(),
            question_type: input.question_type,
        };
        let feedback = self.generator.feedback(&request, &progress).await?;
        Ok(AnswerFeedbackResult {
            score: feedback.score,
            strengths: feedback.strengths,
            improvements: feedback.improvements,
            feedback_text: feedback.feedback_text,
            generator: self.generator.name(),
        })
    }
}
