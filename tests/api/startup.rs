//! The release binary as a newcomer and an operator meet it: started with
//! nothing, it serves on its defaults; started with a setting that does
//! not fit, it says which in one line and exits with status 1.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rocket::serde::json::Value;

use crate::server::Server;
use crate::trials;

trials!(
    on_both_backends: [],
    on_sqlite: [
        the_binary_alone_in_an_empty_directory_serves_on_its_defaults,
        the_binary_keeps_its_memory_in_small_pages,
        a_setting_of_the_wrong_type_is_one_line_naming_key_value_and_what_is_accepted,
        an_unknown_setting_is_named,
        a_setting_that_would_stall_the_service_is_refused,
        a_database_url_of_another_scheme_is_refused,
        a_database_path_that_cannot_be_written_is_refused,
        a_rocket_setting_that_does_not_fit_is_refused_the_same_way,
        a_missing_static_dir_is_refused,
        a_part_that_cannot_start_says_why_in_one_line,
        jwt_mode_without_a_key_is_refused_naming_where_keys_come_from,
        webhook_settings_that_do_not_fit_are_refused,
        declared_types_that_do_not_fit_are_refused_naming_the_type_and_the_problem,
        the_token_command_mints_a_token_the_service_accepts,
    ],
);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary in `dir`, with no environment but `env`.
fn binary(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_longrun"));
    command.current_dir(dir).env_clear().envs(env.iter().copied());
    command
}

/// Runs the binary until it exits; panics if it is still running after
/// 30 s.
fn run_to_exit(dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut child = binary(dir, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the binary did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Asserts exit status 1 and exactly one line of output, with no panic
/// and no backtrace; returns that line.
fn the_one_line(output: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {text}");
    assert!(
        !text.contains("panicked") && !text.contains("backtrace"),
        "{text}"
    );
    lines[0].to_owned()
}

fn refused(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let line = the_one_line(&run_to_exit(dir.path(), env));
    assert!(
        !dir.path().join("data").exists(),
        "a refused start leaves no database behind"
    );
    line
}

fn assert_names(line: &str, parts: &[&str]) {
    for part in parts {
        assert!(line.contains(part), "{part:?} in: {line}");
    }
}

/// The binary in `dir` with no setting but a free port (8000, the
/// default, may be taken on this machine), once it answers; and its
/// process id.
async fn serve_alone(dir: &Path) -> (Server, u32) {
    let port = free_port().to_string();
    let child = binary(dir, &[("ROCKET_PORT", &port)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let server = Server::attach(child, &format!("http://127.0.0.1:{port}")).await;
    (server, pid)
}

async fn the_binary_alone_in_an_empty_directory_serves_on_its_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = serve_alone(dir.path()).await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", server.base_url)).send();

    assert!(
        dir.path().join("data/longrun.db").is_file(),
        "SQLite at ./data/longrun.db"
    );
    let ready = get("/health/ready").await.unwrap();
    assert_eq!(ready.status(), 200);

    let too_large = format!(
        r#"{{"operation_type": "question_generation", "input": {{"role": "{}"}}}}"#,
        "x".repeat(200_000)
    );
    let refused = http
        .post(format!("{}/api/v1/operations", server.base_url))
        .header("Content-Type", "application/json")
        .body(too_large)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413, "the 64 KiB limit");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["detail"]["code"], "PAYLOAD_TOO_LARGE");

    let created = http
        .post(format!("{}/api/v1/operations", server.base_url))
        .json(&rocket::serde::json::json!({"operation_type": "question_generation", "input": {"role": "Backend developer"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    assert_eq!(created.headers()["retry-after"], "2");

    let page = get("/").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        page.text().await.unwrap().contains("<script type=\"module\""),
        "the page is built in"
    );
    let script = get("/js/operations.js").await.unwrap();
    assert_eq!(script.status(), 200);
    let docs = get("/docs/").await.unwrap();
    assert_eq!(docs.status(), 200, "the docs page is built in");
    assert!(docs.headers().get("server").is_none(), "no Server header");
}

/// Huge pages would make an idle server's memory mostly zeroed pages it
/// does not use (BENCHMARKS.md).
async fn the_binary_keeps_its_memory_in_small_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, pid) = serve_alone(dir.path()).await;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let huge_pages = status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(str::trim);
    assert_eq!(huge_pages, Some("0"), "{status}");
}

async fn a_setting_of_the_wrong_type_is_one_line_naming_key_value_and_what_is_accepted() {
    let line = refused(&[("ROCKET_OPERATIONS", r#"{workers="x"}"#)]);
    assert_names(&line, &["operations.workers", "\"x\"", "ROCKET_"]);
}

async fn an_unknown_setting_is_named() {
    let line = refused(&[("ROCKET_OPERATIONS", "{wokers=2}")]);
    assert_names(&line, &["operations.wokers", "`workers`"]);
}

async fn a_setting_that_would_stall_the_service_is_refused() {
    let line = refused(&[("ROCKET_OPERATIONS", "{lease_secs=0}")]);
    assert_names(&line, &["operations.lease_secs", "0", "greater than 0"]);
    let line = refused(&[("ROCKET_OPERATIONS", "{cache_warm_up_secs=86401}")]);
    assert_names(
        &line,
        &["operations.cache_warm_up_secs", "86401", "from 0 to 86400"],
    );
}

async fn a_database_url_of_another_scheme_is_refused() {
    let line = refused(&[("ROCKET_DATABASES", r#"{operations={url="mysql://x"}}"#)]);
    assert_names(
        &line,
        &[
            "databases.operations.url",
            "\"mysql://x\"",
            "sqlite://",
            "postgres://",
        ],
    );
}

async fn a_database_path_that_cannot_be_written_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be made below a file, whoever runs the test.
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    let url = format!("sqlite://{}/a-file/data/x.db", dir.path().display());
    let databases = format!(r#"{{operations={{url="{url}"}}}}"#);
    let line = the_one_line(&run_to_exit(dir.path(), &[("ROCKET_DATABASES", &databases)]));
    assert_names(&line, &["databases.operations.url", &url, "directory"]);
}

async fn a_rocket_setting_that_does_not_fit_is_refused_the_same_way() {
    let line = refused(&[("ROCKET_PORT", "eighty")]);
    assert_names(&line, &["port", "\"eighty\""]);
}

async fn a_missing_static_dir_is_refused() {
    let line = refused(&[("ROCKET_OPERATIONS", r#"{static_dir="no/such/dir"}"#)]);
    assert_names(&line, &["operations.static_dir", "no/such/dir", "a directory"]);
}

async fn a_part_that_cannot_start_says_why_in_one_line() {
    // A port nothing listens on: the store cannot open the database.
    let databases = r#"{operations={url="postgres://postgres@127.0.0.1:9/longrun", connect_timeout=1}}"#;
    let line = refused(&[("ROCKET_DATABASES", databases)]);
    assert_names(&line, &["cannot start", "the store", "cannot open the database"]);
}

async fn webhook_settings_that_do_not_fit_are_refused() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let cases = [
        (
            r#"{webhooks=[{url="https://example.com/h", secret="plain"}]}"#.to_owned(),
            vec!["operations.webhooks[0].secret", "whsec_"],
        ),
        (
            format!(r#"{{webhooks=[{{url="ftp://example.com/h", secret="{secret}"}}]}}"#),
            vec!["operations.webhooks[0].url", "http or https"],
        ),
        (
            format!(r#"{{webhooks=[{{url="http://10.1.2.3/h", secret="{secret}"}}]}}"#),
            vec!["operations.webhooks[0].url", "allow_private_targets"],
        ),
        (
            format!(
                r#"{{webhooks=[{{name="a", url="https://a.example/h", secret="{secret}"}}, {{name="a", url="https://b.example/h", secret="{secret}"}}]}}"#
            ),
            vec!["operations.webhooks[1].name", "\"a\""],
        ),
        (
            format!(r#"{{webhooks=[{{url="https://a.example/h", secret="{secret}", events=["done"]}}]}}"#),
            vec!["operations.webhooks[0].events", "operation.completed"],
        ),
        (
            "{allow_callback_urls=true}".to_owned(),
            vec!["operations.callback_secret", "required with allow_callback_urls"],
        ),
        (
            "{webhook_retry_secs=[-1]}".to_owned(),
            vec!["operations.webhook_retry_secs", "0 to 604800"],
        ),
    ];
    for (operations, expected) in cases {
        let line = refused(&[("ROCKET_OPERATIONS", &operations)]);
        assert_names(&line, &expected);
    }
}

async fn jwt_mode_without_a_key_is_refused_naming_where_keys_come_from() {
    let jwt = r#"{auth={mode="jwt"}}"#;
    let line = refused(&[("ROCKET_OPERATIONS", jwt)]);
    assert_names(
        &line,
        &[
            "operations.auth.mode",
            "LONGRUN_JWT_SECRET",
            "public_key_file",
            "jwks_file",
        ],
    );

    let missing_file = r#"{auth={mode="jwt", public_key_file="no/such/key.pem"}}"#;
    let line = refused(&[
        ("ROCKET_OPERATIONS", missing_file),
        ("LONGRUN_JWT_SECRET", "ignored"),
    ]);
    assert_names(
        &line,
        &[
            "operations.auth.public_key_file",
            "no/such/key.pem",
            "a readable file",
        ],
    );

    let both = r#"{auth={mode="jwt", public_key_file="a.pem", jwks_file="b.json"}}"#;
    let line = refused(&[("ROCKET_OPERATIONS", both)]);
    assert_names(&line, &["operations.auth.jwks_file", "one of them"]);

    let not_a_key = r#"{auth={mode="jwt", jwks_file="Cargo.toml"}}"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]").unwrap();
    let line = the_one_line(&run_to_exit(dir.path(), &[("ROCKET_OPERATIONS", not_a_key)]));
    assert_names(&line, &["authentication", "Cargo.toml", "not a JSON Web Key Set"]);
}

async fn the_token_command_mints_a_token_the_service_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let secret = ("LONGRUN_JWT_SECRET", crate::bearer::SECRET);
    let output = binary(dir.path(), &[secret])
        .args(["token", "alice", "--admin"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let database = format!("sqlite://{}/t.db", dir.path().display());
    let server = Server::start_with(
        &database,
        r#"auth={mode="jwt"}, log_format="off""#,
        &[secret],
        None,
    )
    .await;
    let listed = reqwest::Client::new()
        .get(format!("{}/api/v1/operations", server.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    server.kill();
    assert_eq!(listed.status(), 200, "an admin token lists");

    let without_secret = binary(dir.path(), &[]).args(["token", "alice"]).output().unwrap();
    assert_eq!(without_secret.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&without_secret.stderr).contains("LONGRUN_JWT_SECRET"));
    let no_sub = binary(dir.path(), &[secret]).args(["token"]).output().unwrap();
    assert_eq!(no_sub.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_sub.stderr).contains("usage: longrun token <sub>"));
}

async fn declared_types_that_do_not_fit_are_refused_naming_the_type_and_the_problem() {
    let http = r#"kind="http", url="https://target.example/run", bearer_token="t""#;
    let object = r#"input_schema={type="object"}"#;
    // Settings alone show these: refused before anything is created.
    let settings = [
        (
            format!(r#"{{types={{echo={{{http}, {object}}}}}}}"#),
            vec!["operations.types.echo", "built-in"],
        ),
        (
            format!(r#"{{types={{"Bad-Name"={{{http}, {object}}}}}}}"#),
            vec!["operations.types.Bad-Name", "lowercase"],
        ),
        (
            format!(r#"{{types={{a={{kind="sql", {object}}}}}}}"#),
            vec!["operations.types.a.kind", "llm"],
        ),
        (
            format!(r#"{{types={{a={{kind="llm", {object}, output_schema={{type="object"}}}}}}}}"#),
            vec!["operations.types.a.prompt", "required for kind = \"llm\""],
        ),
        (
            format!(r#"{{types={{a={{kind="http", url="https://target.example/run", {object}}}}}}}"#),
            vec!["operations.types.a.secret", "bearer_token"],
        ),
        (
            format!(
                r#"{{types={{a={{kind="http", url="http://10.0.0.1/run", bearer_token="t", {object}}}}}}}"#
            ),
            vec!["operations.types.a.url", "allow_private_targets"],
        ),
        (
            format!(r#"{{types={{a={{{http}, {object}, prompt="p.md"}}}}}}"#),
            vec!["operations.types.a.prompt", "not a setting of kind = \"http\""],
        ),
    ];
    for (operations, expected) in settings {
        let line = refused(&[("ROCKET_OPERATIONS", &operations)]);
        assert_names(&line, &expected);
    }
    // These need the files read and compiled: the types part says which.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.md"), "{% for x in %}").unwrap();
    std::fs::write(dir.path().join("schema.json"), "{not json").unwrap();
    let files = [
        (
            format!(r#"{{types={{a={{{http}, input_schema="missing.json"}}}}}}"#),
            vec!["operation type \"a\"", "input_schema", "missing.json"],
        ),
        (
            format!(r#"{{types={{a={{{http}, input_schema="schema.json"}}}}}}"#),
            vec!["operation type \"a\"", "input_schema", "not JSON"],
        ),
        (
            format!(r#"{{types={{a={{{http}, input_schema={{type="nonsense"}}}}}}}}"#),
            vec!["operation type \"a\"", "not a valid JSON Schema"],
        ),
        (
            format!(r#"{{types={{a={{{http}, input_schema={{type="string"}}}}}}}}"#),
            vec!["operation type \"a\"", "must describe an object"],
        ),
        (
            format!(
                r#"{{types={{a={{kind="llm", prompt="broken.md", {object}, output_schema={{type="object"}}}}}}}}"#
            ),
            vec![
                "operation type \"a\"",
                "prompt",
                "broken.md",
                "not a valid template",
            ],
        ),
    ];
    for (operations, expected) in files {
        let output = run_to_exit(dir.path(), &[("ROCKET_OPERATIONS", &operations)]);
        let line = the_one_line(&output);
        assert_names(&line, &["cannot start", "the operation types"]);
        assert_names(&line, &expected);
    }
}
