//! What every test needs: a service on its own fresh database, and a
//! connection to that database for playing "another program".

use std::time::Duration;

use rocket::figment::Figment;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::serde::json::Value;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use longrun::operations::Operations;
use longrun::store::Claimed;
use longrun::telemetry::Metrics;
use longrun::workers::WorkerPool;

/// Where the tests find PostgreSQL: a server URL without a database name.
const POSTGRES_URL_VAR: &str = "LONGRUN_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A test's own database, dropped with it.
pub struct TestDb {
    pub backend: Backend,
    /// The URL the service is given.
    pub url: String,
    postgres: Option<PostgresDatabase>,
    pub dir: tempfile::TempDir,
}

struct PostgresDatabase {
    server_url: String,
    name: String,
}

impl TestDb {
    /// A fresh, empty database. PostgreSQL's tests run only when it
    /// answers (or in CI, where they fail when it does not): see the
    /// harness.
    pub async fn create(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("volume/operations.db").display());
                TestDb {
                    backend,
                    url,
                    postgres: None,
                    dir,
                }
            }
            Backend::Postgres => {
                let server_url = postgres_server_url();
                let mut admin = connect_admin(&server_url).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL is not reachable at {server_url} ({e}); set {POSTGRES_URL_VAR}")
                });
                let name = format!("longrun_test_{}", Uuid::new_v4().simple());
                admin
                    .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                TestDb {
                    backend,
                    url: format!("{server_url}/{name}"),
                    postgres: Some(PostgresDatabase { server_url, name }),
                    dir,
                }
            }
        }
    }

    /// A connection to the PostgreSQL server's own database, for what only
    /// an administrator does.
    pub async fn admin(&self) -> OtherProgram {
        let server_url = postgres_server_url();
        OtherProgram::Postgres(Box::new(
            connect_admin(&server_url)
                .await
                .expect("connect to the PostgreSQL server"),
        ))
    }

    /// Whether PostgreSQL answers at [`postgres_server_url`].
    pub async fn postgres_answers() -> Result<(), sqlx::Error> {
        connect_admin(&postgres_server_url()).await?.close().await
    }

    /// A connection of "another program" to the same database.
    pub async fn connect(&self) -> OtherProgram {
        match self.backend {
            Backend::Sqlite => OtherProgram::Sqlite(
                sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("connect to the test SQLite database"),
            ),
            Backend::Postgres => OtherProgram::Postgres(Box::new(
                PgConnection::connect(&self.url)
                    .await
                    .expect("connect to the test PostgreSQL database"),
            )),
        }
    }
}

async fn connect_admin(server_url: &str) -> Result<PgConnection, sqlx::Error> {
    let url = format!("{server_url}/postgres");
    rocket::tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url))
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
}

/// Where the tests find PostgreSQL: a server URL without a database name.
pub fn postgres_server_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(db) = self.postgres.take() else { return };
        // Drop runs outside any async context we could borrow, so the
        // database is dropped from a short-lived runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = rocket::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut admin) = connect_admin(&db.server_url).await {
                        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, db.name);
                        let _ = admin.execute(sql.as_str()).await;
                    }
                });
            }
        })
        .join();
    }
}

/// A connection that writes rows the way another program would.
pub enum OtherProgram {
    Sqlite(sqlx::SqliteConnection),
    Postgres(Box<PgConnection>),
}

/// A row to insert, with only what another program must give.
pub struct NewRow<'a> {
    pub operation_type: &'a str,
    pub status: &'a str,
    pub result: Option<Value>,
    pub error_message: Option<&'a str>,
}

impl NewRow<'_> {
    pub fn pending() -> Self {
        NewRow {
            operation_type: "question_generation",
            status: "pending",
            result: None,
            error_message: None,
        }
    }
}

impl OtherProgram {
    pub async fn insert(&mut self, row: NewRow<'_>) -> Uuid {
        let id = Uuid::new_v4();
        let result = row.result.map(|value| value.to_string());
        match self {
            OtherProgram::Sqlite(c) => sqlx::query(
                "INSERT INTO operations (id, operation_type, status, result, error_message) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(id.to_string())
            .bind(row.operation_type)
            .bind(row.status)
            .bind(result)
            .bind(row.error_message)
            .execute(c)
            .await
            .map(drop),
            OtherProgram::Postgres(c) => sqlx::query(
                "INSERT INTO operations (id, operation_type, status, result, error_message) VALUES ($1, $2, $3, $4::jsonb, $5)",
            )
            .bind(id)
            .bind(row.operation_type)
            .bind(row.status)
            .bind(result)
            .bind(row.error_message)
            .execute(c.as_mut())
            .await
            .map(drop),
        }
        .expect("insert an operation row");
        id
    }

    /// Runs one statement written for both backends (no parameters).
    pub async fn execute(&mut self, sql: &str) {
        match self {
            OtherProgram::Sqlite(c) => c.execute(sql).await.map(drop),
            OtherProgram::Postgres(c) => c.as_mut().execute(sql).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The status column of `id`, as this connection sees it now.
    pub async fn status_of(&mut self, id: Uuid) -> Option<String> {
        self.text_of(id, "status").await
    }

    /// A text column of `id`, as this connection sees it now.
    pub async fn text_of(&mut self, id: Uuid, column: &str) -> Option<String> {
        match self {
            OtherProgram::Sqlite(c) => {
                sqlx::query_scalar(&format!("SELECT {column} FROM operations WHERE id = ?1"))
                    .bind(id.to_string())
                    .fetch_optional(c)
                    .await
            }
            OtherProgram::Postgres(c) => {
                sqlx::query_scalar(&format!("SELECT {column} FROM operations WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(c.as_mut())
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("read {column}: {e}"))
        .flatten()
    }

    pub async fn set_status(&mut self, id: Uuid, status: &str, result: Option<Value>) {
        let result = result.map(|value| value.to_string());
        match self {
            OtherProgram::Sqlite(c) => {
                sqlx::query("UPDATE operations SET status = ?1, result = ?2 WHERE id = ?3")
                    .bind(status)
                    .bind(result)
                    .bind(id.to_string())
                    .execute(c)
                    .await
                    .map(drop)
            }
            OtherProgram::Postgres(c) => {
                sqlx::query("UPDATE operations SET status = $1, result = $2::jsonb WHERE id = $3")
                    .bind(status)
                    .bind(result)
                    .bind(id)
                    .execute(c.as_mut())
                    .await
                    .map(drop)
            }
        }
        .expect("update an operation row");
    }
}

/// The service on its own database, driven through Rocket's local client.
pub struct TestApp {
    pub client: Client,
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let db = TestDb::create(backend).await;
        let url = db.url.clone();
        TestApp::spawn_on(db, &url, |figment| figment).await
    }

    /// The service on `db`, reached through `url`, with `configure` applied
    /// to the test figment last.
    pub async fn spawn_on(db: TestDb, url: &str, configure: impl FnOnce(Figment) -> Figment) -> TestApp {
        let figment = configure(test_figment(url));
        let service = longrun::build(figment).unwrap_or_else(|e| panic!("{e}"));
        let client = Client::tracked(service).await.expect("the service launches");
        TestApp { client, db }
    }

    /// The service with `configure` applied to the test figment.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(Figment) -> Figment) -> TestApp {
        let db = TestDb::create(backend).await;
        let url = db.url.clone();
        TestApp::spawn_on(db, &url, configure).await
    }

    /// Shuts the service down as SIGTERM would (shutdown fairings
    /// included) and hands back its database.
    pub async fn stop(self) -> TestDb {
        self.client.terminate().await;
        self.db
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        TestResponse::read(self.client.get(path.to_owned()).dispatch().await).await
    }

    /// Any request, with these headers (and a JSON body, if given).
    pub async fn request(
        &self,
        method: rocket::http::Method,
        path: &str,
        body: Option<&str>,
        headers: &[(String, String)],
    ) -> TestResponse {
        let mut request = self.client.req(method, path.to_owned());
        if let Some(body) = body {
            request = request.body(body).header(ContentType::JSON);
        }
        for (name, value) in headers {
            request = request.header(rocket::http::Header::new(name.clone(), value.clone()));
        }
        TestResponse::read(request.dispatch().await).await
    }

    /// A GET with `Authorization: Bearer <token>`.
    pub async fn get_as(&self, token: &str, path: &str) -> TestResponse {
        let auth = ("Authorization".to_owned(), format!("Bearer {token}"));
        self.request(rocket::http::Method::Get, path, None, &[auth]).await
    }

    /// A POST of `body` with `Authorization: Bearer <token>`.
    pub async fn post_as(&self, token: &str, path: &str, body: &str) -> TestResponse {
        let auth = ("Authorization".to_owned(), format!("Bearer {token}"));
        self.request(rocket::http::Method::Post, path, Some(body), &[auth])
            .await
    }

    /// Creates an operation as the owner of `token`; its id.
    pub async fn create_as(&self, token: &str, operation_type: &str, input: Value) -> Uuid {
        let body = rocket::serde::json::json!({"operation_type": operation_type, "input": input});
        let response = self.post_as(token, "/api/v1/operations", &body.to_string()).await;
        assert_eq!(response.status, Status::Accepted, "{}", response.body);
        response.json()["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn poll(&self, id: Uuid) -> Value {
        let response = self.get(&format!("/api/v1/operations/{id}")).await;
        assert_eq!(response.status, Status::Ok, "{}", response.body);
        response.json()
    }

    pub async fn post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> TestResponse {
        let mut request = self
            .client
            .post(path.to_owned())
            .body(body)
            .header(ContentType::JSON);
        for (name, value) in headers {
            request = request.header(rocket::http::Header::new(name.to_string(), value.to_string()));
        }
        TestResponse::read(request.dispatch().await).await
    }

    /// Creates an operation and returns its id, asserting the 202.
    pub async fn create(&self, operation_type: &str, input: Value) -> Uuid {
        let body = rocket::serde::json::json!({"operation_type": operation_type, "input": input});
        let response = self.post("/api/v1/operations", &body.to_string(), &[]).await;
        assert_eq!(response.status, Status::Accepted, "{}", response.body);
        response.json()["id"].as_str().unwrap().parse().unwrap()
    }

    /// The operations as routes and workers use them.
    pub fn operations(&self) -> &Operations {
        self.client
            .rocket()
            .state::<Operations>()
            .expect("the operations are managed")
    }

    /// Claims the oldest due operation as `worker` would; panics if none is
    /// due.
    pub async fn claim_one(&self, worker: &str, lease: Duration) -> Claimed {
        let mut claims = self.operations().claim(worker, lease, 1).await.expect("claim");
        claims.claimed.pop().expect("an operation was due")
    }

    pub fn workers(&self) -> &WorkerPool {
        self.client
            .rocket()
            .state::<WorkerPool>()
            .expect("the worker pool is managed")
    }

    /// Runs due operations one by one, as a worker would, until none is
    /// due; returns how many ran.
    pub async fn drain(&self) -> usize {
        let mut ran = 0;
        while self.workers().run_once("test-worker").await.expect("run_once") {
            ran += 1;
        }
        ran
    }

    /// Waits until the service holds at least `count` long polls, by its own
    /// gauge.
    pub async fn long_polls_held(&self, count: i64) {
        let metrics = self
            .client
            .rocket()
            .state::<Metrics>()
            .expect("metrics are managed");
        self.wait_until(|| metrics.long_poll_waiters.get() >= count, "long polls held")
            .await;
    }

    /// Waits until every configured worker runs.
    pub async fn workers_running(&self) {
        self.wait_until(|| self.workers().is_healthy(), "workers running")
            .await;
    }

    /// Checks `done` every 5 ms; panics after 5 s.
    async fn wait_until(&self, done: impl Fn() -> bool, what: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "not there after 5 s: {what}"
            );
            rocket::tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// GETs `path` every 20 ms until `done` holds for the response, or
    /// panics after `within`.
    pub async fn wait_until_get(
        &self,
        path: &str,
        within: Duration,
        done: impl Fn(&TestResponse) -> bool,
    ) -> TestResponse {
        let deadline = std::time::Instant::now() + within;
        loop {
            let response = self.get(path).await;
            if done(&response) {
                return response;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still not there after {within:?}: {} {}",
                response.status,
                response.body
            );
            rocket::tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until the operation is finished or `within` has passed.
    pub async fn wait_finished(&self, id: Uuid, within: Duration) -> Value {
        self.wait_for(id, within, |body| {
            body["status"] == "completed" || body["status"] == "failed"
        })
        .await
    }

    /// Polls every 20 ms until `done` holds for the operation, or panics
    /// after `within`.
    pub async fn wait_for(&self, id: Uuid, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let path = format!("/api/v1/operations/{id}");
        let response = self
            .wait_until_get(&path, within, |response| {
                assert_eq!(response.status, Status::Ok, "{}", response.body);
                done(&response.json())
            })
            .await;
        response.json()
    }
}

/// The value of one metric in a Prometheus scrape; 0 when absent.
pub fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(name_and_labels))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// How long a test waits for another program's change to show in polls.
/// Polls show it within `cache_max_staleness_ms` (100 ms); this is the
/// patience of a test on a loaded machine, not that bound.
pub const SHOWS_WITHIN: Duration = Duration::from_secs(5);

/// Returns once the clock shows a later millisecond than `time` (an
/// operation's RFC 3339 timestamp): what is written from then on is
/// stamped later.
pub async fn clock_moves_past(time: &Value) {
    let time: chrono::DateTime<chrono::Utc> = time
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {time}"));
    while chrono::Utc::now() - time < chrono::TimeDelta::milliseconds(1) {
        rocket::tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// The figment of every test: the service's, quiet, the given database,
/// the `echo` type, no rate limits, and no background workers — tests run
/// operations with `drain` unless they start workers themselves.
pub fn test_figment(database_url: &str) -> Figment {
    longrun::figment()
        .merge(("log_level", "off"))
        .merge(("databases.operations.url", database_url))
        .merge(("databases.operations.connect_timeout", 2))
        .merge(("operations.workers", 0))
        // Rows a test writes just after the start would otherwise be read
        // ahead, racing its first polls; the warm-up's own test turns it on.
        .merge(("operations.cache_warm_up_secs", 0))
        .merge(("operations.enable_echo", true))
        .merge(("operations.rate_limit.enabled", false))
        .merge(("operations.log_format", "off"))
}

/// A response read whole, so assertions can look at it freely.
pub struct TestResponse {
    pub status: Status,
    pub content_type: Option<ContentType>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl TestResponse {
    pub async fn read(response: LocalResponse<'_>) -> TestResponse {
        let status = response.status();
        let content_type = response.content_type();
        let headers = response
            .headers()
            .iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect();
        let body = response.into_string().await.unwrap_or_default();
        TestResponse {
            status,
            content_type,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        rocket::serde::json::serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the one error shape, with this status and code.
    pub fn assert_error(&self, status: Status, code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.content_type, Some(ContentType::JSON), "body: {}", self.body);
        let body = self.json();
        let detail = body["detail"].as_object().expect("a detail object");
        assert_eq!(detail.len(), 2, "detail has exactly code and message: {body}");
        assert_eq!(detail["code"], code, "body: {body}");
        assert!(
            detail["message"].as_str().is_some_and(|m| !m.is_empty()),
            "a message: {body}"
        );
        body
    }
}
