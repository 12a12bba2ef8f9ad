use std::sync::Arc;

use rocket::serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::{null_as_default, Text, TextList};
use super::OperationType;
use crate::domain::{HandlerError, Progress};
use crate::generator::{Difficulty, Generator, QuestionRequest, QuestionType};

/// The input of `question_generation`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
pub struct QuestionGenerationInput {
    /// The job the question is for.
    #[schema(inline)]
    role: Text<200>,
    /// `technical` when absent.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(nullable)]
    question_type: QuestionType,
    /// `middle` when absent.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(nullable)]
    difficulty: Difficulty,
    /// Preferred where the question bank or the model has it.
    #[serde(default)]
    #[schema(inline)]
    topic: Option<Text<200>>,
    /// Questions already asked: none of them is asked again.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(inline, nullable)]
    previous_questions: TextList<500>,
}

/// The result of `question_generation`.
#[derive(Debug, Serialize)]
#[serde(crate = "rocket::serde")]
pub struct GeneratedQuestion {
    question_text: String,
    question_type: QuestionType,
    difficulty: Difficulty,
    topic: Option<String>,
    /// The generator that wrote it: `builtin` or `openai`.
    generator: &'static str,
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
impl OperationType for QuestionGeneration {
    const NAME: &'static str = "question_generation";
    type Input = QuestionGenerationInput;
    type Output = GeneratedQuestion;

    async fn run(&self, input: Self::Input, progress: Progress) -> Result<Self::Output, HandlerError> {
        let request = QuestionRequest {
            role: input.role.into_string(),
            question_type: input.question_type,
            difficulty: input.difficulty,
            topic: input.topic.map(Text::into_string),
            previous_questions: input.previous_questions.into_vec(),
        };
        let question = self.generator.question(&request, &progress).await?;
        Ok(GeneratedQuestion {
            question_text: question.question_text,
            question_type: question.question_type,
            difficulty: question.difficulty,
            topic: question.topic,
            generator: self.generator.name(),
        })
    }
}
