use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::fs::FileServer;
use rocket::{Build, Rocket};

use crate::config::OperationsConfig;

/// Serves `static_dir` at `/`, below every API route.
pub struct StaticFiles;

/// Below the API routes, so that a file never shadows one.
const RANK: isize = 20;

#[rocket::async_trait]
impl Fairing for StaticFiles {
    fn info(&self) -> Info {
        Info {
            name: "Static files",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let Some(dir) = rocket.state::<OperationsConfig>().map(|c| c.static_dir.clone()) else {
            return Err(rocket);
        };
        if !dir.is_dir() {
            rocket::warn!(
                "static_dir {} is not a directory: no page is served at /",
                dir.display()
            );
            return Ok(rocket);
        }
        Ok(rocket.mount("/", FileServer::from(dir).rank(RANK)))
    }
}
