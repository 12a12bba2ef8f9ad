//! The process's log lines, through `tracing`: the service's own (per
//! `operations.log_format`), Rocket's (per Rocket's `log_level`, through
//! its `log` records), and start-up failures, always. Text or JSON, one
//! line each, on standard output.

use std::io::IsTerminal;

use rocket::config::LogLevel;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::LogFormat;

/// Installs the process's subscriber, once, before Rocket starts; later
/// calls change nothing. Lines hold ids, names, statuses and timings only:
/// never a secret.
pub fn install(format: LogFormat, rocket_level: LogLevel) {
    let rocket = match rocket_level {
        LogLevel::Off => LevelFilter::OFF,
        LogLevel::Critical => LevelFilter::WARN,
        LogLevel::Normal => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::TRACE,
    };
    let own = match format {
        LogFormat::Off => LevelFilter::OFF,
        LogFormat::Text | LogFormat::Json => LevelFilter::INFO,
    };
    let filter = Targets::new()
        .with_target("longrun", own)
        .with_target("longrun::startup", LevelFilter::ERROR)
        .with_target("rocket", rocket)
        .with_default(own.min(LevelFilter::WARN));
    // Rocket logs through `log`; its records become events here, at most
    // as detailed as its `log_level` asks.
    let _ = tracing_log::LogTracer::builder()
        .with_max_level(as_log_level(rocket))
        .init();
    let lines = tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal());
    let lines = match format {
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Text | LogFormat::Off => lines.boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .try_init();
}

fn as_log_level(level: LevelFilter) -> log::LevelFilter {
    match level.into_level() {
        None => log::LevelFilter::Off,
        Some(tracing::Level::ERROR) => log::LevelFilter::Error,
        Some(tracing::Level::WARN) => log::LevelFilter::Warn,
        Some(tracing::Level::INFO) => log::LevelFilter::Info,
        Some(tracing::Level::DEBUG) => log::LevelFilter::Debug,
        Some(tracing::Level::TRACE) => log::LevelFilter::Trace,
    }
}
