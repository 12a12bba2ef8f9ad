//! Request parts read by hand, so that each way they can be wrong gets its
//! own error in the service's shape.

use rocket::data::{ByteUnit, Data, FromData, Outcome};
use rocket::http::{ContentType, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::serde::json::{serde_json, Value};

use crate::error::ApiError;
use crate::handlers::InvalidInput;

/// The limit when Rocket's `limits.json` is not set.
const DEFAULT_LIMIT: ByteUnit = ByteUnit::Kibibyte(64);

/// A JSON request body within `limits.json`, sent as JSON: a body of
/// another type is refused, so that a page on another site cannot post
/// one as a form or plain text (which browsers send without asking).
pub struct JsonBody(pub Value);

#[rocket::async_trait]
impl<'r> FromData<'r> for JsonBody {
    type Error = ApiError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self> {
        if !request.content_type().is_some_and(is_json) {
            return Outcome::Error((Status::UnsupportedMediaType, ApiError::UnsupportedMediaType));
        }
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
            Err(e) if is_number_out_of_range(&e) => {
                let error = ApiError::InvalidInput(number_out_of_range(&bytes));
                Outcome::Error((Status::UnprocessableEntity, error))
            }
            Err(e) => Outcome::Error((Status::BadRequest, ApiError::MalformedJson(e.to_string()))),
        }
    }
}

/// Valid JSON with a number beyond a 64-bit float (`1e400`): well formed,
/// but a value neither backend stores, so it is input that does not fit.
/// serde_json tells it apart by its message only.
fn is_number_out_of_range(error: &serde_json::Error) -> bool {
    error.is_syntax() && error.to_string().starts_with("number out of range")
}

/// The body read again, on this rare path only, for the field that holds
/// the number.
fn number_out_of_range(bytes: &[u8]) -> InvalidInput {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let field = match serde_path_to_error::deserialize::<_, Value>(&mut reader) {
        Err(error) if error.path().to_string() != "." => error.path().to_string(),
        _ => "body".to_owned(),
    };
    InvalidInput::new(
        &field,
        "is a number beyond the range of a 64-bit float, which cannot be stored",
    )
}

/// `application/json`, or any `application/…+json`.
fn is_json(content_type: &ContentType) -> bool {
    content_type.top() == "application"
        && (content_type.sub() == "json" || content_type.sub().as_str().ends_with("+json"))
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
