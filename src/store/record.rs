//! Rows as both backends return them, read into one shape and turned into
//! the domain's [`Operation`] in one place.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rocket::serde::json::Value;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::types::Json;
use sqlx::{Decode, Postgres, Sqlite, Type};
use uuid::Uuid;

use super::StoreError;
use crate::domain::Operation;

/// The columns an [`OperationRecord`] reads, in every statement that
/// returns operations.
pub(super) const COLUMNS: &str =
    "id, operation_type, status, result, error_message, error_code, attempts, progress, created_at, updated_at";

/// An `operations` row. JSON columns are JSONB on PostgreSQL and text on
/// SQLite, times TIMESTAMPTZ and RFC 3339 text (or SQLite's own
/// `YYYY-MM-DD HH:MM:SS`): sqlx reads both into the same types.
#[derive(sqlx::FromRow)]
pub(super) struct OperationRecord {
    id: StoredId,
    operation_type: String,
    status: String,
    result: Option<Json<Value>>,
    error_message: Option<String>,
    error_code: Option<String>,
    attempts: i32,
    progress: Option<Json<Value>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A claimed row: the operation, and what its worker needs.
#[derive(sqlx::FromRow)]
pub(super) struct ClaimRecord {
    #[sqlx(flatten)]
    pub operation: OperationRecord,
    pub input: Json<Value>,
    pub claimed_by: String,
}

/// A row found by its idempotency key, with the digest of the request
/// that created it.
#[derive(sqlx::FromRow)]
pub(super) struct KeyRecord {
    #[sqlx(flatten)]
    pub operation: OperationRecord,
    pub request_hash: Option<String>,
}

impl OperationRecord {
    pub fn id(&self) -> Uuid {
        self.id.0
    }
}

impl TryFrom<OperationRecord> for Operation {
    type Error = StoreError;

    fn try_from(row: OperationRecord) -> Result<Self, Self::Error> {
        let id = row.id.0;
        let unreadable =
            |column: &'static str, cause: Box<dyn std::error::Error + Send + Sync>| StoreError::Unreadable {
                id,
                column,
                cause: Arc::from(cause),
            };
        Ok(Operation {
            id,
            status: row
                .status
                .parse()
                .map_err(|e| unreadable("status", Box::new(e)))?,
            error_code: row
                .error_code
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| unreadable("error_code", Box::new(e)))?,
            operation_type: row.operation_type,
            result: row.result.map(|json| json.0),
            error_message: row.error_message,
            attempts: row.attempts,
            progress: row.progress.map(|json| json.0),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// An operation's id as each backend stores it: PostgreSQL's `uuid`,
/// SQLite's lowercase hyphenated text.
pub(super) struct StoredId(pub Uuid);

impl Type<Postgres> for StoredId {
    fn type_info() -> PgTypeInfo {
        <Uuid as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for StoredId {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <Uuid as Decode<Postgres>>::decode(value).map(StoredId)
    }
}

impl Type<Sqlite> for StoredId {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'r> Decode<'r, Sqlite> for StoredId {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(StoredId(Uuid::try_parse(text)?))
    }
}
