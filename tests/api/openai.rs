//! The OpenAI-compatible generator against a fake server on loopback.

use std::sync::Once;

use rocket::serde::json::{json, Value};

use crate::fake_openai::{FakeOpenAi, Reply};
use crate::helpers::{Backend, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        a_question_comes_from_the_model_with_the_key_and_the_request,
        feedback_comes_from_the_model,
        malformed_model_output_is_retried_then_fails_with_upstream_error,
        a_429_that_outlasts_the_retries_fails_with_upstream_rate_limited,
        a_500_is_retried_and_the_next_answer_completes_the_operation,
        a_400_fails_at_once,
        an_upstream_that_hangs_fails_after_the_request_timeout,
    ],
);

const KEY: &str = "sk-test-4f1c";

async fn spawn_against(backend: Backend, fake: &FakeOpenAi) -> TestApp {
    static KEY_SET: Once = Once::new();
    // Every test sets the same value, once, before any generator reads it.
    KEY_SET.call_once(|| std::env::set_var(longrun::generator::openai::API_KEY_VAR, KEY));
    let base_url = fake.base_url.clone();
    TestApp::spawn_with(backend, move |f| {
        f.merge(("operations.generator", "openai"))
            .merge(("operations.openai.base_url", base_url))
            .merge(("operations.openai.model", "test-model"))
            .merge(("operations.openai.timeout_secs", 1))
            .merge(("operations.max_attempts", 3))
            .merge(("operations.retry_backoff_ms", 0))
    })
    .await
}

async fn run_question(app: &TestApp) -> Value {
    let id = app
        .create(
            "question_generation",
            json!({"role": "Data engineer", "topic": "pipelines", "previous_questions": ["What is ETL?"]}),
        )
        .await;
    app.drain().await;
    app.poll(id).await
}

async fn a_question_comes_from_the_model_with_the_key_and_the_request(backend: Backend) {
    let fake = FakeOpenAi::start(
        vec![],
        Reply::json(json!({"question_text": "How do you make a pipeline idempotent?", "topic": "pipelines"})),
    )
    .await;
    let app = spawn_against(backend, &fake).await;

    let operation = run_question(&app).await;

    assert_eq!(operation["status"], "completed", "{operation}");
    let result = &operation["result"];
    assert_eq!(result["question_text"], "How do you make a pipeline idempotent?");
    assert_eq!(result["topic"], "pipelines");
    assert_eq!(result["question_type"], "technical");
    assert_eq!(result["difficulty"], "middle");
    assert_eq!(result["generator"], "openai");
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(requests[0].body["model"], "test-model");
    let messages = requests[0].body["messages"].as_array().unwrap();
    assert!(
        messages[0]["content"]
            .as_str()
            .unwrap()
            .contains("interview questions"),
        "the prompt file"
    );
    assert!(
        messages[1]["content"].as_str().unwrap().contains("What is ETL?"),
        "the request"
    );
}

async fn feedback_comes_from_the_model(backend: Backend) {
    let model_answer = json!({
        "score": 7,
        "strengths": ["Clear structure."],
        "improvements": ["Quantify the result."],
        "feedback_text": "A solid answer."
    });
    let fake = FakeOpenAi::start(vec![], Reply::json(model_answer)).await;
    let app = spawn_against(backend, &fake).await;
    let input = json!({"question_text": "Why?", "answer_text": "Because.", "question_type": "technical"});

    let id = app.create("answer_feedback", input).await;
    app.drain().await;

    let result = app.poll(id).await["result"].clone();
    assert_eq!(result["score"], 7);
    assert_eq!(result["strengths"], json!(["Clear structure."]));
    assert_eq!(result["improvements"], json!(["Quantify the result."]));
    assert_eq!(result["feedback_text"], "A solid answer.");
    assert_eq!(result["generator"], "openai");
}

async fn malformed_model_output_is_retried_then_fails_with_upstream_error(backend: Backend) {
    let fake = FakeOpenAi::start(
        vec![],
        Reply::Content("Sure! Here is a question: why?".to_owned()),
    )
    .await;
    let app = spawn_against(backend, &fake).await;

    let operation = run_question(&app).await;

    assert_eq!(operation["status"], "failed");
    assert_eq!(operation["error_code"], "UPSTREAM_ERROR");
    assert_eq!(operation["attempts"], 3);
    assert_eq!(fake.requests().len(), 3);
}

async fn a_429_that_outlasts_the_retries_fails_with_upstream_rate_limited(backend: Backend) {
    let fake = FakeOpenAi::start(vec![], Reply::Status(429)).await;
    let app = spawn_against(backend, &fake).await;

    let operation = run_question(&app).await;

    assert_eq!(operation["status"], "failed");
    assert_eq!(operation["error_code"], "UPSTREAM_RATE_LIMITED");
    assert_eq!(operation["error_message"], "OpenAI API rate limit exceeded");
    assert_eq!(operation["attempts"], 3);
    assert_eq!(fake.requests().len(), 3);
}

async fn a_500_is_retried_and_the_next_answer_completes_the_operation(backend: Backend) {
    let fake = FakeOpenAi::start(
        vec![Reply::Status(500), Reply::Status(503)],
        Reply::json(json!({"question_text": "What is backpressure?", "topic": "pipelines"})),
    )
    .await;
    let app = spawn_against(backend, &fake).await;

    let operation = run_question(&app).await;

    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(operation["attempts"], 3);
    assert_eq!(operation["result"]["question_text"], "What is backpressure?");
}

async fn a_400_fails_at_once(backend: Backend) {
    let fake = FakeOpenAi::start(vec![], Reply::Status(400)).await;
    let app = spawn_against(backend, &fake).await;

    let operation = run_question(&app).await;

    assert_eq!(operation["status"], "failed");
    assert_eq!(operation["error_code"], "UPSTREAM_ERROR");
    assert_eq!(operation["error_message"], "OpenAI API error: HTTP 400");
    assert_eq!(operation["attempts"], 1);
}

async fn an_upstream_that_hangs_fails_after_the_request_timeout(backend: Backend) {
    let fake = FakeOpenAi::start(vec![], Reply::Hang).await;
    let app = spawn_against(backend, &fake).await;
    let started = std::time::Instant::now();

    let operation = run_question(&app).await;

    assert_eq!(operation["status"], "failed");
    assert_eq!(operation["error_code"], "UPSTREAM_ERROR");
    assert!(
        operation["error_message"].as_str().unwrap().contains("timed out"),
        "{operation}"
    );
    assert!(!operation.to_string().contains(KEY), "the key never shows");
    assert!(started.elapsed().as_secs() < 15, "three one-second timeouts");
}
