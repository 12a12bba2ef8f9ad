use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::tokio::{self, time};
use rocket::{Build, Orbit, Rocket, Shutdown};
use sqlx::postgres::PgListener;
use uuid::Uuid;

use super::Changes;
use crate::config::OperationsConfig;
use crate::routes::StreamSlots;
use crate::store::{Db, Store};
use crate::telemetry::EventLog;
use rocket::serde::json::Value;

/// The channel the PostgreSQL migrations' trigger notifies.
const CHANNEL: &str = "longrun_operations";

/// Hears of changes this process did not make: re-checks the watched
/// operations every `recheck_ms` and, on PostgreSQL, listens for `NOTIFY`.
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
        if let Db::Postgres(pool) = store.db() {
            tokio::spawn(listen(
                pool.clone(),
                store.changes().clone(),
                *log,
                rocket.shutdown(),
            ));
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

/// Wakes waiters as PostgreSQL announces changes; after a lost connection,
/// wakes them all, since announcements made meanwhile are lost.
async fn listen(pool: sqlx::PgPool, changes: Changes, log: EventLog, mut shutdown: Shutdown) {
    const RETRY: Duration = Duration::from_secs(1);
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            listener = listener => match listener {
                Ok(listener) => listener,
                Err(e) => {
                    log.emit("listen.error", &[("error", Value::from(e.to_string()))]);
                    tokio::select! {
                        _ = time::sleep(RETRY) => continue,
                        _ = &mut shutdown => return,
                    }
                }
            },
            _ = &mut shutdown => return,
        };
        changes.publish_all();
        loop {
            let notification = tokio::select! {
                notification = listener.try_recv() => notification,
                _ = &mut shutdown => return,
            };
            match notification {
                Ok(Some(notification)) => match notification.payload().parse::<Uuid>() {
                    Ok(id) => changes.publish(id),
                    Err(_) => log.emit(
                        "listen.error",
                        &[("error", Value::from("a payload that is not an id"))],
                    ),
                },
                // The connection was lost; try_recv reconnects next time.
                Ok(None) => changes.publish_all(),
                Err(e) => {
                    log.emit("listen.error", &[("error", Value::from(e.to_string()))]);
                    break;
                }
            }
        }
    }
}
