//! Writes committed in groups, and operations claimed several at a time:
//! each caller still gets its own answer, and one failing write does not
//! take the others down with it.

use std::time::Duration;

use rocket::futures::future::join_all;
use rocket::serde::json::json;
use uuid::Uuid;

use longrun::domain::ErrorCode;
use longrun::store::{ClaimToken, Created, NewOperation, StoreError};

use crate::helpers::{clock_moves_past, Backend, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        concurrent_creations_each_get_their_own_operation_and_a_failing_one_fails_alone,
        one_claim_takes_several_operations_oldest_first_each_once,
        run_outcomes_written_together_each_land_and_a_lost_claim_changes_nothing,
    ],
);

fn new_operation(id: Uuid) -> NewOperation {
    NewOperation {
        id,
        operation_type: "echo".to_owned(),
        input: json!({"result": id.to_string()}),
        idempotency: None,
        owner: None,
        callback_url: None,
    }
}

async fn concurrent_creations_each_get_their_own_operation_and_a_failing_one_fails_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.operations();
    let taken = Uuid::new_v4();
    assert!(matches!(
        store.create(new_operation(taken)).await,
        Ok(Created::New(_))
    ));

    // Sent together, so that they share transactions; one reuses an id.
    let mut ids: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
    ids[17] = taken;
    let results = join_all(ids.iter().map(|id| store.create(new_operation(*id)))).await;

    for (id, result) in ids.iter().zip(&results) {
        match result {
            Ok(Created::New(operation)) => {
                assert_ne!(*id, taken);
                assert_eq!(operation.id, *id);
            }
            Err(StoreError::Statement(_)) => assert_eq!(*id, taken, "only the duplicate fails"),
            Err(e) => panic!("{id}: unexpected result: {e:?}"),
            _ => panic!("{id}: unexpected result"),
        }
    }
    for id in ids.iter().filter(|id| **id != taken) {
        let polled = app.get(&format!("/api/v1/operations/{id}")).await;
        assert_eq!(polled.json()["status"], "pending", "{id} was committed");
    }
}

async fn one_claim_takes_several_operations_oldest_first_each_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(app.create("echo", json!({})).await);
        // SQLite's timestamps have millisecond resolution: the next one
        // is created at a later time, so that their order is unambiguous.
        clock_moves_past(&app.poll(*created.last().unwrap()).await["created_at"]).await;
    }
    let store = app.operations();
    let lease = Duration::from_secs(30);

    let first = store.claim("worker", lease, 3).await.unwrap().claimed;
    let second = store.claim("worker", lease, 3).await.unwrap().claimed;
    let third = store.claim("worker", lease, 3).await.unwrap().claimed;

    let ids = |claims: &[longrun::store::Claimed]| claims.iter().map(|c| c.token.id).collect::<Vec<_>>();
    let mut first_ids = ids(&first);
    first_ids.sort_by_key(|id| created.iter().position(|c| c == id));
    assert_eq!(first_ids, created[..3]);
    let mut second_ids = ids(&second);
    second_ids.sort_by_key(|id| created.iter().position(|c| c == id));
    assert_eq!(second_ids, created[3..]);
    assert!(third.is_empty());
    for claimed in first.iter().chain(&second) {
        assert_eq!(claimed.token.attempt, 1);
        let polled = app.get(&format!("/api/v1/operations/{}", claimed.token.id)).await;
        assert_eq!(polled.json()["status"], "processing");
    }
}

async fn run_outcomes_written_together_each_land_and_a_lost_claim_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..12 {
        app.create("echo", json!({})).await;
    }
    let store = app.operations();
    let claimed = store
        .claim("worker", Duration::from_secs(30), 12)
        .await
        .unwrap()
        .claimed;
    assert_eq!(claimed.len(), 12);
    let tokens: Vec<ClaimToken> = claimed.iter().map(|c| c.token.clone()).collect();
    let lost = ClaimToken {
        attempt: tokens[11].attempt + 1,
        ..tokens[11].clone()
    };
    let result = json!({"done": true});

    // Sent together, so that they share transactions: every kind at once.
    let outcomes = join_all(tokens.iter().enumerate().map(|(n, token)| {
        let (store, result, lost) = (store.clone(), result.clone(), lost.clone());
        let token = token.clone();
        async move {
            match n {
                0..=3 => store.complete(&token, &result).await.map(|c| c.is_some()),
                4..=7 => store
                    .fail(&token, ErrorCode::HandlerError, "broke")
                    .await
                    .map(|f| f.is_some()),
                8..=10 => store.retry_later(&token, Duration::from_secs(60)).await,
                _ => store.complete(&lost, &result).await.map(|c| c.is_some()),
            }
        }
    }))
    .await;

    let expected = [
        "completed",
        "completed",
        "completed",
        "completed",
        "failed",
        "failed",
        "failed",
        "failed",
    ];
    for (n, token) in tokens.iter().enumerate() {
        assert_eq!(outcomes[n].as_ref().ok(), Some(&(n != 11)), "write {n}");
        let polled = app.get(&format!("/api/v1/operations/{}", token.id)).await.json();
        match n {
            0..=7 => assert_eq!(polled["status"], expected[n], "{n}"),
            8..=10 => assert_eq!(polled["status"], "pending", "{n}"),
            _ => assert_eq!(polled["status"], "processing", "the lost claim wrote nothing"),
        }
        if n < 4 {
            assert_eq!(polled["result"], result);
        }
        if (4..8).contains(&n) {
            assert_eq!(polled["error_message"], "broke");
            assert_eq!(polled["error_code"], "HANDLER_ERROR");
        }
    }
}
