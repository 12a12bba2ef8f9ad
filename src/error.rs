//! The one error type of the API and the JSON shape it renders:
//! `{"detail": {"code": "...", "message": "..."}}`.

use std::borrow::Cow;
use std::sync::OnceLock;

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::serde::json::serde_json;
use rocket::serde::Serialize;

use crate::auth::AuthFailure;
use crate::domain::Status as OperationStatus;
use crate::handlers::InvalidInput;
use crate::report::Chain;
use crate::store::StoreError;

/// What the API answers when a request cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Operation not found. It may have expired or never existed.")]
    OperationNotFound,
    #[error("Operation ids are UUIDs such as 3f2b6c1e-8d4a-4c2e-9b7f-0a1d2e3f4a5b: 32 hexadecimal digits, hyphenated 8-4-4-4-12.")]
    InvalidOperationId,
    #[error("Unknown operation_type {given:?}; this service runs: {known}.")]
    UnknownOperationType { given: String, known: String },
    #[error("Invalid input: {0}.")]
    InvalidInput(#[from] InvalidInput),
    #[error("The body is not valid JSON: {0}.")]
    MalformedJson(String),
    #[error("The request body is larger than the limit of {limit} bytes.")]
    PayloadTooLarge { limit: u64 },
    #[error("This Idempotency-Key was used with a different request. Use a new key for a new request.")]
    IdempotencyKeyReused,
    #[error("Idempotency-Key must be 1 to 255 visible ASCII characters.")]
    InvalidIdempotencyKey,
    #[error("The operation has already finished ({0}); there is nothing to cancel.")]
    OperationAlreadyFinished(OperationStatus),
    #[error("wait must be a number of seconds, 0 or more (larger than the maximum is clamped).")]
    InvalidWait,
    #[error("This server has as many event streams open as it allows. Poll instead, or retry shortly.")]
    TooManyStreams,
    #[error("Too many requests from this address. Retry after {retry_after_secs} s.")]
    RateLimited { retry_after_secs: u64 },
    #[error("This path does not take this method; it takes {allow}.")]
    MethodNotAllowed { allow: String },
    #[error("The database is unavailable. Retry shortly.")]
    ServiceUnavailable,
    #[error("The database has no room left to store this. Nothing of the request was kept; retry later.")]
    InsufficientStorage,
    #[error("The operation's stored data cannot be read.")]
    OperationUnreadable,
    #[error("The body must be JSON, sent with Content-Type: application/json.")]
    UnsupportedMediaType,
    #[error("{}", .0.describe())]
    Unauthenticated(AuthFailure),
    #[error(
        "This owner has {max} operations pending or processing, as many as allowed. Retry after some finish."
    )]
    TooManyOperations { max: u64, retry_after_secs: u64 },
    #[error(
        "page_token is not one this service gave for this list and these filters. Start again without it."
    )]
    InvalidPageToken,
    #[error("A completion token is required: send Authorization: Bearer <the Longrun-Completion-Token this operation's target received>.")]
    InvalidCompletionToken,
    #[error("This completion token has no operation left to finish: the operation finished, was cancelled, or was handed to another attempt.")]
    CompletionTokenSpent,
    #[error("The server failed to handle this request.")]
    Internal,
    /// Whatever Rocket rejected before a handler ran, as seen by a catcher.
    #[error("{message}")]
    Rejected {
        status: Status,
        code: Cow<'static, str>,
        message: Cow<'static, str>,
    },
}

/// `Result` with [`ApiError`] as its error.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> Status {
        match self {
            Self::OperationNotFound => Status::NotFound,
            Self::InvalidOperationId => Status::UnprocessableEntity,
            Self::UnknownOperationType { .. } => Status::UnprocessableEntity,
            Self::InvalidInput(_) => Status::UnprocessableEntity,
            Self::MalformedJson(_) => Status::BadRequest,
            Self::PayloadTooLarge { .. } => Status::PayloadTooLarge,
            Self::IdempotencyKeyReused => Status::Conflict,
            Self::InvalidIdempotencyKey => Status::BadRequest,
            Self::OperationAlreadyFinished(_) => Status::Conflict,
            Self::InvalidWait => Status::UnprocessableEntity,
            Self::TooManyStreams => Status::ServiceUnavailable,
            Self::RateLimited { .. } => Status::TooManyRequests,
            Self::MethodNotAllowed { .. } => Status::MethodNotAllowed,
            Self::ServiceUnavailable => Status::ServiceUnavailable,
            Self::InsufficientStorage => Status::InsufficientStorage,
            Self::OperationUnreadable => Status::InternalServerError,
            Self::UnsupportedMediaType => Status::UnsupportedMediaType,
            Self::Unauthenticated(_) => Status::Unauthorized,
            Self::TooManyOperations { .. } => Status::TooManyRequests,
            Self::InvalidPageToken => Status::BadRequest,
            Self::InvalidCompletionToken => Status::Unauthorized,
            Self::CompletionTokenSpent => Status::NotFound,
            Self::Internal => Status::InternalServerError,
            Self::Rejected { status, .. } => *status,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::OperationNotFound => "OPERATION_NOT_FOUND",
            Self::InvalidOperationId => "INVALID_OPERATION_ID",
            Self::UnknownOperationType { .. } => "UNKNOWN_OPERATION_TYPE",
            Self::InvalidInput(_) => "INVALID_INPUT",
            Self::MalformedJson(_) => "MALFORMED_JSON",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
            Self::OperationAlreadyFinished(_) => "OPERATION_ALREADY_FINISHED",
            Self::InvalidWait => "INVALID_WAIT",
            Self::TooManyStreams => "TOO_MANY_STREAMS",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InsufficientStorage => "INSUFFICIENT_STORAGE",
            Self::OperationUnreadable => "OPERATION_UNREADABLE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::TooManyOperations { .. } => "TOO_MANY_OPERATIONS",
            Self::InvalidPageToken => "INVALID_PAGE_TOKEN",
            Self::InvalidCompletionToken => "INVALID_COMPLETION_TOKEN",
            Self::CompletionTokenSpent => "COMPLETION_TOKEN_SPENT",
            Self::Internal => "INTERNAL_ERROR",
            Self::Rejected { code, .. } => code,
        }
    }

    /// The JSON body, `{"detail": {"code", "message"}}`. The errors with
    /// no variable part that polls meet, 404 and 422, are rendered once.
    pub fn body(&self) -> Cow<'static, [u8]> {
        static NOT_FOUND: OnceLock<String> = OnceLock::new();
        static INVALID_ID: OnceLock<String> = OnceLock::new();
        let rendered = match self {
            Self::OperationNotFound => &NOT_FOUND,
            Self::InvalidOperationId => &INVALID_ID,
            _ => return Cow::Owned(self.render().into_bytes()),
        };
        Cow::Borrowed(rendered.get_or_init(|| self.render()).as_bytes())
    }

    fn render(&self) -> String {
        let message = self.to_string();
        let body = ErrorBody {
            detail: ErrorDetail {
                code: self.code().into(),
                message: message.as_str().into(),
            },
        };
        // Serializing two strings cannot fail; the fallback keeps the shape anyway.
        serde_json::to_string(&body).unwrap_or_else(|_| {
            r#"{"detail":{"code":"INTERNAL_ERROR","message":"The server failed to handle this request."}}"#
                .to_owned()
        })
    }
}

/// The one error shape of the API.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde")]
pub struct ErrorBody<'a> {
    detail: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde")]
pub struct ErrorDetail<'a> {
    /// Machine-readable: `OPERATION_NOT_FOUND`, `INVALID_OPERATION_ID`, `INVALID_WAIT`,
    /// `UNKNOWN_OPERATION_TYPE`, `INVALID_INPUT`, `MALFORMED_JSON`, `PAYLOAD_TOO_LARGE`,
    /// `IDEMPOTENCY_KEY_REUSED`, `INVALID_IDEMPOTENCY_KEY`, `OPERATION_ALREADY_FINISHED`,
    /// `RATE_LIMITED`, `TOO_MANY_STREAMS`, `NOT_FOUND`, `METHOD_NOT_ALLOWED`, `BAD_REQUEST`,
    /// `UNSUPPORTED_MEDIA_TYPE`, `OPERATION_UNREADABLE`, `INTERNAL_ERROR`, `SERVICE_UNAVAILABLE`,
    /// `INSUFFICIENT_STORAGE`, `UNAUTHENTICATED`, `TOO_MANY_OPERATIONS`, `INVALID_PAGE_TOKEN`,
    /// `INVALID_COMPLETION_TOKEN`, `COMPLETION_TOKEN_SPENT`.
    pub code: Cow<'a, str>,
    /// For people.
    pub message: Cow<'a, str>,
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        Self::Unauthenticated(failure)
    }
}

/// The cause is logged with its chain; the client gets the code alone. An
/// unreadable row was logged where it was met
/// ([`Operations`](crate::operations::Operations)).
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %Chain(&error), "request.database_unavailable");
                Self::ServiceUnavailable
            }
            StoreError::StorageFull(_) => {
                tracing::error!(error = %Chain(&error), "request.storage_full");
                Self::InsufficientStorage
            }
            StoreError::Unreadable { .. } => Self::OperationUnreadable,
            _ => {
                tracing::error!(error = %Chain(&error), "request.failed");
                Self::Internal
            }
        }
    }
}

/// Seconds a client should wait before retrying after a 503.
const UNAVAILABLE_RETRY_AFTER_SECS: &str = "5";

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = self.body();
        let mut response = Response::build();
        response
            .status(self.status())
            .header(ContentType::JSON)
            // One chunk of the body's own size, not a 4 KiB buffer.
            .max_chunk_size(body.len().max(1))
            .sized_body(body.len(), std::io::Cursor::new(body));
        match self {
            Self::RateLimited { retry_after_secs } | Self::TooManyOperations { retry_after_secs, .. } => {
                response.header(Header::new("Retry-After", retry_after_secs.to_string()));
            }
            Self::MethodNotAllowed { allow } => {
                response.header(Header::new("Allow", allow.clone()));
            }
            Self::Unauthenticated(failure) => {
                response.header(Header::new("WWW-Authenticate", failure.challenge()));
            }
            Self::InvalidCompletionToken => {
                response.header(Header::new(
                    "WWW-Authenticate",
                    r#"Bearer realm="longrun-completion", error="invalid_token""#,
                ));
            }
            _ if matches!(
                self.status(),
                Status::ServiceUnavailable | Status::InsufficientStorage
            ) =>
            {
                response.header(Header::new("Retry-After", UNAVAILABLE_RETRY_AFTER_SECS));
            }
            _ => {}
        }
        response.ok()
    }
}
