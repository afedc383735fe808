//! A server's first frame: sniff the codec, decode, read the handshake. Nothing may panic, and a
//! request that parses must survive being rebuilt from its parts.

#![no_main]

use libfuzzer_sys::fuzz_target;
use statebound_river::wire::{
    Codec, CodecKind, ControlPayload, parse_handshake_request, parse_handshake_response,
};

fuzz_target!(|frame: &[u8]| {
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
});
