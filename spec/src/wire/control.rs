//! Control payloads: heartbeats, stream closes and the handshake (`docs/protocol.md` section 3).

use std::fmt;

use super::fields::{self, FieldError};
use super::flags::{ProtocolVersion, UnknownVersion};
use super::value::{Map, Value};

/// The kinds of control payload, named by their `type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlKind {
    /// `"ACK"`: a heartbeat.
    Ack,
    /// `"CLOSE"`: a stream half-close with no data.
    Close,
    /// `"HANDSHAKE_REQ"`: a client's first frame on a connection.
    HandshakeRequest,
    /// `"HANDSHAKE_RESP"`: a server's first frame on a connection.
    HandshakeResponse,
    /// `"REHANDSHAKE_REQ"`: a server asks a connected client for fresh metadata.
    RehandshakeRequest,
    /// `"REHANDSHAKE_RESP"`: the client's fresh metadata.
    RehandshakeResponse,
}

impl ControlKind {
    /// The `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlKind::Ack => "ACK",
            ControlKind::Close => "CLOSE",
            ControlKind::HandshakeRequest => "HANDSHAKE_REQ",
            ControlKind::HandshakeResponse => "HANDSHAKE_RESP",
            ControlKind::RehandshakeRequest => "REHANDSHAKE_REQ",
            ControlKind::RehandshakeResponse => "REHANDSHAKE_RESP",
        }
    }

    fn quoted(self) -> &'static str {
        match self {
            ControlKind::Ack => "\"ACK\"",
            ControlKind::Close => "\"CLOSE\"",
            ControlKind::HandshakeRequest => "\"HANDSHAKE_REQ\"",
            ControlKind::HandshakeResponse => "\"HANDSHAKE_RESP\"",
            ControlKind::RehandshakeRequest => "\"REHANDSHAKE_REQ\"",
            ControlKind::RehandshakeResponse => "\"REHANDSHAKE_RESP\"",
        }
    }
}

impl fmt::Display for ControlKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payload that is not the control message it was read as.
///
/// This is not a [`DecodeError`](super::DecodeError): the frame decoded, but its payload breaks
/// the control schema. For a first frame read with [`parse_handshake_request`], a server answers
/// with [`HandshakeErrorCode::MalformedHandshake`] (see [`MalformedControl::handshake_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {kind} payload: {problem}")]
pub struct MalformedControl {
    kind: ControlKind,
    problem: String,
}

impl MalformedControl {
    fn new(kind: ControlKind, problem: impl fmt::Display) -> MalformedControl {
        MalformedControl {
            kind,
            problem: problem.to_string(),
        }
    }

    /// The kind of payload it was read as.
    pub fn kind(&self) -> ControlKind {
        self.kind
    }

    /// What is wrong with it, e.g. ``missing field `sessionId` ``.
    pub fn problem(&self) -> &str {
        &self.problem
    }

    /// The code a server answers with: `MALFORMED_HANDSHAKE` for a bad `HANDSHAKE_REQ`, `None`
    /// for other kinds, which get no handshake response.
    pub fn handshake_code(&self) -> Option<HandshakeErrorCode> {
        (self.kind == ControlKind::HandshakeRequest)
            .then_some(HandshakeErrorCode::MalformedHandshake)
    }
}

/// Reads `payload` as a map whose `type` is `kind`, reporting problems as [`MalformedControl`].
fn control_map(payload: &Value, kind: ControlKind) -> Result<&Map, MalformedControl> {
    let map = payload.as_map().ok_or_else(|| {
        MalformedControl::new(
            kind,
            format_args!("expected a map, found {}", payload.kind()),
        )
    })?;
    fields::expect_type(map, kind.as_str(), kind.quoted())
        .map_err(|e| MalformedControl::new(kind, e))?;
    Ok(map)
}

fn typed(kind: ControlKind) -> Map {
    let mut map = Map::new();
    map.insert("type", kind.as_str());
    map
}

/// The heartbeat payload `{"type":"ACK"}`.
pub fn ack_payload() -> Value {
    Value::Map(typed(ControlKind::Ack))
}

/// The stream-close payload `{"type":"CLOSE"}`.
pub fn close_payload() -> Value {
    Value::Map(typed(ControlKind::Close))
}

/// The rehandshake request payload `{"type":"REHANDSHAKE_REQ"}`.
pub fn rehandshake_request_payload() -> Value {
    Value::Map(typed(ControlKind::RehandshakeRequest))
}

/// Reads `payload` as a `REHANDSHAKE_REQ`; extra keys are ignored.
pub fn parse_rehandshake_request(payload: &Value) -> Result<(), MalformedControl> {
    control_map(payload, ControlKind::RehandshakeRequest).map(|_| ())
}

/// The `REHANDSHAKE_RESP` payload: the client's freshly built metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct RehandshakeResponse {
    /// `metadata`: `None` when absent (a client whose metadata function built none).
    pub metadata: Option<Value>,
}

impl RehandshakeResponse {
    /// The payload: `{"type":"REHANDSHAKE_RESP","metadata":...}`, `metadata` left out when
    /// `None`.
    pub fn to_payload(&self) -> Value {
        let mut map = typed(ControlKind::RehandshakeResponse);
        if let Some(metadata) = &self.metadata {
            map.insert("metadata", metadata.clone());
        }
        Value::Map(map)
    }

    /// Reads a `REHANDSHAKE_RESP` payload.
    pub fn from_payload(payload: &Value) -> Result<RehandshakeResponse, MalformedControl> {
        let map = control_map(payload, ControlKind::RehandshakeResponse)?;
        Ok(RehandshakeResponse {
            metadata: map.get("metadata").cloned(),
        })
    }
}

/// `expectedSessionState` in a [`HandshakeRequest`]: the client's view of the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpectedSessionState {
    /// `nextExpectedSeq`: the next seq the client expects from the server (its `ack`).
    pub next_expected_seq: u64,
    /// `nextSentSeq`: the seq of the oldest message the client still holds unacknowledged, or
    /// its next seq if it holds none.
    pub next_sent_seq: u64,
}

/// The `HANDSHAKE_REQ` payload.
///
/// `protocolVersion` is kept as the client sent it: a request naming a version this crate does
/// not speak is still well formed, and must be answered with `PROTOCOL_VERSION_MISMATCH`, not
/// `MALFORMED_HANDSHAKE`. Use [`HandshakeRequest::version`] to check it.
#[derive(Debug, Clone, PartialEq)]
pub struct HandshakeRequest {
    /// `protocolVersion`, as sent.
    pub protocol_version: String,
    /// `sessionId`: the session the client wants, new or resumed.
    pub session_id: String,
    /// `expectedSessionState`.
    pub expected_session_state: ExpectedSessionState,
    /// `metadata`: `None` when absent (the TypeScript client without handshake extensions),
    /// `Some(Value::Null)` when sent as `null` (the Python client).
    pub metadata: Option<Value>,
}

impl HandshakeRequest {
    /// A request for `version` with no metadata.
    pub fn new(
        version: ProtocolVersion,
        session_id: impl Into<String>,
        expected_session_state: ExpectedSessionState,
    ) -> HandshakeRequest {
        HandshakeRequest {
            protocol_version: version.as_str().to_owned(),
            session_id: session_id.into(),
            expected_session_state,
            metadata: None,
        }
    }

    /// Sets `metadata`.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Value) -> HandshakeRequest {
        self.metadata = Some(metadata);
        self
    }

    /// The protocol version, if it is one this crate speaks.
    pub fn version(&self) -> Result<ProtocolVersion, UnknownVersion> {
        self.protocol_version.parse()
    }

    /// The payload, with keys in the order River's TypeScript client writes them; `metadata` is
    /// left out when `None`.
    pub fn to_payload(&self) -> Value {
        let mut map = typed(ControlKind::HandshakeRequest);
        map.insert("protocolVersion", self.protocol_version.as_str());
        map.insert("sessionId", self.session_id.as_str());
        let state: Map = [
            (
                "nextExpectedSeq",
                self.expected_session_state.next_expected_seq,
            ),
            ("nextSentSeq", self.expected_session_state.next_sent_seq),
        ]
        .into_iter()
        .collect();
        map.insert("expectedSessionState", state);
        if let Some(metadata) = &self.metadata {
            map.insert("metadata", metadata.clone());
        }
        Value::Map(map)
    }

    /// Reads a `HANDSHAKE_REQ` payload. Same as [`parse_handshake_request`].
    pub fn from_payload(payload: &Value) -> Result<HandshakeRequest, MalformedControl> {
        let kind = ControlKind::HandshakeRequest;
        let map = control_map(payload, kind)?;
        let read = || -> Result<HandshakeRequest, FieldError> {
            // Clients from before River's session state machine also send
            // `expectedSessionState.reconnect`; like River, this ignores it.
            let state = fields::get_map(map, "expectedSessionState")?;
            Ok(HandshakeRequest {
                protocol_version: fields::get_str(map, "protocolVersion")?.to_owned(),
                session_id: fields::get_str(map, "sessionId")?.to_owned(),
                expected_session_state: ExpectedSessionState {
                    next_expected_seq: fields::get_u64(state, "nextExpectedSeq")
                        .map_err(|e| nested(e, "expectedSessionState.nextExpectedSeq"))?,
                    next_sent_seq: fields::get_u64(state, "nextSentSeq")
                        .map_err(|e| nested(e, "expectedSessionState.nextSentSeq"))?,
                },
                metadata: map.get("metadata").cloned(),
            })
        };
        read().map_err(|e| MalformedControl::new(kind, e))
    }
}

/// Names a nested field by its full path in an error.
fn nested(e: FieldError, path: &'static str) -> FieldError {
    match e {
        FieldError::Missing(_) => FieldError::Missing(path),
        FieldError::Invalid {
            expected, found, ..
        } => FieldError::Invalid {
            field: path,
            expected,
            found,
        },
    }
}

/// Reads `payload` as a `HANDSHAKE_REQ`.
///
/// Any error means the server answers `MALFORMED_HANDSHAKE`. An unsupported `protocolVersion` is
/// not an error here: check [`HandshakeRequest::version`] next.
pub fn parse_handshake_request(payload: &Value) -> Result<HandshakeRequest, MalformedControl> {
    HandshakeRequest::from_payload(payload)
}

/// Why a server refused a handshake (the `code` of a failed `HANDSHAKE_RESP`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HandshakeErrorCode {
    /// `SESSION_STATE_MISMATCH`: the server cannot resume the session as the client describes
    /// it. Retriable: the client starts a new session.
    SessionStateMismatch,
    /// `MALFORMED_HANDSHAKE`: the payload is not a valid `HANDSHAKE_REQ`.
    MalformedHandshake,
    /// `MALFORMED_HANDSHAKE_META`: the metadata fails the server's schema.
    MalformedHandshakeMeta,
    /// `PROTOCOL_VERSION_MISMATCH`: the server does not accept the client's version.
    ProtocolVersionMismatch,
    /// `REJECTED_BY_CUSTOM_HANDLER`: the server's validation hook refused (or failed).
    RejectedByCustomHandler,
    /// `REJECTED_UNSUPPORTED_CLIENT`: the validation hook refused this client version.
    RejectedUnsupportedClient,
    /// A code this crate does not know, kept as sent. Python's v1.1 server sends no code at
    /// all, which reads as `Unknown("")`. Treated as fatal.
    Unknown(String),
}

impl HandshakeErrorCode {
    /// The six codes River defines.
    pub const KNOWN: [HandshakeErrorCode; 6] = [
        HandshakeErrorCode::SessionStateMismatch,
        HandshakeErrorCode::MalformedHandshake,
        HandshakeErrorCode::MalformedHandshakeMeta,
        HandshakeErrorCode::ProtocolVersionMismatch,
        HandshakeErrorCode::RejectedByCustomHandler,
        HandshakeErrorCode::RejectedUnsupportedClient,
    ];

    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            HandshakeErrorCode::SessionStateMismatch => "SESSION_STATE_MISMATCH",
            HandshakeErrorCode::MalformedHandshake => "MALFORMED_HANDSHAKE",
            HandshakeErrorCode::MalformedHandshakeMeta => "MALFORMED_HANDSHAKE_META",
            HandshakeErrorCode::ProtocolVersionMismatch => "PROTOCOL_VERSION_MISMATCH",
            HandshakeErrorCode::RejectedByCustomHandler => "REJECTED_BY_CUSTOM_HANDLER",
            HandshakeErrorCode::RejectedUnsupportedClient => "REJECTED_UNSUPPORTED_CLIENT",
            HandshakeErrorCode::Unknown(code) => code,
        }
    }

    /// Reads a wire string; never fails, since an unknown code is kept as [`Self::Unknown`].
    pub fn from_wire(code: &str) -> HandshakeErrorCode {
        HandshakeErrorCode::KNOWN
            .into_iter()
            .find(|known| known.as_str() == code)
            .unwrap_or_else(|| HandshakeErrorCode::Unknown(code.to_owned()))
    }

    /// Whether the client should drop its session and try again with a new one. Only
    /// `SESSION_STATE_MISMATCH` is; every other code, unknown ones included, is fatal.
    pub fn is_retriable(&self) -> bool {
        *self == HandshakeErrorCode::SessionStateMismatch
    }
}

impl fmt::Display for HandshakeErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `HANDSHAKE_RESP` payload: its `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeResponse {
    /// `{"ok":true,"sessionId":S}`: the server accepts the session `session_id`.
    Ok {
        /// `sessionId`.
        session_id: String,
    },
    /// `{"ok":false,"code":CODE,"reason":TEXT}`: the server refuses.
    Err {
        /// `code`.
        code: HandshakeErrorCode,
        /// `reason`: human-readable detail. Absent from some peers' responses; reads as "".
        reason: String,
    },
}

impl HandshakeResponse {
    /// The payload, with `status` keys in the order River's TypeScript server writes them.
    pub fn to_payload(&self) -> Value {
        let mut status = Map::new();
        match self {
            HandshakeResponse::Ok { session_id } => {
                status.insert("ok", true);
                status.insert("sessionId", session_id.as_str());
            }
            HandshakeResponse::Err { code, reason } => {
                status.insert("ok", false);
                status.insert("code", code.as_str());
                status.insert("reason", reason.as_str());
            }
        }
        let mut map = typed(ControlKind::HandshakeResponse);
        map.insert("status", status);
        Value::Map(map)
    }

    /// Reads a `HANDSHAKE_RESP` payload. Same as [`parse_handshake_response`].
    ///
    /// A refusal without `code` or `reason`, as Python's v1.1 server sends, still reads: the
    /// missing parts become `Unknown("")` and `""`.
    pub fn from_payload(payload: &Value) -> Result<HandshakeResponse, MalformedControl> {
        let kind = ControlKind::HandshakeResponse;
        let map = control_map(payload, kind)?;
        let read = || -> Result<HandshakeResponse, FieldError> {
            let status = fields::get_map(map, "status")?;
            let ok = fields::get_bool(status, "ok").map_err(|e| nested(e, "status.ok"))?;
            Ok(if ok {
                HandshakeResponse::Ok {
                    session_id: fields::get_str(status, "sessionId")
                        .map_err(|e| nested(e, "status.sessionId"))?
                        .to_owned(),
                }
            } else {
                HandshakeResponse::Err {
                    code: HandshakeErrorCode::from_wire(
                        fields::get_str_or_empty(status, "code")
                            .map_err(|e| nested(e, "status.code"))?,
                    ),
                    reason: fields::get_str_or_empty(status, "reason")
                        .map_err(|e| nested(e, "status.reason"))?
                        .to_owned(),
                }
            })
        };
        read().map_err(|e| MalformedControl::new(kind, e))
    }
}

/// Reads `payload` as a `HANDSHAKE_RESP`.
pub fn parse_handshake_response(payload: &Value) -> Result<HandshakeResponse, MalformedControl> {
    HandshakeResponse::from_payload(payload)
}

/// Any control payload, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlPayload {
    /// `{"type":"ACK"}`.
    Ack,
    /// `{"type":"CLOSE"}`.
    Close,
    /// `{"type":"HANDSHAKE_REQ",...}`.
    HandshakeRequest(HandshakeRequest),
    /// `{"type":"HANDSHAKE_RESP",...}`.
    HandshakeResponse(HandshakeResponse),
    /// `{"type":"REHANDSHAKE_REQ"}`.
    RehandshakeRequest,
    /// `{"type":"REHANDSHAKE_RESP",...}`.
    RehandshakeResponse(RehandshakeResponse),
}

impl ControlPayload {
    /// Which kind it is.
    pub fn kind(&self) -> ControlKind {
        match self {
            ControlPayload::Ack => ControlKind::Ack,
            ControlPayload::Close => ControlKind::Close,
            ControlPayload::HandshakeRequest(_) => ControlKind::HandshakeRequest,
            ControlPayload::HandshakeResponse(_) => ControlKind::HandshakeResponse,
            ControlPayload::RehandshakeRequest => ControlKind::RehandshakeRequest,
            ControlPayload::RehandshakeResponse(_) => ControlKind::RehandshakeResponse,
        }
    }

    /// The payload value.
    pub fn to_payload(&self) -> Value {
        match self {
            ControlPayload::Ack => ack_payload(),
            ControlPayload::Close => close_payload(),
            ControlPayload::HandshakeRequest(r) => r.to_payload(),
            ControlPayload::HandshakeResponse(r) => r.to_payload(),
            ControlPayload::RehandshakeRequest => rehandshake_request_payload(),
            ControlPayload::RehandshakeResponse(r) => r.to_payload(),
        }
    }

    /// Reads a control payload, choosing the kind by its `type`; extra keys are ignored.
    ///
    /// Application payloads may also have a `type` field, so call this only where the protocol
    /// expects a control payload (a heartbeat, a first frame); whether a message is a close is
    /// told by its flags, not its payload.
    pub fn parse(payload: &Value) -> Result<ControlPayload, ControlPayloadError> {
        let ty = payload.get("type").and_then(Value::as_str);
        let kind = [
            ControlKind::Ack,
            ControlKind::Close,
            ControlKind::HandshakeRequest,
            ControlKind::HandshakeResponse,
            ControlKind::RehandshakeRequest,
            ControlKind::RehandshakeResponse,
        ]
        .into_iter()
        .find(|k| Some(k.as_str()) == ty)
        .ok_or_else(|| ControlPayloadError::UnknownType(ty.map(str::to_owned)))?;
        Ok(match kind {
            ControlKind::Ack => ControlPayload::Ack,
            ControlKind::Close => ControlPayload::Close,
            ControlKind::HandshakeRequest => {
                ControlPayload::HandshakeRequest(HandshakeRequest::from_payload(payload)?)
            }
            ControlKind::HandshakeResponse => {
                ControlPayload::HandshakeResponse(HandshakeResponse::from_payload(payload)?)
            }
            ControlKind::RehandshakeRequest => ControlPayload::RehandshakeRequest,
            ControlKind::RehandshakeResponse => {
                ControlPayload::RehandshakeResponse(RehandshakeResponse::from_payload(payload)?)
            }
        })
    }
}

/// Why [`ControlPayload::parse`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlPayloadError {
    /// The payload has no string `type`, or one that names no control payload.
    #[error("not a control payload: {}", match .0 {
        Some(ty) => format!("unknown type {ty:?}"),
        None => "no string `type` field".to_owned(),
    })]
    UnknownType(Option<String>),
    /// The `type` is known but the rest of the payload is malformed.
    #[error(transparent)]
    Malformed(#[from] MalformedControl),
}
