//! The codecs and the handshake payloads.

use statebound_river::wire::{
    Codec, CodecKind, ControlPayload, JsonCodec, MsgpackCodec, parse_handshake_request,
    parse_handshake_response,
};

/// Any bytes given to the JSON codec either fail cleanly or decode to a message that survives
/// re-encoding.
///
/// # Panics
///
/// When a check fails: that is what the fuzzer looks for.
pub fn decode_json(frame: &[u8]) {
    let Ok(msg) = JsonCodec.decode(frame) else {
        return;
    };
    // A decoded JSON message holds nothing JSON cannot carry (no NaN, no extension values, no
    // `$t` keys), so re-encoding must succeed, and decoding our own frame must give it back.
    let ours = JsonCodec
        .encode(&msg)
        .expect("a decoded JSON message re-encodes");
    let again = JsonCodec.decode(&ours).expect("our own JSON frame decodes");
    assert_eq!(again, msg);
    assert_eq!(JsonCodec.encode(&again).expect("re-encodes"), ours);
}

/// Any bytes given to the msgpack codec either fail cleanly or decode to a message that
/// survives re-encoding.
///
/// # Panics
///
/// When a check fails: that is what the fuzzer looks for.
pub fn decode_msgpack(frame: &[u8]) {
    let Ok(msg) = MsgpackCodec.decode(frame) else {
        return;
    };
    // Every value msgpack can decode, msgpack can encode. Frames are compared rather than
    // messages, because a NaN float is not equal to itself.
    let ours = MsgpackCodec
        .encode(&msg)
        .expect("a decoded msgpack message re-encodes");
    let again = MsgpackCodec
        .decode(&ours)
        .expect("our own msgpack frame decodes");
    assert_eq!(MsgpackCodec.encode(&again).expect("re-encodes"), ours);
}

/// A server's first frame: sniff the codec, decode, read the handshake. Nothing may panic, and
/// a request or response that parses must survive being rebuilt from its parts.
///
/// # Panics
///
/// When a check fails: that is what the fuzzer looks for.
pub fn handshake_frame(frame: &[u8]) {
    let Some(codec) = CodecKind::sniff(frame) else {
        return;
    };
    let Ok(msg) = codec.decode(frame) else {
        return;
    };
    let _ = ControlPayload::parse(&msg.payload);
    if let Ok(resp) = parse_handshake_response(&msg.payload) {
        let again = parse_handshake_response(&resp.to_payload()).expect("our own response parses");
        assert_eq!(again, resp);
    }
    match parse_handshake_request(&msg.payload) {
        Ok(req) => {
            let _ = req.version();
            let again = parse_handshake_request(&req.to_payload()).expect("our own request parses");
            assert_eq!(again.protocol_version, req.protocol_version);
            assert_eq!(again.session_id, req.session_id);
            assert_eq!(again.expected_session_state, req.expected_session_state);
            assert_eq!(again.metadata.is_some(), req.metadata.is_some());
        }
        Err(e) => {
            assert!(e.handshake_code().is_some(), "a bad request is answered");
        }
    }
}
