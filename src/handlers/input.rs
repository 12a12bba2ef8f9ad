//! Reading an operation's input: each type's input is one struct whose
//! serde derive (unknown fields refused), OpenAPI schema and validation are
//! its one definition. The field types here carry the rules that plain
//! types do not — text that is not blank and not too long, lists of at most
//! so many items, whole numbers in a range — so that a value that breaks
//! one is refused while it is read, with the path of the field.

use std::fmt;

use rocket::serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use rocket::serde::json::Value;
use rocket::serde::{Deserialize, Serialize, Serializer};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

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

/// Reads `value` as a `T`, naming the path of the field that does not fit,
/// below `root` (`input`, say).
pub fn read<T: DeserializeOwned>(root: &str, value: Value) -> Result<T, InvalidInput> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = match path.as_str() {
            "." => root.to_owned(),
            path => format!("{root}.{path}"),
        };
        InvalidInput::new(&field, error.into_inner().to_string())
    })
}

/// The path (below `root`) of the first string of `value`, key or value,
/// that holds the NUL character: PostgreSQL stores no such string, and
/// what one backend refuses both refuse, before anything is stored.
pub fn nul_at(value: &Value, root: &str) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(|| root.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, &format!("{root}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| match key.contains('\0') {
            true => Some(root.to_owned()),
            false => nul_at(item, &format!("{root}.{key}")),
        }),
        _ => None,
    }
}

/// `null` reads as an absent field: it takes the default.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Text, trimmed, neither blank nor longer than `MAX` characters (counted
/// before trimming, as the schema's `maxLength` counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            return Err(de::Error::custom("must not be blank"));
        }
        if text.chars().count() > MAX {
            return Err(de::Error::custom(format!("must be at most {MAX} characters")));
        }
        Ok(Text(text.trim().to_owned()))
    }
}

impl<const MAX: usize> Serialize for Text<MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Unicode's White_Space, which `str::trim` removes, in ranges: a text
/// of these alone is blank. The schema spells them out, since its `\S`
/// differs (it takes U+0085 for text, U+FEFF for space).
const WHITESPACE: [(char, char); 10] = [
    ('\t', '\r'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// The schema's pattern of a text that is not blank: one character that is
/// not [`WHITESPACE`].
fn not_blank() -> String {
    let ranges: String = WHITESPACE
        .iter()
        .map(|&(from, to)| match from == to {
            true => format!("\\u{:04x}", u32::from(from)),
            false => format!("\\u{:04x}-\\u{:04x}", u32::from(from), u32::from(to)),
        })
        .collect();
    format!("[^{ranges}]")
}

/// Always inlined where used: the limits are part of the field.
impl<const MAX: usize> ToSchema for Text<MAX> {}

impl<const MAX: usize> PartialSchema for Text<MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX))
            .pattern(Some(not_blank()))
            .into()
    }
}

/// A list of at most `MAX` strings, each trimmed; blank ones are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextList<const MAX: usize>(Vec<String>);

impl<const MAX: usize> TextList<MAX> {
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for TextList<MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<String>::deserialize(deserializer)?;
        if items.len() > MAX {
            return Err(de::Error::custom(format!("must hold at most {MAX} items")));
        }
        let kept = items
            .iter()
            .map(|item| item.trim())
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(TextList(kept))
    }
}

impl<const MAX: usize> Serialize for TextList<MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Always inlined where used: the limits are part of the field.
impl<const MAX: usize> ToSchema for TextList<MAX> {}

impl<const MAX: usize> PartialSchema for TextList<MAX> {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String))
            .max_items(Some(MAX))
            .into()
    }
}

/// A whole number from 0 to `MAX`, written `5` or `5.0` (both are JSON
/// Schema integers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WholeNumber<const MAX: u64>(u64);

impl<const MAX: u64> WholeNumber<MAX> {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl<'de, const MAX: u64> Deserialize<'de> for WholeNumber<MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WholeNumberVisitor::<MAX>)
    }
}

struct WholeNumberVisitor<const MAX: u64>;

impl<const MAX: u64> WholeNumberVisitor<MAX> {
    fn checked<E: de::Error>(n: Option<u64>) -> Result<WholeNumber<MAX>, E> {
        match n {
            Some(n) if n <= MAX => Ok(WholeNumber(n)),
            _ => Err(E::custom(format!("must be a whole number from 0 to {MAX}"))),
        }
    }
}

impl<const MAX: u64> Visitor<'_> for WholeNumberVisitor<MAX> {
    type Value = WholeNumber<MAX>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number from 0 to {MAX}")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Self::checked(Some(n))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Self::checked(u64::try_from(n).ok())
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        let whole = n.fract() == 0.0 && (0.0..=MAX as f64).contains(&n);
        Self::checked(whole.then_some(n as u64))
    }
}

impl<const MAX: u64> Serialize for WholeNumber<MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

/// Always inlined where used: the limits are part of the field.
impl<const MAX: u64> ToSchema for WholeNumber<MAX> {}

impl<const MAX: u64> PartialSchema for WholeNumber<MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(MAX as f64))
            .into()
    }
}

#[cfg(test)]
mod tests {
    use rocket::serde::json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(crate = "rocket::serde", deny_unknown_fields)]
    struct Sample {
        role: Text<10>,
        #[serde(default)]
        previous: TextList<3>,
        #[serde(default)]
        delay_ms: WholeNumber<100>,
    }

    fn error_of(value: Value) -> InvalidInput {
        read::<Sample>("input", value)
            .err()
            .unwrap_or_else(|| InvalidInput::new("", "no error"))
    }

    #[test]
    fn an_unknown_field_is_named() {
        let error = error_of(json!({"role": "x", "dificulty": "senior"}));
        assert!(error.to_string().contains("dificulty"), "{error}");
    }

    #[test]
    fn a_list_item_of_the_wrong_type_is_named_with_its_index() {
        let error = error_of(json!({"role": "x", "previous": ["a", 3]}));
        assert_eq!(error.field, "input.previous[1]");
    }

    #[test]
    fn the_schema_calls_blank_exactly_what_trimming_removes() {
        let trimmed: Vec<char> = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .collect();
        let listed: Vec<char> = WHITESPACE.iter().flat_map(|&(from, to)| from..=to).collect();
        assert_eq!(trimmed, listed);
        assert!(
            not_blank().starts_with(r"[^\u0009-\u000d\u0020\u0085"),
            "{}",
            not_blank()
        );
    }

    #[test]
    fn blank_and_long_text_are_refused_and_text_is_trimmed() {
        assert_eq!(error_of(json!({"role": "   "})).message, "must not be blank");
        assert_eq!(
            error_of(json!({"role": "x".repeat(11)})).message,
            "must be at most 10 characters"
        );
        let sample = read::<Sample>("input", json!({"role": " x "})).ok();
        assert_eq!(sample.map(|s| s.role.into_string()), Some("x".to_owned()));
    }

    #[test]
    fn lists_drop_blank_items_and_refuse_too_many() {
        let sample = read::<Sample>("input", json!({"role": "x", "previous": ["a", " ", " b"]})).ok();
        assert_eq!(
            sample.map(|s| s.previous.into_vec()),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        let error = error_of(json!({"role": "x", "previous": ["a", "b", "c", "d"]}));
        assert_eq!(error.field, "input.previous");
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction_and_stay_in_range() {
        let read_delay = |delay: Value| read::<Sample>("input", json!({"role": "x", "delay_ms": delay}));
        assert_eq!(read_delay(json!(5.0)).ok().map(|s| s.delay_ms.get()), Some(5));
        for bad in [json!(-1), json!(101), json!(2.5), json!("5")] {
            assert!(read_delay(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_nul_character_is_found_wherever_it_is() {
        assert_eq!(
            nul_at(&json!({"a": ["x", "y\0"]}), "input"),
            Some("input.a[1]".to_owned())
        );
        assert_eq!(nul_at(&json!({"k\0": 1}), "input"), Some("input".to_owned()));
        assert_eq!(nul_at(&json!({"a": [1, "b", {"c": null}]}), "input"), None);
    }

    #[test]
    fn a_missing_field_is_named_at_the_root() {
        let error = error_of(json!({}));
        assert_eq!(error.field, "input");
        assert!(error.message.contains("role"), "{error}");
    }
}
