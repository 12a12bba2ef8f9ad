use std::time::Duration;

use rocket::serde::json::Value;
use rocket::serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::{null_as_default, Text, WholeNumber};
use super::OperationType;
use crate::domain::{HandlerError, Progress};

/// `echo`, for tests and benchmarks: waits `delay_ms`, then completes with
/// `result`, fails with `fail` as the message, or panics with `panic` (to
/// show that a crash fails its own operation alone). With `progress_steps`,
/// the wait is cut in that many steps, each reported as progress.
pub struct Echo;

/// The input of `echo`. Every field is optional, so the input may be left
/// out.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
pub struct EchoInput {
    /// How long to wait, in milliseconds (0 when absent). At most ten
    /// minutes: longer than any handler timeout worth configuring.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(inline, nullable)]
    delay_ms: WholeNumber<600_000>,
    /// Report progress this many times while waiting.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(inline, nullable)]
    progress_steps: WholeNumber<100>,
    /// Fail with this message instead of completing.
    #[serde(default)]
    #[schema(inline)]
    fail: Option<Text<2000>>,
    /// Panic with this message instead of completing.
    #[serde(default)]
    #[schema(inline)]
    panic: Option<Text<2000>>,
    /// The result to complete with.
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    result: Value,
}

#[rocket::async_trait]
impl OperationType for Echo {
    const NAME: &'static str = "echo";
    type Input = EchoInput;
    type Output = Value;

    async fn run(&self, input: Self::Input, progress: Progress) -> Result<Self::Output, HandlerError> {
        let delay = Duration::from_millis(input.delay_ms.get());
        let steps = input.progress_steps.get();
        if steps == 0 {
            rocket::tokio::time::sleep(delay).await;
        }
        for step in 1..=steps {
            rocket::tokio::time::sleep(delay / steps as u32).await;
            let percent = u8::try_from(step * 100 / steps).unwrap_or(100);
            progress.report(percent, &format!("Step {step} of {steps}"));
        }
        if let Some(message) = input.panic {
            panic!("{}", message.as_str());
        }
        match input.fail {
            Some(message) => Err(HandlerError::failed(message.into_string())),
            None => Ok(input.result),
        }
    }
}
