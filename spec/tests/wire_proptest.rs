//! Generated envelopes and payloads survive both codecs unchanged.
//!
//! Floats are finite and never NaN: NaN is not equal to itself, so a NaN round trip cannot be
//! checked with `==`, and JSON cannot carry non-finite floats at all (encoding them is an error,
//! tested in `wire_codec.rs`). The JSON strategy also leaves out what JSON cannot carry:
//! extension values and maps with a `"$t"` key.

use proptest::prelude::*;
use statebound_river::wire::{
    BYTES_TAG, Codec, CodecKind, ControlFlags, JsonCodec, Map, MsgpackCodec, ProtocolVersion,
    Tracing, TransportMessage, Value,
};

fn finite_float() -> impl Strategy<Value = f64> {
    use proptest::num::f64;
    f64::POSITIVE | f64::NEGATIVE | f64::NORMAL | f64::SUBNORMAL | f64::ZERO
}

fn int() -> impl Strategy<Value = i128> {
    prop_oneof![
        (-40i128..300),
        any::<i64>().prop_map(i128::from),
        any::<u64>().prop_map(i128::from),
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
            // JSON has no extension values.
            move |(tag, data)| if json {
                Value::Null
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
                        .filter(|(k, _)| !(json && k == BYTES_TAG))
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
