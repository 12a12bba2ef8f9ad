//! Reads of operations that polls did not find in memory, gathered: the
//! misses waiting at the same moment share one query, so a burst of first
//! polls or of unknown ids costs a few database round trips, not one each.
//! A read that finds nothing waiting is sent at once.
//!
//! Readers take turns (one on SQLite, a few on PostgreSQL): while a query
//! is out, what arrives meanwhile gathers for the next. Each keeps its
//! connection while reads keep coming, rather than giving it back to the
//! pool after every query ([`Connection`] says what that costs), unless the
//! pool has no other connection to give. Measured in BENCHMARKS.md ("Cold
//! polls after a restart").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rocket::tokio::sync::{mpsc, oneshot, Mutex};
use rocket::tokio::{self, time};
use uuid::Uuid;

use super::db::{Column, Connection, Db, Param};
use super::record;
use super::statements::Statements;
use super::StoreError;
use crate::domain::Operation;

/// The most ids one query asks for.
const MAX_BATCH: usize = 128;
/// Readers, and so queries in flight at once, well below the pool's
/// size, which writes need too. A PostgreSQL query waits on the network:
/// with several out, the next batches gather and leave meanwhile. A SQLite
/// query runs on its connection's own thread, beside the requests: one at
/// a time, each takes all that gathered while the last ran, in fewer,
/// larger batches, with fewer threads to switch between (first polls after
/// a restart: 7 % less CPU, BENCHMARKS.md).
fn readers(db: &Db) -> usize {
    match db {
        Db::Sqlite(_) => 1,
        Db::Postgres(_) => 4,
    }
}

/// How long a reader keeps its connection with nothing to read: long
/// enough to span the gaps of a steady stream of misses, short enough that
/// an idle service soon holds none (and the pool can close at shutdown).
const LINGER: Duration = Duration::from_millis(50);

type Reply = oneshot::Sender<Result<Option<Arc<Operation>>, StoreError>>;
type Waiting = Arc<Mutex<mpsc::UnboundedReceiver<(Uuid, Reply)>>>;

/// The queue of the readers. Cheap to clone.
#[derive(Clone)]
pub(super) struct BatchedReads {
    queue: mpsc::UnboundedSender<(Uuid, Reply)>,
}

impl BatchedReads {
    /// Starts the readers; they end when the last clone is dropped.
    pub fn start(db: Db, statements: Arc<Statements>) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        let waiting: Waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..readers(&db) {
            tokio::spawn(read_in_batches(
                db.clone(),
                Arc::clone(&statements),
                Arc::clone(&waiting),
            ));
        }
        BatchedReads { queue }
    }

    /// The operation with this id, if there is one.
    pub async fn find(&self, id: Uuid) -> Result<Option<Arc<Operation>>, StoreError> {
        let (reply, found) = oneshot::channel();
        let stopped = || StoreError::Stopped("batched reads");
        self.queue.send((id, reply)).map_err(|_| stopped())?;
        found.await.map_err(|_| stopped())?
    }
}

/// One reader: takes what is waiting whenever it is its turn, and answers
/// it over the connection it keeps while reads keep coming.
async fn read_in_batches(db: Db, statements: Arc<Statements>, waiting: Waiting) {
    let mut kept: Option<Connection> = None;
    loop {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let next = async { waiting.lock().await.recv_many(&mut batch, MAX_BATCH).await };
        let received = match kept {
            // Both the lock and recv_many are cancel safe: nothing is lost.
            Some(_) => match time::timeout(LINGER, next).await {
                Ok(received) => received,
                Err(_) => {
                    kept = None;
                    continue;
                }
            },
            None => next.await,
        };
        if received == 0 {
            return;
        }
        let connection = match kept.take() {
            Some(connection) => connection,
            None => match db.acquire().await {
                Ok(connection) => connection,
                Err(error) => {
                    answer_all(batch, &error);
                    continue;
                }
            },
        };
        // On a task of its own, so that a panic answering one batch fails
        // that batch (its callers see the reads stopped), not the reader.
        let statements = Arc::clone(&statements);
        kept = tokio::spawn(answer(connection, statements, batch))
            .await
            .ok()
            .flatten()
            // Never the pool's last connection: writes and the workers must
            // not wait behind a stream of misses.
            .filter(|_| db.has_spare());
    }
}

/// Answers each read of `batch` as if it were alone: a row that cannot be
/// read is the answer of its own read only. Gives the connection back
/// unless the query failed, which may have broken it.
async fn answer(
    mut connection: Connection,
    statements: Arc<Statements>,
    batch: Vec<(Uuid, Reply)>,
) -> Option<Connection> {
    let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
    match read(&mut connection, &statements, ids).await {
        Ok(answers) => {
            for (id, reply) in batch {
                // Several reads of one operation may wait in a batch: they
                // share the one read. A caller that went away no longer
                // needs its answer.
                let _ = reply.send(answers.get(&id).cloned().unwrap_or(Ok(None)));
            }
            Some(connection)
        }
        Err(error) => {
            answer_all(batch, &error);
            None
        }
    }
}

type Answers = HashMap<Uuid, Result<Option<Arc<Operation>>, StoreError>>;

/// The answer for each of `ids`: from one JSON text where the backend
/// has that statement, else (or if a row there is not in the form the
/// service writes, or the statement failed on a value JSON cannot hold)
/// row by row.
async fn read(
    connection: &mut Connection,
    statements: &Statements,
    ids: Vec<Uuid>,
) -> Result<Answers, StoreError> {
    if let Some(sql) = &statements.find_many_as_json {
        let param = Param::Column(Column::Ids(ids.clone()));
        let rows = connection.rows(sql, vec![param]).await;
        if let Some(operations) = rows.ok().as_deref().and_then(record::operations_from_json) {
            // What the array does not hold does not exist.
            return Ok(operations
                .into_iter()
                .map(|operation| (operation.id, Ok(Some(Arc::new(operation)))))
                .collect());
        }
    }
    let rows = match ids.as_slice() {
        [id] => connection.rows(&statements.find, vec![Param::Id(*id)]).await?,
        _ => {
            connection
                .rows(&statements.find_many, vec![Param::Column(Column::Ids(ids))])
                .await?
        }
    };
    Ok(record::operations_by_id(&rows)
        .into_iter()
        .map(|(id, read)| (id, read.map(|operation| Some(Arc::new(operation)))))
        .collect())
}

fn answer_all(batch: Vec<(Uuid, Reply)>, error: &StoreError) {
    for (_, reply) in batch {
        let _ = reply.send(Err(error.clone()));
    }
}
