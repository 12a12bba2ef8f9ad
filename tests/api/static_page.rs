use rocket::http::{ContentType, Status};

use crate::helpers::{Backend, TestApp};
use crate::trials;

trials!(
    on_both_backends: [
        the_page_and_its_files_are_served_with_security_headers,
        the_page_is_built_into_the_binary_unless_static_dir_names_a_directory,
        only_the_docs_page_has_its_own_content_security_policy,
    ],
);

async fn the_page_and_its_files_are_served_with_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;

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

async fn the_page_is_built_into_the_binary_unless_static_dir_names_a_directory(backend: Backend) {
    let built_in = TestApp::spawn(backend).await;
    let page = built_in.get("/").await;
    assert_eq!(page.status, Status::Ok);
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/static/index.html")).unwrap();
    assert_eq!(
        page.body, shipped,
        "the page the binary holds is static/index.html"
    );
    assert_eq!(built_in.get("/no-such-file.js").await.status, Status::NotFound);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<p>working on the page</p>").unwrap();
    let static_dir = dir.path().display().to_string();
    let from_disk = TestApp::spawn_with(backend, |f| f.merge(("operations.static_dir", static_dir))).await;
    let page = from_disk.get("/").await;
    assert_eq!(page.status, Status::Ok);
    assert_eq!(page.body, "<p>working on the page</p>");
    assert_eq!(
        from_disk.get("/js/operations.js").await.status,
        Status::NotFound,
        "only what static_dir holds"
    );
}

async fn only_the_docs_page_has_its_own_content_security_policy(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let docs = app.get("/docs/").await;
    assert_eq!(docs.status, Status::Ok);
    assert_eq!(docs.content_type, Some(ContentType::HTML));
    let docs_policy = docs.header("Content-Security-Policy").unwrap_or_default();
    assert!(
        docs_policy.contains("style-src 'self' 'unsafe-inline'"),
        "{docs_policy}"
    );
    assert!(docs_policy.contains("script-src 'self';"), "{docs_policy}");
    assert!(!docs_policy.contains("unsafe-eval"), "{docs_policy}");
    let script = app.get("/docs/swagger-initializer.js").await;
    assert!(
        script.body.contains("/api/v1/openapi.json"),
        "it renders this service's document"
    );

    let page_policy = app
        .get("/")
        .await
        .header("Content-Security-Policy")
        .unwrap_or_default()
        .to_owned();
    assert!(!page_policy.contains("unsafe-inline"), "{page_policy}");

    let moved = app.get("/docs").await;
    assert_eq!(moved.status, Status::PermanentRedirect);
    assert_eq!(moved.header("Location"), Some("/docs/"));
}
