//! Operations belong to the owner of the token that created them: others
//! are told what an unknown id is told; admins see everything; keys,
//! quotas and rate limits are each owner's own.

use std::time::Duration;

use rocket::http::{Method, Status};
use rocket::serde::json::json;
use uuid::Uuid;

use crate::bearer::{self, admin_token, bearer, token};
use crate::helpers::{Backend, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        another_owners_operation_answers_exactly_as_an_unknown_id_and_an_admin_sees_it,
        idempotency_keys_are_each_owners_own,
        an_owner_at_the_quota_gets_429_and_others_do_not,
        rate_limits_count_per_owner_not_per_address,
        an_owner_set_by_another_program_is_honoured,
    ],
);

async fn another_owners_operation_answers_exactly_as_an_unknown_id_and_an_admin_sees_it(backend: Backend) {
    let app = TestApp::spawn_with(backend, bearer::jwt).await;
    let (alice, bob, admin) = (token("alice"), token("bob"), admin_token("root"));
    let id = app.create_as(&alice, "echo", json!({"result": "alice's"})).await;
    let path = format!("/api/v1/operations/{id}");
    // Alice's poll puts it in the poll cache: Bob must not be answered from it.
    let seen = app.get_as(&alice, &path).await;
    assert_eq!(seen.status, Status::Ok);
    assert_eq!(seen.json()["owner"], "alice");

    let unknown = app
        .get_as(&bob, &format!("/api/v1/operations/{}", Uuid::new_v4()))
        .await;
    unknown.assert_error(Status::NotFound, "OPERATION_NOT_FOUND");
    for (what, response) in [
        ("poll", app.get_as(&bob, &path).await),
        ("long poll", app.get_as(&bob, &format!("{path}?wait=1")).await),
        ("events", app.get_as(&bob, &format!("{path}/events")).await),
        ("cancel", app.post_as(&bob, &format!("{path}/cancel"), "").await),
    ] {
        assert_eq!(response.status, Status::NotFound, "{what}");
        assert_eq!(response.body, unknown.body, "{what}: the body of an unknown id");
        assert_eq!(
            response.headers.len(),
            unknown.headers.len(),
            "{what}: the headers of an unknown id"
        );
    }
    let still = app.get_as(&alice, &path).await.json();
    assert_eq!(still["status"], "pending", "Bob's cancel changed nothing");

    let as_admin = app.get_as(&admin, &path).await;
    assert_eq!(as_admin.status, Status::Ok);
    assert_eq!(as_admin.body, seen.body);
    let cancelled = app.post_as(&admin, &format!("{path}/cancel"), "").await;
    assert_eq!(cancelled.status, Status::Ok, "{}", cancelled.body);
    assert_eq!(cancelled.json()["error_code"], "CANCELLED");
    let now_seen = app.get_as(&alice, &path).await.json();
    assert_eq!(now_seen["status"], "failed");
    assert_eq!(now_seen["owner"], "alice", "the owner stays the creator's");
}

async fn idempotency_keys_are_each_owners_own(backend: Backend) {
    let app = TestApp::spawn_with(backend, bearer::jwt).await;
    let body = json!({"operation_type": "echo", "input": {"result": 1}}).to_string();
    let create = |token: String| {
        let headers = vec![
            bearer(&token),
            ("Idempotency-Key".to_owned(), "same-key".to_owned()),
        ];
        let body = body.clone();
        let app = &app;
        async move {
            app.request(Method::Post, "/api/v1/operations", Some(&body), &headers)
                .await
        }
    };

    let alices = create(token("alice")).await;
    let bobs = create(token("bob")).await;
    let alices_again = create(token("alice")).await;

    assert_eq!(alices.status, Status::Accepted);
    assert_eq!(bobs.status, Status::Accepted, "{}", bobs.body);
    assert_ne!(
        alices.json()["id"],
        bobs.json()["id"],
        "one key, two owners, two operations"
    );
    assert_eq!(bobs.json()["owner"], "bob");
    assert_eq!(
        alices_again.json()["id"],
        alices.json()["id"],
        "the same owner's retry"
    );

    let other_request = json!({"operation_type": "echo", "input": {"result": 2}}).to_string();
    let headers = [
        bearer(&token("bob")),
        ("Idempotency-Key".to_owned(), "same-key".to_owned()),
    ];
    let reused = app
        .request(Method::Post, "/api/v1/operations", Some(&other_request), &headers)
        .await;
    reused.assert_error(Status::Conflict, "IDEMPOTENCY_KEY_REUSED");
}

async fn an_owner_at_the_quota_gets_429_and_others_do_not(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| {
        bearer::jwt(f).merge(("operations.auth.max_unfinished_per_owner", 3))
    })
    .await;
    let (alice, bob) = (token("alice"), token("bob"));
    let body = json!({"operation_type": "echo", "input": {}}).to_string();

    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.create_as(&alice, "echo", json!({})).await);
    }
    let over = app.post_as(&alice, "/api/v1/operations", &body).await;
    over.assert_error(Status::TooManyRequests, "TOO_MANY_OPERATIONS");
    assert!(over.header("Retry-After").is_some());
    // A retry of a create that went through is answered as the first was.
    let keyed = |key: &str| {
        vec![
            bearer(&token("alice")),
            ("Idempotency-Key".to_owned(), key.to_owned()),
        ]
    };
    let cancelled_first = app
        .post_as(&alice, &format!("/api/v1/operations/{}/cancel", ids[2]), "")
        .await;
    assert_eq!(cancelled_first.status, Status::Ok);
    let first = app
        .request(Method::Post, "/api/v1/operations", Some(&body), &keyed("k1"))
        .await;
    assert_eq!(first.status, Status::Accepted, "{}", first.body);
    let retried = app
        .request(Method::Post, "/api/v1/operations", Some(&body), &keyed("k1"))
        .await;
    assert_eq!(retried.status, Status::Accepted, "{}", retried.body);
    assert_eq!(retried.json()["id"], first.json()["id"]);
    let other_key = app
        .request(Method::Post, "/api/v1/operations", Some(&body), &keyed("k2"))
        .await;
    other_key.assert_error(Status::TooManyRequests, "TOO_MANY_OPERATIONS");
    assert_eq!(
        app.post_as(&bob, "/api/v1/operations", &body).await.status,
        Status::Accepted
    );

    // A finished operation no longer counts.
    let cancel = app
        .post_as(&alice, &format!("/api/v1/operations/{}/cancel", ids[0]), "")
        .await;
    assert_eq!(cancel.status, Status::Ok);
    assert_eq!(
        app.post_as(&alice, "/api/v1/operations", &body).await.status,
        Status::Accepted
    );
    assert_eq!(
        app.post_as(&alice, "/api/v1/operations", &body).await.status,
        Status::TooManyRequests
    );

    // Concurrent creates cannot pass the quota together.
    app.drain().await;
    let attempts: Vec<_> = (0..10)
        .map(|_| app.post_as(&alice, "/api/v1/operations", &body))
        .collect();
    let statuses: Vec<Status> = rocket::futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|response| response.status)
        .collect();
    let accepted = statuses.iter().filter(|s| **s == Status::Accepted).count();
    assert_eq!(accepted, 3, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == Status::Accepted || *s == Status::TooManyRequests));
}

async fn rate_limits_count_per_owner_not_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| {
        bearer::jwt(f)
            .merge(("operations.rate_limit.enabled", true))
            .merge(("operations.rate_limit.create_per_second", 1))
            .merge(("operations.rate_limit.create_burst", 2))
    })
    .await;
    let body = json!({"operation_type": "echo", "input": {}}).to_string();
    let (alice, bob) = (token("alice"), token("bob"));

    for _ in 0..2 {
        assert_eq!(
            app.post_as(&alice, "/api/v1/operations", &body).await.status,
            Status::Accepted
        );
    }
    let limited = app.post_as(&alice, "/api/v1/operations", &body).await;
    limited.assert_error(Status::TooManyRequests, "RATE_LIMITED");
    // Bob, from the very same address, has his own burst.
    for _ in 0..2 {
        assert_eq!(
            app.post_as(&bob, "/api/v1/operations", &body).await.status,
            Status::Accepted
        );
    }
    rocket::tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.post_as(&alice, "/api/v1/operations", &body).await.status,
        Status::Accepted
    );
}

async fn an_owner_set_by_another_program_is_honoured(backend: Backend) {
    let app = TestApp::spawn_with(backend, bearer::jwt).await;
    let mut other = app.db.connect().await;
    let id = other.insert(crate::helpers::NewRow::pending()).await;
    other
        .execute(&format!("UPDATE operations SET owner = 'erin' WHERE id = '{id}'"))
        .await;

    let path = format!("/api/v1/operations/{id}");
    let erins = app.get_as(&token("erin"), &path).await;
    assert_eq!(erins.status, Status::Ok, "{}", erins.body);
    assert_eq!(erins.json()["owner"], "erin");
    app.get_as(&token("frank"), &path)
        .await
        .assert_error(Status::NotFound, "OPERATION_NOT_FOUND");
}
