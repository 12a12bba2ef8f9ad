//! Headers that keep the page to itself: a Content-Security-Policy that
//! allows only this origin's own scripts, styles and requests and no
//! framing (`frame-ancestors`, which supersedes `X-Frame-Options`), no
//! referrer, no MIME sniffing. Sent with every response, so that a page
//! served from anywhere in `static/` is covered. A JSON answer is never a
//! document that loads anything: it gets the policy that allows nothing,
//! also the shorter one on the hottest path, and no referrer policy. A page
//! that needs more (the API docs) has its own policy for its path only.
//! They replace Rocket's Shield, whose defaults they cover.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Request, Response};

use crate::headers;

const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const JSON_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Sends the headers with every response. No tasks.
#[derive(Default)]
pub struct SecurityHeaders {
    /// Paths (by prefix) whose pages have a policy of their own.
    own_policies: Vec<(&'static str, &'static str)>,
}

impl SecurityHeaders {
    /// Pages under `path` get `policy` instead of the page policy.
    pub fn with_policy_for(mut self, path: &'static str, policy: &'static str) -> Self {
        self.own_policies.push((path, policy));
        self
    }

    fn page_policy(&self, path: &str) -> &'static str {
        self.own_policies
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map_or(PAGE_POLICY, |(_, policy)| policy)
    }
}

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "Security headers",
            kind: Kind::Response | Kind::Singleton,
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        // Compared as text: parsing the media type would cost more than
        // the rest of this fairing on the hottest path.
        let json = headers::first(response.headers(), "Content-Type").is_some_and(|t| is_json(&t));
        let policy = match json {
            true => JSON_POLICY,
            false => self.page_policy(request.uri().path().as_str()),
        };
        response.set_header(Header::new("Content-Security-Policy", policy));
        response.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        // A JSON answer is no document: it makes no requests to send a referrer with.
        if !json {
            response.set_header(Header::new("Referrer-Policy", "no-referrer"));
        }
    }
}

/// `application/json`, with or without parameters, in any case.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_is_told_by_its_media_type_alone() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/html; charset=utf-8"));
        assert!(!is_json("application/jsonx"));
    }
}
