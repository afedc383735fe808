//! The dynamic value carried in a message's `payload`.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use indexmap::IndexMap;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::bigint::{self, BIGINT_EXT, BIGINT_TAG};
use super::budget::{self, ENTRY, NODE};

/// The key River's JSON codec uses to mark a byte string: `{"$t": "<base64>"}`.
pub const BYTES_TAG: &str = "$t";

/// The name rmp-serde gives msgpack extension values in serde's data model.
pub(super) const MSGPACK_EXT: &str = "_ExtStruct";

/// Base64 as browsers' `atob` reads it: padding optional and stray low bits ignored, since the
/// TypeScript peer decodes with `atob` and a stricter reader would refuse what it accepts.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A payload value: the JSON data model plus byte strings and msgpack extension values.
///
/// Both codecs carry every variant except where noted:
///
/// | variant | JSON | msgpack |
/// |---|---|---|
/// | [`Bytes`](Value::Bytes) | `{"$t": "<standard base64>"}` | `bin` |
/// | [`Int`](Value::Int) | number up to 2^53 - 1 in magnitude, beyond that `{"$b": "<decimal>"}` | `int`/`uint`, smallest form; beyond `i64::MIN..=u64::MAX` extension type 0 holding the decimal string |
/// | [`Float`](Value::Float) | number, finite only | `float 64` (a `float 32` reads as its exact `f64`) |
/// | [`Ext`](Value::Ext) | cannot be encoded | `ext` (e.g. the Python client's timestamps, type -1) |
///
/// The big-integer forms are River's own (its TypeScript codecs write a `BigInt` that way; see
/// [`BIGINT_TAG`] and [`BIGINT_EXT`]), and decoding reads them, as well as ordinary numbers, into
/// [`Int`](Value::Int): every `i128` survives both codecs. A whole JavaScript number beyond
/// 2^53 is not exact on the TypeScript side anyway, so writing it as a `BigInt` loses nothing.
///
/// Integers and floats stay distinct: `1.0` decodes as a float, `1` as an integer. TypeScript
/// peers do not make that distinction (a JavaScript number that happens to be whole is sent as an
/// integer), so a float may come back as an integer after a round trip through them.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null` / msgpack `nil`.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer. Beyond what the peer's numbers hold exactly it travels as River's big
    /// integer (see the table above).
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A UTF-8 string.
    String(String),
    /// A byte string, kept distinct from strings by both codecs.
    Bytes(Vec<u8>),
    /// An array.
    Array(Vec<Value>),
    /// A map with string keys, in insertion order.
    Map(Map),
    /// A msgpack extension value: its type tag and raw data. Type 0 ([`BIGINT_EXT`]) is River's
    /// big integer: it is written as given, but reads back as [`Int`](Value::Int).
    Ext(i8, Vec<u8>),
}

impl Value {
    /// A short description of the value's kind, for error messages ("a string", "an array").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "an array",
            Value::Map(_) => "a map",
            Value::Ext(..) => "an extension value",
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string, if this is a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is a [`Value::Int`] that fits in a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// The integer, if this is a [`Value::Int`] that fits in an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => i64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// The bytes, if this is a [`Value::Bytes`].
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::Array`].
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The map, if this is a [`Value::Map`].
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The entry `key`, if this is a [`Value::Map`] that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map().and_then(|m| m.get(key))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Value::Int(i128::from(n))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

/// Byte vectors become [`Value::Bytes`], never arrays of numbers.
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(b)
    }
}

/// Byte slices become [`Value::Bytes`], never arrays of numbers.
impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Bytes(b.to_vec())
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Map(m)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::Null, Into::into)
    }
}

/// A map with string keys that keeps insertion order.
///
/// Order is kept so that re-encoding a decoded message writes its keys as the peer wrote them.
/// Inserting a key that is already present replaces its value in place, which is also how
/// JavaScript and Python read a map with a repeated key (the last value wins).
/// Equality ignores order.
///
/// Most payload maps hold a handful of entries; up to [`Map::SMALL`] of them are kept in a
/// plain list and looked up by comparing keys, which needs no hashing and one allocation. A
/// larger map is indexed by a hash table, so a peer cannot make lookups cost more than a few
/// comparisons however many keys it sends.
#[derive(Clone, Default)]
pub struct Map(Repr);

#[derive(Clone)]
enum Repr {
    Small(Vec<(String, Value)>),
    /// Boxed, so that a map (and so every [`Value`]) stays small.
    Large(Box<IndexMap<String, Value>>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Small(Vec::new())
    }
}

impl Map {
    /// The most entries a map keeps without a hash index.
    pub const SMALL: usize = 8;

    /// An empty map.
    pub fn new() -> Self {
        Map(Repr::default())
    }

    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        if capacity <= Self::SMALL {
            Map(Repr::Small(Vec::with_capacity(capacity)))
        } else {
            Map(Repr::Large(Box::new(IndexMap::with_capacity(capacity))))
        }
    }

    /// Entries the map holds room for without growing.
    pub(super) fn capacity(&self) -> usize {
        match &self.0 {
            Repr::Small(v) => v.capacity(),
            Repr::Large(m) => m.capacity(),
        }
    }

    /// Makes room for `additional` more entries (an indexed map once past [`Map::SMALL`]).
    pub(super) fn reserve(&mut self, additional: usize) {
        match &mut self.0 {
            Repr::Small(v) if v.len() + additional <= Self::SMALL => v.reserve_exact(additional),
            Repr::Small(v) => {
                let mut indexed = IndexMap::with_capacity(v.len() + additional);
                indexed.extend(v.drain(..));
                self.0 = Repr::Large(Box::new(indexed));
            }
            Repr::Large(m) => m.reserve(additional),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Small(v) => v.len(),
            Repr::Large(m) => m.len(),
        }
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn position(v: &[(String, Value)], key: &str) -> Option<usize> {
        v.iter().position(|(k, _)| k == key)
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match &self.0 {
            Repr::Small(v) => Self::position(v, key).map(|i| &v[i].1),
            Repr::Large(m) => m.get(key),
        }
    }

    /// The value under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match &mut self.0 {
            Repr::Small(v) => Self::position(v, key).map(|i| &mut v[i].1),
            Repr::Large(m) => m.get_mut(key),
        }
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, returning the previous value. A new key goes last; an existing key
    /// keeps its position.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let (key, value) = (key.into(), value.into());
        match &mut self.0 {
            Repr::Small(v) => {
                if let Some(i) = Self::position(v, &key) {
                    return Some(std::mem::replace(&mut v[i].1, value));
                }
                if v.len() < Self::SMALL {
                    v.push((key, value));
                    return None;
                }
                let mut indexed: IndexMap<String, Value> = IndexMap::with_capacity(Self::SMALL * 2);
                indexed.extend(v.drain(..));
                indexed.insert(key, value);
                self.0 = Repr::Large(Box::new(indexed));
                None
            }
            Repr::Large(m) => m.insert(key, value),
        }
    }

    /// Removes `key`, keeping the order of the remaining entries.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        match &mut self.0 {
            Repr::Small(v) => Self::position(v, key).map(|i| v.remove(i).1),
            Repr::Large(m) => m.shift_remove(key),
        }
    }

    /// Removes `key` without keeping order, for readers that take a map apart.
    pub(super) fn take(&mut self, key: &str) -> Option<Value> {
        match &mut self.0 {
            Repr::Small(v) => Self::position(v, key).map(|i| v.swap_remove(i).1),
            Repr::Large(m) => m.swap_remove(key),
        }
    }

    /// The entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        let (small, large) = match &self.0 {
            Repr::Small(v) => (v.as_slice(), None),
            Repr::Large(m) => (&[][..], Some(&**m)),
        };
        let len = small.len() + large.map_or(0, IndexMap::len);
        ExactLen {
            inner: small.iter().map(|(k, v)| (k.as_str(), v)).chain(
                large
                    .into_iter()
                    .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v))),
            ),
            len,
        }
    }

    /// The keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.iter().map(|(k, _)| k)
    }
}

/// An iterator whose length is known though its parts' kinds do not say so.
struct ExactLen<I> {
    inner: I,
    len: usize,
}

impl<I: Iterator> Iterator for ExactLen<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next()?;
        self.len -= 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len, Some(self.len))
    }
}

impl<I: Iterator> ExactSizeIterator for ExactLen<I> {}

impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl<K: Into<String>, V: Into<Value>> Extend<(K, V)> for Map {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        match self.0 {
            Repr::Small(v) => v.into_iter(),
            Repr::Large(m) => m.into_iter().collect::<Vec<_>>().into_iter(),
        }
    }
}

/// Serializes for River's codecs.
///
/// In human-readable formats (JSON) bytes are written as `{"$t": "<standard base64>"}` and
/// integers beyond [`SAFE_INT_MAX`](bigint::SAFE_INT_MAX) in magnitude as `{"$b": "<decimal>"}`;
/// non-finite floats, extension values and maps with a `"$t"` or `"$b"` key are errors: JSON has
/// no representation for the first two, and River's JSON codec would read the last back as bytes
/// or as a big integer. In binary formats (msgpack through rmp-serde) bytes are `bin`, extension
/// values are `ext`, and integers outside `i64::MIN..=u64::MAX` are extension type 0 holding
/// their decimal string.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let human = serializer.is_human_readable();
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(n) => {
                let n = *n;
                if human && !bigint::fits_js_number(n) {
                    let mut map = serializer.serialize_map(Some(1))?;
                    map.serialize_entry(BIGINT_TAG, &n.to_string())?;
                    map.end()
                } else if let Ok(u) = u64::try_from(n) {
                    serializer.serialize_u64(u)
                } else if let Ok(i) = i64::try_from(n) {
                    serializer.serialize_i64(i)
                } else {
                    let data = bigint::ext_data(n);
                    serializer.serialize_newtype_struct(MSGPACK_EXT, &(BIGINT_EXT, RawBytes(&data)))
                }
            }
            Value::Float(f) => {
                if human && !f.is_finite() {
                    return Err(ser::Error::custom(format_args!(
                        "float {f} has no JSON representation"
                    )));
                }
                serializer.serialize_f64(*f)
            }
            Value::String(s) => serializer.serialize_str(s),
            Value::Bytes(b) => {
                if human {
                    let mut map = serializer.serialize_map(Some(1))?;
                    map.serialize_entry(BYTES_TAG, &STANDARD.encode(b))?;
                    map.end()
                } else {
                    serializer.serialize_bytes(b)
                }
            }
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                if human {
                    if m.contains_key(BYTES_TAG) {
                        return Err(ser::Error::custom(format_args!(
                            "a map with a `{BYTES_TAG}` key has no JSON representation: \
                             River's JSON codec reads it back as bytes"
                        )));
                    }
                    if m.contains_key(BIGINT_TAG) {
                        return Err(ser::Error::custom(format_args!(
                            "a map with a `{BIGINT_TAG}` key has no JSON representation: \
                             River's JSON codec reads it back as a big integer"
                        )));
                    }
                }
                let mut map = serializer.serialize_map(Some(m.len()))?;
                for (k, v) in m.iter() {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::Ext(tag, data) => {
                if human {
                    return Err(ser::Error::custom(format_args!(
                        "msgpack extension value (type {tag}) has no JSON representation"
                    )));
                }
                serializer.serialize_newtype_struct(MSGPACK_EXT, &(tag, RawBytes(data)))
            }
        }
    }
}

/// Makes serde write a byte string rather than a sequence of numbers.
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Deserializes any self-describing format. In human-readable formats (JSON) a map with a
/// `"$t"` key is River's byte-string marker: its base64 text becomes [`Value::Bytes`]; failing
/// that, a map with a `"$b"` key is River's big integer: its decimal text becomes
/// [`Value::Int`]. Any other keys beside the marker are dropped, as River's TypeScript codec
/// does. In binary formats an extension value of type 0 is read as a big integer too.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let human = deserializer.is_human_readable();
        deserializer.deserialize_any(ValueVisitor { human })
    }
}

struct ValueVisitor {
    human: bool,
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any River payload value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v).map(Value::Int).map_err(|_| {
            E::custom(format_args!(
                "integer {v} is outside the range of a 128-bit signed integer"
            ))
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // The hint comes from the input, so it is capped rather than trusted; and the list
        // grows by no more than the budget has left, so its spare capacity stays within it.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            if items.len() == items.capacity() {
                items.reserve_exact(room(items.len(), NODE)?);
            }
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::with_capacity(access.size_hint().unwrap_or(0).min(1024));
        while let Some((k, v)) = access.next_entry::<String, Value>()? {
            if map.len() == map.capacity() {
                map.reserve(room(map.len(), ENTRY)?);
            }
            map.insert(k, v);
        }
        if self.human {
            if let Some(tag) = map.get(BYTES_TAG) {
                return decode_tagged_bytes(tag).map_err(de::Error::custom);
            }
            if let Some(tag) = map.get(BIGINT_TAG) {
                return decode_tagged_bigint(tag).map_err(de::Error::custom);
            }
        }
        Ok(Value::Map(map))
    }

    /// An extension value, as rmp-serde and [`from_payload`](super::from_payload) present one:
    /// a newtype around the pair (type, data).
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let (tag, ExtData(data)) = <(i8, ExtData)>::deserialize(d)?;
        if tag == BIGINT_EXT {
            return bigint::from_ext_data(&data)
                .map(Value::Int)
                .map_err(de::Error::custom);
        }
        Ok(Value::Ext(tag, data))
    }
}

/// How many more items of `size` bytes a full list or map of `len` makes room for, paid from
/// the decode budget of the frame this thread is reading, if any.
fn room<E: de::Error>(len: usize, size: usize) -> Result<usize, E> {
    budget::grow(len, size).ok_or_else(|| E::custom(budget::SPENT))
}

/// The data of an extension value: a byte string.
struct ExtData(Vec<u8>);

impl<'de> Deserialize<'de> for ExtData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = ExtData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the data of a msgpack extension value")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<ExtData, E> {
                Ok(ExtData(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<ExtData, E> {
                Ok(ExtData(v))
            }
        }
        d.deserialize_bytes(BytesVisitor)
    }
}

/// Reads the value under a `"$b"` key as River's decimal big integer.
fn decode_tagged_bigint(tag: &Value) -> Result<Value, String> {
    let Value::String(text) = tag else {
        return Err(format!(
            "`{BIGINT_TAG}` marks a big integer and must hold decimal text, found {}",
            tag.kind()
        ));
    };
    bigint::parse_decimal(text)
        .map(Value::Int)
        .map_err(|e| format!("`{BIGINT_TAG}` big integer: {e}"))
}

/// Reads the value under a `"$t"` key as River's base64 byte string.
fn decode_tagged_bytes(tag: &Value) -> Result<Value, String> {
    let Value::String(text) = tag else {
        return Err(format!(
            "`{BYTES_TAG}` marks a byte string and must hold base64 text, found {}",
            tag.kind()
        ));
    };
    LENIENT_BASE64
        .decode(text)
        .map(Value::Bytes)
        .map_err(|e| format!("`{BYTES_TAG}` byte string is not valid base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_read_like_atob() {
        let padded = decode_tagged_bytes(&Value::from("AAE=")).unwrap();
        let unpadded = decode_tagged_bytes(&Value::from("AAE")).unwrap();
        assert_eq!(padded, Value::Bytes(vec![0, 1]));
        assert_eq!(unpadded, padded);
        // `atob` ignores bits past the last whole byte.
        assert_eq!(
            decode_tagged_bytes(&Value::from("AAF=")).unwrap(),
            Value::Bytes(vec![0, 1])
        );
        assert!(decode_tagged_bytes(&Value::from("A")).is_err());
        assert!(decode_tagged_bytes(&Value::from("!!!!")).is_err());
        assert!(decode_tagged_bytes(&Value::Null).is_err());
    }

    #[test]
    fn map_keeps_order_and_replaces_in_place() {
        let mut m: Map = [("b", 1), ("a", 2)].into_iter().collect();
        m.insert("b", 3);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(m.get("b"), Some(&Value::Int(3)));
        m.remove("b");
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn maps_small_and_large_behave_alike() {
        for n in [0, 1, Map::SMALL - 1, Map::SMALL, Map::SMALL + 1, 40] {
            let keys: Vec<String> = (0..n).rev().map(|i| format!("k{i}")).collect();
            let mut m: Map = keys.iter().map(|k| (k.clone(), 0)).collect();
            assert_eq!((m.len(), m.iter().len()), (n, n));
            assert_eq!(m.keys().collect::<Vec<_>>(), keys, "order kept at {n}");
            // Replacing keeps the position; every key is found.
            for (i, k) in keys.iter().enumerate() {
                let i = i64::try_from(i).unwrap_or_default();
                assert_eq!(m.insert(k.clone(), i), Some(Value::Int(0)));
                assert_eq!(m.get(k), Some(&Value::from(i)));
            }
            assert_eq!(m.keys().collect::<Vec<_>>(), keys);
            assert!(!m.contains_key("absent"));
            // Equality ignores order.
            let mut entries: Vec<(&str, &Value)> = m.iter().collect();
            entries.reverse();
            let reversed: Map = entries.into_iter().map(|(k, v)| (k, v.clone())).collect();
            assert_eq!(reversed, m);
            if let (Some(first), Some(last)) = (keys.first(), keys.last()) {
                assert!(m.remove(first).is_some());
                assert_eq!(m.keys().collect::<Vec<_>>(), keys[1..]);
                assert_eq!(m.take(last).is_some(), n >= 2);
                assert_eq!(m.len(), n.saturating_sub(2));
            }
            assert_eq!(m.clone().into_iter().count(), m.len());
        }
    }
}
