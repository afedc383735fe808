//! Typed reads of map fields, shared by the envelope and the control payloads so that both
//! report a bad field the same way.

use std::fmt;

use super::value::{Map, Value};

/// A field that is absent or holds the wrong kind of value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FieldError {
    Missing(&'static str),
    Invalid {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Missing(field) => write!(f, "missing field `{field}`"),
            FieldError::Invalid {
                field,
                expected,
                found,
            } => write!(f, "field `{field}`: expected {expected}, found {found}"),
        }
    }
}

/// Describes a value for an error message; integers show themselves, since the usual problem
/// with one is its range.
fn describe(v: &Value) -> String {
    match v {
        Value::Int(n) => format!("integer {n}"),
        other => other.kind().to_owned(),
    }
}

fn invalid(field: &'static str, expected: &'static str, found: &Value) -> FieldError {
    FieldError::Invalid {
        field,
        expected,
        found: describe(found),
    }
}

pub(super) fn into_string(v: Value, field: &'static str) -> Result<String, FieldError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(invalid(field, "a string", &other)),
    }
}

pub(super) fn into_map(v: Value, field: &'static str) -> Result<Map, FieldError> {
    match v {
        Value::Map(m) => Ok(m),
        other => Err(invalid(field, "a map", &other)),
    }
}

/// An integer that must fit `T`; floats are refused even when whole, because River's schema
/// asks for integers and a float here means the peer is confused.
pub(super) fn to_int<T: TryFrom<i128>>(
    v: &Value,
    field: &'static str,
    expected: &'static str,
) -> Result<T, FieldError> {
    match v {
        Value::Int(n) => T::try_from(*n).map_err(|_| invalid(field, expected, v)),
        other => Err(invalid(field, expected, other)),
    }
}

pub(super) fn get<'a>(map: &'a Map, field: &'static str) -> Result<&'a Value, FieldError> {
    map.get(field).ok_or(FieldError::Missing(field))
}

pub(super) fn get_str<'a>(map: &'a Map, field: &'static str) -> Result<&'a str, FieldError> {
    let v = get(map, field)?;
    v.as_str().ok_or_else(|| invalid(field, "a string", v))
}

/// A string field that some peers omit; absent and `null` read as the empty string.
pub(super) fn get_str_or_empty<'a>(
    map: &'a Map,
    field: &'static str,
) -> Result<&'a str, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(""),
        Some(v) => v.as_str().ok_or_else(|| invalid(field, "a string", v)),
    }
}

pub(super) fn get_map<'a>(map: &'a Map, field: &'static str) -> Result<&'a Map, FieldError> {
    let v = get(map, field)?;
    v.as_map().ok_or_else(|| invalid(field, "a map", v))
}

pub(super) fn get_u64(map: &Map, field: &'static str) -> Result<u64, FieldError> {
    to_int(get(map, field)?, field, "a non-negative integer")
}

pub(super) fn get_bool(map: &Map, field: &'static str) -> Result<bool, FieldError> {
    let v = get(map, field)?;
    v.as_bool().ok_or_else(|| invalid(field, "a boolean", v))
}

/// Checks that a control payload's `type` is `ty`; `quoted` is `ty` as the error shows it.
pub(super) fn expect_type(
    map: &Map,
    ty: &'static str,
    quoted: &'static str,
) -> Result<(), FieldError> {
    let found = get_str(map, "type")?;
    if found == ty {
        Ok(())
    } else {
        Err(FieldError::Invalid {
            field: "type",
            expected: quoted,
            found: format!("{found:?}"),
        })
    }
}
