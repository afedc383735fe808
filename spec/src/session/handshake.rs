//! Handshake decisions, server and client side (`docs/protocol.md` section 4).
//!
//! The server's steps run in a fixed order: the request's schema, its protocol version, the
//! metadata schema and the validation hook, then the session-state rules. Each step is a
//! function here; none does I/O, and only the hook is asynchronous.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use std::panic::AssertUnwindSafe;
use std::time::SystemTime;

use futures_util::FutureExt as _;

use crate::wire::{
    Codec, CodecKind, DecodeError, HandshakeErrorCode, HandshakeRequest, HandshakeResponse,
    ProtocolVersion, TransportMessage, Value, parse_handshake_request, parse_handshake_response,
};

/// A refused handshake: the code and reason sent back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The code.
    pub code: HandshakeErrorCode,
    /// Human-readable detail.
    pub reason: String,
}

impl Rejection {
    /// A rejection with `code` and `reason`.
    pub fn new(code: HandshakeErrorCode, reason: impl Into<String>) -> Self {
        Rejection {
            code,
            reason: reason.into(),
        }
    }

    /// The `HANDSHAKE_RESP` payload that carries it.
    pub fn response(&self) -> HandshakeResponse {
        HandshakeResponse::Err {
            code: self.code.clone(),
            reason: self.reason.clone(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

/// A first frame that is not an acceptable handshake request.
#[derive(Debug)]
pub enum RequestError {
    /// The frame does not decode as a message: there is nobody to answer, so the connection is
    /// just closed (reported as `MALFORMED_HANDSHAKE`).
    Undecodable(DecodeError),
    /// The frame is a message, but not an acceptable request: answer with the rejection.
    Rejected {
        /// The message, whose `from` the response goes to.
        msg: Box<TransportMessage>,
        /// Why.
        rejection: Rejection,
    },
}

/// A handshake request that passed the schema and version checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRequest {
    /// The envelope it came in.
    pub msg: TransportMessage,
    /// The request.
    pub request: HandshakeRequest,
    /// Its protocol version.
    pub version: ProtocolVersion,
}

/// Steps one and two: decode the first frame of a connection and check the request's schema
/// and version against `accepted`.
pub fn parse_request(
    codec: CodecKind,
    frame: &[u8],
    accepted: &[ProtocolVersion],
) -> Result<ParsedRequest, RequestError> {
    let msg = codec.decode(frame).map_err(RequestError::Undecodable)?;
    let reject = |msg: TransportMessage, code, reason: String| RequestError::Rejected {
        msg: Box::new(msg),
        rejection: Rejection::new(code, reason),
    };
    let request = match parse_handshake_request(&msg.payload) {
        Ok(request) => request,
        Err(e) => {
            let reason = format!("received invalid handshake request: {e}");
            return Err(reject(msg, HandshakeErrorCode::MalformedHandshake, reason));
        }
    };
    if let Some(reason) = oversized(frame.len(), &msg, &request) {
        return Err(reject(msg, HandshakeErrorCode::MalformedHandshake, reason));
    }
    match request.version() {
        Ok(version) if accepted.contains(&version) => Ok(ParsedRequest {
            msg,
            request,
            version,
        }),
        _ => {
            let reason = format!(
                "expected protocol version oneof [{}], got {}",
                accepted
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                request.protocol_version
            );
            Err(reject(
                msg,
                HandshakeErrorCode::ProtocolVersionMismatch,
                reason,
            ))
        }
    }
}

/// The longest client id, session id or protocol version a handshake may carry, in bytes.
/// River's ids are 12-character nanoids.
pub const MAX_ID_BYTES: usize = 256;

/// The largest handshake frame accepted, in bytes (metadata included).
pub const MAX_HANDSHAKE_BYTES: usize = 32 * 1024;

/// Why a handshake is too large to accept, if it is.
fn oversized(frame: usize, msg: &TransportMessage, request: &HandshakeRequest) -> Option<String> {
    if frame > MAX_HANDSHAKE_BYTES {
        return Some(format!(
            "the handshake request is {frame} bytes, over the {MAX_HANDSHAKE_BYTES}-byte limit"
        ));
    }
    [
        ("client id", msg.from.len()),
        ("session id", request.session_id.len()),
        ("protocol version", request.protocol_version.len()),
    ]
    .into_iter()
    .find(|(_, len)| *len > MAX_ID_BYTES)
    .map(|(what, len)| format!("the {what} is {len} bytes, over the {MAX_ID_BYTES}-byte limit"))
}

/// A boxed future, as returned by [`HandshakeValidator::validate`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The server's say over handshake metadata (River's handshake extensions).
pub trait HandshakeValidator: Send + Sync + 'static {
    /// Step three: the metadata's schema. `Err` rejects with `MALFORMED_HANDSHAKE_META`, and
    /// [`validate`](Self::validate) is not called.
    fn check_schema(&self, metadata: Option<&Value>) -> Result<(), String>;

    /// Step four: may the client `from` connect with `metadata`? `from` is the client id the
    /// peer presented in its handshake: a validator that learns a principal from the metadata
    /// (a token, say) should check that the principal may use this id, which binds the session
    /// to it. `previous` is the metadata accepted for this client id before (on a reconnect,
    /// or a rehandshake). A rejection should use `REJECTED_BY_CUSTOM_HANDLER` or
    /// `REJECTED_UNSUPPORTED_CLIENT`; a panic rejects with `REJECTED_BY_CUSTOM_HANDLER`.
    fn validate<'a>(
        &'a self,
        from: &'a str,
        metadata: Option<&'a Value>,
        previous: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), Rejection>>;

    /// When the credential in `metadata` expires, if it does (River's `expiry`). On a server
    /// with [`ServerOptions::rehandshake`](crate::transport::ServerOptions::rehandshake), a
    /// rehandshake is requested one handshake timeout before, so that fresh metadata is in
    /// place (or the session is over) by then. Asked after every accepted (re)handshake. It
    /// only schedules: a validator should refuse metadata that has already expired. The
    /// default: never.
    fn expiry(&self, metadata: Option<&Value>) -> Option<SystemTime> {
        let _ = metadata;
        None
    }
}

/// Steps three and four for the metadata `metadata` of the client `from`, with `validator` (if
/// the server has one).
pub async fn validate_metadata(
    validator: Option<&dyn HandshakeValidator>,
    from: &str,
    metadata: Option<&Value>,
    previous: Option<&Value>,
) -> Result<(), Rejection> {
    let Some(validator) = validator else {
        return Ok(());
    };
    if let Err(e) = validator.check_schema(metadata) {
        return Err(Rejection::new(
            HandshakeErrorCode::MalformedHandshakeMeta,
            format!("received malformed handshake metadata: {e}"),
        ));
    }
    // The call itself runs inside the guarded future, so a hook that panics before returning
    // its future is caught too.
    match AssertUnwindSafe(async move { validator.validate(from, metadata, previous).await })
        .catch_unwind()
        .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(Rejection::new(
            HandshakeErrorCode::RejectedByCustomHandler,
            "handshake validation failed",
        )),
    }
}

/// What the server knows of the session a client already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingSession {
    /// Its id.
    pub id: String,
    /// The `seq` the server expects next from the client.
    pub ack: u64,
    /// The oldest `seq` the server still has to deliver (see
    /// [`SessionContext::next_sent_seq`](super::SessionContext::next_sent_seq)).
    pub next_sent_seq: u64,
}

/// The session-state step's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Same session id: resume the existing session on the new connection.
    Resume,
    /// A new session. `replaces` is the id of the client's old session, which ends first.
    New {
        /// The session this one replaces (a hard reconnect), if any.
        replaces: Option<String>,
    },
    /// Refuse. `replaces` is the old session that ends anyway, as in a hard reconnect.
    Reject {
        /// Why.
        rejection: Rejection,
        /// The session that ended because the client asked for another.
        replaces: Option<String>,
    },
}

/// Step five: transparent reconnect, hard reconnect, unknown session, or new session.
pub fn decide(
    request: &HandshakeRequest,
    existing: Option<&ExistingSession>,
    transparent_reconnects: bool,
) -> Decision {
    let wanted = &request.expected_session_state;
    let mut replaces = None;
    if let Some(old) = existing {
        if transparent_reconnects && old.id == request.session_id {
            if wanted.next_sent_seq > old.ack {
                return Decision::Reject {
                    rejection: Rejection::new(
                        HandshakeErrorCode::SessionStateMismatch,
                        format!(
                            "client is in the future: server wanted next message {} but client would have sent {}",
                            old.ack, wanted.next_sent_seq
                        ),
                    ),
                    replaces: None,
                };
            }
            if old.next_sent_seq > wanted.next_expected_seq {
                return Decision::Reject {
                    rejection: Rejection::new(
                        HandshakeErrorCode::SessionStateMismatch,
                        format!(
                            "server is in the future: client wanted next message {} but server would have sent {}",
                            wanted.next_expected_seq, old.next_sent_seq
                        ),
                    ),
                    replaces: None,
                };
            }
            return Decision::Resume;
        }
        replaces = Some(old.id.clone());
    }
    if wanted.next_sent_seq > 0 || wanted.next_expected_seq > 0 {
        let reason = if transparent_reconnects {
            format!(
                "client is trying to reconnect to a session the server does not know: {}",
                request.session_id
            )
        } else {
            format!(
                "client is trying to resume session {} but this server does not resume sessions",
                request.session_id
            )
        };
        return Decision::Reject {
            rejection: Rejection::new(HandshakeErrorCode::SessionStateMismatch, reason),
            replaces,
        };
    }
    Decision::New { replaces }
}

/// How a client's handshake ended, judged from the server's first frame.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOutcome {
    /// Accepted for the session the client asked for.
    Connected,
    /// Refused with a retriable code: drop the session and start a new one.
    Retry(Rejection),
    /// Refused with a fatal code: drop the session and stop.
    Fatal(Rejection),
    /// Not a valid response, or accepted for another session: the session ends.
    Invalid(String),
}

/// Judges the server's first frame for a client that asked for `session_id`.
pub fn evaluate_response(codec: CodecKind, frame: &[u8], session_id: &str) -> ClientOutcome {
    let msg = match codec.decode(frame) {
        Ok(msg) => msg,
        Err(e) => return ClientOutcome::Invalid(format!("undecodable handshake response: {e}")),
    };
    let response = match parse_handshake_response(&msg.payload) {
        Ok(response) => response,
        Err(e) => return ClientOutcome::Invalid(format!("invalid handshake response: {e}")),
    };
    if msg.control_flags != 0 {
        return ClientOutcome::Invalid("handshake response carries control flags".into());
    }
    match response {
        HandshakeResponse::Ok { session_id: got } if got == session_id => ClientOutcome::Connected,
        HandshakeResponse::Ok { session_id: got } => ClientOutcome::Invalid(format!(
            "server accepted session {got}, but the client asked for {session_id}"
        )),
        HandshakeResponse::Err { code, reason } => {
            let rejection = Rejection { code, reason };
            if rejection.code.is_retriable() {
                ClientOutcome::Retry(rejection)
            } else {
                ClientOutcome::Fatal(rejection)
            }
        }
    }
}
