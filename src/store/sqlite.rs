//! The store on SQLite. Times are RFC 3339 text in UTC with milliseconds,
//! the form `strftime` writes below, so they compare as strings.
//!
//! Writes with `RETURNING` are read with `fetch_all`: SQLite commits such
//! a statement only once it has run to its end, which `fetch_optional`
//! leaves for later (sqlx issue 2099), keeping the write invisible to
//! other connections and the write lock held meanwhile.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rocket::serde::json::{serde_json, Value};
use sqlx::SqlitePool;
use uuid::Uuid;

use super::{
    ClaimToken, Claimed, ExpiredLeases, NewOperation, StoreError, CANCELLED_MESSAGE, LEASE_EXPIRED_MESSAGE,
};
use crate::domain::{ErrorCode, Operation};

const COLUMNS: &str =
    "id, operation_type, status, result, error_message, error_code, attempts, progress, created_at, updated_at";
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// `now + seconds`, the seconds bound at parameter `n`.
fn now_plus(n: u8) -> String {
    format!("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('%+.3f seconds', ?{n}))")
}

/// The claim a worker's write must still hold, at parameters 1, 2 and 3.
const CLAIM_HELD: &str = "id = ?1 AND claimed_by = ?2 AND attempts = ?3 AND status = 'processing'";

/// An `operations` row as SQLite holds it: ids, JSON and times as text.
#[derive(sqlx::FromRow)]
struct OperationRow {
    id: String,
    operation_type: String,
    status: String,
    result: Option<String>,
    error_message: Option<String>,
    error_code: Option<String>,
    attempts: i32,
    progress: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    #[sqlx(flatten)]
    operation: OperationRow,
    input: String,
    claimed_by: String,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    #[sqlx(flatten)]
    operation: OperationRow,
    request_hash: Option<String>,
}

pub async fn find(pool: &SqlitePool, id: Uuid) -> Result<Option<Operation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM operations WHERE id = ?1");
    let row: Option<OperationRow> = sqlx::query_as(&sql).bind(text(id)).fetch_optional(pool).await?;
    row.map(Operation::try_from).transpose()
}

/// One statement whatever the number of ids: they go as one JSON array.
pub async fn find_many(pool: &SqlitePool, ids: &[Uuid]) -> Result<Vec<Operation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM operations WHERE id IN (SELECT value FROM json_each(?1))");
    let ids = serde_json::to_string(ids).map_err(|e| StoreError::Internal(e.to_string()))?;
    let rows: Vec<OperationRow> = sqlx::query_as(&sql).bind(ids).fetch_all(pool).await?;
    rows.into_iter().map(Operation::try_from).collect()
}

pub async fn insert<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    new: &NewOperation,
) -> Result<Option<Operation>, StoreError> {
    let sql = format!(
        "INSERT INTO operations (id, operation_type, status, input, idempotency_key, request_hash)
         VALUES (?1, ?2, 'pending', ?3, ?4, ?5)
         ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING {COLUMNS}"
    );
    let key = new.idempotency.as_ref();
    let row: Option<OperationRow> = sqlx::query_as(&sql)
        .bind(text(new.id))
        .bind(&new.operation_type)
        .bind(new.input.to_string())
        .bind(key.map(|k| &k.key))
        .bind(key.map(|k| &k.request_hash))
        .fetch_all(db)
        .await?
        .pop();
    row.map(Operation::try_from).transpose()
}

pub async fn find_by_idempotency_key(
    pool: &SqlitePool,
    key: &str,
) -> Result<Option<(Operation, String)>, StoreError> {
    let sql = format!("SELECT {COLUMNS}, request_hash FROM operations WHERE idempotency_key = ?1");
    let row: Option<KeyRow> = sqlx::query_as(&sql).bind(key).fetch_optional(pool).await?;
    row.map(|r| {
        Ok((
            Operation::try_from(r.operation)?,
            r.request_hash.unwrap_or_default(),
        ))
    })
    .transpose()
}

/// One conditional `UPDATE … RETURNING`: SQLite runs one writer at a time,
/// so two workers can never both see the row pending.
pub async fn claim(
    pool: &SqlitePool,
    worker: &str,
    lease: Duration,
    limit: u32,
) -> Result<Vec<Claimed>, StoreError> {
    let sql = format!(
        "UPDATE operations
            SET status = 'processing', attempts = attempts + 1, claimed_by = ?1,
                lease_expires_at = {lease_end}, updated_at = {NOW}
          WHERE id IN (SELECT id FROM operations
                        WHERE status = 'pending' AND available_at <= {NOW}
                        ORDER BY created_at, id LIMIT ?3)
            AND status = 'pending'
         RETURNING {COLUMNS}, input, claimed_by",
        lease_end = now_plus(2),
    );
    let rows: Vec<ClaimRow> = sqlx::query_as(&sql)
        .bind(worker)
        .bind(lease.as_secs_f64())
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|row| {
            let input = serde_json::from_str(&row.input).map_err(|_| {
                StoreError::Internal(format!("operation {}: unreadable input", row.operation.id))
            })?;
            let operation = Operation::try_from(row.operation)?;
            Ok(Claimed::new(operation, input, row.claimed_by))
        })
        .collect()
}

/// Runs `UPDATE … SET {set}` if the claim still holds; `set` may use the
/// parameters ?4 and on, bound from `values` in order.
async fn update_claimed<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    token: &ClaimToken,
    set: &str,
    values: &[String],
) -> Result<Option<Operation>, StoreError> {
    let sql = format!("UPDATE operations SET {set} WHERE {CLAIM_HELD} RETURNING {COLUMNS}");
    let mut query = sqlx::query_as::<_, OperationRow>(&sql)
        .bind(text(token.id))
        .bind(&token.worker)
        .bind(token.attempt);
    for value in values {
        query = query.bind(value);
    }
    let row = query.fetch_all(db).await?.pop();
    row.map(Operation::try_from).transpose()
}

pub async fn renew(pool: &SqlitePool, token: &ClaimToken, lease: Duration) -> Result<bool, StoreError> {
    let set = format!("lease_expires_at = {}", now_plus(4));
    Ok(
        update_claimed(pool, token, &set, &[lease.as_secs_f64().to_string()])
            .await?
            .is_some(),
    )
}

pub async fn complete<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    token: &ClaimToken,
    result: &Value,
) -> Result<Option<Operation>, StoreError> {
    let set = format!("status = 'completed', result = ?4, lease_expires_at = NULL, updated_at = {NOW}");
    update_claimed(db, token, &set, &[result.to_string()]).await
}

pub async fn set_progress(
    pool: &SqlitePool,
    token: &ClaimToken,
    progress: &Value,
) -> Result<Option<Operation>, StoreError> {
    let set = format!("progress = ?4, updated_at = {NOW}");
    update_claimed(pool, token, &set, &[progress.to_string()]).await
}

pub async fn fail<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    token: &ClaimToken,
    code: ErrorCode,
    message: &str,
) -> Result<Option<Operation>, StoreError> {
    let set = format!(
        "status = 'failed', error_code = ?4, error_message = ?5, lease_expires_at = NULL, updated_at = {NOW}"
    );
    update_claimed(db, token, &set, &[code.as_str().to_owned(), message.to_owned()]).await
}

pub async fn retry_later<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    token: &ClaimToken,
    delay: Duration,
) -> Result<Option<Operation>, StoreError> {
    let set = format!(
        "status = 'pending', available_at = {}, lease_expires_at = NULL, updated_at = {NOW}",
        now_plus(4)
    );
    update_claimed(db, token, &set, &[delay.as_secs_f64().to_string()]).await
}

pub async fn release(pool: &SqlitePool, token: &ClaimToken) -> Result<Option<Operation>, StoreError> {
    let set = format!(
        "status = 'pending', attempts = attempts - 1, available_at = {NOW}, lease_expires_at = NULL, updated_at = {NOW}"
    );
    update_claimed(pool, token, &set, &[]).await
}

pub async fn cancel(pool: &SqlitePool, id: Uuid) -> Result<Option<Operation>, StoreError> {
    let sql = format!(
        "UPDATE operations
            SET status = 'failed', error_code = ?2, error_message = ?3, lease_expires_at = NULL,
                updated_at = {NOW}
          WHERE id = ?1 AND status IN ('pending', 'processing')
         RETURNING {COLUMNS}"
    );
    let row: Option<OperationRow> = sqlx::query_as(&sql)
        .bind(text(id))
        .bind(ErrorCode::Cancelled.as_str())
        .bind(CANCELLED_MESSAGE)
        .fetch_all(pool)
        .await?
        .pop();
    row.map(Operation::try_from).transpose()
}

pub async fn expire_leases(pool: &SqlitePool, max_attempts: i32) -> Result<ExpiredLeases, StoreError> {
    let expired =
        format!("status = 'processing' AND (lease_expires_at IS NULL OR lease_expires_at <= {NOW})");
    let failed = format!(
        "UPDATE operations
            SET status = 'failed', error_code = ?2, error_message = ?3, lease_expires_at = NULL,
                updated_at = {NOW}
          WHERE {expired} AND attempts >= ?1
         RETURNING id"
    );
    let requeued = format!(
        "UPDATE operations
            SET status = 'pending', lease_expires_at = NULL, updated_at = {NOW}
          WHERE {expired} AND attempts < ?1
         RETURNING id"
    );
    let failed: Vec<String> = sqlx::query_scalar(&failed)
        .bind(max_attempts)
        .bind(ErrorCode::LeaseExpired.as_str())
        .bind(LEASE_EXPIRED_MESSAGE)
        .fetch_all(pool)
        .await?;
    let requeued: Vec<String> = sqlx::query_scalar(&requeued)
        .bind(max_attempts)
        .fetch_all(pool)
        .await?;
    Ok(ExpiredLeases {
        requeued: requeued.iter().filter_map(|id| id.parse().ok()).collect(),
        failed: failed.iter().filter_map(|id| id.parse().ok()).collect(),
    })
}

/// In batches, so that a large backlog never holds the write lock long.
/// The ids deleted; `None` for one that is not a UUID (written by another
/// program).
pub async fn delete_finished_older_than(
    pool: &SqlitePool,
    age: Duration,
) -> Result<Vec<Option<Uuid>>, StoreError> {
    const BATCH: usize = 1000;
    let sql = format!(
        "DELETE FROM operations WHERE id IN (
             SELECT id FROM operations
              WHERE status IN ('completed', 'failed') AND updated_at < {}
              LIMIT ?2)
         RETURNING id",
        now_plus(1)
    );
    let mut deleted = Vec::new();
    loop {
        let batch: Vec<String> = sqlx::query_scalar(&sql)
            .bind(-age.as_secs_f64())
            .bind(BATCH as i64)
            .fetch_all(pool)
            .await?;
        let done = batch.len() < BATCH;
        deleted.extend(batch.iter().map(|id| id.parse::<Uuid>().ok()));
        if done {
            return Ok(deleted);
        }
    }
}

fn text(id: Uuid) -> String {
    id.as_hyphenated().to_string()
}

impl TryFrom<OperationRow> for Operation {
    type Error = StoreError;

    fn try_from(row: OperationRow) -> Result<Self, Self::Error> {
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
            progress: row
                .progress
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| corrupt("progress"))?,
            error_code: row
                .error_code
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|_| corrupt("error_code"))?,
            created_at: parse_time(&row.created_at).ok_or_else(|| corrupt("created_at"))?,
            updated_at: parse_time(&row.updated_at).ok_or_else(|| corrupt("updated_at"))?,
            attempts: row.attempts,
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
