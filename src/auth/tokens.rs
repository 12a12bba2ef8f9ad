//! Verifying bearer tokens, each once: a token that verified is
//! remembered, with who it names, until it expires, so that a client
//! polling with the same token pays for a lookup, not a signature check.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use hashlink::LruCache;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, get_current_timestamp, Validation};
use rocket::serde::Deserialize;

use super::keys::Keys;
use super::{AuthFailure, Caller};
use crate::config::AuthConfig;

/// Tokens remembered at once; the least recently used are forgotten first.
const REMEMBERED: usize = 10_000;

/// A token longer than this is refused unread.
const LONGEST_TOKEN: usize = 8 * 1024;

/// The claims the service reads. `exp` and `sub` are required by the
/// validation, which names the one missing.
#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
}

/// A verified token: who it names, and until when (Unix seconds) that holds.
struct Verified {
    caller: Caller,
    valid_until: u64,
}

/// Checks tokens against the configured keys and claims.
pub struct Verifier {
    keys: Keys,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_secs: u64,
    admin_scope: String,
    verified: Mutex<LruCache<Arc<str>, Verified>>,
}

impl Verifier {
    /// The verifier `config` describes, with the HS256 secret (if any) as
    /// read from the environment; or why it cannot verify anything.
    pub fn new(config: &AuthConfig, secret: Option<String>) -> Result<Self, String> {
        Ok(Verifier {
            keys: Keys::load(config, secret)?,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway_secs: config.leeway_secs,
            admin_scope: config.admin_scope.clone(),
            verified: Mutex::new(LruCache::new(REMEMBERED)),
        })
    }

    /// Who `token` names, or why it names no one.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthFailure> {
        let now = get_current_timestamp();
        if let Some(caller) = self.remembered(token, now) {
            return Ok(caller);
        }
        let (caller, valid_until) = self.check(token)?;
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        verified.insert(
            Arc::from(token),
            Verified {
                caller: caller.clone(),
                valid_until,
            },
        );
        Ok(caller)
    }

    fn remembered(&self, token: &str, now: u64) -> Option<Caller> {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        let found = verified.get(token)?;
        if now <= found.valid_until {
            return Some(found.caller.clone());
        }
        verified.remove(token);
        None
    }

    /// The signature, then the claims.
    fn check(&self, token: &str) -> Result<(Caller, u64), AuthFailure> {
        if token.len() > LONGEST_TOKEN {
            return Err(AuthFailure::Malformed);
        }
        let header = decode_header(token).map_err(|_| AuthFailure::Malformed)?;
        let (key, algorithm) = self.keys.for_header(&header)?;
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway_secs;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".to_owned());
            }
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".to_owned());
        }
        let claims = decode::<Claims>(token, key, &validation)
            .map_err(|e| failure_of(e.kind()))?
            .claims;
        let (Some(sub), Some(exp)) = (claims.sub.filter(|sub| !sub.is_empty()), claims.exp) else {
            return Err(AuthFailure::MissingClaim("sub"));
        };
        let owner: Arc<str> = Arc::from(sub);
        let scopes: HashSet<&str> = claims.scope.as_deref().unwrap_or("").split(' ').collect();
        let caller = match scopes.contains(self.admin_scope.as_str()) {
            true => Caller::Admin(owner),
            false => Caller::Owner(owner),
        };
        Ok((caller, exp.saturating_add(self.leeway_secs)))
    }
}

fn failure_of(kind: &ErrorKind) -> AuthFailure {
    match kind {
        ErrorKind::ExpiredSignature => AuthFailure::Expired,
        ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
        ErrorKind::InvalidSignature => AuthFailure::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::MissingAlgorithm => {
            AuthFailure::WrongAlgorithm
        }
        ErrorKind::InvalidIssuer => AuthFailure::WrongIssuer,
        ErrorKind::InvalidAudience => AuthFailure::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => AuthFailure::MissingClaim("exp"),
            "iss" => AuthFailure::WrongIssuer,
            "aud" => AuthFailure::WrongAudience,
            _ => AuthFailure::MissingClaim("sub"),
        },
        _ => AuthFailure::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::mint::mint;

    const SECRET: &str = "a secret of thirty-two bytes or more";

    fn verifier() -> Verifier {
        Verifier::new(&AuthConfig::default(), Some(SECRET.to_owned())).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires() {
        let verifier = verifier();
        let token = mint(&AuthConfig::default(), SECRET, "alice", false, 60).unwrap_or_default();
        let now = get_current_timestamp();
        assert_eq!(verifier.remembered(&token, now), None);

        assert_eq!(verifier.verify(&token), Ok(Caller::Owner(Arc::from("alice"))));

        assert_eq!(
            verifier.remembered(&token, now),
            Some(Caller::Owner(Arc::from("alice")))
        );
        let past_leeway = now + 60 + AuthConfig::default().leeway_secs + 1;
        assert_eq!(
            verifier.remembered(&token, past_leeway),
            None,
            "forgotten once expired"
        );
    }

    #[test]
    fn the_admin_scope_makes_an_admin_and_a_failure_is_not_remembered() {
        let verifier = verifier();
        let admin = mint(&AuthConfig::default(), SECRET, "root", true, 60).unwrap_or_default();
        assert_eq!(verifier.verify(&admin), Ok(Caller::Admin(Arc::from("root"))));

        let forged = mint(&AuthConfig::default(), "another secret", "root", true, 60).unwrap_or_default();
        assert_eq!(verifier.verify(&forged), Err(AuthFailure::BadSignature));
        assert_eq!(verifier.remembered(&forged, get_current_timestamp()), None);
        assert_eq!(
            verifier.verify(&"x".repeat(LONGEST_TOKEN + 1)),
            Err(AuthFailure::Malformed)
        );
    }
}
