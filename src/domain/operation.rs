use chrono::{DateTime, Utc};
use rocket::serde::json::Value;
use rocket::serde::Serialize;
use uuid::Uuid;

use super::Status;

/// An asynchronous operation, as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(crate = "rocket::serde")]
pub struct Operation {
    pub id: Uuid,
    pub operation_type: String,
    pub status: Status,
    pub result: Option<Value>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
