//! What each operation type does. A [`Handler`] checks an operation's input
//! when it is created and runs it on a worker; the [`Registry`] maps
//! `operation_type` to its handler. Adding a type is one module here and
//! one line in [`Registry::from_config`].

pub mod answer_feedback;
pub mod echo;
mod input;
pub mod question_generation;

use std::collections::BTreeMap;
use std::sync::Arc;

use rocket::serde::json::{json, Value};
use rocket::tokio::sync::watch;

use crate::config::OperationsConfig;
use crate::domain::ErrorCode;
use crate::generator::Generator;

pub use input::InvalidInput;

/// One operation type.
#[rocket::async_trait]
pub trait Handler: Send + Sync {
    /// Checks `input` and returns it with defaults filled in; this is what
    /// [`Handler::run`] later receives.
    fn validate(&self, input: &Value) -> Result<Value, InvalidInput>;

    /// Does the work, reporting `progress` as it goes if it likes. May be
    /// stopped at any await point (cancel, timeout, shutdown) and may run
    /// again after a crash, so it must not leave anything half-done that a
    /// second run would trip over.
    async fn run(&self, input: Value, progress: Progress) -> Result<Value, HandlerError>;
}

/// Where a handler reports how far it has got. Reports never wait: the
/// worker keeps only the latest and writes at most one per
/// `progress_interval_ms`.
#[derive(Clone)]
pub struct Progress {
    latest: watch::Sender<Option<Value>>,
}

impl Progress {
    /// A reporter, and the receiver its reports reach.
    pub fn channel() -> (Progress, watch::Receiver<Option<Value>>) {
        let (latest, reports) = watch::channel(None);
        (Progress { latest }, reports)
    }

    /// `percent` is clamped to 0–100; `message` is cut to 200 characters.
    pub fn report(&self, percent: u8, message: &str) {
        let message: String = message.chars().take(200).collect();
        self.latest
            .send_replace(Some(json!({"percent": percent.min(100), "message": message})));
    }
}

/// Why a handler did not produce a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    pub code: ErrorCode,
    pub message: String,
    /// Whether trying again later may succeed (an upstream 429, 5xx or
    /// connection failure); the worker retries these within `max_attempts`.
    pub retryable: bool,
}

impl HandlerError {
    /// The operation cannot succeed as asked.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::HandlerError,
            message: message.into(),
            retryable: false,
        }
    }

    pub fn upstream(message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code: ErrorCode::UpstreamError,
            message: message.into(),
            retryable,
        }
    }

    pub fn rate_limited() -> Self {
        Self {
            code: ErrorCode::UpstreamRateLimited,
            message: "OpenAI API rate limit exceeded".to_owned(),
            retryable: true,
        }
    }
}

/// The handlers of this process, by operation type.
#[derive(Default)]
pub struct Registry {
    handlers: BTreeMap<&'static str, Arc<dyn Handler>>,
}

impl Registry {
    pub fn from_config(config: &OperationsConfig, generator: Arc<dyn Generator>) -> Self {
        let mut registry = Registry::default();
        registry.register(
            "question_generation",
            question_generation::QuestionGeneration::new(generator.clone()),
        );
        registry.register("answer_feedback", answer_feedback::AnswerFeedback::new(generator));
        if config.enable_echo {
            registry.register("echo", echo::Echo);
        }
        registry
    }

    fn register(&mut self, operation_type: &'static str, handler: impl Handler + 'static) {
        self.handlers.insert(operation_type, Arc::new(handler));
    }

    pub fn get(&self, operation_type: &str) -> Option<Arc<dyn Handler>> {
        self.handlers.get(operation_type).cloned()
    }

    pub fn operation_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.handlers.keys().copied()
    }
}
