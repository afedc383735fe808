//! The two codecs River speaks, and a sniffer to tell their frames apart.

use std::fmt;

use super::envelope::TransportMessage;
use super::error::{DecodeError, EncodeError};
use super::msgpack;
use super::value::Value;

/// Turns messages into frames and back.
///
/// One frame is one binary WebSocket message; there is no length prefix and no negotiation.
pub trait Codec: Send + Sync {
    /// Which codec this is.
    fn kind(&self) -> CodecKind;

    /// Encodes `msg` into one frame.
    fn encode(&self, msg: &TransportMessage) -> Result<Vec<u8>, EncodeError>;

    /// Decodes one frame. Fails on anything but a single well-formed envelope.
    fn decode(&self, frame: &[u8]) -> Result<TransportMessage, DecodeError>;
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

    fn decode(&self, frame: &[u8]) -> Result<TransportMessage, DecodeError> {
        if frame.is_empty() {
            return Err(DecodeError::Empty);
        }
        let value: Value = serde_json::from_slice(frame).map_err(DecodeError::Json)?;
        TransportMessage::from_value(value)
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

    fn decode(&self, frame: &[u8]) -> Result<TransportMessage, DecodeError> {
        if frame.is_empty() {
            return Err(DecodeError::Empty);
        }
        TransportMessage::from_value(msgpack::read(frame)?)
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

    fn decode(&self, frame: &[u8]) -> Result<TransportMessage, DecodeError> {
        match self {
            CodecKind::Json => JsonCodec.decode(frame),
            CodecKind::Msgpack => MsgpackCodec.decode(frame),
        }
    }
}
