use chrono::{DateTime, Utc};
use rocket::serde::json::Value;
use rocket::serde::Serialize;
use uuid::Uuid;

use super::{ErrorCode, Status};

/// An asynchronous operation, as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(crate = "rocket::serde")]
pub struct Operation {
    pub id: Uuid,
    pub operation_type: String,
    pub status: Status,
    pub result: Option<Value>,
    pub error_message: Option<String>,
    /// Set only when failed.
    pub error_code: Option<ErrorCode>,
    /// How many times a worker has claimed it.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
