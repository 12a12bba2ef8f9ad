//! Operation types of `kind = "llm"` against a fake OpenAI-compatible
//! server: the prompt rendered from the input, the output schema sent and
//! checked, a streamed answer's progress, and no key.

use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use rocket::figment::Figment;
use rocket::http::Status;
use rocket::serde::json::{json, Value};

use crate::fake_openai::{FakeOpenAi, Reply};
use crate::helpers::{Backend, TestApp, TestDb};
use crate::server::Server;
use crate::trials;

trials!(
    on_both_backends: [
        a_schema_valid_answer_completes_with_the_rendered_prompt_and_the_schema_sent,
        an_answer_that_breaks_the_output_schema_is_asked_again,
        answers_that_keep_breaking_the_schema_fail_with_upstream_error_after_the_types_attempts,
        a_streamed_answer_reports_the_tokens_received,
        a_variable_the_input_lacks_fails_the_operation_rather_than_render_blank,
        without_structured_output_only_json_is_asked_for,
        input_that_breaks_the_input_schema_is_refused_naming_the_path,
        the_shipped_example_renders_its_prompt_from_its_schemas,
    ],
    on_sqlite: [
        without_a_key_the_type_fails_with_generator_unavailable,
        the_commented_examples_of_rocket_toml_start_and_are_documented,
    ],
);

const KEY: &str = "sk-test-4f1c";

const PROMPT: &str = "Summarize the interview for the role of {{ role }}.\n\
{% for q in questions %}Q: {{ q.question }}\nA: {{ q.answer }}\n{% endfor %}\
{% if notes is defined %}Notes: {{ notes }}{% endif %}";

fn input_schema() -> Value {
    json!({
        "type": "object",
        "required": ["role", "questions"],
        "additionalProperties": false,
        "properties": {
            "role": {"type": "string", "minLength": 1},
            "questions": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["question", "answer"],
                    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
                },
            },
            "notes": {"type": "string"},
        },
    })
}

fn output_schema() -> Value {
    json!({
        "type": "object",
        "required": ["summary", "recommendation"],
        "properties": {
            "summary": {"type": "string", "minLength": 1},
            "recommendation": {"enum": ["advance", "hold", "decline"]},
        },
    })
}

fn summary() -> Value {
    json!({"summary": "Knows indexes well.", "recommendation": "advance"})
}

fn interview() -> Value {
    json!({
        "role": "Backend engineer",
        "questions": [{"question": "What is an index?", "answer": "A sorted lookup structure."}],
    })
}

fn set_key() {
    std::env::set_var(longrun::generator::openai::API_KEY_VAR, KEY);
}

/// The prompt in a file of its own, kept as long as the test runs.
struct PromptFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn prompt_file(text: &str) -> PromptFile {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.md");
    std::fs::write(&path, text).unwrap();
    PromptFile { _dir: dir, path }
}

/// The service with the `summary` type declared against `fake`, its
/// settings `more` added to the defaults here.
async fn spawn_against(backend: Backend, fake: &FakeOpenAi, prompt: &PromptFile, more: Value) -> TestApp {
    static KEY_SET: Once = Once::new();
    // The same value the generator tests set, once, before any client reads it.
    KEY_SET.call_once(set_key);
    let mut declared = json!({
        "kind": "llm",
        "prompt": prompt.path,
        "input_schema": input_schema(),
        "output_schema": output_schema(),
        "model": "summary-model",
    });
    for (key, value) in more.as_object().unwrap() {
        declared[key] = value.clone();
    }
    let base_url = fake.base_url.clone();
    TestApp::spawn_with(backend, move |f: Figment| {
        f.merge(("operations.openai.base_url", base_url))
            .merge(("operations.openai.timeout_secs", 2))
            .merge(("operations.max_attempts", 3))
            .merge(("operations.retry_backoff_ms", 0))
            .merge(("operations.progress_interval_ms", 0))
            .merge(("operations.types.summary", declared))
    })
    .await
}

async fn a_schema_valid_answer_completes_with_the_rendered_prompt_and_the_schema_sent(backend: Backend) {
    let fake = FakeOpenAi::start(vec![], Reply::json(summary())).await;
    let prompt = prompt_file(PROMPT);
    let app = spawn_against(
        backend,
        &fake,
        &prompt,
        json!({"temperature": 0.2, "max_tokens": 300}),
    )
    .await;

    let id = app.create("summary", interview()).await;
    app.drain().await;

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(operation["result"], summary());
    assert_eq!(operation["attempts"], 1);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = &requests[0].body;
    assert_eq!(body["model"], "summary-model");
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["name"], "summary");
    assert_eq!(body["response_format"]["json_schema"]["schema"], output_schema());
    assert_eq!(
        body["messages"],
        json!([{
            "role": "user",
            "content": "Summarize the interview for the role of Backend engineer.\n\
                        Q: What is an index?\nA: A sorted lookup structure.\n",
        }])
    );
}

async fn an_answer_that_breaks_the_output_schema_is_asked_again(backend: Backend) {
    let fake = FakeOpenAi::start(
        vec![Reply::json(
            json!({"summary": "Fine.", "recommendation": "maybe"}),
        )],
        Reply::json(summary()),
    )
    .await;
    let prompt = prompt_file(PROMPT);
    let app = spawn_against(backend, &fake, &prompt, json!({})).await;

    let id = app.create("summary", interview()).await;
    app.drain().await;

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(operation["attempts"], 2);
    assert_eq!(operation["result"], summary());
    assert_eq!(fake.requests().len(), 2);
}

async fn answers_that_keep_breaking_the_schema_fail_with_upstream_error_after_the_types_attempts(
    backend: Backend,
) {
    let fake = FakeOpenAi::start(vec![], Reply::json(json!({"recommendation": "advance"}))).await;
    let prompt = prompt_file(PROMPT);
    // The service allows 3 attempts; the type, 2.
    let app = spawn_against(backend, &fake, &prompt, json!({"max_attempts": 2})).await;

    let id = app.create("summary", interview()).await;
    app.drain().await;

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "failed", "{operation}");
    assert_eq!(operation["error_code"], "UPSTREAM_ERROR");
    let message = operation["error_message"].as_str().unwrap();
    assert!(
        message.contains("output schema") && message.contains("result.summary"),
        "{message}"
    );
    assert_eq!(operation["attempts"], 2);
    assert_eq!(fake.requests().len(), 2);
}

async fn a_streamed_answer_reports_the_tokens_received(backend: Backend) {
    let answer = summary().to_string();
    let pieces: Vec<String> = answer
        .as_bytes()
        .chunks(8)
        .map(|chunk| String::from_utf8(chunk.to_vec()).unwrap())
        .collect();
    let count = pieces.len();
    let fake = FakeOpenAi::start(
        vec![],
        Reply::Stream {
            pieces,
            pause: Duration::from_millis(150),
        },
    )
    .await;
    let prompt = prompt_file(PROMPT);
    let app = spawn_against(backend, &fake, &prompt, json!({"stream": true, "max_tokens": 20})).await;
    let id = app.create("summary", interview()).await;

    let (_, midway) = rocket::tokio::join!(
        app.drain(),
        app.wait_for(id, Duration::from_secs(10), |operation| {
            operation["progress"]["message"]
                .as_str()
                .is_some_and(|message| message.ends_with("tokens received") && !message.starts_with("1 "))
        }),
    );

    assert_eq!(midway["status"], "processing", "{midway}");
    let percent = midway["progress"]["percent"].as_u64().unwrap();
    assert!((10..=90).contains(&percent), "{midway}");
    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(operation["result"], summary());
    assert_eq!(fake.requests()[0].body["stream"], true);
    assert!(count > 3, "the answer came in {count} pieces");
}

async fn a_variable_the_input_lacks_fails_the_operation_rather_than_render_blank(backend: Backend) {
    let fake = FakeOpenAi::start(vec![], Reply::json(summary())).await;
    // `notes` is optional in the schema, and used here without a test.
    let prompt = prompt_file("Role: {{ role }}. Notes: {{ notes }}");
    let app = spawn_against(backend, &fake, &prompt, json!({})).await;

    let id = app.create("summary", interview()).await;
    app.drain().await;

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "failed", "{operation}");
    assert_eq!(operation["error_code"], "HANDLER_ERROR");
    assert!(
        operation["error_message"].as_str().unwrap().contains("undefined"),
        "{operation}"
    );
    assert_eq!(operation["attempts"], 1, "not retried");
    assert!(fake.requests().is_empty(), "the model was not asked");
}

async fn without_structured_output_only_json_is_asked_for(backend: Backend) {
    let fake = FakeOpenAi::start(vec![], Reply::Content(format!("```json\n{}\n```", summary()))).await;
    let prompt = prompt_file(PROMPT);
    let app = spawn_against(backend, &fake, &prompt, json!({"structured_output": false})).await;

    let id = app.create("summary", interview()).await;
    app.drain().await;

    assert_eq!(app.poll(id).await["result"], summary());
    assert_eq!(
        fake.requests()[0].body["response_format"],
        json!({"type": "json_object"})
    );
}

async fn input_that_breaks_the_input_schema_is_refused_naming_the_path(backend: Backend) {
    let fake = FakeOpenAi::start(vec![], Reply::json(summary())).await;
    let prompt = prompt_file(PROMPT);
    let app = spawn_against(backend, &fake, &prompt, json!({})).await;

    let cases = [
        (
            json!({"questions": [{"question": "q", "answer": "a"}]}),
            "input.role",
        ),
        (
            json!({"role": "r", "questions": [{"question": "q", "answer": "a"}, {"question": "q"}]}),
            "input.questions[1].answer",
        ),
        (
            json!({"role": "r", "questions": [{"question": "q", "answer": 7}]}),
            "input.questions[0].answer",
        ),
        (json!({"role": "r", "questions": []}), "input.questions"),
        (
            json!({"role": "r", "questions": [{"question": "q", "answer": "a"}], "extra": 1}),
            "input",
        ),
    ];
    for (input, path) in cases {
        let body = json!({"operation_type": "summary", "input": input}).to_string();
        let response = app.post("/api/v1/operations", &body, &[]).await;
        let body = response.assert_error(Status::UnprocessableEntity, "INVALID_INPUT");
        let message = body["detail"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("Invalid input: {path}:")),
            "{input} → {message}"
        );
    }
    let schema = app.get("/api/v1/openapi.json").await.json();
    assert_eq!(schema["components"]["schemas"]["SummaryInput"], input_schema());
    assert_eq!(app.drain().await, 0, "nothing was stored");
}

async fn without_a_key_the_type_fails_with_generator_unavailable() {
    let db = TestDb::create(Backend::Sqlite).await;
    // The shipped example type, with its prompt, and a blank key.
    let types = r#"types={interview_summary={kind="llm", prompt="prompts/interview_summary.md",
        input_schema="prompts/interview_summary.input.json", output_schema="prompts/interview_summary.output.json"}}"#;
    let operations = format!("log_format=\"off\", workers=1, {}", types.replace('\n', " "));
    let server = Server::start_with(&db.url, &operations, &[("OPENAI_API_KEY", "")], None).await;

    let id = server
        .create(
            "interview_summary",
            json!({"role": "Data engineer", "questions": [{"question": "What is ETL?", "answer": "Extract, transform, load."}]}),
        )
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut operation = server.poll(id).await;
    while !["completed", "failed"].contains(&operation["status"].as_str().unwrap()) {
        assert!(std::time::Instant::now() < deadline, "{operation}");
        operation = server.get(&format!("/api/v1/operations/{id}?wait=2")).await.1;
    }

    assert_eq!(operation["status"], "failed", "{operation}");
    assert_eq!(operation["error_code"], "GENERATOR_UNAVAILABLE");
    assert!(
        operation["error_message"]
            .as_str()
            .unwrap()
            .contains("OPENAI_API_KEY"),
        "{operation}"
    );
    assert_eq!(operation["attempts"], 1, "not retried");
}

async fn the_shipped_example_renders_its_prompt_from_its_schemas(backend: Backend) {
    let answer = json!({
        "summary": "Solid on pipelines.",
        "strengths": ["ETL"],
        "concerns": [],
        "recommendation": "advance",
    });
    let fake = FakeOpenAi::start(vec![], Reply::json(answer.clone())).await;
    let base_url = fake.base_url.clone();
    let declared = json!({
        "kind": "llm",
        "prompt": "prompts/interview_summary.md",
        "input_schema": "prompts/interview_summary.input.json",
        "output_schema": "prompts/interview_summary.output.json",
    });
    static KEY_SET: Once = Once::new();
    KEY_SET.call_once(set_key);
    let app = TestApp::spawn_with(backend, move |f: Figment| {
        f.merge(("operations.openai.base_url", base_url))
            .merge(("operations.types.interview_summary", declared))
    })
    .await;
    let input = json!({
        "role": "Data engineer",
        "level": "senior",
        "questions": [
            {"question": "What is ETL?", "answer": "Extract, transform, load.", "score": 8},
            {"question": "Why idempotent jobs?", "answer": "Retries."},
        ],
    });

    let id = app.create("interview_summary", input).await;
    app.drain().await;

    let operation = app.poll(id).await;
    assert_eq!(operation["status"], "completed", "{operation}");
    assert_eq!(operation["result"], answer);
    let prompt = fake.requests()[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    for part in [
        "role of Data engineer",
        "level sought: senior",
        "1. Question: What is ETL?",
        "Score: 8",
        "2. Question: Why idempotent jobs?",
    ] {
        assert!(prompt.contains(part), "{part:?} in {prompt}");
    }
    assert!(!prompt.contains("notes"), "no notes given: {prompt}");
}

/// The declared types Rocket.toml shows, commented out, as they would be
/// uncommented.
fn rocket_toml_examples() -> String {
    let file = std::fs::read_to_string("Rocket.toml").unwrap();
    let mut examples = String::new();
    let mut inside = false;
    for line in file.lines() {
        let Some(line) = line.strip_prefix('#') else {
            inside = false;
            continue;
        };
        let line = line.strip_prefix(' ').unwrap_or(line);
        if line.starts_with("[default.operations.types.") {
            inside = true;
        } else if line.starts_with('[') || (!line.is_empty() && !line.contains(" = ")) {
            inside = false;
        }
        if inside {
            examples.push_str(line);
            examples.push('\n');
        }
    }
    examples
}

async fn the_commented_examples_of_rocket_toml_start_and_are_documented() {
    use rocket::figment::providers::{Format, Toml};

    let examples = rocket_toml_examples();
    assert!(
        examples.contains("kind = \"llm\"") && examples.contains("kind = \"http\""),
        "{examples}"
    );
    let app = TestApp::spawn_with(Backend::Sqlite, |f: Figment| {
        f.merge(Toml::string(&examples).nested())
    })
    .await;

    let document = app.get("/api/v1/openapi.json").await.json();
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["InterviewSummaryInput"]["required"],
        json!(["role", "questions"])
    );
    assert_eq!(schemas["CvReviewInput"]["required"], json!(["cv_url"]));
    let requests: Vec<&str> = schemas["CreateOperation"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|request| request["$ref"].as_str())
        .collect();
    assert!(
        requests.contains(&"#/components/schemas/InterviewSummaryRequest"),
        "{requests:?}"
    );
    assert!(
        requests.contains(&"#/components/schemas/CvReviewRequest"),
        "{requests:?}"
    );
    let refused = app
        .post(
            "/api/v1/operations",
            &json!({"operation_type": "cv_review", "input": {}}).to_string(),
            &[],
        )
        .await;
    refused.assert_error(Status::UnprocessableEntity, "INVALID_INPUT");
}
