//! Every setting the service reads, its default, and the check that the
//! values given fit, before anything starts.
//!
//! Defaults live here, in code; `Rocket.toml` and `ROCKET_*` variables only
//! override them. [`figment`] is Rocket's own figment with these defaults
//! under it, and [`Settings::load`] reads and checks all of it, so that a
//! bad value stops the start with one line naming it.

mod auth;
mod database;
mod defaults;
mod invalid;
mod operations;
mod types;
mod webhooks;

use rocket::figment::providers::{Env, Format, Toml};
use rocket::figment::{Figment, Profile};

pub use auth::{AuthConfig, AuthMode, JWT_SECRET_VARIABLE};
pub use database::{Backend, DatabaseSettings};
pub use invalid::InvalidSetting;
pub use operations::{GeneratorKind, LogFormat, OpenAiConfig, OperationsConfig, RateLimitConfig};
pub use types::{DeclaredKind, DeclaredType, SchemaSource, BUILT_IN_TYPES};
pub use webhooks::{endpoint_name, secret_key, WebhookEndpoint, CALLBACK_ENDPOINT, EVENT_TYPES};

/// Rocket's figment (its defaults, `Rocket.toml` or the file `ROCKET_CONFIG`
/// names, `ROCKET_*` variables, the profile `ROCKET_PROFILE` selects) with
/// the service's defaults between Rocket's and the file.
pub fn figment() -> Figment {
    Figment::from(rocket::Config::default())
        .merge(defaults::provider())
        .merge(Toml::file(Env::var_or("ROCKET_CONFIG", "Rocket.toml")).nested())
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global())
        .select(Profile::from_env_or(
            "ROCKET_PROFILE",
            rocket::Config::DEFAULT_PROFILE,
        ))
}

/// Every setting, read and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Rocket's own: address, port, limits, log level, shutdown…
    pub rocket: rocket::Config,
    /// `databases.operations`.
    pub database: DatabaseSettings,
    /// `operations`.
    pub operations: OperationsConfig,
}

impl Settings {
    /// Reads every setting from `figment`, or names the first that does not
    /// fit.
    pub fn load(figment: &Figment) -> Result<Settings, InvalidSetting> {
        let rocket = rocket::Config::try_from(figment).map_err(InvalidSetting::from)?;
        let operations: OperationsConfig = figment
            .focus(OperationsConfig::KEY)
            .extract()
            .map_err(|e| InvalidSetting::from(e).under(OperationsConfig::KEY))?;
        operations.check()?;
        if let Some(dir) = operations.static_dir.as_ref().filter(|dir| !dir.is_dir()) {
            return Err(InvalidSetting::new(
                "operations.static_dir",
                format!("{:?}", dir.display().to_string()),
                "a directory (or no static_dir, for the page built into the binary)",
            ));
        }
        // Last: its check creates the SQLite file, which a start refused
        // for another setting should not leave behind.
        let database = DatabaseSettings::load(figment)?;
        Ok(Settings {
            rocket,
            database,
            operations,
        })
    }
}
