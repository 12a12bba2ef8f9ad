//! The rocket_db_pools databases, one per backend, both named
//! `operations`, over pools of our own that rocket_db_pools configures but
//! does not close: [`Storage`](super::Storage) does, once nothing writes.

use std::str::FromStr;
use std::time::Duration;

use rocket::figment::Figment;
use rocket_db_pools::{Config, Database};
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::ConnectOptions;
use uuid::Uuid;

#[derive(Database)]
#[database("operations")]
pub struct PostgresDb(PostgresPool);

#[derive(Database)]
#[database("operations")]
pub struct SqliteDb(SqlitePool);

/// Each connection's page cache, in KiB (SQLite's default is 2,000). The
/// operations polled are answered from memory, so what a connection reads
/// is mostly new; the operating system caches the file for all connections
/// alike, and sixteen default caches would add 32 MiB to the process.
const PAGE_CACHE: &str = "-512";

/// A SQLite pool set up for a server: WAL so readers never wait for the
/// writer, `synchronous = NORMAL` (durable across a process crash, which WAL
/// guarantees), a busy timeout, a small page cache per connection, and the
/// file and its directory created when missing. rocket_db_pools' own SQLite
/// pool sets none of these but the last. The file's directory is made by
/// the settings' check, before anything starts.
pub struct SqlitePool(sqlx::SqlitePool);

impl SqlitePool {
    pub fn inner(&self) -> &sqlx::SqlitePool {
        &self.0
    }
}

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
            .pragma("cache_size", PAGE_CACHE)
            .disable_statement_logging();
        let pool = pool_options(&config)
            .connect_with(options)
            .await
            .map_err(rocket_db_pools::Error::Init)?;
        Ok(SqlitePool(pool))
    }

    async fn get(&self) -> Result<Self::Connection, Self::Error> {
        self.0.acquire().await.map_err(rocket_db_pools::Error::Get)
    }

    /// Left to [`Storage`](super::Storage): Rocket runs shutdown fairings
    /// concurrently, and the workers still write while they stop.
    async fn close(&self) {}
}

/// The setting that names this process on each of its PostgreSQL
/// connections, so that it can tell its own changes among the database's
/// notifications.
const WRITER_SETTING: &str = "longrun.writer";

/// A PostgreSQL pool that stays open until the store closes it, its
/// connections named by [`WRITER_SETTING`].
pub struct PostgresPool(sqlx::PgPool);

impl PostgresPool {
    pub fn inner(&self) -> &sqlx::PgPool {
        &self.0
    }
}

#[rocket::async_trait]
impl rocket_db_pools::Pool for PostgresPool {
    type Connection = sqlx::pool::PoolConnection<sqlx::Postgres>;
    type Error = rocket_db_pools::Error<sqlx::Error>;

    async fn init(figment: &Figment) -> Result<Self, Self::Error> {
        let config: Config = figment.extract()?;
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(rocket_db_pools::Error::Init)?
            .application_name("longrun")
            .options([(WRITER_SETTING, Uuid::new_v4())])
            .disable_statement_logging();
        let pool = pool_options(&config)
            .connect_with(options)
            .await
            .map_err(rocket_db_pools::Error::Init)?;
        Ok(PostgresPool(pool))
    }

    async fn get(&self) -> Result<Self::Connection, Self::Error> {
        self.0.acquire().await.map_err(rocket_db_pools::Error::Get)
    }

    /// Left to the [`Store`](super::Store), as for SQLite.
    async fn close(&self) {}
}

/// rocket_db_pools' settings, as its own sqlx pools read them. No ping
/// before each use: it would double the round trips of every query, and a
/// connection that broke fails its query, is dropped, and the caller's
/// error is a retryable 503.
fn pool_options<DB: sqlx::Database>(config: &Config) -> PoolOptions<DB> {
    PoolOptions::new()
        .test_before_acquire(false)
        .max_connections(u32::try_from(config.max_connections).unwrap_or(u32::MAX))
        .min_connections(config.min_connections.unwrap_or_default())
        .acquire_timeout(Duration::from_secs(config.connect_timeout))
        .idle_timeout(config.idle_timeout.map(Duration::from_secs))
}
