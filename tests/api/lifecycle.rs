use std::time::{Duration, Instant};

use rocket::serde::json::{json, Value};

use crate::helpers::{clock_moves_past, Backend, NewRow, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        a_question_generation_operation_runs_to_a_question,
        previous_questions_are_not_asked_again,
        an_answer_feedback_operation_runs_to_a_scored_feedback,
        an_echo_operation_completes_with_its_result,
        an_echo_operation_told_to_fail_fails_with_handler_error,
        operations_are_claimed_oldest_first,
        a_row_of_an_unknown_type_written_by_another_program_fails_instead_of_staying_pending,
        a_handler_that_runs_too_long_fails_with_timeout,
        background_workers_pick_up_a_new_operation_at_once,
        background_workers_pick_up_an_operation_another_process_created_within_idle_poll,
    ],
);

async fn a_question_generation_operation_runs_to_a_question(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .create(
            "question_generation",
            json!({"role": "Backend developer", "question_type": "behavioral", "difficulty": "senior"}),
        )
        .await;

    assert_eq!(app.drain().await, 1);

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(operation["attempts"], 1);
    let result = &operation["result"];
    assert!(
        result["question_text"].as_str().is_some_and(|q| q.len() > 10),
        "{result}"
    );
    assert_eq!(result["question_type"], "behavioral");
    assert_eq!(result["difficulty"], "senior");
    assert!(result["topic"].is_string());
    assert_eq!(result["generator"], "builtin");
    assert_eq!(operation["error_message"], Value::Null);
    assert_eq!(operation["error_code"], Value::Null);
}

async fn previous_questions_are_not_asked_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut asked: Vec<String> = Vec::new();

    for _ in 0..8 {
        let input = json!({"role": "iOS developer", "difficulty": "junior", "previous_questions": asked});
        let id = app.create("question_generation", input).await;
        app.drain().await;
        let question = app.poll(id).await["result"]["question_text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!asked.contains(&question), "{question} was asked before");
        asked.push(question);
    }
}

async fn an_answer_feedback_operation_runs_to_a_scored_feedback(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let input = json!({
        "question_text": "Tell me about a time you disagreed with a teammate.",
        "answer_text": "When our team planned a migration, I disagreed about the timeline. I proposed a \
                        phased rollout; as a result we shipped two weeks later but with no downtime. I learned \
                        to bring data to disagreements.",
        "question_type": "behavioral"
    });
    let id = app.create("answer_feedback", input).await;

    app.drain().await;

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "completed", "{operation}");
    let result = &operation["result"];
    let score = result["score"].as_u64().unwrap();
    assert!((1..=10).contains(&score), "{result}");
    assert!(
        result["strengths"].as_array().is_some_and(|s| !s.is_empty()),
        "{result}"
    );
    assert!(result["improvements"]
        .as_array()
        .is_some_and(|i| i.iter().all(Value::is_string)));
    assert!(result["feedback_text"]
        .as_str()
        .is_some_and(|t| t.contains("rubric")));
    assert_eq!(result["generator"], "builtin");
}

async fn an_echo_operation_completes_with_its_result(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let result = json!({"nested": [1, "two", {"three": null}]});
    let id = app.create("echo", json!({"delay_ms": 5, "result": result})).await;

    app.drain().await;

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "completed");
    assert_eq!(operation["result"], result);
}

async fn an_echo_operation_told_to_fail_fails_with_handler_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .create("echo", json!({"fail": "the model is on holiday"}))
        .await;

    app.drain().await;

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "failed");
    assert_eq!(operation["error_code"], "HANDLER_ERROR");
    assert_eq!(operation["error_message"], "the model is on holiday");
    assert_eq!(operation["result"], Value::Null);
    assert_eq!(operation["attempts"], 1, "a handler error is not retried");
}

async fn operations_are_claimed_oldest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.create("echo", json!({"result": n})).await);
        // SQLite's created_at has millisecond resolution: the next one is
        // created at a later time.
        clock_moves_past(&app.poll(*ids.last().unwrap()).await["created_at"]).await;
    }

    let mut order = Vec::new();
    for _ in 0..5 {
        let claimed = app.claim_one("probe", Duration::from_secs(30)).await;
        order.push(claimed.token.id);
    }

    assert_eq!(order, ids);
}

async fn a_row_of_an_unknown_type_written_by_another_program_fails_instead_of_staying_pending(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let row = NewRow {
        operation_type: "translate_poem",
        ..NewRow::pending()
    };
    let id = app.db.connect().await.insert(row).await;

    assert_eq!(app.drain().await, 1);

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "failed");
    assert_eq!(operation["error_code"], "HANDLER_ERROR");
    assert!(operation["error_message"]
        .as_str()
        .unwrap()
        .contains("translate_poem"));
}

async fn a_handler_that_runs_too_long_fails_with_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.handler_timeout_secs", 1))).await;
    let id = app.create("echo", json!({"delay_ms": 60_000})).await;
    let started = Instant::now();

    app.drain().await;

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped at the timeout"
    );
    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "failed");
    assert_eq!(operation["error_code"], "TIMEOUT");
    assert!(operation["error_message"].as_str().unwrap().contains("1 second"));
}

async fn background_workers_pick_up_a_new_operation_at_once(backend: Backend) {
    // Idle workers would look for work only once a minute: only the
    // in-process wake-up can start the operation quickly.
    let configure = |f: rocket::figment::Figment| {
        f.merge(("operations.workers", 2))
            .merge(("operations.idle_poll_ms", 60_000))
    };
    let app = TestApp::spawn_with(backend, configure).await;
    app.workers_running().await;

    let started = Instant::now();
    let id = app.create("echo", json!({"result": "done"})).await;
    let operation = app.wait_finished(id, Duration::from_secs(5)).await;

    assert_eq!(operation["status"], "completed");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

async fn background_workers_pick_up_an_operation_another_process_created_within_idle_poll(backend: Backend) {
    let configure = |f: rocket::figment::Figment| {
        f.merge(("operations.workers", 1))
            .merge(("operations.idle_poll_ms", 200))
    };
    let app = TestApp::spawn_with(backend, configure).await;
    let row = NewRow {
        operation_type: "echo",
        ..NewRow::pending()
    };

    let id = app.db.connect().await.insert(row).await;
    let operation = app.wait_finished(id, Duration::from_secs(5)).await;

    assert_eq!(operation["status"], "completed", "{operation}");
}
