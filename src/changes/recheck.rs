//! The re-check: every `recheck_ms`, the watched operations are read in
//! one query and the waiters of those that changed are woken. It covers
//! whatever changed a row without the database reporting it.

use std::collections::HashSet;
use std::time::Duration;

use rocket::Shutdown;
use uuid::Uuid;

use super::Changes;
use crate::report::Chain;
use crate::store::Store;
use crate::supervise::Ticks;

/// Re-checks the watched operations every `every` until shutdown.
pub async fn run(store: Store, changes: Changes, every: Duration, shutdown: Shutdown) {
    let mut ticks = Ticks::every(every, shutdown);
    while ticks.next().await {
        let ids = changes.watched_ids();
        if ids.is_empty() {
            continue;
        }
        match store.find_many(&ids).await {
            Ok(rows) => {
                let mut gone: HashSet<Uuid> = ids.into_iter().collect();
                // A row that cannot be read is left to the waiters' own
                // reads, which say so.
                for operation in rows.into_iter().flatten() {
                    gone.remove(&operation.id);
                    changes.recheck(operation.id, Some(operation.representation().etag));
                }
                for id in gone {
                    changes.recheck(id, None);
                }
            }
            Err(e) => tracing::warn!(error = %Chain(&e), "recheck.error"),
        }
    }
}
