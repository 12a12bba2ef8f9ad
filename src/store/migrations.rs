use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket};
use sqlx::migrate::Migrator;

use super::{Db, Store};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Applies the embedded migrations of the store's backend before launch.
pub struct Migrations;

#[rocket::async_trait]
impl Fairing for Migrations {
    fn info(&self) -> Info {
        Info {
            name: "Migrations",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let Some(store) = rocket.state::<Store>() else {
            return Err(rocket);
        };
        let applied = match store.db() {
            Db::Sqlite(pool) => SQLITE.run(pool).await,
            Db::Postgres(pool) => POSTGRES.run(pool).await,
        };
        match applied {
            Ok(()) => Ok(rocket),
            Err(e) => {
                rocket::error!("cannot apply database migrations: {e}");
                Err(rocket)
            }
        }
    }
}
