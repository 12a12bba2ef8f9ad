use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket};
use rocket_db_pools::Database;

use super::{Backend, Db, PostgresDb, SqliteDb, Store};
use crate::changes::{Changes, PollCache};
use crate::config::OperationsConfig;

/// Hands the pool of whichever database was attached to a managed [`Store`],
/// so that routes and workers never name a backend; manages the
/// [`Changes`] the store publishes to, with the operations held in memory.
pub struct StoreFairing;

#[rocket::async_trait]
impl Fairing for StoreFairing {
    fn info(&self) -> Info {
        Info {
            name: "Store",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let db = match Backend::of_rocket(&rocket) {
            Backend::Sqlite => SqliteDb::fetch(&rocket).map(|db| Db::Sqlite(db.pool().clone())),
            Backend::Postgres => PostgresDb::fetch(&rocket).map(|db| Db::Postgres(db.pool().clone())),
        };
        // Without a pool, the database fairing has already said why.
        let Some(db) = db else { return Err(rocket) };
        let Some(config) = rocket.state::<OperationsConfig>() else {
            return Err(rocket);
        };
        let changes = Changes::new(PollCache::new(config.cache_entries, config.cache_max_staleness()));
        Ok(rocket.manage(Store::new(db, changes.clone())).manage(changes))
    }
}
