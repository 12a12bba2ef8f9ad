use chrono::{DateTime, NaiveDateTime, Utc};
use rocket::serde::json::serde_json;
use sqlx::SqlitePool;
use uuid::Uuid;

use super::StoreError;
use crate::domain::Operation;

const COLUMNS: &str = "id, operation_type, status, result, error_message, created_at, updated_at";

/// An `operations` row as SQLite holds it: ids, JSON and times as text.
#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    operation_type: String,
    status: String,
    result: Option<String>,
    error_message: Option<String>,
    created_at: String,
    updated_at: String,
}

pub async fn find(pool: &SqlitePool, id: Uuid) -> Result<Option<Operation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM operations WHERE id = ?1");
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(id.as_hyphenated().to_string())
        .fetch_optional(pool)
        .await?;
    row.map(Operation::try_from).transpose()
}

impl TryFrom<Row> for Operation {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<Self, Self::Error> {
        let corrupt = |what: &str| StoreError::Internal(format!("operation {}: unreadable {what}", row.id));
        Ok(Operation {
            id: row.id.parse().map_err(|_| corrupt("id"))?,
            status: row.status.parse().map_err(|_| corrupt("status"))?,
            result: row
                .result
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| corrupt("result"))?,
            created_at: parse_time(&row.created_at).ok_or_else(|| corrupt("created_at"))?,
            updated_at: parse_time(&row.updated_at).ok_or_else(|| corrupt("updated_at"))?,
            operation_type: row.operation_type,
            error_message: row.error_message,
        })
    }
}

/// Reads RFC 3339, and SQLite's own `YYYY-MM-DD HH:MM:SS[.fff]` (UTC) that
/// `CURRENT_TIMESTAMP` and `datetime('now')` write.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map(|time| time.and_utc()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn rfc3339_and_sqlite_datetime_text_both_parse_as_utc() {
        let rfc = parse_time("2026-11-28T10:00:00.250Z");
        let offset = parse_time("2026-11-28T11:00:00.250+01:00");
        let sqlite = parse_time("2026-11-28 10:00:00.250");
        assert!(rfc.is_some());
        assert_eq!(rfc, offset);
        assert_eq!(rfc, sqlite);
    }

    #[test]
    fn other_text_is_not_a_time() {
        assert_eq!(parse_time("yesterday"), None);
    }
}
