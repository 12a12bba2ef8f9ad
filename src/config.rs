//! The service's own settings: the `operations` key of the figment
//! (`[default.operations]` in `Rocket.toml`, `ROCKET_OPERATIONS` in the
//! environment).

use std::path::PathBuf;
use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::serde::Deserialize;
use rocket::{Build, Rocket};

use crate::rate_limit::RateLimitConfig;
use crate::telemetry::LogFormat;

/// Every setting of the service, with its default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(crate = "rocket::serde", default)]
pub struct OperationsConfig {
    /// The directory served at `/`.
    pub static_dir: PathBuf,
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
    /// Open event streams per process; more are refused with 503.
    pub max_streams: usize,
    pub sse_heartbeat_secs: u64,
    /// A handler's progress is written at most this often.
    pub progress_interval_ms: u64,
    /// Per-address limits of polling and writing.
    pub rate_limit: RateLimitConfig,
    /// Origins whose pages may call the API (`"*"` for any).
    pub cors_allowed_origins: Vec<String>,
    /// The event log: `text`, `json` or `off`.
    pub log_format: LogFormat,
    /// Which generator writes questions and feedback.
    pub generator: GeneratorKind,
    pub openai: OpenAiConfig,
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
#[serde(crate = "rocket::serde", default)]
pub struct OpenAiConfig {
    pub base_url: String,
    pub model: String,
    pub timeout_secs: u64,
}

impl Default for OperationsConfig {
    fn default() -> Self {
        Self {
            static_dir: PathBuf::from("static"),
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
            max_streams: 10_000,
            sse_heartbeat_secs: 15,
            progress_interval_ms: 500,
            log_format: LogFormat::Text,
            rate_limit: RateLimitConfig::default(),
            cors_allowed_origins: Vec::new(),
            generator: GeneratorKind::Builtin,
            openai: OpenAiConfig::default(),
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

    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_secs)
    }

    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs)
    }

    pub fn recheck(&self) -> Duration {
        Duration::from_millis(self.recheck_ms)
    }

    pub fn cache_max_staleness(&self) -> Duration {
        Duration::from_millis(self.cache_max_staleness_ms)
    }

    pub fn progress_interval(&self) -> Duration {
        Duration::from_millis(self.progress_interval_ms)
    }

    /// Settings that would stall the service are refused at launch.
    fn validate(&self) -> Result<(), String> {
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
        match positive.iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => Err(format!("{name} must be greater than 0")),
            None => Ok(()),
        }
    }
}

/// Reads [`OperationsConfig`] into managed state, failing launch when it
/// does not parse.
pub struct Settings;

#[rocket::async_trait]
impl Fairing for Settings {
    fn info(&self) -> Info {
        Info {
            name: "Settings",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let config = rocket
            .figment()
            .focus(OperationsConfig::KEY)
            .extract::<OperationsConfig>();
        match config
            .map_err(|e| e.to_string())
            .and_then(|c| c.validate().map(|()| c))
        {
            Ok(config) => Ok(rocket.manage(config)),
            Err(e) => {
                rocket::error!("invalid `{}` configuration: {e}", OperationsConfig::KEY);
                Err(rocket)
            }
        }
    }
}
