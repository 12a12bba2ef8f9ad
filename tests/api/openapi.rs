//! The OpenAPI document against the routes Rocket really serves.

use std::collections::BTreeSet;

use rocket::http::Status;

use crate::helpers::{Backend, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        the_openapi_document_describes_exactly_the_mounted_api_routes,
        the_document_lists_only_the_operation_types_this_service_runs,
        in_jwt_mode_the_document_has_the_list_and_the_bearer_scheme,
        the_document_has_the_webhook_and_callback_urls_where_they_are_taken,
    ],
);

/// `/api/v1/operations/<operation_id>` → `/api/v1/operations/{operation_id}`.
fn openapi_path(rocket_path: &str) -> String {
    rocket_path
        .split('/')
        .map(
            |segment| match segment.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
                Some(name) => format!("{{{name}}}"),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

async fn the_openapi_document_describes_exactly_the_mounted_api_routes(backend: Backend) {
    for jwt in [false, true] {
        let app = match jwt {
            true => TestApp::spawn_with(backend, crate::bearer::jwt).await,
            false => TestApp::spawn(backend).await,
        };
        document_matches_routes(&app).await;
    }
}

async fn document_matches_routes(app: &TestApp) {
    let response = app.get("/api/v1/openapi.json").await;

    assert_eq!(response.status, Status::Ok);
    let document = response.json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let mounted: BTreeSet<(String, String)> = app
        .client
        .rocket()
        .routes()
        // The file server's catch-all serves static files, not the API.
        .filter(|route| !route.uri.path().contains("..>"))
        .map(|route| (route.method.as_str().to_owned(), openapi_path(route.uri.path())))
        .collect();
    assert_eq!(documented, mounted);
    for (_, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method}: responses are documented");
        }
    }
    let error_schema = &document["components"]["schemas"]["ErrorBody"];
    assert_eq!(error_schema["required"], rocket::serde::json::json!(["detail"]));
}

async fn the_document_lists_only_the_operation_types_this_service_runs(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.enable_echo", false))).await;

    let document = app.get("/api/v1/openapi.json").await.json();

    let requests: Vec<&str> = document["components"]["schemas"]["CreateOperation"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|request| request["$ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        requests,
        [
            "#/components/schemas/QuestionGenerationRequest",
            "#/components/schemas/AnswerFeedbackRequest"
        ]
    );
}

async fn in_jwt_mode_the_document_has_the_list_and_the_bearer_scheme(backend: Backend) {
    let none = TestApp::spawn(backend)
        .await
        .get("/api/v1/openapi.json")
        .await
        .json();
    let schemes: Vec<&String> = none["components"]["securitySchemes"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        schemes,
        ["completion_token"],
        "none mode asks owners for no token"
    );
    assert!(none["paths"]["/api/v1/operations/{operation_id}"]["get"]["security"].is_null());
    assert!(
        none["paths"]["/api/v1/operations"]["get"].is_null(),
        "no list in none mode"
    );

    let app = TestApp::spawn_with(backend, crate::bearer::jwt).await;
    let document = app.get("/api/v1/openapi.json").await.json();

    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["access_token"]["in"], "query");
    let list = &document["paths"]["/api/v1/operations"]["get"];
    assert_eq!(list["security"][0]["bearer"], rocket::serde::json::json!([]));
    assert!(list["responses"]["401"].is_object());
    let events = &document["paths"]["/api/v1/operations/{operation_id}/events"]["get"];
    assert_eq!(
        events["security"][1]["access_token"],
        rocket::serde::json::json!([])
    );
    let health = &document["paths"]["/health/live"]["get"];
    assert!(health["security"].is_null(), "health stays open");
    for target_route in ["complete", "fail"] {
        let route = &document["paths"][format!("/api/v1/operations/{{operation_id}}/{target_route}")]["post"];
        assert_eq!(
            route["security"],
            rocket::serde::json::json!([{"completion_token": []}]),
            "a target presents its completion token, not an owner's"
        );
    }
}

async fn the_document_has_the_webhook_and_callback_urls_where_they_are_taken(backend: Backend) {
    let callbacks = |figment: rocket::figment::Figment| {
        figment.merge(("operations.allow_callback_urls", true)).merge((
            "operations.callback_secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ))
    };
    for taken in [false, true] {
        let app = match taken {
            true => TestApp::spawn_with(backend, callbacks).await,
            false => TestApp::spawn(backend).await,
        };
        let document = app.get("/api/v1/openapi.json").await.json();
        let webhook = &document["webhooks"]["operationFinished"]["post"];
        assert_eq!(
            webhook["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/WebhookEvent"
        );
        let headers: Vec<&str> = webhook["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(headers, ["webhook-id", "webhook-timestamp", "webhook-signature"]);
        let event = &document["components"]["schemas"]["WebhookEvent"];
        assert_eq!(
            event["properties"]["data"]["$ref"],
            "#/components/schemas/Operation"
        );
        assert_eq!(
            event["properties"]["type"]["enum"],
            rocket::serde::json::json!(["operation.completed", "operation.failed"])
        );
        assert!(document["paths"]["/api/v1/operations/{operation_id}/deliveries"]["get"].is_object());
        let callback_url = &document["components"]["schemas"]["EchoRequest"]["properties"]["callback_url"];
        assert_eq!(callback_url.is_object(), taken, "{callback_url}");
    }
}
