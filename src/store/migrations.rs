//! The schema, one folder of migrations per backend, embedded in the
//! binary and applied at start-up.

use sqlx::migrate::{MigrateError, Migrator};

use super::{Db, StoreError};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Applies the migrations the database has not applied yet.
pub(super) async fn run(db: &Db) -> Result<(), MigrateError> {
    match db {
        Db::Sqlite(pool) => SQLITE.run(pool).await,
        Db::Postgres(pool) => POSTGRES.run(pool).await,
    }
}

/// The versions of the embedded migrations the database has not applied.
pub(super) async fn unapplied(db: &Db) -> Result<Vec<i64>, StoreError> {
    const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success";
    let applied: Vec<(i64,)> = db.fetch_all(SQL, vec![]).await?;
    let migrator = match db {
        Db::Sqlite(_) => &SQLITE,
        Db::Postgres(_) => &POSTGRES,
    };
    Ok(migrator
        .iter()
        .map(|migration| migration.version)
        .filter(|version| !applied.contains(&(*version,)))
        .collect())
}
