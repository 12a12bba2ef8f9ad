use std::fmt;
use std::str::FromStr;

use rocket::serde::Serialize;

/// Where an operation is in its life.
///
/// ```text
/// pending ──claim──▶ processing ──complete──▶ completed
///    │  ▲               │   │
///    │  └──retry later, │   └──fail──────────▶ failed
///    │     give back,   │
///    │     lease expiry─┘
///    └──cancel──────────────────────────────▶ failed
/// ```
///
/// Completed and failed are final. Every move is one of the
/// [`Transition`]s; the store's conditional updates are rendered from them,
/// so a late or duplicate writer cannot make any other move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
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
        !Transition::ALL.iter().any(|t| t.from().contains(&self))
    }

    /// Whether some transition moves an operation from `self` to `next`.
    pub fn can_move_to(self, next: Status) -> bool {
        Transition::ALL
            .iter()
            .any(|t| t.from().contains(&self) && t.to() == next)
    }
}

/// Every move an operation's status can make, and who makes it. Each one
/// also clears `progress`: progress describes the attempt running now, and
/// no attempt runs in the status a move arrives at (a claim starts a new
/// one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// A worker takes a pending operation that is due.
    Claim,
    /// The handler returned a result.
    Complete,
    /// The handler failed for good, or ran out of time or attempts.
    Fail,
    /// The handler failed in a way that may pass: pending again after a
    /// backoff.
    RetryLater,
    /// The worker is stopping: pending again at once, the attempt handed
    /// back.
    GiveBack,
    /// A client cancelled it.
    Cancel,
    /// Its lease ran out with attempts left: pending again.
    RequeueExpired,
    /// Its lease ran out with no attempt left.
    FailExpired,
}

impl Transition {
    pub const ALL: [Transition; 8] = [
        Transition::Claim,
        Transition::Complete,
        Transition::Fail,
        Transition::RetryLater,
        Transition::GiveBack,
        Transition::Cancel,
        Transition::RequeueExpired,
        Transition::FailExpired,
    ];

    /// The statuses this transition moves an operation from.
    pub fn from(self) -> &'static [Status] {
        use Status::*;
        match self {
            Transition::Claim => &[Pending],
            Transition::Complete
            | Transition::Fail
            | Transition::RetryLater
            | Transition::GiveBack
            | Transition::RequeueExpired
            | Transition::FailExpired => &[Processing],
            Transition::Cancel => &[Pending, Processing],
        }
    }

    /// The status it moves an operation to.
    pub fn to(self) -> Status {
        use Status::*;
        match self {
            Transition::Claim => Processing,
            Transition::Complete => Completed,
            Transition::Fail | Transition::Cancel | Transition::FailExpired => Failed,
            Transition::RetryLater | Transition::GiveBack | Transition::RequeueExpired => Pending,
        }
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
    use super::Status::{self, *};

    #[test]
    fn every_status_parses_back_from_its_name() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>().ok(), Some(status));
        }
    }

    #[test]
    fn a_status_name_in_another_case_is_unknown() {
        assert!("Pending".parse::<Status>().is_err());
    }

    #[test]
    fn only_completed_and_failed_are_finished() {
        let finished: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_finished()).collect();
        assert_eq!(finished, [Completed, Failed]);
    }

    #[test]
    fn the_transition_table_is_exactly_the_documented_one() {
        let allowed: Vec<_> = Status::ALL
            .into_iter()
            .flat_map(|from| Status::ALL.into_iter().map(move |to| (from, to)))
            .filter(|(from, to)| from.can_move_to(*to))
            .collect();
        assert_eq!(
            allowed,
            [
                (Pending, Processing),
                (Pending, Failed),
                (Processing, Pending),
                (Processing, Completed),
                (Processing, Failed),
            ]
        );
    }

    #[test]
    fn no_status_moves_to_itself() {
        assert!(Status::ALL.into_iter().all(|s| !s.can_move_to(s)));
    }

    /// Every walk through the table from pending, up to eight moves long,
    /// stops at the first finished status it reaches.
    #[test]
    fn any_walk_through_the_table_stays_finished_once_finished() {
        fn walk(path: &mut Vec<Status>, depth: usize) {
            let last = *path.last().unwrap_or(&Pending);
            if let Some(first_finished) = path.iter().position(|s| s.is_finished()) {
                assert_eq!(
                    first_finished,
                    path.len() - 1,
                    "moved on after finishing: {path:?}"
                );
            }
            if depth == 0 {
                return;
            }
            for next in Status::ALL.into_iter().filter(|n| last.can_move_to(*n)) {
                path.push(next);
                walk(path, depth - 1);
                path.pop();
            }
        }
        walk(&mut vec![Pending], 8);
    }
}
