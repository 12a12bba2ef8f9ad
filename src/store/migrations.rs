use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket};
use sqlx::migrate::Migrator;

use super::{Db, Store, StoreError};

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

/// The versions of the embedded migrations the database has not applied.
pub async fn unapplied_migrations(store: &Store) -> Result<Vec<i64>, StoreError> {
    const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success";
    let (migrator, applied): (&Migrator, Vec<i64>) = match store.db() {
        Db::Sqlite(pool) => (&SQLITE, sqlx::query_scalar(SQL).fetch_all(pool).await?),
        Db::Postgres(pool) => (&POSTGRES, sqlx::query_scalar(SQL).fetch_all(pool).await?),
    };
    Ok(migrator
        .iter()
        .map(|migration| migration.version)
        .filter(|version| !applied.contains(version))
        .collect())
}
