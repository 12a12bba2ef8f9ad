use rocket::serde::{Deserialize, Serialize};
use rocket::tokio::sync::watch;

/// How far a running handler has got, as an operation's `progress` holds
/// it. Only the attempt running now has progress: every status change
/// clears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde")]
pub struct ProgressReport {
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
    pub message: String,
}

/// Where a handler reports its progress. Reports never wait: the worker
/// keeps only the latest and writes at most one per
/// `progress_interval_ms`.
#[derive(Clone)]
pub struct Progress {
    latest: watch::Sender<Option<ProgressReport>>,
}

impl Progress {
    /// A reporter, and the receiver its reports reach.
    pub fn channel() -> (Progress, watch::Receiver<Option<ProgressReport>>) {
        let (latest, reports) = watch::channel(None);
        (Progress { latest }, reports)
    }

    /// `percent` is clamped to 0–100; `message` is cut to 200 characters.
    pub fn report(&self, percent: u8, message: &str) {
        let report = ProgressReport {
            percent: percent.min(100),
            message: message.chars().take(200).collect(),
        };
        self.latest.send_replace(Some(report));
    }
}
