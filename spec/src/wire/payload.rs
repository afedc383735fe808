//! Conversions between a handler's own types and a payload [`Value`], through serde.
//!
//! The conversion is direct (no encoding in between), so it keeps everything a [`Value`] holds:
//! byte strings stay [`Value::Bytes`], extension values stay [`Value::Ext`], and every integer
//! from `i128::MIN` to `i128::MAX` reaches an `i64`, `u64` or `i128` field as a number, so a
//! TypeScript `BigInt` arrives as one. Like a binary format, it is not human-readable: types that
//! serialize differently for humans (`IpAddr`, `SystemTime`..) take their compact form.
//!
//! Data model: structs and maps are [`Value::Map`] (map keys must be strings, chars or integers;
//! integers are written as their decimal text), sequences and tuples are [`Value::Array`],
//! `None` and `()` are [`Value::Null`], a unit enum variant is its name, and any other variant is
//! a one-entry map from its name to its content (serde's "externally tagged" form, as
//! `serde_json` writes it).

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde::ser::{self, Serialize, Serializer};
use serde::{Deserialize, forward_to_deserialize_any};

use super::bigint::{self, BIGINT_EXT};
use super::value::{MSGPACK_EXT, Map, Value};

/// Why a value could not be converted, and where in the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError {
    /// Path segments from the innermost outwards, as the error travels up.
    segments: Vec<String>,
    message: String,
}

impl PayloadError {
    fn new(message: impl fmt::Display) -> PayloadError {
        PayloadError {
            segments: Vec::new(),
            message: message.to_string(),
        }
    }

    fn within(mut self, segment: impl Into<String>) -> PayloadError {
        self.segments.push(segment.into());
        self
    }

    /// Where the problem is, as a JSON Pointer (RFC 6901): `""` for the payload itself,
    /// `"/items/0/name"` for a field deeper in. This is the form River's validation errors use.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for segment in self.segments.iter().rev() {
            path.push('/');
            path.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        }
        path
    }

    /// What is wrong, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at `{}`: {}", self.path(), self.message)
        }
    }
}

impl std::error::Error for PayloadError {}

impl ser::Error for PayloadError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PayloadError::new(msg)
    }
}

impl de::Error for PayloadError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PayloadError::new(msg)
    }
}

/// Converts `value` into a payload.
pub fn to_payload<T: Serialize + ?Sized>(value: &T) -> Result<Value, PayloadError> {
    value.serialize(ValueSerializer)
}

/// Converts a payload into `T`. On failure the error names the path of the offending part.
pub fn from_payload<'de, T: Deserialize<'de>>(value: &'de Value) -> Result<T, PayloadError> {
    T::deserialize(ValueDeserializer(value))
}

// ----- Serializer: T -> Value -------------------------------------------------------------------

struct ValueSerializer;

fn int(n: impl Into<i128>) -> Value {
    Value::Int(n.into())
}

fn decimal(n: impl fmt::Display) -> String {
    n.to_string()
}

/// Serializer methods for integer types that all convert with one function.
macro_rules! serialize_with {
    ($convert:ident => $ok:ty: $($method:ident: $t:ty),* $(,)?) => {$(
        fn $method(self, v: $t) -> Result<$ok, PayloadError> {
            Ok($convert(v))
        }
    )*};
}

impl Serializer for ValueSerializer {
    type Ok = Value;
    type Error = PayloadError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantBuilder<SeqBuilder>;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantBuilder<MapBuilder>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<Value, PayloadError> {
        Ok(Value::Bool(v))
    }
    serialize_with! {
        int => Value:
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
    }
    fn serialize_u128(self, v: u128) -> Result<Value, PayloadError> {
        i128::try_from(v).map(Value::Int).map_err(|_| {
            PayloadError::new(format_args!(
                "integer {v} is outside the range of a payload integer (i128)"
            ))
        })
    }
    fn serialize_f32(self, v: f32) -> Result<Value, PayloadError> {
        Ok(Value::Float(f64::from(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, PayloadError> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, PayloadError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, PayloadError> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, PayloadError> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, PayloadError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, PayloadError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, PayloadError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, PayloadError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, PayloadError> {
        Ok(Value::String(variant.to_owned()))
    }

    /// `_ExtStruct` is how [`Value`] (and rmp-serde's own types) write an extension value: a
    /// newtype around the pair (type, data). Type 0 is River's big integer.
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value, PayloadError> {
        let inner = value.serialize(ValueSerializer)?;
        if name != MSGPACK_EXT {
            return Ok(inner);
        }
        let ext = match inner {
            Value::Array(pair) => match <[Value; 2]>::try_from(pair) {
                Ok([Value::Int(tag), Value::Bytes(data)]) => {
                    i8::try_from(tag).ok().map(|tag| (tag, data))
                }
                _ => None,
            },
            _ => None,
        };
        match ext {
            Some((BIGINT_EXT, data)) => bigint::from_ext_data(&data)
                .map(Value::Int)
                .map_err(PayloadError::new),
            Some((tag, data)) => Ok(Value::Ext(tag, data)),
            None => Err(PayloadError::new(format_args!(
                "`{MSGPACK_EXT}` must hold an extension type (i8) and its data (bytes)"
            ))),
        }
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, PayloadError> {
        let inner = value.serialize(ValueSerializer)?;
        Ok(Value::Map(std::iter::once((variant, inner)).collect()))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, PayloadError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0).min(1024))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, PayloadError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, PayloadError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantBuilder<SeqBuilder>, PayloadError> {
        Ok(VariantBuilder {
            variant,
            inner: self.serialize_seq(Some(len))?,
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder, PayloadError> {
        Ok(MapBuilder {
            map: Map::with_capacity(len.unwrap_or(0).min(1024)),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapBuilder, PayloadError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantBuilder<MapBuilder>, PayloadError> {
        Ok(VariantBuilder {
            variant,
            inner: self.serialize_map(Some(len))?,
        })
    }
}

struct SeqBuilder(Vec<Value>);

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PayloadError> {
        let index = self.0.len();
        let value = value
            .serialize(ValueSerializer)
            .map_err(|e| e.within(index.to_string()))?;
        self.0.push(value);
        Ok(())
    }
}

/// The three sequence traits of serde, which a [`SeqBuilder`] serves alike.
macro_rules! seq_builder {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for SeqBuilder {
            type Ok = Value;
            type Error = PayloadError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PayloadError> {
                self.push(value)
            }
            fn end(self) -> Result<Value, PayloadError> {
                Ok(Value::Array(self.0))
            }
        }
    )*};
}

seq_builder! {
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
}

struct MapBuilder {
    map: Map,
    key: Option<String>,
}

impl MapBuilder {
    fn entry<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<(), PayloadError> {
        let value = value
            .serialize(ValueSerializer)
            .map_err(|e| e.within(key.clone()))?;
        self.map.insert(key, value);
        Ok(())
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = PayloadError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), PayloadError> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PayloadError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| PayloadError::new("a map value came without its key"))?;
        self.entry(key, value)
    }
    fn end(self) -> Result<Value, PayloadError> {
        Ok(Value::Map(self.map))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = PayloadError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), PayloadError> {
        self.entry(key.to_owned(), value)
    }
    fn end(self) -> Result<Value, PayloadError> {
        Ok(Value::Map(self.map))
    }
}

/// A tuple or struct variant: its content, then wrapped as `{variant: content}`.
struct VariantBuilder<B> {
    variant: &'static str,
    inner: B,
}

impl<B> VariantBuilder<B> {
    fn wrap(variant: &'static str, content: Value) -> Value {
        Value::Map(std::iter::once((variant, content)).collect())
    }
}

impl ser::SerializeTupleVariant for VariantBuilder<SeqBuilder> {
    type Ok = Value;
    type Error = PayloadError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PayloadError> {
        self.inner.push(value).map_err(|e| e.within(self.variant))
    }
    fn end(self) -> Result<Value, PayloadError> {
        Ok(Self::wrap(self.variant, Value::Array(self.inner.0)))
    }
}

impl ser::SerializeStructVariant for VariantBuilder<MapBuilder> {
    type Ok = Value;
    type Error = PayloadError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), PayloadError> {
        self.inner
            .entry(key.to_owned(), value)
            .map_err(|e| e.within(self.variant))
    }
    fn end(self) -> Result<Value, PayloadError> {
        Ok(Self::wrap(self.variant, Value::Map(self.inner.map)))
    }
}

/// Map keys: strings, and what reads naturally as one (a char, an integer, a unit variant).
struct KeySerializer;

fn not_a_key<T>(kind: &str) -> Result<T, PayloadError> {
    Err(PayloadError::new(format_args!(
        "a map key must be a string, found {kind}"
    )))
}

impl Serializer for KeySerializer {
    type Ok = String;
    type Error = PayloadError;
    type SerializeSeq = ser::Impossible<String, PayloadError>;
    type SerializeTuple = ser::Impossible<String, PayloadError>;
    type SerializeTupleStruct = ser::Impossible<String, PayloadError>;
    type SerializeTupleVariant = ser::Impossible<String, PayloadError>;
    type SerializeMap = ser::Impossible<String, PayloadError>;
    type SerializeStruct = ser::Impossible<String, PayloadError>;
    type SerializeStructVariant = ser::Impossible<String, PayloadError>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_str(self, v: &str) -> Result<String, PayloadError> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String, PayloadError> {
        Ok(v.to_string())
    }
    serialize_with! {
        decimal => String:
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128,
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, PayloadError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, PayloadError> {
        value.serialize(self)
    }

    fn serialize_bool(self, _: bool) -> Result<String, PayloadError> {
        not_a_key("a boolean")
    }
    fn serialize_f32(self, _: f32) -> Result<String, PayloadError> {
        not_a_key("a float")
    }
    fn serialize_f64(self, _: f64) -> Result<String, PayloadError> {
        not_a_key("a float")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, PayloadError> {
        not_a_key("bytes")
    }
    fn serialize_none(self) -> Result<String, PayloadError> {
        not_a_key("null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, PayloadError> {
        not_a_key("an option")
    }
    fn serialize_unit(self) -> Result<String, PayloadError> {
        not_a_key("null")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, PayloadError> {
        not_a_key("null")
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, PayloadError> {
        not_a_key("an enum variant with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, PayloadError> {
        not_a_key("a sequence")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, PayloadError> {
        not_a_key("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, PayloadError> {
        not_a_key("a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, PayloadError> {
        not_a_key("an enum variant with data")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, PayloadError> {
        not_a_key("a map")
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, PayloadError> {
        not_a_key("a struct")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, PayloadError> {
        not_a_key("an enum variant with data")
    }
}

// ----- Deserializer: &Value -> T ----------------------------------------------------------------

#[derive(Clone, Copy)]
struct ValueDeserializer<'de>(&'de Value);

/// Offers an integer the way a self-describing format would: as the narrowest of `u64`, `i64`
/// and `i128` that holds it, so that any integer field whose range fits takes it.
fn visit_int<'de, V: Visitor<'de>>(n: i128, visitor: V) -> Result<V::Value, PayloadError> {
    if let Ok(u) = u64::try_from(n) {
        visitor.visit_u64(u)
    } else if let Ok(i) = i64::try_from(n) {
        visitor.visit_i64(i)
    } else {
        visitor.visit_i128(n)
    }
}

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = PayloadError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(n) => visit_int(*n, visitor),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Bytes(b) => visitor.visit_borrowed_bytes(b),
            Value::Array(items) => visitor.visit_seq(Elements {
                items: items.iter(),
                index: 0,
            }),
            Value::Map(map) => visitor.visit_map(Entries {
                entries: map.iter(),
                current: None,
            }),
            Value::Ext(tag, data) => visitor.visit_newtype_struct(ExtDeserializer(*tag, data)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        match self.0 {
            Value::Ext(tag, data) if name == MSGPACK_EXT => {
                visitor.visit_newtype_struct(ExtDeserializer(*tag, data))
            }
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        match self.0 {
            Value::String(name) => visitor.visit_enum(Variant {
                name,
                content: None,
            }),
            Value::Map(map) if map.len() == 1 => {
                let (name, content) = map.iter().next().ok_or_else(|| {
                    PayloadError::new("an enum must be a string or a map with one entry")
                })?;
                visitor
                    .visit_enum(Variant {
                        name,
                        content: Some(content),
                    })
                    .map_err(|e| e.within(name))
            }
            other => Err(de::Error::invalid_type(
                unexpected(other),
                &"an enum variant",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// How a value shows in serde's "invalid type" messages.
fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Int(n) => match (u64::try_from(*n), i64::try_from(*n)) {
            (Ok(u), _) => de::Unexpected::Unsigned(u),
            (_, Ok(i)) => de::Unexpected::Signed(i),
            _ => de::Unexpected::Other("a 128-bit integer"),
        },
        Value::Float(f) => de::Unexpected::Float(*f),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Bytes(b) => de::Unexpected::Bytes(b),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Map(_) => de::Unexpected::Map,
        Value::Ext(..) => de::Unexpected::Other("an extension value"),
    }
}

struct Elements<'de> {
    items: std::slice::Iter<'de, Value>,
    index: usize,
}

impl<'de> SeqAccess<'de> for Elements<'de> {
    type Error = PayloadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, PayloadError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ValueDeserializer(item))
            .map(Some)
            .map_err(|e| e.within(index.to_string()))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries<'de, I> {
    entries: I,
    current: Option<(&'de str, &'de Value)>,
}

impl<'de, I: ExactSizeIterator<Item = (&'de str, &'de Value)>> MapAccess<'de> for Entries<'de, I> {
    type Error = PayloadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, PayloadError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.current = Some((key, value));
        seed.deserialize(KeyDeserializer(key))
            .map(Some)
            .map_err(|e| e.within(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, PayloadError> {
        let (key, value) = self
            .current
            .take()
            .ok_or_else(|| PayloadError::new("a map value was asked for before its key"))?;
        seed.deserialize(ValueDeserializer(value))
            .map_err(|e| e.within(key))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A map key: a string, read as a number when the type asks for one (the other half of what
/// [`KeySerializer`] writes for integer keys).
struct KeyDeserializer<'de>(&'de str);

macro_rules! parse_key {
    ($($method:ident => $visit:ident: $t:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
            match self.0.parse::<$t>() {
                Ok(n) => visitor.$visit(n),
                Err(_) => Err(de::Error::invalid_type(
                    de::Unexpected::Str(self.0),
                    &visitor,
                )),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for KeyDeserializer<'de> {
    type Error = PayloadError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        visitor.visit_borrowed_str(self.0)
    }

    parse_key! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        visitor.visit_enum(Variant {
            name: self.0,
            content: None,
        })
    }

    forward_to_deserialize_any! {
        bool f32 f64 char str string bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// An enum variant: a name, and for variants with data, its content.
struct Variant<'de> {
    name: &'de str,
    content: Option<&'de Value>,
}

impl<'de> EnumAccess<'de> for Variant<'de> {
    type Error = PayloadError;
    type Variant = Self;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self), PayloadError> {
        let name = de::value::BorrowedStrDeserializer::<PayloadError>::new(self.name);
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'de> {
    type Error = PayloadError;

    fn unit_variant(self) -> Result<(), PayloadError> {
        match self.content {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(other),
                &"a unit variant",
            )),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, PayloadError> {
        seed.deserialize(ValueDeserializer(self.data("a variant with data")?))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        ValueDeserializer(self.data("a tuple variant")?).deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        ValueDeserializer(self.data("a struct variant")?).deserialize_map(visitor)
    }
}

impl<'de> Variant<'de> {
    /// The content of a variant that must have one (`expected` says which kind).
    fn data(&self, expected: &'static str) -> Result<&'de Value, PayloadError> {
        self.content
            .ok_or_else(|| de::Error::invalid_type(de::Unexpected::UnitVariant, &expected))
    }
}

/// An extension value as rmp-serde presents one: the pair (type, data).
struct ExtDeserializer<'de>(i8, &'de [u8]);

impl<'de> Deserializer<'de> for ExtDeserializer<'de> {
    type Error = PayloadError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        visitor.visit_seq(ExtParts {
            tag: Some(self.0),
            data: Some(self.1),
        })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

struct ExtParts<'de> {
    tag: Option<i8>,
    data: Option<&'de [u8]>,
}

impl<'de> SeqAccess<'de> for ExtParts<'de> {
    type Error = PayloadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, PayloadError> {
        if let Some(tag) = self.tag.take() {
            let tag: de::value::I8Deserializer<PayloadError> = tag.into_deserializer();
            return seed.deserialize(tag).map(Some);
        }
        if let Some(data) = self.data.take() {
            return seed
                .deserialize(de::value::BorrowedBytesDeserializer::<PayloadError>::new(
                    data,
                ))
                .map(Some);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_json_pointers() {
        let e = PayloadError::new("bad")
            .within("x/y~z")
            .within("0")
            .within("items");
        assert_eq!(e.path(), "/items/0/x~1y~0z");
        assert_eq!(e.to_string(), "at `/items/0/x~1y~0z`: bad");
        assert_eq!(PayloadError::new("bad").path(), "");
        assert_eq!(PayloadError::new("bad").to_string(), "bad");
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Shape {
        Dot,
        Circle(u32),
        Pair(u32, u32),
        Rect { w: u32, h: u32 },
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        name: String,
        maybe: Option<u8>,
        nothing: (),
        shapes: Vec<Shape>,
        by_id: std::collections::BTreeMap<u32, bool>,
        addr: std::net::Ipv4Addr,
    }

    #[test]
    fn data_model() {
        let sample = Sample {
            name: "s".into(),
            maybe: None,
            nothing: (),
            shapes: vec![
                Shape::Dot,
                Shape::Circle(1),
                Shape::Pair(2, 3),
                Shape::Rect { w: 4, h: 5 },
            ],
            by_id: [(7, true)].into_iter().collect(),
            addr: std::net::Ipv4Addr::LOCALHOST,
        };
        let value = to_payload(&sample).unwrap();
        let map = |entries: Vec<(&str, Value)>| Value::Map(entries.into_iter().collect());
        let ints = |ns: &[i128]| Value::Array(ns.iter().map(|n| Value::Int(*n)).collect());
        assert_eq!(
            value,
            map(vec![
                ("name", Value::from("s")),
                ("maybe", Value::Null),
                ("nothing", Value::Null),
                (
                    "shapes",
                    Value::Array(vec![
                        Value::from("Dot"),
                        map(vec![("Circle", Value::Int(1))]),
                        map(vec![("Pair", ints(&[2, 3]))]),
                        map(vec![(
                            "Rect",
                            map(vec![("w", Value::Int(4)), ("h", Value::Int(5))])
                        )]),
                    ])
                ),
                ("by_id", map(vec![("7", Value::Bool(true))])),
                ("addr", ints(&[127, 0, 0, 1])),
            ])
        );
        assert_eq!(from_payload::<Sample>(&value).unwrap(), sample);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Signed {
        #[allow(dead_code)]
        signed: i64,
    }

    #[test]
    fn integer_ranges() {
        assert_eq!(
            to_payload(&u128::MAX).unwrap_err().to_string(),
            format!(
                "integer {} is outside the range of a payload integer (i128)",
                u128::MAX
            )
        );
        assert_eq!(
            from_payload::<u128>(&Value::Int(i128::MAX)).unwrap(),
            i128::MAX.unsigned_abs()
        );
        assert_eq!(
            from_payload::<i128>(&Value::Int(i128::MIN)).unwrap(),
            i128::MIN
        );
        assert_eq!(
            from_payload::<f64>(&Value::Int(3)).unwrap().to_bits(),
            3.0f64.to_bits()
        );
        let too_big: Value = [("signed", Value::Int(1 << 63))]
            .into_iter()
            .collect::<Map>()
            .into();
        let err = from_payload::<Signed>(&too_big).unwrap_err();
        assert_eq!(err.path(), "/signed");
        assert_eq!(
            err.to_string(),
            "at `/signed`: invalid value: integer `9223372036854775808`, expected i64"
        );
    }

    #[test]
    fn extension_values_pass_through_and_type_0_is_an_integer() {
        let ext = Value::Ext(-1, vec![1, 2, 3, 4]);
        assert_eq!(to_payload(&ext).unwrap(), ext);
        assert_eq!(from_payload::<Value>(&ext).unwrap(), ext);
        let big = Value::Int(i128::MIN);
        assert_eq!(to_payload(&big).unwrap(), big);
        assert_eq!(from_payload::<Value>(&big).unwrap(), big);
        assert_eq!(
            to_payload(&Value::Ext(BIGINT_EXT, b"\x07".to_vec())).unwrap(),
            Value::Int(7)
        );
    }
}
