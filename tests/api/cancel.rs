use std::time::{Duration, Instant};

use rocket::http::Status;
use rocket::serde::json::json;

use crate::helpers::{Backend, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        cancelling_a_pending_operation_fails_it_and_no_worker_runs_it,
        cancelling_a_running_operation_stops_its_handler,
        cancelling_a_finished_operation_is_a_409,
        cancelling_a_missing_or_malformed_id_is_a_404_or_422,
    ],
);

fn cancel_path(id: impl std::fmt::Display) -> String {
    format!("/api/v1/operations/{id}/cancel")
}

async fn cancelling_a_pending_operation_fails_it_and_no_worker_runs_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({"result": "never"})).await;

    let response = app.post(&cancel_path(id), "", &[]).await;

    assert_eq!(response.status, Status::Ok, "{}", response.body);
    let operation = response.json();
    assert_eq!(operation["status"], "failed");
    assert_eq!(operation["error_code"], "CANCELLED");
    assert_eq!(operation["error_message"], "Operation was cancelled");
    assert_eq!(app.drain().await, 0, "nothing left to run");
    assert_eq!(app.poll(id).await, operation);
}

async fn cancelling_a_running_operation_stops_its_handler(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.workers", 1))).await;
    let id = app
        .create("echo", json!({"delay_ms": 30_000, "result": "too late"}))
        .await;
    app.wait_for(id, Duration::from_secs(5), |op| op["status"] == "processing")
        .await;

    let response = app.post(&cancel_path(id), "", &[]).await;
    assert_eq!(response.status, Status::Ok, "{}", response.body);

    // The one worker is free again at once: its handler was stopped, not
    // left sleeping for 30 s.
    let started = Instant::now();
    let next = app.create("echo", json!({"result": "next"})).await;
    let next = app.wait_finished(next, Duration::from_secs(5)).await;
    assert_eq!(next["status"], "completed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "failed");
    assert_eq!(operation["error_code"], "CANCELLED");
    assert_eq!(operation["result"], json!(null));
}

async fn cancelling_a_finished_operation_is_a_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({"result": 1})).await;
    app.drain().await;

    let response = app.post(&cancel_path(id), "", &[]).await;

    response.assert_error(Status::Conflict, "OPERATION_ALREADY_FINISHED");
    assert_eq!(app.poll(id).await["status"], "completed", "the result stands");
}

async fn cancelling_a_missing_or_malformed_id_is_a_404_or_422(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let missing = app.post(&cancel_path(uuid::Uuid::new_v4()), "", &[]).await;
    let malformed = app.post(&cancel_path("not-a-uuid"), "", &[]).await;

    missing.assert_error(Status::NotFound, "OPERATION_NOT_FOUND");
    malformed.assert_error(Status::UnprocessableEntity, "INVALID_OPERATION_ID");
}
