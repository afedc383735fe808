//! Generated envelopes and payloads survive both codecs unchanged.
//!
//! Floats are finite and never NaN: NaN is not equal to itself, so a NaN round trip cannot be
//! checked with `==`, and JSON cannot carry non-finite floats at all (encoding them is an error,
//! tested in `wire/codec.rs`). The JSON strategy also leaves out what JSON cannot carry:
//! extension values and maps with a `"$t"` or `"$b"` key. Extension type 0 is River's big
//! integer, which decodes as an integer rather than as itself, so the extension values generated
//! have other types; integers cover all of `i128`, around the edges where their encoding changes.

use proptest::prelude::*;
use statebound_river::wire::{
    BIGINT_EXT, BIGINT_TAG, BYTES_TAG, Codec, CodecKind, ControlFlags, JsonCodec, Map,
    MsgpackCodec, ProtocolVersion, SAFE_INT_MAX, Tracing, TransportMessage, Value, from_payload,
    to_payload,
};

fn finite_float() -> impl Strategy<Value = f64> {
    use proptest::num::f64;
    f64::POSITIVE | f64::NEGATIVE | f64::NORMAL | f64::SUBNORMAL | f64::ZERO
}

/// Integers near `edge`, on both sides of it and of its negation.
fn around(edge: i128) -> impl Strategy<Value = i128> {
    (-3i128..=3, any::<bool>()).prop_map(move |(d, negative)| {
        let n = edge.saturating_add(d);
        if negative { -n } else { n }
    })
}

fn int() -> impl Strategy<Value = i128> {
    prop_oneof![
        (-40i128..300),
        any::<i64>().prop_map(i128::from),
        any::<u64>().prop_map(i128::from),
        any::<i128>(),
        around(SAFE_INT_MAX),
        around(i128::from(u64::MAX)),
        around(i128::from(i64::MAX)),
        around(i128::MAX - 3),
        Just(i128::MIN),
    ]
}

fn value(json: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        int().prop_map(Value::Int),
        finite_float().prop_map(Value::Float),
        any::<String>().prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(
            // JSON has no extension values; type 0 is a big integer.
            move |(tag, data)| if json {
                Value::Null
            } else if tag == BIGINT_EXT {
                Value::Ext(1, data)
            } else {
                Value::Ext(tag, data)
            }
        ),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((any::<String>(), inner), 0..8).prop_map(move |entries| {
                Value::Map(
                    entries
                        .into_iter()
                        .filter(|(k, _)| !(json && (k == BYTES_TAG || k == BIGINT_TAG)))
                        .collect::<Map>(),
                )
            }),
        ]
    })
}

fn message(json: bool) -> impl Strategy<Value = TransportMessage> {
    let names = (
        any::<String>(),
        any::<String>(),
        any::<String>(),
        any::<String>(),
    );
    let optional = (
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        proptest::option::of((any::<String>(), any::<String>())),
    );
    (
        names,
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        optional,
        value(json),
    )
        .prop_map(
            |(
                (id, from, to, stream_id),
                seq,
                ack,
                control_flags,
                (service, procedure, tracing),
                payload,
            )| {
                TransportMessage {
                    id,
                    from,
                    to,
                    seq,
                    ack,
                    service_name: service,
                    procedure_name: procedure,
                    stream_id,
                    control_flags,
                    tracing: tracing.map(|(traceparent, tracestate)| Tracing {
                        traceparent,
                        tracestate,
                    }),
                    payload,
                }
            },
        )
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Fields {
    wide: i128,
    signed: i64,
    unsigned: u64,
    small: i32,
    maybe: Option<i128>,
}

proptest! {
    // No regression files: a failure prints its minimal case, which belongs in a named test.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    })]

    #[test]
    fn json_round_trip(msg in message(true)) {
        let frame = JsonCodec.encode(&msg).unwrap();
        prop_assert_eq!(CodecKind::sniff(&frame), Some(CodecKind::Json));
        prop_assert_eq!(JsonCodec.decode(&frame).unwrap(), msg);
    }

    #[test]
    fn msgpack_round_trip(msg in message(false)) {
        let frame = MsgpackCodec.encode(&msg).unwrap();
        prop_assert_eq!(CodecKind::sniff(&frame), Some(CodecKind::Msgpack));
        prop_assert_eq!(MsgpackCodec.decode(&frame).unwrap(), msg);
    }

    /// rmpv, an independent reader, reads our msgpack frames as the same tree.
    #[test]
    fn msgpack_frames_are_standard_msgpack(msg in message(false)) {
        let frame = MsgpackCodec.encode(&msg).unwrap();
        let mut rest = frame.as_slice();
        let raw = rmpv::decode::read_value(&mut rest).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert!(raw.is_map());
        let mut again = Vec::new();
        rmpv::encode::write_value(&mut again, &raw).unwrap();
        prop_assert_eq!(MsgpackCodec.decode(&again).unwrap(), msg);
    }

    /// A handler's integer fields of every width survive conversion to a payload, both codecs,
    /// and conversion back.
    #[test]
    fn integer_fields_survive_both_codecs(
        wide in any::<i128>(),
        signed in any::<i64>(),
        unsigned in any::<u64>(),
        small in any::<i32>(),
    ) {
        let fields = Fields { wide, signed, unsigned, small, maybe: Some(wide) };
        let payload = to_payload(&fields).unwrap();
        for codec in [CodecKind::Json, CodecKind::Msgpack] {
            let mut msg = TransportMessage {
                id: "i".into(),
                from: "a".into(),
                to: "b".into(),
                seq: 0,
                ack: 0,
                service_name: None,
                procedure_name: None,
                stream_id: "s".into(),
                control_flags: 0,
                tracing: None,
                payload: payload.clone(),
            };
            msg = codec.decode(&codec.encode(&msg).unwrap()).unwrap();
            prop_assert_eq!(&msg.payload, &payload);
            prop_assert_eq!(from_payload::<Fields>(&msg.payload).unwrap(), fields);
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = JsonCodec.decode(&bytes);
        let _ = MsgpackCodec.decode(&bytes);
    }

    #[test]
    fn flags_round_trip(ack: bool, open: bool, closed: bool, cancel: bool) {
        let flags = ControlFlags { ack, open, closed, cancel };
        for version in ProtocolVersion::ALL {
            match flags.to_bits(version) {
                Ok(bits) => prop_assert_eq!(ControlFlags::from_bits(bits, version), flags),
                Err(_) => prop_assert!(cancel && version == ProtocolVersion::V1_1),
            }
        }
    }
}
