//! The operations being polled, held in memory as they are sent: body and
//! ETag, ready to write. A poll that finds its operation here reads no
//! database.
//!
//! Coherence: every change published by [`Changes`](super::Changes) —
//! this process's own writes, and what the database reports of everyone
//! else's — removes the entry before any waiter is woken. A read from the
//! database that a change overtook is not kept: each shard counts its
//! removals, and a [`Ticket`] taken before the read must still match when
//! the result is stored. What others change is only known through the
//! change feed, so entries are served only while the feed is current:
//! within `max_staleness` of its last complete reading.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hashlink::LruCache;
use uuid::Uuid;

use super::Observed;

/// Enough shards that polls on one core and writes on others rarely meet.
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

pub struct PollCache {
    shards: Box<[Mutex<Shard>]>,
    /// The most entries held, all shards together.
    capacity: usize,
    /// Entries held, all shards together.
    held: AtomicUsize,
    /// The clock entries are served against.
    epoch: Instant,
    /// Entries may be served until this many microseconds after `epoch`;
    /// 0 while the change feed is not current.
    served_until_us: AtomicU64,
    max_staleness: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What polls found in memory since the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheUsage {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

struct Shard {
    entries: LruCache<Uuid, Observed>,
    /// Bumped by every removal, so that a read it overtook is not stored.
    removals: u64,
}

/// Taken before reading an operation from the database; storing the read
/// succeeds only if no change of its shard came in between.
pub struct Ticket {
    shard: usize,
    removals: u64,
}

/// [`Ticket`]s of every shard.
pub struct Tickets(Box<[u64]>);

impl PollCache {
    /// Holds at most `capacity` operations (0: none, every poll reads the
    /// database), served while the feed confirmed them within
    /// `max_staleness`.
    pub fn new(capacity: usize, max_staleness: Duration) -> Self {
        // Shards have no bound of their own: ids never spread evenly, and a
        // shard a little over an even share would drop, in a cycle, each
        // entry just before it is polled again.
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    entries: LruCache::new_unbounded(),
                    removals: 0,
                })
            })
            .collect();
        PollCache {
            shards,
            capacity,
            held: AtomicUsize::new(0),
            epoch: Instant::now(),
            served_until_us: AtomicU64::new(0),
            max_staleness,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The operation as last read, when it is held and the feed is current.
    pub fn get(&self, id: Uuid) -> Option<Observed> {
        let found = match self.is_current() {
            true => self.shard(self.shard_of(id)).entries.get(&id).cloned(),
            false => None,
        };
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// To be taken before reading `id` from the database.
    pub fn ticket(&self, id: Uuid) -> Ticket {
        let shard = self.shard_of(id);
        Ticket {
            shard,
            removals: self.shard(shard).removals,
        }
    }

    /// To be taken before reading operations not known in advance: a
    /// ticket for every shard.
    pub fn tickets(&self) -> Tickets {
        Tickets((0..SHARDS).map(|shard| self.shard(shard).removals).collect())
    }

    /// Keeps what was read with `tickets`, as [`PollCache::store`] does.
    pub fn store_read_with(&self, tickets: &Tickets, id: Uuid, observed: &Observed) {
        let shard = self.shard_of(id);
        let ticket = Ticket {
            shard,
            removals: tickets.0[shard],
        };
        self.store(ticket, id, observed);
    }

    /// The most entries held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keeps what was read with `ticket`, unless a change came in between.
    /// When full, drops the least recently polled entry of the same shard.
    pub fn store(&self, ticket: Ticket, id: Uuid, observed: &Observed) {
        if self.capacity == 0 {
            return;
        }
        let mut shard = self.shard(ticket.shard);
        if shard.removals == ticket.removals {
            self.hold(&mut shard, id, observed.clone());
        }
    }

    /// This process changed `id` to `written`, with `ticket` taken before
    /// its write began: `written` is held unless another change came in
    /// between (whose order against this write is unknown: then nothing is
    /// held). Either way, reads that began before are not kept.
    pub fn replace(&self, ticket: Ticket, id: Uuid, written: impl FnOnce() -> Observed) {
        if self.capacity == 0 {
            return self.remove(id);
        }
        let written = written();
        let mut shard = self.shard(ticket.shard);
        if shard.removals != ticket.removals {
            drop(shard);
            return self.remove(id);
        }
        shard.removals += 1;
        self.hold(&mut shard, id, written);
    }

    /// Holds `observed` as `id`; when full, drops the least recently polled
    /// entry of the same shard.
    fn hold(&self, shard: &mut Shard, id: Uuid, observed: Observed) {
        if shard.entries.insert(id, observed).is_some() {
            return;
        }
        if self.held.fetch_add(1, Ordering::Relaxed) >= self.capacity && shard.entries.remove_lru().is_some()
        {
            self.held.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// `id` changed.
    pub fn remove(&self, id: Uuid) {
        let mut shard = self.shard(self.shard_of(id));
        shard.removals += 1;
        if shard.entries.remove(&id).is_some() {
            self.held.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Anything may have changed.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            shard.removals += 1;
            self.held.fetch_sub(shard.entries.len(), Ordering::Relaxed);
            shard.entries.clear();
        }
    }

    /// The change feed has applied every change committed before
    /// `read_started`: entries may be served until `max_staleness` after it.
    pub fn confirm(&self, read_started: Instant) {
        let until = read_started.saturating_duration_since(self.epoch) + self.max_staleness;
        self.served_until_us.fetch_max(micros(until), Ordering::Release);
    }

    pub fn usage(&self) -> CacheUsage {
        CacheUsage {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.held.load(Ordering::Relaxed),
        }
    }

    /// Whether entries may be served now: the change feed has confirmed
    /// them within the staleness allowed.
    pub fn is_current(&self) -> bool {
        self.is_current_at(Instant::now())
    }

    /// Whether entries may be served at `now`.
    fn is_current_at(&self, now: Instant) -> bool {
        let now = micros(now.saturating_duration_since(self.epoch));
        now < self.served_until_us.load(Ordering::Acquire)
    }

    fn shard_of(&self, id: Uuid) -> usize {
        // Ids are mostly random, but another program may write ordered
        // ones (UUIDv7): mix every bit in, multiplicatively, and take the
        // top bits.
        let (high, low) = id.as_u64_pair();
        let mixed = (high ^ low).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> (64 - SHARD_BITS)) as usize
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        lock(&self.shards[index])
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // Every update leaves a shard consistent; a panic elsewhere while it
    // was held does not make it unusable.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Operation, Status};

    const FRESH: Duration = Duration::from_secs(60);

    fn observed(result: &str) -> Observed {
        let now = chrono::Utc::now();
        Observed::new(&Operation {
            id: Uuid::nil(),
            operation_type: "echo".to_owned(),
            status: Status::Completed,
            result: Some(result.into()),
            error_message: None,
            error_code: None,
            attempts: 1,
            progress: None,
            created_at: now,
            updated_at: now,
            owner: None,
            callback_url: None,
        })
    }

    fn current(capacity: usize) -> PollCache {
        let cache = PollCache::new(capacity, FRESH);
        cache.confirm(Instant::now());
        cache
    }

    #[test]
    fn a_stored_read_is_served_until_its_operation_changes() {
        let cache = current(100);
        let id = Uuid::new_v4();
        cache.store(cache.ticket(id), id, &observed("a"));
        let held = cache.get(id).map(|o| o.body().to_owned());
        assert!(held.is_some_and(|body| body.contains(r#""result":"a""#)));
        cache.remove(id);
        assert!(cache.get(id).is_none());
    }

    #[test]
    fn a_read_overtaken_by_a_change_is_not_kept() {
        let cache = current(100);
        let id = Uuid::new_v4();
        let ticket = cache.ticket(id);
        cache.remove(id);
        cache.store(ticket, id, &observed("stale"));
        assert!(cache.get(id).is_none());
    }

    #[test]
    fn an_own_write_is_held_as_written_and_overtakes_reads_begun_before_it() {
        let cache = current(100);
        let id = Uuid::new_v4();
        cache.store(cache.ticket(id), id, &observed("before"));
        let read_before = cache.ticket(id);

        cache.replace(cache.ticket(id), id, || observed("written"));
        cache.store(read_before, id, &observed("before"));

        let held = cache.get(id).map(|o| o.body().to_owned());
        assert!(held.is_some_and(|body| body.contains(r#""result":"written""#)));
    }

    #[test]
    fn an_own_write_that_another_change_overtook_is_not_held() {
        let cache = current(100);
        let id = Uuid::new_v4();
        cache.store(cache.ticket(id), id, &observed("before"));
        let writing = cache.ticket(id);

        // Another change, whose order against the write is unknown.
        cache.remove(id);
        cache.replace(writing, id, || observed("written"));

        assert!(cache.get(id).is_none());
    }

    #[test]
    fn nothing_is_served_before_the_feed_confirms() {
        let cache = PollCache::new(100, FRESH);
        let id = Uuid::new_v4();
        cache.store(cache.ticket(id), id, &observed("a"));
        assert!(cache.get(id).is_none(), "not confirmed yet");
        cache.confirm(Instant::now());
        assert!(cache.get(id).is_some());
        assert_eq!(
            cache.usage(),
            CacheUsage {
                hits: 1,
                misses: 1,
                entries: 1
            }
        );
    }

    #[test]
    fn clearing_drops_every_entry_and_the_reads_it_overtook() {
        let cache = current(100);
        let (held, being_read) = (Uuid::new_v4(), Uuid::new_v4());
        cache.store(cache.ticket(held), held, &observed("a"));
        let ticket = cache.ticket(being_read);
        cache.clear();
        cache.store(ticket, being_read, &observed("b"));
        assert_eq!(cache.usage().entries, 0);
    }

    #[test]
    fn entries_are_not_served_longer_than_the_staleness_allows_after_a_confirmation() {
        let cache = PollCache::new(100, Duration::from_millis(20));
        let confirmed = Instant::now();
        cache.confirm(confirmed);
        assert!(cache.is_current_at(confirmed + Duration::from_millis(19)));
        assert!(!cache.is_current_at(confirmed + Duration::from_millis(20)));
    }

    #[test]
    fn the_least_recently_polled_of_its_shard_goes_first_when_full() {
        let cache = current(2);
        let first = Uuid::new_v4();
        let same_shard = || {
            std::iter::repeat_with(Uuid::new_v4)
                .find(|id| cache.shard_of(*id) == cache.shard_of(first))
                .unwrap_or(first)
        };
        let (second, third) = (same_shard(), same_shard());
        cache.store(cache.ticket(first), first, &observed("first"));
        cache.store(cache.ticket(second), second, &observed("second"));
        assert!(cache.get(first).is_some(), "now more recently polled than second");
        cache.store(cache.ticket(third), third, &observed("third"));
        assert!(cache.get(second).is_none());
        assert!(cache.get(first).is_some() && cache.get(third).is_some());
        assert_eq!(cache.usage().entries, 2);
    }

    #[test]
    fn as_many_entries_as_allowed_are_held_however_they_spread_over_shards() {
        let cache = current(1000);
        let ids: Vec<Uuid> = (0..1000).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            cache.store(cache.ticket(*id), *id, &observed("a"));
        }
        assert!(ids.iter().all(|id| cache.get(*id).is_some()));
        let one_more = Uuid::new_v4();
        cache.store(cache.ticket(one_more), one_more, &observed("b"));
        assert_eq!(cache.usage().entries, 1000);
    }

    #[test]
    fn a_cache_of_no_entries_holds_nothing() {
        let cache = current(0);
        let id = Uuid::new_v4();
        cache.store(cache.ticket(id), id, &observed("a"));
        assert!(cache.get(id).is_none());
        assert_eq!(cache.usage().entries, 0);
    }
}
