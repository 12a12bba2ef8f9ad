//! Seeing into the service: a request id on every request, log lines
//! through `tracing` (one per request, in a span that carries the request
//! id, and one per operation step), and Prometheus metrics.

mod logs;
mod metrics;
mod open_files;

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Instant;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::Header;
use rocket::request::{self, FromRequest};
use rocket::{Build, Data, Orbit, Request, Response, Rocket};

use crate::headers;
use crate::report::Chain;
use crate::startup::{self, StartError};

pub use logs::install as install_logs;
pub use metrics::{Held, Metrics};

/// The header a request id comes in and goes back out in.
pub const REQUEST_ID: &str = "X-Request-Id";

/// What the fairing keeps of a request while it is served.
struct Started {
    at: Instant,
    request_id: String,
}

impl Started {
    fn now(request_id: String) -> Self {
        Started {
            at: Instant::now(),
            request_id,
        }
    }
}

/// Manages [`Metrics`]; gives every request an id (the client's
/// `X-Request-Id` when it is a sane one), echoes it, logs the request, and
/// counts it by route template and status. No tasks.
#[derive(Default)]
pub struct Telemetry {
    /// Made at ignite.
    metrics: OnceLock<Metrics>,
}

#[rocket::async_trait]
impl Fairing for Telemetry {
    fn info(&self) -> Info {
        Info {
            name: "Telemetry",
            kind: Kind::Ignite | Kind::Liftoff | Kind::Request | Kind::Response,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let metrics = match Metrics::new() {
            Ok(metrics) => self.metrics.get_or_init(|| metrics).clone(),
            Err(e) => {
                return Err(startup::failed(
                    rocket,
                    StartError::failed("telemetry", Chain(&e)),
                ))
            }
        };
        Ok(rocket.manage(metrics))
    }

    async fn on_liftoff(&self, _: &Rocket<Orbit>) {
        open_files::log_limits();
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let request_id = headers::first(request.headers(), REQUEST_ID)
            .filter(|id| is_sane_request_id(id))
            .map(Cow::into_owned)
            .unwrap_or_else(new_request_id);
        request.local_cache(|| Started::now(request_id));
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let started = request.local_cache(|| Started::now(new_request_id()));
        response.set_header(Header::new(REQUEST_ID, started.request_id.as_str()));
        let elapsed = started.at.elapsed();
        let route = request.route().map_or("unmatched", |r| r.uri.path());
        let method = request.method().as_str();
        let status = response.status().code;
        if let Some(metrics) = self.metrics.get() {
            metrics.observe_request(method, route, status, elapsed);
        }
        request_span(&started.request_id).in_scope(|| {
            let latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
            tracing::info!(method, route, status, latency_ms, "request");
        });
    }
}

/// The span of the request being served: log lines emitted in it carry
/// its id. A request guard, for handlers that log.
pub struct RequestSpan(pub tracing::Span);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RequestSpan {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Infallible> {
        let started = request.local_cache(|| Started::now(new_request_id()));
        request::Outcome::Success(RequestSpan(request_span(&started.request_id)))
    }
}

fn request_span(request_id: &str) -> tracing::Span {
    tracing::info_span!("request", request_id)
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// 1 to 128 letters, digits, `-`, `_`, `.` or `:`: anything else would
/// let a client write arbitrary text into the logs.
fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::is_sane_request_id;

    #[test]
    fn request_ids_that_could_forge_log_lines_are_replaced() {
        assert!(is_sane_request_id("req-42_a.b:c"));
        for bad in ["", "a b", "x\ny", "\"quoted\"", &"x".repeat(129)] {
            assert!(!is_sane_request_id(bad), "{bad:?}");
        }
    }
}
