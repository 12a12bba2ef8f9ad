use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket};
use rocket_db_pools::Database;

use super::{PostgresDb, SqliteDb, Store};

/// Hands the pool of whichever database was attached to a managed [`Store`],
/// so that routes and workers never name a backend.
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
        let store = if let Some(db) = SqliteDb::fetch(&rocket) {
            Store::Sqlite(db.pool().clone())
        } else if let Some(db) = PostgresDb::fetch(&rocket) {
            Store::Postgres(db.pool().clone())
        } else {
            // The database fairing has already said why it failed.
            return Err(rocket);
        };
        Ok(rocket.manage(store))
    }
}
