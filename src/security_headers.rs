//! Headers that keep the page to itself: a Content-Security-Policy that
//! allows only this origin's own scripts, styles and requests and no
//! framing (`frame-ancestors`, which supersedes `X-Frame-Options`), no
//! referrer, no MIME sniffing. Sent with every response, so that a page
//! served from anywhere in `static/` is covered; a JSON answer, which is
//! never a document that loads anything, gets the policy that allows
//! nothing, also the shorter one on the hottest path. They replace Rocket's
//! Shield, whose defaults they cover.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Request, Response};

const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const JSON_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

pub struct SecurityHeaders;

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "Security headers",
            kind: Kind::Response | Kind::Singleton,
        }
    }

    async fn on_response<'r>(&self, _: &'r Request<'_>, response: &mut Response<'r>) {
        let policy = match response.content_type() {
            Some(content_type) if content_type.is_json() => JSON_POLICY,
            _ => PAGE_POLICY,
        };
        response.set_header(Header::new("Content-Security-Policy", policy));
        response.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        response.set_header(Header::new("Referrer-Policy", "no-referrer"));
    }
}
