//! Health for orchestrators and load balancers.

use std::time::Duration;

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};
use rocket::tokio::time::timeout;
use rocket::State;

use super::openapi::{Liveness, Readiness};
use crate::store::{unapplied_migrations, Store, StoreError};
use crate::workers::WorkerPool;

/// How long readiness waits for the database.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is up and answering.
#[utoipa::path(get, path = "/health/live", tag = "service", responses((status = 200, description = "Up.", body = Liveness)))]
#[rocket::get("/health/live")]
pub fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready for traffic: the database answers, every migration is applied and
/// the workers run. 503 otherwise, naming what failed.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "service",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "Not ready; the checks say what failed.", body = Readiness),
    ),
)]
#[rocket::get("/health/ready")]
pub async fn ready(store: &State<Store>, workers: &State<WorkerPool>) -> (Status, Json<Value>) {
    let (database, migrations) = match timeout(DATABASE_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => match timeout(DATABASE_TIMEOUT, unapplied_migrations(store)).await {
            Ok(Ok(unapplied)) if unapplied.is_empty() => ("ok", "ok"),
            Ok(Ok(_)) => ("ok", "pending"),
            Ok(Err(StoreError::Internal(_))) => ("ok", "unknown"),
            // The connection that answered the ping was the last one that could.
            Ok(Err(StoreError::Unavailable(_))) | Err(_) => ("unreachable", "unknown"),
        },
        _ => ("unreachable", "unknown"),
    };
    let workers = if workers.is_healthy() { "ok" } else { "stopped" };
    let checks = json!({"database": database, "migrations": migrations, "workers": workers});
    let failed: Vec<&str> = [
        ("database", database),
        ("migrations", migrations),
        ("workers", workers),
    ]
    .into_iter()
    .filter(|(_, state)| *state != "ok")
    .map(|(name, _)| name)
    .collect();
    if failed.is_empty() {
        return (Status::Ok, Json(json!({"status": "ready", "checks": checks})));
    }
    let message = format!("Not ready: {}.", failed.join(", "));
    let body = json!({
        "status": "unavailable",
        "checks": checks,
        "detail": {"code": "NOT_READY", "message": message},
    });
    (Status::ServiceUnavailable, Json(body))
}
