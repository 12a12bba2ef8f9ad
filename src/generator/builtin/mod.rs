//! The offline generator: questions from a curated bank shipped in the
//! repository (`resources/question_bank.json`), feedback from a rubric.

mod bank;
mod rubric;

use super::{Feedback, FeedbackRequest, Generator, Question, QuestionRequest};
use crate::domain::{HandlerError, Progress};

pub use bank::Bank;

pub struct Builtin {
    bank: Bank,
}

impl Builtin {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            bank: Bank::shipped()?,
        })
    }
}

#[rocket::async_trait]
impl Generator for Builtin {
    fn name(&self) -> &'static str {
        "builtin"
    }

    async fn question(
        &self,
        request: &QuestionRequest,
        progress: &Progress,
    ) -> Result<Question, HandlerError> {
        progress.report(50, "Choosing a question not asked before");
        self.bank.pick(request).ok_or_else(|| {
            HandlerError::failed(
                "Every question in the bank for this role and question type has been asked already.",
            )
        })
    }

    async fn feedback(
        &self,
        request: &FeedbackRequest,
        progress: &Progress,
    ) -> Result<Feedback, HandlerError> {
        Ok(rubric::assess(request, progress))
    }
}
