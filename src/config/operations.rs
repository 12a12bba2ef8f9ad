//! The service's own settings, under `operations`, each with its default.

use std::path::PathBuf;
use std::time::Duration;

use rocket::serde::Deserialize;

use std::collections::BTreeMap;

use super::types::{self, DeclaredType};
use super::webhooks::{self, WebhookEndpoint};
use super::{AuthConfig, InvalidSetting};

/// A day: operations finished longer ago than that are seldom polled.
const MAX_WARM_UP_SECS: u64 = 86_400;

/// Every setting of the service, with its default. Unknown keys are
/// refused, so that a misspelt one is named rather than ignored.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(crate = "rocket::serde", default, deny_unknown_fields)]
pub struct OperationsConfig {
    /// Serve the page from this directory instead of the copy built into
    /// the binary (for working on the page).
    pub static_dir: Option<PathBuf>,
    /// Background workers in this process; 0 serves polls only.
    pub workers: usize,
    /// How often an idle worker looks for operations created by another
    /// process (its own are picked up at once).
    pub idle_poll_ms: u64,
    /// How long a claim lasts unless renewed; a dead process's claims are
    /// taken over after this.
    pub lease_secs: u64,
    /// Claims of one operation before it fails for good.
    pub max_attempts: u32,
    pub handler_timeout_secs: u64,
    /// The first retry's delay; each later one doubles it, with jitter.
    pub retry_backoff_ms: u64,
    /// Whether the `echo` operation type exists (for tests and benchmarks).
    pub enable_echo: bool,
    /// How long finished operations are kept.
    pub retention_secs: u64,
    pub sweep_interval_secs: u64,
    /// The `Retry-After` of responses about unfinished operations.
    pub retry_after_secs: u64,
    /// The longest a long poll (`?wait=N`) is held.
    pub max_wait_secs: u64,
    /// How often the operations clients wait for are re-read, for changes
    /// no notification told of.
    pub recheck_ms: u64,
    /// Operations held in memory for polls, the least recently polled
    /// dropped first; 0 reads the database at every poll.
    pub cache_entries: usize,
    /// The oldest state a poll may be served, counted from another
    /// program's commit; this process's own writes show at once.
    pub cache_max_staleness_ms: u64,
    /// At start, the unfinished operations and those finished within this
    /// many seconds are read into memory ahead of their first poll (see
    /// [`warm_up`](crate::changes::warm_up)); 0 reads none.
    pub cache_warm_up_secs: u64,
    /// Open event streams per process; more are refused with 503.
    pub max_streams: usize,
    pub sse_heartbeat_secs: u64,
    /// A handler's progress is written at most this often.
    pub progress_interval_ms: u64,
    /// Per-client limits of polling and writing.
    pub rate_limit: RateLimitConfig,
    /// Who may see which operations.
    pub auth: AuthConfig,
    /// Origins whose pages may call the API (`"*"` for any).
    pub cors_allowed_origins: Vec<String>,
    /// The service's log lines: `text`, `json` or `off`.
    pub log_format: LogFormat,
    /// Which generator writes questions and feedback.
    pub generator: GeneratorKind,
    pub openai: OpenAiConfig,
    /// Endpoints told when operations finish (`[[operations.webhooks]]`).
    pub webhooks: Vec<WebhookEndpoint>,
    /// Whether a create may name its own `callback_url`.
    pub allow_callback_urls: bool,
    /// The secret callbacks are signed with (`whsec_…`); required with
    /// `allow_callback_urls`.
    pub callback_secret: Option<String>,
    /// Whether webhooks and callbacks may reach loopback, private and
    /// link-local addresses.
    pub allow_private_targets: bool,
    /// The delays before each retry of a delivery, in seconds; a delivery
    /// that fails them all is given up.
    pub webhook_retry_secs: Vec<f64>,
    /// How long one delivery may take.
    pub webhook_timeout_secs: u64,
    /// Deliveries in flight to one endpoint at once, per process.
    pub webhook_concurrency: usize,
    /// Operation types declared here rather than built in
    /// (`[operations.types.<name>]`).
    pub types: BTreeMap<String, DeclaredType>,
}

/// `operations.rate_limit`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "rocket::serde", default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub poll_per_second: u32,
    pub poll_burst: u32,
    pub create_per_second: u32,
    pub create_burst: u32,
    pub trust_forwarded_for: bool,
}

/// `operations.log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(crate = "rocket::serde", rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
    Off,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(crate = "rocket::serde", rename_all = "lowercase")]
pub enum GeneratorKind {
    /// Offline: a curated question bank and a rubric.
    Builtin,
    /// Any OpenAI-compatible chat-completions endpoint.
    Openai,
}

/// The OpenAI-compatible generator. The key is read from `OPENAI_API_KEY`,
/// never from configuration files.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(crate = "rocket::serde", default, deny_unknown_fields)]
pub struct OpenAiConfig {
    pub base_url: String,
    pub model: String,
    pub timeout_secs: u64,
}

impl Default for OperationsConfig {
    fn default() -> Self {
        Self {
            static_dir: None,
            workers: 4,
            idle_poll_ms: 1000,
            lease_secs: 30,
            max_attempts: 3,
            handler_timeout_secs: 120,
            retry_backoff_ms: 1000,
            enable_echo: false,
            retention_secs: 86_400,
            sweep_interval_secs: 60,
            retry_after_secs: 2,
            max_wait_secs: 30,
            recheck_ms: 1000,
            cache_entries: 100_000,
            cache_max_staleness_ms: 100,
            cache_warm_up_secs: 300,
            max_streams: 10_000,
            sse_heartbeat_secs: 15,
            progress_interval_ms: 500,
            log_format: LogFormat::Text,
            rate_limit: RateLimitConfig::default(),
            auth: AuthConfig::default(),
            cors_allowed_origins: Vec::new(),
            generator: GeneratorKind::Builtin,
            openai: OpenAiConfig::default(),
            webhooks: Vec::new(),
            allow_callback_urls: false,
            callback_secret: None,
            allow_private_targets: false,
            webhook_retry_secs: webhooks::default_retry_secs(),
            webhook_timeout_secs: 10,
            webhook_concurrency: 16,
            types: BTreeMap::new(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_per_second: 10,
            poll_burst: 20,
            create_per_second: 2,
            create_burst: 10,
            trust_forwarded_for: false,
        }
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".to_owned(),
            model: "gpt-4o-mini".to_owned(),
            timeout_secs: 60,
        }
    }
}

impl OperationsConfig {
    pub const KEY: &'static str = "operations";

    pub fn idle_poll(&self) -> Duration {
        Duration::from_millis(self.idle_poll_ms)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    pub fn handler_timeout(&self) -> Duration {
        Duration::from_secs(self.handler_timeout_secs)
    }

    pub fn retry_backoff(&self) -> Duration {
        Duration::from_millis(self.retry_backoff_ms)
    }

    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_secs)
    }

    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs)
    }

    pub fn max_wait(&self) -> Duration {
        Duration::from_secs(self.max_wait_secs)
    }

    pub fn recheck(&self) -> Duration {
        Duration::from_millis(self.recheck_ms)
    }

    /// The operations finished within this long before the start are read
    /// into memory ahead of their first poll; `None`: no warm-up.
    pub fn cache_warm_up(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.cache_warm_up_secs)).filter(|within| !within.is_zero())
    }

    pub fn cache_max_staleness(&self) -> Duration {
        Duration::from_millis(self.cache_max_staleness_ms)
    }

    pub fn sse_heartbeat(&self) -> Duration {
        Duration::from_secs(self.sse_heartbeat_secs)
    }

    pub fn progress_interval(&self) -> Duration {
        Duration::from_millis(self.progress_interval_ms)
    }

    /// Settings that would stall the service are refused.
    pub(super) fn check(&self) -> Result<(), InvalidSetting> {
        let positive = [
            ("idle_poll_ms", self.idle_poll_ms),
            ("lease_secs", self.lease_secs),
            ("max_attempts", u64::from(self.max_attempts)),
            ("handler_timeout_secs", self.handler_timeout_secs),
            ("sweep_interval_secs", self.sweep_interval_secs),
            ("recheck_ms", self.recheck_ms),
            ("cache_max_staleness_ms", self.cache_max_staleness_ms),
            ("sse_heartbeat_secs", self.sse_heartbeat_secs),
            ("openai.timeout_secs", self.openai.timeout_secs),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(InvalidSetting::new(
                format!("{}.{name}", Self::KEY),
                "0",
                "a whole number greater than 0",
            ));
        }
        if self.cache_warm_up_secs > MAX_WARM_UP_SECS {
            return Err(InvalidSetting::new(
                format!("{}.cache_warm_up_secs", Self::KEY),
                self.cache_warm_up_secs.to_string(),
                format!("a whole number of seconds from 0 to {MAX_WARM_UP_SECS}"),
            ));
        }
        self.auth.check()?;
        webhooks::check(self)?;
        types::check(self)
    }

    pub fn webhook_timeout(&self) -> Duration {
        Duration::from_secs(self.webhook_timeout_secs)
    }
}
