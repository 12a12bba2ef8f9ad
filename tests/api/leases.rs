//! Claims, leases and the conditional updates that keep a late or
//! duplicate worker from overwriting a newer state.

use std::time::Duration;

use rocket::serde::json::json;

use longrun::domain::ErrorCode;

use crate::helpers::{clock_moves_past, Backend, NewRow, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        an_operation_whose_lease_ran_out_is_claimed_again,
        a_lease_that_runs_out_with_no_attempt_left_fails_with_lease_expired,
        a_worker_that_lost_its_claim_cannot_write_its_outcome,
        a_finished_operation_never_changes_again,
        a_renewed_lease_does_not_move_updated_at,
        a_processing_row_another_program_left_without_a_lease_is_taken_back,
        every_write_is_committed_by_the_time_it_returns,
    ],
);

const LONG: Duration = Duration::from_secs(30);

async fn an_operation_whose_lease_ran_out_is_claimed_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({"result": "second time lucky"})).await;
    // A worker that died: its lease is already over.
    let dead = app.claim_one("dead-worker", Duration::ZERO).await;
    assert_eq!(dead.token.id, id);

    app.workers().expire_leases().await.unwrap();
    assert_eq!(app.poll(id).await["status"], "pending");
    assert_eq!(app.drain().await, 1);

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "completed");
    assert_eq!(operation["attempts"], 2);
}

async fn a_lease_that_runs_out_with_no_attempt_left_fails_with_lease_expired(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.max_attempts", 2))).await;
    let id = app.create("echo", json!({})).await;

    for _ in 0..2 {
        app.claim_one("dead-worker", Duration::ZERO).await;
        app.workers().expire_leases().await.unwrap();
    }

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "failed");
    assert_eq!(operation["error_code"], "LEASE_EXPIRED");
    assert_eq!(operation["attempts"], 2);
    assert_eq!(app.drain().await, 0);
}

async fn a_worker_that_lost_its_claim_cannot_write_its_outcome(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.operations();
    let id = app.create("echo", json!({})).await;
    let late = app.claim_one("slow-worker", Duration::ZERO).await;
    app.workers().expire_leases().await.unwrap();
    let current = app.claim_one("new-worker", LONG).await;

    assert!(store
        .complete(&late.token, &json!("stale"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .fail(&late.token, ErrorCode::HandlerError, "stale")
        .await
        .unwrap()
        .is_none());
    assert!(!store.renew(&late.token, LONG).await.unwrap());
    assert!(!store.give_back(&late.token).await.unwrap());
    assert_eq!(app.poll(id).await["status"], "processing");

    assert!(store
        .complete(&current.token, &json!("fresh"))
        .await
        .unwrap()
        .is_some());
    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "completed");
    assert_eq!(operation["result"], "fresh");
}

async fn a_finished_operation_never_changes_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.operations();
    let id = app.create("echo", json!({})).await;
    let claimed = app.claim_one("worker", LONG).await;
    assert!(store.complete(&claimed.token, &json!(1)).await.unwrap().is_some());
    let finished = app.poll(id).await;

    assert!(store.complete(&claimed.token, &json!(2)).await.unwrap().is_none());
    assert!(store
        .fail(&claimed.token, ErrorCode::Timeout, "late")
        .await
        .unwrap()
        .is_none());
    assert!(!store.retry_later(&claimed.token, Duration::ZERO).await.unwrap());
    assert!(store.cancel(id).await.unwrap().is_none());
    app.workers().expire_leases().await.unwrap();
    assert!(store.claim("worker", LONG, 1).await.unwrap().claimed.is_empty());

    assert_eq!(app.poll(id).await, finished);
}

async fn a_renewed_lease_does_not_move_updated_at(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({})).await;
    let claimed = app.claim_one("worker", LONG).await;
    let before = app.poll(id).await;
    // So that a renewal that touched updated_at would show.
    clock_moves_past(&before["updated_at"]).await;

    assert!(app.operations().renew(&claimed.token, LONG).await.unwrap());

    assert_eq!(
        app.poll(id).await,
        before,
        "a renewal changes nothing a client sees"
    );
}

async fn a_processing_row_another_program_left_without_a_lease_is_taken_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let row = NewRow {
        operation_type: "echo",
        status: "processing",
        ..NewRow::pending()
    };
    let id = app.db.connect().await.insert(row).await;

    app.workers().expire_leases().await.unwrap();
    app.drain().await;

    assert_eq!(app.poll(id).await["status"], "completed");
}

async fn every_write_is_committed_by_the_time_it_returns(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut other = app.db.connect().await;

    for _ in 0..20 {
        let created = app.create("echo", json!({})).await;
        assert_eq!(
            other.status_of(created).await.as_deref(),
            Some("pending"),
            "created"
        );
        let claimed = app.claim_one("worker", LONG).await;
        assert_eq!(
            other.status_of(claimed.token.id).await.as_deref(),
            Some("processing"),
            "claimed"
        );
        let cancelled = app.create("echo", json!({})).await;
        app.operations().cancel(cancelled).await.unwrap().unwrap();
        assert_eq!(
            other.status_of(cancelled).await.as_deref(),
            Some("failed"),
            "cancelled"
        );
        assert!(app
            .operations()
            .complete(&claimed.token, &json!(1))
            .await
            .unwrap()
            .is_some());
    }
}
