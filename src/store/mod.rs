//! Where operations live: SQLite or PostgreSQL behind one [`Store`].
//!
//! All SQL of the service is in this module, written once for both
//! backends ([`statements`]) with what differs between them named in
//! [`dialect`]; rows are read into one shape ([`record`]). Every change of
//! status is a conditional update rendered from the domain's transitions,
//! naming the statuses it moves from (and, for a worker, its claim), so a
//! late or duplicate writer changes nothing. The store knows nothing of
//! who watches operations: its writes return what they left, and the layer
//! above publishes it.

mod batched_reads;
pub mod change_feed;
mod db;
mod dialect;
mod error;
mod group_commit;
mod keys;
mod migrations;
mod outbox;
mod pool;
mod record;
mod statements;
mod storage;

use std::sync::Arc;
use std::time::Duration;

use rocket::serde::json::Value;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::domain::{ErrorCode, Operation, ProgressReport, Status};
use batched_reads::BatchedReads;
use db::{Param, Row};
use dialect::Dialect;
use group_commit::{GroupCommit, Write};
use outbox::OutboxStatements;
use record::{ClaimRecord, KeyRecord, PageKeyRecord, StoredId};
use statements::{ListShape, Statements};

pub use db::Db;

pub use error::StoreError;
pub use outbox::{
    AttemptMade, AttemptReport, Delivery, DeliveryOutcome, DeliveryReport, DeliveryState, FannedOut,
    NewDelivery,
};
pub use pool::{PostgresDb, SqliteDb};
pub use storage::{Storage, StoreHold, StoreHolds};

/// The operations table, on whichever backend the configuration chose.
/// Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    statements: Arc<Statements>,
    outbox: Arc<OutboxStatements>,
    writes: GroupCommit,
    misses: BatchedReads,
}

/// An operation to create.
#[derive(Clone)]
pub struct NewOperation {
    pub id: Uuid,
    pub operation_type: String,
    pub input: Value,
    pub idempotency: Option<Idempotency>,
    /// Who it belongs to; `None` for no one.
    pub owner: Option<String>,
    /// Where to send it when it finishes, besides the configured webhooks.
    pub callback_url: Option<String>,
}

/// A client's `Idempotency-Key` and a digest of the request it came with.
#[derive(Clone)]
pub struct Idempotency {
    pub key: String,
    pub request_hash: String,
}

/// What creating an operation did.
pub enum Created {
    New(Operation),
    /// The idempotency key was used before, for the same request.
    Existing(Operation),
    /// The idempotency key was used before, for another request.
    KeyReused,
}

/// What a list asks for: the filters (each `None` for any) and where the
/// page starts.
#[derive(Debug, Clone, Default)]
pub struct ListQuery<'a> {
    pub owner: Option<&'a str>,
    pub status: Option<Status>,
    pub operation_type: Option<&'a str>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// The last row of the previous page.
    pub after: Option<PageKey>,
    /// Rows to read.
    pub limit: u32,
}

/// A row's place in the order of lists: newest first, ties by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageKey {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

/// A row of a list.
pub struct Listed {
    /// `None` when not even the row's id and time can be read.
    pub key: Option<PageKey>,
    pub operation: Result<Operation, StoreError>,
}

/// A worker's hold on one operation: which worker, and which attempt. Every
/// write a worker makes names it, so a claim that was lost (cancelled,
/// expired and taken over) can no longer write anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken {
    pub id: Uuid,
    pub worker: String,
    pub attempt: i32,
}

/// A claimed operation and what it needs to run.
pub struct Claimed {
    pub operation: Operation,
    pub input: Value,
    pub token: ClaimToken,
}

/// What a claim took.
#[derive(Default)]
pub struct Claims {
    /// Read and ready to run.
    pub claimed: Vec<Claimed>,
    /// Claimed rows that could not be read.
    pub unreadable: Vec<Unreadable>,
}

/// A claimed row that could not be read, and whether it was failed with
/// `UNREADABLE_ROW` (if not, it stays claimed until its lease runs out).
pub struct Unreadable {
    /// As the row holds it.
    pub id: String,
    pub cause: StoreError,
    pub failed: Result<bool, StoreError>,
}

/// Operations whose lease ran out, by what became of them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExpiredLeases {
    /// Back to pending, to be claimed again.
    pub requeued: Vec<Uuid>,
    /// Failed with `LEASE_EXPIRED`: no attempt left.
    pub failed: Vec<Uuid>,
}

/// The message of an operation that ran out of attempts by losing leases.
pub const LEASE_EXPIRED_MESSAGE: &str =
    "The operation's lease ran out too many times: its worker stopped responding, or the target it was handed to never finished it.";
/// The message of a cancelled operation.
pub const CANCELLED_MESSAGE: &str = "Operation was cancelled";
/// The message of a claimed operation whose row could not be read.
pub const UNREADABLE_MESSAGE: &str =
    "The operation's row holds values this service cannot read; it was not run.";

/// Rows the sweep deletes per statement.
const DELETE_BATCH: usize = 1000;

impl Store {
    /// The store over `db`. Starts the two tasks that write and read in
    /// groups; they end when the last clone of the store is dropped.
    fn start(db: Db) -> Self {
        let statements = Arc::new(Statements::new(Dialect(db.backend())));
        Store {
            writes: GroupCommit::start(db.clone(), Arc::clone(&statements)),
            misses: BatchedReads::start(db.clone(), Arc::clone(&statements)),
            outbox: Arc::new(OutboxStatements::new(Dialect(db.backend()))),
            db,
            statements,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The operation with this id, if there is one. Never writes.
    pub async fn find(&self, id: Uuid) -> Result<Option<Operation>, StoreError> {
        self.one(&self.statements.find, vec![Param::Id(id)]).await
    }

    /// The same, read together with the other reads asked for at the same
    /// moment: for polls, many of which may miss at once.
    pub async fn find_gathered(&self, id: Uuid) -> Result<Option<Arc<Operation>>, StoreError> {
        self.misses.find(id).await
    }

    /// Those of these operations that exist, in no particular order, each
    /// read on its own.
    pub async fn find_many(&self, ids: &[Uuid]) -> Result<Vec<Result<Operation, StoreError>>, StoreError> {
        let ids = Param::Column(db::Column::Ids(ids.to_vec()));
        let rows = self.db.rows(&self.statements.find_many, vec![ids]).await?;
        Ok(rows.iter().map(record::operation).collect())
    }

    /// The operations most likely to be polled soon: at most `most`
    /// unfinished ones, and at most `most` of those finished within
    /// `within`, the last finished first; each read on its own.
    pub async fn find_likely_polled(
        &self,
        within: Duration,
        most: usize,
    ) -> Result<Vec<Result<Operation, StoreError>>, StoreError> {
        let most = i64::try_from(most).unwrap_or(i64::MAX);
        let mut rows = self
            .db
            .rows(&self.statements.find_unfinished, vec![Param::Int(most)])
            .await?;
        let lately = vec![Param::Seconds(-within.as_secs_f64()), Param::Int(most)];
        rows.extend(
            self.db
                .rows(&self.statements.find_finished_lately, lately)
                .await?,
        );
        Ok(rows.iter().map(record::operation).collect())
    }

    /// Inserts a pending operation, unless its idempotency key was used.
    pub async fn create(&self, new: NewOperation) -> Result<Created, StoreError> {
        if let Some(operation) = self.writes.write(Write::Insert(new.clone())).await? {
            return Ok(Created::New(operation));
        }
        let Some(idempotency) = &new.idempotency else {
            return Err(StoreError::Unexpected(
                "an insert without an idempotency key returned no row",
            ));
        };
        match self.created_before(new.owner.as_deref(), idempotency).await? {
            Some(earlier) => Ok(earlier),
            // Swept between the insert and this read: the key is free again.
            None => Box::pin(self.create(new)).await,
        }
    }

    /// What an earlier create of `owner` with this idempotency key made:
    /// the operation for the same request, `KeyReused` for another; `None`
    /// when the key was not used (or its operation is gone).
    pub async fn created_before(
        &self,
        owner: Option<&str>,
        idempotency: &Idempotency,
    ) -> Result<Option<Created>, StoreError> {
        let params = vec![
            Param::Text(owner.unwrap_or_default()),
            Param::Text(&idempotency.key),
        ];
        let rows = self
            .db
            .rows(&self.statements.find_by_idempotency_key, params)
            .await?;
        let Some(KeyRecord {
            operation,
            request_hash,
        }) = rows.first().map(record::read::<KeyRecord>).transpose()?
        else {
            return Ok(None);
        };
        Ok(Some(
            match request_hash.as_deref() == Some(idempotency.request_hash.as_str()) {
                true => Created::Existing(Operation::try_from(operation)?),
                false => Created::KeyReused,
            },
        ))
    }

    /// How many operations of `owner` are pending or processing.
    pub async fn count_unfinished_of(&self, owner: &str) -> Result<i64, StoreError> {
        let params = vec![Param::Text(owner)];
        let counted: Vec<(i64,)> = self
            .db
            .fetch_all(&self.statements.count_unfinished_of_owner, params)
            .await?;
        Ok(counted.first().map_or(0, |(n,)| *n))
    }

    /// A page of operations, newest first: each row with its place in the
    /// order (if that much of it can be read) and the operation (or why it
    /// cannot be read).
    pub async fn list(&self, query: &ListQuery<'_>) -> Result<Vec<Listed>, StoreError> {
        let shape = ListShape {
            owner: query.owner.is_some(),
            status: query.status.is_some(),
            operation_type: query.operation_type.is_some(),
            created_after: query.created_after.is_some(),
            created_before: query.created_before.is_some(),
            after_row: query.after.is_some(),
        };
        let mut params = Vec::with_capacity(8);
        params.extend(query.owner.map(Param::Text));
        params.extend(query.status.map(|status| Param::Text(status.as_str())));
        params.extend(query.operation_type.map(Param::Text));
        params.extend(query.created_after.map(Param::Time));
        params.extend(query.created_before.map(Param::Time));
        if let Some(after) = query.after {
            params.extend([Param::Time(after.created_at), Param::Id(after.id)]);
        }
        params.push(Param::Int(i64::from(query.limit)));
        let sql = statements::list(Dialect(self.db.backend()), shape);
        let rows = self.db.rows(&sql, params).await?;
        Ok(rows
            .iter()
            .map(|row| Listed {
                key: record::read::<PageKeyRecord>(row).ok().map(PageKey::from),
                operation: record::operation(row),
            })
            .collect())
    }

    /// Claims the oldest pending operations that are due, at most `limit`,
    /// for `lease`, in one statement. A claimed row that cannot be read is
    /// failed with `UNREADABLE_ROW` at once (where the row lets that
    /// update through) and reported; it never holds back the others.
    pub async fn claim(&self, worker: &str, lease: Duration, limit: u32) -> Result<Claims, StoreError> {
        let params = vec![
            Param::Text(worker),
            Param::Seconds(lease.as_secs_f64()),
            Param::Int(i64::from(limit)),
        ];
        let rows = self.db.rows(&self.statements.claim, params).await?;
        let mut claims = Claims::default();
        for row in &rows {
            match claimed(row) {
                Ok(claimed) => claims.claimed.push(claimed),
                Err(cause) => {
                    let id = row.id_text().unwrap_or_default();
                    let failed = self.fail_unreadable(&id, worker).await;
                    claims.unreadable.push(Unreadable { id, cause, failed });
                }
            }
        }
        Ok(claims)
    }

    /// Fails a claimed row that cannot be read; whether it could.
    async fn fail_unreadable(&self, id: &str, worker: &str) -> Result<bool, StoreError> {
        let params = vec![
            Param::Text(id),
            Param::Text(worker),
            Param::Text(ErrorCode::UnreadableRow.as_str()),
            Param::Text(UNREADABLE_MESSAGE),
        ];
        let failed: Vec<(String,)> = self
            .db
            .fetch_all(&self.statements.fail_unreadable, params)
            .await?;
        Ok(!failed.is_empty())
    }

    /// Extends a claim; false when it was lost.
    pub async fn renew(&self, token: &ClaimToken, lease: Duration) -> Result<bool, StoreError> {
        let mut params = claim_params(token);
        params.push(Param::Seconds(lease.as_secs_f64()));
        let renewed: Vec<(StoredId,)> = self.db.fetch_all(&self.statements.renew, params).await?;
        Ok(!renewed.is_empty())
    }

    /// processing → completed; what it left, `None` when the claim was lost.
    pub async fn complete(
        &self,
        token: &ClaimToken,
        result: &Value,
    ) -> Result<Option<Operation>, StoreError> {
        self.writes
            .write(Write::Complete(token.clone(), result.clone()))
            .await
    }

    /// processing → failed; `None` when the claim was lost.
    pub async fn fail(
        &self,
        token: &ClaimToken,
        code: ErrorCode,
        message: &str,
    ) -> Result<Option<Operation>, StoreError> {
        self.writes
            .write(Write::Fail(token.clone(), code, message.to_owned()))
            .await
    }

    /// processing → pending, claimable again after `delay`; `None` when the
    /// claim was lost.
    pub async fn retry_later(
        &self,
        token: &ClaimToken,
        delay: Duration,
    ) -> Result<Option<Operation>, StoreError> {
        self.writes.write(Write::RetryLater(token.clone(), delay)).await
    }

    /// Records the progress a running handler reported; `None` when the
    /// claim was lost.
    pub async fn set_progress(
        &self,
        token: &ClaimToken,
        progress: &ProgressReport,
    ) -> Result<Option<Operation>, StoreError> {
        let report = rocket::serde::json::to_value(progress).unwrap_or_default();
        let mut params = claim_params(token);
        params.push(Param::Json(&report));
        self.one(&self.statements.set_progress, params).await
    }

    /// processing → pending at once, handing the attempt back: the worker
    /// is stopping, not failing.
    pub async fn give_back(&self, token: &ClaimToken) -> Result<Option<Operation>, StoreError> {
        self.one(&self.statements.give_back, claim_params(token)).await
    }

    /// pending or processing → failed with `CANCELLED`. `None` when there
    /// was nothing to cancel (no such operation, or already finished).
    pub async fn cancel(&self, id: Uuid) -> Result<Option<Operation>, StoreError> {
        let params = vec![
            Param::Id(id),
            Param::Text(ErrorCode::Cancelled.as_str()),
            Param::Text(CANCELLED_MESSAGE),
        ];
        self.one(&self.statements.cancel, params).await
    }

    /// Takes back the operations whose lease ran out (and those another
    /// program left in processing without one): pending again while they
    /// have attempts left, else failed with `LEASE_EXPIRED`. A type named
    /// in `max_attempts_by_type` (`{"type": n}`) has that many attempts.
    pub async fn expire_leases(
        &self,
        max_attempts: u32,
        max_attempts_by_type: &Value,
    ) -> Result<ExpiredLeases, StoreError> {
        let max_attempts = i64::from(max_attempts);
        let failed: Vec<(String,)> = self
            .db
            .fetch_all(
                &self.statements.fail_expired,
                vec![
                    Param::Int(max_attempts),
                    Param::Json(max_attempts_by_type),
                    Param::Text(ErrorCode::LeaseExpired.as_str()),
                    Param::Text(LEASE_EXPIRED_MESSAGE),
                ],
            )
            .await?;
        let requeued: Vec<(String,)> = self
            .db
            .fetch_all(
                &self.statements.requeue_expired,
                vec![Param::Int(max_attempts), Param::Json(max_attempts_by_type)],
            )
            .await?;
        let ids = |rows: Vec<(String,)>| rows.iter().filter_map(|(id,)| id.parse().ok()).collect();
        Ok(ExpiredLeases {
            requeued: ids(requeued),
            failed: ids(failed),
        })
    }

    /// Deletes finished operations last changed more than `age` ago: their
    /// ids, `None` for one that is not a UUID (written by another program).
    pub async fn delete_finished_older_than(&self, age: Duration) -> Result<Vec<Option<Uuid>>, StoreError> {
        let mut deleted = Vec::new();
        loop {
            let params = vec![
                Param::Seconds(-age.as_secs_f64()),
                Param::Int(DELETE_BATCH as i64),
            ];
            let batch: Vec<(String,)> = self
                .db
                .fetch_all(&self.statements.delete_finished, params)
                .await?;
            let done = batch.len() < DELETE_BATCH;
            deleted.extend(batch.iter().map(|(id,)| id.parse().ok()));
            if done {
                return Ok(deleted);
            }
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: Vec<(i32,)> = self.db.fetch_all(&self.statements.ping, vec![]).await?;
        Ok(())
    }

    /// How many operations there are in each status.
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.db.fetch_all(&self.statements.count_by_status, vec![]).await
    }

    /// The versions of the embedded migrations the database has not applied.
    pub async fn unapplied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        migrations::unapplied(&self.db).await
    }

    /// Connections of the pool: (open, idle, maximum).
    pub fn pool_usage(&self) -> (u32, usize, u32) {
        self.db.usage()
    }

    /// The operation of the single row a statement returned, if any.
    async fn one(&self, sql: &str, params: Vec<Param<'_>>) -> Result<Option<Operation>, StoreError> {
        let rows = self.db.rows(sql, params).await?;
        rows.first().map(record::operation).transpose()
    }
}

/// A claimed row, read.
fn claimed(row: &Row) -> Result<Claimed, StoreError> {
    let record = record::read::<ClaimRecord>(row)?;
    let operation = Operation::try_from(record.operation)?;
    let token = ClaimToken {
        id: operation.id,
        worker: record.claimed_by,
        attempt: operation.attempts,
    };
    Ok(Claimed {
        operation,
        input: record.input.0,
        token,
    })
}

/// Parameters 1 to 3 of a write that a claim must still hold.
fn claim_params(token: &ClaimToken) -> Vec<Param<'_>> {
    vec![
        Param::Id(token.id),
        Param::Text(&token.worker),
        Param::Int(i64::from(token.attempt)),
    ]
}
