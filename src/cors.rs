//! CORS for frontends on other origins, listed in
//! `operations.cors_allowed_origins` (none by default; `"*"` for any).
//! Preflights are answered here: Rocket has no OPTIONS routes, so their
//! 404 becomes a 204 with the allowed methods and headers.

use std::borrow::Cow;
use std::io::Cursor;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{Header, Method, Status};
use rocket::{Request, Response};

use crate::config::OperationsConfig;
use crate::headers;

const EXPOSED_HEADERS: &str =
    "Location, ETag, Retry-After, X-Request-Id, Preference-Applied, WWW-Authenticate";
const ALLOWED_METHODS: &str = "GET, POST, OPTIONS";
const ALLOWED_HEADERS: &str =
    "Authorization, Content-Type, If-None-Match, Idempotency-Key, Prefer, Last-Event-ID, X-Request-Id";
/// How long a browser may cache a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Answers preflights and marks the answers to allowed origins. No tasks.
pub struct Cors {
    allowed_origins: Vec<String>,
    any_origin: bool,
}

impl Cors {
    pub fn new(config: &OperationsConfig) -> Self {
        let allowed_origins = config.cors_allowed_origins.clone();
        Cors {
            any_origin: allowed_origins.iter().any(|o| o == "*"),
            allowed_origins,
        }
    }
}

#[rocket::async_trait]
impl Fairing for Cors {
    fn info(&self) -> Info {
        Info {
            name: "CORS",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let Some(origin) = headers::first(request.headers(), "Origin") else {
            return;
        };
        let any = self.any_origin;
        if !any && !self.allowed_origins.iter().any(|o| *o == origin) {
            return;
        }
        response.set_header(Header::new(
            "Access-Control-Allow-Origin",
            if any { Cow::Borrowed("*") } else { origin },
        ));
        response.adjoin_header(Header::new("Vary", "Origin"));
        let preflight = request.method() == Method::Options
            && request.headers().contains("Access-Control-Request-Method");
        if preflight {
            response.set_status(Status::NoContent);
            response.remove_header("Content-Type");
            response.set_sized_body(0, Cursor::new(""));
            response.set_header(Header::new("Access-Control-Allow-Methods", ALLOWED_METHODS));
            response.set_header(Header::new("Access-Control-Allow-Headers", ALLOWED_HEADERS));
            response.set_header(Header::new("Access-Control-Max-Age", PREFLIGHT_MAX_AGE));
        } else {
            response.set_header(Header::new("Access-Control-Expose-Headers", EXPOSED_HEADERS));
        }
    }
}
