//! The store on PostgreSQL. Claims lock the row they take with
//! `FOR UPDATE SKIP LOCKED`, so processes sharing the database never take
//! the same operation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rocket::serde::json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    ClaimToken, Claimed, ExpiredLeases, NewOperation, StoreError, CANCELLED_MESSAGE, LEASE_EXPIRED_MESSAGE,
};
use crate::domain::{ErrorCode, Operation};

const COLUMNS: &str =
    "id, operation_type, status, result, error_message, error_code, attempts, progress, created_at, updated_at";

/// The claim a worker's write must still hold, at parameters 1, 2 and 3.
const CLAIM_HELD: &str = "id = $1 AND claimed_by = $2 AND attempts = $3 AND status = 'processing'";

/// An `operations` row as PostgreSQL holds it.
#[derive(sqlx::FromRow)]
struct OperationRow {
    id: Uuid,
    operation_type: String,
    status: String,
    result: Option<Value>,
    error_message: Option<String>,
    error_code: Option<String>,
    attempts: i32,
    progress: Option<Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    #[sqlx(flatten)]
    operation: OperationRow,
    input: Value,
    claimed_by: String,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    #[sqlx(flatten)]
    operation: OperationRow,
    request_hash: Option<String>,
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Operation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM operations WHERE id = $1");
    let row: Option<OperationRow> = sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?;
    row.map(Operation::try_from).transpose()
}

pub async fn find_many(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Operation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM operations WHERE id = ANY($1)");
    let rows: Vec<OperationRow> = sqlx::query_as(&sql).bind(ids).fetch_all(pool).await?;
    rows.into_iter().map(Operation::try_from).collect()
}

/// Inserts pending operations in one statement: the rows inserted, in no
/// particular order; one whose idempotency key was taken is not among them.
pub async fn insert_many(db: &mut PgConnection, new: &[&NewOperation]) -> Result<Vec<Operation>, StoreError> {
    let sql = format!(
        "INSERT INTO operations (id, operation_type, status, input, idempotency_key, request_hash)
         SELECT id, operation_type, 'pending', input::jsonb, idempotency_key, request_hash
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
             AS n(id, operation_type, input, idempotency_key, request_hash)
         ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING {COLUMNS}"
    );
    let rows: Vec<OperationRow> = sqlx::query_as(&sql)
        .bind(new.iter().map(|n| n.id).collect::<Vec<_>>())
        .bind(new.iter().map(|n| n.operation_type.as_str()).collect::<Vec<_>>())
        .bind(new.iter().map(|n| n.input.to_string()).collect::<Vec<_>>())
        .bind(
            new.iter()
                .map(|n| n.idempotency.as_ref().map(|k| k.key.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(
            new.iter()
                .map(|n| n.idempotency.as_ref().map(|k| k.request_hash.as_str()))
                .collect::<Vec<_>>(),
        )
        .fetch_all(db)
        .await?;
    rows.into_iter().map(Operation::try_from).collect()
}

pub async fn find_by_idempotency_key(
    pool: &PgPool,
    key: &str,
) -> Result<Option<(Operation, String)>, StoreError> {
    let sql = format!("SELECT {COLUMNS}, request_hash FROM operations WHERE idempotency_key = $1");
    let row: Option<KeyRow> = sqlx::query_as(&sql).bind(key).fetch_optional(pool).await?;
    row.map(|r| {
        Ok((
            Operation::try_from(r.operation)?,
            r.request_hash.unwrap_or_default(),
        ))
    })
    .transpose()
}

pub async fn claim(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    limit: u32,
) -> Result<Vec<Claimed>, StoreError> {
    let sql = format!(
        "UPDATE operations
            SET status = 'processing', attempts = attempts + 1, claimed_by = $1,
                lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
          WHERE id IN (SELECT id FROM operations
                        WHERE status = 'pending' AND available_at <= now()
                        ORDER BY created_at, id LIMIT $3
                        FOR UPDATE SKIP LOCKED)
         RETURNING {COLUMNS}, input, claimed_by"
    );
    let rows: Vec<ClaimRow> = sqlx::query_as(&sql)
        .bind(worker)
        .bind(lease.as_secs_f64())
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|row| {
            let operation = Operation::try_from(row.operation)?;
            Ok(Claimed::new(operation, row.input, row.claimed_by))
        })
        .collect()
}

/// Runs `UPDATE … SET {set}` if the claim still holds; `set` may use the
/// parameters $4 and on (text; cast them), bound from `values` in order.
async fn update_claimed<'e>(
    db: impl sqlx::PgExecutor<'e>,
    token: &ClaimToken,
    set: &str,
    values: &[String],
) -> Result<Option<Operation>, StoreError> {
    let sql = format!("UPDATE operations SET {set} WHERE {CLAIM_HELD} RETURNING {COLUMNS}");
    let mut query = sqlx::query_as::<_, OperationRow>(&sql)
        .bind(token.id)
        .bind(&token.worker)
        .bind(token.attempt);
    for value in values {
        query = query.bind(value);
    }
    let row = query.fetch_optional(db).await?;
    row.map(Operation::try_from).transpose()
}

/// Runs `UPDATE … SET {set}` in one statement for each claim of `tokens`
/// that still holds; `set` may use the columns `v4`, `v5`… (text; cast
/// them), each the values of one of `columns`, in the order of `tokens`.
async fn update_claimed_many(
    db: &mut PgConnection,
    tokens: &[&ClaimToken],
    set: &str,
    columns: Vec<Vec<String>>,
) -> Result<Vec<Operation>, StoreError> {
    let names: String = (4..4 + columns.len()).map(|n| format!(", v{n}")).collect();
    let arrays: String = (4..4 + columns.len())
        .map(|n| format!(", ${n}::text[]"))
        .collect();
    let sql = format!(
        "UPDATE operations SET {set}
           FROM UNNEST($1::uuid[], $2::text[], $3::int4[]{arrays}) AS v(v_id, v_worker, v_attempt{names})
          WHERE id = v_id AND claimed_by = v_worker AND attempts = v_attempt AND status = 'processing'
         RETURNING {COLUMNS}"
    );
    let mut query = sqlx::query_as::<_, OperationRow>(&sql)
        .bind(tokens.iter().map(|t| t.id).collect::<Vec<_>>())
        .bind(tokens.iter().map(|t| t.worker.as_str()).collect::<Vec<_>>())
        .bind(tokens.iter().map(|t| t.attempt).collect::<Vec<_>>());
    for column in columns {
        query = query.bind(column);
    }
    let rows = query.fetch_all(db).await?;
    rows.into_iter().map(Operation::try_from).collect()
}

pub async fn renew(pool: &PgPool, token: &ClaimToken, lease: Duration) -> Result<bool, StoreError> {
    let set = "lease_expires_at = now() + make_interval(secs => $4::float8)";
    Ok(
        update_claimed(pool, token, set, &[lease.as_secs_f64().to_string()])
            .await?
            .is_some(),
    )
}

/// processing → completed, for every claim that still holds: the
/// operations as they were left.
pub async fn complete_many(
    db: &mut PgConnection,
    writes: &[(&ClaimToken, &Value)],
) -> Result<Vec<Operation>, StoreError> {
    let set = "status = 'completed', result = v4::jsonb, lease_expires_at = NULL, updated_at = now()";
    let results = writes.iter().map(|(_, result)| result.to_string()).collect();
    let tokens: Vec<_> = writes.iter().map(|(token, _)| *token).collect();
    update_claimed_many(db, &tokens, set, vec![results]).await
}

pub async fn set_progress(
    pool: &PgPool,
    token: &ClaimToken,
    progress: &Value,
) -> Result<Option<Operation>, StoreError> {
    let set = "progress = $4::jsonb, updated_at = now()";
    update_claimed(pool, token, set, &[progress.to_string()]).await
}

/// processing → failed, for every claim that still holds.
pub async fn fail_many(
    db: &mut PgConnection,
    writes: &[(&ClaimToken, ErrorCode, &str)],
) -> Result<Vec<Operation>, StoreError> {
    let set =
        "status = 'failed', error_code = v4, error_message = v5, lease_expires_at = NULL, updated_at = now()";
    let codes = writes
        .iter()
        .map(|(_, code, _)| code.as_str().to_owned())
        .collect();
    let messages = writes
        .iter()
        .map(|(_, _, message)| (*message).to_owned())
        .collect();
    let tokens: Vec<_> = writes.iter().map(|(token, _, _)| *token).collect();
    update_claimed_many(db, &tokens, set, vec![codes, messages]).await
}

/// processing → pending, each claimable again after its delay, for every
/// claim that still holds.
pub async fn retry_later_many(
    db: &mut PgConnection,
    writes: &[(&ClaimToken, Duration)],
) -> Result<Vec<Operation>, StoreError> {
    let set = "status = 'pending', available_at = now() + make_interval(secs => v4::float8),
               lease_expires_at = NULL, updated_at = now()";
    let delays = writes
        .iter()
        .map(|(_, delay)| delay.as_secs_f64().to_string())
        .collect();
    let tokens: Vec<_> = writes.iter().map(|(token, _)| *token).collect();
    update_claimed_many(db, &tokens, set, vec![delays]).await
}

pub async fn release(pool: &PgPool, token: &ClaimToken) -> Result<Option<Operation>, StoreError> {
    let set = "status = 'pending', attempts = attempts - 1, available_at = now(), lease_expires_at = NULL,
               updated_at = now()";
    update_claimed(pool, token, set, &[]).await
}

pub async fn cancel(pool: &PgPool, id: Uuid) -> Result<Option<Operation>, StoreError> {
    let sql = format!(
        "UPDATE operations
            SET status = 'failed', error_code = $2, error_message = $3, lease_expires_at = NULL,
                updated_at = now()
          WHERE id = $1 AND status IN ('pending', 'processing')
         RETURNING {COLUMNS}"
    );
    let row: Option<OperationRow> = sqlx::query_as(&sql)
        .bind(id)
        .bind(ErrorCode::Cancelled.as_str())
        .bind(CANCELLED_MESSAGE)
        .fetch_optional(pool)
        .await?;
    row.map(Operation::try_from).transpose()
}

pub async fn expire_leases(pool: &PgPool, max_attempts: i32) -> Result<ExpiredLeases, StoreError> {
    let expired = "status = 'processing' AND (lease_expires_at IS NULL OR lease_expires_at <= now())";
    let failed = format!(
        "UPDATE operations
            SET status = 'failed', error_code = $2, error_message = $3, lease_expires_at = NULL,
                updated_at = now()
          WHERE {expired} AND attempts >= $1
         RETURNING id"
    );
    let requeued = format!(
        "UPDATE operations
            SET status = 'pending', lease_expires_at = NULL, updated_at = now()
          WHERE {expired} AND attempts < $1
         RETURNING id"
    );
    let failed = sqlx::query_scalar(&failed)
        .bind(max_attempts)
        .bind(ErrorCode::LeaseExpired.as_str())
        .bind(LEASE_EXPIRED_MESSAGE)
        .fetch_all(pool)
        .await?;
    let requeued = sqlx::query_scalar(&requeued)
        .bind(max_attempts)
        .fetch_all(pool)
        .await?;
    Ok(ExpiredLeases { requeued, failed })
}

/// In batches, so that a large backlog never holds many row locks long.
pub async fn delete_finished_older_than(pool: &PgPool, age: Duration) -> Result<Vec<Uuid>, StoreError> {
    const BATCH: usize = 1000;
    let sql = "DELETE FROM operations WHERE id IN (
                   SELECT id FROM operations
                    WHERE status IN ('completed', 'failed')
                      AND updated_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
               RETURNING id";
    let mut deleted = Vec::new();
    loop {
        let batch: Vec<Uuid> = sqlx::query_scalar(sql)
            .bind(age.as_secs_f64())
            .bind(BATCH as i64)
            .fetch_all(pool)
            .await?;
        let done = batch.len() < BATCH;
        deleted.extend(batch);
        if done {
            return Ok(deleted);
        }
    }
}

impl TryFrom<OperationRow> for Operation {
    type Error = StoreError;

    fn try_from(row: OperationRow) -> Result<Self, Self::Error> {
        let corrupt = |what: &str| StoreError::Internal(format!("operation {}: unreadable {what}", row.id));
        Ok(Operation {
            id: row.id,
            status: row.status.parse().map_err(|_| corrupt("status"))?,
            error_code: row
                .error_code
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|_| corrupt("error_code"))?,
            operation_type: row.operation_type,
            result: row.result,
            error_message: row.error_message,
            attempts: row.attempts,
            progress: row.progress,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
