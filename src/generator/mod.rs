//! Writing interview questions and feedback on answers. One interface, two
//! implementations, chosen by `operations.generator`: [`builtin`] (offline,
//! a curated bank and a rubric) and [`openai`] (any OpenAI-compatible
//! chat-completions endpoint).

pub mod builtin;
pub mod chat;
pub mod openai;

use std::sync::Arc;

use rocket::serde::{Deserialize, Serialize};

use crate::config::{GeneratorKind, OperationsConfig};
use crate::domain::{HandlerError, Progress};

#[rocket::async_trait]
pub trait Generator: Send + Sync {
    /// Named in every result as `generator`.
    fn name(&self) -> &'static str;

    async fn question(
        &self,
        request: &QuestionRequest,
        progress: &Progress,
    ) -> Result<Question, HandlerError>;

    async fn feedback(
        &self,
        request: &FeedbackRequest,
        progress: &Progress,
    ) -> Result<Feedback, HandlerError>;
}

/// The generator the configuration asks for, or why it cannot be built.
pub fn from_config(config: &OperationsConfig) -> Result<Arc<dyn Generator>, String> {
    Ok(match config.generator {
        GeneratorKind::Builtin => Arc::new(builtin::Builtin::new()?),
        GeneratorKind::Openai => Arc::new(openai::OpenAi::new(&config.openai)?),
    })
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde", rename_all = "lowercase")]
pub enum QuestionType {
    #[default]
    Technical,
    Behavioral,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde", rename_all = "lowercase")]
pub enum Difficulty {
    Junior,
    #[default]
    Middle,
    Senior,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "rocket::serde")]
pub struct QuestionRequest {
    pub role: String,
    pub question_type: QuestionType,
    pub difficulty: Difficulty,
    pub topic: Option<String>,
    /// Questions already asked: none of them is asked again.
    pub previous_questions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "rocket::serde")]
pub struct Question {
    pub question_text: String,
    pub question_type: QuestionType,
    pub difficulty: Difficulty,
    pub topic: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "rocket::serde")]
pub struct FeedbackRequest {
    pub question_text: String,
    pub answer_text: String,
    pub question_type: QuestionType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "rocket::serde")]
pub struct Feedback {
    /// From 1 to 10.
    pub score: u8,
    pub strengths: Vec<String>,
    pub improvements: Vec<String>,
    pub feedback_text: String,
}

/// Questions compare equal when they differ only in case, spacing and
/// punctuation.
pub fn same_question(a: &str, b: &str) -> bool {
    normalized(a) == normalized(b)
}

/// The words of `text`, lowercased, single-spaced.
pub fn normalized(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::same_question;

    #[test]
    fn questions_differing_in_case_spacing_and_punctuation_are_the_same() {
        assert!(same_question("What is  an Index?", "what is an index"));
        assert!(!same_question("What is an index?", "What is a view?"));
    }
}
