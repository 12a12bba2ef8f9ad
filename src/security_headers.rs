//! Headers that keep the page to itself: a Content-Security-Policy that
//! allows only this origin's own scripts, styles and requests and no
//! framing (`frame-ancestors`, which supersedes `X-Frame-Options`), no
//! referrer, no MIME sniffing. Sent with every response: harmless on JSON,
//! and a page served from anywhere in `static/` is covered. They replace
//! Rocket's Shield, whose defaults they cover.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Request, Response};

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

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
        response.set_header(Header::new("Content-Security-Policy", CONTENT_SECURITY_POLICY));
        response.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        response.set_header(Header::new("Referrer-Policy", "no-referrer"));
    }
}
