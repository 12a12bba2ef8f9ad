//! Tokens for the tests of `jwt` mode: the HS256 secret every test
//! service verifies with, and tokens of every kind, good and bad.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rocket::figment::Figment;
use rocket::serde::json::{json, Value};

use longrun::auth::mint::mint;
use longrun::config::{AuthConfig, JWT_SECRET_VARIABLE};

/// The secret of the test services, set for the whole test process before
/// any test starts.
pub const SECRET: &str = "longrun-tests-hs256-secret-of-32-bytes-or-more";

/// Sets [`SECRET`] as the process's `LONGRUN_JWT_SECRET`: before any test
/// thread starts.
pub fn install_secret() {
    std::env::set_var(JWT_SECRET_VARIABLE, SECRET);
}

/// The test figment in `jwt` mode.
pub fn jwt(figment: Figment) -> Figment {
    figment.merge(("operations.auth.mode", "jwt"))
}

/// A valid token of `sub`, for an hour.
pub fn token(sub: &str) -> String {
    mint(&AuthConfig::default(), SECRET, sub, false, 3600).unwrap()
}

/// A valid token of `sub` with the admin scope.
pub fn admin_token(sub: &str) -> String {
    mint(&AuthConfig::default(), SECRET, sub, true, 3600).unwrap()
}

/// `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> (String, String) {
    ("Authorization".to_owned(), format!("Bearer {token}"))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims as given, signed with HS256 and `secret`.
pub fn signed_with_secret(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// Claims of `sub` valid for an hour.
pub fn claims(sub: &str) -> Value {
    json!({"sub": sub, "exp": now() + 3600})
}

/// A test key file's path.
pub fn key_file(name: &str) -> String {
    format!("{}/tests/api/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn key_bytes(name: &str) -> Vec<u8> {
    std::fs::read(key_file(name)).unwrap()
}

/// Claims signed with the test RSA key (RS256), naming `kid` if given.
pub fn signed_rs256(claims: &Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_rsa_pem(&key_bytes("rsa_private.pem")).unwrap();
    encode(&header, claims, &key).unwrap()
}

/// Claims signed with the test P-256 key (ES256), naming `kid` if given.
pub fn signed_es256(claims: &Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_ec_pem(&key_bytes("ec_private.pem")).unwrap();
    encode(&header, claims, &key).unwrap()
}

/// An HS256 token whose secret is the RSA public key's PEM: what a
/// verifier that let the token pick the algorithm would accept.
pub fn confused_with_rsa_public_key(claims: &Value) -> String {
    signed_with_secret(claims, &key_bytes("rsa_public.pem"))
}

/// An unsigned token, `alg: none`.
pub fn unsigned(claims: &Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}
