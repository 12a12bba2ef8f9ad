//! After a restart every client keeps polling, and the memory for polls
//! is empty: each operation would be read on its own at its first poll.
//! The ones most likely to be polled next, every unfinished operation and
//! those finished within `cache_warm_up_secs`, are read ahead in two
//! statements instead.
//!
//! In the background, never delaying readiness: polls that come first
//! read the database as before. It begins once the change feed is
//! current, so that no change made after the read goes unheard, and what
//! a change overtook is not kept (see [`PollCache`]). Bounded in memory
//! and in time: at most [`MOST`] operations of each kind (and no more
//! than memory holds), kept only if read within [`TIME`].
//!
//! [`PollCache`]: super::PollCache

use std::time::Duration;

use rocket::tokio::time::{self, Instant};

use super::{Changes, Observed};
use crate::report::Chain;
use crate::store::Store;

/// Operations read ahead, of each kind.
const MOST: usize = 10_000;
/// The longest the read ahead may take.
const TIME: Duration = Duration::from_secs(1);
/// The longest to wait for the change feed to be current.
const FEED: Duration = Duration::from_secs(10);

/// Reads the operations likely to be polled into memory, once.
pub async fn warm_up(store: Store, changes: Changes, finished_within: Duration) {
    let cache = changes.cache();
    let most = MOST.min(cache.capacity());
    if most == 0 {
        return;
    }
    let waiting_since = Instant::now();
    while !cache.is_current() {
        if waiting_since.elapsed() > FEED {
            tracing::warn!(
                reason = "the change feed was not current",
                "poll_cache.warm_up_skipped"
            );
            return;
        }
        // A pause between checks of a condition that has no signal.
        time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    let tickets = cache.tickets();
    match time::timeout(TIME, store.find_likely_polled(finished_within, most)).await {
        Ok(Ok(operations)) => {
            let mut read = 0;
            // A row that cannot be read is left for its poll to report.
            for operation in operations.into_iter().flatten() {
                cache.store_read_with(&tickets, operation.id, &Observed::new(&operation));
                read += 1;
            }
            tracing::info!(
                read,
                took_ms = started.elapsed().as_millis() as u64,
                "poll_cache.warmed_up"
            );
        }
        Ok(Err(e)) => tracing::warn!(error = %Chain(&e), "poll_cache.warm_up_failed"),
        Err(_) => tracing::warn!(
            reason = "the read took too long",
            limit_ms = TIME.as_millis() as u64,
            "poll_cache.warm_up_skipped"
        ),
    }
}
