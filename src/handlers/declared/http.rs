//! `kind = "http"`: the input POSTed to the type's target, signed as
//! webhooks are (or with a bearer token), naming the operation, the attempt
//! and the token that finishes it later. The answer decides: a 2xx with
//! JSON is the result, a 202 hands the operation on, a 4xx fails it, and a
//! 429, a 5xx, a timeout or a refused connection is tried again.

use std::time::Duration;

use rocket::serde::json::{self, Value};

use super::{Declared, InputSchema, InvalidInput, Limits};
use crate::config::{secret_key, DeclaredType, OperationsConfig};
use crate::domain::{ErrorCode, HandlerError};
use crate::handlers::{Attempt, Handler, Ran};
use crate::outbound::{self, sign, OutboundClient, PRIVATE_TARGET};

/// The headers a target reads the operation from.
pub const OPERATION_ID_HEADER: &str = "Longrun-Operation-Id";
pub const ATTEMPT_HEADER: &str = "Longrun-Attempt";
pub const COMPLETION_TOKEN_HEADER: &str = "Longrun-Completion-Token";

/// An attempt may take this much longer than the request to its target,
/// so that a target too slow to answer is retried, not timed out.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// The longest message kept of a target's refusal.
const MAX_MESSAGE_CHARS: usize = 1000;

pub struct HttpType {
    declared: Declared,
    url: String,
    credentials: Credentials,
    client: OutboundClient,
    /// How long the target has to answer.
    request_timeout: Duration,
}

/// How a target knows the request is the service's.
enum Credentials {
    /// A Standard Webhooks signature under this key.
    Signature(Vec<u8>),
    Bearer(String),
}

impl HttpType {
    pub(super) fn new(
        declared: Declared,
        settings: &DeclaredType,
        config: &OperationsConfig,
    ) -> Result<Self, String> {
        let url = settings.url.clone().ok_or("url: required for kind = \"http\"")?;
        let credentials = match (&settings.secret, &settings.bearer_token) {
            (Some(secret), _) => {
                Credentials::Signature(secret_key(secret).ok_or("secret: not a whsec_ secret")?)
            }
            (None, Some(token)) => Credentials::Bearer(token.clone()),
            (None, None) => return Err("one of secret or bearer_token is required".to_owned()),
        };
        let request_timeout = declared.limits.timeout.unwrap_or(config.handler_timeout());
        let client = OutboundClient::new(request_timeout, config.allow_private_targets)
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HttpType {
            declared: Declared {
                limits: Limits {
                    timeout: Some(request_timeout + ANSWER_MARGIN),
                    ..declared.limits
                },
                ..declared
            },
            url,
            credentials,
            client,
            request_timeout,
        })
    }

    fn request(&self, body: &str, attempt: &Attempt) -> Result<reqwest::RequestBuilder, HandlerError> {
        let request = self
            .client
            .post(&self.url)
            .map_err(|unfit| HandlerError::failed(format!("The target's URL cannot be called: it {unfit}.")))?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(OPERATION_ID_HEADER, attempt.operation_id().to_string())
            .header(ATTEMPT_HEADER, attempt.number().to_string())
            .header(COMPLETION_TOKEN_HEADER, attempt.completion_token());
        Ok(match &self.credentials {
            Credentials::Signature(key) => {
                let id = format!("msg_{}_{}", attempt.operation_id().simple(), attempt.number());
                let timestamp = chrono::Utc::now().timestamp();
                request
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", sign(key, &id, timestamp, body))
            }
            Credentials::Bearer(token) => request.bearer_auth(token),
        })
    }
}

#[rocket::async_trait]
impl Handler for HttpType {
    fn accept(&self, input: Value) -> Result<Value, InvalidInput> {
        self.declared.accept(input)
    }

    async fn run(&self, input: Value, attempt: Attempt) -> Result<Ran, HandlerError> {
        // No progress report: the call is one step, and a report would be
        // one more write per operation.
        let body = input.to_string();
        let response = match self.request(&body, &attempt)?.body(body).send().await {
            Ok(response) => response,
            Err(e) if outbound::refused_as_private(&e) => {
                return Err(HandlerError::failed(format!("{PRIVATE_TARGET}.")))
            }
            Err(e) => {
                return Err(HandlerError::upstream(
                    unreachable_message(&e, self.request_timeout),
                    true,
                ))
            }
        };
        let status = response.status();
        if status == reqwest::StatusCode::ACCEPTED {
            return Ok(Ran::HandedOn {
                wait: self.request_timeout,
            });
        }
        let text = response.text().await.unwrap_or_default();
        let code = status.as_u16();
        match code {
            200..=299 => {
                let result: Value = json::from_str(&text).map_err(|_| {
                    HandlerError::upstream(
                        format!("The target answered HTTP {code} without a JSON body."),
                        false,
                    )
                })?;
                self.check_result("result", &result).map_err(|unfit| {
                    HandlerError::upstream(
                        format!("The target's result does not fit the output schema: {unfit}"),
                        false,
                    )
                })?;
                Ok(Ran::Completed(result))
            }
            429 => Err(HandlerError {
                code: ErrorCode::UpstreamRateLimited,
                message: "The target answered HTTP 429 (too many requests).".to_owned(),
                retryable: true,
            }),
            400..=499 => Err(HandlerError::failed(refusal(code, &text))),
            500..=599 => Err(HandlerError::upstream(
                format!("The target answered HTTP {code}."),
                true,
            )),
            _ => Err(HandlerError::upstream(
                format!("The target answered HTTP {code}, which is not followed."),
                false,
            )),
        }
    }

    fn input_schema(&self) -> InputSchema {
        self.declared.input_schema()
    }

    fn limits(&self) -> Limits {
        self.declared.limits
    }

    fn check_result(&self, root: &str, result: &Value) -> Result<(), InvalidInput> {
        match &self.declared.output {
            Some(output) => output.check(root, result),
            None => Ok(()),
        }
    }
}

/// Why the target could not be reached, without its URL.
fn unreachable_message(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        format!("The target did not answer within {} seconds.", timeout.as_secs())
    } else if error.is_connect() {
        "The target could not be reached.".to_owned()
    } else {
        "The request to the target failed.".to_owned()
    }
}

/// The message of a target's 4xx: the `error_message`, `message`, `detail`
/// or `error` of a JSON body, or its text, or the status alone.
fn refusal(code: u16, body: &str) -> String {
    let from_json = json::from_str::<Value>(body).ok().and_then(|value| {
        ["error_message", "message", "detail", "error"]
            .iter()
            .find_map(|key| value.get(key).and_then(Value::as_str).map(str::to_owned))
    });
    let message = from_json.unwrap_or_else(|| body.trim().to_owned());
    match message.is_empty() {
        true => format!("The target refused the operation (HTTP {code})."),
        false => message.chars().take(MAX_MESSAGE_CHARS).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn a_refusal_says_what_the_target_said() {
        assert_eq!(
            refusal(422, r#"{"error_message": "no such role"}"#),
            "no such role"
        );
        assert_eq!(refusal(400, r#"{"detail": "bad"}"#), "bad");
        assert_eq!(refusal(404, " not here \n"), "not here");
        assert_eq!(refusal(403, ""), "The target refused the operation (HTTP 403).");
    }
}
