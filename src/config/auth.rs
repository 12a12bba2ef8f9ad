//! `operations.auth`: who may see which operations.

use std::path::PathBuf;

use rocket::serde::Deserialize;

use super::InvalidSetting;

/// The environment variable that holds the HS256 secret: never a file of
/// the repository, never logged.
pub const JWT_SECRET_VARIABLE: &str = "LONGRUN_JWT_SECRET";

/// `operations.auth`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "rocket::serde", default, deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// RS256 or ES256: the issuer's public key (PEM); the algorithm is the
    /// key's.
    pub public_key_file: Option<PathBuf>,
    /// RS256 or ES256: the issuer's keys as a JSON Web Key Set, picked by
    /// the token's `kid`.
    pub jwks_file: Option<PathBuf>,
    /// When set, tokens must carry this `iss`.
    pub issuer: Option<String>,
    /// When set, tokens must carry this `aud`.
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// A token whose `scope` holds this is an admin: it sees every
    /// operation.
    pub admin_scope: String,
    /// Whether `GET /api/v1/operations` lists every operation in `none`
    /// mode (it breaks the model of unguessable ids, so it is off).
    pub list_in_none_mode: bool,
    /// Operations one owner may have pending or processing at once.
    pub max_unfinished_per_owner: u64,
}

/// `operations.auth.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(crate = "rocket::serde", rename_all = "lowercase")]
pub enum AuthMode {
    /// Operations are public to whoever holds the id.
    None,
    /// Bearer JWTs; operations belong to the token's `sub`.
    Jwt,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            public_key_file: None,
            jwks_file: None,
            issuer: None,
            audience: None,
            leeway_secs: 30,
            admin_scope: "operations:admin".to_owned(),
            list_in_none_mode: false,
            max_unfinished_per_owner: 100,
        }
    }
}

impl AuthConfig {
    pub const KEY: &'static str = "operations.auth";

    /// That jwt mode has a key to verify with: a readable file, or the
    /// secret. Whether the file holds a key is the authentication part's
    /// to say.
    fn check_keys(&self) -> Result<(), InvalidSetting> {
        let file = [
            ("public_key_file", &self.public_key_file),
            ("jwks_file", &self.jwks_file),
        ]
        .into_iter()
        .find_map(|(name, path)| Some((name, path.as_ref()?)));
        match file {
            Some((name, path)) => match std::fs::metadata(path) {
                Ok(metadata) if metadata.is_file() => Ok(()),
                _ => Err(InvalidSetting::new(
                    format!("{}.{name}", Self::KEY),
                    format!("{:?}", path.display().to_string()),
                    "a readable file",
                )),
            },
            None if std::env::var_os(JWT_SECRET_VARIABLE).is_some_and(|s| !s.is_empty()) => Ok(()),
            None => Err(InvalidSetting::new(
                format!("{}.mode", Self::KEY),
                "\"jwt\" with no key",
                format!("the HS256 secret in the environment variable {JWT_SECRET_VARIABLE}, or public_key_file, or jwks_file"),
            )),
        }
    }

    /// Whether `GET /api/v1/operations` exists.
    pub fn lists(&self) -> bool {
        self.mode == AuthMode::Jwt || self.list_in_none_mode
    }

    pub(super) fn check(&self) -> Result<(), InvalidSetting> {
        let key = |name: &str| format!("{}.{name}", Self::KEY);
        if self.public_key_file.is_some() && self.jwks_file.is_some() {
            return Err(InvalidSetting::new(
                key("jwks_file"),
                "both public_key_file and jwks_file",
                "one of them",
            ));
        }
        if self.admin_scope.trim().is_empty() || self.admin_scope.contains(' ') {
            return Err(InvalidSetting::new(
                key("admin_scope"),
                format!("{:?}", self.admin_scope),
                "one scope: text without spaces",
            ));
        }
        if self.mode == AuthMode::Jwt {
            self.check_keys()?;
        }
        if self.max_unfinished_per_owner == 0 {
            return Err(InvalidSetting::new(
                key("max_unfinished_per_owner"),
                "0",
                "a whole number greater than 0",
            ));
        }
        Ok(())
    }
}
