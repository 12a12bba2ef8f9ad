use std::fmt::Write;

use chrono::{DateTime, Utc};
use rocket::serde::json::Value;
use rocket::serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{ErrorCode, ProgressReport, Status};

/// An asynchronous operation, as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde")]
pub struct Operation {
    pub id: Uuid,
    /// What the operation does, e.g. `question_generation`.
    pub operation_type: String,
    pub status: Status,
    /// Any JSON once completed; null before, and when failed.
    #[schema(value_type = Option<Value>)]
    pub result: Option<Value>,
    /// Why it failed, for people; null unless failed.
    pub error_message: Option<String>,
    /// Why it failed, for machines; null unless failed.
    pub error_code: Option<ErrorCode>,
    /// How many times a worker has claimed it.
    pub attempts: i32,
    /// What the running attempt last reported; null until it reports, and
    /// cleared when the status changes. Another program may write any JSON
    /// here, so it is served as stored.
    #[schema(value_type = Option<ProgressReport>)]
    pub progress: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Who it belongs to: the `sub` of the token it was created with.
    /// Left out when it belongs to no one (created without a token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Where it is sent when it finishes, as its create named it (left
    /// out when it named none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// An operation as the API sends it: the JSON body and its strong ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    pub body: String,
    /// Quoted, as the `ETag` header carries it. Derived from the body alone,
    /// so it changes exactly when the body does, whoever changed the row.
    pub etag: String,
}

impl Operation {
    pub fn representation(&self) -> Representation {
        // Serializing strings, numbers and JSON values cannot fail.
        let body = rocket::serde::json::to_string(self).unwrap_or_default();
        let digest = Sha256::digest(body.as_bytes());
        let mut etag = String::with_capacity(34);
        etag.push('"');
        for byte in &digest[..16] {
            let _ = write!(etag, "{byte:02x}");
        }
        etag.push('"');
        Representation { body, etag }
    }
}
