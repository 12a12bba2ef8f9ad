//! Running a statement on whichever backend the store has: the one place
//! that binds parameters and picks the backend's driver. Statements and
//! rows are the same for both (see [`Dialect`](super::dialect::Dialect) and
//! [`record`](super::record)).
//!
//! A connection is taken from the pool before the statement runs: whatever
//! keeps the service from getting one (a database that is down, refuses
//! connections, or is not there) is [`StoreError::Unavailable`]; what the
//! statement then meets is classified by what it is.

use chrono::{DateTime, Utc};
use rocket::serde::json::{serde_json, Value};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, Row as _, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::StoreError;
use crate::config::Backend;

/// A pool of the configured backend.
#[derive(Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// One parameter of a statement.
pub(super) enum Param<'a> {
    Id(Uuid),
    Text(&'a str),
    Int(i64),
    /// A duration in seconds.
    Seconds(f64),
    Json(&'a Value),
    /// A time, as the backend stores times: SQLite's RFC 3339 text with
    /// milliseconds, which sorts as time does.
    Time(DateTime<Utc>),
    /// The values of one column of the table a statement reads from
    /// `rows_of`.
    Column(Column<'a>),
}

/// A column of values bound as one parameter: an array on PostgreSQL, a
/// JSON array on SQLite.
pub(super) enum Column<'a> {
    Ids(Vec<Uuid>),
    Texts(Vec<Option<&'a str>>),
    Ints(Vec<i32>),
    BigInts(Vec<i64>),
    Seconds(Vec<f64>),
    /// JSON values, each as its text.
    Json(Vec<String>),
}

/// A row type both backends can read.
pub(super) trait Record:
    Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>
{
}

impl<T> Record for T where T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}

/// A row of either backend, read one at a time.
pub(super) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    pub fn decode<T: Record>(&self) -> Result<T, sqlx::Error> {
        match self {
            Row::Sqlite(row) => T::from_row(row),
            Row::Postgres(row) => T::from_row(row),
        }
    }

    /// The row's first column, if it is text.
    pub fn first_text(&self) -> Option<&str> {
        match self {
            Row::Sqlite(row) => row.try_get::<&str, _>(0).ok(),
            Row::Postgres(row) => row.try_get::<&str, _>(0).ok(),
        }
    }

    /// The row's `id` as text, whether or not it is a UUID.
    pub fn id_text(&self) -> Option<String> {
        match self {
            Row::Sqlite(row) => row.try_get::<String, _>("id").ok(),
            Row::Postgres(row) => row.try_get::<Uuid, _>("id").ok().map(|id| id.to_string()),
        }
    }
}

impl Db {
    pub(super) fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Every row the statement returns, unread. Writes with `RETURNING` go
    /// through here too: SQLite commits such a statement only once it has
    /// run to its end, which reading fewer rows would leave for later (sqlx
    /// issue 2099).
    pub(super) async fn rows(&self, sql: &str, params: Vec<Param<'_>>) -> Result<Vec<Row>, StoreError> {
        Ok(match self {
            Db::Sqlite(pool) => sqlite_rows(&mut *connect(pool).await?, sql, params).await?,
            Db::Postgres(pool) => postgres_rows(&mut *connect(pool).await?, sql, params).await?,
        })
    }

    /// A connection of the pool, for a part that runs many statements in a
    /// row (see [`Connection`]).
    pub(super) async fn acquire(&self) -> Result<Connection, StoreError> {
        Ok(match self {
            Db::Sqlite(pool) => Connection::Sqlite(connect(pool).await?),
            Db::Postgres(pool) => Connection::Postgres(Box::new(connect(pool).await?)),
        })
    }

    /// Every row the statement returns, read as `T`; one that cannot be is
    /// the statement's error. For rows of the service's own making (ids,
    /// counts); operations are read row by row.
    pub(super) async fn fetch_all<T: Record>(
        &self,
        sql: &str,
        params: Vec<Param<'_>>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.rows(sql, params).await?;
        Ok(rows.iter().map(Row::decode).collect::<Result<_, _>>()?)
    }

    /// A transaction: its statements commit together or not at all.
    pub(super) async fn begin(&self) -> Result<Transaction, StoreError> {
        Ok(match self {
            Db::Sqlite(pool) => Transaction::Sqlite(pool.begin().await.map_err(StoreError::unavailable)?),
            Db::Postgres(pool) => {
                Transaction::Postgres(Box::new(pool.begin().await.map_err(StoreError::unavailable)?))
            }
        })
    }

    /// Connections of the pool: (open, idle, maximum).
    pub(super) fn usage(&self) -> (u32, usize, u32) {
        match self {
            Db::Sqlite(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
            Db::Postgres(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
        }
    }

    /// Whether another part asking for a connection now would get one
    /// without waiting: one is idle, or the pool may open another.
    pub(super) fn has_spare(&self) -> bool {
        let (open, idle, max) = self.usage();
        idle > 0 || open < max
    }

    pub(super) async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// A connection from the pool, or the database is unavailable. The wait is
/// boxed: the pool's future is large, and held inline it would be copied
/// with every task that reads (+5.7 % instructions per 404, BENCHMARKS.md).
async fn connect<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Result<PoolConnection<DB>, StoreError> {
    Box::pin(pool.acquire()).await.map_err(StoreError::unavailable)
}

/// A connection taken from the pool, back to it when dropped. sqlx 0.7
/// tests a connection with a round trip to the database each time it goes
/// back (a ping, on a task of its own, the connection unusable meanwhile):
/// a part that runs statement after statement keeps one instead.
pub(super) enum Connection {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(Box<PoolConnection<Postgres>>),
}

impl Connection {
    /// As [`Db::rows`].
    pub async fn rows(&mut self, sql: &str, params: Vec<Param<'_>>) -> Result<Vec<Row>, StoreError> {
        Ok(match self {
            Connection::Sqlite(connection) => sqlite_rows(connection, sql, params).await?,
            Connection::Postgres(connection) => postgres_rows(connection, sql, params).await?,
        })
    }
}

async fn sqlite_rows(
    connection: &mut SqliteConnection,
    sql: &str,
    params: Vec<Param<'_>>,
) -> Result<Vec<Row>, sqlx::Error> {
    let rows = bind_sqlite(sqlx::query(sql), params)
        .fetch_all(connection)
        .await?;
    Ok(rows.into_iter().map(Row::Sqlite).collect())
}

async fn postgres_rows(
    connection: &mut PgConnection,
    sql: &str,
    params: Vec<Param<'_>>,
) -> Result<Vec<Row>, sqlx::Error> {
    let rows = bind_postgres(sqlx::query(sql), params)
        .fetch_all(connection)
        .await?;
    Ok(rows.into_iter().map(Row::Postgres).collect())
}

/// A transaction of either backend.
pub(super) enum Transaction {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(Box<sqlx::Transaction<'static, Postgres>>),
}

impl Transaction {
    pub async fn rows(&mut self, sql: &str, params: Vec<Param<'_>>) -> Result<Vec<Row>, StoreError> {
        Ok(match self {
            Transaction::Sqlite(tx) => sqlite_rows(tx, sql, params).await?,
            Transaction::Postgres(tx) => postgres_rows(tx, sql, params).await?,
        })
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Transaction::Sqlite(tx) => tx.commit().await?,
            Transaction::Postgres(tx) => (*tx).commit().await?,
        }
        Ok(())
    }
}

/// Times as SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ')` writes them.
const SQLITE_TIME: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// How SQLite takes each parameter: ids as hyphenated text, JSON as text,
/// columns as JSON arrays.
fn bind_sqlite<'q>(
    mut query: Query<'q, Sqlite, SqliteArguments<'q>>,
    params: Vec<Param<'q>>,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    for param in params {
        query = match param {
            Param::Id(id) => query.bind(id.hyphenated()),
            Param::Text(text) => query.bind(text),
            Param::Int(n) => query.bind(n),
            Param::Seconds(seconds) => query.bind(seconds),
            Param::Json(value) => query.bind(Json(value)),
            Param::Time(time) => query.bind(time.format(SQLITE_TIME).to_string()),
            Param::Column(column) => query.bind(json_array(&column)),
        };
    }
    query
}

/// How PostgreSQL takes each parameter: in its own types, columns as
/// arrays.
fn bind_postgres<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    params: Vec<Param<'q>>,
) -> Query<'q, Postgres, PgArguments> {
    for param in params {
        query = match param {
            Param::Id(id) => query.bind(id),
            Param::Text(text) => query.bind(text),
            Param::Int(n) => query.bind(n),
            Param::Seconds(seconds) => query.bind(seconds),
            Param::Json(value) => query.bind(Json(value)),
            Param::Time(time) => query.bind(time),
            Param::Column(Column::Ids(ids)) => query.bind(ids),
            Param::Column(Column::Texts(texts)) => query.bind(texts),
            Param::Column(Column::Ints(ints)) => query.bind(ints),
            Param::Column(Column::BigInts(ints)) => query.bind(ints),
            Param::Column(Column::Seconds(seconds)) => query.bind(seconds),
            Param::Column(Column::Json(texts)) => query.bind(texts),
        };
    }
    query
}

fn json_array(column: &Column<'_>) -> String {
    let array = match column {
        Column::Ids(ids) => serde_json::to_string(ids),
        Column::Texts(texts) => serde_json::to_string(texts),
        Column::Ints(ints) => serde_json::to_string(ints),
        Column::BigInts(ints) => serde_json::to_string(ints),
        Column::Seconds(seconds) => serde_json::to_string(seconds),
        Column::Json(texts) => serde_json::to_string(texts),
    };
    // Lists of ids, strings and numbers always serialize.
    array.unwrap_or_else(|_| "[]".to_owned())
}
