//! Catchers render what Rocket rejects before a handler runs in the same
//! shape as [`ApiError`].

use std::borrow::Cow;

use rocket::http::Status;
use rocket::{Catcher, Request};

use crate::error::ApiError;
use crate::rate_limit::RetryAfter;

/// Catchers for every path.
pub fn generic() -> Vec<Catcher> {
    rocket::catchers![default, rate_limited]
}

/// A rate limit's guard said how long to wait.
#[rocket::catch(429)]
fn rate_limited(request: &Request<'_>) -> ApiError {
    let RetryAfter(seconds) = *request.local_cache(RetryAfter::default);
    ApiError::RateLimited {
        retry_after_secs: seconds.unwrap_or(1),
    }
}

#[rocket::catch(default)]
fn default(status: Status, _: &Request<'_>) -> ApiError {
    match status.code {
        500 => ApiError::Internal,
        503 => ApiError::ServiceUnavailable,
        _ => ApiError::Rejected {
            status,
            code: code_of(status),
            message: message_of(status),
        },
    }
}

fn code_of(status: Status) -> Cow<'static, str> {
    match status.code {
        400 => "BAD_REQUEST".into(),
        404 => "NOT_FOUND".into(),
        413 => "PAYLOAD_TOO_LARGE".into(),
        422 => "UNPROCESSABLE_ENTITY".into(),
        _ => status
            .reason()
            .map(|reason| reason.to_ascii_uppercase().replace([' ', '-'], "_"))
            .unwrap_or_else(|| format!("HTTP_{}", status.code))
            .into(),
    }
}

fn message_of(status: Status) -> Cow<'static, str> {
    match status.code {
        400 => "The request could not be understood.".into(),
        404 => "No resource at this path.".into(),
        413 => "The request body is larger than allowed.".into(),
        422 => "The request was well-formed but could not be processed.".into(),
        _ => status.reason().unwrap_or("Request rejected.").to_owned().into(),
    }
}
