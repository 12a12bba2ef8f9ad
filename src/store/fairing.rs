use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket};
use rocket_db_pools::Database;

use super::{Db, PostgresDb, SqliteDb, Store};
use crate::changes::Changes;

/// Hands the pool of whichever database was attached to a managed [`Store`],
/// so that routes and workers never name a backend; manages the
/// [`Changes`] the store publishes to.
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
        let db = if let Some(db) = SqliteDb::fetch(&rocket) {
            Db::Sqlite(db.pool().clone())
        } else if let Some(db) = PostgresDb::fetch(&rocket) {
            Db::Postgres(db.pool().clone())
        } else {
            // The database fairing has already said why it failed.
            return Err(rocket);
        };
        let changes = Changes::default();
        Ok(rocket.manage(Store::new(db, changes.clone())).manage(changes))
    }
}
