//! The keys tokens are verified with, as the configuration names them:
//! an HS256 secret from the environment, a PEM public key, or a JSON Web
//! Key Set. A token is checked only with a key of its own algorithm's
//! family and only with the algorithm that key is for, so a token signed
//! with HMAC over an RSA key's public bytes (algorithm confusion) or with
//! `alg: none` is refused.

use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Header};

use super::AuthFailure;
use crate::config::{AuthConfig, JWT_SECRET_VARIABLE};

/// A secret shorter than this is accepted with a warning: HS256 wants at
/// least as many bytes as its hash.
const SHORTEST_SAFE_SECRET: usize = 32;

/// One key and the one algorithm it verifies.
struct Key {
    id: Option<String>,
    key: DecodingKey,
    algorithm: Algorithm,
}

/// Every key tokens may be signed with.
pub(super) struct Keys(Vec<Key>);

impl Keys {
    /// The keys `config` names, with the secret from the environment when
    /// it names no file; or why there are none, in words.
    pub fn load(config: &AuthConfig, secret: Option<String>) -> Result<Keys, String> {
        if let Some(path) = &config.public_key_file {
            return pem_key(path).map(|key| Keys(vec![key]));
        }
        if let Some(path) = &config.jwks_file {
            return key_set(path).map(Keys);
        }
        match secret.filter(|secret| !secret.is_empty()) {
            Some(secret) => {
                if secret.len() < SHORTEST_SAFE_SECRET {
                    tracing::warn!(
                        bytes = secret.len(),
                        "auth.short_secret: {JWT_SECRET_VARIABLE} should hold at least {SHORTEST_SAFE_SECRET} bytes"
                    );
                }
                Ok(Keys(vec![Key {
                    id: None,
                    key: DecodingKey::from_secret(secret.as_bytes()),
                    algorithm: Algorithm::HS256,
                }]))
            }
            None => Err(format!(
                "mode = \"jwt\" needs the HS256 secret in the environment variable {JWT_SECRET_VARIABLE}, \
                 or public_key_file, or jwks_file"
            )),
        }
    }

    /// The key for this token's header: by `kid` when the token names one
    /// (or the only key), and only if the token's `alg` is that key's.
    pub fn for_header(&self, header: &Header) -> Result<(&DecodingKey, Algorithm), AuthFailure> {
        let key = match (&header.kid, self.0.as_slice()) {
            (_, [only]) if only.id.is_none() => only,
            (Some(kid), keys) => keys
                .iter()
                .find(|key| key.id.as_deref() == Some(kid))
                .ok_or(AuthFailure::UnknownKey)?,
            (None, [only]) => only,
            (None, _) => return Err(AuthFailure::UnknownKey),
        };
        match header.alg == key.algorithm {
            true => Ok((&key.key, key.algorithm)),
            false => Err(AuthFailure::WrongAlgorithm),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// An RSA key verifies RS256, a P-256 key ES256.
fn pem_key(path: &Path) -> Result<Key, String> {
    let pem = read(path)?;
    let (key, algorithm) = match DecodingKey::from_rsa_pem(&pem) {
        Ok(key) => (key, Algorithm::RS256),
        Err(_) => match DecodingKey::from_ec_pem(&pem) {
            Ok(key) => (key, Algorithm::ES256),
            Err(_) => return Err(format!("{} holds no RSA or EC public key in PEM", path.display())),
        },
    };
    Ok(Key {
        id: None,
        key,
        algorithm,
    })
}

/// The set's public keys; a symmetric (`oct`) key is refused, as a key
/// anyone who reads the set could sign with.
fn key_set(path: &Path) -> Result<Vec<Key>, String> {
    let text = read(path)?;
    let set: JwkSet = rocket::serde::json::serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not a JSON Web Key Set: {e}", path.display()))?;
    let keys = set
        .keys
        .iter()
        .map(|jwk| {
            let id = jwk.common.key_id.clone();
            let named = || id.clone().unwrap_or_else(|| "(no kid)".to_owned());
            let algorithm = algorithm_of(jwk.common.key_algorithm, &jwk.algorithm).ok_or_else(|| {
                format!(
                    "key {} of {}: not an RSA, EC or Ed25519 signing key",
                    named(),
                    path.display()
                )
            })?;
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| format!("key {} of {}: {e}", named(), path.display()))?;
            Ok(Key { id, key, algorithm })
        })
        .collect::<Result<Vec<_>, String>>()?;
    match keys.is_empty() {
        true => Err(format!("{} holds no keys", path.display())),
        false => Ok(keys),
    }
}

fn algorithm_of(named: Option<KeyAlgorithm>, parameters: &AlgorithmParameters) -> Option<Algorithm> {
    let algorithm = match (named, parameters) {
        (_, AlgorithmParameters::OctetKey(_)) => return None,
        (Some(named), _) => named.to_string().parse().ok()?,
        (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
        (None, AlgorithmParameters::EllipticCurve(ec)) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
    };
    match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => None,
        asymmetric => Some(asymmetric),
    }
}
