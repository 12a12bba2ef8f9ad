//! Who is asking. In `none` mode anyone holding an operation's id may see
//! it; in `jwt` mode every API request carries a bearer token, the token's
//! `sub` owns what it creates, and only the owner (or an admin) sees it.
//!
//! The event stream also takes the token as the `access_token` query
//! parameter, since a browser's `EventSource` cannot send headers. The
//! parameter is taken out of the request's URI as the request arrives,
//! before anything logs or routes it.

mod keys;
pub mod mint;
mod tokens;

use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{RawStr, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::{Build, Data, Rocket};

use crate::config::{AuthConfig, AuthMode, JWT_SECRET_VARIABLE};
use crate::startup::{self, StartError};
pub use tokens::Verifier;

/// The query parameter that may carry the token of an event stream.
pub const ACCESS_TOKEN_PARAMETER: &str = "access_token";

/// The route that takes the token from [`ACCESS_TOKEN_PARAMETER`].
const STREAM_ROUTE: &str = "operation_events";

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `none` mode: whoever holds an id sees the operation.
    Anyone,
    /// A token's `sub`: sees what it owns.
    Owner(Arc<str>),
    /// A token with the admin scope: sees everything.
    Admin(Arc<str>),
}

impl Caller {
    /// Who owns what this caller creates.
    pub fn owner(&self) -> Option<&str> {
        match self {
            Caller::Anyone => None,
            Caller::Owner(sub) | Caller::Admin(sub) => Some(sub),
        }
    }

    /// Whether this caller may see an operation owned by `owner`.
    pub fn may_see(&self, owner: Option<&str>) -> bool {
        match self {
            Caller::Anyone | Caller::Admin(_) => true,
            Caller::Owner(sub) => owner == Some(&**sub),
        }
    }

    /// Whether this caller sees every operation.
    pub fn sees_all(&self) -> bool {
        matches!(self, Caller::Anyone | Caller::Admin(_))
    }
}

/// Why a request names no one. Said to the client in words that give away
/// nothing of the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    Expired,
    NotYetValid,
    BadSignature,
    WrongAlgorithm,
    UnknownKey,
    WrongIssuer,
    WrongAudience,
    MissingClaim(&'static str),
}

impl AuthFailure {
    pub fn describe(self) -> String {
        match self {
            Self::Missing => "A bearer token is required: send Authorization: Bearer <token>.".to_owned(),
            Self::Malformed => "The bearer token is not a well-formed JWT.".to_owned(),
            Self::Expired => "The bearer token has expired.".to_owned(),
            Self::NotYetValid => "The bearer token is not valid yet (nbf).".to_owned(),
            Self::BadSignature => "The bearer token's signature does not verify.".to_owned(),
            Self::WrongAlgorithm => {
                "The bearer token is signed with an algorithm this service does not accept.".to_owned()
            }
            Self::UnknownKey => "The bearer token names a key (kid) this service does not have.".to_owned(),
            Self::WrongIssuer => "The bearer token is not from the expected issuer.".to_owned(),
            Self::WrongAudience => "The bearer token is not for this audience.".to_owned(),
            Self::MissingClaim(claim) => format!("The bearer token lacks the {claim} claim."),
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750, section 3): no error
    /// code when no token was sent, `invalid_token` otherwise.
    pub fn challenge(self) -> String {
        match self {
            Self::Missing => "Bearer realm=\"longrun\"".to_owned(),
            other => format!(
                "Bearer realm=\"longrun\", error=\"invalid_token\", error_description=\"{}\"",
                other.describe().replace('"', "'")
            ),
        }
    }
}

/// How this process tells who asks.
pub enum Authenticator {
    Open,
    Tokens(Verifier),
}

/// A token lifted out of the URI's query (see the module's doc).
struct QueryToken(Option<String>);

impl Authenticator {
    /// Who made `request`: anyone in none mode; in jwt mode, the token's
    /// owner, worked out once per request.
    fn caller(&self, request: &Request<'_>) -> Result<Caller, AuthFailure> {
        match self {
            Authenticator::Open => Ok(Caller::Anyone),
            Authenticator::Tokens(verifier) => request
                .local_cache(|| VerifiedCaller(verify(verifier, request)))
                .0
                .clone(),
        }
    }
}

/// The caller of a request in jwt mode, as worked out for its first guard.
struct VerifiedCaller(Result<Caller, AuthFailure>);

fn verify(verifier: &Verifier, request: &Request<'_>) -> Result<Caller, AuthFailure> {
    if let Some(token) = bearer_token(request) {
        return verifier.verify(token);
    }
    let streams = request.route().and_then(|route| route.name.as_deref()) == Some(STREAM_ROUTE);
    match &request.local_cache(|| QueryToken(None)).0 {
        Some(token) if streams => verifier.verify(token),
        _ => Err(AuthFailure::Missing),
    }
}

/// The token of `Authorization: Bearer <token>`; the scheme in any case.
pub(crate) fn bearer_token<'r>(request: &'r Request<'_>) -> Option<&'r str> {
    let value = request.headers().get_one("Authorization")?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Who made `request`.
pub fn caller_of(request: &Request<'_>) -> Result<Caller, AuthFailure> {
    match request.rocket().state::<Authenticator>() {
        Some(authenticator) => authenticator.caller(request),
        // Without the part nobody is let in, rather than everybody.
        None => Err(AuthFailure::Missing),
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Caller {
    type Error = AuthFailure;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, AuthFailure> {
        match caller_of(request) {
            Ok(caller) => request::Outcome::Success(caller),
            Err(failure) => request::Outcome::Error((Status::Unauthorized, failure)),
        }
    }
}

const PART: &str = "authentication";

/// Manages the [`Authenticator`] the configuration asks for; in `jwt`
/// mode, lifts an `access_token` out of each request's query. No tasks.
pub struct Authentication {
    config: AuthConfig,
}

impl Authentication {
    pub fn new(config: &AuthConfig) -> Self {
        Authentication {
            config: config.clone(),
        }
    }

    fn authenticator(&self) -> Result<Authenticator, StartError> {
        match self.config.mode {
            AuthMode::None => Ok(Authenticator::Open),
            AuthMode::Jwt => {
                let secret = std::env::var(JWT_SECRET_VARIABLE).ok();
                Verifier::new(&self.config, secret)
                    .map(Authenticator::Tokens)
                    .map_err(|reason| StartError::failed(PART, reason))
            }
        }
    }
}

#[rocket::async_trait]
impl Fairing for Authentication {
    fn info(&self) -> Info {
        // Only jwt mode looks at requests: none mode adds nothing to them.
        let kind = match self.config.mode {
            AuthMode::None => Kind::Ignite,
            AuthMode::Jwt => Kind::Ignite | Kind::Request,
        };
        Info {
            name: "Authentication",
            kind,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        match self.authenticator() {
            Ok(authenticator) => Ok(rocket.manage(authenticator)),
            Err(e) => Err(startup::failed(rocket, e)),
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let Some(query) = request.uri().query() else {
            return;
        };
        let mut token = None;
        let mut kept = Vec::new();
        for segment in query.as_str().split('&') {
            match segment.split_once('=') {
                Some((ACCESS_TOKEN_PARAMETER, value)) => {
                    token = Some(RawStr::new(value).url_decode_lossy().into_owned())
                }
                _ => kept.push(segment),
            }
        }
        if token.is_none() {
            return;
        }
        let path = request.uri().path().as_str().to_owned();
        let uri = match kept.is_empty() {
            true => path,
            false => format!("{path}?{}", kept.join("&")),
        };
        if let Ok(origin) = Origin::parse_owned(uri) {
            request.set_uri(origin);
        }
        request.local_cache(|| QueryToken(token));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_see_their_own_admins_and_anyone_see_all() {
        let alice = Caller::Owner(Arc::from("alice"));
        assert!(alice.may_see(Some("alice")));
        assert!(!alice.may_see(Some("bob")));
        assert!(!alice.may_see(None), "an operation of no one is not an owner's");
        let admin = Caller::Admin(Arc::from("root"));
        assert!(admin.may_see(Some("bob")) && admin.may_see(None));
        assert!(Caller::Anyone.may_see(Some("bob")));
        assert_eq!(admin.owner(), Some("root"));
        assert_eq!(Caller::Anyone.owner(), None);
    }

    #[test]
    fn the_challenge_names_an_invalid_token_only_when_one_was_sent() {
        assert_eq!(AuthFailure::Missing.challenge(), "Bearer realm=\"longrun\"");
        let expired = AuthFailure::Expired.challenge();
        assert!(expired.starts_with("Bearer realm=\"longrun\", error=\"invalid_token\""));
        let description = expired.split("error_description=\"").nth(1).unwrap_or_default();
        assert_eq!(description.matches('"').count(), 1, "quoted once: {expired}");
    }
}
