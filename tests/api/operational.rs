//! Health, metrics, rate limits, CORS and request ids.

use std::net::SocketAddr;

use rocket::figment::Figment;
use rocket::http::{Header, Status};
use rocket::serde::json::json;

use crate::helpers::{metric, Backend, TestApp, TestResponse};
use crate::trials;
use crate::unavailable::{poll_until, spawn_with_outage};

trials!(
    on_both_backends: [
        liveness_and_readiness_answer_ok_on_a_healthy_service,
        readiness_names_the_database_when_it_is_unreachable,
        readiness_names_the_workers_once_they_stop,
        metric_counters_move_as_operations_run,
        polling_over_the_limit_is_a_429_with_retry_after_and_other_addresses_go_on,
        creating_over_the_limit_is_a_429,
        a_preflight_from_an_allowed_origin_is_answered_and_headers_are_exposed,
        an_origin_not_allowed_gets_no_cors_headers,
        a_request_id_is_echoed_or_made_up,
    ],
);

async fn liveness_and_readiness_answer_ok_on_a_healthy_service(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.workers", 2))).await;

    let live = app.get("/health/live").await;
    let ready = app.get("/health/ready").await;

    assert_eq!(live.status, Status::Ok);
    assert_eq!(live.json(), json!({"status": "ok"}));
    assert_eq!(ready.status, Status::Ok, "{}", ready.body);
    assert_eq!(
        ready.json(),
        json!({"status": "ready", "checks": {"database": "ok", "migrations": "ok", "workers": "ok"}})
    );
}

async fn readiness_names_the_database_when_it_is_unreachable(backend: Backend) {
    let (app, outage) = spawn_with_outage(backend).await;
    assert_eq!(app.get("/health/ready").await.status, Status::Ok);

    outage.begin();
    let down = poll_until(
        &app,
        "/health/ready",
        Status::ServiceUnavailable,
        outage.poll_interval(),
    )
    .await;
    let body = down.json();
    assert_eq!(down.status, Status::ServiceUnavailable, "{body}");
    assert_eq!(body["checks"]["database"], "unreachable");
    assert_eq!(body["detail"]["code"], "NOT_READY");
    assert!(body["detail"]["message"].as_str().unwrap().contains("database"));
    assert_eq!(
        app.get("/health/live").await.status,
        Status::Ok,
        "alive all the same"
    );

    outage.end();
    let back = poll_until(&app, "/health/ready", Status::Ok, outage.poll_interval()).await;
    assert_eq!(back.status, Status::Ok);
}

async fn readiness_names_the_workers_once_they_stop(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.workers", 1))).await;
    // What shutdown does first: the workers stop claiming.
    app.workers().stop_claiming();
    let ready = app.get("/health/ready").await;

    assert_eq!(ready.status, Status::ServiceUnavailable);
    assert_eq!(ready.json()["checks"]["workers"], "stopped");
}

async fn metric_counters_move_as_operations_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let completed = app.create("echo", json!({})).await;
    let failed = app.create("echo", json!({"fail": "no"})).await;
    app.create("echo", json!({})).await;
    app.drain().await;
    app.get(&format!("/api/v1/operations/{completed}")).await;
    app.get(&format!("/api/v1/operations/{failed}")).await;

    let scrape = app.get("/metrics").await;

    assert_eq!(scrape.status, Status::Ok);
    assert!(scrape.header("Content-Type").unwrap().starts_with("text/plain"));
    let text = scrape.body;
    assert_eq!(
        metric(
            &text,
            r#"longrun_operations_created_total{operation_type="echo"}"#
        ),
        3.0
    );
    assert_eq!(
        metric(
            &text,
            r#"longrun_operations_finished_total{error_code="",operation_type="echo",status="completed"}"#
        ),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            r#"longrun_operations_finished_total{error_code="HANDLER_ERROR",operation_type="echo",status="failed"}"#
        ),
        1.0
    );
    assert_eq!(metric(&text, r#"longrun_operations{status="completed"}"#), 2.0);
    assert_eq!(metric(&text, r#"longrun_operations{status="pending"}"#), 0.0);
    let polls =
        r#"longrun_http_requests_total{method="GET",route="/api/v1/operations/<operation_id>",status="200"}"#;
    assert_eq!(metric(&text, polls), 2.0);
    assert!(text.contains("longrun_http_request_duration_seconds_bucket"));
    assert!(text.contains("longrun_operation_duration_seconds_count"));
    assert!(text.contains(r#"longrun_db_connections{state="max"}"#));
    assert!(text.contains("longrun_long_poll_waiters 0"));
    assert!(text.contains("longrun_event_streams 0"));
}

fn limited(f: Figment) -> Figment {
    f.merge(("operations.rate_limit.enabled", true))
        .merge(("operations.rate_limit.poll_per_second", 1))
        .merge(("operations.rate_limit.poll_burst", 3))
        .merge(("operations.rate_limit.create_per_second", 1))
        .merge(("operations.rate_limit.create_burst", 2))
}

async fn get_from(app: &TestApp, path: &str, address: &str) -> TestResponse {
    let remote: SocketAddr = address.parse().unwrap();
    TestResponse::read(app.client.get(path.to_owned()).remote(remote).dispatch().await).await
}

async fn polling_over_the_limit_is_a_429_with_retry_after_and_other_addresses_go_on(backend: Backend) {
    let app = TestApp::spawn_with(backend, limited).await;
    let id = app.create("echo", json!({})).await;
    let path = format!("/api/v1/operations/{id}");

    for _ in 0..3 {
        assert_eq!(get_from(&app, &path, "192.0.2.1:4000").await.status, Status::Ok);
    }
    let over = get_from(&app, &path, "192.0.2.1:4000").await;

    over.assert_error(Status::TooManyRequests, "RATE_LIMITED");
    let retry_after: u64 = over.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(
        get_from(&app, &path, "192.0.2.2:4000").await.status,
        Status::Ok,
        "another address"
    );
    assert_eq!(
        app.get("/health/live").await.status,
        Status::Ok,
        "health is never limited"
    );
}

async fn creating_over_the_limit_is_a_429(backend: Backend) {
    let app = TestApp::spawn_with(backend, limited).await;
    let body = json!({"operation_type": "echo", "input": {}}).to_string();

    let statuses: Vec<Status> = {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(app.post("/api/v1/operations", &body, &[]).await.status);
        }
        statuses
    };

    assert_eq!(
        statuses,
        [Status::Accepted, Status::Accepted, Status::TooManyRequests]
    );
}

fn with_origins(f: Figment) -> Figment {
    f.merge(("operations.cors_allowed_origins", ["https://app.example"]))
}

async fn a_preflight_from_an_allowed_origin_is_answered_and_headers_are_exposed(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_origins).await;
    let id = app.create("echo", json!({})).await;
    let path = format!("/api/v1/operations/{id}");

    let preflight = app
        .client
        .options(path.clone())
        .header(Header::new("Origin", "https://app.example"))
        .header(Header::new("Access-Control-Request-Method", "GET"))
        .header(Header::new("Access-Control-Request-Headers", "if-none-match"));
    let preflight = TestResponse::read(preflight.dispatch().await).await;
    assert_eq!(preflight.status, Status::NoContent);
    assert_eq!(
        preflight.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert!(preflight
        .header("Access-Control-Allow-Methods")
        .unwrap()
        .contains("POST"));
    let allowed = preflight.header("Access-Control-Allow-Headers").unwrap();
    for header in ["If-None-Match", "Authorization"] {
        assert!(allowed.contains(header), "{allowed}");
    }
    assert!(preflight.body.is_empty());

    let get = app
        .client
        .get(path)
        .header(Header::new("Origin", "https://app.example"));
    let get = TestResponse::read(get.dispatch().await).await;
    assert_eq!(get.status, Status::Ok);
    assert_eq!(
        get.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    let exposed = get.header("Access-Control-Expose-Headers").unwrap();
    for header in ["Location", "ETag", "Retry-After", "WWW-Authenticate"] {
        assert!(exposed.contains(header), "{exposed}");
    }
}

async fn an_origin_not_allowed_gets_no_cors_headers(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_origins).await;
    let id = app.create("echo", json!({})).await;

    let get = app
        .client
        .get(format!("/api/v1/operations/{id}"))
        .header(Header::new("Origin", "https://evil.example"));
    let get = TestResponse::read(get.dispatch().await).await;

    assert_eq!(get.status, Status::Ok);
    assert_eq!(get.header("Access-Control-Allow-Origin"), None);
}

async fn a_request_id_is_echoed_or_made_up(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let given = app
        .client
        .get("/health/live")
        .header(Header::new("X-Request-Id", "trace-42.a"));
    let given = TestResponse::read(given.dispatch().await).await;
    let made_up = app.get("/api/v1/operations/not-a-uuid").await;
    let forged = app
        .client
        .get("/health/live")
        .header(Header::new("X-Request-Id", "a\"b c"));
    let forged = TestResponse::read(forged.dispatch().await).await;

    assert_eq!(given.header("X-Request-Id"), Some("trace-42.a"));
    let made_up_id = made_up.header("X-Request-Id").unwrap();
    assert_eq!(made_up_id.len(), 32, "a fresh id, on errors too: {made_up_id}");
    assert_ne!(
        forged.header("X-Request-Id"),
        Some("a\"b c"),
        "an id that could forge log lines is replaced"
    );
}
