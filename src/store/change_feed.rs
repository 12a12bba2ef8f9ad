//! What the database reports of changes to operations, whoever made them:
//! SQLite's change log (a table its triggers fill, migration 0004) and
//! PostgreSQL's `NOTIFY` (migrations 0003 and 0004), with the marker a
//! process sends itself to learn that every earlier notification has
//! arrived.

use sqlx::{PgPool, SqlitePool};
use uuid::Uuid;

use super::StoreError;

/// The channel the PostgreSQL trigger notifies.
pub const CHANNEL: &str = "longrun_operations";

/// One row of SQLite's change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedChange {
    pub seq: i64,
    /// `None` for an id that is not a UUID, written by another program.
    pub operation_id: Option<Uuid>,
}

/// The newest sequence number of the change log (0 when empty).
pub async fn latest_change(pool: &SqlitePool) -> Result<i64, StoreError> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM operation_changes")
        .fetch_one(pool)
        .await?;
    Ok(seq.unwrap_or(0))
}

/// Up to `limit` changes after `seq`, oldest first.
pub async fn changes_after(pool: &SqlitePool, seq: i64, limit: i64) -> Result<Vec<LoggedChange>, StoreError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT seq, operation_id FROM operation_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )
    .bind(seq)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, id)| LoggedChange {
            seq,
            operation_id: id.parse().ok(),
        })
        .collect())
}

/// Deletes the changes up to `seq`; never the newest.
pub async fn forget_changes_through(pool: &SqlitePool, seq: i64) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM operation_changes WHERE seq <= ?1 AND seq < (SELECT max(seq) FROM operation_changes)",
    )
    .bind(seq)
    .execute(pool)
    .await?;
    Ok(())
}

/// The name this process's PostgreSQL connections give as their
/// `longrun.writer`: the trigger adds it to every notification of a change
/// they make (migration 0004).
pub async fn writer_of(pool: &PgPool) -> Result<String, StoreError> {
    let writer: Option<String> = sqlx::query_scalar("SELECT current_setting('longrun.writer', true)")
        .fetch_one(pool)
        .await?;
    Ok(writer.unwrap_or_default())
}

/// Sends `marker` on the channel: it arrives after every notification of
/// a transaction committed before it (PostgreSQL delivers them in commit
/// order).
pub async fn notify_marker(pool: &PgPool, marker: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(marker)
        .execute(pool)
        .await?;
    Ok(())
}
