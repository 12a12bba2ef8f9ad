//! The store as a part of the service: the database pool, its migrations,
//! and the [`Store`] over them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::figment::providers::Serialized;
use rocket::figment::Figment;
use rocket::tokio::sync::Notify;
use rocket::{Build, Orbit, Rocket};
use rocket_db_pools::Pool;

use super::pool::{PostgresPool, SqlitePool};
use super::{migrations, Db, PostgresDb, SqliteDb, Store};
use crate::config::{Backend, DatabaseSettings};
use crate::report::Chain;
use crate::startup::{self, StartError};

const PART: &str = "the store";

/// Opens the database the settings name, applies its migrations and
/// manages the [`Store`] (and the rocket_db_pools database of its backend,
/// for `Connection` guards). Closes the pool at shutdown once no part
/// holds the store any more ([`StoreHolds`]).
pub struct Storage {
    settings: DatabaseSettings,
    holds: StoreHolds,
}

impl Storage {
    pub fn new(settings: DatabaseSettings) -> Self {
        Storage {
            settings,
            holds: StoreHolds::default(),
        }
    }

    async fn open(&self) -> Result<(Db, Opened), StartError> {
        let figment = Figment::from(Serialized::defaults(&self.settings.pool));
        let cannot_open = |e: rocket_db_pools::Error<sqlx::Error>| {
            StartError::failed(PART, format!("cannot open the database: {}", Chain(&e)))
        };
        let (db, opened) = match self.settings.backend {
            Backend::Sqlite => {
                let pool = SqlitePool::init(&figment).await.map_err(cannot_open)?;
                (
                    Db::Sqlite(pool.inner().clone()),
                    Opened::Sqlite(SqliteDb::from(pool)),
                )
            }
            Backend::Postgres => {
                let pool = PostgresPool::init(&figment).await.map_err(cannot_open)?;
                (
                    Db::Postgres(pool.inner().clone()),
                    Opened::Postgres(PostgresDb::from(pool)),
                )
            }
        };
        migrations::run(&db).await.map_err(|e| {
            StartError::failed(
                PART,
                format!("cannot apply the database migrations: {}", Chain(&e)),
            )
        })?;
        Ok((db, opened))
    }
}

/// The rocket_db_pools database that was opened.
enum Opened {
    Sqlite(SqliteDb),
    Postgres(PostgresDb),
}

#[rocket::async_trait]
impl Fairing for Storage {
    fn info(&self) -> Info {
        Info {
            name: "Store",
            kind: Kind::Ignite | Kind::Shutdown,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let (db, opened) = match self.open().await {
            Ok(opened) => opened,
            Err(e) => return Err(startup::failed(rocket, e)),
        };
        let rocket = match opened {
            Opened::Sqlite(database) => rocket.manage(database),
            Opened::Postgres(database) => rocket.manage(database),
        };
        Ok(rocket.manage(Store::start(db)).manage(self.holds.clone()))
    }

    async fn on_shutdown(&self, rocket: &Rocket<Orbit>) {
        self.holds.released().await;
        if let Some(store) = rocket.state::<Store>() {
            store.db().close().await;
        }
    }
}

/// The parts that still write through the store at shutdown (workers
/// giving operations back): the pool closes once none holds it. Rocket
/// runs every part's shutdown at once, so the order is kept here.
#[derive(Clone, Default)]
pub struct StoreHolds(Arc<HoldsInner>);

#[derive(Default)]
struct HoldsInner {
    held: AtomicUsize,
    released: Notify,
}

/// One part's hold on the store; dropping it lets go.
pub struct StoreHold(Arc<HoldsInner>);

impl StoreHolds {
    pub fn hold(&self) -> StoreHold {
        self.0.held.fetch_add(1, Ordering::AcqRel);
        StoreHold(Arc::clone(&self.0))
    }

    async fn released(&self) {
        loop {
            let released = self.0.released.notified();
            if self.0.held.load(Ordering::Acquire) == 0 {
                return;
            }
            released.await;
        }
    }
}

impl Drop for StoreHold {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::AcqRel);
        self.0.released.notify_waiters();
    }
}
