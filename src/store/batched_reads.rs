//! Reads of operations that polls did not find in memory, gathered: the
//! misses waiting at the same moment share one query, so a burst of first
//! polls or of unknown ids costs a few database round trips, not one each.
//! A read that finds nothing waiting is sent at once.

use std::collections::HashMap;
use std::sync::Arc;

use rocket::tokio::{self, sync::mpsc, sync::oneshot, sync::Semaphore};
use uuid::Uuid;

use super::db::{Column, Db, Param};
use super::record;
use super::statements::Statements;
use super::StoreError;
use crate::domain::Operation;

/// The most ids one query asks for.
const MAX_BATCH: usize = 128;
/// Queries in flight at once: enough that the next batch gathers while the
/// database answers, and well below the pool's size, which writes need too.
const IN_FLIGHT: usize = 4;

type Reply = oneshot::Sender<Result<Option<Arc<Operation>>, StoreError>>;

/// The queue of the reading task. Cheap to clone.
#[derive(Clone)]
pub(super) struct BatchedReads {
    queue: mpsc::UnboundedSender<(Uuid, Reply)>,
}

impl BatchedReads {
    /// Starts the reading task; it ends when the last clone is dropped.
    pub fn start(db: Db, statements: Arc<Statements>) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(read_in_batches(db, statements, waiting));
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

async fn read_in_batches(
    db: Db,
    statements: Arc<Statements>,
    mut waiting: mpsc::UnboundedReceiver<(Uuid, Reply)>,
) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    // The permit is taken before the batch: while every query is out, what
    // arrives waits in the queue and goes out together.
    while let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if waiting.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let (db, statements) = (db.clone(), Arc::clone(&statements));
        tokio::spawn(async move {
            answer(&db, &statements, batch).await;
            drop(permit);
        });
    }
}

/// Answers each read of `batch` as if it were alone: a row that cannot be
/// read is the answer of its own read only.
async fn answer(db: &Db, statements: &Statements, batch: Vec<(Uuid, Reply)>) {
    let rows = match batch.as_slice() {
        [(id, _)] => db.rows(&statements.find, vec![Param::Id(*id)]).await,
        _ => {
            let ids = batch.iter().map(|(id, _)| *id).collect();
            db.rows(&statements.find_many, vec![Param::Column(Column::Ids(ids))])
                .await
        }
    };
    match rows {
        Ok(rows) => {
            // Several reads of one operation may wait in a batch: they share
            // the one read.
            let by_id: HashMap<_, _> = record::operations_by_id(&rows)
                .into_iter()
                .map(|(id, read)| (id, read.map(Arc::new)))
                .collect();
            for (id, reply) in batch {
                // A caller that went away no longer needs its answer.
                let _ = reply.send(by_id.get(&id).cloned().transpose());
            }
        }
        Err(error) => {
            for (_, reply) in batch {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}
