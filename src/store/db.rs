//! Running a statement on whichever backend the store has: the one place
//! that binds parameters and picks the backend's driver. Statements and
//! rows are the same for both (see [`Dialect`](super::dialect::Dialect) and
//! [`record`](super::record)).

use rocket::serde::json::{serde_json, Value};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::types::Json;
use sqlx::{FromRow, PgPool, Postgres, Sqlite, SqlitePool};
use uuid::Uuid;

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

impl Db {
    pub(super) fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Every row the statement returns. Writes with `RETURNING` go through
    /// here too: SQLite commits such a statement only once it has run to its
    /// end, which reading fewer rows would leave for later (sqlx issue 2099).
    pub(super) async fn fetch_all<T: Record>(
        &self,
        sql: &str,
        params: Vec<Param<'_>>,
    ) -> Result<Vec<T>, sqlx::Error> {
        match self {
            Db::Sqlite(pool) => bind_sqlite(sqlx::query_as(sql), params).fetch_all(pool).await,
            Db::Postgres(pool) => bind_postgres(sqlx::query_as(sql), params).fetch_all(pool).await,
        }
    }

    /// The first row a read returns, if any.
    pub(super) async fn fetch_optional<T: Record>(
        &self,
        sql: &str,
        params: Vec<Param<'_>>,
    ) -> Result<Option<T>, sqlx::Error> {
        match self {
            Db::Sqlite(pool) => {
                bind_sqlite(sqlx::query_as(sql), params)
                    .fetch_optional(pool)
                    .await
            }
            Db::Postgres(pool) => {
                bind_postgres(sqlx::query_as(sql), params)
                    .fetch_optional(pool)
                    .await
            }
        }
    }

    /// A transaction: its statements commit together or not at all.
    pub(super) async fn begin(&self) -> Result<Transaction, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => Transaction::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => Transaction::Postgres(Box::new(pool.begin().await?)),
        })
    }

    /// Connections of the pool: (open, idle, maximum).
    pub(super) fn usage(&self) -> (u32, usize, u32) {
        match self {
            Db::Sqlite(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
            Db::Postgres(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
        }
    }

    pub(super) async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// A transaction of either backend.
pub(super) enum Transaction {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(Box<sqlx::Transaction<'static, Postgres>>),
}

impl Transaction {
    pub async fn fetch_all<T: Record>(
        &mut self,
        sql: &str,
        params: Vec<Param<'_>>,
    ) -> Result<Vec<T>, sqlx::Error> {
        match self {
            Transaction::Sqlite(tx) => {
                bind_sqlite(sqlx::query_as(sql), params)
                    .fetch_all(&mut **tx)
                    .await
            }
            Transaction::Postgres(tx) => {
                bind_postgres(sqlx::query_as(sql), params)
                    .fetch_all(&mut ***tx)
                    .await
            }
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Transaction::Sqlite(tx) => tx.commit().await,
            Transaction::Postgres(tx) => (*tx).commit().await,
        }
    }
}

/// How SQLite takes each parameter: ids as hyphenated text, JSON as text,
/// columns as JSON arrays.
fn bind_sqlite<'q, T>(
    mut query: QueryAs<'q, Sqlite, T, SqliteArguments<'q>>,
    params: Vec<Param<'q>>,
) -> QueryAs<'q, Sqlite, T, SqliteArguments<'q>> {
    for param in params {
        query = match param {
            Param::Id(id) => query.bind(id.hyphenated()),
            Param::Text(text) => query.bind(text),
            Param::Int(n) => query.bind(n),
            Param::Seconds(seconds) => query.bind(seconds),
            Param::Json(value) => query.bind(Json(value)),
            Param::Column(column) => query.bind(json_array(&column)),
        };
    }
    query
}

/// How PostgreSQL takes each parameter: in its own types, columns as
/// arrays.
fn bind_postgres<'q, T>(
    mut query: QueryAs<'q, Postgres, T, PgArguments>,
    params: Vec<Param<'q>>,
) -> QueryAs<'q, Postgres, T, PgArguments> {
    for param in params {
        query = match param {
            Param::Id(id) => query.bind(id),
            Param::Text(text) => query.bind(text),
            Param::Int(n) => query.bind(n),
            Param::Seconds(seconds) => query.bind(seconds),
            Param::Json(value) => query.bind(Json(value)),
            Param::Column(Column::Ids(ids)) => query.bind(ids),
            Param::Column(Column::Texts(texts)) => query.bind(texts),
            Param::Column(Column::Ints(ints)) => query.bind(ints),
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
        Column::Seconds(seconds) => serde_json::to_string(seconds),
        Column::Json(texts) => serde_json::to_string(texts),
    };
    // Lists of ids, strings and numbers always serialize.
    array.unwrap_or_else(|_| "[]".to_owned())
}
