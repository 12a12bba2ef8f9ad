//! Where operations live: SQLite or PostgreSQL behind one [`Store`].
//!
//! The URL in `databases.operations.url` picks the backend. All SQL of the
//! service is in this module. Every change of status is a conditional
//! update that names the status (and, for a worker, the claim) it expects,
//! so a late or duplicate writer changes nothing.

mod batched_reads;
pub mod change_feed;
mod error;
mod fairing;
mod group_commit;
mod migrations;
mod pool;
mod postgres;
mod sqlite;

use std::time::Duration;

use rocket::serde::json::Value;
use rocket::{Build, Rocket};
use uuid::Uuid;

use crate::changes::{Changes, Observed, Writing};
use crate::domain::{ErrorCode, Operation};
use batched_reads::BatchedReads;
use group_commit::{GroupCommit, Write, Written};

pub use error::StoreError;
pub use fairing::StoreFairing;
pub use migrations::{unapplied_migrations, Migrations};
pub use pool::{PostgresDb, SqliteDb};

/// The name of the database in Rocket's `databases` configuration.
pub const DATABASE_NAME: &str = "operations";

/// The operations table, on whichever backend the configuration chose.
/// Every write it makes is published to the [`Changes`] of this process.
#[derive(Clone)]
pub struct Store {
    db: Db,
    changes: Changes,
    commits: GroupCommit,
    misses: BatchedReads,
}

/// A pool of the configured backend.
#[derive(Clone)]
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `postgres://` and `postgresql://` URLs are PostgreSQL; anything else
    /// is handed to SQLite, which rejects what it cannot open.
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub(super) fn of_rocket(rocket: &Rocket<Build>) -> Self {
        let key = format!("databases.{DATABASE_NAME}.url");
        let url: String = rocket.figment().extract_inner(&key).unwrap_or_default();
        Self::of_url(&url)
    }
}

/// Attaches the one rocket_db_pools `Database` that the configured URL asks
/// for; [`StoreFairing`] then hands its pool to the [`Store`].
pub fn attach_database(rocket: Rocket<Build>) -> Rocket<Build> {
    use rocket_db_pools::Database;
    match Backend::of_rocket(&rocket) {
        Backend::Sqlite => rocket.attach(SqliteDb::init()),
        Backend::Postgres => rocket.attach(PostgresDb::init()),
    }
}

/// An operation to create.
#[derive(Clone)]
pub struct NewOperation {
    pub id: Uuid,
    pub operation_type: String,
    pub input: Value,
    pub idempotency: Option<Idempotency>,
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

impl Claimed {
    /// The claim of `worker` on `operation`, at the attempt the claim made.
    fn new(operation: Operation, input: Value, worker: String) -> Self {
        let token = ClaimToken {
            id: operation.id,
            worker,
            attempt: operation.attempts,
        };
        Claimed {
            operation,
            input,
            token,
        }
    }
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
pub const LEASE_EXPIRED_MESSAGE: &str = "The operation's worker stopped responding too many times.";
/// The message of a cancelled operation.
pub const CANCELLED_MESSAGE: &str = "Operation was cancelled";

impl Store {
    /// Starts the tasks that commit writes and read polls' misses in groups.
    pub fn new(db: Db, changes: Changes) -> Self {
        let commits = GroupCommit::start(db.clone());
        let misses = BatchedReads::start(db.clone());
        Self {
            db,
            changes,
            commits,
            misses,
        }
    }

    /// A write of a claimed operation: the operation as it left it, `None`
    /// when the claim was lost.
    async fn update(&self, write: Write) -> Result<Option<Operation>, StoreError> {
        match self.commits.write(write).await? {
            Written::Updated(updated) => Ok(updated),
            Written::Inserted(_) => Err(StoreError::Internal("an update answered as an insert".to_owned())),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Publishes what a write left, if it wrote anything; whether it did.
    fn published(writing: Writing, written: Option<Operation>) -> bool {
        writing.written(written.as_ref());
        written.is_some()
    }

    /// The operation with this id, if there is one. Never writes.
    pub async fn find(&self, id: Uuid) -> Result<Option<Operation>, StoreError> {
        match &self.db {
            Db::Sqlite(pool) => sqlite::find(pool, id).await,
            Db::Postgres(pool) => postgres::find(pool, id).await,
        }
    }

    /// The operation as polls send it: from memory when it is held there,
    /// else read, and kept for the next poll. Never writes.
    pub async fn observe(&self, id: Uuid) -> Result<Option<Observed>, StoreError> {
        let cache = self.changes.cache();
        if let Some(observed) = cache.get(id) {
            return Ok(Some(observed));
        }
        let ticket = cache.ticket(id);
        let Some(operation) = self.misses.find(id).await? else {
            return Ok(None);
        };
        let observed = Observed::new(&operation);
        cache.store(ticket, id, &observed);
        Ok(Some(observed))
    }

    /// Those of these operations that exist, in no particular order.
    pub async fn find_many(&self, ids: &[Uuid]) -> Result<Vec<Operation>, StoreError> {
        match &self.db {
            Db::Sqlite(pool) => sqlite::find_many(pool, ids).await,
            Db::Postgres(pool) => postgres::find_many(pool, ids).await,
        }
    }

    /// Inserts a pending operation, unless its idempotency key was used.
    pub async fn create(&self, new: NewOperation) -> Result<Created, StoreError> {
        let writing = self.changes.writing(new.id);
        let inserted = match self.commits.write(Write::Insert(new.clone())).await? {
            Written::Inserted(inserted) => inserted,
            Written::Updated(_) => {
                return Err(StoreError::Internal("an insert answered as an update".to_owned()))
            }
        };
        if let Some(operation) = inserted {
            writing.written(Some(&operation));
            return Ok(Created::New(operation));
        }
        writing.written(None);
        let Some(idempotency) = &new.idempotency else {
            return Err(StoreError::Internal(format!(
                "insert of {} returned no row",
                new.id
            )));
        };
        let earlier = match &self.db {
            Db::Sqlite(pool) => sqlite::find_by_idempotency_key(pool, &idempotency.key).await?,
            Db::Postgres(pool) => postgres::find_by_idempotency_key(pool, &idempotency.key).await?,
        };
        match earlier {
            Some((operation, hash)) if hash == idempotency.request_hash => Ok(Created::Existing(operation)),
            Some(_) => Ok(Created::KeyReused),
            // Swept between the insert and this read: the key is free again.
            None => Box::pin(self.create(new)).await,
        }
    }

    /// Claims the oldest pending operation that is due, for `lease`.
    pub async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Claimed>, StoreError> {
        Ok(self.claim_many(worker, lease, 1).await?.pop())
    }

    /// Claims the oldest pending operations that are due, at most `limit`,
    /// for `lease`, in one statement.
    pub async fn claim_many(
        &self,
        worker: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        let claimed = match &self.db {
            Db::Sqlite(pool) => sqlite::claim(pool, worker, lease, limit).await?,
            Db::Postgres(pool) => postgres::claim(pool, worker, lease, limit).await?,
        };
        for claimed in &claimed {
            self.changes.publish(claimed.token.id);
        }
        Ok(claimed)
    }

    /// Extends a claim; false when it was lost.
    pub async fn renew(&self, token: &ClaimToken, lease: Duration) -> Result<bool, StoreError> {
        match &self.db {
            Db::Sqlite(pool) => sqlite::renew(pool, token, lease).await,
            Db::Postgres(pool) => postgres::renew(pool, token, lease).await,
        }
    }

    /// processing → completed; false when the claim was lost.
    pub async fn complete(&self, token: &ClaimToken, result: &Value) -> Result<bool, StoreError> {
        let writing = self.changes.writing(token.id);
        let written = self
            .update(Write::Complete(token.clone(), result.clone()))
            .await?;
        Ok(Self::published(writing, written))
    }

    /// processing → failed; false when the claim was lost.
    pub async fn fail(&self, token: &ClaimToken, code: ErrorCode, message: &str) -> Result<bool, StoreError> {
        let writing = self.changes.writing(token.id);
        let written = self
            .update(Write::Fail(token.clone(), code, message.to_owned()))
            .await?;
        Ok(Self::published(writing, written))
    }

    /// processing → pending, claimable again after `delay`; false when the
    /// claim was lost.
    pub async fn retry_later(&self, token: &ClaimToken, delay: Duration) -> Result<bool, StoreError> {
        let writing = self.changes.writing(token.id);
        let written = self.update(Write::RetryLater(token.clone(), delay)).await?;
        Ok(Self::published(writing, written))
    }

    /// Records the progress a running handler reported; false when the
    /// claim was lost.
    pub async fn set_progress(&self, token: &ClaimToken, progress: &Value) -> Result<bool, StoreError> {
        let writing = self.changes.writing(token.id);
        let written = match &self.db {
            Db::Sqlite(pool) => sqlite::set_progress(pool, token, progress).await?,
            Db::Postgres(pool) => postgres::set_progress(pool, token, progress).await?,
        };
        Ok(Self::published(writing, written))
    }

    /// processing → pending at once, handing the attempt back: the worker
    /// is stopping, not failing.
    pub async fn release(&self, token: &ClaimToken) -> Result<bool, StoreError> {
        let writing = self.changes.writing(token.id);
        let written = match &self.db {
            Db::Sqlite(pool) => sqlite::release(pool, token).await?,
            Db::Postgres(pool) => postgres::release(pool, token).await?,
        };
        Ok(Self::published(writing, written))
    }

    /// pending or processing → failed with `CANCELLED`. `None` when there
    /// was nothing to cancel (no such operation, or already finished).
    pub async fn cancel(&self, id: Uuid) -> Result<Option<Operation>, StoreError> {
        let writing = self.changes.writing(id);
        let cancelled = match &self.db {
            Db::Sqlite(pool) => sqlite::cancel(pool, id).await?,
            Db::Postgres(pool) => postgres::cancel(pool, id).await?,
        };
        writing.written(cancelled.as_ref());
        Ok(cancelled)
    }

    /// Takes back the operations whose lease ran out (and those another
    /// program left in processing without one): pending again while they
    /// have attempts left, else failed with `LEASE_EXPIRED`.
    pub async fn expire_leases(&self, max_attempts: u32) -> Result<ExpiredLeases, StoreError> {
        let max_attempts = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        let expired = match &self.db {
            Db::Sqlite(pool) => sqlite::expire_leases(pool, max_attempts).await?,
            Db::Postgres(pool) => postgres::expire_leases(pool, max_attempts).await?,
        };
        for id in expired.requeued.iter().chain(&expired.failed) {
            self.changes.publish(*id);
        }
        Ok(expired)
    }

    /// Deletes finished operations last changed more than `age` ago;
    /// returns how many.
    pub async fn delete_finished_older_than(&self, age: Duration) -> Result<u64, StoreError> {
        let deleted = match &self.db {
            Db::Sqlite(pool) => sqlite::delete_finished_older_than(pool, age).await?,
            Db::Postgres(pool) => postgres::delete_finished_older_than(pool, age)
                .await?
                .into_iter()
                .map(Some)
                .collect(),
        };
        for id in deleted.iter().flatten() {
            self.changes.publish(*id);
        }
        Ok(deleted.len() as u64)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop)?,
            Db::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop)?,
        }
        Ok(())
    }

    /// How many operations there are in each status.
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        const SQL: &str = "SELECT status, count(*) FROM operations GROUP BY status";
        Ok(match &self.db {
            Db::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
            Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
        })
    }

    /// Connections of the pool: (open, idle, maximum).
    pub fn pool_usage(&self) -> (u32, usize, u32) {
        match &self.db {
            Db::Sqlite(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
            Db::Postgres(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
        }
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}
