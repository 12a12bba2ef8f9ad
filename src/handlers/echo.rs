use std::time::Duration;

use rocket::serde::json::{json, Value};

use rocket::serde::Deserialize;

use super::input::Fields;
use super::{Handler, HandlerError, InvalidInput, Progress};

/// `echo`, for tests and benchmarks: waits `delay_ms`, then completes with
/// `result` or fails with `fail` as the message. With `progress_steps`, the
/// wait is cut in that many steps, each reported as progress.
pub struct Echo;

/// Ten minutes: longer than any handler timeout worth configuring.
const MAX_DELAY_MS: u64 = 600_000;

/// The input of `echo`, for the OpenAPI document; `validate` enforces the
/// same rules.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
#[schema(as = EchoInput)]
#[allow(dead_code)]
pub struct Input {
    /// How long to wait, in milliseconds (0 when absent).
    #[schema(minimum = 0, maximum = 600_000)]
    delay_ms: Option<u64>,
    /// Fail with this message instead of completing.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    fail: Option<String>,
    /// The result to complete with.
    #[schema(value_type = Option<Value>)]
    result: Option<Value>,
    /// Report progress this many times while waiting.
    #[schema(minimum = 0, maximum = 100)]
    progress_steps: Option<u64>,
}

#[rocket::async_trait]
impl Handler for Echo {
    fn validate(&self, input: &Value) -> Result<Value, InvalidInput> {
        let fields = Fields::of(input, &["delay_ms", "fail", "result", "progress_steps"])?;
        Ok(json!({
            "delay_ms": fields.optional_u64("delay_ms", MAX_DELAY_MS)?.unwrap_or(0),
            "progress_steps": fields.optional_u64("progress_steps", 100)?.unwrap_or(0),
            "fail": fields.optional_text("fail", 2000)?,
            "result": fields.any("result"),
        }))
    }

    async fn run(&self, input: Value, progress: Progress) -> Result<Value, HandlerError> {
        let delay = Duration::from_millis(input["delay_ms"].as_u64().unwrap_or(0));
        let steps = input["progress_steps"].as_u64().unwrap_or(0).min(100);
        if steps == 0 {
            rocket::tokio::time::sleep(delay).await;
        }
        for step in 1..=steps {
            rocket::tokio::time::sleep(delay / steps as u32).await;
            let percent = u8::try_from(step * 100 / steps).unwrap_or(100);
            progress.report(percent, &format!("Step {step} of {steps}"));
        }
        match input["fail"].as_str() {
            Some(message) => Err(HandlerError::failed(message)),
            None => Ok(input["result"].clone()),
        }
    }
}
