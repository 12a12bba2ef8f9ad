//! Completion webhooks: the endpoints told when operations finish, and how
//! deliveries are made.

use base64::Engine;
use rocket::serde::Deserialize;

use super::{InvalidSetting, OperationsConfig};
use crate::outbound;

/// The event types an endpoint may ask for.
pub const EVENT_TYPES: [&str; 2] = ["operation.completed", "operation.failed"];

/// The name deliveries to an operation's own `callback_url` go under.
pub const CALLBACK_ENDPOINT: &str = "callback";

/// One `[[operations.webhooks]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// How deliveries, metrics and logs name it (`webhook-1`, `webhook-2`…
    /// in the order given, when absent).
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    /// `whsec_` and a base64 key, as Standard Webhooks writes secrets.
    pub secret: String,
    /// The event types it is sent (all when absent).
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// The operation types whose events it is sent (all when absent).
    #[serde(default)]
    pub operation_types: Option<Vec<String>>,
}

/// The endpoint's name: its own, or its place in the list.
pub fn endpoint_name(endpoint: &WebhookEndpoint, index: usize) -> String {
    endpoint
        .name
        .clone()
        .unwrap_or_else(|| format!("webhook-{}", index + 1))
}

/// The key of a Standard Webhooks secret (`whsec_` + base64).
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix("whsec_")?;
    let key = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    (!key.is_empty()).then_some(key)
}

const SECRET_FORM: &str = "`whsec_` followed by a base64 key";

/// The webhook settings of `config`, checked: endpoints, secrets, the
/// schedule.
pub(super) fn check(config: &OperationsConfig) -> Result<(), InvalidSetting> {
    let mut names = Vec::with_capacity(config.webhooks.len());
    for (index, endpoint) in config.webhooks.iter().enumerate() {
        let key = |field: &str| format!("operations.webhooks[{index}].{field}");
        let name = endpoint_name(endpoint, index);
        if name.is_empty() || name == CALLBACK_ENDPOINT || names.contains(&name) {
            return Err(InvalidSetting::new(
                key("name"),
                format!("{name:?}"),
                "a name no other endpoint has, other than \"callback\"",
            ));
        }
        names.push(name);
        if let Err(unfit) = outbound::check_url(&endpoint.url, config.allow_private_targets) {
            return Err(InvalidSetting::new(
                key("url"),
                format!("{:?}, which {unfit}", endpoint.url),
                "an http or https URL without credentials (a private address needs allow_private_targets = true)",
            ));
        }
        if secret_key(&endpoint.secret).is_none() {
            return Err(InvalidSetting::new(key("secret"), "a value", SECRET_FORM));
        }
        let unknown = endpoint
            .events
            .iter()
            .flatten()
            .find(|event| !EVENT_TYPES.contains(&event.as_str()));
        if let Some(event) = unknown {
            return Err(InvalidSetting::new(
                key("events"),
                format!("{event:?}"),
                "operation.completed, operation.failed",
            ));
        }
    }
    if config.allow_callback_urls && config.callback_secret.as_deref().and_then(secret_key).is_none() {
        return Err(InvalidSetting::new(
            "operations.callback_secret",
            match config.callback_secret {
                Some(_) => "a value",
                None => "nothing",
            },
            format!("{SECRET_FORM} (required with allow_callback_urls = true)"),
        ));
    }
    if config
        .callback_secret
        .as_deref()
        .is_some_and(|secret| secret_key(secret).is_none())
    {
        return Err(InvalidSetting::new(
            "operations.callback_secret",
            "a value",
            SECRET_FORM,
        ));
    }
    if let Some(delay) = config
        .webhook_retry_secs
        .iter()
        .find(|delay| !(delay.is_finite() && **delay >= 0.0 && **delay <= 604_800.0))
    {
        return Err(InvalidSetting::new(
            "operations.webhook_retry_secs",
            delay.to_string(),
            "delays of 0 to 604800 seconds (a week)",
        ));
    }
    if config.webhook_retry_secs.len() > 20 {
        return Err(InvalidSetting::new(
            "operations.webhook_retry_secs",
            format!("{} delays", config.webhook_retry_secs.len()),
            "at most 20 delays",
        ));
    }
    let positive = [
        ("webhook_timeout_secs", config.webhook_timeout_secs),
        ("webhook_concurrency", config.webhook_concurrency as u64),
    ];
    if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
        return Err(InvalidSetting::new(
            format!("operations.{name}"),
            "0",
            "a whole number greater than 0",
        ));
    }
    Ok(())
}

/// Standard Webhooks' schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub fn default_retry_secs() -> Vec<f64> {
    vec![5.0, 300.0, 1800.0, 7200.0, 18_000.0, 36_000.0, 36_000.0]
}
