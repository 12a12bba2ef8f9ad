//! Request parts read by hand, so that each way they can be wrong gets its
//! own error in the service's shape.

use rocket::data::{ByteUnit, Data, FromData, Outcome};
use rocket::http::Status;
use rocket::request::{self, FromRequest, Request};
use rocket::serde::json::{serde_json, Value};

use crate::error::ApiError;

/// The limit when Rocket's `limits.json` is not set.
const DEFAULT_LIMIT: ByteUnit = ByteUnit::Kibibyte(64);

/// A JSON request body within `limits.json`.
pub struct JsonBody(pub Value);

#[rocket::async_trait]
impl<'r> FromData<'r> for JsonBody {
    type Error = ApiError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self> {
        let limit = request.limits().get("json").unwrap_or(DEFAULT_LIMIT);
        let bytes = match data.open(limit).into_bytes().await {
            Ok(bytes) if bytes.is_complete() => bytes.into_inner(),
            Ok(_) => {
                let error = ApiError::PayloadTooLarge {
                    limit: limit.as_u64(),
                };
                return Outcome::Error((Status::PayloadTooLarge, error));
            }
            Err(_) => {
                let error = ApiError::MalformedJson("the body could not be read".to_owned());
                return Outcome::Error((Status::BadRequest, error));
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(value) => Outcome::Success(JsonBody(value)),
            Err(e) => Outcome::Error((Status::BadRequest, ApiError::MalformedJson(e.to_string()))),
        }
    }
}

/// The `Idempotency-Key` header, if given.
pub struct IdempotencyKey(pub Option<String>);

const MAX_KEY_LEN: usize = 255;

impl IdempotencyKey {
    /// The key, if it is one: 1 to 255 visible ASCII characters.
    pub fn checked(self) -> Result<Option<String>, ApiError> {
        match self.0 {
            None => Ok(None),
            Some(key)
                if !key.is_empty()
                    && key.len() <= MAX_KEY_LEN
                    && key.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Some(key))
            }
            Some(_) => Err(ApiError::InvalidIdempotencyKey),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for IdempotencyKey {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        let key = request.headers().get_one("Idempotency-Key").map(str::to_owned);
        request::Outcome::Success(IdempotencyKey(key))
    }
}
