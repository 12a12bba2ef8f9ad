//! Crashes and several processes, with the real binary.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use rocket::serde::json::{json, Value};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::helpers::{Backend, TestDb};
use crate::server::Server;
use crate::trials;

trials!(
    on_both_backends: [
        every_operation_ends_finished_after_a_kill_9_and_a_restart,
        sigterm_finishes_short_operations_and_gives_back_long_ones,
        logs_are_json_lines_with_request_ids_and_never_hold_a_secret,
    ],
    on_postgres: [two_processes_on_one_postgres_database_run_each_operation_exactly_once],
);

/// Polls every operation until all are finished or `within` has passed.
async fn wait_all_finished(server: &Server, ids: &[Uuid], within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let mut operations = Vec::new();
        for id in ids {
            operations.push(server.poll(*id).await);
        }
        let unfinished = operations
            .iter()
            .filter(|op| op["status"] == "pending" || op["status"] == "processing")
            .count();
        if unfinished == 0 || Instant::now() > deadline {
            return operations;
        }
        rocket::tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn count_by_status(operations: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for op in operations {
        *counts
            .entry(op["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    counts
}

async fn every_operation_ends_finished_after_a_kill_9_and_a_restart(backend: Backend) {
    let db = TestDb::create(backend).await;
    let settings = "workers=8, lease_secs=2, idle_poll_ms=100";
    let first = Server::start(&db.url, settings).await;
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(first.create_echo(json!({"delay_ms": 800, "result": n})).await);
    }
    // Mid-way: some finished, some running, most waiting.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = wait_all_finished(&first, &ids, Duration::ZERO).await;
        let finished = done.iter().filter(|op| op["status"] == "completed").count();
        if finished >= 10 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress before the kill");
    }
    let at_kill = count_by_status(&wait_all_finished(&first, &ids, Duration::ZERO).await);
    first.kill();

    let second = Server::start(&db.url, settings).await;
    let operations = wait_all_finished(&second, &ids, Duration::from_secs(60)).await;

    let at_end = count_by_status(&operations);
    let rerun = operations
        .iter()
        .filter(|op| op["attempts"].as_i64() > Some(1))
        .count();
    let _ = writeln!(
        std::io::stderr(),
        "crash test ({backend:?}): at SIGKILL {at_kill:?}; after restart {at_end:?}; {rerun} ran again"
    );
    assert!(
        at_kill.get("processing").is_some_and(|n| *n > 0),
        "some were running at the kill: {at_kill:?}"
    );
    for op in &operations {
        match op["status"].as_str() {
            Some("completed") => assert_eq!(
                op["result"],
                ids.iter().position(|id| op["id"] == id.to_string()).unwrap()
            ),
            Some("failed") => assert!(op["error_code"].is_string(), "{op}"),
            _ => panic!("left unfinished: {op}"),
        }
    }
}

async fn two_processes_on_one_postgres_database_run_each_operation_exactly_once() {
    let db = TestDb::create(Backend::Postgres).await;
    let settings = "workers=4, idle_poll_ms=50";
    let servers = [
        Server::start(&db.url, settings).await,
        Server::start(&db.url, settings).await,
    ];
    let mut ids = Vec::new();
    for n in 0..200 {
        ids.push(
            servers[n % 2]
                .create_echo(json!({"delay_ms": 10, "result": n}))
                .await,
        );
    }

    let operations = wait_all_finished(&servers[0], &ids, Duration::from_secs(60)).await;

    assert!(
        operations.iter().all(|op| op["status"] == "completed"),
        "{:?}",
        count_by_status(&operations)
    );
    assert!(
        operations.iter().all(|op| op["attempts"] == 1),
        "each claimed exactly once"
    );
    let mut connection = PgConnection::connect(&db.url).await.unwrap();
    let processes: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT split_part(claimed_by, '-w', 1) FROM operations")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    assert_eq!(processes.len(), 2, "both processes ran operations: {processes:?}");
}

async fn sigterm_finishes_short_operations_and_gives_back_long_ones(backend: Backend) {
    let db = TestDb::create(backend).await;
    let server = Server::start(&db.url, "workers=2, idle_poll_ms=100").await;
    let short = server
        .create_echo(json!({"delay_ms": 300, "result": "short"}))
        .await;
    let long = server.create_echo(json!({"delay_ms": 60_000})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.poll(short).await["status"] != "processing"
        || server.poll(long).await["status"] != "processing"
    {
        assert!(Instant::now() < deadline, "both never ran");
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert!(server.terminate(), "a clean exit on SIGTERM");

    let after = Server::start(&db.url, "workers=0").await;
    assert_eq!(
        after.poll(short).await["status"],
        "completed",
        "finished within the grace period"
    );
    let long = after.poll(long).await;
    assert_eq!(long["status"], "pending", "given back: {long}");
    assert_eq!(long["attempts"], 0);
}

async fn logs_are_json_lines_with_request_ids_and_never_hold_a_secret(backend: Backend) {
    const KEY: &str = "sk-never-log-this-7c1d";
    const DB_PASSWORD: &str = "db-password-never-logged-5e2a";
    let db = TestDb::create(backend).await;
    // PostgreSQL here trusts loopback, so any password connects.
    let url = match backend {
        Backend::Postgres => db
            .url
            .replacen("postgres@", &format!("postgres:{DB_PASSWORD}@"), 1),
        Backend::Sqlite => db.url.clone(),
    };
    let log = db.dir.path().join("server.log");
    // An upstream that refuses connections: the operation fails and says so.
    let settings = r#"log_format="json", generator="openai", max_attempts=1,
        openai={base_url="http://127.0.0.1:9/v1", timeout_secs=1}, workers=1, idle_poll_ms=50"#;
    let env = [("OPENAI_API_KEY", KEY), ("ROCKET_LOG_LEVEL", "normal")];
    let server = Server::start_with(&url, settings, &env, Some(&log)).await;
    let id = server
        .create("question_generation", json!({"role": "Backend developer"}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let operation = server.poll(id).await;
        if operation["status"] == "failed" {
            break operation;
        }
        assert!(Instant::now() < deadline, "{operation}");
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed["error_code"], "UPSTREAM_ERROR");
    assert!(server.terminate());

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(KEY), "the API key is in the log");
    assert!(!text.contains(DB_PASSWORD), "the database password is in the log");
    let events: Vec<Value> = text
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| rocket::serde::json::from_str(line).unwrap())
        .collect();
    let create = events
        .iter()
        .find(|e| e["message"] == "request" && e["method"] == "POST")
        .expect("the create request is logged");
    assert_eq!(create["route"], "/api/v1/operations");
    assert_eq!(create["status"], 202);
    let request_id = create["span"]["request_id"].as_str().unwrap_or_default();
    assert!(
        !request_id.is_empty(),
        "the request id is a field of the request's span"
    );
    assert!(create["latency_ms"].is_number());
    for step in ["operation.created", "operation.claimed", "operation.failed"] {
        let logged = events
            .iter()
            .find(|e| e["message"] == step && e["operation_id"] == id.to_string());
        assert!(logged.is_some(), "{step} of {id} is logged");
    }
    let created = events
        .iter()
        .find(|e| e["message"] == "operation.created")
        .unwrap();
    assert_eq!(
        created["span"]["request_id"], request_id,
        "what a request logs carries its id"
    );
}
