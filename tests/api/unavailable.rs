use std::path::PathBuf;
use std::time::{Duration, Instant};

use rocket::http::Status;

use crate::helpers::{Backend, NewRow, TestApp, TestDb, TestResponse};
use crate::proxy::Proxy;
use crate::trials;

trials!(
    on_both_backends: [
        an_unreachable_database_is_a_503_and_the_service_recovers_by_itself,
    ],
);

/// Takes the test's database out of the service's reach: for PostgreSQL the
/// network path is cut; for SQLite the directory holding the file goes away,
/// as an unmounted volume would.
pub enum Outage {
    Network(Proxy),
    Volume { dir: PathBuf, away: PathBuf },
}

impl Outage {
    pub fn begin(&self) {
        match self {
            Outage::Network(proxy) => proxy.cut(),
            Outage::Volume { dir, away } => std::fs::rename(dir, away).unwrap(),
        }
    }

    pub fn end(&self) {
        match self {
            Outage::Network(proxy) => proxy.restore(),
            Outage::Volume { dir, away } => std::fs::rename(away, dir).unwrap(),
        }
    }
}

pub async fn spawn_with_outage(backend: Backend) -> (TestApp, Outage) {
    let db = TestDb::create(backend).await;
    match backend {
        Backend::Sqlite => {
            let dir = db.dir.path().join("volume");
            let away = db.dir.path().join("volume-away");
            let url = db.url.clone();
            // Idle connections are closed after a second: an open one would
            // go on reading the moved file. The change log is then read every
            // 1.5 s, so that it too needs a new connection each time.
            let app = TestApp::spawn_on(db, &url, |f| {
                f.merge(("databases.operations.idle_timeout", 1))
                    .merge(("operations.cache_max_staleness_ms", 3000))
            })
            .await;
            (app, Outage::Volume { dir, away })
        }
        Backend::Postgres => {
            let parsed = url::Url::parse(&db.url).unwrap();
            let target = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap_or(5432));
            let proxy = Proxy::start(target.parse().unwrap()).await;
            let mut through_proxy = parsed.clone();
            through_proxy.set_port(Some(proxy.addr.port())).unwrap();
            let app = TestApp::spawn_on(db, through_proxy.as_str(), |f| f).await;
            (app, Outage::Network(proxy))
        }
    }
}

impl Outage {
    /// Between polls: longer than the SQLite pool's idle timeout, so that
    /// its reaper closes the connection that still reads the moved file.
    pub fn poll_interval(&self) -> Duration {
        match self {
            Outage::Network(_) => Duration::from_millis(200),
            Outage::Volume { .. } => Duration::from_millis(1500),
        }
    }
}

/// Polls `path` until the status is `wanted` or 15 s have passed.
pub async fn poll_until(app: &TestApp, path: &str, wanted: Status, interval: Duration) -> TestResponse {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = app.get(path).await;
        if response.status == wanted || Instant::now() > deadline {
            return response;
        }
        rocket::tokio::time::sleep(interval).await;
    }
}

async fn an_unreachable_database_is_a_503_and_the_service_recovers_by_itself(backend: Backend) {
    let (app, outage) = spawn_with_outage(backend).await;
    let id = app.db.connect().await.insert(NewRow::pending()).await;
    let path = format!("/api/v1/operations/{id}");
    assert_eq!(app.get(&path).await.status, Status::Ok);

    outage.begin();
    let during = poll_until(&app, &path, Status::ServiceUnavailable, outage.poll_interval()).await;
    during.assert_error(Status::ServiceUnavailable, "SERVICE_UNAVAILABLE");
    assert!(during.header("Retry-After").is_some(), "a 503 says when to retry");

    outage.end();
    let after = poll_until(&app, &path, Status::Ok, outage.poll_interval()).await;
    assert_eq!(
        after.status,
        Status::Ok,
        "recovered without a restart: {}",
        after.body
    );
    assert_eq!(after.json()["status"], "pending");
}
