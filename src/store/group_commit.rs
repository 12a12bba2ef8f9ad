//! Group commit: the writes that every operation makes — its creation and
//! how its run ended — go through one task that applies whatever is
//! waiting together, one statement per kind of write. One commit (one
//! fsync, and on PostgreSQL one turn of the lock that orders `NOTIFY`s)
//! then serves many operations; a write that finds nothing waiting is
//! applied at once.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use rocket::futures::FutureExt;
use rocket::serde::json::Value;
use rocket::tokio::{self, sync::mpsc, sync::oneshot};
use uuid::Uuid;

use super::db::{Column, Db, Param};
use super::record;
use super::statements::Statements;
use super::{ClaimToken, NewOperation, StoreError};
use crate::domain::{ErrorCode, Operation};

/// The most writes one group takes.
const MAX_BATCH: usize = 128;

pub(super) enum Write {
    Insert(NewOperation),
    Complete(ClaimToken, Value),
    Fail(ClaimToken, ErrorCode, String),
    RetryLater(ClaimToken, Duration),
}

impl Write {
    fn id(&self) -> Uuid {
        match self {
            Write::Insert(new) => new.id,
            Write::Complete(token, _) | Write::Fail(token, _, _) | Write::RetryLater(token, _) => token.id,
        }
    }
}

/// What a write left: the row inserted or updated (or why it cannot be
/// read); `None` when an insert's idempotency key was taken, or an
/// update's claim was lost.
type Written = Option<Result<Operation, StoreError>>;

type Reply = oneshot::Sender<Result<Written, StoreError>>;

/// The queue of the committing task. Cheap to clone.
#[derive(Clone)]
pub(super) struct GroupCommit {
    queue: mpsc::UnboundedSender<(Write, Reply)>,
}

impl GroupCommit {
    /// Starts the committing task; it ends when the last clone is dropped.
    pub fn start(db: Db, statements: Arc<Statements>) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(commit_in_groups(db, statements, waiting));
        GroupCommit { queue }
    }

    /// What the write left; `None` when it wrote nothing.
    pub async fn write(&self, write: Write) -> Result<Option<Operation>, StoreError> {
        let (reply, written) = oneshot::channel();
        let stopped = || StoreError::Stopped("group commit");
        self.queue.send((write, reply)).map_err(|_| stopped())?;
        written.await.map_err(|_| stopped())??.transpose()
    }
}

async fn commit_in_groups(
    db: Db,
    statements: Arc<Statements>,
    mut waiting: mpsc::UnboundedReceiver<(Write, Reply)>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (writes, replies): (Vec<Write>, Vec<Reply>) = batch.drain(..).unzip();
        // A fault (a panic) fails this group's writes, not the task: the
        // next group is written as usual.
        let results = AssertUnwindSafe(commit(&db, &statements, &writes))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(writes = writes.len(), "group_commit.panicked");
                let failed = || Err(StoreError::Unexpected("a write failed on an internal fault"));
                writes.iter().map(|_| failed()).collect()
            });
        for (reply, result) in replies.into_iter().zip(results) {
            // A caller that went away no longer needs its answer.
            let _ = reply.send(result);
        }
    }
}

/// Writes a group: together when it can, else (or when that failed) one
/// by one, so that only a write that fails says so.
async fn commit(db: &Db, statements: &Statements, writes: &[Write]) -> Vec<Result<Written, StoreError>> {
    match writes.len() > 1 && has_one_write_per_operation(writes) {
        true => match apply(db, statements, writes).await {
            Ok(written) => written.into_iter().map(Ok).collect(),
            Err(_) => one_by_one(db, statements, writes).await,
        },
        // One write; or two of one operation, which a group could not tell
        // apart (rows are told apart by id).
        false => one_by_one(db, statements, writes).await,
    }
}

async fn one_by_one(db: &Db, statements: &Statements, writes: &[Write]) -> Vec<Result<Written, StoreError>> {
    let mut results = Vec::with_capacity(writes.len());
    for write in writes {
        let alone = apply(db, statements, std::slice::from_ref(write)).await;
        results.push(alone.map(|mut written| written.pop().flatten()));
    }
    results
}

/// Applies `writes`, one statement per kind, in one transaction when there
/// are several kinds: what each left, in order, each row read on its own.
async fn apply(db: &Db, statements: &Statements, writes: &[Write]) -> Result<Vec<Written>, StoreError> {
    let kinds = Kinds::of(writes);
    let mut rows = Vec::with_capacity(writes.len());
    let statements_to_run = kinds.statements(statements);
    if statements_to_run.len() == 1 {
        for (sql, params) in statements_to_run {
            rows.extend(db.rows(sql, params).await?);
        }
    } else {
        let mut transaction = db.begin().await?;
        for (sql, params) in statements_to_run {
            rows.extend(transaction.rows(sql, params).await?);
        }
        transaction.commit().await?;
    }
    let mut left = record::operations_by_id(&rows);
    Ok(writes.iter().map(|write| left.remove(&write.id())).collect())
}

fn has_one_write_per_operation(writes: &[Write]) -> bool {
    let mut ids = HashSet::with_capacity(writes.len());
    writes.iter().all(|write| ids.insert(write.id()))
}

/// The writes of a group, by kind.
#[derive(Default)]
struct Kinds<'a> {
    inserts: Vec<&'a NewOperation>,
    completes: Vec<(&'a ClaimToken, &'a Value)>,
    fails: Vec<(&'a ClaimToken, ErrorCode, &'a str)>,
    retries: Vec<(&'a ClaimToken, Duration)>,
}

impl<'a> Kinds<'a> {
    fn of(writes: &'a [Write]) -> Self {
        let mut kinds = Kinds::default();
        for write in writes {
            match write {
                Write::Insert(new) => kinds.inserts.push(new),
                Write::Complete(token, result) => kinds.completes.push((token, result)),
                Write::Fail(token, code, message) => kinds.fails.push((token, *code, message)),
                Write::RetryLater(token, delay) => kinds.retries.push((token, *delay)),
            }
        }
        kinds
    }

    /// One statement per kind present, with its columns.
    fn statements(self, s: &'a Statements) -> Vec<(&'a str, Vec<Param<'a>>)> {
        let mut run = Vec::with_capacity(4);
        if !self.inserts.is_empty() {
            let new = &self.inserts;
            let idempotency = |part: fn(&'a super::Idempotency) -> &'a str| {
                new.iter().map(|n| n.idempotency.as_ref().map(part)).collect()
            };
            let columns = vec![
                Column::Ids(new.iter().map(|n| n.id).collect()),
                Column::Texts(new.iter().map(|n| Some(n.operation_type.as_str())).collect()),
                Column::Json(new.iter().map(|n| n.input.to_string()).collect()),
                Column::Texts(idempotency(|k| k.key.as_str())),
                Column::Texts(idempotency(|k| k.request_hash.as_str())),
                Column::Texts(
                    new.iter()
                        .map(|n| Some(n.owner.as_deref().unwrap_or_default()))
                        .collect(),
                ),
                Column::Texts(new.iter().map(|n| n.callback_url.as_deref()).collect()),
            ];
            run.push((s.insert.as_str(), params(columns)));
        }
        if !self.completes.is_empty() {
            let tokens = self.completes.iter().map(|(token, _)| *token);
            let mut columns = claim_columns(tokens);
            columns.push(Column::Json(
                self.completes.iter().map(|(_, r)| r.to_string()).collect(),
            ));
            run.push((s.complete.as_str(), params(columns)));
        }
        if !self.fails.is_empty() {
            let mut columns = claim_columns(self.fails.iter().map(|(token, _, _)| *token));
            columns.push(Column::Texts(
                self.fails
                    .iter()
                    .map(|(_, code, _)| Some(code.as_str()))
                    .collect(),
            ));
            columns.push(Column::Texts(
                self.fails.iter().map(|(_, _, message)| Some(*message)).collect(),
            ));
            run.push((s.fail.as_str(), params(columns)));
        }
        if !self.retries.is_empty() {
            let mut columns = claim_columns(self.retries.iter().map(|(token, _)| *token));
            columns.push(Column::Seconds(
                self.retries.iter().map(|(_, d)| d.as_secs_f64()).collect(),
            ));
            run.push((s.retry_later.as_str(), params(columns)));
        }
        run
    }
}

/// The columns that name each claim: id, worker, attempt.
fn claim_columns<'a>(tokens: impl Iterator<Item = &'a ClaimToken> + Clone) -> Vec<Column<'a>> {
    vec![
        Column::Ids(tokens.clone().map(|t| t.id).collect()),
        Column::Texts(tokens.clone().map(|t| Some(t.worker.as_str())).collect()),
        Column::Ints(tokens.map(|t| t.attempt).collect()),
    ]
}

fn params(columns: Vec<Column<'_>>) -> Vec<Param<'_>> {
    columns.into_iter().map(Param::Column).collect()
}
