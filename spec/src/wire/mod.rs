//! River's wire format: the message envelope, control payloads, control flags and the two
//! codecs (the repository's `docs/protocol.md`, sections 1-3).
//!
//! A frame decodes into a [`TransportMessage`] whose `payload` is a dynamic [`Value`]; control
//! payloads are read from it with [`ControlPayload::parse`] or the handshake parsers, and the raw
//! `controlFlags` are read with [`ControlFlags::from_bits`] under the session's
//! [`ProtocolVersion`]. [`to_payload`] and [`from_payload`] convert between a [`Value`] and
//! a handler's own serde types.
//!
//! ```
//! use statebound_river::wire::{
//!     Codec, CodecKind, ExpectedSessionState, HandshakeRequest, MessageHeader, PartialMessage,
//!     ProtocolVersion, parse_handshake_request,
//! };
//!
//! let request = HandshakeRequest::new(
//!     ProtocolVersion::V2_0,
//!     "session-1",
//!     ExpectedSessionState::default(),
//! );
//! let msg = PartialMessage::handshake_request("stream-1", &request)
//!     .into_message(MessageHeader::handshake("msg-1", "client", "SERVER"));
//!
//! let frame = CodecKind::Msgpack.encode(&msg)?;
//! let codec = CodecKind::sniff(&frame).expect("a msgpack map");
//! let decoded = codec.decode(&frame)?;
//! assert_eq!(parse_handshake_request(&decoded.payload)?, request);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bigint;
mod budget;
mod codec;
mod control;
mod envelope;
mod error;
mod fields;
mod flags;
mod msgpack;
mod payload;
mod value;

pub use bigint::{BIGINT_EXT, BIGINT_TAG, SAFE_INT_MAX};
pub use budget::DecodeBudget;
pub use codec::{Codec, CodecKind, JsonCodec, MsgpackCodec};
pub use control::{
    ControlKind, ControlPayload, ControlPayloadError, ExpectedSessionState, HandshakeErrorCode,
    HandshakeRequest, HandshakeResponse, MalformedControl, RehandshakeResponse, ack_payload,
    close_payload, parse_handshake_request, parse_handshake_response, parse_rehandshake_request,
    rehandshake_request_payload,
};
pub(crate) use envelope::Outbound;
pub use envelope::{
    HEARTBEAT_STREAM_ID, MessageHeader, PartialMessage, REHANDSHAKE_STREAM_ID, Tracing,
    TransportMessage,
};
pub use error::{DecodeError, EncodeError};
pub use flags::{ControlFlags, ProtocolVersion, UnknownVersion, UnsupportedFlag};
pub use payload::{PayloadError, from_payload, to_payload};
pub use value::{BYTES_TAG, Map, Value};

/// `text` for a log line or an error: whole if short, else its first 64 bytes (at a character
/// boundary) and its length, so that nothing a peer sends is logged unbounded.
pub(crate) fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    const SHOWN: usize = 64;
    if text.len() <= SHOWN {
        return text.into();
    }
    let end = (0..=SHOWN)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}… ({} bytes)", &text[..end], text.len()).into()
}

#[cfg(test)]
mod clip_tests {
    #[test]
    fn long_text_is_clipped_at_a_character_boundary() {
        assert_eq!(super::clip("short"), "short");
        let long = "é".repeat(100);
        let clipped = super::clip(&long);
        assert_eq!(clipped, format!("{}… (200 bytes)", "é".repeat(32)));
    }
}
