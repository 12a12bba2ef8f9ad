//! One line per event — a request served, an operation's step — as text
//! or JSON, on standard output. Never given secrets: lines hold ids,
//! names, statuses and timings only.

use std::io::Write;

use chrono::{SecondsFormat, Utc};
use rocket::serde::json::serde_json::Map;
use rocket::serde::json::Value;
use rocket::serde::Deserialize;

/// `operations.log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(crate = "rocket::serde", rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
    Off,
}

#[derive(Debug, Clone, Copy)]
pub struct EventLog {
    format: LogFormat,
}

impl EventLog {
    pub fn new(format: LogFormat) -> Self {
        Self { format }
    }

    /// Whether lines are written at all: callers on the request path check
    /// it before building a line's fields.
    pub fn is_on(&self) -> bool {
        self.format != LogFormat::Off
    }

    /// Writes `event` with its `fields` (values are strings or numbers).
    pub fn emit(&self, event: &str, fields: &[(&str, Value)]) {
        let line = match self.format {
            LogFormat::Off => return,
            LogFormat::Json => json_line(event, fields),
            LogFormat::Text => text_line(event, fields),
        };
        // A closed stdout is nothing to fail a request over.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    /// An operation's step, e.g. `operation.completed`.
    pub fn operation(&self, event: &str, id: uuid::Uuid, fields: &[(&str, Value)]) {
        let mut all = vec![("operation_id", Value::from(id.to_string()))];
        all.extend(fields.iter().cloned());
        self.emit(event, &all);
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn json_line(event: &str, fields: &[(&str, Value)]) -> String {
    let mut object = Map::new();
    object.insert("ts".to_owned(), Value::from(now()));
    object.insert("event".to_owned(), Value::from(event));
    for (name, value) in fields {
        object.insert((*name).to_owned(), value.clone());
    }
    Value::Object(object).to_string()
}

fn text_line(event: &str, fields: &[(&str, Value)]) -> String {
    let mut line = format!("{} {event}", now());
    for (name, value) in fields {
        match value {
            Value::String(text) => line.push_str(&format!(" {name}={text:?}")),
            other => line.push_str(&format!(" {name}={other}")),
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_is_one_object_with_the_event_and_its_fields() {
        let line = json_line(
            "request",
            &[("status", Value::from(200)), ("route", Value::from("/x"))],
        );
        let parsed: Value = rocket::serde::json::from_str(&line).unwrap_or_default();
        assert_eq!(parsed["event"], "request");
        assert_eq!(parsed["status"], 200);
        assert_eq!(parsed["route"], "/x");
        assert!(parsed["ts"].is_string());
    }

    #[test]
    fn a_text_line_quotes_strings() {
        let line = text_line(
            "request",
            &[("route", Value::from("/a b")), ("status", Value::from(404))],
        );
        assert!(line.ends_with(r#"request route="/a b" status=404"#), "{line}");
    }
}
