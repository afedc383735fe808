//! The two codecs River speaks, and a sniffer to tell their frames apart.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::bigint::BIGINT_TAG;
use super::budget::{self, DecodeBudget};
use super::envelope::{Fields, Outbound, TransportMessage};
use super::error::{DecodeError, EncodeError};
use super::fields::FieldError;
use super::msgpack;
use super::value::{BYTES_TAG, Value};

/// Turns messages into frames and back.
///
/// One frame is one binary WebSocket message; there is no length prefix and no negotiation.
pub trait Codec: Send + Sync {
    /// Which codec this is.
    fn kind(&self) -> CodecKind;

    /// Encodes `msg` into one frame.
    fn encode(&self, msg: &TransportMessage) -> Result<Vec<u8>, EncodeError>;

    /// Decodes one frame within `budget`. Fails on anything but a single well-formed envelope,
    /// and with [`DecodeError::OverBudget`] as soon as the decoded message would take more
    /// memory than the budget allows for a frame of this size.
    fn decode_within(
        &self,
        frame: &[u8],
        budget: DecodeBudget,
    ) -> Result<TransportMessage, DecodeError>;

    /// Decodes one frame within the default [`DecodeBudget`].
    fn decode(&self, frame: &[u8]) -> Result<TransportMessage, DecodeError> {
        self.decode_within(frame, DecodeBudget::DEFAULT)
    }
}

/// River's default codec (`NaiveJsonCodec` in TypeScript): the message as UTF-8 JSON.
///
/// Byte strings anywhere in the payload travel as `{"$t": "<standard base64>"}`. On decoding, a
/// map with a `"$t"` key becomes bytes (other keys beside it are dropped, as in River), the base64
/// is read as leniently as `atob` reads it, and the frame must hold one JSON object with nothing
/// but whitespace after it. Nesting is limited to 128 levels (`serde_json`'s limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn kind(&self) -> CodecKind {
        CodecKind::Json
    }

    fn encode(&self, msg: &TransportMessage) -> Result<Vec<u8>, EncodeError> {
        serde_json::to_vec(msg).map_err(EncodeError::Json)
    }

    fn decode_within(
        &self,
        frame: &[u8],
        budget: DecodeBudget,
    ) -> Result<TransportMessage, DecodeError> {
        if frame.is_empty() {
            return Err(DecodeError::Empty);
        }
        let limit = budget.for_frame(frame.len());
        // Strings take at most the frame's own bytes; lists and maps pay for their room.
        let room = limit.saturating_sub(frame.len());
        let (fast, over) = budget::within(room, || serde_json::from_slice(frame));
        if over {
            return Err(DecodeError::OverBudget { limit });
        }
        if let Ok(JsonEnvelope(checked)) = fast {
            return Ok(checked?);
        }
        let (value, over) = budget::within(room, || serde_json::from_slice::<Value>(frame));
        if over {
            return Err(DecodeError::OverBudget { limit });
        }
        TransportMessage::from_value(value.map_err(DecodeError::Json)?)
    }
}

/// River's binary codec (`BinaryCodec` in TypeScript, the only codec of the Python client): the
/// message as a msgpack map with string keys.
///
/// Bytes are `bin`, integers take their smallest form, floats are `float 64`, and extension
/// values pass through untouched. On decoding, strings must be UTF-8, map keys must be strings
/// (as the Python client requires), the reserved marker `0xC1` is refused, the frame must hold
/// exactly one value, and nesting is limited to 128 levels, like JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsgpackCodec;

impl Codec for MsgpackCodec {
    fn kind(&self) -> CodecKind {
        CodecKind::Msgpack
    }

    fn encode(&self, msg: &TransportMessage) -> Result<Vec<u8>, EncodeError> {
        rmp_serde::to_vec(msg).map_err(EncodeError::Msgpack)
    }

    fn decode_within(
        &self,
        frame: &[u8],
        budget: DecodeBudget,
    ) -> Result<TransportMessage, DecodeError> {
        if frame.is_empty() {
            return Err(DecodeError::Empty);
        }
        let limit = budget.for_frame(frame.len());
        if let Some(checked) = msgpack::read_envelope(frame, limit) {
            return checked;
        }
        TransportMessage::from_value(msgpack::read(frame, limit)?)
    }
}

/// A JSON frame read straight into the envelope's fields, without building a map for the
/// envelope. Anything unusual (not an object, a key that makes the object a tagged value, a
/// value that does not read) fails, and the frame is read again the general way, which says
/// why.
struct JsonEnvelope(Result<TransportMessage, FieldError>);

impl<'de> Deserialize<'de> for JsonEnvelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = JsonEnvelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a River envelope")
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<JsonEnvelope, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = access.next_key_seed(KeySeed)? {
            // Every value is read as a payload value would be, known field or not, so that a
            // frame the general way refuses is refused here too.
            let value: Value = access.next_value()?;
            match key {
                Key::Field(index) => fields.set(index, value),
                Key::Other => {}
            }
        }
        Ok(JsonEnvelope(TransportMessage::from_fields(&mut fields)))
    }
}

/// An envelope key: one of its fields (by position), or any other (ignored).
enum Key {
    Field(usize),
    Other,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        if key == BYTES_TAG || key == BIGINT_TAG {
            // The general way reads such an object as a tagged value, not as a map.
            return Err(E::custom("a tagged value"));
        }
        Ok(Fields::index(key.as_bytes()).map_or(Key::Other, Key::Field))
    }
}

/// Which codec a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecKind {
    /// [`JsonCodec`].
    Json,
    /// [`MsgpackCodec`].
    Msgpack,
}

impl CodecKind {
    /// Guesses the codec from a connection's first frame.
    ///
    /// A JSON message starts with `{`, possibly after JSON whitespace; a msgpack message starts
    /// with a map marker (fixmap `0x80`-`0x8F`, map 16 `0xDE`, map 32 `0xDF`). The two cannot be
    /// confused: JSON whitespace bytes are msgpack integers, not maps. Anything else is `None`.
    /// River itself does not sniff; this lets one server serve both kinds of client.
    pub fn sniff(frame: &[u8]) -> Option<CodecKind> {
        let first = *frame.first()?;
        if matches!(first, 0x80..=0x8F | 0xDE | 0xDF) {
            return Some(CodecKind::Msgpack);
        }
        let first_non_ws = frame
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
        (*first_non_ws == b'{').then_some(CodecKind::Json)
    }

    /// The codec's name: `"json"` or `"msgpack"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CodecKind::Json => "json",
            CodecKind::Msgpack => "msgpack",
        }
    }
}

impl fmt::Display for CodecKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CodecKind {
    /// Writes `msg` into a fresh buffer sized for a typical frame.
    pub(crate) fn encode_outbound(self, msg: &Outbound<'_>) -> Result<Vec<u8>, EncodeError> {
        let mut frame = Vec::with_capacity(256);
        match self {
            CodecKind::Json => serde_json::to_writer(&mut frame, msg).map_err(EncodeError::Json)?,
            CodecKind::Msgpack => {
                rmp_serde::encode::write(&mut frame, msg).map_err(EncodeError::Msgpack)?;
            }
        }
        Ok(frame)
    }
}

/// Dispatches to [`JsonCodec`] or [`MsgpackCodec`], so a connection can hold the kind it
/// sniffed and use it directly.
impl Codec for CodecKind {
    fn kind(&self) -> CodecKind {
        *self
    }

    fn encode(&self, msg: &TransportMessage) -> Result<Vec<u8>, EncodeError> {
        match self {
            CodecKind::Json => JsonCodec.encode(msg),
            CodecKind::Msgpack => MsgpackCodec.encode(msg),
        }
    }

    fn decode_within(
        &self,
        frame: &[u8],
        budget: DecodeBudget,
    ) -> Result<TransportMessage, DecodeError> {
        match self {
            CodecKind::Json => JsonCodec.decode_within(frame, budget),
            CodecKind::Msgpack => MsgpackCodec.decode_within(frame, budget),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The codecs read envelopes without building a map for them; these check that they decide
    //! exactly as reading the frame into a [`Value`] and checking that would.

    use proptest::prelude::*;

    use super::*;
    use crate::wire::msgpack;

    fn general(kind: CodecKind, frame: &[u8]) -> Result<TransportMessage, DecodeError> {
        if frame.is_empty() {
            return Err(DecodeError::Empty);
        }
        match kind {
            CodecKind::Json => {
                let value: Value = serde_json::from_slice(frame).map_err(DecodeError::Json)?;
                TransportMessage::from_value(value)
            }
            CodecKind::Msgpack => TransportMessage::from_value(msgpack::read(frame, usize::MAX)?),
        }
    }

    /// JSON values of every kind, including tagged objects.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            (-1e6f64..1e6).prop_map(serde_json::Value::from),
            "[a-z$]{0,6}".prop_map(serde_json::Value::from),
            Just(serde_json::json!({"$t": "AAE="})),
            Just(serde_json::json!({"$t": "not base64!"})),
            Just(serde_json::json!({"$b": "123456789012345678901234567890"})),
            Just(serde_json::json!({"$b": 12})),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z$]{0,4}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Objects with some of the envelope's keys (right or wrong), and others.
    fn json_frame() -> impl Strategy<Value = Vec<u8>> {
        const NAMES: [&str; 11] = [
            "id",
            "from",
            "to",
            "seq",
            "ack",
            "serviceName",
            "procedureName",
            "streamId",
            "controlFlags",
            "tracing",
            "payload",
        ];
        let key = prop_oneof![
            proptest::sample::select(&NAMES[..]).prop_map(str::to_owned),
            Just("$t".to_owned()),
            Just("$b".to_owned()),
            "[a-z]{1,5}",
        ];
        let good: serde_json::Map<String, serde_json::Value> = serde_json::json!({
            "id": "a", "from": "b", "to": "c", "seq": 1, "ack": 2, "serviceName": "s",
            "procedureName": "p", "streamId": "x", "controlFlags": 10,
            "tracing": {"traceparent": "", "tracestate": ""}, "payload": {"msg": "hi"},
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        prop_oneof![
            proptest::collection::vec((key, json_value()), 0..14).prop_map(|entries| {
                let map: serde_json::Map<String, serde_json::Value> = entries.into_iter().collect();
                serde_json::to_vec(&map).unwrap_or_default()
            }),
            (Just(good.clone()), "[a-z$]{1,4}", json_value()).prop_map(|(mut g, k, v)| {
                g.insert(k, v);
                serde_json::to_vec(&g).unwrap_or_default()
            }),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ]
    }

    proptest! {
        #[test]
        fn json_decodes_as_the_general_way(frame in json_frame()) {
            let fast = JsonCodec.decode(&frame);
            let slow = general(CodecKind::Json, &frame);
            prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        }

        #[test]
        fn msgpack_bytes_decode_as_the_general_way(frame in proptest::collection::vec(any::<u8>(), 0..60)) {
            let fast = MsgpackCodec.decode(&frame);
            let slow = general(CodecKind::Msgpack, &frame);
            prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        }

        #[test]
        fn msgpack_decodes_as_the_general_way(frame in json_frame()) {
            // The same shapes as msgpack, plus bytes and truncations of them.
            let value: Result<Value, _> = serde_json::from_slice(&frame);
            let Ok(value) = value else { return Ok(()) };
            let Ok(packed) = rmp_serde::to_vec(&value) else { return Ok(()) };
            for end in [packed.len(), packed.len() / 2, 1] {
                let frame = &packed[..end.min(packed.len())];
                let fast = MsgpackCodec.decode(frame);
                let slow = general(CodecKind::Msgpack, frame);
                prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
            }
        }
    }
}
