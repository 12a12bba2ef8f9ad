//! Seeing into the service: a request id on every request, one log line
//! per request and per operation step, and Prometheus metrics.

mod event_log;
mod metrics;

use std::borrow::Cow;
use std::time::Instant;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::Header;
use rocket::serde::json::Value;
use rocket::{Build, Data, Request, Response, Rocket};

use crate::config::OperationsConfig;
use crate::headers;

pub use event_log::{EventLog, LogFormat};
pub use metrics::{Held, Metrics};

/// The header a request id comes in and goes back out in.
pub const REQUEST_ID: &str = "X-Request-Id";

/// What the fairing keeps of a request while it is served.
struct Started {
    at: Instant,
    request_id: String,
}

/// Manages [`Metrics`] and the [`EventLog`]; gives every request an id
/// (the client's `X-Request-Id` when it is a sane one), echoes it, logs the
/// request, and counts it by route template and status.
pub struct Telemetry;

#[rocket::async_trait]
impl Fairing for Telemetry {
    fn info(&self) -> Info {
        Info {
            name: "Telemetry",
            kind: Kind::Ignite | Kind::Request | Kind::Response,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let Some(format) = rocket.state::<OperationsConfig>().map(|c| c.log_format) else {
            return Err(rocket);
        };
        match Metrics::new() {
            Ok(metrics) => Ok(rocket.manage(metrics).manage(EventLog::new(format))),
            Err(e) => {
                rocket::error!("cannot register metrics: {e}");
                Err(rocket)
            }
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let request_id = headers::first(request.headers(), REQUEST_ID)
            .filter(|id| is_sane_request_id(id))
            .map(Cow::into_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        request.local_cache(|| Started {
            at: Instant::now(),
            request_id,
        });
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let started = request.local_cache(|| Started {
            at: Instant::now(),
            request_id: uuid::Uuid::new_v4().simple().to_string(),
        });
        response.set_header(Header::new(REQUEST_ID, started.request_id.as_str()));
        let elapsed = started.at.elapsed();
        let route = request.route().map_or("unmatched", |r| r.uri.path());
        let method = request.method().as_str();
        let status = response.status().code;
        if let Some(metrics) = request.rocket().state::<Metrics>() {
            metrics.observe_request(method, route, status, elapsed);
        }
        if let Some(log) = request.rocket().state::<EventLog>().filter(|log| log.is_on()) {
            log.emit(
                "request",
                &[
                    ("request_id", Value::from(started.request_id.as_str())),
                    ("method", Value::from(method)),
                    ("route", Value::from(route)),
                    ("status", Value::from(status)),
                    (
                        "latency_ms",
                        Value::from((elapsed.as_secs_f64() * 1e6).round() / 1e3),
                    ),
                ],
            );
        }
    }
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
