//! Operation types declared in configuration (`[operations.types.<name>]`):
//! a prompt for an OpenAI-compatible model (`kind = "llm"`) or a call to
//! an HTTP target (`kind = "http"`). What can be checked without reading
//! files is checked here; the schemas and the prompt are read and compiled
//! when the types are built.

use std::path::PathBuf;

use rocket::serde::json::Value;
use rocket::serde::Deserialize;

use super::webhooks::secret_key;
use super::{InvalidSetting, OperationsConfig};
use crate::outbound;

/// The types built into the service, which a declared type may not shadow.
pub const BUILT_IN_TYPES: [&str; 3] = ["question_generation", "answer_feedback", "echo"];

/// One `[operations.types.<name>]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
pub struct DeclaredType {
    pub kind: DeclaredKind,
    /// The JSON Schema every input must satisfy.
    pub input_schema: SchemaSource,
    /// The JSON Schema every result must satisfy: required for `llm`,
    /// optional for `http`.
    #[serde(default)]
    pub output_schema: Option<SchemaSource>,
    /// How long one attempt may take (`handler_timeout_secs` when absent):
    /// for `http`, how long the target has to answer, and after a 202 how
    /// long it has to finish the operation.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Attempts before the operation fails for good (`max_attempts` when
    /// absent).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// `llm`: the prompt template, a file rendered over the input.
    #[serde(default)]
    pub prompt: Option<PathBuf>,
    /// `llm`: the model (`openai.model` when absent).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// `llm`: read the answer as a stream, reporting the tokens received.
    #[serde(default)]
    pub stream: bool,
    /// `llm`: send `output_schema` as the request's structured-output
    /// `response_format` (`json_schema`); false asks for `json_object` only,
    /// for endpoints without structured output. The answer is checked
    /// against the schema either way.
    #[serde(default = "structured_output_by_default")]
    pub structured_output: bool,
    /// `http`: where the input is POSTed.
    #[serde(default)]
    pub url: Option<String>,
    /// `http`: the Standard Webhooks secret (`whsec_…`) requests are signed
    /// with.
    #[serde(default)]
    pub secret: Option<String>,
    /// `http`: sent as `Authorization: Bearer <token>` instead of a
    /// signature.
    #[serde(default)]
    pub bearer_token: Option<String>,
}

fn structured_output_by_default() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(crate = "rocket::serde", rename_all = "lowercase")]
pub enum DeclaredKind {
    Llm,
    Http,
}

/// A JSON Schema: the path of a JSON file, or the schema itself.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "rocket::serde", untagged)]
pub enum SchemaSource {
    File(PathBuf),
    Inline(Value),
}

/// The declared types of `config`, checked as far as configuration alone
/// allows.
pub(super) fn check(config: &OperationsConfig) -> Result<(), InvalidSetting> {
    for (name, declared) in &config.types {
        check_type(name, declared, config)?;
    }
    Ok(())
}

fn check_type(name: &str, declared: &DeclaredType, config: &OperationsConfig) -> Result<(), InvalidSetting> {
    let key = |field: &str| match field {
        "" => format!("operations.types.{name}"),
        field => format!("operations.types.{name}.{field}"),
    };
    if !is_type_name(name) {
        return Err(InvalidSetting::new(
            key(""),
            format!("the name {name:?}"),
            "a name of lowercase letters, digits and _, starting with a letter, at most 64 characters",
        ));
    }
    if BUILT_IN_TYPES.contains(&name) {
        return Err(InvalidSetting::new(
            key(""),
            format!("the name {name:?}"),
            format!(
                "a name other than the built-in types ({})",
                BUILT_IN_TYPES.join(", ")
            ),
        ));
    }
    if declared.timeout_secs == Some(0) {
        return Err(InvalidSetting::new(
            key("timeout_secs"),
            "0",
            "a whole number greater than 0",
        ));
    }
    if declared.max_attempts == Some(0) {
        return Err(InvalidSetting::new(
            key("max_attempts"),
            "0",
            "a whole number greater than 0",
        ));
    }
    // The settings of this kind that are missing, and those of the other
    // kind that were given, each with whether it was given.
    let (needed, foreign): (&[Given], &[Given]) = match declared.kind {
        DeclaredKind::Llm => (
            &[
                ("prompt", declared.prompt.is_some()),
                ("output_schema", declared.output_schema.is_some()),
            ],
            &[
                ("url", declared.url.is_some()),
                ("secret", declared.secret.is_some()),
                ("bearer_token", declared.bearer_token.is_some()),
            ],
        ),
        DeclaredKind::Http => (
            &[("url", declared.url.is_some())],
            &[
                ("prompt", declared.prompt.is_some()),
                ("model", declared.model.is_some()),
                ("temperature", declared.temperature.is_some()),
                ("max_tokens", declared.max_tokens.is_some()),
                ("stream", declared.stream),
                ("structured_output", !declared.structured_output),
            ],
        ),
    };
    let kind = match declared.kind {
        DeclaredKind::Llm => "llm",
        DeclaredKind::Http => "http",
    };
    if let Some((field, _)) = needed.iter().find(|(_, given)| !given) {
        return Err(InvalidSetting::new(
            key(field),
            "nothing",
            format!("a value (required for kind = \"{kind}\")"),
        ));
    }
    if let Some((field, _)) = foreign.iter().find(|(_, given)| *given) {
        return Err(InvalidSetting::new(
            key(field),
            "a value",
            format!("nothing (not a setting of kind = \"{kind}\")"),
        ));
    }
    if let Some(temperature) = declared.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
        return Err(InvalidSetting::new(
            key("temperature"),
            temperature.to_string(),
            "a number from 0 to 2",
        ));
    }
    if declared.max_tokens == Some(0) {
        return Err(InvalidSetting::new(
            key("max_tokens"),
            "0",
            "a whole number greater than 0",
        ));
    }
    if let Some(url) = &declared.url {
        if let Err(unfit) = outbound::check_url(url, config.allow_private_targets) {
            return Err(InvalidSetting::new(
                key("url"),
                format!("{url:?}, which {unfit}"),
                "an http or https URL without credentials (a private address needs allow_private_targets = true)",
            ));
        }
        match (&declared.secret, &declared.bearer_token) {
            (Some(secret), None) if secret_key(secret).is_none() => {
                return Err(InvalidSetting::new(
                    key("secret"),
                    "a value",
                    "`whsec_` followed by a base64 key",
                ));
            }
            (Some(_), None) => {}
            (None, Some(token)) if token.trim().is_empty() || token.chars().any(char::is_control) => {
                return Err(InvalidSetting::new(
                    key("bearer_token"),
                    "a value",
                    "a token that is not blank and holds no control characters",
                ));
            }
            (None, Some(_)) => {}
            (given, _) => {
                return Err(InvalidSetting::new(
                    key("secret"),
                    match given {
                        Some(_) => "both secret and bearer_token",
                        None => "neither secret nor bearer_token",
                    },
                    "one of secret (requests signed as webhooks are) or bearer_token",
                ));
            }
        }
    }
    Ok(())
}

/// A setting's name and whether a declaration gives it.
type Given<'a> = (&'a str, bool);

/// Lowercase letters, digits and `_`, from a letter, at most 64: a name
/// that is safe in schema names, metrics labels and SQL paths alike.
fn is_type_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::is_type_name;

    #[test]
    fn type_names_are_lowercase_words() {
        assert!(is_type_name("interview_summary"));
        assert!(is_type_name("cv2"));
        assert!(!is_type_name("Summary"));
        assert!(!is_type_name("2cv"));
        assert!(!is_type_name("a-b"));
        assert!(!is_type_name(""));
        assert!(!is_type_name(&"a".repeat(65)));
    }
}
