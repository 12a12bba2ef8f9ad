//! `?wait=N` and `Prefer: wait=N`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rocket::figment::Figment;
use rocket::http::{Header, Status};
use rocket::serde::json::{json, Value};
use uuid::Uuid;

use crate::helpers::{Backend, NewRow, TestApp, TestDb, TestResponse};
use crate::server::Server;
use crate::trials;

trials!(
    on_both_backends: [
        a_long_poll_returns_within_100ms_of_a_change_by_a_worker_in_this_process,
        a_long_poll_hears_of_a_change_by_another_program_at_the_next_recheck,
        a_long_poll_that_sees_no_change_times_out_with_a_304,
        a_long_poll_without_if_none_match_waits_for_a_change_from_the_state_it_found,
        a_long_poll_on_a_finished_operation_answers_at_once,
        the_wait_is_clamped_and_a_bad_one_is_a_422,
        prefer_wait_is_honoured_and_said_to_be,
        waiting_requests_hold_no_database_connection,
    ],
    on_postgres: [a_long_poll_on_postgres_hears_a_change_made_by_a_second_process_at_once],
);

async fn long_poll(app: &TestApp, id: Uuid, wait: &str, if_none_match: Option<&str>) -> TestResponse {
    let mut request = app.client.get(format!("/api/v1/operations/{id}?wait={wait}"));
    if let Some(etag) = if_none_match {
        request = request.header(Header::new("If-None-Match", etag.to_owned()));
    }
    TestResponse::read(request.dispatch().await).await
}

/// How long after the operation's last change this response arrived.
fn lag_since_change(operation: &Value) -> Duration {
    let updated: DateTime<Utc> = operation["updated_at"].as_str().unwrap().parse().unwrap();
    (Utc::now() - updated).to_std().unwrap_or_default()
}

async fn a_long_poll_returns_within_100ms_of_a_change_by_a_worker_in_this_process(backend: Backend) {
    let configure = |f: Figment| {
        f.merge(("operations.workers", 1))
            .merge(("operations.recheck_ms", 60_000))
    };
    let app = TestApp::spawn_with(backend, configure).await;
    let id = app
        .create("echo", json!({"delay_ms": 400, "result": "done"}))
        .await;
    let processing = app
        .wait_for(id, Duration::from_secs(5), |op| op["status"] == "processing")
        .await;
    let etag = processing_etag(&app, id).await;
    assert_eq!(processing["status"], "processing");

    let response = long_poll(&app, id, "10", Some(&etag)).await;

    assert_eq!(response.status, Status::Ok);
    let operation = response.json();
    assert_eq!(operation["status"], "completed");
    let lag = lag_since_change(&operation);
    assert!(
        lag < Duration::from_millis(100),
        "answered {lag:?} after the change"
    );
}

async fn processing_etag(app: &TestApp, id: Uuid) -> String {
    let response = app.get(&format!("/api/v1/operations/{id}")).await;
    response.header("ETag").unwrap().to_owned()
}

async fn a_long_poll_hears_of_a_change_by_another_program_at_the_next_recheck(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.recheck_ms", 100))).await;
    let mut other = app.db.connect().await;
    let id = other.insert(NewRow::pending()).await;
    let etag = processing_etag(&app, id).await;

    let (response, ()) = rocket::tokio::join!(long_poll(&app, id, "10", Some(&etag)), async {
        app.long_polls_held(1).await;
        other.set_status(id, "completed", Some(json!("by hand"))).await;
    });

    let operation = response.json();
    assert_eq!(operation["result"], "by hand");
    let lag = lag_since_change(&operation);
    assert!(
        lag < Duration::from_millis(500),
        "answered {lag:?} after the change"
    );
}

async fn a_long_poll_that_sees_no_change_times_out_with_a_304(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({})).await;
    let etag = processing_etag(&app, id).await;
    let started = Instant::now();

    let response = long_poll(&app, id, "0.4", Some(&etag)).await;

    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "held for the wait"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(response.status, Status::NotModified);
    assert!(response.body.is_empty());
    assert_eq!(response.header("ETag"), Some(etag.as_str()));
}

async fn a_long_poll_without_if_none_match_waits_for_a_change_from_the_state_it_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({"result": 7})).await;
    let started = Instant::now();

    let ((response, answered_at), changed_at) = rocket::tokio::join!(
        async { (long_poll(&app, id, "10", None).await, Instant::now()) },
        async {
            // Held first, then changed: the answer must wait for the change.
            app.long_polls_held(1).await;
            let changing_at = Instant::now();
            app.drain().await;
            changing_at
        }
    );

    assert!(answered_at >= changed_at, "held until the change");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(response.status, Status::Ok);
    assert_ne!(response.json()["status"], "pending");
}

async fn a_long_poll_on_a_finished_operation_answers_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({})).await;
    app.drain().await;
    let etag = processing_etag(&app, id).await;
    let started = Instant::now();

    let response = long_poll(&app, id, "10", Some(&etag)).await;

    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(response.status, Status::NotModified);
}

async fn the_wait_is_clamped_and_a_bad_one_is_a_422(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.max_wait_secs", 1))).await;
    let id = app.create("echo", json!({})).await;
    let etag = processing_etag(&app, id).await;

    for bad in ["-1", "soon", "", "1e999"] {
        let response = long_poll(&app, id, bad, None).await;
        response.assert_error(Status::UnprocessableEntity, "INVALID_WAIT");
    }
    let started = Instant::now();
    let clamped = long_poll(&app, id, "3600", Some(&etag)).await;
    assert_eq!(clamped.status, Status::NotModified);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "held {:?}",
        started.elapsed()
    );
    let missing = long_poll(&app, Uuid::new_v4(), "1", None).await;
    missing.assert_error(Status::NotFound, "OPERATION_NOT_FOUND");
}

async fn prefer_wait_is_honoured_and_said_to_be(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({})).await;
    let etag = processing_etag(&app, id).await;
    let started = Instant::now();

    let request = app
        .client
        .get(format!("/api/v1/operations/{id}"))
        .header(Header::new("If-None-Match", etag))
        .header(Header::new("Prefer", "respond-async, wait=0.3"));
    let response = TestResponse::read(request.dispatch().await).await;

    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response.status, Status::NotModified);
    assert_eq!(response.header("Preference-Applied"), Some("wait=0.3"));
    let bad = app
        .client
        .get(format!("/api/v1/operations/{id}"))
        .header(Header::new("Prefer", "wait=never"));
    TestResponse::read(bad.dispatch().await)
        .await
        .assert_error(Status::UnprocessableEntity, "INVALID_WAIT");
}

async fn waiting_requests_hold_no_database_connection(backend: Backend) {
    let configure = |f: Figment| f.merge(("databases.operations.max_connections", 2));
    let app = TestApp::spawn_with(backend, configure).await;
    let id = app.create("echo", json!({})).await;
    let etag = processing_etag(&app, id).await;

    // Twenty waiters on a pool of two: plain polls still get through.
    let waiters = (0..20).map(|_| long_poll(&app, id, "2", Some(&etag)));
    let polls = async {
        app.long_polls_held(20).await;
        let started = Instant::now();
        for _ in 0..10 {
            let polled = app.get(&format!("/api/v1/operations/{id}")).await;
            assert_eq!(polled.status, Status::Ok, "{}", polled.body);
        }
        started.elapsed()
    };
    let (answers, polling_took) = rocket::tokio::join!(rocket::futures::future::join_all(waiters), polls);

    assert!(
        polling_took < Duration::from_secs(1),
        "plain polls waited {polling_took:?} for a connection"
    );
    assert!(answers.iter().all(|r| r.status == Status::NotModified));
}

async fn a_long_poll_on_postgres_hears_a_change_made_by_a_second_process_at_once() {
    let db = TestDb::create(Backend::Postgres).await;
    let url = db.url.clone();
    // No periodic re-check to speak of: only NOTIFY can wake the waiter.
    let app = TestApp::spawn_on(db, &url, |f| f.merge(("operations.recheck_ms", 60_000))).await;
    let second = Server::start(&url, "workers=1, idle_poll_ms=50").await;
    let id = second
        .create_echo(json!({"delay_ms": 500, "result": "elsewhere"}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while second.poll(id).await["status"] != "processing" {
        assert!(Instant::now() < deadline);
        rocket::tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let etag = processing_etag(&app, id).await;

    let response = long_poll(&app, id, "10", Some(&etag)).await;

    let operation = response.json();
    assert_eq!(operation["status"], "completed");
    let lag = lag_since_change(&operation);
    assert!(
        lag < Duration::from_millis(100),
        "answered {lag:?} after the change"
    );
}
