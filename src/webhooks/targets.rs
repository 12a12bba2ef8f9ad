//! Where the events of an operation go: the configured endpoints that ask
//! for its event and type, and its own `callback_url`; and the key each
//! delivery is signed with.

use rocket::serde::json::serde_json;

use crate::config::{endpoint_name, secret_key, OperationsConfig, CALLBACK_ENDPOINT};
use crate::domain::Operation;
use crate::store::NewDelivery;

/// The endpoints of this process's configuration.
pub struct Targets {
    endpoints: Vec<Endpoint>,
    /// The key of `callback_secret`, when callbacks are allowed.
    callback_key: Option<Vec<u8>>,
}

struct Endpoint {
    name: String,
    url: String,
    key: Vec<u8>,
    events: Option<Vec<String>>,
    operation_types: Option<Vec<String>>,
}

impl Targets {
    /// From settings already checked: an endpoint whose secret cannot be
    /// read is left out (the check refuses such a start).
    pub fn new(config: &OperationsConfig) -> Self {
        let endpoints = config
            .webhooks
            .iter()
            .enumerate()
            .filter_map(|(index, endpoint)| {
                Some(Endpoint {
                    name: endpoint_name(endpoint, index),
                    url: endpoint.url.clone(),
                    key: secret_key(&endpoint.secret)?,
                    events: endpoint.events.clone(),
                    operation_types: endpoint.operation_types.clone(),
                })
            })
            .collect();
        let callback_key = match config.allow_callback_urls {
            true => config.callback_secret.as_deref().and_then(secret_key),
            false => None,
        };
        Targets {
            endpoints,
            callback_key,
        }
    }

    /// The deliveries of an event about `operation`.
    pub fn deliveries(&self, event_type: &str, operation: &Operation) -> Vec<NewDelivery> {
        let payload = payload(event_type, operation);
        let webhook_id = format!("msg_{}", operation.id.simple());
        let delivery = |endpoint: &str, url: &str| NewDelivery {
            operation_id: operation.id,
            endpoint: endpoint.to_owned(),
            url: url.to_owned(),
            webhook_id: webhook_id.clone(),
            event_type: event_type.to_owned(),
            payload: payload.clone(),
        };
        let wants = |list: &Option<Vec<String>>, item: &str| {
            list.as_ref()
                .map_or(true, |list| list.iter().any(|given| given == item))
        };
        let mut deliveries: Vec<NewDelivery> = self
            .endpoints
            .iter()
            .filter(|e| wants(&e.events, event_type) && wants(&e.operation_types, &operation.operation_type))
            .map(|e| delivery(&e.name, &e.url))
            .collect();
        if let (Some(url), Some(_)) = (&operation.callback_url, &self.callback_key) {
            deliveries.push(delivery(CALLBACK_ENDPOINT, url));
        }
        deliveries
    }

    /// The key deliveries to `endpoint` are signed with; `None` for an
    /// endpoint this process does not know (removed from its
    /// configuration since the event).
    pub fn key_of(&self, endpoint: &str) -> Option<&[u8]> {
        match endpoint == CALLBACK_ENDPOINT {
            true => self.callback_key.as_deref(),
            false => self
                .endpoints
                .iter()
                .find(|e| e.name == endpoint)
                .map(|e| e.key.as_slice()),
        }
    }

    /// Whether every finished operation makes an event (there are
    /// endpoints), rather than only those with a callback.
    pub fn has_endpoints(&self) -> bool {
        !self.endpoints.is_empty()
    }
}

/// `{"type": …, "timestamp": …, "data": <the operation as GET returns it>}`:
/// the operation's own body, byte for byte.
fn payload(event_type: &str, operation: &Operation) -> String {
    // As the operation's own `updated_at` is written.
    let timestamp = serde_json::to_string(&operation.updated_at).unwrap_or_default();
    format!(
        r#"{{"type":{},"timestamp":{timestamp},"data":{}}}"#,
        serde_json::Value::from(event_type),
        operation.representation().body
    )
}
