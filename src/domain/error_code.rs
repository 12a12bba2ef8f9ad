use std::str::FromStr;

use rocket::serde::Serialize;

/// Why a failed operation failed, for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    Cancelled,
    Timeout,
    LeaseExpired,
    UpstreamRateLimited,
    UpstreamError,
    HandlerError,
    /// The handler crashed (a panic): retried like a passing upstream
    /// error, then failed with this code.
    InternalError,
    /// The row could not be read, so the operation was not run.
    UnreadableRow,
    /// The type needs a model the service has no key for.
    GeneratorUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::Cancelled,
        ErrorCode::Timeout,
        ErrorCode::LeaseExpired,
        ErrorCode::UpstreamRateLimited,
        ErrorCode::UpstreamError,
        ErrorCode::HandlerError,
        ErrorCode::InternalError,
        ErrorCode::UnreadableRow,
        ErrorCode::GeneratorUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Cancelled => "CANCELLED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::LeaseExpired => "LEASE_EXPIRED",
            ErrorCode::UpstreamRateLimited => "UPSTREAM_RATE_LIMITED",
            ErrorCode::UpstreamError => "UPSTREAM_ERROR",
            ErrorCode::HandlerError => "HANDLER_ERROR",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::UnreadableRow => "UNREADABLE_ROW",
            ErrorCode::GeneratorUnavailable => "GENERATOR_UNAVAILABLE",
        }
    }
}

/// An error_code column held something other than the codes above.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_parses_back_and_serializes_as_its_name() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            let json = rocket::serde::json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
