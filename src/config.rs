//! The service's own settings: the `operations` key of the figment
//! (`[default.operations]` in `Rocket.toml`, `ROCKET_OPERATIONS` in the
//! environment).

use std::path::PathBuf;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::serde::Deserialize;
use rocket::{Build, Rocket};

/// Every setting of the service, with its default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(crate = "rocket::serde", default)]
pub struct OperationsConfig {
    /// The directory served at `/`.
    pub static_dir: PathBuf,
}

impl Default for OperationsConfig {
    fn default() -> Self {
        Self {
            static_dir: PathBuf::from("static"),
        }
    }
}

impl OperationsConfig {
    pub const KEY: &'static str = "operations";
}

/// Reads [`OperationsConfig`] into managed state, failing launch when it
/// does not parse.
pub struct Settings;

#[rocket::async_trait]
impl Fairing for Settings {
    fn info(&self) -> Info {
        Info {
            name: "Settings",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        match rocket
            .figment()
            .focus(OperationsConfig::KEY)
            .extract::<OperationsConfig>()
        {
            Ok(config) => Ok(rocket.manage(config)),
            Err(e) => {
                rocket::error!("invalid `{}` configuration: {e}", OperationsConfig::KEY);
                Err(rocket)
            }
        }
    }
}
