//! Conditional and waiting requests: `If-None-Match`, `Prefer: wait`,
//! `?wait=`, `Last-Event-ID`, and the response a poll gets.

use std::convert::Infallible;
use std::time::Duration;

use rocket::http::{ContentType, Header, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::response::{self, Responder, Response};

use crate::changes::Observed;
use crate::error::ApiError;
use crate::headers;

/// The ETags of `If-None-Match`: the client already has one of these.
#[derive(Debug, Default)]
pub struct IfNoneMatch {
    any: bool,
    etags: Vec<String>,
}

impl IfNoneMatch {
    pub fn is_present(&self) -> bool {
        self.any || !self.etags.is_empty()
    }

    /// Weak comparison, as RFC 9110 asks for `If-None-Match`.
    pub fn matches(&self, etag: &str) -> bool {
        self.any || self.etags.iter().any(|given| given == etag)
    }
}

fn parse_if_none_match(header: &str) -> IfNoneMatch {
    let mut parsed = IfNoneMatch::default();
    for tag in header.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if tag == "*" {
            parsed.any = true;
        } else {
            parsed
                .etags
                .push(tag.strip_prefix("W/").unwrap_or(tag).to_owned());
        }
    }
    parsed
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for IfNoneMatch {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Infallible> {
        let mut parsed = IfNoneMatch::default();
        for header in headers::values(request.headers(), "If-None-Match") {
            let more = parse_if_none_match(&header);
            parsed.any |= more.any;
            parsed.etags.extend(more.etags);
        }
        request::Outcome::Success(parsed)
    }
}

/// The `wait` preference of a `Prefer` header (RFC 7240), as given.
pub struct PreferWait(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for PreferWait {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Infallible> {
        let wait = headers::values(request.headers(), "Prefer").find_map(|header| {
            header.split(',').find_map(|preference| {
                let (name, value) = preference.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("wait")
                    .then(|| value.trim().trim_matches('"').to_owned())
            })
        });
        request::Outcome::Success(PreferWait(wait))
    }
}

/// Every `wait` of the query string, as given. Read by hand: Rocket's own
/// `?<wait>` would quietly take one of several.
pub struct WaitQuery(Vec<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for WaitQuery {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Infallible> {
        let waits = request
            .query_fields()
            .filter(|field| field.name == "wait")
            .map(|field| field.value.to_owned())
            .collect();
        request::Outcome::Success(WaitQuery(waits))
    }
}

/// How long a poll may be held: `?wait=N`, else `Prefer: wait=N`, in
/// seconds (decimals allowed), at most `max`. Several `wait`s are refused.
pub fn requested_wait(query: WaitQuery, prefer: PreferWait, max: Duration) -> Result<Option<Wait>, ApiError> {
    let mut query = query.0;
    if query.len() > 1 {
        return Err(ApiError::InvalidWait);
    }
    let (given, from_prefer) = match (query.pop(), prefer.0) {
        (Some(query), _) => (query, false),
        (None, Some(prefer)) => (prefer, true),
        (None, None) => return Ok(None),
    };
    let seconds: f64 = given.trim().parse().map_err(|_| ApiError::InvalidWait)?;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(ApiError::InvalidWait);
    }
    let duration = Duration::from_secs_f64(seconds.min(max.as_secs_f64()));
    Ok(Some(Wait {
        duration,
        from_prefer,
    }))
}

#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub duration: Duration,
    /// Asked for with `Prefer`, so answered with `Preference-Applied`.
    pub from_prefer: bool,
}

/// The `Last-Event-ID` header of a reconnecting event stream.
pub struct LastEventId(pub Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for LastEventId {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Infallible> {
        let id = request.headers().get_one("Last-Event-ID").map(str::to_owned);
        request::Outcome::Success(LastEventId(id))
    }
}

/// A poll's answer: the operation with its `ETag`, or 304 when the client
/// has it already. `Retry-After` while unfinished, `Cache-Control: no-cache`
/// always: a cache may keep it but must revalidate.
pub struct Polled {
    pub observed: Observed,
    pub not_modified: bool,
    pub retry_after_secs: u64,
    /// The wait applied, for `Preference-Applied`.
    pub preference_applied: Option<Duration>,
}

impl<'r> Responder<'r, 'static> for Polled {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response
            .header(Header::new("ETag", self.observed.etag().to_owned()))
            .header(Header::new("Cache-Control", "no-cache"));
        if !self.observed.is_finished() {
            response.header(Header::new("Retry-After", self.retry_after_secs.to_string()));
        }
        if let Some(wait) = self.preference_applied {
            response.header(Header::new(
                "Preference-Applied",
                format!("wait={}", wait.as_secs_f64()),
            ));
        }
        if self.not_modified {
            response.status(Status::NotModified);
        } else {
            let body = SharedBody(self.observed);
            let length = body.as_ref().len();
            response
                .status(Status::Ok)
                .header(ContentType::JSON)
                // One chunk of the body's own size: Rocket would otherwise
                // allocate and fill a 4 KiB buffer for every answer.
                .max_chunk_size(length.max(1))
                .sized_body(length, std::io::Cursor::new(body));
        }
        response.ok()
    }
}

/// The body of an operation held in memory, written without a copy.
struct SharedBody(Observed);

impl AsRef<[u8]> for SharedBody {
    fn as_ref(&self) -> &[u8] {
        self.0.body().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags_are_read() {
        let parsed = parse_if_none_match(r#""a", W/"b" ,"c""#);
        assert!(parsed.matches(r#""a""#) && parsed.matches(r#""b""#) && parsed.matches(r#""c""#));
        assert!(!parsed.matches(r#""d""#));
        assert!(parse_if_none_match("*").matches(r#""anything""#));
        assert!(!parse_if_none_match("").is_present());
    }

    #[test]
    fn a_wait_is_clamped_and_a_bad_one_refused() {
        let max = Duration::from_secs(30);
        let wait = |q: &str| requested_wait(WaitQuery(vec![q.to_owned()]), PreferWait(None), max);
        assert_eq!(
            wait("5").ok().flatten().map(|w| w.duration),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            wait("0.25").ok().flatten().map(|w| w.duration),
            Some(Duration::from_millis(250))
        );
        assert_eq!(wait("3600").ok().flatten().map(|w| w.duration), Some(max));
        for bad in ["-1", "soon", "", "NaN", "inf"] {
            assert!(wait(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn several_waits_are_refused() {
        let query = WaitQuery(vec!["1".to_owned(), "2".to_owned()]);
        assert!(requested_wait(query, PreferWait(None), Duration::from_secs(30)).is_err());
    }

    #[test]
    fn the_query_wins_over_prefer() {
        let max = Duration::from_secs(30);
        let wait = requested_wait(
            WaitQuery(vec!["1".to_owned()]),
            PreferWait(Some("9".to_owned())),
            max,
        )
        .ok()
        .flatten();
        assert_eq!(
            wait.map(|w| (w.duration.as_secs(), w.from_prefer)),
            Some((1, false))
        );
        let wait = requested_wait(WaitQuery(vec![]), PreferWait(Some("9".to_owned())), max)
            .ok()
            .flatten();
        assert_eq!(
            wait.map(|w| (w.duration.as_secs(), w.from_prefer)),
            Some((9, true))
        );
    }
}
