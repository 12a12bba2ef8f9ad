//! Operation types of `kind = "http"` against a fake target on loopback.

use rocket::http::Status;
use rocket::serde::json::{json, Value};
use uuid::Uuid;

use crate::fake_target::{nothing_listening, FakeTarget, Reply, Seen};
use crate::helpers::{Backend, OtherProgram, TestApp, TestResponse};
use crate::trials;

trials!(
    on_both_backends: [
        a_2xx_completes_with_the_targets_json_and_the_request_is_signed,
        a_bearer_token_type_sends_its_token_instead_of_a_signature,
        a_4xx_fails_at_once_with_the_targets_message,
        a_5xx_is_retried_and_the_next_answer_completes,
        a_5xx_for_ever_fails_after_the_types_own_max_attempts,
        a_429_is_retried_then_fails_as_rate_limited,
        a_target_that_hangs_is_retried_then_fails_after_its_timeout,
        an_unreachable_target_is_retried_then_fails,
        a_2xx_without_json_fails_at_once,
        a_202_then_complete_finishes_with_the_targets_result_once,
        a_202_then_fail_fails_with_the_targets_message,
        wrong_tokens_are_401_and_bad_bodies_422_without_spending_the_token,
        a_completion_result_that_misfits_the_output_schema_is_422,
        a_spent_token_is_404_whatever_the_result,
        input_that_breaks_the_schema_is_422_naming_the_path_and_never_sent,
        a_2xx_result_that_misfits_the_output_schema_fails_at_once,
        a_handed_on_operation_whose_lease_runs_out_is_sent_again_or_fails,
        a_handed_on_operation_waits_the_types_timeout,
        an_input_schema_may_be_a_file,
    ],
);

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BEARER: &str = "target-token-7d2e";

/// An input the schema of [`remote`] takes.
fn good_input() -> Value {
    json!({"role": "Data engineer", "items": [{"n": 1}, {"n": 2}], "meta": {"level": 3}})
}

/// `role`, `items` (objects with an integer `n`) and an optional `meta`
/// object with an integer `level`.
fn input_schema() -> Value {
    json!({
        "type": "object",
        "required": ["role", "items"],
        "properties": {
            "role": {"type": "string", "minLength": 1},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["n"],
                    "properties": {"n": {"type": "integer"}}
                }
            },
            "meta": {
                "type": "object",
                "properties": {"level": {"type": "integer"}}
            }
        },
        "additionalProperties": false
    })
}

fn output_schema() -> Value {
    json!({
        "type": "object",
        "required": ["score"],
        "properties": {"score": {"type": "integer"}}
    })
}

/// A signed `http` type calling `url`, with `more` settings on top.
fn remote(url: &str, more: Value) -> Value {
    let mut settings = json!({
        "kind": "http",
        "url": url,
        "secret": SECRET,
        "input_schema": input_schema(),
    });
    for (key, value) in more.as_object().unwrap() {
        settings[key] = value.clone();
    }
    settings
}

/// The service with these `operations.types`, backoff 0, private targets
/// allowed and 3 attempts by default.
async fn spawn(backend: Backend, types: Value) -> TestApp {
    TestApp::spawn_with(backend, move |f| {
        f.merge(("operations.retry_backoff_ms", 0))
            .merge(("operations.allow_private_targets", true))
            .merge(("operations.max_attempts", 3))
            .merge(("operations.types", types))
    })
    .await
}

/// The service with one type, `remote`, on `url`.
async fn spawn_remote(backend: Backend, url: &str, more: Value) -> TestApp {
    spawn(backend, json!({"remote": remote(url, more)})).await
}

/// Creates a `remote` operation with [`good_input`] and runs what is due.
async fn run_one(app: &TestApp) -> (Uuid, Value) {
    let id = app.create("remote", good_input()).await;
    app.drain().await;
    (id, app.poll(id).await)
}

fn completion_token(seen: &Seen) -> String {
    seen.header("longrun-completion-token")
        .filter(|token| !token.is_empty())
        .unwrap_or_else(|| panic!("no completion token: {seen:?}"))
        .to_owned()
}

/// `POST /api/v1/operations/{id}/{action}` with `body`, and the token as
/// `Authorization: Bearer`, if any.
async fn finish(app: &TestApp, id: Uuid, action: &str, token: Option<&str>, body: &str) -> TestResponse {
    let path = format!("/api/v1/operations/{id}/{action}");
    match token {
        Some(token) => {
            let authorization = format!("Bearer {token}");
            app.post(&path, body, &[("Authorization", &authorization)]).await
        }
        None => app.post(&path, body, &[]).await,
    }
}

async fn count_operations(app: &TestApp) -> i64 {
    match app.db.connect().await {
        OtherProgram::Sqlite(mut c) => sqlx::query_scalar("SELECT count(*) FROM operations")
            .fetch_one(&mut c)
            .await
            .unwrap(),
        OtherProgram::Postgres(mut c) => sqlx::query_scalar("SELECT count(*) FROM operations")
            .fetch_one(c.as_mut())
            .await
            .unwrap(),
    }
}

/// Makes the lease of `id` one that ran out long ago, as if the target had
/// not finished in time.
async fn lease_ran_out(app: &TestApp, id: Uuid) {
    let mut db = app.db.connect().await;
    db.execute(&format!(
        "UPDATE operations SET lease_expires_at = '2000-01-01T00:00:00.000Z' WHERE id = '{id}'"
    ))
    .await;
}

/// Seconds until the lease of `id` runs out, as the database sees it.
async fn lease_left_secs(app: &TestApp, id: Uuid) -> f64 {
    let seconds = match app.db.backend {
        Backend::Sqlite => "CAST((julianday(lease_expires_at) - julianday('now')) * 86400.0 AS TEXT)",
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM (lease_expires_at - now())) AS TEXT)",
    };
    let text = app.db.connect().await.text_of(id, seconds).await;
    text.as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no lease: {text:?}"))
}

async fn a_2xx_completes_with_the_targets_json_and_the_request_is_signed(backend: Backend) {
    let answer = json!({"greeting": "hello", "scores": [1, 2.5], "nested": {"ok": true}});
    let target = FakeTarget::start(vec![], Reply::Json(200, answer.clone())).await;
    let app = spawn_remote(backend, &target.url, json!({})).await;

    let (id, operation) = run_one(&app).await;

    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(operation["result"], answer);
    assert_eq!(operation["attempts"], 1);
    let requests = target.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let seen = &requests[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/run");
    assert_eq!(seen.body, good_input(), "the input is the body");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("longrun-operation-id"), Some(id.to_string().as_str()));
    assert_eq!(seen.header("longrun-attempt"), Some("1"));
    completion_token(seen);
    assert_eq!(seen.header("authorization"), None, "signed, not a bearer");

    let webhook_id = seen.header("webhook-id").expect("webhook-id");
    assert_eq!(webhook_id, format!("msg_{}_1", id.simple()));
    let timestamp: i64 = seen
        .header("webhook-timestamp")
        .and_then(|t| t.parse().ok())
        .expect("a webhook-timestamp in seconds");
    assert!(
        (chrono::Utc::now().timestamp() - timestamp).abs() < 60,
        "a current timestamp: {timestamp}"
    );
    let key = longrun::config::secret_key(SECRET).unwrap();
    let expected = longrun::outbound::sign(&key, webhook_id, timestamp, &seen.raw_body);
    assert_eq!(seen.header("webhook-signature"), Some(expected.as_str()));
    let other_key = longrun::config::secret_key("whsec_b3RoZXIta2V5").unwrap();
    assert_ne!(
        seen.header("webhook-signature"),
        Some(longrun::outbound::sign(&other_key, webhook_id, timestamp, &seen.raw_body).as_str()),
        "the signature depends on the key"
    );
}

async fn a_bearer_token_type_sends_its_token_instead_of_a_signature(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Json(201, json!({"done": 1}))).await;
    let mut settings = remote(&target.url, json!({"bearer_token": BEARER}));
    settings.as_object_mut().unwrap().remove("secret");
    let app = spawn(backend, json!({"remote": settings})).await;

    let (id, operation) = run_one(&app).await;

    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(operation["result"], json!({"done": 1}));
    let requests = target.requests();
    assert_eq!(requests.len(), 1);
    let seen = &requests[0];
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {BEARER}").as_str())
    );
    assert_eq!(seen.header("webhook-signature"), None);
    assert_eq!(seen.header("webhook-id"), None);
    assert_eq!(seen.header("longrun-operation-id"), Some(id.to_string().as_str()));
    assert_eq!(seen.header("longrun-attempt"), Some("1"));
    completion_token(seen);
    assert_eq!(seen.body, good_input());
}

async fn a_4xx_fails_at_once_with_the_targets_message(backend: Backend) {
    let target = FakeTarget::start(
        vec![
            Reply::Json(422, json!({"error_message": "no such role", "code": 7})),
            Reply::Text(404, "  nothing to do here \n".to_owned()),
        ],
        Reply::Json(200, json!({"too": "late"})),
    )
    .await;
    let app = spawn_remote(backend, &target.url, json!({})).await;

    let (_, from_json) = run_one(&app).await;
    let (_, from_text) = run_one(&app).await;

    for (operation, message) in [(&from_json, "no such role"), (&from_text, "nothing to do here")] {
        assert_eq!(operation["status"], "failed", "{operation}");
        assert_eq!(operation["error_code"], "HANDLER_ERROR", "{operation}");
        assert_eq!(operation["error_message"], message, "{operation}");
        assert_eq!(operation["attempts"], 1, "{operation}");
    }
    assert_eq!(target.requests().len(), 2, "one request each, no retry");
}

async fn a_5xx_is_retried_and_the_next_answer_completes(backend: Backend) {
    let target = FakeTarget::start(
        vec![Reply::Text(503, "busy".to_owned())],
        Reply::Json(200, json!({"second": "time"})),
    )
    .await;
    let app = spawn_remote(backend, &target.url, json!({})).await;

    let (id, operation) = run_one(&app).await;

    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(operation["attempts"], 2);
    assert_eq!(operation["result"], json!({"second": "time"}));
    let requests = target.requests();
    assert_eq!(requests.len(), 2);
    let attempts: Vec<_> = requests.iter().map(|r| r.header("longrun-attempt")).collect();
    assert_eq!(attempts, [Some("1"), Some("2")]);
    assert_eq!(
        requests[1].header("webhook-id"),
        Some(format!("msg_{}_2", id.simple()).as_str())
    );
    assert_ne!(
        completion_token(&requests[0]),
        completion_token(&requests[1]),
        "each attempt has its own token"
    );
    assert_eq!(requests[1].body, good_input());
}

async fn a_5xx_for_ever_fails_after_the_types_own_max_attempts(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Json(500, json!({"error": "down"}))).await;
    // The service's own is 3.
    let app = spawn_remote(backend, &target.url, json!({"max_attempts": 2})).await;

    let (_, operation) = run_one(&app).await;

    assert_eq!(operation["status"], "failed", "{operation}");
    assert_eq!(operation["error_code"], "UPSTREAM_ERROR");
    assert!(
        operation["error_message"].as_str().unwrap().contains("500"),
        "{operation}"
    );
    assert_eq!(operation["attempts"], 2);
    assert_eq!(target.requests().len(), 2);
}

async fn a_429_is_retried_then_fails_as_rate_limited(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Json(429, json!({"error": "slow down"}))).await;
    let app = spawn_remote(backend, &target.url, json!({"max_attempts": 2})).await;

    let (_, operation) = run_one(&app).await;

    assert_eq!(operation["status"], "failed", "{operation}");
    assert_eq!(operation["error_code"], "UPSTREAM_RATE_LIMITED");
    assert_eq!(operation["attempts"], 2);
    assert_eq!(target.requests().len(), 2);
}

async fn a_target_that_hangs_is_retried_then_fails_after_its_timeout(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Hang).await;
    let app = spawn_remote(
        backend,
        &target.url,
        json!({"timeout_secs": 1, "max_attempts": 2}),
    )
    .await;
    let started = std::time::Instant::now();

    let (_, operation) = run_one(&app).await;

    assert_eq!(operation["status"], "failed", "{operation}");
    assert_eq!(operation["error_code"], "UPSTREAM_ERROR");
    let message = operation["error_message"].as_str().unwrap();
    assert!(message.contains("did not answer"), "{operation}");
    assert_eq!(operation["attempts"], 2);
    assert_eq!(target.requests().len(), 2);
    let took = started.elapsed().as_secs_f64();
    assert!(
        (1.9..6.0).contains(&took),
        "two one-second timeouts, not {took} s"
    );
}

async fn an_unreachable_target_is_retried_then_fails(backend: Backend) {
    let url = nothing_listening().await;
    let app = spawn_remote(backend, &url, json!({"max_attempts": 2})).await;

    let (_, operation) = run_one(&app).await;

    assert_eq!(operation["status"], "failed", "{operation}");
    assert_eq!(operation["error_code"], "UPSTREAM_ERROR");
    assert_eq!(operation["attempts"], 2);
    let message = operation["error_message"].as_str().unwrap();
    assert!(message.contains("could not be reached"), "{operation}");
    assert!(!message.contains(&url), "the URL is not shown: {message}");
}

async fn a_2xx_without_json_fails_at_once(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Text(200, "OK".to_owned())).await;
    let app = spawn_remote(backend, &target.url, json!({})).await;

    let (_, operation) = run_one(&app).await;

    assert_eq!(operation["status"], "failed", "{operation}");
    assert_eq!(operation["error_code"], "UPSTREAM_ERROR");
    assert_eq!(operation["attempts"], 1);
    assert_eq!(target.requests().len(), 1);
}

async fn a_202_then_complete_finishes_with_the_targets_result_once(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Accepted).await;
    let app = spawn_remote(backend, &target.url, json!({})).await;

    let (id, operation) = run_one(&app).await;
    assert_eq!(operation["status"], "processing", "{operation}");
    assert_eq!(operation["attempts"], 1);
    assert_eq!(app.drain().await, 0, "a handed-on operation is not due");
    let token = completion_token(&target.requests()[0]);

    let result = json!({"score": 9, "notes": ["later"]});
    let body = json!({"result": result}).to_string();
    let completed = finish(&app, id, "complete", Some(&token), &body).await;
    assert_eq!(completed.status, Status::Ok, "{}", completed.body);
    let completed = completed.json();
    assert_eq!(completed["id"], id.to_string());
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["result"], result);

    let again = finish(
        &app,
        id,
        "complete",
        Some(&token),
        &json!({"result": 2}).to_string(),
    )
    .await;
    again.assert_error(Status::NotFound, "COMPLETION_TOKEN_SPENT");
    let fail = finish(&app, id, "fail", Some(&token), r#"{"error_message": "too late"}"#).await;
    fail.assert_error(Status::NotFound, "COMPLETION_TOKEN_SPENT");

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(operation["result"], result);
    assert_eq!(operation["attempts"], 1);
    assert_eq!(target.requests().len(), 1);
}

async fn a_202_then_fail_fails_with_the_targets_message(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Accepted).await;
    let app = spawn_remote(backend, &target.url, json!({})).await;

    let (id, operation) = run_one(&app).await;
    assert_eq!(operation["status"], "processing", "{operation}");
    let token = completion_token(&target.requests()[0]);

    let body = json!({"error_message": "the printer is on fire"}).to_string();
    let failed = finish(&app, id, "fail", Some(&token), &body).await;
    assert_eq!(failed.status, Status::Ok, "{}", failed.body);
    let failed = failed.json();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error_code"], "HANDLER_ERROR");
    assert_eq!(failed["error_message"], "the printer is on fire");

    let complete = finish(&app, id, "complete", Some(&token), r#"{"result": {}}"#).await;
    complete.assert_error(Status::NotFound, "COMPLETION_TOKEN_SPENT");
    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "failed", "{operation}");
    assert_eq!(operation["error_code"], "HANDLER_ERROR");
    assert_eq!(operation["error_message"], "the printer is on fire");
    assert_eq!(app.drain().await, 0, "not retried");
}

async fn wrong_tokens_are_401_and_bad_bodies_422_without_spending_the_token(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Accepted).await;
    let app = spawn_remote(backend, &target.url, json!({})).await;
    let (id, _) = run_one(&app).await;
    let (other, _) = run_one(&app).await;
    let requests = target.requests();
    assert_eq!(requests.len(), 2);
    let token_of = |operation: Uuid| {
        let seen = requests
            .iter()
            .find(|r| r.header("longrun-operation-id") == Some(operation.to_string().as_str()))
            .unwrap();
        completion_token(seen)
    };
    let (token, others_token) = (token_of(id), token_of(other));
    let body = json!({"result": {"score": 1}}).to_string();
    let fail_body = json!({"error_message": "no"}).to_string();

    let tampered = format!("{}x", token);
    for (action, body) in [("complete", &body), ("fail", &fail_body)] {
        for wrong in [
            None,
            Some("garbage"),
            Some(others_token.as_str()),
            Some(tampered.as_str()),
        ] {
            let response = finish(&app, id, action, wrong, body).await;
            response.assert_error(Status::Unauthorized, "INVALID_COMPLETION_TOKEN");
            let challenge = response.header("WWW-Authenticate").unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer"),
                "{action} with {wrong:?}: {challenge:?}"
            );
        }
    }

    let bad_completions = [r#"{"result": 1, "extra": 2}"#, r#"{}"#, r#"{"results": {}}"#];
    for bad in bad_completions {
        let response = finish(&app, id, "complete", Some(&token), bad).await;
        response.assert_error(Status::UnprocessableEntity, "INVALID_INPUT");
    }
    for bad in [r#"{"error_message": "   "}"#, r#"{"error_message": ""}"#, r#"{}"#] {
        let response = finish(&app, id, "fail", Some(&token), bad).await;
        response.assert_error(Status::UnprocessableEntity, "INVALID_INPUT");
    }

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "processing", "{operation}");
    let completed = finish(&app, id, "complete", Some(&token), &body).await;
    assert_eq!(
        completed.status,
        Status::Ok,
        "the token still works: {}",
        completed.body
    );
    assert_eq!(completed.json()["result"], json!({"score": 1}));
    assert_eq!(
        app.poll(other).await["status"],
        "processing",
        "the other is untouched"
    );
}

async fn a_completion_result_that_misfits_the_output_schema_is_422(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Accepted).await;
    let app = spawn_remote(backend, &target.url, json!({"output_schema": output_schema()})).await;
    let (id, _) = run_one(&app).await;
    let token = completion_token(&target.requests()[0]);

    let misfit = json!({"result": {"score": "high"}}).to_string();
    let response = finish(&app, id, "complete", Some(&token), &misfit).await;
    let body = response.assert_error(Status::UnprocessableEntity, "INVALID_INPUT");
    let message = body["detail"]["message"].as_str().unwrap();
    assert!(message.contains("score"), "{message}");
    assert_eq!(app.poll(id).await["status"], "processing");

    let fits = json!({"result": {"score": 4}}).to_string();
    let response = finish(&app, id, "complete", Some(&token), &fits).await;
    assert_eq!(response.status, Status::Ok, "{}", response.body);
    assert_eq!(app.poll(id).await["result"], json!({"score": 4}));
}

async fn input_that_breaks_the_schema_is_422_naming_the_path_and_never_sent(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Json(200, json!({}))).await;
    let app = spawn_remote(backend, &target.url, json!({})).await;
    let cases = [
        (
            json!({"role": "r", "items": [{"n": 1}, {"n": "x"}]}),
            r#"input.items[1].n: "x" is not of type "integer""#,
        ),
        (
            json!({"role": "r", "items": [], "meta": {"level": 1.5}}),
            "input.meta.level: 1.5 is not of type \"integer\"",
        ),
        (json!({"items": []}), "input.role: "),
        (json!({"role": "r", "items": [{}]}), "input.items[0].n: "),
    ];

    for (input, expected) in cases {
        let body = json!({"operation_type": "remote", "input": input}).to_string();
        let response = app.post("/api/v1/operations", &body, &[]).await;
        let error = response.assert_error(Status::UnprocessableEntity, "INVALID_INPUT");
        let message = error["detail"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("Invalid input: ") && message.contains(expected),
            "{input}: {message}"
        );
    }

    assert_eq!(app.drain().await, 0);
    assert_eq!(count_operations(&app).await, 0, "nothing stored");
    assert!(target.requests().is_empty(), "the target was never called");
}

async fn a_2xx_result_that_misfits_the_output_schema_fails_at_once(backend: Backend) {
    let target = FakeTarget::start(
        vec![Reply::Json(200, json!({"score": "high"}))],
        Reply::Json(200, json!({"score": 5})),
    )
    .await;
    let app = spawn_remote(backend, &target.url, json!({"output_schema": output_schema()})).await;

    let (_, misfit) = run_one(&app).await;
    let (_, fits) = run_one(&app).await;

    assert_eq!(misfit["status"], "failed", "{misfit}");
    assert_eq!(misfit["error_code"], "UPSTREAM_ERROR");
    assert_eq!(misfit["attempts"], 1);
    let message = misfit["error_message"].as_str().unwrap();
    assert!(
        message.contains("output schema") && message.contains("score"),
        "{message}"
    );
    assert_eq!(fits["status"], "completed", "{fits}");
    assert_eq!(fits["result"], json!({"score": 5}));
    assert_eq!(target.requests().len(), 2, "the misfit was not retried");
}

async fn a_handed_on_operation_whose_lease_runs_out_is_sent_again_or_fails(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Accepted).await;
    let app = spawn_remote(backend, &target.url, json!({"max_attempts": 2})).await;

    // Sent again, and only the new attempt's token finishes it.
    let (id, _) = run_one(&app).await;
    lease_ran_out(&app, id).await;
    app.workers().expire_leases().await.unwrap();
    assert_eq!(app.poll(id).await["status"], "pending");
    assert_eq!(app.drain().await, 1);
    let requests = target.requests();
    assert_eq!(requests.len(), 2, "a new POST");
    assert_eq!(requests[1].header("longrun-attempt"), Some("2"));
    let (first, second) = (completion_token(&requests[0]), completion_token(&requests[1]));
    let body = json!({"result": {"attempt": 2}}).to_string();
    let stale = finish(&app, id, "complete", Some(&first), &body).await;
    stale.assert_error(Status::NotFound, "COMPLETION_TOKEN_SPENT");
    let current = finish(&app, id, "complete", Some(&second), &body).await;
    assert_eq!(current.status, Status::Ok, "{}", current.body);
    assert_eq!(app.poll(id).await["attempts"], 2);

    // With no attempt left, it fails.
    let (id, _) = run_one(&app).await;
    for _ in 0..2 {
        lease_ran_out(&app, id).await;
        app.workers().expire_leases().await.unwrap();
        app.drain().await;
    }
    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "failed", "{operation}");
    assert_eq!(operation["error_code"], "LEASE_EXPIRED");
    assert_eq!(operation["attempts"], 2);
    let last = completion_token(target.requests().last().unwrap());
    let late = finish(&app, id, "complete", Some(&last), &body).await;
    late.assert_error(Status::NotFound, "COMPLETION_TOKEN_SPENT");
    assert_eq!(target.requests().len(), 4);
}

async fn a_handed_on_operation_waits_the_types_timeout(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Accepted).await;
    let app = spawn_remote(backend, &target.url, json!({"timeout_secs": 30})).await;

    let (id, operation) = run_one(&app).await;

    assert_eq!(operation["status"], "processing", "{operation}");
    let left = lease_left_secs(&app, id).await;
    assert!(
        (25.0..=30.5).contains(&left),
        "the target has timeout_secs (30) to finish, the lease says {left:.1} s"
    );
}

async fn an_input_schema_may_be_a_file(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Json(200, json!({"ok": true}))).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.schema.json");
    std::fs::write(&path, input_schema().to_string()).unwrap();
    let path = path.to_str().unwrap().to_owned();
    let app = spawn_remote(backend, &target.url, json!({"input_schema": path})).await;

    let body = json!({"operation_type": "remote", "input": {"role": "r", "items": [{"n": true}]}});
    let response = app.post("/api/v1/operations", &body.to_string(), &[]).await;
    let error = response.assert_error(Status::UnprocessableEntity, "INVALID_INPUT");
    assert!(
        error["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("input.items[0].n"),
        "{error}"
    );
    let (_, operation) = run_one(&app).await;
    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(target.requests().len(), 1);
}

async fn a_spent_token_is_404_whatever_the_result(backend: Backend) {
    let target = FakeTarget::start(vec![], Reply::Accepted).await;
    let app = spawn_remote(backend, &target.url, json!({"output_schema": output_schema()})).await;
    let (id, _) = run_one(&app).await;
    let token = completion_token(&target.requests()[0]);
    let fits = json!({"result": {"score": 4}}).to_string();
    let response = finish(&app, id, "complete", Some(&token), &fits).await;
    assert_eq!(response.status, Status::Ok, "{}", response.body);

    // The operation is finished: the token is spent, whether or not the
    // late result would fit.
    let late = finish(&app, id, "complete", Some(&token), &fits).await;
    late.assert_error(Status::NotFound, "COMPLETION_TOKEN_SPENT");
    let misfit = json!({"result": {"score": "high"}}).to_string();
    let late = finish(&app, id, "complete", Some(&token), &misfit).await;
    late.assert_error(Status::NotFound, "COMPLETION_TOKEN_SPENT");
    assert_eq!(app.poll(id).await["result"], json!({"score": 4}));
}
