//! The one error type of the API and the JSON shape it renders:
//! `{"detail": {"code": "...", "message": "..."}}`.

use std::borrow::Cow;

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::serde::json::serde_json;
use rocket::serde::Serialize;

use crate::store::StoreError;

/// What the API answers when a request cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Operation not found. It may have expired or never existed.")]
    OperationNotFound,
    #[error("Operation ids are UUIDs such as 3f2b6c1e-8d4a-4c2e-9b7f-0a1d2e3f4a5b: 32 hexadecimal digits, hyphenated 8-4-4-4-12.")]
    InvalidOperationId,
    #[error("The database is unavailable. Retry shortly.")]
    ServiceUnavailable,
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
            Self::ServiceUnavailable => Status::ServiceUnavailable,
            Self::Internal => Status::InternalServerError,
            Self::Rejected { status, .. } => *status,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::OperationNotFound => "OPERATION_NOT_FOUND",
            Self::InvalidOperationId => "INVALID_OPERATION_ID",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::Internal => "INTERNAL_ERROR",
            Self::Rejected { code, .. } => code,
        }
    }

    /// The JSON body, `{"detail": {"code", "message"}}`.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        #[serde(crate = "rocket::serde")]
        struct Body<'a> {
            detail: Detail<'a>,
        }
        #[derive(Serialize)]
        #[serde(crate = "rocket::serde")]
        struct Detail<'a> {
            code: &'a str,
            message: &'a str,
        }
        let message = self.to_string();
        let body = Body {
            detail: Detail {
                code: self.code(),
                message: &message,
            },
        };
        // Serializing two strings cannot fail; the fallback keeps the shape anyway.
        serde_json::to_string(&body).unwrap_or_else(|_| {
            r#"{"detail":{"code":"INTERNAL_ERROR","message":"The server failed to handle this request."}}"#
                .to_owned()
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                rocket::warn!("database unavailable: {cause}");
                Self::ServiceUnavailable
            }
            StoreError::Internal(cause) => {
                rocket::error!("database error: {cause}");
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
            .sized_body(body.len(), std::io::Cursor::new(body));
        if self.status() == Status::ServiceUnavailable {
            response.header(Header::new("Retry-After", UNAVAILABLE_RETRY_AFTER_SECS));
        }
        response.ok()
    }
}
