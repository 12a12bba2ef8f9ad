use std::time::Duration;

use rocket::figment::Figment;
use rocket::serde::json::json;

use crate::helpers::{Backend, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        shutdown_lets_a_running_handler_finish_within_the_grace_period,
        shutdown_gives_back_to_pending_what_outlasts_the_grace_period,
    ],
);

fn one_worker_with_grace(grace: u32) -> impl FnOnce(Figment) -> Figment {
    move |f| {
        f.merge(("operations.workers", 1))
            .merge(("shutdown.grace", grace))
            .merge(("shutdown.mercy", 1))
    }
}

async fn shutdown_lets_a_running_handler_finish_within_the_grace_period(backend: Backend) {
    let app = TestApp::spawn_with(backend, one_worker_with_grace(10)).await;
    let id = app
        .create("echo", json!({"delay_ms": 500, "result": "finished"}))
        .await;
    app.wait_for(id, Duration::from_secs(5), |op| op["status"] == "processing")
        .await;

    let db = app.stop().await;

    let url = db.url.clone();
    let after = TestApp::spawn_on(db, &url, |f| f).await;
    let operation = after.poll(id).await;
    assert_eq!(operation["status"], "completed");
    assert_eq!(operation["result"], "finished");
}

async fn shutdown_gives_back_to_pending_what_outlasts_the_grace_period(backend: Backend) {
    let app = TestApp::spawn_with(backend, one_worker_with_grace(1)).await;
    let id = app.create("echo", json!({"delay_ms": 60_000})).await;
    app.wait_for(id, Duration::from_secs(5), |op| op["status"] == "processing")
        .await;
    // Created once the one worker is busy: two creations within the same
    // millisecond would leave it to chance which one the worker takes.
    let queued = app.create("echo", json!({})).await;

    let started = std::time::Instant::now();
    let db = app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped after the grace period, not the handler's minute"
    );

    let url = db.url.clone();
    let after = TestApp::spawn_on(db, &url, |f| f).await;
    let operation = after.poll(id).await;
    assert_eq!(
        operation["status"], "pending",
        "given back, not stuck in processing"
    );
    assert_eq!(operation["attempts"], 0, "an interrupted attempt is not counted");
    assert_eq!(
        after.poll(queued).await["status"],
        "pending",
        "nothing new was claimed while stopping"
    );
}
