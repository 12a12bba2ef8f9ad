//! jwt mode's door: which tokens get in, what the others are told, and
//! what stays open without one.

use rocket::http::{Method, Status};
use rocket::serde::json::json;

use crate::bearer::{self, bearer, claims, now, token};
use crate::helpers::{Backend, TestApp, TestResponse};
use crate::server::Server;
use crate::trials;

trials!(
    on_both_backends: [
        every_kind_of_bad_token_is_a_401_with_a_bearer_challenge,
        issuer_and_audience_are_checked_when_configured,
        a_token_passes_every_api_route_and_health_docs_and_the_page_stay_open,
        rs256_from_a_pem_key_and_algorithm_confusion_is_refused,
        es256_and_rs256_keys_of_a_key_set_are_picked_by_kid,
        the_event_stream_takes_the_token_from_access_token_and_no_other_route_does,
        none_mode_is_unchanged_by_tokens,
    ],
    on_sqlite: [the_access_token_never_reaches_the_logs],
);

const OPERATIONS: &str = "/api/v1/operations";

async fn create_with(app: &TestApp, headers: &[(String, String)]) -> TestResponse {
    let body = json!({"operation_type": "echo", "input": {}}).to_string();
    app.request(Method::Post, OPERATIONS, Some(&body), headers).await
}

fn assert_unauthenticated(response: &TestResponse, invalid_token: bool, what: &str) {
    assert_eq!(response.status, Status::Unauthorized, "{what}: {}", response.body);
    response.assert_error(Status::Unauthorized, "UNAUTHENTICATED");
    let challenge = response
        .header("WWW-Authenticate")
        .unwrap_or_else(|| panic!("{what}: no challenge"));
    assert!(
        challenge.starts_with("Bearer realm=\"longrun\""),
        "{what}: {challenge}"
    );
    assert_eq!(
        challenge.contains("error=\"invalid_token\""),
        invalid_token,
        "{what}: {challenge}"
    );
}

async fn every_kind_of_bad_token_is_a_401_with_a_bearer_challenge(backend: Backend) {
    let app = TestApp::spawn_with(backend, bearer::jwt).await;
    let sub = "alice";

    assert_unauthenticated(&create_with(&app, &[]).await, false, "no token");
    let basic = ("Authorization".to_owned(), "Basic YWxpY2U6c2VjcmV0".to_owned());
    assert_unauthenticated(&create_with(&app, &[basic]).await, false, "another scheme");

    let bad_tokens = [
        ("malformed", "not-a-jwt".to_owned()),
        ("three parts of nothing", "a.b.c".to_owned()),
        (
            "expired beyond the leeway",
            bearer::signed_with_secret(
                &json!({"sub": sub, "exp": now() - 120}),
                bearer::SECRET.as_bytes(),
            ),
        ),
        (
            "not valid before a later time",
            bearer::signed_with_secret(
                &json!({"sub": sub, "exp": now() + 3600, "nbf": now() + 600}),
                bearer::SECRET.as_bytes(),
            ),
        ),
        (
            "signed with another secret",
            bearer::signed_with_secret(&claims(sub), b"another secret entirely, 32 bytes"),
        ),
        ("alg none", bearer::unsigned(&claims(sub))),
        (
            "RS256 where HS256 is configured",
            bearer::signed_rs256(&claims(sub), None),
        ),
        (
            "no exp",
            bearer::signed_with_secret(&json!({"sub": sub}), bearer::SECRET.as_bytes()),
        ),
        (
            "no sub",
            bearer::signed_with_secret(&json!({"exp": now() + 3600}), bearer::SECRET.as_bytes()),
        ),
    ];
    for (what, bad) in &bad_tokens {
        let response = create_with(&app, &[bearer(bad)]).await;
        assert_unauthenticated(&response, true, what);
        assert!(
            !response.body.contains(bearer::SECRET),
            "{what}: the secret leaks"
        );
        let poll = app
            .get_as(bad, &format!("{OPERATIONS}/{}", uuid::Uuid::new_v4()))
            .await;
        assert_unauthenticated(&poll, true, what);
    }

    let expired_within_leeway =
        bearer::signed_with_secret(&json!({"sub": sub, "exp": now() - 5}), bearer::SECRET.as_bytes());
    let response = create_with(&app, &[bearer(&expired_within_leeway)]).await;
    assert_eq!(
        response.status,
        Status::Accepted,
        "within the 30 s leeway: {}",
        response.body
    );
    assert_eq!(response.json()["owner"], sub);
}

async fn issuer_and_audience_are_checked_when_configured(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| {
        bearer::jwt(f)
            .merge(("operations.auth.issuer", "https://issuer.example"))
            .merge(("operations.auth.audience", "longrun"))
    })
    .await;
    let exp = now() + 3600;
    let sign = |claims| bearer::signed_with_secret(&claims, bearer::SECRET.as_bytes());

    let good = sign(json!({"sub": "a", "exp": exp, "iss": "https://issuer.example", "aud": "longrun"}));
    assert_eq!(create_with(&app, &[bearer(&good)]).await.status, Status::Accepted);
    for (what, claims) in [
        (
            "another issuer",
            json!({"sub": "a", "exp": exp, "iss": "https://evil.example", "aud": "longrun"}),
        ),
        ("no issuer", json!({"sub": "a", "exp": exp, "aud": "longrun"})),
        (
            "another audience",
            json!({"sub": "a", "exp": exp, "iss": "https://issuer.example", "aud": "other"}),
        ),
        (
            "no audience",
            json!({"sub": "a", "exp": exp, "iss": "https://issuer.example"}),
        ),
    ] {
        assert_unauthenticated(&create_with(&app, &[bearer(&sign(claims))]).await, true, what);
    }
}

async fn a_token_passes_every_api_route_and_health_docs_and_the_page_stay_open(backend: Backend) {
    let app = TestApp::spawn_with(backend, bearer::jwt).await;
    let alice = token("alice");

    let id = app.create_as(&alice, "echo", json!({})).await;
    let path = format!("{OPERATIONS}/{id}");
    assert_eq!(app.get_as(&alice, &path).await.status, Status::Ok);
    assert_eq!(
        app.get_as(&alice, &format!("{path}?wait=0")).await.status,
        Status::Ok
    );
    assert_eq!(app.get_as(&alice, OPERATIONS).await.status, Status::Ok);
    let cancel = app.post_as(&alice, &format!("{path}/cancel"), "").await;
    assert_eq!(cancel.status, Status::Ok, "{}", cancel.body);
    for (route, without_token) in [
        (path.clone(), app.get(&path).await),
        (format!("{path}/events"), app.get(&format!("{path}/events")).await),
        (OPERATIONS.to_owned(), app.get(OPERATIONS).await),
        (
            format!("{path}/cancel"),
            app.post(&format!("{path}/cancel"), "", &[]).await,
        ),
    ] {
        assert_unauthenticated(&without_token, false, &route);
    }

    for open in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/api/v1/openapi.json",
        "/",
        "/docs/",
    ] {
        let response = app.get(open).await;
        assert!(
            response.status.code < 400,
            "{open} answers {} without a token",
            response.status
        );
    }
}

async fn rs256_from_a_pem_key_and_algorithm_confusion_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| {
        bearer::jwt(f).merge((
            "operations.auth.public_key_file",
            bearer::key_file("rsa_public.pem"),
        ))
    })
    .await;

    let good = bearer::signed_rs256(&claims("carol"), None);
    let created = create_with(&app, &[bearer(&good)]).await;
    assert_eq!(created.status, Status::Accepted, "{}", created.body);
    assert_eq!(created.json()["owner"], "carol");

    let confused = bearer::confused_with_rsa_public_key(&claims("carol"));
    assert_unauthenticated(
        &create_with(&app, &[bearer(&confused)]).await,
        true,
        "HS256 over the public key",
    );
    let hs256 = token("carol");
    assert_unauthenticated(
        &create_with(&app, &[bearer(&hs256)]).await,
        true,
        "the HS256 secret is not used",
    );
    assert_unauthenticated(
        &create_with(&app, &[bearer(&bearer::unsigned(&claims("carol")))]).await,
        true,
        "alg none",
    );
}

async fn es256_and_rs256_keys_of_a_key_set_are_picked_by_kid(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| {
        bearer::jwt(f).merge(("operations.auth.jwks_file", bearer::key_file("jwks.json")))
    })
    .await;

    let es = bearer::signed_es256(&claims("dave"), Some("ec-1"));
    assert_eq!(create_with(&app, &[bearer(&es)]).await.status, Status::Accepted);
    let rs = bearer::signed_rs256(&claims("dave"), Some("rsa-1"));
    assert_eq!(create_with(&app, &[bearer(&rs)]).await.status, Status::Accepted);

    let wrong_kid = bearer::signed_es256(&claims("dave"), Some("rsa-1"));
    assert_unauthenticated(
        &create_with(&app, &[bearer(&wrong_kid)]).await,
        true,
        "the RSA key's kid on an EC token",
    );
    let unknown_kid = bearer::signed_es256(&claims("dave"), Some("ec-2"));
    assert_unauthenticated(
        &create_with(&app, &[bearer(&unknown_kid)]).await,
        true,
        "an unknown kid",
    );
    let no_kid = bearer::signed_es256(&claims("dave"), None);
    assert_unauthenticated(
        &create_with(&app, &[bearer(&no_kid)]).await,
        true,
        "no kid among two keys",
    );
}

async fn the_event_stream_takes_the_token_from_access_token_and_no_other_route_does(backend: Backend) {
    let app = TestApp::spawn_with(backend, bearer::jwt).await;
    let alice = token("alice");
    let id = app.create_as(&alice, "echo", json!({})).await;
    app.drain().await;

    let stream = app
        .get(&format!("{OPERATIONS}/{id}/events?access_token={alice}"))
        .await;
    assert_eq!(stream.status, Status::Ok, "{}", stream.body);
    assert!(stream.body.contains("\"completed\""), "{}", stream.body);

    let poll = app.get(&format!("{OPERATIONS}/{id}?access_token={alice}")).await;
    assert_unauthenticated(&poll, false, "a GET with the token in the query");
    let bob = token("bob");
    let others = app
        .get(&format!("{OPERATIONS}/{id}/events?access_token={bob}"))
        .await;
    others.assert_error(Status::NotFound, "OPERATION_NOT_FOUND");
}

async fn none_mode_is_unchanged_by_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let created = create_with(&app, &[bearer("not even a token")]).await;
    assert_eq!(created.status, Status::Accepted, "{}", created.body);
    let body = created.json();
    assert!(body.get("owner").is_none(), "no owner in none mode: {body}");
    let listed = app.get(OPERATIONS).await;
    listed.assert_error(Status::MethodNotAllowed, "METHOD_NOT_ALLOWED");
    assert_eq!(listed.header("Allow"), Some("POST"));
}

async fn the_access_token_never_reaches_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let database = format!("sqlite://{}/t.db", dir.path().display());
    let operations = r#"auth={mode="jwt"}, log_format="json""#;
    let server = Server::start_with(
        &database,
        operations,
        &[("ROCKET_LOG_LEVEL", "normal")],
        Some(&log),
    )
    .await;
    let alice = token("alice");
    let http = reqwest::Client::new();
    let created: rocket::serde::json::Value = http
        .post(format!("{}{OPERATIONS}", server.base_url))
        .bearer_auth(&alice)
        .json(&json!({"operation_type": "echo", "input": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = format!(
        "{}{OPERATIONS}/{}/events?access_token={alice}",
        server.base_url,
        created["id"].as_str().unwrap()
    );
    let stream = http.get(events).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.text().await.unwrap().contains("\"completed\""));
    assert!(server.terminate());

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("/events"),
        "the stream's request is logged: {logged}"
    );
    let signature = alice.rsplit('.').next().unwrap();
    assert!(!logged.contains(signature), "the token is in the log: {logged}");
    assert!(!logged.contains("access_token"), "the parameter is in the log");
}
