use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};

use crate::helpers::{Backend, NewRow, TestApp, SHOWS_WITHIN};
use crate::trials;

trials!(
    on_both_backends: [
        polling_a_pending_operation_returns_every_field,
        polling_a_processing_operation_returns_its_status,
        polling_a_completed_operation_returns_its_result,
        polling_a_failed_operation_returns_its_error_message,
        polling_a_missing_operation_returns_the_exact_not_found_body,
        three_polls_see_pending_then_processing_then_completed,
        other_spellings_of_a_uuid_find_the_same_operation,
        polling_never_writes,
    ],
);

fn assert_rfc3339_utc(value: &Value) {
    let text = value.as_str().expect("a timestamp string");
    let parsed = chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(parsed.offset().local_minus_utc(), 0, "{text} is UTC");
}

async fn polling_a_pending_operation_returns_every_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.db.connect().await.insert(NewRow::pending()).await;

    let response = app.get(&format!("/api/v1/operations/{id}")).await;

    assert_eq!(response.status, Status::Ok);
    assert_eq!(response.content_type, Some(ContentType::JSON));
    let body = response.json();
    assert_eq!(body["id"], id.as_hyphenated().to_string());
    assert_eq!(body["operation_type"], "question_generation");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["result"], Value::Null);
    assert_eq!(body["error_message"], Value::Null);
    assert_rfc3339_utc(&body["created_at"]);
    assert_rfc3339_utc(&body["updated_at"]);
}

async fn polling_a_processing_operation_returns_its_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let row = NewRow {
        status: "processing",
        ..NewRow::pending()
    };
    let id = app.db.connect().await.insert(row).await;

    let body = app.get(&format!("/api/v1/operations/{id}")).await.json();

    assert_eq!(body["status"], "processing");
    assert_eq!(body["result"], Value::Null);
}

async fn polling_a_completed_operation_returns_its_result(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let result = json!({"question_text": "What is a lifetime?", "tags": ["rust", 1, null, {"deep": true}]});
    let row = NewRow {
        status: "completed",
        result: Some(result.clone()),
        ..NewRow::pending()
    };
    let id = app.db.connect().await.insert(row).await;

    let body = app.get(&format!("/api/v1/operations/{id}")).await.json();

    assert_eq!(body["status"], "completed");
    assert_eq!(body["result"], result);
    assert_eq!(body["error_message"], Value::Null);
}

async fn polling_a_failed_operation_returns_its_error_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let row = NewRow {
        status: "failed",
        error_message: Some("OpenAI API rate limit exceeded"),
        ..NewRow::pending()
    };
    let id = app.db.connect().await.insert(row).await;

    let body = app.get(&format!("/api/v1/operations/{id}")).await.json();

    assert_eq!(body["status"], "failed");
    assert_eq!(body["error_message"], "OpenAI API rate limit exceeded");
    assert_eq!(body["result"], Value::Null);
}

async fn polling_a_missing_operation_returns_the_exact_not_found_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .get(&format!("/api/v1/operations/{}", uuid::Uuid::new_v4()))
        .await;

    assert_eq!(response.status, Status::NotFound);
    assert_eq!(response.content_type, Some(ContentType::JSON));
    assert_eq!(
        response.json(),
        json!({"detail": {"code": "OPERATION_NOT_FOUND", "message": "Operation not found. It may have expired or never existed."}})
    );
}

async fn three_polls_see_pending_then_processing_then_completed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut other = app.db.connect().await;
    let id = other.insert(NewRow::pending()).await;
    let path = format!("/api/v1/operations/{id}");

    let first = app.get(&path).await.json();
    other.set_status(id, "processing", None).await;
    let second = app
        .wait_for(id, SHOWS_WITHIN, |op| op["status"] != "pending")
        .await;
    other
        .set_status(id, "completed", Some(json!({"question_text": "Why?"})))
        .await;
    let third = app
        .wait_for(id, SHOWS_WITHIN, |op| op["status"] != "processing")
        .await;

    let statuses = [&first, &second, &third].map(|body| body["status"].clone());
    assert_eq!(statuses, ["pending", "processing", "completed"]);
    assert_eq!(third["result"], json!({"question_text": "Why?"}));
    let updated = [&first, &second, &third].map(|body| body["updated_at"].as_str().unwrap().to_owned());
    assert!(
        updated[0] <= updated[1] && updated[1] <= updated[2],
        "updated_at never goes back: {updated:?}"
    );
    assert_eq!(first["created_at"], third["created_at"]);
}

async fn other_spellings_of_a_uuid_find_the_same_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.db.connect().await.insert(NewRow::pending()).await;
    let hyphenated = id.as_hyphenated().to_string();
    let spellings = [
        hyphenated.to_uppercase(),
        id.as_simple().to_string(),
        format!("%7B{hyphenated}%7D"),
        format!("urn:uuid:{hyphenated}"),
        hyphenated.replacen('-', "%2D", 1),
    ];

    for spelling in spellings {
        let response = app.get(&format!("/api/v1/operations/{spelling}")).await;
        assert_eq!(response.status, Status::Ok, "{spelling}: {}", response.body);
        assert_eq!(response.json()["id"], hyphenated, "{spelling}");
    }
}

async fn polling_never_writes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.db.connect().await.insert(NewRow::pending()).await;
    let path = format!("/api/v1/operations/{id}");

    let before = app.get(&path).await.body;
    for _ in 0..5 {
        app.get(&path).await;
    }
    let after = app.get(&path).await.body;

    assert_eq!(
        before, after,
        "polls leave the operation untouched, updated_at included"
    );
}
