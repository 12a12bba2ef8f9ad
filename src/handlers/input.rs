//! Reading an operation's input field by field, so that an error names the
//! field that is wrong.

use rocket::serde::json::serde_json::Map;
use rocket::serde::json::Value;

/// Input that does not fit the operation type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The input object, with the names it may hold.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// `input` must be an object holding only `allowed` names.
    pub fn of(input: &'a Value, allowed: &[&str]) -> Result<Self, InvalidInput> {
        let map = input
            .as_object()
            .ok_or_else(|| InvalidInput::new("input", "must be a JSON object"))?;
        if let Some(unknown) = map.keys().find(|key| !allowed.contains(&key.as_str())) {
            let message = format!("unknown field; expected one of: {}", allowed.join(", "));
            return Err(InvalidInput::new(unknown, message));
        }
        Ok(Self { map })
    }

    /// A field given as `null` counts as absent.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|value| !value.is_null())
    }

    pub fn required_text(&self, name: &str, max_chars: usize) -> Result<String, InvalidInput> {
        self.optional_text(name, max_chars)?
            .ok_or_else(|| InvalidInput::new(name, "is required"))
    }

    /// Trimmed; an empty string is refused.
    pub fn optional_text(&self, name: &str, max_chars: usize) -> Result<Option<String>, InvalidInput> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let text = value
            .as_str()
            .ok_or_else(|| InvalidInput::new(name, "must be a string"))?;
        check_text(name, text, max_chars)?;
        Ok(Some(text.trim().to_owned()))
    }

    /// One of `choices`, or `default` when absent.
    pub fn choice(
        &self,
        name: &str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, InvalidInput> {
        let Some(value) = self.get(name) else {
            return Ok(default);
        };
        value
            .as_str()
            .and_then(|given| choices.iter().copied().find(|choice| *choice == given))
            .ok_or_else(|| InvalidInput::new(name, format!("must be one of: {}", choices.join(", "))))
    }

    /// Trimmed; blank items are dropped.
    pub fn text_list(&self, name: &str, max_items: usize) -> Result<Vec<String>, InvalidInput> {
        let Some(value) = self.get(name) else {
            return Ok(Vec::new());
        };
        let items = value
            .as_array()
            .ok_or_else(|| InvalidInput::new(name, "must be a list of strings"))?;
        if items.len() > max_items {
            return Err(InvalidInput::new(
                name,
                format!("must hold at most {max_items} items"),
            ));
        }
        let mut texts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let text = item
                .as_str()
                .ok_or_else(|| InvalidInput::new(&format!("{name}[{i}]"), "must be a string"))?
                .trim();
            if !text.is_empty() {
                texts.push(text.to_owned());
            }
        }
        Ok(texts)
    }

    /// A whole number, written `5` or `5.0` (both are JSON Schema integers).
    pub fn optional_u64(&self, name: &str, max: u64) -> Result<Option<u64>, InvalidInput> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let whole = value.as_u64().or_else(|| {
            let float = value.as_f64()?;
            (float.fract() == 0.0 && (0.0..=max as f64).contains(&float)).then_some(float as u64)
        });
        match whole {
            Some(n) if n <= max => Ok(Some(n)),
            _ => Err(InvalidInput::new(
                name,
                format!("must be a whole number from 0 to {max}"),
            )),
        }
    }

    /// Any JSON value, as given (`null` when absent).
    pub fn any(&self, name: &str) -> Value {
        self.get(name).cloned().unwrap_or(Value::Null)
    }
}

/// Not blank, and at most `max_chars` before trimming: the rules the
/// OpenAPI document states as `pattern: \S` and `maxLength`.
fn check_text(field: &str, text: &str, max_chars: usize) -> Result<(), InvalidInput> {
    if text.trim().is_empty() {
        return Err(InvalidInput::new(field, "must not be blank"));
    }
    if text.chars().count() > max_chars {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rocket::serde::json::json;

    use super::*;

    #[test]
    fn an_unknown_field_is_named() {
        let input = json!({"role": "x", "dificulty": "senior"});
        let error = Fields::of(&input, &["role", "difficulty"]).err();
        assert_eq!(error.map(|e| e.field), Some("dificulty".to_owned()));
    }

    #[test]
    fn a_list_item_of_the_wrong_type_is_named_with_its_index() {
        let input = json!({"previous_questions": ["a", 3]});
        let fields = Fields::of(&input, &["previous_questions"]).unwrap_or_else(|e| panic!("{e}"));
        let error = fields.text_list("previous_questions", 10).err();
        assert_eq!(error.map(|e| e.field), Some("previous_questions[1]".to_owned()));
    }

    #[test]
    fn null_counts_as_absent_and_takes_the_default() {
        let input = json!({"difficulty": null});
        let fields = Fields::of(&input, &["difficulty"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fields.choice("difficulty", &["junior", "middle"], "middle"),
            Ok("middle")
        );
    }

    #[test]
    fn blank_text_is_refused() {
        let input = json!({"role": "   "});
        let fields = Fields::of(&input, &["role"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(fields.required_text("role", 10).is_err());
    }
}
