use std::fmt;

use rocket::figment::error::{Actual, Kind};

/// A setting whose value does not fit: which, what was given, and what is
/// accepted. Its `Display` is the one line the start-up prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidSetting {
    pub key: String,
    pub given: String,
    pub accepted: String,
    /// Where the value came from (`Rocket.toml`, a `ROCKET_*` variable), when known.
    pub origin: Option<String>,
}

impl InvalidSetting {
    /// The same, its key below `prefix`.
    pub fn under(mut self, prefix: &str) -> Self {
        self.key = match self.key.is_empty() {
            true => prefix.to_owned(),
            false => format!("{prefix}.{}", self.key),
        };
        self
    }

    pub fn new(key: impl Into<String>, given: impl Into<String>, accepted: impl Into<String>) -> Self {
        InvalidSetting {
            key: key.into(),
            given: given.into(),
            accepted: accepted.into(),
            origin: None,
        }
    }
}

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match self.key.is_empty() {
            true => "(the whole configuration)",
            false => self.key.as_str(),
        };
        write!(
            f,
            "invalid setting `{key}`: {} given; accepted: {}",
            self.given, self.accepted
        )?;
        match &self.origin {
            Some(origin) => write!(f, " (set in {origin})"),
            None => Ok(()),
        }
    }
}

/// The first of figment's errors, in one line.
impl From<rocket::figment::Error> for InvalidSetting {
    fn from(error: rocket::figment::Error) -> Self {
        let key = error.path.join(".");
        let (key, given, accepted) = match &error.kind {
            Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                (key, given(actual), in_words(expected))
            }
            Kind::InvalidLength(length, expected) => (key, format!("{length} items"), expected.clone()),
            Kind::UnknownVariant(variant, expected) => (key, format!("{variant:?}"), one_of(expected)),
            // The path names the unknown key already.
            Kind::UnknownField(_, expected) => (
                key,
                "a key this service does not know".to_owned(),
                one_of(expected),
            ),
            Kind::MissingField(field) => {
                let key = if key.is_empty() {
                    field.to_string()
                } else {
                    format!("{key}.{field}")
                };
                (key, "nothing".to_owned(), "a value".to_owned())
            }
            Kind::Message(message) => (key, "a value".to_owned(), message.clone()),
            other => (key, "a value".to_owned(), other.to_string()),
        };
        let origin = error.metadata.as_ref().map(|metadata| match &metadata.source {
            Some(source) => format!("{} {}", metadata.name, source),
            None => metadata.name.to_string(),
        });
        InvalidSetting {
            key,
            given,
            accepted,
            origin,
        }
    }
}

fn given(actual: &Actual) -> String {
    match actual {
        Actual::Str(text) => format!("{text:?}"),
        other => other.to_string(),
    }
}

/// Serde's names of number types, in words.
fn in_words(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        other => other.to_owned(),
    }
}

fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    format!("one of {}", quoted.join(", "))
}
