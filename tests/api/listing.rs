//! `GET /api/v1/operations`: an owner's operations (an admin's: all),
//! newest first, filtered, a page at a time.

use std::collections::HashSet;

use rocket::http::Status;
use rocket::serde::json::{json, Value};

use crate::bearer::{self, admin_token, token};
use crate::helpers::{clock_moves_past, Backend, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        owners_list_their_own_newest_first_and_admins_list_everyone,
        filters_narrow_the_list,
        pages_follow_each_other_without_duplicates_or_gaps_while_others_create,
        page_tokens_are_bound_to_their_filters_and_edits_are_refused,
        bad_filters_are_422_naming_them_and_large_pages_are_100,
        none_mode_lists_everything_only_when_asked_to,
    ],
);

fn ids(page: &Value) -> Vec<String> {
    page["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|operation| operation["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates `count` operations of the owner of `token`; their ids in list
/// order: newest first, operations created in the same tick by id,
/// descending.
async fn create_many(app: &TestApp, token: &str, count: usize) -> Vec<String> {
    let mut created = Vec::new();
    for n in 0..count {
        let body = json!({"operation_type": "echo", "input": {"result": n}}).to_string();
        let response = app.post_as(token, "/api/v1/operations", &body).await;
        assert_eq!(response.status, Status::Accepted, "{}", response.body);
        let operation = response.json();
        let created_at: chrono::DateTime<chrono::Utc> =
            operation["created_at"].as_str().unwrap().parse().unwrap();
        created.push((created_at, operation["id"].as_str().unwrap().to_owned()));
    }
    created.sort();
    created.into_iter().rev().map(|(_, id)| id).collect()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app.get_as(token, &format!("/api/v1/operations{query}")).await;
    assert_eq!(response.status, Status::Ok, "{query}: {}", response.body);
    response.json()
}

/// Every page of a list, following the tokens; the ids in order.
async fn all_pages(app: &TestApp, token: &str, filters: &str, page_size: u32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut query = format!("?page_size={page_size}{filters}");
        if let Some(page_token) = &next {
            query.push_str(&format!("&page_token={page_token}"));
        }
        let page = list(app, token, &query).await;
        let page_ids = ids(&page);
        assert!(page_ids.len() <= page_size as usize);
        seen.extend(page_ids);
        match page["next_page_token"].as_str() {
            Some(page_token) => next = Some(page_token.to_owned()),
            None => return seen,
        }
    }
}

async fn owners_list_their_own_newest_first_and_admins_list_everyone(backend: Backend) {
    let app = TestApp::spawn_with(backend, bearer::jwt).await;
    let (alice, bob, admin) = (token("alice"), token("bob"), admin_token("root"));
    let newest_first = create_many(&app, &alice, 3).await;
    let alices_last = app
        .get_as(&alice, &format!("/api/v1/operations/{}", newest_first[0]))
        .await
        .json();
    clock_moves_past(&alices_last["created_at"]).await;
    let bobs = app.create_as(&bob, "echo", json!({})).await.to_string();

    let page = list(&app, &alice, "").await;
    assert_eq!(ids(&page), newest_first);
    assert_eq!(page["next_page_token"], Value::Null);
    assert_eq!(page["operations"][0]["owner"], "alice");
    assert_eq!(ids(&list(&app, &bob, "").await), vec![bobs.clone()]);
    assert!(
        ids(&list(&app, &alice, "?owner=bob").await).is_empty(),
        "an owner cannot list another's"
    );

    let everyone = ids(&list(&app, &admin, "").await);
    assert_eq!(everyone.len(), 4);
    assert_eq!(everyone[0], bobs);
    assert_eq!(ids(&list(&app, &admin, "?owner=bob").await), vec![bobs]);
    assert_eq!(ids(&list(&app, &admin, "?owner=alice").await), newest_first);
}

async fn filters_narrow_the_list(backend: Backend) {
    let app = TestApp::spawn_with(backend, bearer::jwt).await;
    let alice = token("alice");
    let first = app.create_as(&alice, "echo", json!({})).await;
    app.drain().await;
    let first_seen = app
        .get_as(&alice, &format!("/api/v1/operations/{first}"))
        .await
        .json();
    clock_moves_past(&first_seen["created_at"]).await;
    let question = app
        .create_as(&alice, "question_generation", json!({"role": "backend engineer"}))
        .await;
    let question_seen = app
        .get_as(&alice, &format!("/api/v1/operations/{question}"))
        .await
        .json();
    clock_moves_past(&question_seen["created_at"]).await;
    let cancelled = app.create_as(&alice, "echo", json!({})).await;
    let cancel = app
        .post_as(&alice, &format!("/api/v1/operations/{cancelled}/cancel"), "")
        .await;
    assert_eq!(cancel.status, Status::Ok);

    let by = |query: &'static str| {
        let (app, alice) = (&app, &alice);
        async move { ids(&list(app, alice, query).await) }
    };
    assert_eq!(by("?status=completed").await, vec![first.to_string()]);
    assert_eq!(by("?status=failed").await, vec![cancelled.to_string()]);
    assert_eq!(by("?status=pending").await, vec![question.to_string()]);
    assert_eq!(by("?status=processing").await, Vec::<String>::new());
    assert_eq!(
        by("?operation_type=question_generation").await,
        vec![question.to_string()]
    );
    assert_eq!(
        by("?operation_type=echo&status=failed").await,
        vec![cancelled.to_string()]
    );
    let after = first_seen["created_at"].as_str().unwrap();
    let later = ids(&list(&app, &alice, &format!("?created_after={after}")).await);
    assert_eq!(later, vec![cancelled.to_string(), question.to_string()]);
    let earlier = ids(&list(&app, &alice, &format!("?created_before={after}")).await);
    assert!(earlier.is_empty(), "created_before is strict: {earlier:?}");
    let upto = ids(&list(&app, &alice, "?created_before=2999-01-01T00:00:00Z").await);
    assert_eq!(upto.len(), 3);
}

async fn pages_follow_each_other_without_duplicates_or_gaps_while_others_create(backend: Backend) {
    let app = TestApp::spawn_with(backend, bearer::jwt).await;
    let alice = token("alice");
    let created = create_many(&app, &alice, 25).await;
    for size in [1, 7, 10, 25, 100] {
        assert_eq!(
            all_pages(&app, &alice, "", size).await,
            created,
            "page_size={size}"
        );
    }

    // Creates between pages: the pages still hold each operation of the
    // start exactly once, in order.
    let first = list(&app, &alice, "?page_size=10").await;
    let mut seen = ids(&first);
    let mut next = first["next_page_token"].as_str().map(str::to_owned);
    while let Some(page_token) = next {
        for _ in 0..5 {
            app.create_as(&alice, "echo", json!({})).await;
        }
        let page = list(&app, &alice, &format!("?page_size=10&page_token={page_token}")).await;
        seen.extend(ids(&page));
        next = page["next_page_token"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, created);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    // Concurrent creates while paging, by another client of the same owner.
    let creating = async {
        for _ in 0..20 {
            app.create_as(&alice, "echo", json!({})).await;
        }
    };
    let (paged, ()) = rocket::tokio::join!(all_pages(&app, &alice, "", 3), creating);
    let paged_set: HashSet<_> = paged.iter().collect();
    assert_eq!(paged_set.len(), paged.len(), "no duplicates");
    for id in &created {
        assert!(paged_set.contains(id), "no gaps: {id} missing");
    }
}

async fn page_tokens_are_bound_to_their_filters_and_edits_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, bearer::jwt).await;
    let (alice, bob) = (token("alice"), token("bob"));
    for _ in 0..3 {
        app.create_as(&alice, "echo", json!({})).await;
    }
    let page = list(&app, &alice, "?page_size=1&operation_type=echo").await;
    let page_token = page["next_page_token"].as_str().unwrap().to_owned();

    let same = app
        .get_as(
            &alice,
            &format!("/api/v1/operations?page_size=1&operation_type=echo&page_token={page_token}"),
        )
        .await;
    assert_eq!(same.status, Status::Ok);
    for (what, query) in [
        ("other filters", format!("?page_size=1&page_token={page_token}")),
        (
            "another status",
            format!("?operation_type=echo&status=pending&page_token={page_token}"),
        ),
        ("garbage", "?operation_type=echo&page_token=garbage".to_owned()),
        (
            "edited",
            format!("?operation_type=echo&page_token={}", edited(&page_token)),
        ),
    ] {
        app.get_as(&alice, &format!("/api/v1/operations{query}"))
            .await
            .assert_error(Status::BadRequest, "INVALID_PAGE_TOKEN");
        let _ = what;
    }
    app.get_as(
        &bob,
        &format!("/api/v1/operations?operation_type=echo&page_token={page_token}"),
    )
    .await
    .assert_error(Status::BadRequest, "INVALID_PAGE_TOKEN");
}

/// The token with one character of its first part changed.
fn edited(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

async fn bad_filters_are_422_naming_them_and_large_pages_are_100(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| {
        bearer::jwt(f).merge(("operations.auth.max_unfinished_per_owner", 1000))
    })
    .await;
    let alice = token("alice");
    for (query, field) in [
        ("?page_size=0", "page_size"),
        ("?page_size=-1", "page_size"),
        ("?page_size=2147483648", "page_size"),
        ("?page_size=ten", "page_size"),
        ("?status=running", "status"),
        ("?created_after=yesterday", "created_after"),
        ("?created_before=2026-13-01T00:00:00Z", "created_before"),
        ("?operation_type=a%00b", "operation_type"),
        ("?status=failed&status=pending", "status"),
    ] {
        let response = app.get_as(&alice, &format!("/api/v1/operations{query}")).await;
        let body = response.assert_error(Status::UnprocessableEntity, "INVALID_INPUT");
        let message = body["detail"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{query}: {message}");
    }
    assert_eq!(
        list(&app, &alice, "?page_size=100").await["operations"],
        json!([])
    );
}

async fn none_mode_lists_everything_only_when_asked_to(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.auth.list_in_none_mode", true))).await;
    let id = app.create("echo", json!({})).await;

    let response = app.get("/api/v1/operations").await;
    assert_eq!(response.status, Status::Ok, "{}", response.body);
    assert_eq!(ids(&response.json()), vec![id.to_string()]);
}
