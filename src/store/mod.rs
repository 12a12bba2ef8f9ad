//! Where operations live: SQLite or PostgreSQL behind one [`Store`].
//!
//! The URL in `databases.operations.url` picks the backend. All SQL of the
//! service is in this module.

mod error;
mod fairing;
mod migrations;
mod pool;
mod postgres;
mod sqlite;

use rocket::{Build, Rocket};
use uuid::Uuid;

use crate::domain::Operation;

pub use error::StoreError;
pub use fairing::StoreFairing;
pub use migrations::Migrations;
pub use pool::{PostgresDb, SqliteDb};

/// The name of the database in Rocket's `databases` configuration.
pub const DATABASE_NAME: &str = "operations";

/// The operations table, on whichever backend the configuration chose.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `postgres://` and `postgresql://` URLs are PostgreSQL; anything else
    /// is handed to SQLite, which rejects what it cannot open.
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    fn of_rocket(rocket: &Rocket<Build>) -> Self {
        let key = format!("databases.{DATABASE_NAME}.url");
        let url: String = rocket.figment().extract_inner(&key).unwrap_or_default();
        Self::of_url(&url)
    }
}

/// Attaches the one rocket_db_pools `Database` that the configured URL asks
/// for; [`StoreFairing`] then hands its pool to the [`Store`].
pub fn attach_database(rocket: Rocket<Build>) -> Rocket<Build> {
    use rocket_db_pools::Database;
    match Backend::of_rocket(&rocket) {
        Backend::Sqlite => rocket.attach(SqliteDb::init()),
        Backend::Postgres => rocket.attach(PostgresDb::init()),
    }
}

impl Store {
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// The operation with this id, if there is one. Never writes.
    pub async fn find(&self, id: Uuid) -> Result<Option<Operation>, StoreError> {
        match self {
            Store::Sqlite(pool) => sqlite::find(pool, id).await,
            Store::Postgres(pool) => postgres::find(pool, id).await,
        }
    }
}
