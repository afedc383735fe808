//! The message envelope every River frame carries.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::control::{self, HandshakeRequest, HandshakeResponse};
use super::error::DecodeError;
use super::fields::{self, FieldError};
use super::flags::{ControlFlags, ProtocolVersion};
use super::value::{Map, Value};

/// The envelope's wire names, in the order River's peers write them for handshakes.
mod name {
    pub(super) const ID: &str = "id";
    pub(super) const FROM: &str = "from";
    pub(super) const TO: &str = "to";
    pub(super) const SEQ: &str = "seq";
    pub(super) const ACK: &str = "ack";
    pub(super) const SERVICE_NAME: &str = "serviceName";
    pub(super) const PROCEDURE_NAME: &str = "procedureName";
    pub(super) const STREAM_ID: &str = "streamId";
    pub(super) const CONTROL_FLAGS: &str = "controlFlags";
    pub(super) const TRACING: &str = "tracing";
    pub(super) const PAYLOAD: &str = "payload";
    pub(super) const TRACEPARENT: &str = "traceparent";
    pub(super) const TRACESTATE: &str = "tracestate";
    /// The envelope's own fields.
    pub(super) const ALL: [&str; 11] = [
        ID,
        FROM,
        TO,
        SEQ,
        ACK,
        SERVICE_NAME,
        PROCEDURE_NAME,
        STREAM_ID,
        CONTROL_FLAGS,
        TRACING,
        PAYLOAD,
    ];
}

/// The `streamId` of every heartbeat.
pub const HEARTBEAT_STREAM_ID: &str = "heartbeat";

/// The `streamId` of rehandshake requests and responses. Messages on it belong to the
/// transport, never to a procedure.
pub const REHANDSHAKE_STREAM_ID: &str = "rehandshake";

/// One River message: what one binary WebSocket frame carries (`docs/protocol.md` section 2).
///
/// Serde maps it to River's camelCase wire names. Absent optional fields are left out when
/// encoding; when decoding, unknown fields are ignored, `null` reads as an absent optional field,
/// and integer fields refuse floats (even whole ones) and out-of-range numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportMessage {
    /// `id`: unique per message. Its format is the sender's business (TypeScript uses 12
    /// characters, Python 21).
    pub id: String,
    /// `from`: the sender's client or server id.
    pub from: String,
    /// `to`: the recipient's id.
    pub to: String,
    /// `seq`: this message's sequence number; 0 on handshakes.
    pub seq: u64,
    /// `ack`: the next `seq` the sender expects from its peer; 0 on handshakes.
    pub ack: u64,
    /// `serviceName`: set on the message that opens a stream.
    pub service_name: Option<String>,
    /// `procedureName`: set on the message that opens a stream.
    pub procedure_name: Option<String>,
    /// `streamId`: [`HEARTBEAT_STREAM_ID`] for heartbeats, random on handshakes.
    pub stream_id: String,
    /// `controlFlags`: raw bits; read them with [`TransportMessage::flags`], which needs the
    /// session's protocol version.
    pub control_flags: u32,
    /// `tracing`: W3C trace context.
    pub tracing: Option<Tracing>,
    /// `payload`: a control or application payload; may be `null` but is never absent.
    pub payload: Value,
}

/// W3C trace context carried in `tracing`.
///
/// TypeScript clients send it on the handshake, possibly with empty strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracing {
    /// `traceparent` header value.
    pub traceparent: String,
    /// `tracestate` header value.
    pub tracestate: String,
}

impl TransportMessage {
    /// The control flags under the session's protocol `version`.
    pub fn flags(&self, version: ProtocolVersion) -> ControlFlags {
        ControlFlags::from_bits(self.control_flags, version)
    }

    /// Whether the ack bit is set; it means the same in every version.
    pub fn is_heartbeat(&self) -> bool {
        self.flags(ProtocolVersion::CURRENT).ack
    }

    /// Builds a message from a decoded value; this is the envelope check both codecs share.
    pub fn from_value(value: Value) -> Result<TransportMessage, DecodeError> {
        let Value::Map(mut map) = value else {
            return Err(DecodeError::NotAMap {
                found: value.kind(),
            });
        };
        Ok(Self::from_map(&mut map)?)
    }

    fn from_map(map: &mut Map) -> Result<TransportMessage, FieldError> {
        let mut fields = Fields::default();
        for (i, name) in name::ALL.into_iter().enumerate() {
            fields.0[i] = map.take(name);
        }
        Self::from_fields(&mut fields)
    }

    /// Checks the envelope's fields, as read from a frame, and builds the message.
    pub(super) fn from_fields(fields: &mut Fields) -> Result<TransportMessage, FieldError> {
        let string = |v: Option<Value>, field| {
            fields::into_string(v.ok_or(FieldError::Missing(field))?, field)
        };
        // Absent and `null` both read as `None`: the Python client may send `nil` for an
        // optional field.
        let optional = |v: Option<Value>| v.filter(|v| !v.is_null());
        let optional_string = |v: Option<Value>, field| {
            optional(v)
                .map(|v| fields::into_string(v, field))
                .transpose()
        };
        let mut take = |i: usize| fields.0[i].take();
        let tracing = match optional(take(field::TRACING)) {
            None => None,
            Some(v) => {
                let mut t = fields::into_map(v, name::TRACING)?;
                Some(Tracing {
                    traceparent: string(t.take(name::TRACEPARENT), name::TRACEPARENT)?,
                    tracestate: string(t.take(name::TRACESTATE), name::TRACESTATE)?,
                })
            }
        };
        Ok(TransportMessage {
            id: string(take(field::ID), name::ID)?,
            from: string(take(field::FROM), name::FROM)?,
            to: string(take(field::TO), name::TO)?,
            seq: int(take(field::SEQ), name::SEQ, "a non-negative integer")?,
            ack: int(take(field::ACK), name::ACK, "a non-negative integer")?,
            service_name: optional_string(take(field::SERVICE_NAME), name::SERVICE_NAME)?,
            procedure_name: optional_string(take(field::PROCEDURE_NAME), name::PROCEDURE_NAME)?,
            stream_id: string(take(field::STREAM_ID), name::STREAM_ID)?,
            control_flags: int(
                take(field::CONTROL_FLAGS),
                name::CONTROL_FLAGS,
                "an integer in 0..=4294967295",
            )?,
            tracing,
            payload: take(field::PAYLOAD).ok_or(FieldError::Missing(name::PAYLOAD))?,
        })
    }
}

impl From<FieldError> for DecodeError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::Missing(field) => DecodeError::MissingField(field),
            FieldError::Invalid {
                field,
                expected,
                found,
            } => DecodeError::InvalidField {
                field,
                expected,
                found,
            },
        }
    }
}

/// A required integer field that must fit `T`.
fn int<T: TryFrom<i128>>(
    v: Option<Value>,
    field: &'static str,
    expected: &'static str,
) -> Result<T, FieldError> {
    fields::to_int(&v.ok_or(FieldError::Missing(field))?, field, expected)
}

/// The envelope's fields as a frame holds them, before they are checked: each codec reads a
/// frame into these without building a map for the envelope itself, and
/// [`TransportMessage::from_fields`] applies the rules both share. They are kept in the order
/// of [`name::ALL`].
#[derive(Debug, Default)]
pub(super) struct Fields([Option<Value>; 11]);

/// The position of each field in [`Fields`] and [`name::ALL`].
mod field {
    pub(super) const ID: usize = 0;
    pub(super) const FROM: usize = 1;
    pub(super) const TO: usize = 2;
    pub(super) const SEQ: usize = 3;
    pub(super) const ACK: usize = 4;
    pub(super) const SERVICE_NAME: usize = 5;
    pub(super) const PROCEDURE_NAME: usize = 6;
    pub(super) const STREAM_ID: usize = 7;
    pub(super) const CONTROL_FLAGS: usize = 8;
    pub(super) const TRACING: usize = 9;
    pub(super) const PAYLOAD: usize = 10;
}

impl Fields {
    /// The position of the field named `key`; `None` for a key that is no envelope field (and
    /// is ignored).
    pub(super) fn index(key: &[u8]) -> Option<usize> {
        Some(match key {
            b"id" => field::ID,
            b"from" => field::FROM,
            b"to" => field::TO,
            b"seq" => field::SEQ,
            b"ack" => field::ACK,
            b"serviceName" => field::SERVICE_NAME,
            b"procedureName" => field::PROCEDURE_NAME,
            b"streamId" => field::STREAM_ID,
            b"controlFlags" => field::CONTROL_FLAGS,
            b"tracing" => field::TRACING,
            b"payload" => field::PAYLOAD,
            _ => return None,
        })
    }

    /// Sets the field at `index` (from [`Fields::index`]); a later value replaces an earlier
    /// one, as a repeated key does in a map.
    pub(super) fn set(&mut self, index: usize, value: Value) {
        if let Some(slot) = self.0.get_mut(index) {
            *slot = Some(value);
        }
    }
}

/// Writes the envelope as a map in River's field order, leaving absent fields out.
impl Serialize for TransportMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Outbound {
            id: &self.id,
            from: &self.from,
            to: &self.to,
            seq: self.seq,
            ack: self.ack,
            service_name: self.service_name.as_deref(),
            procedure_name: self.procedure_name.as_deref(),
            stream_id: &self.stream_id,
            control_flags: self.control_flags,
            tracing: self.tracing.as_ref(),
            payload: &self.payload,
        }
        .serialize(serializer)
    }
}

/// A message to write, borrowing its parts, so a session can stamp its ids and counters on a
/// [`PartialMessage`] and write it without copying them into a [`TransportMessage`] first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outbound<'a> {
    pub(crate) id: &'a str,
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
    pub(crate) seq: u64,
    pub(crate) ack: u64,
    pub(crate) service_name: Option<&'a str>,
    pub(crate) procedure_name: Option<&'a str>,
    pub(crate) stream_id: &'a str,
    pub(crate) control_flags: u32,
    pub(crate) tracing: Option<&'a Tracing>,
    pub(crate) payload: &'a Value,
}

/// The payload of every heartbeat, made once.
static ACK_PAYLOAD: std::sync::LazyLock<Value> = std::sync::LazyLock::new(control::ack_payload);

impl<'a> Outbound<'a> {
    /// A heartbeat (see [`PartialMessage::heartbeat`]) under the given id, addresses and
    /// counters, built without allocating.
    pub(crate) fn heartbeat(
        id: &'a str,
        (from, to): (&'a str, &'a str),
        (seq, ack): (u64, u64),
    ) -> Self {
        Outbound {
            id,
            from,
            to,
            seq,
            ack,
            service_name: None,
            procedure_name: None,
            stream_id: HEARTBEAT_STREAM_ID,
            control_flags: ControlFlags::ACK.bits_unchecked(ProtocolVersion::CURRENT),
            tracing: None,
            payload: &ACK_PAYLOAD,
        }
    }

    /// `msg` under the given id, addresses and counters.
    pub(crate) fn new(
        msg: &'a PartialMessage,
        id: &'a str,
        (from, to): (&'a str, &'a str),
        (seq, ack): (u64, u64),
    ) -> Self {
        Outbound {
            id,
            from,
            to,
            seq,
            ack,
            service_name: msg.service_name.as_deref(),
            procedure_name: msg.procedure_name.as_deref(),
            stream_id: &msg.stream_id,
            control_flags: msg.control_flags,
            tracing: msg.tracing.as_ref(),
            payload: &msg.payload,
        }
    }
}

impl Serialize for Outbound<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = 8
            + usize::from(self.service_name.is_some())
            + usize::from(self.procedure_name.is_some())
            + usize::from(self.tracing.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        entry(&mut map, name::ID, self.id)?;
        entry(&mut map, name::FROM, self.from)?;
        entry(&mut map, name::TO, self.to)?;
        entry(&mut map, name::SEQ, &self.seq)?;
        entry(&mut map, name::ACK, &self.ack)?;
        if let Some(s) = self.service_name {
            entry(&mut map, name::SERVICE_NAME, s)?;
        }
        if let Some(p) = self.procedure_name {
            entry(&mut map, name::PROCEDURE_NAME, p)?;
        }
        entry(&mut map, name::STREAM_ID, self.stream_id)?;
        entry(&mut map, name::CONTROL_FLAGS, &self.control_flags)?;
        if let Some(t) = self.tracing {
            entry(&mut map, name::TRACING, t)?;
        }
        entry(&mut map, name::PAYLOAD, self.payload)?;
        map.end()
    }
}

/// One entry of a map, key then value, inlined where it is used. Through `serialize_entry`,
/// whose instances the compiler shares between serializers, the JSON encoder made an
/// out-of-line call per entry of every frame (`codec-json` in `bash benches/river/cost.sh`).
#[inline]
fn entry<M: SerializeMap, V: Serialize + ?Sized>(
    map: &mut M,
    key: &'static str,
    value: &V,
) -> Result<(), M::Error> {
    map.serialize_key(key)?;
    map.serialize_value(value)
}

impl Serialize for Tracing {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(name::TRACEPARENT, &self.traceparent)?;
        map.serialize_entry(name::TRACESTATE, &self.tracestate)?;
        map.end()
    }
}

/// Reads a [`Value`] and checks it with [`TransportMessage::from_value`], so serde users get the
/// same rules as the codecs.
impl<'de> Deserialize<'de> for TransportMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        TransportMessage::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// The addressing and sequencing a session stamps on a [`PartialMessage`] when it sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// `id`: fresh for each message.
    pub id: String,
    /// `from`: this side's id.
    pub from: String,
    /// `to`: the peer's id.
    pub to: String,
    /// `seq`: the session's next sequence number.
    pub seq: u64,
    /// `ack`: the next sequence number expected from the peer.
    pub ack: u64,
}

impl MessageHeader {
    /// A header for a handshake message, which always has `seq` 0 and `ack` 0.
    pub fn handshake(
        id: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
    ) -> MessageHeader {
        MessageHeader {
            id: id.into(),
            from: from.into(),
            to: to.into(),
            seq: 0,
            ack: 0,
        }
    }
}

/// A message before the session addresses and sequences it: everything but `id`, `from`, `to`,
/// `seq` and `ack` (River's `PartialTransportMessage`).
#[derive(Debug, Clone, PartialEq)]
pub struct PartialMessage {
    /// `streamId`.
    pub stream_id: String,
    /// `controlFlags`, as wire bits for the session's version.
    pub control_flags: u32,
    /// `serviceName`.
    pub service_name: Option<String>,
    /// `procedureName`.
    pub procedure_name: Option<String>,
    /// `tracing`.
    pub tracing: Option<Tracing>,
    /// `payload`.
    pub payload: Value,
}

impl PartialMessage {
    /// A heartbeat: payload `{"type":"ACK"}`, only the ack bit, stream [`HEARTBEAT_STREAM_ID`].
    pub fn heartbeat() -> PartialMessage {
        PartialMessage {
            stream_id: HEARTBEAT_STREAM_ID.to_owned(),
            // The ack bit is the same in every version.
            control_flags: ControlFlags::ACK.bits_unchecked(ProtocolVersion::CURRENT),
            service_name: None,
            procedure_name: None,
            tracing: None,
            payload: control::ack_payload(),
        }
    }

    /// A server's rehandshake request: payload `{"type":"REHANDSHAKE_REQ"}`, flags 0, stream
    /// [`REHANDSHAKE_STREAM_ID`]. Sequenced and buffered like any message.
    pub fn rehandshake_request() -> PartialMessage {
        PartialMessage::rehandshake(control::rehandshake_request_payload())
    }

    /// A client's answer to a rehandshake request, carrying `metadata`; flags 0, stream
    /// [`REHANDSHAKE_STREAM_ID`].
    pub fn rehandshake_response(metadata: Option<Value>) -> PartialMessage {
        PartialMessage::rehandshake(control::RehandshakeResponse { metadata }.to_payload())
    }

    fn rehandshake(payload: Value) -> PartialMessage {
        PartialMessage {
            stream_id: REHANDSHAKE_STREAM_ID.to_owned(),
            control_flags: 0,
            service_name: None,
            procedure_name: None,
            tracing: None,
            payload,
        }
    }

    /// A half-close of `stream_id` with no data: payload `{"type":"CLOSE"}` and the
    /// `StreamClosed` bit of `version` (4 in v1.1, 8 in v2.0).
    pub fn close_stream(stream_id: impl Into<String>, version: ProtocolVersion) -> PartialMessage {
        PartialMessage {
            stream_id: stream_id.into(),
            control_flags: ControlFlags::CLOSED.bits_unchecked(version),
            service_name: None,
            procedure_name: None,
            tracing: None,
            payload: control::close_payload(),
        }
    }

    /// A client's handshake request on a fresh random `stream_id`; flags 0.
    pub fn handshake_request(
        stream_id: impl Into<String>,
        request: &HandshakeRequest,
    ) -> PartialMessage {
        PartialMessage {
            stream_id: stream_id.into(),
            control_flags: 0,
            service_name: None,
            procedure_name: None,
            tracing: None,
            payload: request.to_payload(),
        }
    }

    /// A server's handshake response on a fresh random `stream_id`; flags 0.
    pub fn handshake_response(
        stream_id: impl Into<String>,
        response: &HandshakeResponse,
    ) -> PartialMessage {
        PartialMessage {
            stream_id: stream_id.into(),
            control_flags: 0,
            service_name: None,
            procedure_name: None,
            tracing: None,
            payload: response.to_payload(),
        }
    }

    /// Sets `tracing`.
    #[must_use]
    pub fn with_tracing(mut self, tracing: Tracing) -> PartialMessage {
        self.tracing = Some(tracing);
        self
    }

    /// The complete message under `header`.
    pub fn into_message(self, header: MessageHeader) -> TransportMessage {
        TransportMessage {
            id: header.id,
            from: header.from,
            to: header.to,
            seq: header.seq,
            ack: header.ack,
            service_name: self.service_name,
            procedure_name: self.procedure_name,
            stream_id: self.stream_id,
            control_flags: self.control_flags,
            tracing: self.tracing,
            payload: self.payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_name_has_its_own_position() {
        for (i, name) in name::ALL.into_iter().enumerate() {
            assert_eq!(Fields::index(name.as_bytes()), Some(i), "{name}");
        }
        assert_eq!(Fields::index(b"Id"), None);
        assert_eq!(Fields::index(b"stream"), None);
    }
}
