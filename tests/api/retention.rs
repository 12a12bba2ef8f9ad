use rocket::http::Status;

use longrun::sweeper::Retention;

use crate::helpers::{Backend, NewRow, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        finished_operations_past_retention_are_deleted_and_unfinished_ones_never,
    ],
);

async fn finished_operations_past_retention_are_deleted_and_unfinished_ones_never(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.retention_secs", 3600))).await;
    let mut other = app.db.connect().await;
    let mut ids = Vec::new();
    for status in ["completed", "failed", "pending", "processing", "completed"] {
        ids.push(
            other
                .insert(NewRow {
                    status,
                    ..NewRow::pending()
                })
                .await,
        );
    }
    let [old_completed, old_failed, old_pending, old_processing, fresh_completed] = ids[..] else {
        unreachable!()
    };
    let two_hours_ago = match backend {
        Backend::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours')",
        Backend::Postgres => "now() - interval '2 hours'",
    };
    for id in [old_completed, old_failed, old_pending, old_processing] {
        other
            .execute(&format!(
                "UPDATE operations SET updated_at = {two_hours_ago} WHERE id = '{id}'"
            ))
            .await;
    }

    // The background sweep (which starts at launch) may take some of them
    // first; either way, after a sweep none past retention is left.
    let retention = app.client.rocket().state::<Retention>().unwrap();
    assert!(retention.sweep_once().await.unwrap() <= 2);

    for gone in [old_completed, old_failed] {
        let response = app.get(&format!("/api/v1/operations/{gone}")).await;
        response.assert_error(Status::NotFound, "OPERATION_NOT_FOUND");
    }
    for kept in [old_pending, old_processing, fresh_completed] {
        assert_eq!(
            app.get(&format!("/api/v1/operations/{kept}")).await.status,
            Status::Ok
        );
    }
}
