//! The server's and the client's handshake paths.

use statebound_river::session::{
    ClientOutcome, Decision, ExistingSession, RequestError, decide, evaluate_response,
    parse_request,
};
use statebound_river::wire::{
    Codec, CodecKind, HandshakeErrorCode, HandshakeResponse, MsgpackCodec, ProtocolVersion,
    TransportMessage, parse_handshake_request, parse_handshake_response,
};

use crate::input::Input;

fn codec(bit: u8) -> CodecKind {
    if bit & 1 == 0 {
        CodecKind::Json
    } else {
        CodecKind::Msgpack
    }
}

/// Checks that `frame` decodes to `msg`. The two are compared as msgpack frames, which every
/// decoded message has, because a payload may hold a NaN float, which is not equal to itself.
fn assert_same_message(codec: CodecKind, frame: &[u8], msg: &TransportMessage) {
    let decoded = codec
        .decode(frame)
        .expect("a message parse_request read decodes");
    let frame_of = |m: &TransportMessage| {
        MsgpackCodec
            .encode(m)
            .expect("every decoded message encodes as msgpack")
    };
    assert_eq!(frame_of(&decoded), frame_of(msg));
}

/// The server's handshake path on a first frame: [`parse_request`], then [`decide`] against a
/// session the input describes.
///
/// Input: one byte of setup (codec; accepted versions; transparent reconnects; no session, the
/// same session id, or another), the session's `ack` and `next_sent_seq`, then the frame.
/// Checks that `parse_request` refuses exactly what does not decode or is not a request of an
/// accepted version, and that the decision is the one `docs/protocol.md` section 4 gives.
///
/// # Panics
///
/// When a check fails: that is what the fuzzer looks for.
pub fn server_handshake(data: &[u8]) {
    let mut input = Input::new(data);
    let setup = input.byte();
    let codec = codec(setup);
    let accepted: &[ProtocolVersion] = match (setup >> 1) & 3 {
        0 => &ProtocolVersion::ALL,
        1 => &[ProtocolVersion::V2_0],
        2 => &[ProtocolVersion::V1_1],
        _ => &[],
    };
    let transparent = setup & 8 == 0;
    let session = (setup >> 4) & 3;
    let ack = u64::from(input.byte());
    let next_sent_seq = u64::from(input.byte());
    let frame = input.rest();

    let parsed = match parse_request(codec, frame, accepted) {
        Ok(parsed) => parsed,
        Err(RequestError::Undecodable(_)) => {
            assert!(
                codec.decode(frame).is_err(),
                "a decodable frame was called undecodable"
            );
            return;
        }
        Err(RequestError::Rejected { msg, rejection }) => {
            assert_same_message(codec, frame, &msg);
            match rejection.code {
                HandshakeErrorCode::MalformedHandshake => {
                    assert!(parse_handshake_request(&msg.payload).is_err());
                }
                HandshakeErrorCode::ProtocolVersionMismatch => {
                    let request = parse_handshake_request(&msg.payload)
                        .expect("a version mismatch is a well-formed request");
                    assert!(!request.version().is_ok_and(|v| accepted.contains(&v)));
                }
                other => panic!("parse_request refused with {other}"),
            }
            return;
        }
    };
    assert!(accepted.contains(&parsed.version));
    assert_same_message(codec, frame, &parsed.msg);

    let request = &parsed.request;
    let existing = match session {
        0 => None,
        1 => Some(request.session_id.clone()),
        _ => Some(format!("{}-before", request.session_id)),
    }
    .map(|id| ExistingSession {
        id,
        ack,
        next_sent_seq,
    });
    let decision = decide(request, existing.as_ref(), transparent);

    // `docs/protocol.md` section 4, read independently of `decide`.
    let wanted = request.expected_session_state;
    let mismatch = |replaces: Option<String>| Expected::Reject(replaces);
    let expected = match existing.as_ref() {
        Some(old) if transparent && old.id == request.session_id => {
            if wanted.next_sent_seq > old.ack || old.next_sent_seq > wanted.next_expected_seq {
                mismatch(None)
            } else {
                Expected::Resume
            }
        }
        other => {
            let replaces = other.map(|old| old.id.clone());
            if wanted.next_sent_seq > 0 || wanted.next_expected_seq > 0 {
                mismatch(replaces)
            } else {
                Expected::New(replaces)
            }
        }
    };
    match (&decision, &expected) {
        (Decision::Resume, Expected::Resume) => {}
        (Decision::New { replaces }, Expected::New(want)) if replaces == want => {}
        (
            Decision::Reject {
                rejection,
                replaces,
            },
            Expected::Reject(want),
        ) if replaces == want => {
            assert_eq!(rejection.code, HandshakeErrorCode::SessionStateMismatch);
        }
        _ => panic!("decide gave {decision:?}, docs/protocol.md gives {expected:?}"),
    }
}

#[derive(Debug)]
enum Expected {
    Resume,
    New(Option<String>),
    Reject(Option<String>),
}

/// The client's handshake path: [`evaluate_response`] on the server's first frame.
///
/// Input: one byte of setup (codec; which session id the client asked for: `session-1`, the
/// one the frame accepts, or the empty id), then the frame. Checks that the outcome is the one
/// `docs/protocol.md` section 4 gives: connected only for an accepted response with the client's id
/// and no control flags, retry only for `SESSION_STATE_MISMATCH`, fatal for every other code.
///
/// # Panics
///
/// When a check fails: that is what the fuzzer looks for.
pub fn client_response(data: &[u8]) {
    let mut input = Input::new(data);
    let setup = input.byte();
    let codec = codec(setup);
    let frame = input.rest();
    let decoded = codec.decode(frame).ok();
    let response = decoded
        .as_ref()
        .and_then(|msg| parse_handshake_response(&msg.payload).ok());
    let session_id = match ((setup >> 1) & 3, &response) {
        (1, Some(HandshakeResponse::Ok { session_id })) => session_id.clone(),
        (2, _) => String::new(),
        _ => "session-1".to_owned(),
    };
    let outcome = evaluate_response(codec, frame, &session_id);
    let flags = decoded.as_ref().map_or(0, |msg| msg.control_flags);
    match (&outcome, &response) {
        (ClientOutcome::Invalid(_), None) => {}
        (ClientOutcome::Invalid(_), Some(_)) if flags != 0 => {}
        (ClientOutcome::Connected, Some(HandshakeResponse::Ok { session_id: got })) => {
            assert_eq!(got, &session_id);
            assert_eq!(flags, 0);
        }
        (ClientOutcome::Invalid(_), Some(HandshakeResponse::Ok { session_id: got })) => {
            assert_ne!(got, &session_id);
        }
        (ClientOutcome::Retry(r), Some(HandshakeResponse::Err { code, reason })) => {
            assert_eq!(flags, 0);
            assert_eq!((&r.code, &r.reason), (code, reason));
            assert_eq!(*code, HandshakeErrorCode::SessionStateMismatch);
        }
        (ClientOutcome::Fatal(r), Some(HandshakeResponse::Err { code, reason })) => {
            assert_eq!(flags, 0);
            assert_eq!((&r.code, &r.reason), (code, reason));
            assert_ne!(*code, HandshakeErrorCode::SessionStateMismatch);
        }
        _ => panic!("evaluate_response gave {outcome:?} for {response:?} (flags {flags})"),
    }
}
