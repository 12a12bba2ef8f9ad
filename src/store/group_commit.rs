//! Group commit: the writes that every operation makes — its creation and
//! how its run ended — go through one task that applies whatever is
//! waiting in a single transaction. One commit (one fsync, and on
//! PostgreSQL one turn of the lock that orders `NOTIFY`s) then serves many
//! operations; a write that finds nothing waiting is committed at once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rocket::serde::json::Value;
use rocket::tokio::{self, sync::mpsc, sync::oneshot};
use sqlx::PgConnection;
use uuid::Uuid;

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
    /// The operation as the update left it; `None` when the claim was lost.
    Updated(Option<Operation>),
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
        Db::Postgres(pool) => {
            let mut connection = pool.acquire().await?;
            let mut written = apply_postgres(&mut connection, &[write]).await?;
            written
                .pop()
                .ok_or_else(|| StoreError::Internal("a write without an answer".to_owned()))
        }
    }
}

async fn apply_together(db: &Db, writes: &[Write]) -> Result<Vec<Written>, StoreError> {
    match db {
        Db::Sqlite(pool) => {
            let mut written = Vec::with_capacity(writes.len());
            let mut transaction = pool.begin().await?;
            for write in writes {
                written.push(apply_sqlite(&mut *transaction, write).await?);
            }
            transaction.commit().await?;
            Ok(written)
        }
        Db::Postgres(pool) => {
            let mut transaction = pool.begin().await?;
            let written = apply_postgres(&mut transaction, &writes.iter().collect::<Vec<_>>()).await?;
            transaction.commit().await?;
            Ok(written)
        }
    }
}

async fn apply_sqlite<'e>(db: impl sqlx::SqliteExecutor<'e>, write: &Write) -> Result<Written, StoreError> {
    Ok(match write {
        Write::Insert(new) => Written::Inserted(sqlite::insert(db, new).await?),
        Write::Complete(token, result) => Written::Updated(sqlite::complete(db, token, result).await?),
        Write::Fail(token, code, message) => Written::Updated(sqlite::fail(db, token, *code, message).await?),
        Write::RetryLater(token, delay) => Written::Updated(sqlite::retry_later(db, token, *delay).await?),
    })
}

/// On PostgreSQL, one statement per kind of write, whatever their number:
/// a statement is a round trip, and the group waits for all of them.
async fn apply_postgres(db: &mut PgConnection, writes: &[&Write]) -> Result<Vec<Written>, StoreError> {
    let (mut inserts, mut completes, mut fails, mut retries) = (vec![], vec![], vec![], vec![]);
    for write in writes {
        match write {
            Write::Insert(new) => inserts.push(new),
            Write::Complete(token, result) => completes.push((token, result)),
            Write::Fail(token, code, message) => fails.push((token, *code, message.as_str())),
            Write::RetryLater(token, delay) => retries.push((token, *delay)),
        }
    }
    let mut left: HashMap<Uuid, Operation> = HashMap::with_capacity(writes.len());
    if !inserts.is_empty() {
        left.extend(by_id(postgres::insert_many(db, &inserts).await?));
    }
    if !completes.is_empty() {
        left.extend(by_id(postgres::complete_many(db, &completes).await?));
    }
    if !fails.is_empty() {
        left.extend(by_id(postgres::fail_many(db, &fails).await?));
    }
    if !retries.is_empty() {
        left.extend(by_id(postgres::retry_later_many(db, &retries).await?));
    }
    let mut ids = HashSet::with_capacity(writes.len());
    let mut written = Vec::with_capacity(writes.len());
    for write in writes {
        let (Write::Insert(NewOperation { id, .. })
        | Write::Complete(ClaimToken { id, .. }, _)
        | Write::Fail(ClaimToken { id, .. }, _, _)
        | Write::RetryLater(ClaimToken { id, .. }, _)) = write;
        // Rows are told apart by id: two writes of one operation in one
        // group would be indistinguishable, so they go one by one.
        if !ids.insert(*id) {
            return Err(StoreError::Internal(format!(
                "operation {id} written twice in one group"
            )));
        }
        let operation = left.remove(id);
        written.push(match write {
            Write::Insert(_) => Written::Inserted(operation),
            _ => Written::Updated(operation),
        });
    }
    Ok(written)
}

fn by_id(operations: Vec<Operation>) -> impl Iterator<Item = (Uuid, Operation)> {
    operations.into_iter().map(|operation| (operation.id, operation))
}
