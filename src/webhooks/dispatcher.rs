//! The dispatcher: turns outbox events into deliveries, claims the due
//! ones, sends each (signed, within the timeout and the endpoint's
//! concurrency limit) and records what became of it. Each delivery runs in
//! a task of its own, so a slow or failing endpoint holds up only its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::Rng;
use rocket::tokio::sync::{watch, Semaphore};
use rocket::tokio::{self, time};
use rocket::Shutdown;

use super::recorder::Recorder;
use super::targets::Targets;
use crate::config::{OperationsConfig, CALLBACK_ENDPOINT};
use crate::outbound::{self, sign, OutboundClient, PRIVATE_TARGET};
use crate::report::Chain;
use crate::store::{AttemptMade, Delivery, DeliveryOutcome, DeliveryState, Store, StoreError};
use crate::telemetry::Metrics;

/// How often the outbox and the due deliveries are looked at when there
/// was nothing to do.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Deliveries in flight in this process at once (all endpoints).
const MAX_IN_FLIGHT: usize = 512;
/// How often the oldest undelivered event's age is measured.
const MEASURE_EVERY: Duration = Duration::from_secs(5);
/// A delivery that waited this long for its endpoint to take it is handed
/// back, due again in [`BUSY_RETRY`].
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// The most of a response body read (and dropped), so that the connection
/// can be used again.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Delivers webhooks. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    targets: Targets,
    client: OutboundClient,
    recorder: Recorder,
    metrics: Metrics,
    retry_secs: Vec<f64>,
    /// The longest a call may take, and a delivery wait for its endpoint.
    timeout: Duration,
    /// Long enough for the wait for an endpoint, the call and recording
    /// what became of it; a dead process's claims are due again after it.
    lease: Duration,
    per_endpoint: usize,
    endpoints: Mutex<HashMap<String, Arc<Semaphore>>>,
    in_flight: Arc<Semaphore>,
    stopping: watch::Sender<bool>,
}

impl Dispatcher {
    pub fn new(store: Store, metrics: Metrics, config: &OperationsConfig) -> reqwest::Result<Self> {
        let timeout = config.webhook_timeout();
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                client: OutboundClient::new(timeout, config.allow_private_targets)?,
                recorder: Recorder::start(store.clone()),
                store,
                targets: Targets::new(config),
                metrics,
                retry_secs: config.webhook_retry_secs.clone(),
                timeout,
                lease: timeout * 3 + Duration::from_secs(5),
                per_endpoint: config.webhook_concurrency,
                endpoints: Mutex::default(),
                in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
                stopping: watch::Sender::new(false),
            }),
        })
    }

    /// Records in the database which finishes make an event: every one
    /// when this process has endpoints, else those with a callback.
    pub async fn record_events_of_finishes(&self) -> Result<(), StoreError> {
        let every_operation = self.inner.targets.has_endpoints();
        self.inner.store.record_webhook_events(every_operation).await
    }

    /// Fans out, claims and sends until shutdown; at shutdown stops
    /// claiming (what is in flight finishes, see [`Dispatcher::drained`]).
    pub async fn run(self, shutdown: Shutdown) {
        let mut last_measured = time::Instant::now() - MEASURE_EVERY;
        loop {
            if *self.inner.stopping.borrow() {
                return;
            }
            let busy = self.round().await;
            if last_measured.elapsed() >= MEASURE_EVERY {
                last_measured = time::Instant::now();
                self.measure().await;
            }
            if !busy {
                tokio::select! {
                    _ = shutdown.clone() => {
                        self.inner.stopping.send_replace(true);
                        return;
                    }
                    _ = time::sleep(IDLE_POLL) => {}
                }
            }
        }
    }

    /// One turn: events fanned out, due deliveries claimed and started.
    /// Whether there may be more to do at once.
    async fn round(&self) -> bool {
        let inner = &self.inner;
        let fanned_out = match inner
            .store
            .fan_out_events(|event_type, operation| inner.targets.deliveries(event_type, operation))
            .await
        {
            Ok(fanned_out) => fanned_out,
            Err(e) => {
                tracing::warn!(error = %Chain(&e), "webhook.fan_out_failed");
                return false;
            }
        };
        for (operation_id, cause) in &fanned_out.unreadable {
            tracing::error!(operation_id, error = %Chain(cause), "webhook.event_dropped");
        }
        let free = inner.in_flight.available_permits();
        if free == 0 {
            // Every slot is taken: wait for one before claiming more.
            let _ = inner.in_flight.acquire().await;
            return true;
        }
        let limit = u32::try_from(free).unwrap_or(u32::MAX);
        let claimed = match inner.store.claim_deliveries(inner.lease, limit).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %Chain(&e), "webhook.claim_failed");
                return false;
            }
        };
        let full = claimed.len() as u32 == limit;
        for delivery in claimed {
            match delivery {
                Ok(delivery) => self.start(delivery),
                // Left claimed: due again when its lease ends, and dropped
                // from view only in the log.
                Err(e) => tracing::error!(error = %Chain(&e), "webhook.delivery_unreadable"),
            }
        }
        full || fanned_out.events > 0
    }

    fn start(&self, delivery: Delivery) {
        let Ok(slot) = Arc::clone(&self.inner.in_flight).try_acquire_owned() else {
            return;
        };
        let dispatcher = self.clone();
        tokio::spawn(async move {
            let outcome = dispatcher.deliver(&delivery).await;
            if let Err(e) = dispatcher.inner.recorder.record(outcome).await {
                // Due again when its lease ends.
                tracing::warn!(webhook_id = delivery.webhook_id, error = %Chain(&e), "webhook.record_failed");
            }
            drop(slot);
        });
    }

    /// Sends one delivery, if its endpoint takes it in time (its turn among
    /// the endpoint's `webhook_concurrency`, held while the call lasts);
    /// what became of it.
    async fn deliver(&self, delivery: &Delivery) -> DeliveryOutcome {
        let inner = &self.inner;
        let Some(key) = inner.targets.key_of(&delivery.endpoint) else {
            let error = "the endpoint is no longer configured";
            return self.ended(
                delivery,
                DeliveryState::Refused,
                "refused",
                None,
                Some(error.to_owned()),
            );
        };
        let limit = self.endpoint_limit(delivery);
        let Ok(Ok(_turn)) = time::timeout(inner.timeout, limit.acquire_owned()).await else {
            return DeliveryOutcome {
                id: delivery.id,
                attempts: delivery.attempts,
                state: DeliveryState::Pending,
                retry_in: BUSY_RETRY,
                attempt: None,
            };
        };
        self.send(delivery, key).await
    }

    /// One attempt of `delivery`, signed with `key`.
    async fn send(&self, delivery: &Delivery, key: &[u8]) -> DeliveryOutcome {
        let request = match self.inner.client.post(&delivery.url) {
            Ok(request) => request,
            Err(unfit) => {
                let error = format!("the URL {unfit}");
                return self.ended(delivery, DeliveryState::Refused, "refused", None, Some(error));
            }
        };
        let timestamp = chrono::Utc::now().timestamp();
        let sent = request
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                sign(key, &delivery.webhook_id, timestamp, &delivery.payload),
            )
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(mut response) => {
                let code = response.status().as_u16();
                let mut read = 0;
                while let Ok(Some(chunk)) = response.chunk().await {
                    read += chunk.len();
                    if read > MAX_RESPONSE_BYTES {
                        break;
                    }
                }
                match code {
                    200..=299 => {
                        self.ended(delivery, DeliveryState::Delivered, "delivered", Some(code), None)
                    }
                    410 => self.ended(delivery, DeliveryState::Gone, "gone", Some(code), None),
                    _ => self.failed(delivery, Some(code), format!("answered {code}")),
                }
            }
            Err(e) if outbound::refused_as_private(&e) => {
                let error = PRIVATE_TARGET.to_string();
                self.ended(delivery, DeliveryState::Refused, "refused", None, Some(error))
            }
            Err(e) => {
                let error = match () {
                    _ if e.is_timeout() => "timed out",
                    _ if e.is_connect() => "could not connect",
                    _ => "the request failed",
                };
                self.failed(delivery, None, error.to_owned())
            }
        }
    }

    /// An attempt that ended the delivery.
    fn ended(
        &self,
        delivery: &Delivery,
        state: DeliveryState,
        outcome: &'static str,
        response_code: Option<u16>,
        error: Option<String>,
    ) -> DeliveryOutcome {
        self.counted(delivery, outcome, response_code, error.as_deref());
        DeliveryOutcome {
            id: delivery.id,
            attempts: delivery.attempts,
            state,
            retry_in: Duration::ZERO,
            attempt: Some(AttemptMade {
                outcome,
                response_code,
                error,
            }),
        }
    }

    /// An attempt that failed: retried after the schedule's next delay (a
    /// tenth either way, so that retries of many spread out), or given up
    /// when the schedule is through.
    fn failed(&self, delivery: &Delivery, response_code: Option<u16>, error: String) -> DeliveryOutcome {
        self.counted(delivery, "failed", response_code, Some(&error));
        let made = usize::try_from(delivery.attempts).unwrap_or(usize::MAX);
        let (state, retry_in) = match self.inner.retry_secs.get(made) {
            Some(delay) => {
                let jitter = rand::thread_rng().gen_range(0.9..=1.1);
                (DeliveryState::Pending, Duration::from_secs_f64(delay * jitter))
            }
            None => {
                self.inner
                    .metrics
                    .webhook_deliveries
                    .with_label_values(&[&delivery.endpoint, "exhausted"])
                    .inc();
                tracing::warn!(
                    operation_id = %delivery.operation_id,
                    webhook_id = delivery.webhook_id,
                    endpoint = delivery.endpoint,
                    "webhook.given_up"
                );
                (DeliveryState::Exhausted, Duration::ZERO)
            }
        };
        DeliveryOutcome {
            id: delivery.id,
            attempts: delivery.attempts,
            state,
            retry_in,
            attempt: Some(AttemptMade {
                outcome: "failed",
                response_code,
                error: Some(error),
            }),
        }
    }

    fn counted(&self, delivery: &Delivery, outcome: &str, response_code: Option<u16>, error: Option<&str>) {
        self.inner
            .metrics
            .webhook_deliveries
            .with_label_values(&[&delivery.endpoint, outcome])
            .inc();
        tracing::info!(
            operation_id = %delivery.operation_id,
            webhook_id = delivery.webhook_id,
            endpoint = delivery.endpoint,
            attempt = delivery.attempts + 1,
            outcome,
            response_code,
            error,
            "webhook.attempt"
        );
    }

    /// The limit of calls in flight to the delivery's endpoint: a
    /// configured endpoint by name, callbacks by origin.
    fn endpoint_limit(&self, delivery: &Delivery) -> Arc<Semaphore> {
        let key = match delivery.endpoint == CALLBACK_ENDPOINT {
            true => match reqwest::Url::parse(&delivery.url) {
                Ok(url) => format!("{CALLBACK_ENDPOINT} {}", url.origin().ascii_serialization()),
                Err(_) => CALLBACK_ENDPOINT.to_owned(),
            },
            false => delivery.endpoint.clone(),
        };
        let mut endpoints = self
            .inner
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            endpoints
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.inner.per_endpoint))),
        )
    }

    async fn measure(&self) {
        match self.inner.store.oldest_undelivered_secs().await {
            Ok(oldest) => self
                .inner
                .metrics
                .webhook_oldest_undelivered
                .set(oldest.unwrap_or(0.0).max(0.0)),
            Err(e) => tracing::warn!(error = %Chain(&e), "webhook.measure_failed"),
        }
    }

    /// Stops claiming, then waits up to `grace` for the deliveries in
    /// flight to be sent and recorded; whether they all were (the others
    /// are due again when their lease ends).
    pub async fn drained(&self, grace: Duration) -> bool {
        self.inner.stopping.send_replace(true);
        let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
        time::timeout(grace, self.inner.in_flight.acquire_many(all))
            .await
            .is_ok_and(|acquired| acquired.is_ok())
    }
}
