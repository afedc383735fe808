//! Procedures on top of sessions: services of rpc, stream, upload and subscription procedures
//! on a server, and typed calls of them from a client (River's router; the repository's
//! `docs/protocol.md`, section 9).
//!
//! Every call is a stream of messages sharing a `streamId`. The client opens it with the
//! `StreamOpen` bit, `serviceName`, `procedureName` and the init payload; each side half-closes
//! with the `StreamClosed` bit (payload `{"type":"CLOSE"}` when no data rides along); either side
//! can abort with the `StreamCancel` bit. Responses are results: `{"ok":true,"payload":..}` or
//! `{"ok":false,"payload":{"code":..,"message":..,"extras":..}}` (`extras` optional).
//!
//! # Order
//!
//! A server runs the handlers of one session on that session's task, and everything they send
//! joins the session's one ordered queue of outgoing messages, so the order River's own
//! TypeScript server gives (it runs handlers in arrival order) holds here too:
//!
//! - Handlers start in the order their opening frames arrive: each is first polled, in that
//!   order, before any handler of a later call runs.
//! - [`Responses::send`] never waits, and [`Responses`] is `Clone`, `Send` and `'static`: a
//!   handler may keep another call's responses (a subscription's, in shared state) and push into
//!   them. What it pushes into other calls of the session before it returns reaches the client
//!   before its own result, and a subscription's first item, sent when its handler first runs,
//!   comes before the answers to calls opened after it. (Pushes into calls of other sessions go
//!   out on those sessions' connections, in the order they were pushed.)
//! - Resends after a reconnect keep that order.
//! - When a session ends, its calls are cancelled, and their handlers dropped, in the order they
//!   were opened; on the client, they fail with `UNEXPECTED_DISCONNECT` in that order.
//!
//! `spec/tests/router/order.rs` checks this with a `kv` service shaped like the one of River's
//! cross-language suite (`set` tells every `watch` of its key, then answers).

pub(crate) mod client;
mod server;

use core::fmt;

/// Converts between a handler's types and payloads; see [`crate::wire::to_payload`].
pub use crate::wire::{PayloadError, from_payload, to_payload};
pub use client::{RequestWriter, ResponseStream, RiverClient, UploadResult};
pub use server::{
    CANCELLED_STREAMS_REMEMBERED, CallContext, Requests, Responses, RiverServer, Service,
    StreamClosed, serve,
};

use crate::wire::{ControlFlags, Map, PartialMessage, ProtocolVersion, Value, close_payload};

/// What a request or response written on a call reports: River's advisory backpressure.
///
/// The write was accepted either way. `backpressured` says that the session's send buffer,
/// counting what is queued for it, is at or above its high-water mark
/// ([`SessionOptions::send_buffer_high_water_mark`](crate::session::SessionOptions), 1024 by
/// default) after this write: the writer should wait for `ready()` before writing more, as River's
/// `Writable.write` returning `false` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The send buffer is at or above its high-water mark.
    pub backpressured: bool,
}

/// River's error codes for failures of the protocol rather than of the procedure.
pub mod codes {
    /// The request was malformed: unknown procedure, or a payload that does not fit its schema.
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    /// The procedure's handler failed unexpectedly.
    pub const UNCAUGHT_ERROR: &str = "UNCAUGHT_ERROR";
    /// One side cancelled the call.
    pub const CANCEL: &str = "CANCEL";
    /// The session ended (or the transport closed) before the call finished.
    pub const UNEXPECTED_DISCONNECT: &str = "UNEXPECTED_DISCONNECT";
}

/// An error result: River's `{code, message, extras?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RiverError {
    /// The code: one of [`codes`] or the procedure's own.
    pub code: String,
    /// Human-readable detail.
    pub message: String,
    /// Anything else the procedure attaches, written as `extras` (River's name). An error read
    /// from a peer takes `extras`, or failing that `extra` (the name River's own protocol
    /// description uses).
    pub extras: Option<Box<Value>>,
}

/// How many validation errors an `INVALID_REQUEST` lists, as River's TypeScript server does;
/// `totalErrors` still counts them all.
pub const MAX_LISTED_VALIDATION_ERRORS: usize = 5;

/// One reason a payload does not fit a procedure: where (a JSON Pointer into the payload, `""`
/// for the payload itself) and what. River lists these in an `INVALID_REQUEST`'s `extras`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// JSON Pointer (RFC 6901) to the offending part.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl From<&PayloadError> for ValidationError {
    fn from(e: &PayloadError) -> Self {
        ValidationError {
            path: e.path(),
            message: e.message().to_owned(),
        }
    }
}

impl RiverError {
    /// An error with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        RiverError {
            code: code.into(),
            message: message.into(),
            extras: None,
        }
    }

    /// This error with `extras` attached.
    #[must_use]
    pub fn with_extras(mut self, extras: impl Into<Value>) -> Self {
        self.extras = Some(Box::new(extras.into()));
        self
    }

    /// An `INVALID_REQUEST` in River's shape: `extras` is
    /// `{"totalErrors": n, "firstValidationErrors": [{"path", "message"}, ..]}`, listing at most
    /// [`MAX_LISTED_VALIDATION_ERRORS`].
    pub fn invalid_request(
        message: impl Into<String>,
        errors: impl IntoIterator<Item = ValidationError>,
    ) -> Self {
        let mut total: u64 = 0;
        let mut listed = Vec::new();
        for error in errors {
            total += 1;
            if listed.len() < MAX_LISTED_VALIDATION_ERRORS {
                let mut entry = Map::new();
                entry.insert("path", error.path);
                entry.insert("message", error.message);
                listed.push(Value::Map(entry));
            }
        }
        let mut extras = Map::new();
        extras.insert("totalErrors", total);
        extras.insert("firstValidationErrors", Value::Array(listed));
        RiverError::new(codes::INVALID_REQUEST, message).with_extras(extras)
    }

    /// The validation errors of an `INVALID_REQUEST` in River's shape; empty for any other
    /// error, or one whose `extras` have another shape.
    pub fn validation_errors(&self) -> Vec<ValidationError> {
        let listed = self
            .extras
            .as_deref()
            .and_then(|e| e.get("firstValidationErrors"))
            .and_then(Value::as_array)
            .unwrap_or_default();
        listed
            .iter()
            .filter_map(|e| {
                Some(ValidationError {
                    path: e.get("path")?.as_str()?.to_owned(),
                    message: e.get("message")?.as_str()?.to_owned(),
                })
            })
            .collect()
    }

    fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("code", Value::String(self.code.clone()));
        map.insert("message", Value::String(self.message.clone()));
        if let Some(extras) = &self.extras {
            map.insert("extras", (**extras).clone());
        }
        Value::Map(map)
    }

    fn from_value(value: &Value) -> Self {
        let text = |key| value.get(key).and_then(Value::as_str).unwrap_or_default();
        RiverError {
            code: text("code").to_owned(),
            message: text("message").to_owned(),
            extras: value
                .get("extras")
                .or_else(|| value.get("extra"))
                .cloned()
                .map(Box::new),
        }
    }
}

impl fmt::Display for RiverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for RiverError {}

fn ok_result(payload: Value) -> Value {
    let mut map = Map::new();
    map.insert("ok", Value::Bool(true));
    map.insert("payload", payload);
    Value::Map(map)
}

fn err_result(error: &RiverError) -> Value {
    let mut map = Map::new();
    map.insert("ok", Value::Bool(false));
    map.insert("payload", error.to_value());
    Value::Map(map)
}

/// Reads a result payload.
fn parse_result(mut value: Value) -> Result<Value, RiverError> {
    let ok = value.get("ok").and_then(Value::as_bool);
    let payload = match &mut value {
        Value::Map(map) => map.remove("payload").unwrap_or_default(),
        _ => Value::Null,
    };
    match ok {
        Some(true) => Ok(payload),
        Some(false) => Err(RiverError::from_value(&payload)),
        None => Err(RiverError::new(
            codes::INVALID_REQUEST,
            "response is not a result (`ok` missing)",
        )),
    }
}

fn is_close_control(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("CLOSE")
}

/// Wire bits for `flags` under `version`. v1.1 has no cancel bit: there, an abort travels as a
/// close carrying the error result, which is what v1.1 peers expect.
fn bits(flags: ControlFlags, version: ProtocolVersion) -> u32 {
    let flags = if version == ProtocolVersion::V1_1 && flags.cancel {
        ControlFlags {
            cancel: false,
            closed: true,
            ..flags
        }
    } else {
        flags
    };
    flags.to_bits(version).unwrap_or(0)
}

/// A message of the stream `stream_id`.
fn stream_message(
    stream_id: &str,
    flags: ControlFlags,
    version: ProtocolVersion,
    payload: Value,
) -> PartialMessage {
    PartialMessage {
        stream_id: stream_id.to_owned(),
        control_flags: bits(flags, version),
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload,
    }
}

/// The half-close of `stream_id`: `{"type":"CLOSE"}` with the `StreamClosed` bit.
fn close_message(stream_id: &str, version: ProtocolVersion) -> PartialMessage {
    stream_message(stream_id, ControlFlags::CLOSED, version, close_payload())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        msg: String,
        n: u32,
        #[serde(with = "serde_bytes_shim")]
        data: Vec<u8>,
    }

    mod serde_bytes_shim {
        pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
        pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<u8>, D::Error> {
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = Vec<u8>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                    Ok(v.to_vec())
                }
            }
            d.deserialize_bytes(V)
        }
    }

    #[test]
    fn payload_round_trip_keeps_bytes() {
        let sample = Sample {
            msg: "héllo".into(),
            n: 7,
            data: vec![0, 1, 255],
        };
        let value = to_payload(&sample).unwrap();
        assert!(value.as_map().is_some(), "structs are maps: {value:?}");
        assert_eq!(
            value.get("data").and_then(Value::as_bytes),
            Some(&[0, 1, 255][..])
        );
        assert_eq!(value.get("msg").and_then(Value::as_str), Some("héllo"));
        assert_eq!(from_payload::<Sample>(&value).unwrap(), sample);
        assert!(from_payload::<Sample>(&Value::Null).is_err());
    }

    #[test]
    fn results() {
        assert_eq!(parse_result(ok_result(Value::Int(3))), Ok(Value::Int(3)));
        let err = RiverError::new("NOPE", "no");
        assert_eq!(parse_result(err_result(&err)), Err(err));
        assert_eq!(
            parse_result(Value::Null).unwrap_err().code,
            codes::INVALID_REQUEST
        );
    }

    #[test]
    fn error_extras_are_written_as_extras_and_read_under_either_name() {
        let err = RiverError::new("E", "m").with_extras(Value::Int(1));
        let written = err_result(&err);
        let payload = written.get("payload").unwrap();
        assert_eq!(payload.get("extras"), Some(&Value::Int(1)));
        assert_eq!(payload.get("extra"), None);
        assert_eq!(parse_result(written.clone()), Err(err.clone()));
        let with = |key: &str| -> Value {
            let mut e = Map::new();
            e.insert("code", "E");
            e.insert("message", "m");
            e.insert(key, 1);
            let mut result = Map::new();
            result.insert("ok", false);
            result.insert("payload", Value::Map(e));
            Value::Map(result)
        };
        assert_eq!(parse_result(with("extra")), Err(err.clone()));
        assert_eq!(parse_result(with("extras")), Err(err));
    }

    #[test]
    fn cancel_in_v1_1_is_a_close() {
        assert_eq!(bits(ControlFlags::CANCEL, ProtocolVersion::V2_0), 4);
        assert_eq!(bits(ControlFlags::CANCEL, ProtocolVersion::V1_1), 4);
        assert_eq!(bits(ControlFlags::CLOSED, ProtocolVersion::V2_0), 8);
        assert_eq!(bits(ControlFlags::CLOSED, ProtocolVersion::V1_1), 4);
        assert_eq!(
            bits(
                ControlFlags::OPEN | ControlFlags::CLOSED,
                ProtocolVersion::V2_0
            ),
            10
        );
    }
}
