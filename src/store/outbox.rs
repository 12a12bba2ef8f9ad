//! The webhook outbox: events recorded by the statement that finishes an
//! operation (a trigger of migration 0006, so that every way of finishing
//! records one), turned into one delivery per endpoint, claimed for a
//! lease, and their attempts recorded. Claims and the events taken for
//! fan-out skip rows another process holds, so several processes over one
//! PostgreSQL each deliver different events.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::db::{Column, Param};
use super::dialect::{ColumnType, Dialect};
use super::record::{self, StoredId, StoredTime};
use super::{Store, StoreError};
use crate::domain::Operation;

/// Events turned into deliveries per statement.
const FAN_OUT_BATCH: i64 = 256;

/// A delivery to make: one event to one endpoint.
pub struct NewDelivery {
    pub operation_id: Uuid,
    pub endpoint: String,
    pub url: String,
    pub webhook_id: String,
    pub event_type: String,
    /// The body, signed as it is at every attempt.
    pub payload: String,
}

/// What one fan-out did.
#[derive(Debug, Default)]
pub struct FannedOut {
    /// Events taken out of the outbox.
    pub events: usize,
    /// Events whose operation could not be read, with why: dropped.
    pub unreadable: Vec<(String, StoreError)>,
}

/// A claimed delivery.
#[derive(sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    #[sqlx(try_from = "StoredId")]
    pub operation_id: Uuid,
    pub endpoint: String,
    pub url: String,
    pub webhook_id: String,
    pub event_type: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i32,
}

impl From<StoredId> for Uuid {
    fn from(id: StoredId) -> Self {
        id.0
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// To be (re)tried.
    Pending,
    /// A 2xx answered.
    Delivered,
    /// The endpoint answered 410 Gone: never tried again.
    Gone,
    /// The target is not one calls may reach.
    Refused,
    /// Every retry of the schedule failed.
    Exhausted,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Gone => "gone",
            DeliveryState::Refused => "refused",
            DeliveryState::Exhausted => "exhausted",
        }
    }
}

/// What became of a claimed delivery.
pub struct DeliveryOutcome {
    pub id: i64,
    /// As claimed: a write from a claim that was taken over changes nothing.
    pub attempts: i32,
    pub state: DeliveryState,
    /// When it is due again, if still pending.
    pub retry_in: Duration,
    /// The attempt made, if one was (none when the endpoint was too busy to
    /// take it and it was handed back).
    pub attempt: Option<AttemptMade>,
}

/// One attempt, as `/deliveries` lists it.
pub struct AttemptMade {
    /// `delivered`, `failed`, `gone` or `refused`.
    pub outcome: &'static str,
    pub response_code: Option<u16>,
    pub error: Option<String>,
}

/// A delivery of an operation, and its attempts.
pub struct DeliveryReport {
    pub endpoint: String,
    pub webhook_id: String,
    pub event_type: String,
    pub state: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptReport>,
}

/// An attempt of a delivery.
pub struct AttemptReport {
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub outcome: String,
    pub response_code: Option<i32>,
    pub error: Option<String>,
}

/// A delivery joined with one of its attempts (none yet, for a delivery
/// not tried).
#[derive(sqlx::FromRow)]
struct DeliveryAttemptRecord {
    delivery_id: i64,
    endpoint: String,
    webhook_id: String,
    event_type: String,
    state: String,
    next_attempt_at: StoredTime,
    attempt: Option<i32>,
    attempted_at: Option<StoredTime>,
    outcome: Option<String>,
    response_code: Option<i32>,
    error: Option<String>,
}

/// The outbox's statements of one backend.
pub(super) struct OutboxStatements {
    any_event: String,
    any_due: String,
    record_every_operation: String,
    record_callbacks_only: String,
    take_events: String,
    insert_deliveries: String,
    claim: String,
    record_outcomes: String,
    record_attempts: String,
    deliveries_of: String,
    oldest_undelivered: String,
}

impl OutboxStatements {
    pub fn new(d: Dialect) -> Self {
        let now = d.now();
        let sql = |text: String| d.finish(&text);
        OutboxStatements {
            // Looked at before the writes below, so that an idle process
            // never takes SQLite's write lock to find nothing.
            any_event: "SELECT 1 FROM webhook_events LIMIT 1".to_owned(),
            any_due: format!(
                "SELECT 1 FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= {now} LIMIT 1"
            ),
            record_every_operation: "UPDATE webhook_recording SET every_operation = TRUE WHERE id = 1".to_owned(),
            record_callbacks_only: "UPDATE webhook_recording SET every_operation = FALSE WHERE id = 1".to_owned(),
            // Deleting first makes the transaction a writer from its first
            // statement (on SQLite, so it waits for the lock rather than
            // failing to upgrade a read).
            take_events: sql(format!(
                "WITH taken AS MATERIALIZED (
                     SELECT operation_id FROM webhook_events ORDER BY recorded_at LIMIT $1 {skip_locked})
                 DELETE FROM webhook_events WHERE operation_id IN (SELECT operation_id FROM taken)
                 RETURNING {}, event_type",
                d.id_as_text("operation_id"),
                skip_locked = d.skip_locked(),
            )),
            insert_deliveries: sql(format!(
                "INSERT INTO webhook_deliveries (operation_id, endpoint, url, webhook_id, event_type, payload)
                 SELECT v_operation, v_endpoint, v_url, v_webhook, v_event, v_payload FROM {} WHERE true
                 ON CONFLICT (operation_id, endpoint) DO NOTHING",
                d.rows_of(
                    1,
                    &[
                        ("v_operation", ColumnType::Uuid),
                        ("v_endpoint", ColumnType::Text),
                        ("v_url", ColumnType::Text),
                        ("v_webhook", ColumnType::Text),
                        ("v_event", ColumnType::Text),
                        ("v_payload", ColumnType::Text),
                    ]
                ),
            )),
            // A claim moves the delivery's due time to the lease's end: if
            // the process dies, it is due again then. The picked rows are
            // pending and locked, so the UPDATE finds them by id alone, as
            // the operations' claim does (see there why).
            claim: sql(format!(
                "WITH due AS MATERIALIZED (
                     SELECT id FROM webhook_deliveries
                      WHERE state = 'pending' AND next_attempt_at <= {now}
                      ORDER BY next_attempt_at LIMIT $2 {skip_locked})
                 UPDATE webhook_deliveries SET next_attempt_at = {lease_end}
                  WHERE id IN (SELECT id FROM due)
                 RETURNING id, operation_id, endpoint, url, webhook_id, event_type, payload, attempts",
                skip_locked = d.skip_locked(),
                lease_end = d.now_plus("$1"),
            )),
            record_outcomes: sql(format!(
                "UPDATE webhook_deliveries
                    SET state = v_state, attempts = attempts + v_attempted, next_attempt_at = {}
                   FROM {}
                  WHERE id = v_id AND attempts = v_attempts AND state = 'pending'",
                d.now_plus("v_delay"),
                d.rows_of(
                    1,
                    &[
                        ("v_id", ColumnType::BigInt),
                        ("v_attempts", ColumnType::Int),
                        ("v_attempted", ColumnType::Int),
                        ("v_state", ColumnType::Text),
                        ("v_delay", ColumnType::Float),
                    ]
                ),
            )),
            record_attempts: sql(format!(
                "INSERT INTO webhook_attempts (delivery_id, attempt, outcome, response_code, error)
                 SELECT v_id, v_attempt, v_outcome, NULLIF(v_code, 0), v_error FROM {} WHERE true
                 ON CONFLICT (delivery_id, attempt) DO NOTHING",
                d.rows_of(
                    1,
                    &[
                        ("v_id", ColumnType::BigInt),
                        ("v_attempt", ColumnType::Int),
                        ("v_outcome", ColumnType::Text),
                        ("v_code", ColumnType::Int),
                        ("v_error", ColumnType::Text),
                    ]
                ),
            )),
            deliveries_of: sql(
                "SELECT d.id AS delivery_id, d.endpoint, d.webhook_id, d.event_type, d.state, d.next_attempt_at,
                        a.attempt, a.attempted_at, a.outcome, a.response_code, a.error
                   FROM webhook_deliveries d LEFT JOIN webhook_attempts a ON a.delivery_id = d.id
                  WHERE d.operation_id = $1
                  ORDER BY d.id, a.attempt"
                    .to_owned(),
            ),
            oldest_undelivered: format!(
                "SELECT {} FROM (
                     SELECT min(recorded_at) AS since FROM webhook_events
                     UNION ALL
                     SELECT min(created_at) FROM webhook_deliveries WHERE state = 'pending') AS waiting",
                d.seconds_since("min(since)"),
            ),
        }
    }
}

impl Store {
    /// Records an event for every operation that finishes, or only for
    /// those with a callback URL.
    pub async fn record_webhook_events(&self, every_operation: bool) -> Result<(), StoreError> {
        let sql = match every_operation {
            true => &self.outbox.record_every_operation,
            false => &self.outbox.record_callbacks_only,
        };
        self.db.rows(sql, vec![]).await?;
        Ok(())
    }

    /// Takes events out of the outbox and makes the deliveries `targets`
    /// names for each (an event type and its operation), in one
    /// transaction: an event is either still in the outbox or delivered
    /// from.
    pub async fn fan_out_events(
        &self,
        targets: impl Fn(&str, &Operation) -> Vec<NewDelivery>,
    ) -> Result<FannedOut, StoreError> {
        if self.db.rows(&self.outbox.any_event, vec![]).await?.is_empty() {
            return Ok(FannedOut::default());
        }
        let mut transaction = self.db.begin().await?;
        let taken = transaction
            .rows(&self.outbox.take_events, vec![Param::Int(FAN_OUT_BATCH)])
            .await?;
        let mut fanned_out = FannedOut {
            events: taken.len(),
            ..FannedOut::default()
        };
        if taken.is_empty() {
            transaction.commit().await?;
            return Ok(fanned_out);
        }
        let events: Vec<(String, String)> = taken.iter().filter_map(|row| row.decode().ok()).collect();
        let ids: Vec<Uuid> = events.iter().filter_map(|(id, _)| id.parse().ok()).collect();
        let rows = transaction
            .rows(&self.statements.find_many, vec![Param::Column(Column::Ids(ids))])
            .await?;
        let mut operations = record::operations_by_id(&rows);
        let mut deliveries = Vec::new();
        for (id, event_type) in &events {
            match id.parse().ok().and_then(|id: Uuid| operations.remove(&id)) {
                Some(Ok(operation)) => deliveries.extend(targets(event_type, &operation)),
                Some(Err(cause)) => fanned_out.unreadable.push((id.clone(), cause)),
                // Deleted since it finished: nothing is left to tell of.
                None => {}
            }
        }
        if !deliveries.is_empty() {
            let texts = |field: fn(&NewDelivery) -> &str| {
                Param::Column(Column::Texts(deliveries.iter().map(|d| Some(field(d))).collect()))
            };
            let params = vec![
                Param::Column(Column::Ids(deliveries.iter().map(|d| d.operation_id).collect())),
                texts(|d| &d.endpoint),
                texts(|d| &d.url),
                texts(|d| &d.webhook_id),
                texts(|d| &d.event_type),
                texts(|d| &d.payload),
            ];
            transaction.rows(&self.outbox.insert_deliveries, params).await?;
        }
        transaction.commit().await?;
        Ok(fanned_out)
    }

    /// Claims due deliveries, at most `limit`, for `lease`: each one read,
    /// or why it cannot be.
    pub async fn claim_deliveries(
        &self,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Result<Delivery, StoreError>>, StoreError> {
        if self.db.rows(&self.outbox.any_due, vec![]).await?.is_empty() {
            return Ok(Vec::new());
        }
        let params = vec![Param::Seconds(lease.as_secs_f64()), Param::Int(i64::from(limit))];
        let rows = self.db.rows(&self.outbox.claim, params).await?;
        Ok(rows.iter().map(record::read::<Delivery>).collect())
    }

    /// Writes what became of claimed deliveries, and their attempts, in
    /// one transaction.
    pub async fn record_deliveries(&self, outcomes: &[DeliveryOutcome]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let ids = || Param::Column(Column::BigInts(outcomes.iter().map(|o| o.id).collect()));
        let update = vec![
            ids(),
            Param::Column(Column::Ints(outcomes.iter().map(|o| o.attempts).collect())),
            Param::Column(Column::Ints(
                outcomes.iter().map(|o| i32::from(o.attempt.is_some())).collect(),
            )),
            Param::Column(Column::Texts(
                outcomes.iter().map(|o| Some(o.state.as_str())).collect(),
            )),
            Param::Column(Column::Seconds(
                outcomes.iter().map(|o| o.retry_in.as_secs_f64()).collect(),
            )),
        ];
        let made: Vec<(&DeliveryOutcome, &AttemptMade)> = outcomes
            .iter()
            .filter_map(|o| o.attempt.as_ref().map(|attempt| (o, attempt)))
            .collect();
        let attempts = vec![
            Param::Column(Column::BigInts(made.iter().map(|(o, _)| o.id).collect())),
            Param::Column(Column::Ints(made.iter().map(|(o, _)| o.attempts + 1).collect())),
            Param::Column(Column::Texts(made.iter().map(|(_, a)| Some(a.outcome)).collect())),
            Param::Column(Column::Ints(
                made.iter()
                    .map(|(_, a)| a.response_code.map_or(0, i32::from))
                    .collect(),
            )),
            Param::Column(Column::Texts(
                made.iter().map(|(_, a)| a.error.as_deref()).collect(),
            )),
        ];
        let mut transaction = self.db.begin().await?;
        transaction.rows(&self.outbox.record_outcomes, update).await?;
        if !made.is_empty() {
            transaction.rows(&self.outbox.record_attempts, attempts).await?;
        }
        transaction.commit().await
    }

    /// The deliveries of an operation, each with its attempts, in order.
    pub async fn deliveries_of(&self, id: Uuid) -> Result<Vec<DeliveryReport>, StoreError> {
        let rows = self
            .db
            .rows(&self.outbox.deliveries_of, vec![Param::Id(id)])
            .await?;
        let mut reports: Vec<(i64, DeliveryReport)> = Vec::new();
        for row in &rows {
            let record: DeliveryAttemptRecord = record::read(row)?;
            if reports.last().map(|(id, _)| *id) != Some(record.delivery_id) {
                let pending = record.state == DeliveryState::Pending.as_str();
                reports.push((
                    record.delivery_id,
                    DeliveryReport {
                        endpoint: record.endpoint,
                        webhook_id: record.webhook_id,
                        event_type: record.event_type,
                        next_attempt_at: pending.then_some(record.next_attempt_at.0),
                        state: record.state,
                        attempts: Vec::new(),
                    },
                ));
            }
            if let (Some((_, report)), Some(attempt), Some(attempted_at), Some(outcome)) = (
                reports.last_mut(),
                record.attempt,
                record.attempted_at,
                record.outcome,
            ) {
                report.attempts.push(AttemptReport {
                    attempt,
                    attempted_at: attempted_at.0,
                    outcome,
                    response_code: record.response_code,
                    error: record.error,
                });
            }
        }
        Ok(reports.into_iter().map(|(_, report)| report).collect())
    }

    /// How long the oldest event not delivered yet has waited, in seconds.
    pub async fn oldest_undelivered_secs(&self) -> Result<Option<f64>, StoreError> {
        let oldest: Vec<(Option<f64>,)> = self.db.fetch_all(&self.outbox.oldest_undelivered, vec![]).await?;
        Ok(oldest.first().and_then(|(secs,)| *secs))
    }
}
