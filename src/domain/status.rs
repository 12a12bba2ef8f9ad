use std::fmt;
use std::str::FromStr;

use rocket::serde::Serialize;

/// Where an operation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(crate = "rocket::serde", rename_all = "lowercase")]
pub enum Status {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::Processing,
        Status::Completed,
        Status::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    /// Completed and failed operations never change again.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Completed | Status::Failed)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status column held something other than the four statuses.
#[derive(Debug, thiserror::Error)]
#[error("unknown operation status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_parses_back_from_its_name() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>().ok(), Some(status));
        }
    }

    #[test]
    fn only_completed_and_failed_are_finished() {
        let finished: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_finished()).collect();
        assert_eq!(finished, [Status::Completed, Status::Failed]);
    }

    #[test]
    fn a_status_name_in_another_case_is_unknown() {
        assert!("Pending".parse::<Status>().is_err());
    }
}
