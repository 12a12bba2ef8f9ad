//! ETags, 304s and Retry-After on GET.

use rocket::http::{Header, Status};
use rocket::serde::json::json;

use crate::helpers::{Backend, NewRow, TestApp, TestResponse, SHOWS_WITHIN};
use crate::trials;

trials!(
    on_both_backends: [
        the_etag_is_stable_while_nothing_changes_and_moves_with_every_change,
        a_matching_if_none_match_gets_a_304_with_no_body,
        retry_after_is_sent_only_while_the_operation_is_unfinished,
        a_finished_operation_keeps_its_etag,
    ],
);

async fn get_with(app: &TestApp, path: &str, if_none_match: &str) -> TestResponse {
    let request = app
        .client
        .get(path.to_owned())
        .header(Header::new("If-None-Match", if_none_match.to_owned()));
    TestResponse::read(request.dispatch().await).await
}

fn etag(response: &TestResponse) -> String {
    response.header("ETag").expect("an ETag").to_owned()
}

async fn the_etag_is_stable_while_nothing_changes_and_moves_with_every_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut other = app.db.connect().await;
    let id = other
        .insert(NewRow {
            operation_type: "echo",
            ..NewRow::pending()
        })
        .await;
    let path = format!("/api/v1/operations/{id}");

    let first = app.get(&path).await;
    let again = app.get(&path).await;
    assert_eq!(etag(&first), etag(&again));
    assert!(
        etag(&first).starts_with('"') && etag(&first).ends_with('"'),
        "a strong ETag"
    );
    assert_eq!(first.header("Cache-Control"), Some("no-cache"));

    other.set_status(id, "processing", None).await;
    let by_other_program = app
        .wait_until_get(&path, SHOWS_WITHIN, |r| r.json()["status"] == "processing")
        .await;
    assert_ne!(
        etag(&by_other_program),
        etag(&first),
        "an UPDATE by another program moves it"
    );

    other.set_status(id, "pending", None).await;
    app.drain().await;
    let by_worker = app.get(&path).await;
    assert_eq!(by_worker.json()["status"], "completed");
    let seen: std::collections::HashSet<String> = [&first, &by_other_program, &by_worker]
        .iter()
        .map(|r| etag(r))
        .collect();
    assert_eq!(seen.len(), 3, "each state has its own ETag");
}

async fn a_matching_if_none_match_gets_a_304_with_no_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({})).await;
    let path = format!("/api/v1/operations/{id}");
    let current = etag(&app.get(&path).await);

    for header in [
        current.clone(),
        format!("W/{current}"),
        format!("\"other\", {current}"),
        "*".to_owned(),
    ] {
        let response = get_with(&app, &path, &header).await;
        assert_eq!(response.status, Status::NotModified, "{header}");
        assert!(response.body.is_empty(), "no body: {:?}", response.body);
        assert_eq!(response.header("ETag"), Some(current.as_str()));
    }
    let stale = get_with(&app, &path, "\"stale\"").await;
    assert_eq!(stale.status, Status::Ok);
    assert_eq!(stale.json()["status"], "pending");
}

async fn retry_after_is_sent_only_while_the_operation_is_unfinished(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.retry_after_secs", 3))).await;
    let id = app.create("echo", json!({})).await;
    let path = format!("/api/v1/operations/{id}");

    assert_eq!(app.get(&path).await.header("Retry-After"), Some("3"));
    app.drain().await;
    let finished = app.get(&path).await;
    assert_eq!(finished.json()["status"], "completed");
    assert_eq!(finished.header("Retry-After"), None);
}

async fn a_finished_operation_keeps_its_etag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({"result": 42})).await;
    app.drain().await;
    let path = format!("/api/v1/operations/{id}");
    let finished = etag(&app.get(&path).await);

    app.post(&format!("{path}/cancel"), "", &[]).await;
    app.workers().expire_leases().await.unwrap();
    app.drain().await;

    assert_eq!(etag(&app.get(&path).await), finished);
    assert_eq!(get_with(&app, &path, &finished).await.status, Status::NotModified);
}
