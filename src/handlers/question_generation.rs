use std::sync::Arc;

use rocket::serde::json::{self, json, Value};

use super::input::Fields;
use super::{Handler, HandlerError, InvalidInput, Progress};
use crate::generator::{Difficulty, Generator, QuestionRequest, QuestionType};
use rocket::serde::Deserialize;

/// The input of `question_generation`, for the OpenAPI document; `validate`
/// enforces the same rules.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
#[schema(as = QuestionGenerationInput)]
#[allow(dead_code)]
pub struct Input {
    /// The job the question is for.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    role: String,
    /// `technical` when absent.
    question_type: Option<QuestionType>,
    /// `middle` when absent.
    difficulty: Option<Difficulty>,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    topic: Option<String>,
    /// Questions already asked: none of them is asked again.
    #[schema(max_items = 500)]
    previous_questions: Option<Vec<String>>,
}

/// `question_generation`: an interview question for a role.
pub struct QuestionGeneration {
    generator: Arc<dyn Generator>,
}

impl QuestionGeneration {
    pub fn new(generator: Arc<dyn Generator>) -> Self {
        Self { generator }
    }
}

#[rocket::async_trait]
impl Handler for QuestionGeneration {
    fn validate(&self, input: &Value) -> Result<Value, InvalidInput> {
        let fields = Fields::of(
            input,
            &[
                "role",
                "question_type",
                "difficulty",
                "topic",
                "previous_questions",
            ],
        )?;
        Ok(json!({
            "role": fields.required_text("role", 200)?,
            "question_type": fields.choice("question_type", &["technical", "behavioral"], "technical")?,
            "difficulty": fields.choice("difficulty", &["junior", "middle", "senior"], "middle")?,
            "topic": fields.optional_text("topic", 200)?,
            "previous_questions": fields.text_list("previous_questions", 500)?,
        }))
    }

    async fn run(&self, input: Value, progress: Progress) -> Result<Value, HandlerError> {
        let request: QuestionRequest = json::from_value(input)
            .map_err(|e| HandlerError::failed(format!("invalid stored input: {e}")))?;
        let question = self.generator.question(&request, &progress).await?;
        Ok(json!({
            "question_text": question.question_text,
            "question_type": question.question_type,
            "difficulty": question.difficulty,
            "topic": question.topic,
            "generator": self.generator.name(),
        }))
    }
}
