//! Control flags under both protocol versions, and the control payloads.

use expect_test::expect;
use statebound_river::wire::{
    ControlFlags, ControlKind, ControlPayload, ControlPayloadError, ExpectedSessionState,
    HEARTBEAT_STREAM_ID, HandshakeErrorCode, HandshakeRequest, HandshakeResponse, Map,
    PartialMessage, ProtocolVersion, UnknownVersion, UnsupportedFlag, Value, ack_payload,
    close_payload, parse_handshake_request, parse_handshake_response,
};

use ProtocolVersion::{V1_1, V2_0};

// --- Flags -----------------------------------------------------------------------------------

#[test]
fn v2_flag_bits() {
    let cases = [
        (ControlFlags::NONE, 0),
        (ControlFlags::ACK, 1),
        (ControlFlags::OPEN, 2),
        (ControlFlags::CANCEL, 4),
        (ControlFlags::CLOSED, 8),
        // An rpc request: open and closed at once.
        (ControlFlags::OPEN | ControlFlags::CLOSED, 10),
        (ControlFlags::OPEN | ControlFlags::CANCEL, 6),
    ];
    for (flags, bits) in cases {
        assert_eq!(flags.to_bits(V2_0), Ok(bits), "{flags:?}");
        assert_eq!(ControlFlags::from_bits(bits, V2_0), flags, "{bits}");
    }
}

#[test]
fn v1_flag_bits() {
    let cases = [
        (ControlFlags::NONE, 0),
        (ControlFlags::ACK, 1),
        (ControlFlags::OPEN, 2),
        (ControlFlags::CLOSED, 4),
        (ControlFlags::OPEN | ControlFlags::CLOSED, 6),
    ];
    for (flags, bits) in cases {
        assert_eq!(flags.to_bits(V1_1), Ok(bits), "{flags:?}");
        assert_eq!(ControlFlags::from_bits(bits, V1_1), flags, "{bits}");
    }
}

#[test]
fn bit_4_means_cancel_in_v2_and_close_in_v1() {
    assert_eq!(ControlFlags::from_bits(4, V2_0), ControlFlags::CANCEL);
    assert_eq!(ControlFlags::from_bits(4, V1_1), ControlFlags::CLOSED);
    // A v2.0 close (8) is a reserved bit to a v1.1 peer.
    assert_eq!(ControlFlags::from_bits(8, V1_1), ControlFlags::NONE);
}

#[test]
fn v1_has_no_cancel() {
    let err = ControlFlags::CANCEL.to_bits(V1_1).unwrap_err();
    assert_eq!(
        err,
        UnsupportedFlag {
            flag: "StreamCancel",
            version: V1_1
        }
    );
    expect!["protocol v1.1 has no StreamCancel bit"].assert_eq(&err.to_string());
    assert!(
        (ControlFlags::CLOSED | ControlFlags::CANCEL)
            .to_bits(V1_1)
            .is_err()
    );
}

#[test]
fn unknown_bits_are_ignored_and_every_bit_pattern_maps_back() {
    assert_eq!(ControlFlags::from_bits(0xfff0 | 1, V2_0), ControlFlags::ACK);
    for version in ProtocolVersion::ALL {
        for bits in 0..16 {
            let flags = ControlFlags::from_bits(bits, version);
            let defined = match version {
                V1_1 => 0b0111,
                V2_0 => 0b1111,
            };
            assert_eq!(
                flags.to_bits(version),
                Ok(bits & defined),
                "{version} {bits}"
            );
        }
    }
}

#[test]
fn flags_combine() {
    let mut f = ControlFlags::OPEN;
    f |= ControlFlags::CLOSED;
    assert!(f.open && f.closed && !f.ack && !f.cancel);
    assert!(ControlFlags::NONE.is_empty());
    assert!(!f.is_empty());
    assert_eq!(ControlFlags::default(), ControlFlags::NONE);
}

#[test]
fn protocol_versions() {
    assert_eq!("v1.1".parse(), Ok(V1_1));
    assert_eq!("v2.0".parse(), Ok(V2_0));
    assert_eq!(V2_0.to_string(), "v2.0");
    assert_eq!(ProtocolVersion::CURRENT, V2_0);
    let err = "v0".parse::<ProtocolVersion>().unwrap_err();
    assert_eq!(err, UnknownVersion("v0".into()));
    expect![[r#"unsupported protocol version "v0": expected "v1.1" or "v2.0""#]]
        .assert_eq(&err.to_string());
}

// --- Control payload builders -----------------------------------------------------------------

#[test]
fn heartbeat_and_close_messages() {
    let hb = PartialMessage::heartbeat();
    assert_eq!(hb.stream_id, HEARTBEAT_STREAM_ID);
    assert_eq!(hb.control_flags, 1);
    assert_eq!(hb.service_name, None);
    assert_eq!(hb.procedure_name, None);
    assert_eq!(hb.payload, ack_payload());
    assert_eq!(ControlPayload::parse(&hb.payload), Ok(ControlPayload::Ack));

    for (version, bit) in [(V1_1, 4), (V2_0, 8)] {
        let close = PartialMessage::close_stream("s1", version);
        assert_eq!(close.stream_id, "s1");
        assert_eq!(close.control_flags, bit);
        assert_eq!(
            ControlFlags::from_bits(close.control_flags, version),
            ControlFlags::CLOSED
        );
        assert_eq!(close.payload, close_payload());
    }
    assert_eq!(
        ControlPayload::parse(&close_payload()),
        Ok(ControlPayload::Close)
    );
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(entries.iter().cloned().collect::<Map>())
}

#[test]
fn control_payload_shapes() {
    assert_eq!(ack_payload(), map(&[("type", "ACK".into())]));
    assert_eq!(close_payload(), map(&[("type", "CLOSE".into())]));
    let req = HandshakeRequest::new(
        V1_1,
        "S",
        ExpectedSessionState {
            next_expected_seq: 4,
            next_sent_seq: 2,
        },
    )
    .with_metadata(map(&[("token", "t".into())]));
    assert_eq!(
        req.to_payload(),
        map(&[
            ("type", "HANDSHAKE_REQ".into()),
            ("protocolVersion", "v1.1".into()),
            ("sessionId", "S".into()),
            (
                "expectedSessionState",
                map(&[("nextExpectedSeq", 4.into()), ("nextSentSeq", 2.into())]),
            ),
            ("metadata", map(&[("token", "t".into())])),
        ])
    );
    let resp = HandshakeResponse::Err {
        code: HandshakeErrorCode::ProtocolVersionMismatch,
        reason: "no".into(),
    };
    assert_eq!(
        resp.to_payload(),
        map(&[
            ("type", "HANDSHAKE_RESP".into()),
            (
                "status",
                map(&[
                    ("ok", false.into()),
                    ("code", "PROTOCOL_VERSION_MISMATCH".into()),
                    ("reason", "no".into()),
                ]),
            ),
        ])
    );
}

#[test]
fn control_payloads_round_trip() {
    let payloads = [
        ControlPayload::Ack,
        ControlPayload::Close,
        ControlPayload::HandshakeRequest(HandshakeRequest::new(
            V2_0,
            "S",
            ExpectedSessionState::default(),
        )),
        ControlPayload::HandshakeRequest(
            HandshakeRequest::new(V2_0, "S", ExpectedSessionState::default())
                .with_metadata(Value::Null),
        ),
        ControlPayload::HandshakeResponse(HandshakeResponse::Ok {
            session_id: "S".into(),
        }),
        ControlPayload::HandshakeResponse(HandshakeResponse::Err {
            code: HandshakeErrorCode::Unknown("FUTURE_CODE".into()),
            reason: "r".into(),
        }),
        ControlPayload::RehandshakeRequest,
        ControlPayload::RehandshakeResponse(statebound_river::wire::RehandshakeResponse {
            metadata: None,
        }),
        ControlPayload::RehandshakeResponse(statebound_river::wire::RehandshakeResponse {
            metadata: Some(Value::Null),
        }),
    ];
    for p in payloads {
        assert_eq!(ControlPayload::parse(&p.to_payload()), Ok(p.clone()));
        assert_eq!(
            p.kind().as_str(),
            p.to_payload().get("type").unwrap().as_str().unwrap()
        );
    }
}

// --- Handshake request parsing ----------------------------------------------------------------

fn request_with(f: impl FnOnce(&mut Map)) -> Value {
    let Value::Map(mut m) =
        HandshakeRequest::new(V2_0, "S", ExpectedSessionState::default()).to_payload()
    else {
        unreachable!()
    };
    f(&mut m);
    Value::Map(m)
}

#[test]
fn malformed_handshake_requests_are_reported_for_malformed_handshake() {
    let cases = [
        (
            Value::Null,
            expect!["malformed HANDSHAKE_REQ payload: expected a map, found null"],
        ),
        (
            map(&[("type", "ACK".into())]),
            expect![[
                r#"malformed HANDSHAKE_REQ payload: field `type`: expected "HANDSHAKE_REQ", found "ACK""#
            ]],
        ),
        (
            request_with(|m| {
                m.remove("sessionId");
            }),
            expect!["malformed HANDSHAKE_REQ payload: missing field `sessionId`"],
        ),
        (
            request_with(|m| {
                m.insert("protocolVersion", 2);
            }),
            expect![
                "malformed HANDSHAKE_REQ payload: field `protocolVersion`: expected a string, found integer 2"
            ],
        ),
        (
            request_with(|m| {
                m.insert(
                    "expectedSessionState",
                    map(&[("nextExpectedSeq", 0.into())]),
                );
            }),
            expect![
                "malformed HANDSHAKE_REQ payload: missing field `expectedSessionState.nextSentSeq`"
            ],
        ),
        (
            request_with(|m| {
                m.insert(
                    "expectedSessionState",
                    map(&[("nextExpectedSeq", 0.5.into()), ("nextSentSeq", 0.into())]),
                );
            }),
            expect![
                "malformed HANDSHAKE_REQ payload: field `expectedSessionState.nextExpectedSeq`: expected a non-negative integer, found a float"
            ],
        ),
        (
            request_with(|m| {
                m.insert("expectedSessionState", Value::Null);
            }),
            expect![
                "malformed HANDSHAKE_REQ payload: field `expectedSessionState`: expected a map, found null"
            ],
        ),
    ];
    for (payload, expected) in cases {
        let err = parse_handshake_request(&payload).unwrap_err();
        expected.assert_eq(&err.to_string());
        assert_eq!(err.kind(), ControlKind::HandshakeRequest);
        assert_eq!(
            err.handshake_code(),
            Some(HandshakeErrorCode::MalformedHandshake)
        );
    }
}

#[test]
fn unsupported_version_is_well_formed() {
    // The server must answer PROTOCOL_VERSION_MISMATCH, so parsing succeeds and the version
    // check is separate.
    let payload = request_with(|m| {
        m.insert("protocolVersion", "v0");
    });
    let req = parse_handshake_request(&payload).unwrap();
    assert_eq!(req.protocol_version, "v0");
    assert_eq!(req.version(), Err(UnknownVersion("v0".into())));
}

#[test]
fn metadata_absent_null_or_present() {
    let absent = parse_handshake_request(&request_with(|_| {})).unwrap();
    assert_eq!(absent.metadata, None);
    let null = parse_handshake_request(&request_with(|m| {
        m.insert("metadata", Value::Null);
    }))
    .unwrap();
    assert_eq!(null.metadata, Some(Value::Null));
    let present = parse_handshake_request(&request_with(|m| {
        m.insert("metadata", map(&[("a", Value::Bytes(vec![1]))]));
    }))
    .unwrap();
    assert_eq!(present.metadata, Some(map(&[("a", Value::Bytes(vec![1]))])));
}

// --- Handshake response parsing ---------------------------------------------------------------

#[test]
fn error_codes() {
    let all = [
        ("SESSION_STATE_MISMATCH", true),
        ("MALFORMED_HANDSHAKE", false),
        ("MALFORMED_HANDSHAKE_META", false),
        ("PROTOCOL_VERSION_MISMATCH", false),
        ("REJECTED_BY_CUSTOM_HANDLER", false),
        ("REJECTED_UNSUPPORTED_CLIENT", false),
    ];
    for (known, (wire, retriable)) in HandshakeErrorCode::KNOWN.iter().zip(all) {
        assert_eq!(known.as_str(), wire);
        assert_eq!(HandshakeErrorCode::from_wire(wire), *known);
        assert_eq!(known.is_retriable(), retriable, "{wire}");
        assert_eq!(known.to_string(), wire);
    }
    let unknown = HandshakeErrorCode::from_wire("SOMETHING_NEW");
    assert_eq!(unknown, HandshakeErrorCode::Unknown("SOMETHING_NEW".into()));
    assert!(!unknown.is_retriable());
    assert_eq!(unknown.as_str(), "SOMETHING_NEW");
}

#[test]
fn malformed_handshake_responses() {
    let status = |s: Value| map(&[("type", "HANDSHAKE_RESP".into()), ("status", s)]);
    let cases = [
        (
            map(&[("type", "HANDSHAKE_RESP".into())]),
            expect!["malformed HANDSHAKE_RESP payload: missing field `status`"],
        ),
        (
            status(map(&[("ok", true.into())])),
            expect!["malformed HANDSHAKE_RESP payload: missing field `status.sessionId`"],
        ),
        (
            status(map(&[("ok", "yes".into())])),
            expect![
                "malformed HANDSHAKE_RESP payload: field `status.ok`: expected a boolean, found a string"
            ],
        ),
        (
            status(map(&[("ok", false.into()), ("code", 3.into())])),
            expect![
                "malformed HANDSHAKE_RESP payload: field `status.code`: expected a string, found integer 3"
            ],
        ),
    ];
    for (payload, expected) in cases {
        let err = parse_handshake_response(&payload).unwrap_err();
        expected.assert_eq(&err.to_string());
        assert_eq!(err.kind(), ControlKind::HandshakeResponse);
        assert_eq!(err.handshake_code(), None);
    }
}

#[test]
fn unknown_control_payloads() {
    expect![[r#"not a control payload: unknown type "FUTURE_REQ""#]].assert_eq(
        &ControlPayload::parse(&map(&[("type", "FUTURE_REQ".into())]))
            .unwrap_err()
            .to_string(),
    );
    // A rehandshake response that is not a map is malformed, not unknown.
    expect!["malformed REHANDSHAKE_RESP payload: expected a map, found a string"].assert_eq(
        &statebound_river::wire::RehandshakeResponse::from_payload(&Value::from("x"))
            .unwrap_err()
            .to_string(),
    );
    expect!["not a control payload: no string `type` field"]
        .assert_eq(&ControlPayload::parse(&Value::Null).unwrap_err().to_string());
    assert!(matches!(
        ControlPayload::parse(&map(&[("type", "HANDSHAKE_REQ".into())])),
        Err(ControlPayloadError::Malformed(_))
    ));
    // Extra keys beside `type` are tolerated, as River's schemas allow.
    assert_eq!(
        ControlPayload::parse(&map(&[("type", "ACK".into()), ("x", 1.into())])),
        Ok(ControlPayload::Ack)
    );
}
