use rocket::http::Status;
use rocket::serde::json::{json, Value};

use crate::helpers::{Backend, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        creating_an_operation_answers_202_with_location_and_the_pending_operation,
        an_unknown_operation_type_is_rejected,
        input_that_does_not_fit_the_type_is_rejected_naming_the_field,
        a_body_that_is_not_json_is_a_400_malformed_json,
        a_body_over_the_limit_is_a_413,
        the_same_idempotency_key_and_body_return_the_same_operation,
        the_same_idempotency_key_with_another_body_is_a_409,
        a_malformed_idempotency_key_is_rejected,
        echo_does_not_exist_unless_enabled,
    ],
);

const CREATE: &str = "/api/v1/operations";

async fn creating_an_operation_answers_202_with_location_and_the_pending_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"operation_type": "question_generation", "input": {"role": "Backend developer"}});

    let response = app.post(CREATE, &body.to_string(), &[]).await;

    assert_eq!(response.status, Status::Accepted, "{}", response.body);
    let operation = response.json();
    let id = operation["id"].as_str().unwrap();
    assert_eq!(
        response.header("Location"),
        Some(format!("/api/v1/operations/{id}").as_str())
    );
    assert_eq!(response.header("Retry-After"), Some("2"));
    assert_eq!(operation["status"], "pending");
    assert_eq!(operation["operation_type"], "question_generation");
    assert_eq!(operation["attempts"], 0);
    assert_eq!(operation["error_code"], Value::Null);
    assert_eq!(
        app.poll(id.parse().unwrap()).await,
        operation,
        "the Location serves the same operation"
    );
}

async fn an_unknown_operation_type_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"operation_type": "world_domination", "input": {}});

    let response = app.post(CREATE, &body.to_string(), &[]).await;

    let error = response.assert_error(Status::UnprocessableEntity, "UNKNOWN_OPERATION_TYPE");
    let message = error["detail"]["message"].as_str().unwrap();
    assert!(
        message.contains("question_generation"),
        "lists the known types: {message}"
    );
}

async fn input_that_does_not_fit_the_type_is_rejected_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (
            json!({"operation_type": "question_generation", "input": {}}),
            "role",
        ),
        (
            json!({"operation_type": "question_generation", "input": {"role": 7}}),
            "role",
        ),
        (
            json!({"operation_type": "question_generation", "input": {"role": "x", "difficulty": "wizard"}}),
            "difficulty",
        ),
        (
            json!({"operation_type": "question_generation", "input": {"role": "x", "question_type": "trivia"}}),
            "question_type",
        ),
        (
            json!({"operation_type": "question_generation", "input": {"role": "x", "previous_questions": "q"}}),
            "previous_questions",
        ),
        (
            json!({"operation_type": "question_generation", "input": {"role": "x", "colour": "red"}}),
            "colour",
        ),
        (
            json!({"operation_type": "answer_feedback", "input": {"question_text": "Why?"}}),
            "answer_text",
        ),
        (
            json!({"operation_type": "echo", "input": {"delay_ms": -1}}),
            "delay_ms",
        ),
        (json!({"operation_type": "echo", "input": []}), "input"),
        (json!({"input": {}}), "operation_type"),
        (json!({"operation_type": 3}), "operation_type"),
        (json!(["question_generation"]), "body"),
    ];

    for (body, field) in cases {
        let response = app.post(CREATE, &body.to_string(), &[]).await;
        let error = response.assert_error(Status::UnprocessableEntity, "INVALID_INPUT");
        let message = error["detail"]["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{body}: the message names {field}: {message}"
        );
    }
}

async fn a_body_that_is_not_json_is_a_400_malformed_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for body in [
        "",
        "{",
        "operation_type=echo",
        "{\"operation_type\": \"echo\",}",
        "\u{0}",
    ] {
        let response = app.post(CREATE, body, &[]).await;
        response.assert_error(Status::BadRequest, "MALFORMED_JSON");
    }
}

async fn a_body_over_the_limit_is_a_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let padding = "x".repeat(65 * 1024);
    let body = json!({"operation_type": "echo", "input": {"result": padding}});

    let response = app.post(CREATE, &body.to_string(), &[]).await;

    response.assert_error(Status::PayloadTooLarge, "PAYLOAD_TOO_LARGE");
    let within = json!({"operation_type": "echo", "input": {"result": "x".repeat(60 * 1024)}});
    assert_eq!(
        app.post(CREATE, &within.to_string(), &[]).await.status,
        Status::Accepted
    );
}

async fn the_same_idempotency_key_and_body_return_the_same_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"operation_type": "echo", "input": {"result": {"n": 1}}}).to_string();
    let key = [("Idempotency-Key", "order-7f3a")];

    let first = app.post(CREATE, &body, &key).await;
    let second = app.post(CREATE, &body, &key).await;
    let unkeyed = app.post(CREATE, &body, &[]).await;

    assert_eq!(first.status, Status::Accepted);
    assert_eq!(second.status, Status::Accepted);
    assert_eq!(first.json()["id"], second.json()["id"]);
    assert_eq!(first.header("Location"), second.header("Location"));
    assert_ne!(
        first.json()["id"],
        unkeyed.json()["id"],
        "without a key, each request creates"
    );
    assert_eq!(app.drain().await, 2, "two operations exist, not three");
}

async fn the_same_idempotency_key_with_another_body_is_a_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = [("Idempotency-Key", "order-7f3a")];
    let one = json!({"operation_type": "echo", "input": {"result": 1}}).to_string();
    let other = json!({"operation_type": "echo", "input": {"result": 2}}).to_string();

    assert_eq!(app.post(CREATE, &one, &key).await.status, Status::Accepted);
    let response = app.post(CREATE, &other, &key).await;

    response.assert_error(Status::Conflict, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.drain().await, 1);
}

async fn a_malformed_idempotency_key_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"operation_type": "echo", "input": {}}).to_string();
    let long = "k".repeat(256);

    for key in ["", long.as_str(), "with space", "é"] {
        let response = app.post(CREATE, &body, &[("Idempotency-Key", key)]).await;
        response.assert_error(Status::BadRequest, "INVALID_IDEMPOTENCY_KEY");
    }
    assert_eq!(app.drain().await, 0);
}

async fn echo_does_not_exist_unless_enabled(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.enable_echo", false))).await;
    let body = json!({"operation_type": "echo", "input": {}}).to_string();

    app.post(CREATE, &body, &[])
        .await
        .assert_error(Status::UnprocessableEntity, "UNKNOWN_OPERATION_TYPE");
}
