//! Reading client enums that serde's derive would buffer (`#[serde(tag = "type")]`,
//! `#[serde(untagged)]`) from a parsed [`Value`] instead.
//!
//! Those derives go through serde's private `Content` buffer and instantiate every visitor of
//! every variant for each deserializer they meet: the four Anthropic enums alone were ~90 KB of
//! the component. Read by hand from a `Value`, they cost a fraction of that. The rules are the
//! derives': the tag is `type`; unknown fields are ignored; a missing required field is
//! ``missing field `x` ``; a field of the wrong type gets serde's own message (each field is read
//! by its type's `Deserialize`). Differences, all on malformed input only: a repeated key counts
//! once (the last wins) instead of ``duplicate field``, a non-string tag is refused rather than
//! read as a variant index, and a tagged enum given as an array is refused.

use serde::de::{Deserialize, Deserializer, Error as _, Unexpected};
use serde_json::{Error, Map, Value};

/// An object's fields, being taken out one by one.
pub(crate) type Fields = Map<String, Value>;

/// Reads a `T` through a [`Value`] with `read` (a `Deserialize` impl's body).
pub(crate) fn via_value<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    read: fn(Value) -> Result<T, Error>,
) -> Result<T, D::Error> {
    let value = Value::deserialize(deserializer)?;
    read(value).map_err(D::Error::custom)
}

/// An internally tagged enum's object and its `type`, taken out of it.
pub(crate) fn tagged(value: Value, expecting: &'static str) -> Result<(String, Fields), Error> {
    let mut fields = match value {
        Value::Object(fields) => fields,
        other => return Err(Error::invalid_type(unexpected(&other), &expecting)),
    };
    match fields.remove("type") {
        Some(Value::String(tag)) => Ok((tag, fields)),
        Some(other) => Err(Error::invalid_type(unexpected(&other), &"variant identifier")),
        None => Err(Error::missing_field("type")),
    }
}

/// A required field, read by `read`.
pub(crate) fn required<T>(
    fields: &mut Fields,
    name: &'static str,
    read: fn(Value) -> Result<T, Error>,
) -> Result<T, Error> {
    match fields.remove(name) {
        Some(value) => read(value),
        None => Err(Error::missing_field(name)),
    }
}

/// A field with `#[serde(default)]`, or an `Option`: absent is the default.
pub(crate) fn optional<T: Default>(
    fields: &mut Fields,
    name: &'static str,
    read: fn(Value) -> Result<T, Error>,
) -> Result<T, Error> {
    fields.remove(name).map_or_else(|| Ok(T::default()), read)
}

/// A string field's value.
pub(crate) fn string(value: Value) -> Result<String, Error> {
    String::deserialize(value)
}

/// An optional string field's value (`null` is `None`).
pub(crate) fn opt_string(value: Value) -> Result<Option<String>, Error> {
    Option::<String>::deserialize(value)
}

/// An optional boolean field's value (`null` is `None`).
pub(crate) fn opt_bool(value: Value) -> Result<Option<bool>, Error> {
    Option::<bool>::deserialize(value)
}

/// What serde calls a value in its "invalid type" messages.
pub(crate) fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Unexpected::Unsigned(u)
            } else if let Some(i) = n.as_i64() {
                Unexpected::Signed(i)
            } else {
                Unexpected::Float(n.as_f64().unwrap_or_default())
            }
        }
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}
