//! How the parts of the service start: each takes what it needs from the
//! parts started before it, and a part that cannot start stops the launch
//! with one line saying why. The first failure is the one reported: the
//! parts after it stay quiet rather than list what the failed part would
//! have given them.

use std::any::type_name;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use rocket::{Build, Rocket};

/// Why a part could not start.
#[derive(Debug)]
pub enum StartError {
    /// A part started before it should have added `needs`.
    Missing { part: &'static str, needs: &'static str },
    /// The part itself failed, for `reason`.
    Failed { part: &'static str, reason: String },
}

impl StartError {
    pub fn failed(part: &'static str, reason: impl fmt::Display) -> Self {
        StartError::Failed {
            part,
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Missing { part, needs } => write!(
                f,
                "{part} needs {needs}, which no part attached before it provides (see the order in lib.rs)"
            ),
            StartError::Failed { part, reason } => write!(f, "{part}: {reason}"),
        }
    }
}

/// What `part` needs from an earlier part, or the error naming both.
pub fn needs<T: Clone + Send + Sync + 'static>(
    rocket: &Rocket<Build>,
    part: &'static str,
) -> Result<T, StartError> {
    rocket.state::<T>().cloned().ok_or(StartError::Missing {
        part,
        needs: short_type_name::<T>(),
    })
}

/// A part failed to start: the rocket to fail the launch with
/// (`Err(failed(rocket, error))`). Said once, for the first part that
/// failed.
pub fn failed(rocket: Rocket<Build>, error: StartError) -> Rocket<Build> {
    if rocket.state::<LaunchFailed>().is_some() {
        return rocket;
    }
    tracing::error!(target: "longrun::startup", "cannot start: {error}");
    PART_FAILED.store(true, Ordering::Release);
    rocket.manage(LaunchFailed)
}

/// Managed once a part has failed.
struct LaunchFailed;

/// Whether a part of this process said why it could not start; a launch
/// error that followed needs no second line.
static PART_FAILED: AtomicBool = AtomicBool::new(false);

fn reported_by_a_part() -> bool {
    PART_FAILED.load(Ordering::Acquire)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `longrun::store::Store` → `Store`.
fn short_type_name<T>() -> &'static str {
    let full = type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Says why the launch failed, in one line, unless a part already did.
pub fn report_launch_error(error: &rocket::Error) {
    match error.kind() {
        rocket::error::ErrorKind::FailedFairings(_) if reported_by_a_part() => {}
        rocket::error::ErrorKind::Bind(e) => {
            eprintln!("longrun: cannot listen on the configured address: {e}")
        }
        other => eprintln!("longrun: cannot start: {}", one_line(&other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Pool;

    #[test]
    fn a_part_that_misses_what_it_needs_names_both() {
        let rocket = rocket::build();
        let missing = needs::<Pool>(&rocket, "the workers").err().map(|e| e.to_string());
        assert_eq!(
            missing.as_deref(),
            Some(
                "the workers needs Pool, which no part attached before it provides (see the order in lib.rs)"
            )
        );
        assert!(needs::<Pool>(&rocket.manage(Pool), "the workers").is_ok());
    }

    /// A part that needs a `Pool`.
    struct NeedsPool;

    #[rocket::async_trait]
    impl rocket::fairing::Fairing for NeedsPool {
        fn info(&self) -> rocket::fairing::Info {
            rocket::fairing::Info {
                name: "needs a pool",
                kind: rocket::fairing::Kind::Ignite,
            }
        }

        async fn on_ignite(&self, rocket: Rocket<Build>) -> rocket::fairing::Result {
            match needs::<Pool>(&rocket, "a part") {
                Ok(_) => Ok(rocket),
                Err(e) => Err(failed(rocket, e)),
            }
        }
    }

    #[rocket::async_test]
    async fn a_part_out_of_order_stops_the_launch() {
        let figment = rocket::Config::figment().merge(("log_level", "off"));
        let launched = rocket::custom(figment).attach(NeedsPool).ignite().await;
        // Looking at the error's kind marks it handled.
        let failed = launched
            .err()
            .map(|e| matches!(e.kind(), rocket::error::ErrorKind::FailedFairings(_)));
        assert_eq!(failed, Some(true));
    }
}
