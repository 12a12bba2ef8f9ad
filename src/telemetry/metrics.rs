//! Prometheus metrics of this process, in a registry of its own.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::domain::{ErrorCode, Operation};

/// Every metric the service exports. Clones share the metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_request_duration: HistogramVec,
    pub operations_created: IntCounterVec,
    operations_finished: IntCounterVec,
    operation_duration: HistogramVec,
    pub lease_expiries: IntCounterVec,
    pub unreadable_rows: IntCounterVec,
    pub long_poll_waiters: IntGauge,
    pub event_streams: IntGauge,
    pub operations_by_status: IntGaugeVec,
    pub db_connections: IntGaugeVec,
    pub poll_cache_lookups: IntCounterVec,
    pub poll_cache_entries: IntGauge,
    pub webhook_deliveries: IntCounterVec,
    pub webhook_oldest_undelivered: Gauge,
    /// The request series met so far, by route template.
    request_series: Arc<RwLock<HashMap<String, Vec<RequestSeries>>>>,
}

/// The series a request of one route, method and status counts in, looked
/// up by labels once: prometheus hashes every label value on each such
/// lookup, which would otherwise be a good part of a poll's own cost.
struct RequestSeries {
    method: &'static str,
    status: u16,
    requests: IntCounter,
    duration: Histogram,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("longrun".to_owned()), None)?;
        let metrics = Metrics {
            http_requests: IntCounterVec::new(
                Opts::new(
                    "http_requests_total",
                    "HTTP requests served, by route template and status.",
                ),
                &["method", "route", "status"],
            )?,
            http_request_duration: HistogramVec::new(
                HistogramOpts::new("http_request_duration_seconds", "Time to answer an HTTP request.")
                    .buckets(vec![
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
                    ]),
                &["method", "route"],
            )?,
            operations_created: IntCounterVec::new(
                Opts::new("operations_created_total", "Operations created, by type."),
                &["operation_type"],
            )?,
            operations_finished: IntCounterVec::new(
                Opts::new(
                    "operations_finished_total",
                    "Operations finished by this process (its workers, or targets finishing through it), by type, status and error code.",
                ),
                &["operation_type", "status", "error_code"],
            )?,
            operation_duration: HistogramVec::new(
                HistogramOpts::new(
                    "operation_duration_seconds",
                    "Time from an operation's creation to its end, by type and status.",
                )
                .buckets(vec![
                    0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                ]),
                &["operation_type", "status"],
            )?,
            lease_expiries: IntCounterVec::new(
                Opts::new(
                    "lease_expiries_total",
                    "Leases that ran out, by what became of the operation.",
                ),
                &["outcome"],
            )?,
            unreadable_rows: IntCounterVec::new(
                Opts::new(
                    "unreadable_rows_total",
                    "Claimed rows that could not be read, by what became of them (failed, skipped).",
                ),
                &["outcome"],
            )?,
            long_poll_waiters: IntGauge::new("long_poll_waiters", "Long polls being held.")?,
            event_streams: IntGauge::new("event_streams", "Server-Sent Event streams open.")?,
            operations_by_status: IntGaugeVec::new(
                Opts::new(
                    "operations",
                    "Operations in the database, by status (pending is the queue depth).",
                ),
                &["status"],
            )?,
            db_connections: IntGaugeVec::new(
                Opts::new(
                    "db_connections",
                    "Database pool connections, by state (idle, in_use, max).",
                ),
                &["state"],
            )?,
            poll_cache_lookups: IntCounterVec::new(
                Opts::new(
                    "poll_cache_lookups_total",
                    "Polls that looked for their operation in memory, by result (hit, miss).",
                ),
                &["result"],
            )?,
            poll_cache_entries: IntGauge::new("poll_cache_entries", "Operations held in memory for polls.")?,
            webhook_deliveries: IntCounterVec::new(
                Opts::new(
                    "webhook_deliveries_total",
                    "Webhook delivery attempts, by endpoint and outcome (delivered, failed, gone, refused, exhausted).",
                ),
                &["endpoint", "outcome"],
            )?,
            webhook_oldest_undelivered: Gauge::new(
                "webhook_oldest_undelivered_seconds",
                "How long the oldest webhook event not delivered yet has waited (0 when none waits).",
            )?,
            request_series: Arc::default(),
            registry,
        };
        metrics
            .registry
            .register(Box::new(metrics.http_requests.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.http_request_duration.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.operations_created.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.operations_finished.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.operation_duration.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.lease_expiries.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.unreadable_rows.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.long_poll_waiters.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.event_streams.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.operations_by_status.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.db_connections.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.poll_cache_lookups.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.poll_cache_entries.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.webhook_deliveries.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.webhook_oldest_undelivered.clone()))?;
        Ok(metrics)
    }

    /// Counts a request answered with `status` by `route` (its template),
    /// and how long it took.
    /// Counts `operation`, just finished, and how long it took from its
    /// creation.
    pub fn count_finished(&self, operation: &Operation) {
        let operation_type = operation.operation_type.as_str();
        let status = operation.status.as_str();
        let code = operation.error_code.map_or("", ErrorCode::as_str);
        self.operations_finished
            .with_label_values(&[operation_type, status, code])
            .inc();
        let age = (operation.updated_at - operation.created_at)
            .to_std()
            .unwrap_or_default();
        self.operation_duration
            .with_label_values(&[operation_type, status])
            .observe(age.as_secs_f64());
    }

    pub fn observe_request(&self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let observe = |series: &RequestSeries| {
            series.requests.inc();
            series.duration.observe(elapsed.as_secs_f64());
        };
        let seen = |all: &HashMap<String, Vec<RequestSeries>>| {
            all.get(route)
                .and_then(|of_route| of_route.iter().find(|s| s.method == method && s.status == status))
                .map(observe)
                .is_some()
        };
        let series = &self.request_series;
        if seen(&series.read().unwrap_or_else(PoisonError::into_inner)) {
            return;
        }
        let mut all = series.write().unwrap_or_else(PoisonError::into_inner);
        if seen(&all) {
            return;
        }
        let added = RequestSeries {
            method,
            status,
            requests: self
                .http_requests
                .with_label_values(&[method, route, &status.to_string()]),
            duration: self.http_request_duration.with_label_values(&[method, route]),
        };
        observe(&added);
        all.entry(route.to_owned()).or_default().push(added);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Counts a waiter for as long as it lives.
pub struct Held(IntGauge);

impl Held {
    pub fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        Held(gauge.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}
