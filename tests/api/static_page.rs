use rocket::http::{ContentType, Status};

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(the_page_and_its_files_are_served_with_security_headers);

async fn the_page_and_its_files_are_served_with_security_headers(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };

    for path in ["/", "/js/operations.js", "/api/v1/operations/nope"] {
        let response = app.get(path).await;
        let policy = response.header("Content-Security-Policy").unwrap_or_default();
        if path.starts_with("/api/") {
            assert_eq!(
                policy, "default-src 'none'; frame-ancestors 'none'",
                "JSON loads nothing"
            );
        } else {
            assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
            assert!(policy.contains("style-src 'self'"), "{path}: {policy}");
            assert!(policy.contains("frame-ancestors 'none'"), "{path}: {policy}");
            assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        }
        assert_eq!(
            response.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{path}"
        );
        let referrer_policy = response.header("Referrer-Policy");
        if path.starts_with("/api/") {
            assert_eq!(referrer_policy, None, "JSON makes no requests to refer from");
        } else {
            assert_eq!(referrer_policy, Some("no-referrer"), "{path}");
        }
    }
    let page = app.get("/").await;
    assert_eq!(page.status, Status::Ok);
    assert_eq!(page.content_type, Some(ContentType::HTML));
    assert!(
        page.body.contains("<script type=\"module\""),
        "the page loads its modules"
    );
    let client = app.get("/js/operations.js").await;
    assert_eq!(client.status, Status::Ok);
    assert_eq!(client.content_type, Some(ContentType::JavaScript));
    assert!(client.body.contains("export async function pollOperation"));
}
