//! Frames as River's own peers write them, byte for byte.
//!
//! The JSON frames are quoted from `docs/protocol.md` (appendix) or follow TypeScript's `JSON.stringify` of the
//! objects River builds. The msgpack frames are assembled by `pack` below, which follows the
//! packing rules of Python's `msgpack.packb` and of `@msgpack/msgpack` (the library behind
//! River's `BinaryCodec`); both pick the smallest form for every integer, string and map, so one
//! packer stands for both. Keys are written in the order each peer writes them, which is where
//! the peers differ.

use expect_test::expect;
use statebound_river::wire::{
    Codec, CodecKind, ControlFlags, ControlPayload, ExpectedSessionState, HandshakeErrorCode,
    HandshakeRequest, HandshakeResponse, JsonCodec, Map, MessageHeader, MsgpackCodec,
    PartialMessage, ProtocolVersion, RehandshakeResponse, Tracing, TransportMessage, Value,
    parse_handshake_request, parse_handshake_response,
};

/// A msgpack value with its map keys in a fixed order, for building frames by hand.
enum P {
    Nil,
    Bool(bool),
    UInt(u64),
    Str(&'static str),
    Bin(&'static [u8]),
    Ext(i8, &'static [u8]),
    Map(Vec<(&'static str, P)>),
}

/// Packs like Python's `msgpack.packb(obj)` (msgpack 1.x, `use_bin_type=True`).
fn pack(p: &P, out: &mut Vec<u8>) {
    match p {
        P::Nil => out.push(0xc0),
        P::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        P::UInt(n) => match *n {
            0..=0x7f => out.push(u8::try_from(*n).unwrap()),
            0x80..=0xff => out.extend([0xcc, u8::try_from(*n).unwrap()]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend(u16::try_from(*n).unwrap().to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend(u32::try_from(*n).unwrap().to_be_bytes());
            }
            _ => {
                out.push(0xcf);
                out.extend(n.to_be_bytes());
            }
        },
        P::Str(s) => {
            let len = s.len();
            match len {
                0..=31 => out.push(0xa0 | u8::try_from(len).unwrap()),
                32..=255 => out.extend([0xd9, u8::try_from(len).unwrap()]),
                _ => {
                    out.push(0xda);
                    out.extend(u16::try_from(len).unwrap().to_be_bytes());
                }
            }
            out.extend(s.as_bytes());
        }
        P::Bin(b) => {
            out.extend([0xc4, u8::try_from(b.len()).unwrap()]);
            out.extend(*b);
        }
        P::Ext(tag, data) => {
            // fixext for the five fixed sizes, else `ext 8` (every extension here is short).
            match data.len() {
                1 => out.push(0xd4),
                2 => out.push(0xd5),
                4 => out.push(0xd6),
                8 => out.push(0xd7),
                16 => out.push(0xd8),
                len => out.extend([0xc7, u8::try_from(len).unwrap()]),
            }
            out.extend(tag.to_be_bytes());
            out.extend(*data);
        }
        P::Map(entries) => {
            let len = entries.len();
            if len <= 15 {
                out.push(0x80 | u8::try_from(len).unwrap());
            } else {
                out.push(0xde);
                out.extend(u16::try_from(len).unwrap().to_be_bytes());
            }
            for (k, v) in entries {
                pack(&P::Str(k), out);
                pack(v, out);
            }
        }
    }
}

fn packed(p: &P) -> Vec<u8> {
    let mut out = Vec::new();
    pack(p, &mut out);
    out
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(entries.iter().cloned().collect::<Map>())
}

// --- The TypeScript client's handshake --------------------------------------------------------

/// `docs/protocol.md`, appendix: the TypeScript client's handshake, JSON codec, as sent.
/// Built by `handshakeRequestMessage` in transport/message.ts.
const TS_HANDSHAKE_JSON: &str = r#"{"id":"2H9qD8vDz3h0","from":"tsclient","to":"SERVER","seq":0,"ack":0,"streamId":"CdqcN8fNt0Ko","controlFlags":0,"tracing":{"traceparent":"","tracestate":""},"payload":{"type":"HANDSHAKE_REQ","protocolVersion":"v2.0","sessionId":"session-TXgD9XxxbKpJ","expectedSessionState":{"nextExpectedSeq":0,"nextSentSeq":0}}}"#;

fn ts_handshake_expected() -> TransportMessage {
    TransportMessage {
        id: "2H9qD8vDz3h0".into(),
        from: "tsclient".into(),
        to: "SERVER".into(),
        seq: 0,
        ack: 0,
        service_name: None,
        procedure_name: None,
        stream_id: "CdqcN8fNt0Ko".into(),
        control_flags: 0,
        tracing: Some(Tracing::default()),
        payload: map(&[
            ("type", "HANDSHAKE_REQ".into()),
            ("protocolVersion", "v2.0".into()),
            ("sessionId", "session-TXgD9XxxbKpJ".into()),
            (
                "expectedSessionState",
                map(&[("nextExpectedSeq", 0.into()), ("nextSentSeq", 0.into())]),
            ),
        ]),
    }
}

#[test]
fn ts_client_handshake_json_decodes_and_reencodes_byte_for_byte() {
    let frame = TS_HANDSHAKE_JSON.as_bytes();
    assert_eq!(CodecKind::sniff(frame), Some(CodecKind::Json));
    let msg = JsonCodec.decode(frame).unwrap();
    assert_eq!(msg, ts_handshake_expected());

    let req = parse_handshake_request(&msg.payload).unwrap();
    assert_eq!(req.version(), Ok(ProtocolVersion::V2_0));
    assert_eq!(req.session_id, "session-TXgD9XxxbKpJ");
    assert_eq!(req.expected_session_state, ExpectedSessionState::default());
    assert_eq!(
        req.metadata, None,
        "TypeScript leaves undefined metadata out"
    );

    assert_eq!(JsonCodec.encode(&msg).unwrap(), frame);
}

#[test]
fn ts_client_handshake_is_what_our_builders_write() {
    let request = HandshakeRequest::new(
        ProtocolVersion::V2_0,
        "session-TXgD9XxxbKpJ",
        ExpectedSessionState::default(),
    );
    let msg = PartialMessage::handshake_request("CdqcN8fNt0Ko", &request)
        .with_tracing(Tracing::default())
        .into_message(MessageHeader::handshake(
            "2H9qD8vDz3h0",
            "tsclient",
            "SERVER",
        ));
    assert_eq!(
        JsonCodec.encode(&msg).unwrap(),
        TS_HANDSHAKE_JSON.as_bytes()
    );
}

/// The same handshake through River's `BinaryCodec` (codec/binary.ts: `encode` with
/// `ignoreUndefined`), keys in the object's order.
#[test]
fn ts_client_handshake_msgpack_decodes_and_reencodes_byte_for_byte() {
    let frame = packed(&P::Map(vec![
        ("id", P::Str("2H9qD8vDz3h0")),
        ("from", P::Str("tsclient")),
        ("to", P::Str("SERVER")),
        ("seq", P::UInt(0)),
        ("ack", P::UInt(0)),
        ("streamId", P::Str("CdqcN8fNt0Ko")),
        ("controlFlags", P::UInt(0)),
        (
            "tracing",
            P::Map(vec![
                ("traceparent", P::Str("")),
                ("tracestate", P::Str("")),
            ]),
        ),
        (
            "payload",
            P::Map(vec![
                ("type", P::Str("HANDSHAKE_REQ")),
                ("protocolVersion", P::Str("v2.0")),
                ("sessionId", P::Str("session-TXgD9XxxbKpJ")),
                (
                    "expectedSessionState",
                    P::Map(vec![
                        ("nextExpectedSeq", P::UInt(0)),
                        ("nextSentSeq", P::UInt(0)),
                    ]),
                ),
            ]),
        ),
    ]));
    assert_eq!(CodecKind::sniff(&frame), Some(CodecKind::Msgpack));
    let msg = MsgpackCodec.decode(&frame).unwrap();
    assert_eq!(msg, ts_handshake_expected());
    assert_eq!(MsgpackCodec.encode(&msg).unwrap(), frame);
}

// --- The Python client's handshake ------------------------------------------------------------

/// `docs/protocol.md`, appendix: the Python client's (replit-river 0.17.11, v2; 0.17.20 builds it
/// with the same code) handshake, msgpack.
/// Built in v2/session.py `_do_ensure_connected` and packed by messages.py
/// `send_transport_message`: `msgpack.packb(msg.model_dump(by_alias=True, exclude_none=True),
/// datetime=True)`. Keys follow the pydantic field order of `TransportMessage` and
/// `ControlMessageHandshakeRequest` (rpc.py). `exclude_none` drops the envelope's `None` fields
/// but not `metadata: None` inside the payload, which was dumped to a plain dict beforehand.
fn python_handshake() -> P {
    P::Map(vec![
        ("id", P::Str("lKaj2XErWkS-vOCs_1OvF")),
        ("from", P::Str("pyclient")),
        ("to", P::Str("SERVER")),
        ("seq", P::UInt(0)),
        ("ack", P::UInt(0)),
        ("streamId", P::Str("6wZNlVJAoRX4Cca6LPBbi")),
        ("controlFlags", P::UInt(0)),
        (
            "payload",
            P::Map(vec![
                ("type", P::Str("HANDSHAKE_REQ")),
                ("protocolVersion", P::Str("v2.0")),
                ("sessionId", P::Str("eHIV56vR5YYcCTKjL-7Gm")),
                (
                    "expectedSessionState",
                    P::Map(vec![
                        ("nextExpectedSeq", P::UInt(0)),
                        ("nextSentSeq", P::UInt(0)),
                    ]),
                ),
                ("metadata", P::Nil),
            ]),
        ),
    ])
}

#[test]
fn python_client_handshake_decodes_and_reencodes_byte_for_byte() {
    let frame = packed(&python_handshake());
    assert_eq!(CodecKind::sniff(&frame), Some(CodecKind::Msgpack));
    let msg = MsgpackCodec.decode(&frame).unwrap();
    assert_eq!(msg.id, "lKaj2XErWkS-vOCs_1OvF");
    assert_eq!(msg.from, "pyclient");
    assert_eq!(msg.to, "SERVER");
    assert_eq!((msg.seq, msg.ack, msg.control_flags), (0, 0, 0));
    assert_eq!(msg.stream_id, "6wZNlVJAoRX4Cca6LPBbi");
    assert_eq!(msg.tracing, None);
    assert_eq!(msg.service_name, None);

    let req = parse_handshake_request(&msg.payload).unwrap();
    assert_eq!(req.version(), Ok(ProtocolVersion::V2_0));
    assert_eq!(req.session_id, "eHIV56vR5YYcCTKjL-7Gm");
    assert_eq!(req.metadata, Some(Value::Null));

    assert_eq!(MsgpackCodec.encode(&msg).unwrap(), frame);

    // Our own builders write the same bytes.
    let ours = PartialMessage::handshake_request(
        "6wZNlVJAoRX4Cca6LPBbi",
        &HandshakeRequest::new(
            ProtocolVersion::V2_0,
            "eHIV56vR5YYcCTKjL-7Gm",
            ExpectedSessionState::default(),
        )
        .with_metadata(Value::Null),
    )
    .into_message(MessageHeader::handshake(
        "lKaj2XErWkS-vOCs_1OvF",
        "pyclient",
        "SERVER",
    ));
    assert_eq!(MsgpackCodec.encode(&ours).unwrap(), frame);
}

#[test]
fn python_handshake_exact_bytes_start_as_msgpack_says() {
    let frame = packed(&python_handshake());
    // fixmap of 8 entries, then fixstr "id", then fixstr of 21 bytes.
    assert_eq!(frame[..5], [0x88, 0xa2, b'i', b'd', 0xb5]);
}

// --- The first exchange after the handshake ---------------------------------------------------

/// A TypeScript server's heartbeat through `BinaryCodec`. `SessionConnected.sendHeartbeat`
/// builds `{streamId, controlFlags, payload}` and `encodeMsg` (sessionStateMachine/common.ts)
/// spreads it before adding `id, to, from, seq, ack`, so those come last.
fn ts_server_heartbeat(seq: u64, ack: u64) -> Vec<u8> {
    packed(&P::Map(vec![
        ("streamId", P::Str("heartbeat")),
        ("controlFlags", P::UInt(1)),
        ("payload", P::Map(vec![("type", P::Str("ACK"))])),
        ("id", P::Str("Zb2qKr0Hm1Xa")),
        ("to", P::Str("pyclient")),
        ("from", P::Str("SERVER")),
        ("seq", P::UInt(seq)),
        ("ack", P::UInt(ack)),
    ]))
}

/// The Python client's heartbeat echo: v2/session.py answers any ack-bit message with
/// `_enqueue_message(stream_id="heartbeat", payload={"type": "ACK"}, control_flags=ACK_BIT)`.
fn python_heartbeat(seq: u64, ack: u64) -> Vec<u8> {
    packed(&P::Map(vec![
        ("id", P::Str("Q3mbn0fV1cYw8oKpLd2Rz")),
        ("from", P::Str("pyclient")),
        ("to", P::Str("SERVER")),
        ("seq", P::UInt(seq)),
        ("ack", P::UInt(ack)),
        ("streamId", P::Str("heartbeat")),
        ("controlFlags", P::UInt(1)),
        ("payload", P::Map(vec![("type", P::Str("ACK"))])),
    ]))
}

/// The Python client's rpc: v2/session.py `send_rpc` enqueues with
/// `STREAM_OPEN_BIT | STREAM_CLOSED_BIT` and the service and procedure names.
fn python_rpc_open(seq: u64, ack: u64) -> Vec<u8> {
    packed(&P::Map(vec![
        ("id", P::Str("n2Xc0P4vVqjL9sY7tRk1A")),
        ("from", P::Str("pyclient")),
        ("to", P::Str("SERVER")),
        ("seq", P::UInt(seq)),
        ("ack", P::UInt(ack)),
        ("serviceName", P::Str("test")),
        ("procedureName", P::Str("add")),
        ("streamId", P::Str("s8BGXq2cAaE1hKdwM3mZp")),
        ("controlFlags", P::UInt(2 | 8)),
        ("payload", P::Map(vec![("n", P::UInt(3))])),
    ]))
}

/// A TypeScript server's rpc response: router/server.ts sends `{streamId, controlFlags:
/// getStreamCloseBackwardsCompat(v2.0) = StreamClosedBit, payload: Ok(...)}`.
fn ts_server_rpc_response(seq: u64, ack: u64) -> Vec<u8> {
    packed(&P::Map(vec![
        ("streamId", P::Str("s8BGXq2cAaE1hKdwM3mZp")),
        ("controlFlags", P::UInt(8)),
        (
            "payload",
            P::Map(vec![
                ("ok", P::Bool(true)),
                ("payload", P::Map(vec![("result", P::UInt(3))])),
            ]),
        ),
        ("id", P::Str("Wb0Y5cRr3nQe")),
        ("to", P::Str("pyclient")),
        ("from", P::Str("SERVER")),
        ("seq", P::UInt(seq)),
        ("ack", P::UInt(ack)),
    ]))
}

#[test]
fn first_exchange_after_the_python_handshake() {
    let v = ProtocolVersion::V2_0;

    let hb = MsgpackCodec.decode(&ts_server_heartbeat(0, 0)).unwrap();
    assert_eq!((hb.seq, hb.ack), (0, 0));
    assert_eq!(hb.flags(v), ControlFlags::ACK);
    assert!(hb.is_heartbeat());
    assert_eq!(hb.stream_id, "heartbeat");
    assert_eq!(ControlPayload::parse(&hb.payload), Ok(ControlPayload::Ack));

    let echo_frame = python_heartbeat(0, 1);
    let echo = MsgpackCodec.decode(&echo_frame).unwrap();
    assert_eq!((echo.seq, echo.ack), (0, 1));
    assert_eq!(echo.flags(v), ControlFlags::ACK);
    // Our heartbeat builder writes exactly what the Python client writes.
    let ours = PartialMessage::heartbeat().into_message(MessageHeader {
        id: "Q3mbn0fV1cYw8oKpLd2Rz".into(),
        from: "pyclient".into(),
        to: "SERVER".into(),
        seq: 0,
        ack: 1,
    });
    assert_eq!(MsgpackCodec.encode(&ours).unwrap(), echo_frame);

    let open_frame = python_rpc_open(1, 1);
    let open = MsgpackCodec.decode(&open_frame).unwrap();
    assert_eq!((open.seq, open.ack, open.control_flags), (1, 1, 10));
    assert_eq!(open.flags(v), ControlFlags::OPEN | ControlFlags::CLOSED);
    assert_eq!(open.service_name.as_deref(), Some("test"));
    assert_eq!(open.procedure_name.as_deref(), Some("add"));
    assert_eq!(open.payload, map(&[("n", 3.into())]));
    assert_eq!(MsgpackCodec.encode(&open).unwrap(), open_frame);

    let resp = MsgpackCodec.decode(&ts_server_rpc_response(1, 2)).unwrap();
    assert_eq!((resp.seq, resp.ack, resp.control_flags), (1, 2, 8));
    assert_eq!(resp.flags(v), ControlFlags::CLOSED);
    assert_eq!(resp.payload.get("ok"), Some(&Value::Bool(true)));
    assert_eq!(resp.service_name, None);
}

#[test]
fn ts_heartbeat_json_with_trailing_header_fields() {
    let frame = br#"{"streamId":"heartbeat","controlFlags":1,"payload":{"type":"ACK"},"id":"Zb2qKr0Hm1Xa","to":"tsclient","from":"SERVER","seq":4,"ack":7}"#;
    let msg = JsonCodec.decode(frame).unwrap();
    assert_eq!((msg.seq, msg.ack), (4, 7));
    assert!(msg.is_heartbeat());
    // We write our own field order; peers read fields by name.
    assert_eq!(
        String::from_utf8(JsonCodec.encode(&msg).unwrap()).unwrap(),
        r#"{"id":"Zb2qKr0Hm1Xa","from":"SERVER","to":"tsclient","seq":4,"ack":7,"streamId":"heartbeat","controlFlags":1,"payload":{"type":"ACK"}}"#
    );
}

// --- Handshake responses ----------------------------------------------------------------------

/// transport/server.ts `rejectHandshakeRequest` and the accept path, through
/// `handshakeResponseMessage` (transport/message.ts): status keys `ok, code, reason` on refusal.
#[test]
fn ts_server_handshake_responses() {
    let ok = br#"{"id":"hR1d0sXqPz2m","from":"SERVER","to":"tsclient","seq":0,"ack":0,"streamId":"kQ8vL2nB5cXe","controlFlags":0,"payload":{"type":"HANDSHAKE_RESP","status":{"ok":true,"sessionId":"session-TXgD9XxxbKpJ"}}}"#;
    let msg = JsonCodec.decode(ok).unwrap();
    let resp = parse_handshake_response(&msg.payload).unwrap();
    assert_eq!(
        resp,
        HandshakeResponse::Ok {
            session_id: "session-TXgD9XxxbKpJ".into()
        }
    );
    let ours = PartialMessage::handshake_response("kQ8vL2nB5cXe", &resp).into_message(
        MessageHeader::handshake("hR1d0sXqPz2m", "SERVER", "tsclient"),
    );
    assert_eq!(JsonCodec.encode(&ours).unwrap(), ok);

    let refused = br#"{"id":"hR1d0sXqPz2n","from":"SERVER","to":"tsclient","seq":0,"ack":0,"streamId":"kQ8vL2nB5cXf","controlFlags":0,"payload":{"type":"HANDSHAKE_RESP","status":{"ok":false,"code":"SESSION_STATE_MISMATCH","reason":"client is in the future"}}}"#;
    let msg = JsonCodec.decode(refused).unwrap();
    let resp = parse_handshake_response(&msg.payload).unwrap();
    let HandshakeResponse::Err { code, reason } = &resp else {
        panic!("expected a refusal, got {resp:?}");
    };
    assert_eq!(*code, HandshakeErrorCode::SessionStateMismatch);
    assert!(code.is_retriable());
    assert_eq!(reason, "client is in the future");
    let ours = PartialMessage::handshake_response("kQ8vL2nB5cXf", &resp).into_message(
        MessageHeader::handshake("hR1d0sXqPz2n", "SERVER", "tsclient"),
    );
    assert_eq!(JsonCodec.encode(&ours).unwrap(), refused);
}

/// Python's v1.1 server (`server_transport.py`, `_send_handshake_response`) refuses with
/// `HandShakeStatus(ok=False, reason=...)` and no code, echoes the request's stream id, and
/// dumps with `exclude_none`, so `code`, `sessionId` and the names are left out.
#[test]
fn python_v1_server_refusal_without_code() {
    let frame = packed(&P::Map(vec![
        ("id", P::Str("Jm0bT3yYk9QvR2Lz5cNwp")),
        ("from", P::Str("SERVER")),
        ("to", P::Str("pyclient")),
        ("seq", P::UInt(0)),
        ("ack", P::UInt(0)),
        ("streamId", P::Str("6wZNlVJAoRX4Cca6LPBbi")),
        ("controlFlags", P::UInt(0)),
        (
            "payload",
            P::Map(vec![
                ("type", P::Str("HANDSHAKE_RESP")),
                (
                    "status",
                    P::Map(vec![
                        ("ok", P::Bool(false)),
                        ("reason", P::Str("protocol version mismatch")),
                    ]),
                ),
            ]),
        ),
    ]));
    let msg = MsgpackCodec.decode(&frame).unwrap();
    let resp = parse_handshake_response(&msg.payload).unwrap();
    assert_eq!(
        resp,
        HandshakeResponse::Err {
            code: HandshakeErrorCode::Unknown(String::new()),
            reason: "protocol version mismatch".into(),
        }
    );
    let HandshakeResponse::Err { code, .. } = resp else {
        unreachable!()
    };
    assert!(!code.is_retriable());
}

/// Clients from before River's session state machine (PR #220) sent
/// `expectedSessionState.reconnect`; it is ignored.
#[test]
fn handshake_with_reconnect_field_is_accepted() {
    let frame = br#"{"id":"a","from":"old","to":"SERVER","seq":0,"ack":0,"streamId":"s","controlFlags":0,"payload":{"type":"HANDSHAKE_REQ","protocolVersion":"v1.1","sessionId":"S","expectedSessionState":{"reconnect":true,"nextExpectedSeq":3,"nextSentSeq":2}}}"#;
    let msg = JsonCodec.decode(frame).unwrap();
    let req = parse_handshake_request(&msg.payload).unwrap();
    assert_eq!(req.version(), Ok(ProtocolVersion::V1_1));
    assert_eq!(
        req.expected_session_state,
        ExpectedSessionState {
            next_expected_seq: 3,
            next_sent_seq: 2
        }
    );
}

/// The Python client packs with `datetime=True`, so a `datetime` in a payload travels as the
/// msgpack timestamp extension (type -1). It passes through msgpack untouched; JSON has no form
/// for it.
#[test]
fn python_timestamp_extension_passes_through_msgpack() {
    // 2024-01-01T00:00:00Z as timestamp 32: seconds since the epoch, big-endian.
    const TS32: &[u8] = &[0x65, 0x92, 0x00, 0x80];
    let frame = packed(&P::Map(vec![
        ("id", P::Str("x")),
        ("from", P::Str("pyclient")),
        ("to", P::Str("SERVER")),
        ("seq", P::UInt(5)),
        ("ack", P::UInt(5)),
        ("streamId", P::Str("s")),
        ("controlFlags", P::UInt(0)),
        (
            "payload",
            P::Map(vec![
                ("at", P::Ext(-1, TS32)),
                ("blob", P::Bin(&[0, 42, 255])),
            ]),
        ),
    ]));
    let msg = MsgpackCodec.decode(&frame).unwrap();
    assert_eq!(msg.payload.get("at"), Some(&Value::Ext(-1, TS32.to_vec())));
    assert_eq!(
        msg.payload.get("blob"),
        Some(&Value::Bytes(vec![0, 42, 255]))
    );
    assert_eq!(MsgpackCodec.encode(&msg).unwrap(), frame);
    assert!(JsonCodec.encode(&msg).is_err());
}

/// Longer strings, bigger maps, bytes and floats take the same forms Python's packer picks:
/// `str 8` from 32 bytes, `str 16` from 256, `map 16` from 16 entries, `bin 8`, `float 64`.
#[test]
fn python_packing_forms_for_larger_values() {
    const LONG: &str = "a string of forty bytes, for str 8 form.";
    let longer: &'static str = Box::leak("x".repeat(300).into_boxed_str());
    let keys = [
        "k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09", "k10", "k11", "k12",
        "k13", "k14", "k15",
    ];
    let mut expected_payload = Map::new();
    let mut big = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let n = u64::try_from(i).unwrap() * 100;
        big.push((*k, P::UInt(n)));
        expected_payload.insert(*k, n);
    }
    let frame = packed(&P::Map(vec![
        ("id", P::Str(LONG)),
        ("from", P::Str(longer)),
        ("to", P::Str("SERVER")),
        ("seq", P::UInt(70_000)),
        ("ack", P::UInt(300)),
        ("streamId", P::Str("s")),
        ("controlFlags", P::UInt(0)),
        ("payload", P::Map(big)),
    ]));
    assert_eq!(frame[0..4], [0x88, 0xa2, b'i', b'd']);
    assert_eq!(frame[4..6], [0xd9, 40]);
    let msg = MsgpackCodec.decode(&frame).unwrap();
    assert_eq!(msg.id, LONG);
    assert_eq!(msg.from.len(), 300);
    assert_eq!((msg.seq, msg.ack), (70_000, 300));
    assert_eq!(msg.payload, Value::Map(expected_payload));
    assert_eq!(MsgpackCodec.encode(&msg).unwrap(), frame);

    // 0.1 as Python packs a float: 0xcb and the IEEE 754 double, big-endian.
    let mut float_msg = msg;
    float_msg.payload = Value::Float(0.1);
    let encoded = MsgpackCodec.encode(&float_msg).unwrap();
    let mut tail = vec![0xcb];
    tail.extend(0.1f64.to_be_bytes());
    assert!(encoded.ends_with(&tail));
}

// --- Big integers -----------------------------------------------------------------------------

/// A TypeScript server's rpc response through `NaiveJsonCodec` whose result holds `BigInt`s:
/// its replacer writes each as `{"$b": value.toString()}`, small or not.
const TS_BIGINT_JSON: &str = r#"{"streamId":"big","controlFlags":8,"payload":{"ok":true,"payload":{"small":{"$b":"7"},"unsafe":{"$b":"-9007199254740993"},"huge":{"$b":"-170141183460469231731687303715884105728"},"plain":42}},"id":"Wb0Y5cRr3nQe","to":"tsclient","from":"SERVER","seq":1,"ack":2}"#;

#[test]
fn ts_json_bigints_decode_as_integers() {
    let msg = JsonCodec.decode(TS_BIGINT_JSON.as_bytes()).unwrap();
    let result = msg.payload.get("payload").unwrap();
    assert_eq!(result.get("small"), Some(&Value::Int(7)));
    assert_eq!(result.get("unsafe"), Some(&Value::Int(-(1 << 53) - 1)));
    assert_eq!(result.get("huge"), Some(&Value::Int(i128::MIN)));
    assert_eq!(result.get("plain"), Some(&Value::Int(42)));
    // Written back, only the integers a JavaScript number cannot hold exactly are BigInts.
    assert_eq!(
        String::from_utf8(JsonCodec.encode(&msg).unwrap()).unwrap(),
        r#"{"id":"Wb0Y5cRr3nQe","from":"SERVER","to":"tsclient","seq":1,"ack":2,"streamId":"big","controlFlags":8,"payload":{"ok":true,"payload":{"small":7,"unsafe":{"$b":"-9007199254740993"},"huge":{"$b":"-170141183460469231731687303715884105728"},"plain":42}}}"#
    );
}

#[test]
fn json_bigint_edges() {
    let encoded = |n: i128| {
        let frame = JsonCodec.encode(&bigint_message(Value::Int(n))).unwrap();
        let text = String::from_utf8(frame).unwrap();
        let start = text.find(r#""payload":"#).unwrap() + 10;
        text[start..text.len() - 1].to_owned()
    };
    assert_eq!(encoded(9_007_199_254_740_991), "9007199254740991");
    assert_eq!(encoded(-9_007_199_254_740_991), "-9007199254740991");
    assert_eq!(
        encoded(9_007_199_254_740_992),
        r#"{"$b":"9007199254740992"}"#
    );
    assert_eq!(
        encoded(-9_007_199_254_740_992),
        r#"{"$b":"-9007199254740992"}"#
    );
    assert_eq!(encoded(u64::MAX.into()), r#"{"$b":"18446744073709551615"}"#);
}

/// A message from a TypeScript peer carrying `payload`.
fn bigint_message(payload: Value) -> TransportMessage {
    PartialMessage {
        stream_id: "big".into(),
        control_flags: 8,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload,
    }
    .into_message(MessageHeader {
        id: "Wb0Y5cRr3nQe".into(),
        from: "SERVER".into(),
        to: "tsclient".into(),
        seq: 1,
        ack: 2,
    })
}

#[test]
fn malformed_json_bigints_are_refused() {
    let decode = |payload: &str| {
        let frame = format!(
            r#"{{"id":"i","from":"a","to":"b","seq":0,"ack":0,"streamId":"s","controlFlags":0,"payload":{payload}}}"#
        );
        JsonCodec.decode(frame.as_bytes()).map(|m| m.payload)
    };
    expect!["invalid JSON: `$b` marks a big integer and must hold decimal text, found an integer at line 1 column 96"]
        .assert_eq(&decode(r#"{"$b":5}"#).unwrap_err().to_string());
    expect![[
        r#"invalid JSON: `$b` big integer: "1.5" is not a decimal integer at line 1 column 100"#
    ]]
    .assert_eq(&decode(r#"{"$b":"1.5"}"#).unwrap_err().to_string());
    expect![[
        r#"invalid JSON: `$b` big integer: "0x10" is not a decimal integer at line 1 column 101"#
    ]]
    .assert_eq(&decode(r#"{"$b":"0x10"}"#).unwrap_err().to_string());
    expect!["invalid JSON: `$b` big integer: 170141183460469231731687303715884105728 is outside the range of a 128-bit integer at line 1 column 136"]
        .assert_eq(
            &decode(r#"{"$b":"170141183460469231731687303715884105728"}"#)
                .unwrap_err()
                .to_string(),
        );
    // As in River's reviver, `$t` wins over `$b`, and other keys beside the marker are dropped.
    assert_eq!(
        decode(r#"{"$b":"1","$t":"AQ=="}"#).unwrap(),
        Value::Bytes(vec![1])
    );
    assert_eq!(decode(r#"{"$b":"-1","x":true}"#).unwrap(), Value::Int(-1));
}

/// The forms River's `BinaryCodec` gives a `BigInt`: extension type 0 whose data is
/// `encode(Number(n))` when `n` is a safe integer (a fixint, or `uint 64` / `int 64` past 32
/// bits, as `@msgpack/msgpack` packs a safe number) and `encode(String(n))` otherwise.
fn ts_bigint_frame(value: P) -> Vec<u8> {
    packed(&P::Map(vec![
        ("streamId", P::Str("big")),
        ("controlFlags", P::UInt(8)),
        (
            "payload",
            P::Map(vec![("ok", P::Bool(true)), ("payload", value)]),
        ),
        ("id", P::Str("Wb0Y5cRr3nQe")),
        ("to", P::Str("tsclient")),
        ("from", P::Str("SERVER")),
        ("seq", P::UInt(1)),
        ("ack", P::UInt(2)),
    ]))
}

const TWO_70: &[u8] = b"\xb61180591620717411303424";

#[test]
fn ts_msgpack_bigints_decode_as_integers() {
    let frame = ts_bigint_frame(P::Map(vec![
        ("small", P::Ext(0, b"\x07")),
        ("negative", P::Ext(0, b"\xfb")),
        ("safe", P::Ext(0, b"\xcf\x00\x1f\xff\xff\xff\xff\xff\xff")),
        (
            "safeNegative",
            P::Ext(0, b"\xd3\xff\xe0\x00\x00\x00\x00\x00\x01"),
        ),
        ("unsafe", P::Ext(0, b"\xb09007199254740993")),
        ("huge", P::Ext(0, TWO_70)),
    ]));
    let msg = MsgpackCodec.decode(&frame).unwrap();
    let result = msg.payload.get("payload").unwrap();
    let get = |k| result.get(k).cloned();
    assert_eq!(get("small"), Some(Value::Int(7)));
    assert_eq!(get("negative"), Some(Value::Int(-5)));
    assert_eq!(get("safe"), Some(Value::Int((1 << 53) - 1)));
    assert_eq!(get("safeNegative"), Some(Value::Int(-(1 << 53) + 1)));
    assert_eq!(get("unsafe"), Some(Value::Int((1 << 53) + 1)));
    assert_eq!(get("huge"), Some(Value::Int(1 << 70)));
}

#[test]
fn msgpack_bigints_beyond_64_bits_are_written_as_typescript_writes_them() {
    // We write the envelope in our own field order, so the payloads are compared.
    let payload_of = |frame: &[u8]| {
        let start = frame.windows(8).position(|w| w == b"\xa7payload").unwrap() + 8;
        let mut rest = &frame[start..];
        rmpv::decode::read_value(&mut rest).unwrap();
        frame[start..frame.len() - rest.len()].to_vec()
    };
    let frame = ts_bigint_frame(P::Map(vec![("huge", P::Ext(0, TWO_70))]));
    let msg = MsgpackCodec.decode(&frame).unwrap();
    let ours = MsgpackCodec.encode(&msg).unwrap();
    assert_eq!(payload_of(&ours), payload_of(&frame));
    assert!(payload_of(&ours).ends_with(&packed(&P::Ext(0, TWO_70))));
    // Within 64 bits an integer stays a msgpack integer, for every msgpack reader (the Python
    // client cannot read extension type 0).
    let within = ts_bigint_frame(P::Map(vec![("n", P::UInt(u64::MAX))]));
    let msg = MsgpackCodec.decode(&within).unwrap();
    assert_eq!(
        msg.payload.get("payload").unwrap().get("n"),
        Some(&Value::Int(u64::MAX.into()))
    );
    assert_eq!(
        payload_of(&MsgpackCodec.encode(&msg).unwrap()),
        payload_of(&within)
    );
    // The extremes of i128: `str 8` data (40 and 39 characters), in `ext 8`.
    for n in [i128::MIN, i128::MAX] {
        let frame = MsgpackCodec.encode(&bigint_message(Value::Int(n))).unwrap();
        let text = n.to_string();
        let mut tail = vec![0xc7, u8::try_from(text.len() + 2).unwrap(), 0x00, 0xd9];
        tail.push(u8::try_from(text.len()).unwrap());
        tail.extend(text.as_bytes());
        assert!(frame.ends_with(&tail), "{n}: {frame:02x?}");
        assert_eq!(MsgpackCodec.decode(&frame).unwrap().payload, Value::Int(n));
    }
}

#[test]
fn malformed_msgpack_bigints_are_refused() {
    let decode = |data: &'static [u8]| {
        MsgpackCodec
            .decode(&ts_bigint_frame(P::Ext(0, data)))
            .map(|m| m.payload)
    };
    for (data, expected) in [
        (
            &b"\xc0"[..],
            expect![
                "invalid big integer (msgpack extension type 0): it must hold an integer or a decimal string, found null"
            ],
        ),
        (
            b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00",
            expect![
                "invalid big integer (msgpack extension type 0): it must hold an integer or a decimal string, found a float"
            ],
        ),
        (
            b"\xa31.5",
            expect![[
                r#"invalid big integer (msgpack extension type 0): "1.5" is not a decimal integer"#
            ]],
        ),
        (
            b"\x91\x01",
            expect![
                "invalid big integer (msgpack extension type 0): it must hold an integer or a decimal string, found an array or a map"
            ],
        ),
        (
            b"\x01\x02",
            expect![
                "invalid big integer (msgpack extension type 0): its data is not one msgpack value: 1 trailing bytes after the msgpack value"
            ],
        ),
        (
            b"",
            expect![
                "invalid big integer (msgpack extension type 0): its data is not one msgpack value: truncated msgpack value"
            ],
        ),
    ] {
        expected.assert_eq(&decode(data).unwrap_err().to_string());
    }
    // An extension inside the data is not followed: it is just not a number.
    expect!["invalid big integer (msgpack extension type 0): it must hold an integer or a decimal string, found an extension value"]
        .assert_eq(&decode(b"\xd4\x00\x01").unwrap_err().to_string());
}

// --- Rehandshakes -----------------------------------------------------------------------------

/// A TypeScript server's `REHANDSHAKE_REQ`: `rehandshakeRequestMessage` (transport/message.ts)
/// is `{streamId: "rehandshake", controlFlags: 0, payload: {type: "REHANDSHAKE_REQ"}}`, sent
/// as an ordinary sequenced message, so `encodeMsg` adds the header fields after it.
fn ts_rehandshake_request() -> P {
    P::Map(vec![
        ("streamId", P::Str("rehandshake")),
        ("controlFlags", P::UInt(0)),
        ("payload", P::Map(vec![("type", P::Str("REHANDSHAKE_REQ"))])),
        ("id", P::Str("Rq7Lm2Xc9vBn")),
        ("to", P::Str("client")),
        ("from", P::Str("SERVER")),
        ("seq", P::UInt(5)),
        ("ack", P::UInt(3)),
    ])
}

/// The TypeScript client's `REHANDSHAKE_RESP` (`rehandshakeResponseMessage`): the same shape,
/// with the freshly built metadata.
fn ts_rehandshake_response() -> P {
    P::Map(vec![
        ("streamId", P::Str("rehandshake")),
        ("controlFlags", P::UInt(0)),
        (
            "payload",
            P::Map(vec![
                ("type", P::Str("REHANDSHAKE_RESP")),
                ("metadata", P::Map(vec![("token", P::Str("t-2"))])),
            ]),
        ),
        ("id", P::Str("Rs4Kd8Wq1zPo")),
        ("to", P::Str("SERVER")),
        ("from", P::Str("client")),
        ("seq", P::UInt(3)),
        ("ack", P::UInt(6)),
    ])
}

/// The same frames as TypeScript's `JSON.stringify` writes them.
const TS_REHANDSHAKE_REQ_JSON: &str = r#"{"streamId":"rehandshake","controlFlags":0,"payload":{"type":"REHANDSHAKE_REQ"},"id":"Rq7Lm2Xc9vBn","to":"client","from":"SERVER","seq":5,"ack":3}"#;
const TS_REHANDSHAKE_RESP_JSON: &str = r#"{"streamId":"rehandshake","controlFlags":0,"payload":{"type":"REHANDSHAKE_RESP","metadata":{"token":"t-2"}},"id":"Rs4Kd8Wq1zPo","to":"SERVER","from":"client","seq":3,"ack":6}"#;

/// Both codecs read River's rehandshake frames as the control payloads they are, and our
/// builders write the same messages (the frames differ from TypeScript's in field order only).
#[test]
fn ts_rehandshake_frames_in_both_codecs() {
    let ours_req = PartialMessage::rehandshake_request().into_message(MessageHeader {
        id: "Rq7Lm2Xc9vBn".into(),
        from: "SERVER".into(),
        to: "client".into(),
        seq: 5,
        ack: 3,
    });
    let ours_resp = PartialMessage::rehandshake_response(Some(map(&[("token", "t-2".into())])))
        .into_message(MessageHeader {
            id: "Rs4Kd8Wq1zPo".into(),
            from: "client".into(),
            to: "SERVER".into(),
            seq: 3,
            ack: 6,
        });
    let frames: [(&dyn Codec, Vec<u8>, Vec<u8>); 2] = [
        (
            &JsonCodec,
            TS_REHANDSHAKE_REQ_JSON.as_bytes().to_vec(),
            TS_REHANDSHAKE_RESP_JSON.as_bytes().to_vec(),
        ),
        (
            &MsgpackCodec,
            packed(&ts_rehandshake_request()),
            packed(&ts_rehandshake_response()),
        ),
    ];
    for (codec, req_frame, resp_frame) in frames {
        let req = codec.decode(&req_frame).unwrap();
        assert_eq!(req, ours_req);
        assert_eq!(
            ControlPayload::parse(&req.payload),
            Ok(ControlPayload::RehandshakeRequest)
        );
        let resp = codec.decode(&resp_frame).unwrap();
        assert_eq!(resp, ours_resp);
        assert_eq!(
            ControlPayload::parse(&resp.payload),
            Ok(ControlPayload::RehandshakeResponse(RehandshakeResponse {
                metadata: Some(map(&[("token", "t-2".into())])),
            }))
        );
        // Ours round-trips; peers read fields by name.
        assert_eq!(
            codec.decode(&codec.encode(&ours_resp).unwrap()).unwrap(),
            ours_resp
        );
    }
    expect![[r#"{"id":"Rq7Lm2Xc9vBn","from":"SERVER","to":"client","seq":5,"ack":3,"streamId":"rehandshake","controlFlags":0,"payload":{"type":"REHANDSHAKE_REQ"}}"#]]
    .assert_eq(&String::from_utf8(JsonCodec.encode(&ours_req).unwrap()).unwrap());
    expect![[r#"{"id":"Rs4Kd8Wq1zPo","from":"client","to":"SERVER","seq":3,"ack":6,"streamId":"rehandshake","controlFlags":0,"payload":{"type":"REHANDSHAKE_RESP","metadata":{"token":"t-2"}}}"#]]
    .assert_eq(&String::from_utf8(JsonCodec.encode(&ours_resp).unwrap()).unwrap());
    // A client whose metadata function built nothing leaves `metadata` out, as TypeScript
    // leaves out `undefined`.
    let empty = PartialMessage::rehandshake_response(None);
    assert_eq!(empty.payload, map(&[("type", "REHANDSHAKE_RESP".into())]));
}
