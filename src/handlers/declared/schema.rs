//! A declared type's JSON Schemas: read from the configuration or a file,
//! compiled once, and the path of the first value that breaks one.

use std::fs;

use rocket::serde::json::{self, Value};

use crate::config::SchemaSource;
use crate::handlers::InvalidInput;

/// A compiled JSON Schema and the schema itself (for the OpenAPI document
/// and the model's `response_format`).
pub struct JsonSchema {
    pub document: Value,
    validator: jsonschema::Validator,
}

impl JsonSchema {
    /// Reads and compiles `source`, or says why it cannot be used. Only
    /// what the schema holds is used: a `$ref` to another document is not
    /// fetched.
    pub fn load(source: &SchemaSource) -> Result<Self, String> {
        let document = match source {
            SchemaSource::Inline(document) => document.clone(),
            SchemaSource::File(path) => {
                let text =
                    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?
            }
        };
        let validator =
            jsonschema::validator_for(&document).map_err(|e| format!("not a valid JSON Schema: {e}"))?;
        Ok(JsonSchema { document, validator })
    }

    /// The first place where `value` breaks the schema, named below `root`
    /// (`input.role`, `result.items[2]`), and what is wrong there.
    pub fn check(&self, root: &str, value: &Value) -> Result<(), InvalidInput> {
        let Some(error) = self.validator.iter_errors(value).next() else {
            return Ok(());
        };
        let mut field = path_below(root, value, error.instance_path.as_str());
        if let jsonschema::error::ValidationErrorKind::Required { property } = &error.kind {
            if let Some(property) = property.as_str() {
                field = format!("{field}.{property}");
            }
        }
        Err(InvalidInput::new(&field, error.to_string()))
    }

    /// Whether `value` satisfies the schema.
    pub fn accepts(&self, value: &Value) -> bool {
        self.validator.is_valid(value)
    }
}

/// The JSON pointer `pointer` into `value` as a path below `root`: array
/// items as `[i]`, object members as `.name`.
fn path_below(root: &str, value: &Value, pointer: &str) -> String {
    let mut path = root.to_owned();
    let mut here = Some(value);
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        here = match here {
            Some(Value::Array(items)) => {
                path.push_str(&format!("[{token}]"));
                token.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            other => {
                path.push('.');
                path.push_str(&token);
                other.and_then(|v| v.get(&token))
            }
        };
    }
    path
}

#[cfg(test)]
mod tests {
    use rocket::serde::json::json;

    use super::*;

    fn schema(document: Value) -> JsonSchema {
        match JsonSchema::load(&SchemaSource::Inline(document)) {
            Ok(schema) => schema,
            Err(e) => panic!("{e}"),
        }
    }

    fn field_of(checked: Result<(), InvalidInput>) -> String {
        checked.err().map(|unfit| unfit.field).unwrap_or_default()
    }

    #[test]
    fn the_failing_path_is_named() {
        let schema = schema(json!({
            "type": "object",
            "required": ["role"],
            "properties": {
                "role": {"type": "string"},
                "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
            },
        }));
        assert_eq!(field_of(schema.check("input", &json!({}))), "input.role");
        let nested = json!({"role": "x", "items": [{"n": 1}, {"n": "two"}]});
        assert_eq!(field_of(schema.check("input", &nested)), "input.items[1].n");
        assert!(schema.check("input", &json!({"role": "x"})).is_ok());
    }

    #[test]
    fn a_schema_that_is_not_one_is_refused() {
        let refused = JsonSchema::load(&SchemaSource::Inline(json!({"type": "nonsense"})));
        assert!(refused.is_err());
    }
}
