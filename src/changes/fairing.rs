use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::tokio::{self, time};
use rocket::{Build, Orbit, Rocket, Shutdown};
use uuid::Uuid;

use super::feed;
use crate::config::OperationsConfig;
use crate::routes::StreamSlots;
use crate::store::{Db, Store};
use crate::telemetry::EventLog;
use rocket::serde::json::Value;

/// Hears of changes this process did not make: follows the database's
/// reports of them (SQLite's change log, PostgreSQL's `NOTIFY`) and
/// re-checks the watched operations every `recheck_ms`.
/// Manages the [`StreamSlots`] of event streams.
pub struct Notifier;

#[rocket::async_trait]
impl Fairing for Notifier {
    fn info(&self) -> Info {
        Info {
            name: "Notifier",
            kind: Kind::Ignite | Kind::Liftoff,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let Some(max_streams) = rocket.state::<OperationsConfig>().map(|c| c.max_streams) else {
            return Err(rocket);
        };
        Ok(rocket.manage(StreamSlots::new(max_streams)))
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let (Some(store), Some(config), Some(log)) = (
            rocket.state::<Store>(),
            rocket.state::<OperationsConfig>(),
            rocket.state::<EventLog>(),
        ) else {
            return;
        };
        tokio::spawn(recheck(store.clone(), config.recheck(), *log, rocket.shutdown()));
        // Twice per staleness allowed, so a late reading still falls within it.
        let every = config.cache_max_staleness() / 2;
        let changes = store.changes().clone();
        match store.db() {
            Db::Sqlite(pool) => {
                tokio::spawn(feed::follow_change_log(
                    pool.clone(),
                    changes,
                    every,
                    *log,
                    rocket.shutdown(),
                ));
            }
            Db::Postgres(pool) => {
                tokio::spawn(feed::listen(
                    pool.clone(),
                    changes,
                    every,
                    *log,
                    rocket.shutdown(),
                ));
            }
        }
    }
}

/// Every `every`, reads the watched operations in one query and wakes the
/// waiters of those that changed.
async fn recheck(store: Store, every: Duration, log: EventLog, mut shutdown: Shutdown) {
    let mut ticks = time::interval(every);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = &mut shutdown => return,
        }
        let changes = store.changes();
        let ids = changes.watched_ids();
        if ids.is_empty() {
            continue;
        }
        match store.find_many(&ids).await {
            Ok(operations) => {
                let mut gone: std::collections::HashSet<Uuid> = ids.into_iter().collect();
                for operation in operations {
                    gone.remove(&operation.id);
                    changes.recheck(operation.id, Some(operation.representation().etag));
                }
                for id in gone {
                    changes.recheck(id, None);
                }
            }
            Err(e) => log.emit("recheck.error", &[("error", Value::from(e.to_string()))]),
        }
    }
}
