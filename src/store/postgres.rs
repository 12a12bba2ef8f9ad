use chrono::{DateTime, Utc};
use rocket::serde::json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;
use crate::domain::Operation;

const COLUMNS: &str = "id, operation_type, status, result, error_message, created_at, updated_at";

/// An `operations` row as PostgreSQL holds it.
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    operation_type: String,
    status: String,
    result: Option<Value>,
    error_message: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Operation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM operations WHERE id = $1");
    let row: Option<Row> = sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?;
    row.map(Operation::try_from).transpose()
}

impl TryFrom<Row> for Operation {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<Self, Self::Error> {
        Ok(Operation {
            id: row.id,
            status: row
                .status
                .parse()
                .map_err(|e| StoreError::Internal(format!("operation {}: {e}", row.id)))?,
            operation_type: row.operation_type,
            result: row.result,
            error_message: row.error_message,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
