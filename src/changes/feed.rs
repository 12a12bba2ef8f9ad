//! The database's reports of changes, whoever made them, applied to
//! [`Changes`]: on SQLite by following the change log, on PostgreSQL by
//! listening for `NOTIFY`. Each reading that is known to be complete
//! confirms the operations held in memory (see [`PollCache`]).
//!
//! [`PollCache`]: super::PollCache

use std::time::Duration;

use rocket::tokio::time::{self, Instant, MissedTickBehavior};
use rocket::{tokio, Shutdown};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, SqlitePool};
use uuid::Uuid;

use super::markers::{Heard, Markers};
use super::Changes;
use crate::report::Chain;
use crate::store::change_feed::{self, CHANNEL};
use crate::store::{Db, Store, StoreError};
use crate::supervise::Ticks;

/// Changes read from SQLite's log in one query.
const BATCH: i64 = 10_000;
/// Changes left in SQLite's log for other processes reading it.
const KEPT: i64 = 100_000;
/// Readings of the log between two deletions of its old rows.
const READINGS_PER_PRUNE: u32 = 20;

/// Follows the database's reports of changes until shutdown, reading them
/// every `every` (SQLite) or confirming every `every` that all have arrived
/// (PostgreSQL).
pub async fn follow(store: Store, changes: Changes, every: Duration, shutdown: Shutdown) {
    match store.db() {
        Db::Sqlite(pool) => follow_change_log(pool.clone(), changes, every, shutdown).await,
        Db::Postgres(pool) => listen(pool.clone(), changes, every, shutdown).await,
    }
}

/// Reads SQLite's change log every `every` and publishes each change.
async fn follow_change_log(pool: SqlitePool, changes: Changes, every: Duration, shutdown: Shutdown) {
    let mut ticks = Ticks::every(every, shutdown);
    let mut last_seen = None;
    let mut readings = 0u32;
    while ticks.next().await {
        let started = Instant::now();
        match catch_up(&pool, &changes, &mut last_seen).await {
            Ok(()) => changes.cache().confirm(started.into_std()),
            Err(e) => tracing::warn!(error = %Chain(&e), "change_feed.error"),
        }
        readings += 1;
        if let (Some(seen), true) = (last_seen, readings % READINGS_PER_PRUNE == 0) {
            if let Err(e) = change_feed::forget_changes_through(&pool, seen - KEPT).await {
                tracing::warn!(error = %Chain(&e), "change_feed.error");
            }
        }
    }
}

/// Publishes every change logged after `last_seen`; the first reading only
/// notes where the log stands.
async fn catch_up(
    pool: &SqlitePool,
    changes: &Changes,
    last_seen: &mut Option<i64>,
) -> Result<(), StoreError> {
    let Some(mut seen) = *last_seen else {
        *last_seen = Some(change_feed::latest_change(pool).await?);
        // Whatever was held before now is of unknown age.
        changes.publish_all();
        return Ok(());
    };
    loop {
        let batch = change_feed::changes_after(pool, seen, BATCH).await?;
        if batch.first().is_some_and(|first| first.seq != seen + 1) {
            // Deleted before they were read: which ones is unknown.
            changes.publish_all();
        }
        for change in &batch {
            match change.operation_id {
                Some(id) => changes.publish(id),
                None => changes.publish_all(),
            }
            seen = change.seq;
        }
        *last_seen = Some(seen);
        if batch.len() < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            return Ok(());
        }
    }
}

/// Publishes the changes PostgreSQL announces, but for those made through
/// this process's own pool (see [`change_feed::writer_of`]), which were
/// published as they were made. Every `every`, sends itself
/// a marker: when it arrives, every change committed before it was sent
/// has been published. After a lost connection, publishes everything,
/// since announcements made meanwhile are lost.
async fn listen(pool: PgPool, changes: Changes, every: Duration, mut shutdown: Shutdown) {
    const RETRY: Duration = Duration::from_secs(1);
    let mut markers = Markers::new(Uuid::new_v4());
    loop {
        let listener = async {
            let writer = change_feed::writer_of(&pool).await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, StoreError>((listener, writer))
        };
        let (mut listener, writer) = tokio::select! {
            listener = listener => match listener {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %Chain(&e), "listen.error");
                    tokio::select! {
                        _ = time::sleep(RETRY) => continue,
                        _ = &mut shutdown => return,
                    }
                }
            },
            _ = &mut shutdown => return,
        };
        // What was on its way through an earlier connection is lost.
        markers.clear();
        changes.publish_all();
        let mut ticks = time::interval(every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let notification = tokio::select! {
                notification = listener.try_recv() => notification,
                _ = ticks.tick() => {
                    let marker = markers.next(std::time::Instant::now());
                    if let Err(e) = change_feed::notify_marker(&pool, &marker).await {
                        tracing::warn!(error = %Chain(&e), "listen.error");
                    }
                    continue;
                }
                _ = &mut shutdown => return,
            };
            match notification {
                Ok(Some(notification)) => {
                    let payload = notification.payload();
                    let (id, written_by) = match payload.split_once(' ') {
                        Some((id, written_by)) => (id, Some(written_by)),
                        None => (payload, None),
                    };
                    if let Ok(id) = id.parse::<Uuid>() {
                        // This process published its own writes as it made them.
                        if written_by != Some(writer.as_str()) {
                            changes.publish(id);
                        }
                        continue;
                    }
                    match markers.heard(payload) {
                        Heard::Own(sent_at) => changes.cache().confirm(sent_at),
                        Heard::Other => {}
                        Heard::Unknown => {
                            tracing::warn!(payload, "listen.error: a payload that is not an id")
                        }
                    }
                }
                // The connection was lost; try_recv reconnects next time.
                Ok(None) => {
                    markers.clear();
                    changes.publish_all();
                }
                Err(e) => {
                    tracing::warn!(error = %Chain(&e), "listen.error");
                    break;
                }
            }
        }
    }
}
