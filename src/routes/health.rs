//! Health for orchestrators and load balancers.

use std::time::Duration;

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::serde::Serialize;
use rocket::tokio::time::timeout;
use rocket::State;

use crate::error::ErrorDetail;
use crate::operations::Operations;
use crate::store::StoreError;
use crate::supervise::Supervisor;
use crate::workers::WorkerPool;

/// How long readiness waits for the database.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer of `/health/live`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde")]
pub struct Liveness {
    /// `ok`.
    status: &'static str,
}

/// The answer of `/health/ready`. Each check is `ok`, or names what is
/// wrong.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde")]
pub struct Readiness {
    /// `ready` or `unavailable`.
    status: &'static str,
    checks: Checks,
    /// Present when unavailable, with the code `NOT_READY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<ErrorDetail<'static>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde")]
pub struct Checks {
    /// `ok` or `unreachable`.
    database: &'static str,
    /// `ok`, `pending` (some are not applied) or `unknown`.
    migrations: &'static str,
    /// `ok` or `stopped`.
    workers: &'static str,
    /// Only while some are down: the background tasks restarting after a
    /// fault (`restarting: sweeper, …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    tasks: Option<String>,
}

/// The process is up and answering.
#[utoipa::path(get, path = "/health/live", tag = "service", responses((status = 200, description = "Up.", body = Liveness)))]
#[rocket::get("/health/live")]
pub(crate) fn live() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
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
pub(crate) async fn ready(
    operations: &State<Operations>,
    workers: &State<WorkerPool>,
    supervisor: &State<Supervisor>,
) -> (Status, Json<Readiness>) {
    let store = operations.store();
    let (database, migrations) = match timeout(DATABASE_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => match timeout(DATABASE_TIMEOUT, store.unapplied_migrations()).await {
            Ok(Ok(unapplied)) if unapplied.is_empty() => ("ok", "ok"),
            Ok(Ok(_)) => ("ok", "pending"),
            // The connection that answered the ping was the last one that could.
            Ok(Err(StoreError::Unavailable(_))) | Err(_) => ("unreachable", "unknown"),
            Ok(Err(_)) => ("ok", "unknown"),
        },
        _ => ("unreachable", "unknown"),
    };
    let workers = if workers.is_healthy() { "ok" } else { "stopped" };
    let down = supervisor.down();
    let tasks = (!down.is_empty()).then(|| format!("restarting: {}", down.join(", ")));
    let failed: Vec<&str> = [
        ("database", database),
        ("migrations", migrations),
        ("workers", workers),
        ("tasks", tasks.as_deref().unwrap_or("ok")),
    ]
    .into_iter()
    .filter(|(_, state)| *state != "ok")
    .map(|(name, _)| name)
    .collect();
    let checks = Checks {
        database,
        migrations,
        workers,
        tasks,
    };
    if failed.is_empty() {
        let ready = Readiness {
            status: "ready",
            checks,
            detail: None,
        };
        return (Status::Ok, Json(ready));
    }
    let unavailable = Readiness {
        status: "unavailable",
        checks,
        detail: Some(ErrorDetail {
            code: "NOT_READY".into(),
            message: format!("Not ready: {}.", failed.join(", ")).into(),
        }),
    };
    (Status::ServiceUnavailable, Json(unavailable))
}
