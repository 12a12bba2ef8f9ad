//! The rocket_db_pools databases, one per backend, both named
//! [`DATABASE_NAME`](super::DATABASE_NAME).

use std::str::FromStr;
use std::time::Duration;

use rocket::figment::Figment;
use rocket_db_pools::{Config, Database};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions;

#[derive(Database)]
#[database("operations")]
pub struct PostgresDb(sqlx::PgPool);

impl PostgresDb {
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.0
    }
}

#[derive(Database)]
#[database("operations")]
pub struct SqliteDb(SqlitePool);

impl SqliteDb {
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.0 .0
    }
}

/// A SQLite pool set up for a server: WAL so readers never wait for the
/// writer, `synchronous = NORMAL` (durable across a process crash, which WAL
/// guarantees), a busy timeout, and the file and its directory created when
/// missing. rocket_db_pools' own SQLite pool sets none of these but the last.
pub struct SqlitePool(sqlx::SqlitePool);

#[rocket::async_trait]
impl rocket_db_pools::Pool for SqlitePool {
    type Connection = sqlx::pool::PoolConnection<sqlx::Sqlite>;
    type Error = rocket_db_pools::Error<sqlx::Error>;

    async fn init(figment: &Figment) -> Result<Self, Self::Error> {
        let config: Config = figment.extract()?;
        let timeout = Duration::from_secs(config.connect_timeout);
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(rocket_db_pools::Error::Init)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(timeout)
            .disable_statement_logging();
        create_parent_directory(&options).map_err(|e| rocket_db_pools::Error::Init(sqlx::Error::Io(e)))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(u32::try_from(config.max_connections).unwrap_or(u32::MAX))
            .min_connections(config.min_connections.unwrap_or_default())
            .acquire_timeout(timeout)
            .idle_timeout(config.idle_timeout.map(Duration::from_secs))
            .connect_with(options)
            .await
            .map_err(rocket_db_pools::Error::Init)?;
        Ok(SqlitePool(pool))
    }

    async fn get(&self) -> Result<Self::Connection, Self::Error> {
        self.0.acquire().await.map_err(rocket_db_pools::Error::Get)
    }

    async fn close(&self) {
        self.0.close().await;
    }
}

fn create_parent_directory(options: &SqliteConnectOptions) -> std::io::Result<()> {
    let file = options.clone().get_filename();
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && file.as_os_str() != ":memory:" => {
            std::fs::create_dir_all(dir)
        }
        _ => Ok(()),
    }
}
