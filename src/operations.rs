//! The operations as routes, workers and the sweeper use them: the store's
//! reads and writes, with every write of this process published to the
//! [`Changes`] (so that polls held in memory and waiting clients see it at
//! once), and polls answered from memory when they can be.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::serde::json::Value;
use rocket::{Build, Orbit, Rocket};
use uuid::Uuid;

use crate::auth::Caller;
use crate::changes::{feed, recheck, warm_up, Changes, Observed, PollCache};
use crate::config::OperationsConfig;
use crate::domain::{ErrorCode, Operation, ProgressReport};
use crate::report::Chain;
use crate::startup::{self, needs, StartError};
use crate::store::{
    ClaimToken, Claims, Created, Db, ExpiredLeases, Idempotency, ListQuery, Listed, NewOperation, Store,
    StoreError,
};
use crate::supervise::Supervisor;

/// The store with this process's writes published. Cheap to clone.
#[derive(Clone)]
pub struct Operations {
    store: Store,
    changes: Changes,
    unreadable: UnreadableRows,
}

impl Operations {
    pub fn new(store: Store, changes: Changes) -> Self {
        Operations {
            store,
            changes,
            unreadable: UnreadableRows::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// The operation as polls send it: from memory when it is held there,
    /// else read (together with other polls' misses), and kept for the next
    /// poll. Never writes.
    pub async fn observe(&self, id: Uuid) -> Result<Option<Observed>, StoreError> {
        let cache = self.changes.cache();
        if let Some(observed) = cache.get(id) {
            return Ok(Some(observed));
        }
        let ticket = cache.ticket(id);
        let found = self.unreadable.noted(self.store.find_gathered(id).await);
        let Some(operation) = found? else {
            return Ok(None);
        };
        let observed = Observed::new(&operation);
        cache.store(ticket, id, &observed);
        Ok(Some(observed))
    }

    /// The same, as `caller` may see it: one that belongs to someone else
    /// is answered as an unknown id is, after the database read an unknown
    /// id costs, so that neither the answer nor its time tells it exists.
    pub async fn observe_as(&self, id: Uuid, caller: &Caller) -> Result<Option<Observed>, StoreError> {
        match self.observe(id).await? {
            Some(observed) if !caller.may_see(observed.owner()) => {
                let _ = self.store.find_gathered(id).await;
                Ok(None)
            }
            seen => Ok(seen),
        }
    }

    /// The operation with this id, read from the database. Never writes.
    pub async fn find(&self, id: Uuid) -> Result<Option<Operation>, StoreError> {
        self.unreadable.noted(self.store.find(id).await)
    }

    /// What an earlier create of `owner` with this idempotency key made,
    /// if anything.
    pub async fn created_before(
        &self,
        owner: Option<&str>,
        idempotency: &Idempotency,
    ) -> Result<Option<Created>, StoreError> {
        self.unreadable
            .noted(self.store.created_before(owner, idempotency).await)
    }

    /// How many operations of `owner` are pending or processing.
    pub async fn count_unfinished_of(&self, owner: &str) -> Result<i64, StoreError> {
        self.store.count_unfinished_of(owner).await
    }

    /// A page of operations, newest first; rows that cannot be read are
    /// logged (once each) and reported in their place.
    pub async fn list(&self, query: &ListQuery<'_>) -> Result<Vec<Listed>, StoreError> {
        let listed = self.store.list(query).await?;
        Ok(listed
            .into_iter()
            .map(|row| Listed {
                key: row.key,
                operation: self.unreadable.noted(row.operation),
            })
            .collect())
    }

    /// Inserts a pending operation, unless its idempotency key was used.
    pub async fn create(&self, new: NewOperation) -> Result<Created, StoreError> {
        let writing = self.changes.writing(new.id);
        let created = self.unreadable.noted(self.store.create(new).await)?;
        writing.written(match &created {
            Created::New(operation) => Some(operation),
            Created::Existing(_) | Created::KeyReused => None,
        });
        Ok(created)
    }

    /// Claims the oldest pending operations that are due, at most `limit`.
    pub async fn claim(&self, worker: &str, lease: Duration, limit: u32) -> Result<Claims, StoreError> {
        let claims = self.store.claim(worker, lease, limit).await?;
        for claimed in &claims.claimed {
            self.changes.publish(claimed.token.id);
        }
        for unreadable in &claims.unreadable {
            match unreadable.id.parse() {
                Ok(id) => self.changes.publish(id),
                Err(_) => self.changes.publish_all(),
            }
        }
        Ok(claims)
    }

    /// Extends a claim; false when it was lost. Changes nothing clients see.
    pub async fn renew(&self, token: &ClaimToken, lease: Duration) -> Result<bool, StoreError> {
        self.store.renew(token, lease).await
    }

    /// processing → completed; the operation as it finished, `None` when
    /// the claim was lost.
    pub async fn complete(
        &self,
        token: &ClaimToken,
        result: &Value,
    ) -> Result<Option<Operation>, StoreError> {
        let writing = self.changes.writing(token.id);
        let completed = self.store.complete(token, result).await?;
        writing.written(completed.as_ref());
        Ok(completed)
    }

    /// processing → failed; the operation as it finished, `None` when the
    /// claim was lost.
    pub async fn fail(
        &self,
        token: &ClaimToken,
        code: ErrorCode,
        message: &str,
    ) -> Result<Option<Operation>, StoreError> {
        let writing = self.changes.writing(token.id);
        let failed = self.store.fail(token, code, message).await?;
        writing.written(failed.as_ref());
        Ok(failed)
    }

    /// processing → pending after `delay`; false when the claim was lost.
    pub async fn retry_later(&self, token: &ClaimToken, delay: Duration) -> Result<bool, StoreError> {
        let writing = self.changes.writing(token.id);
        Ok(writing.written(self.store.retry_later(token, delay).await?.as_ref()))
    }

    /// Records a running handler's progress; false when the claim was lost.
    pub async fn set_progress(
        &self,
        token: &ClaimToken,
        progress: &ProgressReport,
    ) -> Result<bool, StoreError> {
        let writing = self.changes.writing(token.id);
        Ok(writing.written(self.store.set_progress(token, progress).await?.as_ref()))
    }

    /// processing → pending at once, the attempt handed back; false when
    /// the claim was lost.
    pub async fn give_back(&self, token: &ClaimToken) -> Result<bool, StoreError> {
        let writing = self.changes.writing(token.id);
        Ok(writing.written(self.store.give_back(token).await?.as_ref()))
    }

    /// pending or processing → failed with `CANCELLED`; `None` when there
    /// was nothing to cancel.
    pub async fn cancel(&self, id: Uuid) -> Result<Option<Operation>, StoreError> {
        let writing = self.changes.writing(id);
        let cancelled = self.unreadable.noted(self.store.cancel(id).await)?;
        writing.written(cancelled.as_ref());
        Ok(cancelled)
    }

    /// Takes back the operations whose lease ran out.
    pub async fn expire_leases(
        &self,
        max_attempts: u32,
        max_attempts_by_type: &Value,
    ) -> Result<ExpiredLeases, StoreError> {
        let expired = self
            .store
            .expire_leases(max_attempts, max_attempts_by_type)
            .await?;
        for id in expired.requeued.iter().chain(&expired.failed) {
            self.changes.publish(*id);
        }
        Ok(expired)
    }

    /// Deletes finished operations last changed more than `age` ago;
    /// returns how many.
    pub async fn delete_finished_older_than(&self, age: Duration) -> Result<u64, StoreError> {
        let deleted = self.store.delete_finished_older_than(age).await?;
        for id in deleted.iter().flatten() {
            self.changes.publish(*id);
        }
        Ok(deleted.len() as u64)
    }
}

/// The rows that could not be read, each logged the first time it is met
/// (of the last [`UnreadableRows::REMEMBERED`]): a client polling one
/// should not fill the log.
#[derive(Clone, Default)]
struct UnreadableRows(Arc<Mutex<HashSet<String>>>);

impl UnreadableRows {
    const REMEMBERED: usize = 1024;

    fn noted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error @ StoreError::Unreadable { id, .. }) = &result {
            let mut logged = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if logged.len() >= Self::REMEMBERED {
                logged.clear();
            }
            if logged.insert(id.clone()) {
                tracing::error!(operation_id = id, error = %Chain(error), "operation.unreadable");
            }
        }
        result
    }
}

const PART: &str = "change tracking";

/// Tracks changes of operations for polls and waiting clients: manages the
/// [`Changes`] (waiters and the operations held in memory) and the
/// [`Operations`] over the store. Starts, at liftoff, the task that follows
/// the database's reports of changes and the re-check of watched
/// operations.
pub struct ChangeTracking {
    config: OperationsConfig,
}

impl ChangeTracking {
    pub fn new(config: &OperationsConfig) -> Self {
        ChangeTracking {
            config: config.clone(),
        }
    }

    fn start(&self, rocket: &Rocket<Build>) -> Result<Operations, StartError> {
        let store = needs::<Store>(rocket, PART)?;
        let cache = PollCache::new(self.config.cache_entries, self.config.cache_max_staleness());
        Ok(Operations::new(store, Changes::new(cache)))
    }
}

#[rocket::async_trait]
impl Fairing for ChangeTracking {
    fn info(&self) -> Info {
        Info {
            name: "Change tracking",
            kind: Kind::Ignite | Kind::Liftoff,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        match self.start(&rocket) {
            Ok(operations) => Ok(rocket.manage(operations.changes.clone()).manage(operations)),
            Err(e) => Err(startup::failed(rocket, e)),
        }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let (Some(operations), Some(supervisor)) =
            (rocket.state::<Operations>(), rocket.state::<Supervisor>())
        else {
            return;
        };
        let (store, changes, shutdown) = (
            operations.store.clone(),
            operations.changes.clone(),
            rocket.shutdown(),
        );
        // Twice per staleness allowed, so that a late reading still falls
        // within it.
        let every = self.config.cache_max_staleness() / 2;
        let (s, c, d) = (store.clone(), changes.clone(), shutdown.clone());
        let follow = move || feed::follow(s.clone(), c.clone(), every, d.clone());
        // SQLite's readings go to the database's own threads and back,
        // never through this runtime's IO: on a thread of its own the feed
        // keeps its pace while request tasks keep every worker busy, where
        // a reading late behind them would leave memory unconfirmed and
        // make every poll read the database, adding to the load.
        // PostgreSQL's markers go through connections of this runtime.
        match store.db() {
            Db::Sqlite(_) => {
                if let Err(e) = supervisor.spawn_on_own_thread("change feed", follow.clone()) {
                    tracing::warn!(error = %e, "change_feed.no_own_thread");
                    supervisor.spawn("change feed", follow);
                }
            }
            Db::Postgres(_) => {
                supervisor.spawn("change feed", follow);
            }
        }
        if let Some(within) = self.config.cache_warm_up() {
            rocket::tokio::spawn(warm_up::warm_up(store.clone(), changes.clone(), within));
        }
        let recheck_every = self.config.recheck();
        supervisor.spawn("re-check", move || {
            recheck::run(store.clone(), changes.clone(), recheck_every, shutdown.clone())
        });
    }
}
