//! The store moves an operation's status exactly as the domain's table of
//! transitions says: for every transition and every status a row can be
//! in, the store's write moves the row if and only if the table lets that
//! transition start from that status. The expectations are read from the
//! table, so changing the table changes what the store does, and this test
//! follows.

use std::time::Duration;

use longrun::domain::{ErrorCode, Status, Transition};
use longrun::store::ClaimToken;
use rocket::serde::json::json;
use uuid::Uuid;

use crate::helpers::{Backend, OtherProgram, TestApp};
use crate::trials;

trials!(on_both_backends: [every_write_of_the_store_follows_the_table_of_transitions]);

const WORKER: &str = "test-worker";
/// Claims made before the write: above `max_attempts` (3), so that a lease
/// expiry fails the operation, or 1, so that it requeues it.
fn attempts_for(transition: Transition) -> i32 {
    match transition {
        Transition::FailExpired => 5,
        _ => 1,
    }
}

/// A row in `status`, claimed by [`WORKER`] with no lease left and some
/// progress, as another program could leave it.
async fn row_in(app: &TestApp, other: &mut OtherProgram, status: Status, attempts: i32) -> Uuid {
    let id = app.create("echo", json!({})).await;
    other
        .execute(&format!(
            "UPDATE operations SET status = '{status}', claimed_by = '{WORKER}', attempts = {attempts}, \
             lease_expires_at = NULL, progress = '{{\"percent\": 40, \"message\": \"on the way\"}}' \
             WHERE id = '{id}'"
        ))
        .await;
    id
}

/// Makes `transition`'s write for `id`; whether the store says it moved.
async fn attempt(app: &TestApp, transition: Transition, id: Uuid, attempts: i32) -> bool {
    let operations = app.operations();
    let token = ClaimToken {
        id,
        worker: WORKER.to_owned(),
        attempt: attempts,
    };
    let lease = Duration::from_secs(30);
    match transition {
        Transition::Claim => {
            let claimed = operations.claim("another-worker", lease, 1000).await.unwrap();
            claimed.claimed.iter().any(|c| c.token.id == id)
        }
        Transition::Complete => operations
            .complete(&token, &json!("done"))
            .await
            .unwrap()
            .is_some(),
        Transition::Fail => operations
            .fail(&token, ErrorCode::HandlerError, "failed")
            .await
            .unwrap()
            .is_some(),
        Transition::RetryLater => operations.retry_later(&token, Duration::ZERO).await.unwrap(),
        Transition::GiveBack => operations.give_back(&token).await.unwrap(),
        Transition::Cancel => operations.cancel(id).await.unwrap().is_some(),
        Transition::RequeueExpired => {
            let expired = operations.expire_leases(3, &json!({})).await.unwrap();
            expired.requeued.contains(&id)
        }
        Transition::FailExpired => {
            let expired = operations.expire_leases(3, &json!({})).await.unwrap();
            expired.failed.contains(&id)
        }
    }
}

async fn every_write_of_the_store_follows_the_table_of_transitions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut other = app.db.connect().await;
    let mut checked = 0;

    for transition in Transition::ALL {
        for status in Status::ALL {
            let attempts = attempts_for(transition);
            let id = row_in(&app, &mut other, status, attempts).await;
            let allowed = transition.from().contains(&status);

            let moved = attempt(&app, transition, id, attempts).await;

            let row = app.operations().find(id).await.unwrap().unwrap();
            let case = format!("{transition:?} from {status}");
            assert_eq!(moved, allowed, "{case}: moved as the table says");
            if allowed {
                assert_eq!(
                    row.status,
                    transition.to(),
                    "{case}: arrived where the table says"
                );
                assert_eq!(
                    row.progress, None,
                    "{case}: progress belongs to the attempt that left"
                );
            } else {
                assert_eq!(row.status, status, "{case}: nothing changed");
                assert!(row.progress.is_some(), "{case}: nothing changed");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, Transition::ALL.len() * Status::ALL.len());
}
