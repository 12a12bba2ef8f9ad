use std::sync::Arc;

use rocket::serde::json::{self, json, Value};

use super::input::Fields;
use super::{Handler, HandlerError, InvalidInput, Progress};
use crate::generator::{Generator, QuestionRequest};

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
            "previous_questions": fields.text_list("previous_questions", 500, 2000)?,
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
