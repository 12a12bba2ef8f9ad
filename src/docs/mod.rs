//! The API's documentation: the OpenAPI document at
//! `/api/v1/openapi.json`, and Swagger UI rendering it at `/docs/`, served
//! from the copy built into the binary.

mod document;

use std::path::PathBuf;
use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{ContentType, Status};
use rocket::response::content::RawJson;
use rocket::response::Redirect;
use rocket::{Build, Rocket, State};
use utoipa_swagger_ui::Config;

use crate::config::OperationsConfig;
use crate::handlers::Registry;
use crate::startup::{self, needs};

/// Where the docs page is.
pub const PATH: &str = "/docs/";

/// The page's Content-Security-Policy: Swagger UI sets inline styles and
/// draws its icons from `data:` URLs. Its scripts are files of its own.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The document, rendered once.
struct OpenApiDocument(String);

/// Swagger UI's settings: the document to render, and no validator badge
/// (it would load an image from another host).
struct SwaggerConfig(Arc<Config<'static>>);

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "service",
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json", body = Object)),
)]
#[rocket::get("/api/v1/openapi.json")]
fn openapi_json(document: &State<OpenApiDocument>) -> RawJson<String> {
    RawJson(document.0.clone())
}

/// Swagger UI's files; `/docs` moves to `/docs/`, so that the page's
/// relative links resolve.
#[rocket::get("/docs/<file..>")]
fn swagger_ui(file: PathBuf, uri: &Origin<'_>, config: &State<SwaggerConfig>) -> Result<SwaggerFile, Status> {
    if !uri.path().as_str().ends_with('/') && file.as_os_str().is_empty() {
        return Ok(SwaggerFile::Moved(Redirect::permanent(PATH)));
    }
    let path = file.to_str().ok_or(Status::NotFound)?;
    match utoipa_swagger_ui::serve(path, Arc::clone(&config.0)) {
        Ok(Some(found)) => {
            let content_type =
                ContentType::parse_flexible(&found.content_type).unwrap_or(ContentType::Binary);
            Ok(SwaggerFile::Found((content_type, found.bytes.into_owned())))
        }
        Ok(None) => Err(Status::NotFound),
        Err(e) => {
            tracing::error!(error = %e, "docs.error");
            Err(Status::InternalServerError)
        }
    }
}

#[derive(rocket::Responder)]
enum SwaggerFile {
    Found((ContentType, Vec<u8>)),
    Moved(Redirect),
}

const PART: &str = "the API docs";

/// Renders the OpenAPI document of the operation types in the registry
/// and mounts it with the docs page. No tasks.
pub struct ApiDocs;

#[rocket::async_trait]
impl Fairing for ApiDocs {
    fn info(&self) -> Info {
        Info {
            name: "API docs",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let registry = match needs::<Registry>(&rocket, PART) {
            Ok(registry) => registry,
            Err(e) => return Err(startup::failed(rocket, e)),
        };
        let config = match needs::<OperationsConfig>(&rocket, PART) {
            Ok(config) => config,
            Err(e) => return Err(startup::failed(rocket, e)),
        };
        let document = document::document(&registry, &config).to_string();
        let config = Config::new(["/api/v1/openapi.json"]).validator_url("none");
        Ok(rocket
            .manage(OpenApiDocument(document))
            .manage(SwaggerConfig(Arc::new(config)))
            .mount("/", rocket::routes![openapi_json, swagger_ui]))
    }
}
