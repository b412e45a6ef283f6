//! Reading a JSON body, a form or a query into a type while naming every field that does not
//! fit, not only the first: serde stops at the first error, so after one the field at fault is
//! set aside (a wrong value removed, a missing one filled with a stand-in of some type) and the
//! rest is read again, a bounded number of times.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// One field that does not fit, with the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as a path into the body (`redirect_uris[0]`) or the query parameter's name.
    #[schema(example = "email")]
    pub field: String,
    /// What is wrong with it.
    #[schema(example = "is required")]
    pub message: String,
}

impl FieldError {
    /// The error of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// At most this many reads of one input: enough for every field of any request body here.
const MAX_ATTEMPTS: usize = 48;

/// What one failed read says.
enum Failure {
    /// The value of the top-level field `key` does not fit (`path` leads to it).
    Value {
        key: String,
        path: String,
        message: String,
    },
    /// The required field `key` is absent.
    Missing(String),
    /// `key` is not a field of the type.
    Unknown(String),
    /// The input as a whole does not fit.
    Whole(String),
}

fn between_backticks(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let end = start + text[start..].find('`')?;
    Some(&text[start..end])
}

fn classify(path: &serde_path_to_error::Path, message: String) -> Failure {
    use serde_path_to_error::Segment;
    match path.iter().next() {
        Some(Segment::Map { key }) => Failure::Value {
            key: key.clone(),
            path: path.to_string(),
            message,
        },
        Some(_) => Failure::Whole(message),
        None => {
            let named = between_backticks(&message).map(str::to_owned);
            match named {
                Some(key) if message.starts_with("missing field") => Failure::Missing(key),
                Some(key) if message.starts_with("unknown field") => Failure::Unknown(key),
                _ => Failure::Whole(message),
            }
        }
    }
}

/// An input read again and again: fields can be removed and stand-ins put in their place.
trait Input: Clone {
    fn read<T: DeserializeOwned>(&self) -> Result<T, Failure>;
    fn remove(&mut self, key: &str);
    /// Puts the `attempt`th stand-in for `key`; false when there is none left.
    fn stand_in(&mut self, key: &str, attempt: usize) -> bool;
}

/// Reads `input` as `T`; when that fails, every field at fault.
fn read_all<T: DeserializeOwned, I: Input>(mut input: I) -> Result<T, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut named = HashSet::new();
    let mut stand_ins: HashMap<String, usize> = HashMap::new();
    for _ in 0..MAX_ATTEMPTS {
        let failure = match input.read::<T>() {
            Ok(value) if errors.is_empty() => return Ok(value),
            Ok(_) => return Err(errors),
            Err(failure) => failure,
        };
        match failure {
            Failure::Value { key, .. } if stand_ins.contains_key(&key) => {
                let attempt = stand_ins.entry(key.clone()).or_default();
                *attempt += 1;
                if !input.stand_in(&key, *attempt) {
                    break;
                }
            }
            Failure::Value { key, path, message } => {
                named.insert(key.clone());
                errors.push(FieldError::new(path, message));
                input.remove(&key);
            }
            Failure::Missing(key) => {
                if named.insert(key.clone()) {
                    errors.push(FieldError::new(key.clone(), "is required"));
                }
                stand_ins.insert(key.clone(), 0);
                if !input.stand_in(&key, 0) {
                    break;
                }
            }
            Failure::Unknown(key) => {
                if named.insert(key.clone()) {
                    errors.push(FieldError::new(
                        key.clone(),
                        "is not a field of this request",
                    ));
                }
                input.remove(&key);
            }
            Failure::Whole(message) => {
                if errors.is_empty() {
                    errors.push(FieldError::new("body", message));
                }
                break;
            }
        }
    }
    Err(errors)
}

/// A JSON object read field by field.
#[derive(Clone)]
struct JsonInput(Value);

impl Input for JsonInput {
    fn read<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_path_to_error::deserialize::<_, T>(&self.0)
            .map_err(|error| classify(error.path(), error.inner().to_string()))
    }

    fn remove(&mut self, key: &str) {
        if let Value::Object(map) = &mut self.0 {
            map.remove(key);
        }
    }

    fn stand_in(&mut self, key: &str, attempt: usize) -> bool {
        let value = match attempt {
            0 => Value::String(String::new()),
            1 => Value::from(0),
            2 => Value::Bool(false),
            3 => Value::Array(Vec::new()),
            4 => Value::Object(Map::new()),
            _ => return false,
        };
        match &mut self.0 {
            Value::Object(map) => {
                map.insert(key.to_owned(), value);
                true
            }
            _ => false,
        }
    }
}

/// Form or query pairs read field by field.
#[derive(Clone)]
struct PairsInput(Vec<(String, String)>);

impl Input for PairsInput {
    fn read<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        let encoded = serde_urlencoded::to_string(&self.0)
            .map_err(|error| Failure::Whole(error.to_string()))?;
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(deserializer)
            .map_err(|error| classify(error.path(), error.inner().to_string()))
    }

    fn remove(&mut self, key: &str) {
        self.0.retain(|(name, _)| name != key);
    }

    fn stand_in(&mut self, key: &str, attempt: usize) -> bool {
        let value = match attempt {
            0 => "",
            1 => "0",
            2 => "false",
            _ => return false,
        };
        self.remove(key);
        self.0.push((key.to_owned(), value.to_owned()));
        true
    }
}

/// Reads a JSON body (already known to be valid JSON) as `T`, naming every field at fault.
pub fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Vec<FieldError>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => from_value(value),
        Err(error) => Err(vec![FieldError::new("body", error.to_string())]),
    }
}

/// Reads a JSON value as `T`, naming every field at fault.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Vec<FieldError>> {
    read_all(JsonInput(value))
}

/// Reads an `application/x-www-form-urlencoded` body or a query string as `T`, naming every
/// field at fault.
pub fn from_urlencoded<T: DeserializeOwned>(encoded: &[u8]) -> Result<T, Vec<FieldError>> {
    let pairs = form_urlencoded::parse(encoded)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    read_all(PairsInput(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Signup {
        email: String,
        age: u8,
        name: Option<String>,
        tags: Vec<String>,
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|error| error.field.as_str()).collect()
    }

    #[test]
    fn every_field_at_fault_is_named_once() {
        let errors = from_json::<Signup>(br#"{"age":"x","name":3}"#).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["age", "name", "email", "tags"],
            "{errors:?}"
        );
        assert_eq!(errors[2].message, "is required");
        assert!(errors[0].message.contains("expected u8"), "{errors:?}");
    }

    #[test]
    fn a_value_that_fits_reads_as_before() {
        let signup: Signup = from_json(br#"{"email":"a@b.c","age":3,"tags":[]}"#).unwrap();
        assert_eq!(signup.age, 3);
        assert!(from_json::<Signup>(b"[1]").is_err());
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Paging {
        page: Option<u32>,
        per_page: Option<u32>,
        since: Option<chrono::DateTime<chrono::Utc>>,
    }

    #[test]
    fn every_query_parameter_at_fault_is_named() {
        let errors = from_urlencoded::<Paging>(b"page=-1&per_page=2&since=garbage").unwrap_err();
        assert_eq!(fields(&errors), ["page", "since"], "{errors:?}");
        let paging: Paging = from_urlencoded(b"page=2").unwrap();
        assert_eq!(paging.page, Some(2));
    }
}
