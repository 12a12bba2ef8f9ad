//! Completion webhooks, delivered to a real receiver on loopback that
//! verifies each with the `standardwebhooks` package.

use std::time::{Duration, Instant};

use rocket::figment::providers::{Format, Toml};
use rocket::figment::Figment;
use rocket::http::Status;
use rocket::serde::json::{json, Value};
use uuid::Uuid;

use crate::bearer::{admin_token, jwt, token};
use crate::helpers::{metric, Backend, TestApp, TestDb};
use crate::receiver::{distinct_delivered, secret_of, Receiver};
use crate::server::Server;
use crate::trials;

trials!(
    on_both_backends: [
        completed_and_failed_events_reach_the_endpoints_that_ask_for_them,
        failed_deliveries_are_retried_until_answered_with_a_2xx,
        a_receiver_that_was_down_gets_the_events_when_it_is_back,
        gone_stops_and_an_exhausted_schedule_gives_up,
        redirects_are_not_followed_and_slow_answers_time_out,
        callbacks_are_signed_with_the_callback_secret_and_bad_ones_are_422,
        targets_on_private_addresses_are_refused,
        deliveries_are_seen_by_the_owner_and_admins_only,
        a_kill_9_between_finish_and_delivery_loses_nothing,
        a_kill_9_during_deliveries_loses_nothing,
        operations_are_kept_until_their_webhooks_are_settled,
    ],
    on_postgres: [two_processes_on_one_postgres_deliver_500_events_once_each],
);

const SOON: Duration = Duration::from_secs(15);

/// The test figment with workers (which deliver), private targets allowed
/// (the receiver is on loopback), short retries, and `settings` (TOML
/// lines of `[operations]`).
fn with_webhooks(figment: Figment, settings: &str) -> Figment {
    figment
        .merge(("operations.workers", 2))
        .merge(Toml::string(
            "[operations]\nallow_private_targets = true\nwebhook_retry_secs = [0.2, 0.2, 0.2]",
        ))
        .merge(Toml::string(&format!("[operations]\n{settings}")))
}

async fn spawn(backend: Backend, settings: &str) -> TestApp {
    let settings = settings.to_owned();
    TestApp::spawn_with(backend, move |figment| with_webhooks(figment, &settings)).await
}

/// The deliveries of an operation once `done` holds for them.
async fn deliveries_when(app: &TestApp, id: Uuid, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let path = format!("/api/v1/operations/{id}/deliveries");
    let response = app
        .wait_until_get(&path, SOON, |response| {
            assert_eq!(response.status, Status::Ok, "{}", response.body);
            done(
                response.json()["deliveries"]
                    .as_array()
                    .map_or(&[], Vec::as_slice),
            )
        })
        .await;
    response.json()["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn states(deliveries: &[Value]) -> Vec<&str> {
    deliveries
        .iter()
        .map(|d| d["state"].as_str().unwrap_or("?"))
        .collect()
}

async fn completed_and_failed_events_reach_the_endpoints_that_ask_for_them(backend: Backend) {
    let Some(receiver) = Receiver::start(&["all", "failures"]).await else {
        return;
    };
    let endpoints = receiver.webhooks_toml(&[
        ("all", ""),
        (
            "failures",
            "events=[\"operation.failed\"], operation_types=[\"echo\"]",
        ),
    ]);
    let app = spawn(backend, &format!("webhooks = {endpoints}")).await;
    let completed = app.create("echo", json!({"result": {"question": "Why?"}})).await;
    let failed = app.create("echo", json!({"fail": "no luck"})).await;
    let completed_body = app.wait_finished(completed, SOON).await;
    let failed_body = app.wait_finished(failed, SOON).await;

    let to_all = receiver.wait_for_events("all", 2, SOON).await;
    let to_failures = receiver.wait_for_events("failures", 1, SOON).await;
    let event_of = |id: Uuid, list: &[Value]| {
        list.iter()
            .find(|d| d["operation_id"] == id.to_string())
            .cloned()
            .unwrap_or_else(|| panic!("no event of {id} in {list:?}"))
    };
    let event = event_of(completed, &to_all);
    assert_eq!(event["type"], "operation.completed");
    assert_eq!(
        event["data"], completed_body,
        "data is the operation as GET returns it"
    );
    assert_eq!(event["timestamp"], completed_body["updated_at"]);
    assert_eq!(event["webhook_id"], format!("msg_{}", completed.simple()));
    assert_eq!(event["content_type"], "application/json");
    let event = event_of(failed, &to_all);
    assert_eq!(event["type"], "operation.failed");
    assert_eq!(event["data"], failed_body);
    assert_eq!(
        to_failures.len(),
        1,
        "only the failure goes to `failures`: {to_failures:?}"
    );
    assert_eq!(event_of(failed, &to_failures)["type"], "operation.failed");

    let deliveries = deliveries_when(&app, completed, |d| states(d) == ["delivered"]).await;
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    assert_eq!(deliveries[0]["endpoint"], "all");
    assert_eq!(deliveries[0]["event_type"], "operation.completed");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status"], "delivered");
    assert_eq!(attempts[0]["response_code"], 204);
    let metrics = app.get("/metrics").await.body;
    assert_eq!(
        metric(
            &metrics,
            "longrun_webhook_deliveries_total{endpoint=\"all\",outcome=\"delivered\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &metrics,
            "longrun_webhook_deliveries_total{endpoint=\"failures\",outcome=\"delivered\"}"
        ),
        1.0
    );
}

async fn failed_deliveries_are_retried_until_answered_with_a_2xx(backend: Backend) {
    let Some(receiver) = Receiver::start(&["flaky"]).await else {
        return;
    };
    receiver
        .set_mode("flaky", json!({"fail_first": 2, "failure_status": 500}))
        .await;
    let app = spawn(
        backend,
        &format!("webhooks = {}", receiver.webhooks_toml(&[("flaky", "")])),
    )
    .await;
    let id = app.create("echo", json!({})).await;
    let seen = receiver.wait_for_events("flaky", 1, SOON).await;
    let answered: Vec<u64> = seen.iter().map(|d| d["answered"].as_u64().unwrap()).collect();
    assert_eq!(answered, [500, 500, 204]);
    assert!(
        seen.iter().all(|d| d["webhook_id"] == seen[0]["webhook_id"]),
        "one webhook-id across retries: {seen:?}"
    );
    let deliveries = deliveries_when(&app, id, |d| states(d) == ["delivered"]).await;
    let codes: Vec<&Value> = deliveries[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["response_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(500), &json!(204)]);
    let statuses: Vec<&Value> = deliveries[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!("failed"), &json!("failed"), &json!("delivered")]
    );
}

async fn a_receiver_that_was_down_gets_the_events_when_it_is_back(backend: Backend) {
    let Some(mut receiver) = Receiver::start(&["later"]).await else {
        return;
    };
    let endpoints = receiver.webhooks_toml(&[("later", "")]);
    receiver.stop();
    let app = spawn(
        backend,
        &format!(
            "webhooks = {endpoints}\nwebhook_retry_secs = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]"
        ),
    )
    .await;
    let id = app.create("echo", json!({})).await;
    let deliveries = deliveries_when(&app, id, |d| {
        d.first()
            .and_then(|d| d["attempts"].as_array())
            .is_some_and(|a| a.len() >= 2)
    })
    .await;
    let first = &deliveries[0]["attempts"][0];
    assert_eq!(first["status"], "failed");
    assert_eq!(first["error"], "could not connect");
    assert_eq!(first["response_code"], Value::Null);
    assert_eq!(deliveries[0]["state"], "pending");
    assert!(deliveries[0]["next_attempt_at"].is_string());

    receiver.resume().await;
    receiver.wait_for_events("later", 1, SOON).await;
    deliveries_when(&app, id, |d| states(d) == ["delivered"]).await;
}

async fn gone_stops_and_an_exhausted_schedule_gives_up(backend: Backend) {
    let Some(receiver) = Receiver::start(&["gone", "broken"]).await else {
        return;
    };
    receiver.set_mode("gone", json!({"status": 410})).await;
    receiver.set_mode("broken", json!({"status": 503})).await;
    let endpoints = receiver.webhooks_toml(&[("gone", ""), ("broken", "")]);
    let app = spawn(
        backend,
        &format!("webhooks = {endpoints}\nwebhook_retry_secs = [0.1, 0.1]"),
    )
    .await;
    let id = app.create("echo", json!({})).await;
    let deliveries = deliveries_when(&app, id, |d| {
        let mut states = states(d);
        states.sort_unstable();
        states == ["exhausted", "gone"]
    })
    .await;
    let attempts_of = |endpoint: &str| {
        deliveries
            .iter()
            .find(|d| d["endpoint"] == endpoint)
            .and_then(|d| d["attempts"].as_array())
            .map_or(0, Vec::len)
    };
    assert_eq!(attempts_of("gone"), 1, "a 410 is not retried");
    assert_eq!(
        attempts_of("broken"),
        3,
        "the first attempt and the schedule's two retries"
    );
    // Nothing more is sent once both are settled.
    rocket::tokio::time::sleep(Duration::from_millis(500)).await;
    let (received, _) = receiver.received().await;
    assert_eq!(received.iter().filter(|d| d["endpoint"] == "gone").count(), 1);
    assert_eq!(received.iter().filter(|d| d["endpoint"] == "broken").count(), 3);
    let metrics = app.get("/metrics").await.body;
    assert_eq!(
        metric(
            &metrics,
            "longrun_webhook_deliveries_total{endpoint=\"gone\",outcome=\"gone\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "longrun_webhook_deliveries_total{endpoint=\"broken\",outcome=\"exhausted\"}"
        ),
        1.0
    );
}

async fn redirects_are_not_followed_and_slow_answers_time_out(backend: Backend) {
    let Some(receiver) = Receiver::start(&["moved", "there", "slow"]).await else {
        return;
    };
    receiver
        .set_mode("moved", json!({"status": 307, "location": "/hooks/there"}))
        .await;
    receiver.set_mode("slow", json!({"delay_ms": 2500})).await;
    let endpoints = receiver.webhooks_toml(&[
        ("moved", ""),
        ("there", "operation_types=[\"no_such_type\"]"),
        ("slow", ""),
    ]);
    let app = spawn(
        backend,
        &format!("webhooks = {endpoints}\nwebhook_timeout_secs = 1\nwebhook_retry_secs = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3]"),
    )
    .await;
    let id = app.create("echo", json!({})).await;
    let attempts_of = |deliveries: &[Value], endpoint: &str| -> Vec<Value> {
        deliveries
            .iter()
            .find(|d| d["endpoint"] == endpoint)
            .and_then(|d| d["attempts"].as_array())
            .cloned()
            .unwrap_or_default()
    };
    let deliveries = deliveries_when(&app, id, |d| {
        !attempts_of(d, "moved").is_empty() && !attempts_of(d, "slow").is_empty()
    })
    .await;
    let moved = &attempts_of(&deliveries, "moved")[0];
    assert_eq!(moved["status"], "failed", "a redirect is not a delivery: {moved}");
    assert_eq!(moved["response_code"], 307);
    let slow = &attempts_of(&deliveries, "slow")[0];
    assert_eq!(slow["status"], "failed");
    assert_eq!(slow["error"], "timed out");
    assert_eq!(slow["response_code"], Value::Null);
    // Followed, the redirect would reach `there` (which takes no events of
    // its own), verified or not (it is signed with `moved`'s secret).
    let (received, unverified) = receiver.received().await;
    assert!(
        received.iter().all(|d| d["endpoint"] != "there") && unverified == 0,
        "the redirect was followed: {received:?}, {unverified} unverified"
    );

    receiver.set_mode("slow", json!({})).await;
    deliveries_when(&app, id, |d| {
        d.iter()
            .any(|d| d["endpoint"] == "slow" && d["state"] == "delivered")
    })
    .await;
}

async fn callbacks_are_signed_with_the_callback_secret_and_bad_ones_are_422(backend: Backend) {
    let Some(receiver) = Receiver::start(&["callback"]).await else {
        return;
    };
    let settings = format!(
        "allow_callback_urls = true\ncallback_secret = \"{}\"",
        secret_of("callback")
    );
    let app = spawn(backend, &settings).await;
    let url = receiver.url("callback");
    let body = json!({"operation_type": "echo", "input": {"result": 7}, "callback_url": url});
    let created = app.post("/api/v1/operations", &body.to_string(), &[]).await;
    assert_eq!(created.status, Status::Accepted, "{}", created.body);
    assert_eq!(created.json()["callback_url"], url.as_str());
    let id: Uuid = created.json()["id"].as_str().unwrap().parse().unwrap();
    let seen = receiver.wait_for_events("callback", 1, SOON).await;
    assert_eq!(seen[0]["data"]["callback_url"], url.as_str());
    assert_eq!(seen[0]["data"]["result"], 7);
    let deliveries = deliveries_when(&app, id, |d| states(d) == ["delivered"]).await;
    assert_eq!(deliveries[0]["endpoint"], "callback");

    let long = format!("https://example.com/{}", "a".repeat(2048));
    for bad in [
        json!("ftp://example.com/hook"),
        json!("https://user:secret@example.com/hook"),
        json!("not a url"),
        json!(long),
        json!(42),
    ] {
        let body = json!({"operation_type": "echo", "callback_url": bad});
        let response = app.post("/api/v1/operations", &body.to_string(), &[]).await;
        assert_eq!(
            response.status,
            Status::UnprocessableEntity,
            "{bad}: {}",
            response.body
        );
        let detail = &response.json()["detail"];
        assert_eq!(detail["code"], "INVALID_INPUT");
        assert!(
            detail["message"].as_str().unwrap().contains("callback_url"),
            "{detail}"
        );
    }

    // Where callbacks are off, a create that names one is refused.
    let db = app.stop().await;
    let url_of_db = db.url.clone();
    let off = TestApp::spawn_on(db, &url_of_db, |figment| figment).await;
    let body = json!({"operation_type": "echo", "callback_url": url});
    let response = off.post("/api/v1/operations", &body.to_string(), &[]).await;
    assert_eq!(response.status, Status::UnprocessableEntity, "{}", response.body);
    assert!(response.json()["detail"]["message"]
        .as_str()
        .unwrap()
        .contains("allow_callback_urls"));
}

/// This machine's name, which resolves to a loopback or private address
/// here as in containers and CI; `None` when it resolves to none such.
fn private_host_name() -> Option<String> {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/etc/hostname").ok()?.trim().to_owned();
    let addresses: Vec<_> = (name.as_str(), 80).to_socket_addrs().ok()?.collect();
    let private = !addresses.is_empty() && addresses.iter().all(|a| longrun::outbound::is_private(a.ip()));
    private.then_some(name)
}

async fn targets_on_private_addresses_are_refused(backend: Backend) {
    let Some(receiver) = Receiver::start(&["callback", "named"]).await else {
        return;
    };
    let settings = format!(
        "allow_callback_urls = true\ncallback_secret = \"{}\"\nallow_private_targets = false",
        secret_of("callback")
    );
    // An address written out is refused at the create…
    let app = spawn(backend, &settings).await;
    for url in [
        receiver.url("callback"),
        "http://localhost/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::1]/hook".to_owned(),
        "http://10.0.0.1/hook".to_owned(),
    ] {
        let body = json!({"operation_type": "echo", "callback_url": url});
        let response = app.post("/api/v1/operations", &body.to_string(), &[]).await;
        assert_eq!(
            response.status,
            Status::UnprocessableEntity,
            "{url}: {}",
            response.body
        );
        assert!(
            response.body.contains("allow_private_targets"),
            "{}",
            response.body
        );
    }
    // …and a name that resolves to one, on the address the call would
    // connect to.
    let Some(host) = private_host_name() else {
        panic!("this machine's name does not resolve to a private address; the test needs one that does");
    };
    let url = format!("http://{host}:{}/hooks/callback", receiver.port());
    let body = json!({"operation_type": "echo", "callback_url": url});
    let response = app.post("/api/v1/operations", &body.to_string(), &[]).await;
    assert_eq!(response.status, Status::Accepted, "{}", response.body);
    let id: Uuid = response.json()["id"].as_str().unwrap().parse().unwrap();
    let deliveries = deliveries_when(&app, id, |d| states(d) == ["refused"]).await;
    let attempt = &deliveries[0]["attempts"][0];
    assert_eq!(attempt["status"], "refused");
    assert!(
        attempt["error"].as_str().unwrap().contains("private"),
        "{attempt}"
    );
    let (received, _) = receiver.received().await;
    assert!(received.is_empty(), "{received:?}");

    // A configured endpoint on a private address stops the start.
    let endpoint = receiver.webhooks_toml(&[("named", "")]);
    let figment = with_webhooks(
        crate::helpers::test_figment(&app.db.url),
        &format!("webhooks = {endpoint}\nallow_private_targets = false"),
    );
    let Err(refused) = longrun::build(figment) else {
        panic!("the start is not refused");
    };
    assert_eq!(refused.key, "operations.webhooks[0].url", "{refused}");
    assert!(refused.to_string().contains("allow_private_targets"), "{refused}");
}

async fn deliveries_are_seen_by_the_owner_and_admins_only(backend: Backend) {
    let Some(receiver) = Receiver::start(&["all"]).await else {
        return;
    };
    let endpoints = receiver.webhooks_toml(&[("all", "")]);
    let app = TestApp::spawn_with(backend, move |figment| {
        jwt(with_webhooks(figment, &format!("webhooks = {endpoints}")))
    })
    .await;
    let (alice, bob) = (token("alice"), token("bob"));
    let id = app.create_as(&alice, "echo", json!({})).await;
    receiver.wait_for_events("all", 1, SOON).await;
    let path = format!("/api/v1/operations/{id}/deliveries");
    let deadline = Instant::now() + SOON;
    loop {
        let response = app.get_as(&alice, &path).await;
        assert_eq!(response.status, Status::Ok, "{}", response.body);
        if states(response.json()["deliveries"].as_array().unwrap()) == ["delivered"] {
            break;
        }
        assert!(Instant::now() < deadline, "{}", response.body);
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let other = app.get_as(&bob, &path).await;
    assert_eq!(other.status, Status::NotFound);
    assert_eq!(other.json()["detail"]["code"], "OPERATION_NOT_FOUND");
    let admin = app.get_as(&admin_token("root"), &path).await;
    assert_eq!(admin.status, Status::Ok);
    assert_eq!(admin.json()["deliveries"][0]["state"], "delivered");
    assert_eq!(app.get(&path).await.status, Status::Unauthorized);
    let unknown = app
        .get_as(
            &alice,
            &format!("/api/v1/operations/{}/deliveries", Uuid::new_v4()),
        )
        .await;
    assert_eq!(unknown.status, Status::NotFound);
    let malformed = app.get_as(&alice, "/api/v1/operations/nope/deliveries").await;
    assert_eq!(malformed.status, Status::UnprocessableEntity);
    assert_eq!(malformed.json()["detail"]["code"], "INVALID_OPERATION_ID");
}

/// `operations` settings of the binary delivering to `endpoints`.
fn binary_settings(endpoints: &str) -> String {
    format!(
        "workers=8, lease_secs=2, idle_poll_ms=100, allow_private_targets=true, \
         webhook_timeout_secs=1, webhooks={endpoints}, \
         webhook_retry_secs=[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]"
    )
}

async fn wait_all_finished(server: &Server, ids: &[Uuid]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in ids {
        while !matches!(
            server.poll(*id).await["status"].as_str(),
            Some("completed" | "failed")
        ) {
            assert!(Instant::now() < deadline, "{id} did not finish");
            rocket::tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Every one of `ids` delivered to `name`; the deliveries beyond one per
/// event (duplicates).
async fn all_delivered(receiver: &Receiver, name: &str, ids: &[Uuid]) -> usize {
    let seen = receiver
        .wait_for_events(name, ids.len(), Duration::from_secs(60))
        .await;
    let delivered = distinct_delivered(&seen);
    for id in ids {
        assert!(
            delivered.contains_key(&format!("msg_{}", id.simple())),
            "{id} not delivered"
        );
    }
    delivered.values().map(|n| n - 1).sum()
}

async fn a_kill_9_between_finish_and_delivery_loses_nothing(backend: Backend) {
    let Some(mut receiver) = Receiver::start(&["backend"]).await else {
        return;
    };
    let db = TestDb::create(backend).await;
    let settings = binary_settings(&receiver.webhooks_toml(&[("backend", "")]));
    // The receiver is down: every operation finishes, no event is delivered.
    receiver.stop();
    let first = Server::start(&db.url, &settings).await;
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(first.create_echo(json!({"result": n})).await);
    }
    wait_all_finished(&first, &ids).await;
    first.kill();

    receiver.resume().await;
    let second = Server::start(&db.url, &settings).await;
    let duplicates = all_delivered(&receiver, "backend", &ids).await;
    eprintln!("webhooks: kill -9 before delivery: 50 events, 50 delivered, {duplicates} duplicates");
    assert_eq!(duplicates, 0, "no delivery was in flight at the kill");
    drop(second);
}

async fn a_kill_9_during_deliveries_loses_nothing(backend: Backend) {
    let Some(receiver) = Receiver::start(&["backend"]).await else {
        return;
    };
    receiver.set_mode("backend", json!({"delay_ms": 200})).await;
    let db = TestDb::create(backend).await;
    let settings = binary_settings(&receiver.webhooks_toml(&[("backend", "")]));
    let first = Server::start(&db.url, &settings).await;
    let mut ids = Vec::new();
    for n in 0..100 {
        ids.push(first.create_echo(json!({"result": n})).await);
    }
    wait_all_finished(&first, &ids).await;
    // Some deliveries answered, some in flight.
    receiver.wait_for_events("backend", 1, SOON).await;
    first.kill();

    let second = Server::start(&db.url, &settings).await;
    let duplicates = all_delivered(&receiver, "backend", &ids).await;
    eprintln!("webhooks: kill -9 during deliveries: 100 events, 100 delivered, {duplicates} duplicates");
    // In flight at the kill (at most webhook_concurrency, 16) or answered
    // in the moment before it, not recorded yet (outcomes are written a
    // few milliseconds apart, in groups). The receiver answers every call
    // after the same 200 ms, so the deliveries go in waves of 16: a kill
    // just after a wave was answered, before its outcomes were written,
    // finds the next wave already in flight, up to twice 16 in all.
    assert!(
        duplicates <= 32,
        "only deliveries in flight at the kill are repeated"
    );
    drop(second);
}

async fn operations_are_kept_until_their_webhooks_are_settled(backend: Backend) {
    let Some(mut receiver) = Receiver::start(&["slow"]).await else {
        return;
    };
    let endpoints = receiver.webhooks_toml(&[("slow", "")]);
    receiver.stop();
    let app = spawn(
        backend,
        &format!("webhooks = {endpoints}\nretention_secs = 0\nwebhook_retry_secs = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]"),
    )
    .await;
    let id = app.create("echo", json!({})).await;
    app.wait_finished(id, SOON).await;
    let retention = app
        .client
        .rocket()
        .state::<longrun::sweeper::Retention>()
        .unwrap();
    deliveries_when(&app, id, |d| {
        d.first()
            .is_some_and(|d| d["attempts"].as_array().is_some_and(|a| !a.is_empty()))
    })
    .await;
    retention.sweep_once().await.unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/operations/{id}")).await.status,
        Status::Ok,
        "kept while undelivered"
    );

    receiver.resume().await;
    receiver.wait_for_events("slow", 1, SOON).await;
    deliveries_when(&app, id, |d| states(d) == ["delivered"]).await;
    retention.sweep_once().await.unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/operations/{id}")).await.status,
        Status::NotFound
    );
    let gone = app.get(&format!("/api/v1/operations/{id}/deliveries")).await;
    assert_eq!(gone.status, Status::NotFound);
}

async fn two_processes_on_one_postgres_deliver_500_events_once_each() {
    let Some(receiver) = Receiver::start(&["backend"]).await else {
        return;
    };
    let db = TestDb::create(Backend::Postgres).await;
    let settings = binary_settings(&receiver.webhooks_toml(&[("backend", "")]));
    let (a, b) = (
        Server::start(&db.url, &settings).await,
        Server::start(&db.url, &settings).await,
    );
    let mut ids = Vec::new();
    for n in 0..500 {
        let server = if n % 2 == 0 { &a } else { &b };
        ids.push(server.create_echo(json!({"result": n})).await);
    }
    let duplicates = all_delivered(&receiver, "backend", &ids).await;
    let (received, unverified) = receiver.received().await;
    eprintln!(
        "webhooks: two processes: 500 events, {} deliveries received, {duplicates} duplicates, {unverified} unverified",
        received.len()
    );
    assert_eq!(duplicates, 0, "each event delivered by one process, once");
    assert_eq!(received.len(), 500);
    let delivered = "longrun_webhook_deliveries_total{endpoint=\"backend\",outcome=\"delivered\"}";
    let (by_a, by_b) = (
        metric(&a.metrics().await, delivered),
        metric(&b.metrics().await, delivered),
    );
    assert_eq!(by_a + by_b, 500.0, "{by_a} + {by_b}");
}
