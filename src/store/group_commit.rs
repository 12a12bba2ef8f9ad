//! Group commit: the writes that every operation makes — its creation and
//! how its run ended — go through one task that applies whatever is
//! waiting in a single transaction. One commit (one fsync, and on
//! PostgreSQL one turn of the lock that orders `NOTIFY`s) then serves many
//! operations; a write that finds nothing waiting is committed at once.

use std::time::Duration;

use rocket::serde::json::Value;
use rocket::tokio::{self, sync::mpsc, sync::oneshot};

use super::{postgres, sqlite, ClaimToken, Db, NewOperation, StoreError};
use crate::domain::{ErrorCode, Operation};

/// The most writes one transaction takes.
const MAX_BATCH: usize = 128;

pub(super) enum Write {
    Insert(NewOperation),
    Complete(ClaimToken, Value),
    Fail(ClaimToken, ErrorCode, String),
    RetryLater(ClaimToken, Duration),
}

pub(super) enum Written {
    /// The inserted row; `None` when its idempotency key was taken.
    Inserted(Option<Operation>),
    /// Whether the claim still held.
    Updated(bool),
}

type Reply = oneshot::Sender<Result<Written, StoreError>>;

/// The queue of the committing task. Cheap to clone.
#[derive(Clone)]
pub(super) struct GroupCommit {
    queue: mpsc::UnboundedSender<(Write, Reply)>,
}

impl GroupCommit {
    /// Starts the committing task; it ends when the last clone is dropped.
    pub(super) fn start(db: Db) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(commit_in_groups(db, waiting));
        GroupCommit { queue }
    }

    pub(super) async fn write(&self, write: Write) -> Result<Written, StoreError> {
        let (reply, written) = oneshot::channel();
        let stopped = || StoreError::Internal("the committing task has stopped".to_owned());
        self.queue.send((write, reply)).map_err(|_| stopped())?;
        written.await.map_err(|_| stopped())?
    }
}

async fn commit_in_groups(db: Db, mut waiting: mpsc::UnboundedReceiver<(Write, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (writes, replies): (Vec<Write>, Vec<Reply>) = batch.drain(..).unzip();
        let results = match writes.len() {
            1 => vec![apply_alone(&db, &writes[0]).await],
            _ => match apply_together(&db, &writes).await {
                Ok(written) => written.into_iter().map(Ok).collect(),
                // One write failed and took the others with it: each on its
                // own, so that only the one that fails says so.
                Err(_) => {
                    let mut results = Vec::with_capacity(writes.len());
                    for write in &writes {
                        results.push(apply_alone(&db, write).await);
                    }
                    results
                }
            },
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // A caller that went away no longer needs its answer.
            let _ = reply.send(result);
        }
    }
}

async fn apply_alone(db: &Db, write: &Write) -> Result<Written, StoreError> {
    match db {
        Db::Sqlite(pool) => apply_sqlite(pool, write).await,
        Db::Postgres(pool) => apply_postgres(pool, write).await,
    }
}

async fn apply_together(db: &Db, writes: &[Write]) -> Result<Vec<Written>, StoreError> {
    let mut written = Vec::with_capacity(writes.len());
    match db {
        Db::Sqlite(pool) => {
            let mut transaction = pool.begin().await?;
            for write in writes {
                written.push(apply_sqlite(&mut *transaction, write).await?);
            }
            transaction.commit().await?;
        }
        Db::Postgres(pool) => {
            let mut transaction = pool.begin().await?;
            for write in writes {
                written.push(apply_postgres(&mut *transaction, write).await?);
            }
            transaction.commit().await?;
        }
    }
    Ok(written)
}

async fn apply_sqlite<'e>(db: impl sqlx::SqliteExecutor<'e>, write: &Write) -> Result<Written, StoreError> {
    Ok(match write {
        Write::Insert(new) => Written::Inserted(sqlite::insert(db, new).await?),
        Write::Complete(token, result) => Written::Updated(sqlite::complete(db, token, result).await?),
        Write::Fail(token, code, message) => Written::Updated(sqlite::fail(db, token, *code, message).await?),
        Write::RetryLater(token, delay) => Written::Updated(sqlite::retry_later(db, token, *delay).await?),
    })
}

async fn apply_postgres<'e>(db: impl sqlx::PgExecutor<'e>, write: &Write) -> Result<Written, StoreError> {
    Ok(match write {
        Write::Insert(new) => Written::Inserted(postgres::insert(db, new).await?),
        Write::Complete(token, result) => Written::Updated(postgres::complete(db, token, result).await?),
        Write::Fail(token, code, message) => {
            Written::Updated(postgres::fail(db, token, *code, message).await?)
        }
        Write::RetryLater(token, delay) => Written::Updated(postgres::retry_later(db, token, *delay).await?),
    })
}
