use rocket::http::ContentType;
use rocket::State;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::operations::Operations;
use crate::report::Chain;
use crate::telemetry::Metrics;

/// Every metric; the operations by status, the pool and the poll cache
/// read at this moment.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses(
        (status = 200, description = "Prometheus text format.", content_type = "text/plain", body = String),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorBody),
    ),
)]
#[rocket::get("/metrics")]
pub(crate) async fn metrics(
    metrics: &State<Metrics>,
    operations: &State<Operations>,
) -> ApiResult<(ContentType, String)> {
    let store = operations.store();
    if let Ok(counts) = store.count_by_status().await {
        for status in crate::domain::Status::ALL {
            let count = counts
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            metrics
                .operations_by_status
                .with_label_values(&[status.as_str()])
                .set(count);
        }
    }
    let (open, idle, max) = store.pool_usage();
    let in_use = i64::from(open).saturating_sub(i64::try_from(idle).unwrap_or(0));
    metrics.db_connections.with_label_values(&["in_use"]).set(in_use);
    metrics
        .db_connections
        .with_label_values(&["idle"])
        .set(i64::try_from(idle).unwrap_or(0));
    metrics
        .db_connections
        .with_label_values(&["max"])
        .set(i64::from(max));
    let cache = operations.changes().cache().usage();
    for (result, total) in [("hit", cache.hits), ("miss", cache.misses)] {
        let counter = metrics.poll_cache_lookups.with_label_values(&[result]);
        counter.inc_by(total.saturating_sub(counter.get()));
    }
    metrics
        .poll_cache_entries
        .set(i64::try_from(cache.entries).unwrap_or(i64::MAX));
    let text = metrics.render().map_err(|e| {
        tracing::error!(error = %Chain(&e), "metrics.error");
        ApiError::Internal
    })?;
    // Prometheus' text exposition format.
    let content_type =
        ContentType::new("text", "plain").with_params([("version", "0.0.4"), ("charset", "utf-8")]);
    Ok((content_type, text))
}
