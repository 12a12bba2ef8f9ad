use std::sync::Arc;

use rocket::response::stream::{Event, EventStream};
use rocket::tokio::sync::{OwnedSemaphorePermit, Semaphore};
use rocket::{tokio, Shutdown, State};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::conditional::LastEventId;
use super::operation_id::{parse_operation_id, OperationIdParam};
use crate::auth::{AuthFailure, Caller};
use crate::config::OperationsConfig;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::operations::Operations;
use crate::rate_limit::{Polling, Within};
use crate::report::Chain;
use crate::telemetry::{Held, Metrics};

/// The event streams this process may hold open at once.
pub(crate) struct StreamSlots(Arc<Semaphore>);

impl StreamSlots {
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max)))
    }

    fn take(&self) -> ApiResult<OwnedSemaphorePermit> {
        self.0
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyStreams)
    }
}

/// One event of the stream as Rocket's `Event` writes it, for the OpenAPI
/// document: `event: operation`, `id:` the state's ETag, `data:` the
/// operation's JSON.
pub(crate) struct StreamEvent;

impl PartialSchema for StreamEvent {
    fn schema() -> RefOr<Schema> {
        let text = || ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .property("event", text())
            .property("id", text())
            .property("data", text())
            .property("retry", ObjectBuilder::new().schema_type(Type::Integer))
            .into()
    }
}

impl ToSchema for StreamEvent {}

/// Server-Sent Events: the operation now, then at every change (`event:
/// operation`, the same JSON as a GET, `id:` its ETag), a heartbeat comment
/// every `sse_heartbeat_secs`, and the end after a finished state. With
/// `Last-Event-ID`, a state the client already has is not sent again.
#[utoipa::path(
    get,
    path = "/api/v1/operations/{operation_id}/events",
    tag = "operations",
    params(
        ("operation_id" = Uuid, Path, description = "The operation's id."),
        ("Last-Event-ID" = Option<String>, Header, description = "The id (ETag) of the last event received: that state is not sent again."),
    ),
    responses(
        (status = 200, description = "`event: operation` blocks, `data:` the operation's JSON (as a GET returns it), `id:` its ETag; heartbeat comments; the stream ends after a finished state.", content_type = "text/event-stream", body = StreamEvent),
        (status = 401, description = "UNAUTHENTICATED (jwt mode): no valid bearer token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "OPERATION_NOT_FOUND: no such operation, or (jwt mode) it is another owner's", body = ErrorBody),
        (status = 422, description = "INVALID_OPERATION_ID", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED", body = ErrorBody, headers(("Retry-After" = u64))),
        (status = 500, description = "OPERATION_UNREADABLE (the stored row cannot be read) or INTERNAL_ERROR", body = ErrorBody),
        (status = 503, description = "TOO_MANY_STREAMS or SERVICE_UNAVAILABLE", body = ErrorBody, headers(("Retry-After" = u64))),
    ),
)]
#[rocket::get("/api/v1/operations/<operation_id>/events")]
pub(crate) async fn operation_events(
    _limit: Within<Polling>,
    caller: Result<Caller, AuthFailure>,
    operation_id: OperationIdParam,
    last_event_id: LastEventId,
    operations: &State<Operations>,
    slots: &State<StreamSlots>,
    config: &State<OperationsConfig>,
    metrics: &State<Metrics>,
    mut shutdown: Shutdown,
) -> ApiResult<EventStream<impl rocket::futures::Stream<Item = Event>>> {
    let caller = caller?;
    let id = parse_operation_id(operation_id)?;
    let mut subscription = operations.changes().subscribe(id);
    let first = operations
        .observe_as(id, &caller)
        .await?
        .ok_or(ApiError::OperationNotFound)?;
    let slot = slots.take()?;
    let operations = operations.inner().clone();
    let open = Held::new(&metrics.event_streams);
    let heartbeat = config.sse_heartbeat();
    let stream = EventStream! {
        let _slot = (slot, open);
        let mut last_sent = last_event_id.0;
        let mut current = Some(first);
        while let Some(observed) = current.take() {
            subscription.saw(observed.etag());
            if last_sent.as_deref() != Some(observed.etag()) {
                last_sent = Some(observed.etag().to_owned());
                yield Event::data(observed.body().to_owned())
                    .event("operation")
                    .id(observed.etag().to_owned());
            }
            if observed.is_finished() {
                break;
            }
            tokio::select! {
                _ = subscription.changed() => {}
                _ = &mut shutdown => break,
            }
            current = match subscription.read(|id| operations.observe_as(id, &caller)).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(operation_id = %id, error = %Chain(&e), "event_stream.error");
                    None
                }
            };
        }
    };
    Ok(stream.heartbeat(heartbeat))
}
