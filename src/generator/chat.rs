//! A client of any OpenAI-compatible chat-completions endpoint: one
//! request, whole or streamed, and the text of the model's answer.

use std::time::Duration;

use rocket::serde::json::{self, Value};
use rocket::serde::Deserialize;

use crate::config::OpenAiConfig;
use crate::domain::{HandlerError, Progress};

/// Where the key comes from: the environment only, so it is never in a
/// configuration file or a log of one.
pub const API_KEY_VAR: &str = "OPENAI_API_KEY";

/// The tokens a streamed answer is expected to reach when the request sets
/// no `max_tokens`: what its progress is reckoned against.
const EXPECTED_TOKENS: u32 = 1000;

pub struct ChatClient {
    client: reqwest::Client,
    url: String,
    api_key: ApiKey,
}

/// The key, kept out of `Debug` output.
struct ApiKey(String);

impl ChatClient {
    /// The client the settings describe, or why there is none (no key).
    pub fn new(config: &OpenAiConfig) -> Result<Self, String> {
        let api_key = std::env::var(API_KEY_VAR)
            .ok()
            .filter(|key| !key.trim().is_empty())
            .ok_or_else(|| format!("the {API_KEY_VAR} environment variable is not set"))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            client,
            url: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            api_key: ApiKey(api_key),
        })
    }

    /// Sends one chat completion `request` and returns the text of the
    /// model's message. With `"stream": true` in the request, the answer is
    /// read as it comes and `progress` counts the tokens received.
    pub async fn complete(&self, request: &Value, progress: &Progress) -> Result<String, HandlerError> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.api_key.0)
            .json(request)
            .send()
            .await
            .map_err(|e| HandlerError::upstream(describe(&e), true))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(HandlerError::rate_limited());
        }
        if !status.is_success() {
            let message = format!("OpenAI API error: HTTP {}", status.as_u16());
            return Err(HandlerError::upstream(message, status.is_server_error()));
        }
        if request["stream"] == Value::Bool(true) {
            let expected = request["max_tokens"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(EXPECTED_TOKENS);
            return read_stream(response, expected, progress).await;
        }
        let completion: Completion = response.json().await.map_err(|e| {
            HandlerError::upstream(
                format!("OpenAI API returned an unreadable response: {}", describe(&e)),
                true,
            )
        })?;
        completion
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message.content)
            .ok_or_else(|| malformed("no message content"))
    }
}

/// The content of a streamed answer (server-sent events of chunks, ended
/// by `data: [DONE]`), reporting each token as it arrives.
async fn read_stream(
    mut response: reqwest::Response,
    expected: u32,
    progress: &Progress,
) -> Result<String, HandlerError> {
    let unreadable = |what: &str| HandlerError::upstream(format!("OpenAI API stream {what}"), true);
    let mut pending = Vec::new();
    let mut content = String::new();
    let mut tokens: u32 = 0;
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| HandlerError::upstream(describe(&e), true))?
            .ok_or_else(|| unreadable("ended before [DONE]"))?;
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = std::str::from_utf8(&line).map_err(|_| unreadable("held text that is not UTF-8"))?;
            let Some(data) = line.trim().strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" {
                return Ok(content);
            }
            let piece: StreamChunk =
                json::from_str(data).map_err(|_| unreadable("held an unreadable chunk"))?;
            let delta = piece.choices.into_iter().next().and_then(|c| c.delta.content);
            if let Some(delta) = delta.filter(|d| !d.is_empty()) {
                content.push_str(&delta);
                tokens = tokens.saturating_add(1);
                let percent = 10 + (u64::from(tokens) * 80 / u64::from(expected.max(1))).min(80);
                progress.report(percent as u8, &format!("{tokens} tokens received"));
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct StreamChunk {
    choices: Vec<StreamChoice>,
}

#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct StreamChoice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Default, Deserialize)]
#[serde(crate = "rocket::serde")]
struct Delta {
    content: Option<String>,
}

/// A model's answer that does not fit: asked again, since another sample
/// of the same model usually does.
pub fn malformed(what: &str) -> HandlerError {
    HandlerError::upstream(format!("The model's output was invalid: {what}."), true)
}

/// What went wrong with a request, without its URL (which may hold a
/// proxy's credentials) or anything else from the configuration.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_decode() {
        "unreadable body"
    } else {
        "request failed"
    };
    format!("OpenAI API {kind}")
}

/// The JSON of a model's answer: models sometimes wrap it in a Markdown
/// code fence despite the prompt.
pub fn answer_json(content: &str) -> Result<Value, HandlerError> {
    json::from_str(strip_code_fence(content)).map_err(|_| malformed("not JSON"))
}

fn strip_code_fence(content: &str) -> &str {
    let trimmed = content.trim();
    trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map(str::trim)
        .unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::strip_code_fence;

    #[test]
    fn a_fenced_json_answer_is_unwrapped() {
        assert_eq!(strip_code_fence("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(strip_code_fence(" {\"a\": 1} "), "{\"a\": 1}");
    }
}
