use rocket::http::Status;

use crate::helpers::{Backend, NewRow, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        malformed_operation_ids_are_rejected_with_invalid_operation_id,
        an_unknown_path_is_a_json_not_found,
        a_wrong_method_on_a_known_path_is_a_405_with_allow,
        a_database_error_is_a_500_that_leaks_nothing,
    ],
);

async fn malformed_operation_ids_are_rejected_with_invalid_operation_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let malformed = [
        "1",
        "3f2b6c1e-8d4a-4c2e-9b7f-0a1d2e3f4a5",
        "3f2b6c1e-8d4a-4c2e-9b7f-0a1d2e3f4a5b0",
        "3f2b6c1e-8d4a-4c2e-9b7f-0a1d2e3f4a5b-3f2b6c1e",
        "zf2b6c1e-8d4a-4c2e-9b7f-0a1d2e3f4a5g",
        "3f2b6c1e_8d4a_4c2e_9b7f_0a1d2e3f4a5b",
        "'%20OR%201=1--",
        "1;DROP%20TABLE%20operations",
        "%C3%A9%C3%A9%C3%A9",
        "%F0%9F%A6%80",
        "%00",
        "3f2b6c1e-8d4a-4c2e-9b7f-0a1d2e3f4a5%00",
        "%25",
        "null",
        "..",
    ];

    for id in malformed {
        let response = app.get(&format!("/api/v1/operations/{id}")).await;
        let body = response.assert_error(Status::UnprocessableEntity, "INVALID_OPERATION_ID");
        let message = body["detail"]["message"].as_str().unwrap();
        assert!(
            message.contains("8-4-4-4-12"),
            "{id}: the message says what an id looks like: {message}"
        );
    }
}

async fn an_unknown_path_is_a_json_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in ["/api/v1/nothing", "/api/v2/operations/x", "/no/such/file.txt"] {
        app.get(path).await.assert_error(Status::NotFound, "NOT_FOUND");
    }
}

async fn a_wrong_method_on_a_known_path_is_a_405_with_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = uuid::Uuid::new_v4();

    let delete = app
        .client
        .delete(format!("/api/v1/operations/{id}"))
        .dispatch()
        .await;
    let delete = crate::helpers::TestResponse::read(delete).await;
    let put = app.client.put("/api/v1/operations").dispatch().await;
    let put = crate::helpers::TestResponse::read(put).await;

    delete.assert_error(Status::MethodNotAllowed, "METHOD_NOT_ALLOWED");
    assert_eq!(delete.header("Allow"), Some("GET, HEAD"));
    put.assert_error(Status::MethodNotAllowed, "METHOD_NOT_ALLOWED");
    assert_eq!(put.header("Allow"), Some("POST"));
}

async fn a_database_error_is_a_500_that_leaks_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut other = app.db.connect().await;
    let id = other.insert(NewRow::pending()).await;
    other
        .execute("ALTER TABLE operations RENAME TO operations_moved")
        .await;

    let response = app.get(&format!("/api/v1/operations/{id}")).await;

    response.assert_error(Status::InternalServerError, "INTERNAL_ERROR");
    for secret in [
        "operations_moved",
        "relation",
        "SELECT",
        "no such table",
        "sqlx",
        "/tmp",
        ".rs",
    ] {
        assert!(
            !response.body.contains(secret),
            "the body leaks {secret:?}: {}",
            response.body
        );
    }
}
