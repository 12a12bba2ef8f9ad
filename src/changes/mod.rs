//! Who is waiting for which operation to change, and telling them when it
//! does. Waiters are long polls and event streams: each holds a
//! [`Subscription`], no database connection and no thread.
//!
//! Changes are heard three ways: from this process's own writes (the store
//! publishes each one), from the database's own reports of every change by
//! any process or program (SQLite's change log, PostgreSQL's `NOTIFY`), and
//! from a periodic re-check of the watched operations that covers whatever
//! else changed a row. The same changes keep the operations held in memory
//! for polls ([`PollCache`]) current.
//!
//! This module sits above the store (it reads the database's reports of
//! changes through it) and knows nothing of who writes: the layer above
//! both, [`Operations`](crate::operations::Operations), publishes each
//! write of this process.

mod cache;
pub mod feed;
mod markers;
mod observed;
pub mod recheck;
pub mod warm_up;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rocket::tokio::sync::{watch, Mutex as AsyncMutex};
use uuid::Uuid;

use crate::domain::Operation;
use crate::store::StoreError;

use cache::Ticket;
pub use cache::{CacheUsage, PollCache};
pub use observed::Observed;

/// The last read of a watched operation and the change it was made after.
type SharedRead = Arc<AsyncMutex<Option<(u64, Option<Observed>)>>>;

/// The waiters of this process, by operation, and the operations held in
/// memory for polls. Every change of an operation goes through
/// [`Changes::publish`], which drops it from memory before it wakes the
/// waiters, or through a [`Writing`] of this process, which puts the new
/// state there instead. Cheap to clone.
#[derive(Clone)]
pub struct Changes {
    watched: Arc<Mutex<HashMap<Uuid, Watched>>>,
    cache: Arc<PollCache>,
}

struct Watched {
    /// Bumped at every change; waiters see it move.
    version: watch::Sender<u64>,
    /// The ETag last seen, by a waiter or a re-check, so that a re-check
    /// wakes waiters only for a real change.
    last_etag: Option<String>,
    /// One read per change for all the waiters it wakes.
    shared_read: SharedRead,
}

impl Changes {
    pub fn new(cache: PollCache) -> Self {
        Changes {
            watched: Arc::default(),
            cache: Arc::new(cache),
        }
    }

    pub fn cache(&self) -> &PollCache {
        &self.cache
    }

    /// Starts watching `id`; changes published from now on reach the
    /// subscription.
    pub fn subscribe(&self, id: Uuid) -> Subscription {
        let mut watched = self.watched();
        let entry = watched.entry(id).or_insert_with(|| Watched {
            version: watch::Sender::new(0),
            last_etag: None,
            shared_read: SharedRead::default(),
        });
        Subscription {
            id,
            receiver: entry.version.subscribe(),
            shared_read: entry.shared_read.clone(),
            changes: self.clone(),
        }
    }

    /// The operation `id` changed.
    pub fn publish(&self, id: Uuid) {
        self.cache.remove(id);
        self.wake(id);
    }

    /// A write of this process to `id` begins; what it left is published by
    /// [`Writing::written`].
    pub fn writing(&self, id: Uuid) -> Writing {
        Writing {
            ticket: Some(self.cache.ticket(id)),
            id,
            changes: self.clone(),
        }
    }

    fn wake(&self, id: Uuid) {
        if let Some(watched) = self.watched().get(&id) {
            watched.version.send_modify(|version| *version += 1);
        }
    }

    /// Anything may have changed (notifications were lost).
    pub fn publish_all(&self) {
        self.cache.clear();
        for watched in self.watched().values() {
            watched.version.send_modify(|version| *version += 1);
        }
    }

    /// The operations someone is waiting for.
    pub fn watched_ids(&self) -> Vec<Uuid> {
        self.watched().keys().copied().collect()
    }

    /// Records what a re-check saw of `id` (`None`: gone) and publishes it
    /// if it differs from what was last seen.
    pub fn recheck(&self, id: Uuid, etag: Option<String>) {
        let mut watched = self.watched();
        let Some(entry) = watched.get_mut(&id) else { return };
        if entry.last_etag != etag {
            entry.last_etag = etag;
            self.cache.remove(id);
            entry.version.send_modify(|version| *version += 1);
        }
    }

    fn watched(&self) -> MutexGuard<'_, HashMap<Uuid, Watched>> {
        // Every update leaves the map consistent, so a panic elsewhere while
        // it was held does not make it unusable.
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A write of this process to one operation, from before it began until it
/// is published. Its ticket makes sure that a read of the operation that
/// began before the write is not kept after it.
pub struct Writing {
    /// `None` once published.
    ticket: Option<Ticket>,
    id: Uuid,
    changes: Changes,
}

impl Writing {
    /// The write left `operation` (`None`: it changed nothing). Polls find
    /// that state in memory without reading it back. Whether it wrote.
    pub fn written(mut self, operation: Option<&Operation>) -> bool {
        let (Some(ticket), Some(operation)) = (self.ticket.take(), operation) else {
            return false;
        };
        let changes = &self.changes;
        changes
            .cache
            .replace(ticket, self.id, || Observed::new(operation));
        changes.wake(self.id);
        true
    }
}

impl Drop for Writing {
    /// Its caller went away during the write, which may have committed.
    fn drop(&mut self) {
        if self.ticket.take().is_some() {
            self.changes.publish(self.id);
        }
    }
}

/// One waiter's interest in one operation; dropping it ends the interest.
pub struct Subscription {
    id: Uuid,
    receiver: watch::Receiver<u64>,
    shared_read: SharedRead,
    changes: Changes,
}

impl Subscription {
    /// Records the ETag this waiter just read, the baseline of re-checks.
    pub fn saw(&self, etag: &str) {
        if let Some(entry) = self.changes.watched().get_mut(&self.id) {
            entry.last_etag = Some(etag.to_owned());
        }
    }

    /// The operation as it is since the last change this subscription saw:
    /// the first waiter to ask reads it with `observe`, the others of the
    /// same change get that read. `None` once it is gone.
    pub async fn read<F, Fut>(&mut self, observe: F) -> Result<Option<Observed>, StoreError>
    where
        F: FnOnce(Uuid) -> Fut,
        Fut: Future<Output = Result<Option<Observed>, StoreError>>,
    {
        let seen = *self.receiver.borrow_and_update();
        let mut shared = self.shared_read.lock().await;
        if let Some((read_after, observed)) = &*shared {
            if *read_after >= seen {
                return Ok(observed.clone());
            }
        }
        // Started after change `seen` was published, so it reflects it.
        let observed = observe(self.id).await?;
        *shared = Some((seen, observed.clone()));
        Ok(observed)
    }

    /// Resolves at the next change published after the last one seen.
    pub async fn changed(&mut self) {
        if self.receiver.changed().await.is_err() {
            // The entry is gone only once every subscription is: never here.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut watched = self.changes.watched();
        // This subscription's receiver still counts until it is dropped.
        if watched
            .get(&self.id)
            .is_some_and(|w| w.version.receiver_count() <= 1)
        {
            watched.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rocket::tokio::time::timeout;

    use super::*;

    const SOON: Duration = Duration::from_millis(50);

    fn without_cache() -> Changes {
        Changes::new(PollCache::new(0, Duration::ZERO))
    }

    #[rocket::async_test]
    async fn a_published_change_wakes_the_subscriber_of_that_operation_only() {
        let changes = without_cache();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut watching_a = changes.subscribe(a);
        let mut watching_b = changes.subscribe(b);

        changes.publish(a);

        assert!(timeout(SOON, watching_a.changed()).await.is_ok());
        assert!(timeout(SOON, watching_b.changed()).await.is_err());
    }

    #[rocket::async_test]
    async fn a_change_published_before_the_wait_is_not_missed() {
        let changes = without_cache();
        let id = Uuid::new_v4();
        let mut subscription = changes.subscribe(id);

        changes.publish(id);

        assert!(timeout(SOON, subscription.changed()).await.is_ok());
    }

    #[rocket::async_test]
    async fn the_entry_goes_when_the_last_subscription_does() {
        let changes = without_cache();
        let id = Uuid::new_v4();
        let first = changes.subscribe(id);
        let second = changes.subscribe(id);

        drop(first);
        assert_eq!(changes.watched_ids(), [id]);
        drop(second);
        assert!(changes.watched_ids().is_empty());
    }

    #[rocket::async_test]
    async fn a_recheck_wakes_only_when_the_etag_moved() {
        let changes = without_cache();
        let id = Uuid::new_v4();
        let mut subscription = changes.subscribe(id);
        subscription.saw("\"a\"");

        changes.recheck(id, Some("\"a\"".to_owned()));
        assert!(timeout(SOON, subscription.changed()).await.is_err());
        changes.recheck(id, Some("\"b\"".to_owned()));
        assert!(timeout(SOON, subscription.changed()).await.is_ok());
        changes.recheck(id, None);
        assert!(
            timeout(SOON, subscription.changed()).await.is_ok(),
            "deleted is a change"
        );
    }
}
