//! Faults stay where they happen, with the real binary: a row that cannot
//! be read, a handler that panics, a full disk, a database that refuses
//! connections or input it cannot store fail their own request or
//! operation, never another's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use rocket::futures::future::join_all;
use rocket::serde::json::{json, Value};
use uuid::Uuid;

use crate::helpers::{Backend, NewRow, OtherProgram, TestDb};
use crate::server::Server;
use crate::trials;

trials!(
    on_both_backends: [
        rows_that_cannot_be_read_answer_alone_and_the_polls_beside_them_are_served,
        a_claimed_row_that_cannot_be_read_fails_alone_and_the_others_run_once,
        a_handler_that_panics_fails_its_operation_alone_and_the_workers_run_on,
        a_pending_row_at_the_largest_attempts_does_not_hold_up_the_queue,
        input_the_database_cannot_store_is_a_422_before_anything_is_stored,
        a_body_not_sent_as_json_is_a_415,
    ],
    on_postgres: [postgres_refusing_connections_is_a_503_and_the_service_recovers],
    on_sqlite: [
        a_full_disk_is_a_507_with_nothing_half_written_and_the_service_recovers,
        with_keep_alive_off_every_connection_closes_after_its_answer,
    ],
);

const PATIENCE: Duration = Duration::from_secs(20);

/// The statements that make an operation's row unreadable, each in its own
/// way, for this backend: an unknown error code, a time out of range, and
/// JSON nested deeper than a reader follows.
fn junk(backend: Backend, id: Uuid) -> [String; 3] {
    let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
    match backend {
        Backend::Sqlite => [
            format!("UPDATE operations SET error_code = 'NOT_A_CODE' WHERE id = '{id}'"),
            format!("UPDATE operations SET created_at = '0000' WHERE id = '{id}'"),
            format!("UPDATE operations SET result = '{deep}', input = '{deep}' WHERE id = '{id}'"),
        ],
        Backend::Postgres => [
            format!("UPDATE operations SET error_code = 'NOT_A_CODE' WHERE id = '{id}'"),
            format!("UPDATE operations SET created_at = '-infinity' WHERE id = '{id}'"),
            format!("UPDATE operations SET result = '{deep}', input = '{deep}' WHERE id = '{id}'"),
        ],
    }
}

/// One row of each kind of junk, in `status`.
async fn junk_rows(backend: Backend, other: &mut OtherProgram, status: &str) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for kind in 0..3 {
        let id = other
            .insert(NewRow {
                operation_type: "echo",
                status,
                ..NewRow::pending()
            })
            .await;
        other.execute(&junk(backend, id)[kind]).await;
        ids.push(id);
    }
    ids
}

/// Polls until every operation is finished; panics after [`PATIENCE`].
async fn all_finished(server: &Server, ids: &[Uuid]) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let operations = join_all(ids.iter().map(|id| server.poll(*id))).await;
        if operations
            .iter()
            .all(|op| op["status"] == "completed" || op["status"] == "failed")
        {
            return operations;
        }
        assert!(Instant::now() < deadline, "not finished: {operations:?}");
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn rows_that_cannot_be_read_answer_alone_and_the_polls_beside_them_are_served(backend: Backend) {
    let db = TestDb::create(backend).await;
    let server = Server::start(&db.url, "workers=0").await;
    let mut other = db.connect().await;
    let junk = junk_rows(backend, &mut other, "failed").await;
    let mut good = Vec::new();
    for n in 0..30 {
        let row = NewRow {
            operation_type: "echo",
            status: "completed",
            result: Some(json!({"n": n})),
            error_message: None,
        };
        good.push(other.insert(row).await);
    }
    let path = |id: &Uuid| format!("/api/v1/operations/{id}");

    // All at once, several times, so that reads are gathered with the junk
    // (and each good one is read twice in a gathering).
    for _ in 0..3 {
        let ids: Vec<&Uuid> = good.iter().chain(&good).chain(&junk).collect();
        let paths: Vec<String> = ids.iter().map(|id| path(id)).collect();
        let answers = join_all(paths.iter().map(|path| server.get(path))).await;
        for (id, (status, body)) in ids.into_iter().zip(answers) {
            if junk.contains(id) {
                assert_eq!(status, 500, "{id}: {body}");
                assert_eq!(
                    body,
                    json!({"detail": {"code": "OPERATION_UNREADABLE", "message": "The operation's stored data cannot be read."}})
                );
            } else {
                assert_eq!(status, 200, "{id}: {body}");
                assert_eq!(body["id"], id.to_string());
            }
        }
    }
}

async fn a_claimed_row_that_cannot_be_read_fails_alone_and_the_others_run_once(backend: Backend) {
    let db = TestDb::create(backend).await;
    // Made junk while no worker runs, so none is claimed half made.
    let server = Server::start(&db.url, "workers=0").await;
    let mut other = db.connect().await;
    let junk = junk_rows(backend, &mut other, "pending").await;
    drop(server);
    let server = Server::start(&db.url, "workers=2, idle_poll_ms=50").await;
    let mut good = Vec::new();
    for n in 0..10 {
        good.push(server.create_echo(json!({"result": n})).await);
    }

    for operation in all_finished(&server, &good).await {
        assert_eq!(operation["status"], "completed", "{operation}");
        assert_eq!(operation["attempts"], 1, "{operation}");
    }
    let deadline = Instant::now() + PATIENCE;
    for id in &junk {
        while other.status_of(*id).await.as_deref() != Some("failed") {
            assert!(Instant::now() < deadline, "{id} is not failed");
            rocket::tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            other.text_of(*id, "error_code").await.as_deref(),
            Some("UNREADABLE_ROW")
        );
    }
    let (status, ready) = server.get("/health/ready").await;
    assert_eq!(status, 200, "{ready}");
    let metrics = server.metrics().await;
    assert_eq!(
        crate::helpers::metric(&metrics, "longrun_unreadable_rows_total{outcome=\"failed\"}"),
        3.0
    );
}

async fn a_handler_that_panics_fails_its_operation_alone_and_the_workers_run_on(backend: Backend) {
    let db = TestDb::create(backend).await;
    let server = Server::start(
        &db.url,
        "workers=2, idle_poll_ms=50, max_attempts=2, retry_backoff_ms=10",
    )
    .await;
    let panicking = server.create_echo(json!({"panic": "a bug"})).await;
    let mut good = Vec::new();
    for n in 0..6 {
        good.push(server.create_echo(json!({"result": n})).await);
    }

    let failed = all_finished(&server, &[panicking]).await.remove(0);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error_code"], "INTERNAL_ERROR");
    assert_eq!(failed["attempts"], 2, "retried as an internal error");
    assert!(
        !failed["error_message"].as_str().unwrap().contains("a bug"),
        "no internals"
    );
    for operation in all_finished(&server, &good).await {
        assert_eq!(operation["status"], "completed");
        assert_eq!(operation["attempts"], 1);
    }
    // The workers run on: a new operation still completes.
    let after = server.create_echo(json!({"result": "after"})).await;
    assert_eq!(all_finished(&server, &[after]).await[0]["status"], "completed");
    let (status, ready) = server.get("/health/ready").await;
    assert_eq!(status, 200, "{ready}");
}

async fn a_pending_row_at_the_largest_attempts_does_not_hold_up_the_queue(backend: Backend) {
    let db = TestDb::create(backend).await;
    let server = Server::start(&db.url, "workers=0").await;
    let mut other = db.connect().await;
    let maxed = other
        .insert(NewRow {
            operation_type: "echo",
            ..NewRow::pending()
        })
        .await;
    other
        .execute(&format!(
            "UPDATE operations SET attempts = 2147483647 WHERE id = '{maxed}'"
        ))
        .await;
    drop(server);
    let server = Server::start(&db.url, "workers=2, idle_poll_ms=50").await;
    let mut good = Vec::new();
    for n in 0..5 {
        good.push(server.create_echo(json!({"result": n})).await);
    }

    for operation in all_finished(&server, &good).await {
        assert_eq!(operation["status"], "completed");
        assert_eq!(operation["attempts"], 1);
    }
    let maxed = all_finished(&server, &[maxed]).await.remove(0);
    assert_eq!(
        maxed["attempts"], 2147483647,
        "it ran, and the count stayed in range"
    );
}

async fn input_the_database_cannot_store_is_a_422_before_anything_is_stored(backend: Backend) {
    let db = TestDb::create(backend).await;
    let server = Server::start(&db.url, "workers=0").await;
    let http = reqwest::Client::new();
    let cases = [
        (
            json!({"operation_type": "echo", "input": {"result": "a\u{0}b"}}).to_string(),
            "input.result",
        ),
        (
            json!({"operation_type": "echo", "input": {"result": {"k\u{0}": 1}}}).to_string(),
            "input.result",
        ),
        (
            json!({"operation_type": "echo", "input": {"fail": "x\u{0}"}}).to_string(),
            "input.fail",
        ),
        (
            json!({"operation_type": "question_generation", "input": {"role": "dev\u{0}ops"}}).to_string(),
            "input.role",
        ),
        // Valid JSON, but beyond a 64-bit float.
        (
            r#"{"operation_type": "echo", "input": {"result": [1, -1e400]}}"#.to_owned(),
            "input.result[1]",
        ),
    ];
    for (body, field) in cases {
        let response = http
            .post(format!("{}/api/v1/operations", server.base_url))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 422, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["detail"]["code"], "INVALID_INPUT");
        assert!(
            error["detail"]["message"].as_str().unwrap().contains(field),
            "{error}"
        );
    }
    let count = server.metrics().await;
    assert_eq!(
        crate::helpers::metric(&count, "longrun_operations{status=\"pending\"}"),
        0.0,
        "nothing was stored"
    );
}

async fn a_body_not_sent_as_json_is_a_415(backend: Backend) {
    let db = TestDb::create(backend).await;
    let server = Server::start(&db.url, "workers=0").await;
    let http = reqwest::Client::new();
    let body = r#"{"operation_type": "echo", "input": {}}"#;
    let send = |content_type: Option<&'static str>| {
        let mut request = http
            .post(format!("{}/api/v1/operations", server.base_url))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        request.send()
    };

    for refused in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
    ] {
        let response = send(refused).await.unwrap();
        assert_eq!(response.status().as_u16(), 415, "{refused:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["detail"]["code"], "UNSUPPORTED_MEDIA_TYPE", "{refused:?}");
    }
    for accepted in [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.example+json",
    ] {
        let response = send(Some(accepted)).await.unwrap();
        assert_eq!(response.status().as_u16(), 202, "{accepted}");
    }
}

async fn postgres_refusing_connections_is_a_503_and_the_service_recovers() {
    let db = TestDb::create(Backend::Postgres).await;
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let server = Server::start(&db.url, "workers=0").await;
    let http = reqwest::Client::new();
    let unknown = || format!("/api/v1/operations/{}", Uuid::new_v4());
    assert_eq!(server.get(&unknown()).await.0, 404);

    let mut admin = db.admin().await;
    admin
        .execute(&format!(r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS false"#))
        .await;
    admin
        .execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await;
    // Every poll that reads the database: 503 with Retry-After, never 500.
    for _ in 0..5 {
        let response = http
            .get(format!("{}{}", server.base_url, unknown()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()["retry-after"], "5");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["detail"]["code"], "SERVICE_UNAVAILABLE");
    }

    admin
        .execute(&format!(r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS true"#))
        .await;
    let deadline = Instant::now() + PATIENCE;
    while server.get(&unknown()).await.0 != 404 {
        assert!(Instant::now() < deadline, "the service did not recover");
        rocket::tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: std::path::PathBuf,
}

impl SmallDisk {
    /// `None` where mounting is not permitted (said on the terminal).
    fn mount(dir: std::path::PathBuf, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(SmallDisk { dir }),
            Ok(output) => {
                let reason = String::from_utf8_lossy(&output.stderr).trim().to_owned();
                skip_disk_test(&reason);
                None
            }
            Err(e) => {
                skip_disk_test(&e.to_string());
                None
            }
        }
    }
}

fn skip_disk_test(reason: &str) {
    let message = format!("a tmpfs cannot be mounted here ({reason})");
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{message}; CI=true requires the full-disk test");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED the full-disk test: {message}");
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

async fn a_full_disk_is_a_507_with_nothing_half_written_and_the_service_recovers() {
    let scratch = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(scratch.path().join("disk"), "4m") else {
        return;
    };
    let url = format!("sqlite://{}/operations.db", disk.dir.display());
    let server = Server::start(&url, "workers=0").await;
    // What fills the disk, and what will make room again.
    let filler = disk.dir.join("filler");
    std::fs::write(&filler, vec![0u8; 2_500_000]).unwrap();
    let http = reqwest::Client::new();
    let create = |n: usize| {
        let body =
            json!({"operation_type": "echo", "input": {"result": format!("{n}:{}", "x".repeat(40_000))}});
        http.post(format!("{}/api/v1/operations", server.base_url))
            .json(&body)
            .send()
    };

    let mut accepted = Vec::new();
    let mut refused = None;
    for n in 0..200 {
        let response = create(n).await.unwrap();
        match response.status().as_u16() {
            202 => accepted.push(
                response.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            status => {
                let retry_after = response.headers().get("retry-after").is_some();
                refused = Some((status, retry_after, response.json::<Value>().await.unwrap()));
                break;
            }
        }
    }
    let (status, retry_after, error) = refused.expect("the disk filled up");
    assert_eq!(status, 507, "{error}");
    assert_eq!(error["detail"]["code"], "INSUFFICIENT_STORAGE");
    assert!(retry_after);
    for id in &accepted {
        let (status, body) = server.get(&format!("/api/v1/operations/{id}")).await;
        assert_eq!(status, 200, "an accepted create was kept: {body}");
    }

    // Room again: the service writes again, with nothing to repair.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = create(0).await.unwrap().status().as_u16();
        if status == 202 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status} with room on the disk");
        rocket::tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}

async fn with_keep_alive_off_every_connection_closes_after_its_answer() {
    let db = TestDb::create(Backend::Sqlite).await;
    let server = Server::start_with(&db.url, "log_format=\"off\"", &[("ROCKET_KEEP_ALIVE", "0")], None).await;
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    // read_to_end returns only when the server closes the connection.
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
}
