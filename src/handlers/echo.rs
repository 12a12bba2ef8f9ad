use std::time::Duration;

use rocket::serde::json::{json, Value};

use super::input::Fields;
use super::{Handler, HandlerError, InvalidInput};

/// `echo`, for tests and benchmarks: waits `delay_ms`, then completes with
/// `result` or fails with `fail` as the message.
pub struct Echo;

/// Ten minutes: longer than any handler timeout worth configuring.
const MAX_DELAY_MS: u64 = 600_000;

#[rocket::async_trait]
impl Handler for Echo {
    fn validate(&self, input: &Value) -> Result<Value, InvalidInput> {
        let fields = Fields::of(input, &["delay_ms", "fail", "result"])?;
        Ok(json!({
            "delay_ms": fields.optional_u64("delay_ms", MAX_DELAY_MS)?.unwrap_or(0),
            "fail": fields.optional_text("fail", 2000)?,
            "result": fields.any("result"),
        }))
    }

    async fn run(&self, input: Value) -> Result<Value, HandlerError> {
        let delay = input["delay_ms"].as_u64().unwrap_or(0);
        if delay > 0 {
            rocket::tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        match input["fail"].as_str() {
            Some(message) => Err(HandlerError::failed(message)),
            None => Ok(input["result"].clone()),
        }
    }
}
