use super::ErrorCode;

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

    /// The handler panicked: nothing says that a second run would, so the
    /// attempt is retried.
    pub fn crashed() -> Self {
        Self {
            code: ErrorCode::InternalError,
            message: "The operation failed on an internal error.".to_owned(),
            retryable: true,
        }
    }

    /// The model cannot be asked at all: no attempt would get further.
    pub fn generator_unavailable(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::GeneratorUnavailable,
            message: message.into(),
            retryable: false,
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
