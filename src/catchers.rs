//! Catchers render what Rocket rejects before a handler runs in the same
//! shape as [`ApiError`].

use std::borrow::Cow;

use rocket::http::{Method, Status};
use rocket::{Catcher, Request};

use crate::error::ApiError;
use crate::rate_limit::RetryAfter;

/// Catchers for every path.
pub fn all() -> Vec<Catcher> {
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
fn default(status: Status, request: &Request<'_>) -> ApiError {
    // A 404 for a path some route has is a method that route lacks. A 400
    // with no route for such a path is a method Rocket does not know
    // (`QUERY`, say): Rocket salvages the request as a GET with its path,
    // and a path it could not read would have become `/`.
    let unknown_method = status == Status::BadRequest && request.route().is_none();
    if status == Status::NotFound || unknown_method {
        let allowed = allowed_methods(request);
        if !allowed.is_empty() && (unknown_method || !allowed.contains(&request.method())) {
            let allow = allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
            return ApiError::MethodNotAllowed { allow };
        }
    }
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

/// The methods of the routes whose path matches the request's: when there
/// are some, a 404 was really a 405. The file server's catch-all is left
/// out, or every path would seem to allow GET.
fn allowed_methods(request: &Request<'_>) -> Vec<Method> {
    let path = request.uri().path();
    let mut methods: Vec<Method> = request
        .rocket()
        .routes()
        .filter(|route| template_matches(route.uri.path(), path.as_str()))
        .map(|route| route.method)
        .collect();
    if methods.contains(&Method::Get) {
        methods.push(Method::Head);
    }
    methods.sort_by_key(|m| m.as_str());
    methods.dedup();
    methods
}

/// Whether a route's path template (`/a/<b>/c`) matches a path, segment by
/// segment; templates with a trailing `<rest..>` never do.
fn template_matches(template: &str, path: &str) -> bool {
    if template.contains("..>") {
        return false;
    }
    let mut templates = template.split('/').filter(|s| !s.is_empty());
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    loop {
        match (templates.next(), segments.next()) {
            (None, None) => return true,
            (Some(t), Some(s)) if t.starts_with('<') || t == s => continue,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::template_matches;

    #[test]
    fn templates_match_paths_segment_by_segment() {
        assert!(template_matches(
            "/api/v1/operations/<id>",
            "/api/v1/operations/abc"
        ));
        assert!(template_matches("/api/v1/operations", "/api/v1/operations/"));
        assert!(!template_matches(
            "/api/v1/operations/<id>",
            "/api/v1/operations/abc/cancel"
        ));
        assert!(!template_matches(
            "/api/v1/operations/<id>/cancel",
            "/api/v1/operations/abc/events"
        ));
        assert!(!template_matches("/<path..>", "/anything"));
    }
}
