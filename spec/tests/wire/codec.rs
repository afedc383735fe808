//! Both codecs: round trips, absent fields, strict integers, and clean failure on bad input.
//! The round-trip examples and the invalid inputs are River's own (codec/codec.test.ts).

use expect_test::expect;
use statebound_river::wire::{
    Codec, CodecKind, DecodeBudget, DecodeError, JsonCodec, Map, MsgpackCodec, Tracing,
    TransportMessage, Value,
};

const CODECS: [CodecKind; 2] = [CodecKind::Json, CodecKind::Msgpack];

fn message(payload: Value) -> TransportMessage {
    TransportMessage {
        id: "id".into(),
        from: "a".into(),
        to: "b".into(),
        seq: 1,
        ack: 2,
        service_name: None,
        procedure_name: None,
        stream_id: "s".into(),
        control_flags: 0,
        tracing: None,
        payload,
    }
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(entries.iter().cloned().collect::<Map>())
}

fn round_trip(codec: CodecKind, msg: &TransportMessage) -> TransportMessage {
    let frame = codec.encode(msg).unwrap();
    assert_eq!(CodecKind::sniff(&frame), Some(codec));
    codec.decode(&frame).unwrap()
}

#[test]
fn river_codec_examples_round_trip() {
    let examples = [
        ("empty object", map(&[])),
        (
            "simple object",
            map(&[("abc", 123.into()), ("def", "cool".into())]),
        ),
        ("non-ASCII string", map(&[("test", "🇧🇪你好世界".into())])),
        ("null value", map(&[("test", Value::Null)])),
        ("empty buffer", map(&[("test", Value::Bytes(vec![]))])),
        (
            "deeply nested",
            map(&[
                ("array", Value::Array(vec![map(&[("object", true.into())])])),
                ("deeply", map(&[("nested", map(&[("nice", Value::Null)]))])),
            ]),
        ),
        (
            "buffer",
            map(&[("buff", Value::Bytes(vec![0, 42, 100, 255]))]),
        ),
        ("top-level null payload", Value::Null),
        (
            "top-level bytes payload",
            Value::Bytes(b"\x00\xff".to_vec()),
        ),
        (
            "negative and large integers",
            Value::Array(vec![
                Value::Int(-1),
                Value::Int(i128::from(i64::MIN)),
                Value::Int(i128::from(u64::MAX)),
            ]),
        ),
        (
            "floats",
            Value::Array(vec![0.5.into(), (-1e300).into(), 3.0.into()]),
        ),
    ];
    for codec in CODECS {
        for (name, payload) in &examples {
            let msg = message(payload.clone());
            assert_eq!(round_trip(codec, &msg), msg, "{codec}: {name}");
        }
    }
}

#[test]
fn bytes_stay_bytes_and_strings_stay_strings() {
    let payload = map(&[("b", Value::Bytes(b"hi".to_vec())), ("s", "hi".into())]);
    let msg = message(payload);
    let json = String::from_utf8(JsonCodec.encode(&msg).unwrap()).unwrap();
    assert!(
        json.contains(r#""payload":{"b":{"$t":"aGk="},"s":"hi"}"#),
        "{json}"
    );
    for codec in CODECS {
        assert_eq!(round_trip(codec, &msg), msg);
    }
}

#[test]
fn all_optional_fields_round_trip() {
    let mut msg = message(map(&[("x", 1.into())]));
    msg.service_name = Some("svc".into());
    msg.procedure_name = Some("proc".into());
    msg.tracing = Some(Tracing {
        traceparent: "00-abc-def-01".into(),
        tracestate: "k=v".into(),
    });
    for codec in CODECS {
        assert_eq!(round_trip(codec, &msg), msg);
    }
}

#[test]
fn absent_optional_fields_stay_absent() {
    let msg = message(Value::Null);
    let json = JsonCodec.encode(&msg).unwrap();
    expect![[r#"{"id":"id","from":"a","to":"b","seq":1,"ack":2,"streamId":"s","controlFlags":0,"payload":null}"#]]
        .assert_eq(std::str::from_utf8(&json).unwrap());

    let frame = MsgpackCodec.encode(&msg).unwrap();
    // A fixmap of exactly the eight required fields.
    assert_eq!(frame[0], 0x88);
    let raw = rmpv::decode::read_value(&mut frame.as_slice()).unwrap();
    let keys: Vec<_> = raw
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "from",
            "to",
            "seq",
            "ack",
            "streamId",
            "controlFlags",
            "payload"
        ]
    );

    for codec in CODECS {
        let back = round_trip(codec, &msg);
        assert_eq!(back.service_name, None);
        assert_eq!(back.procedure_name, None);
        assert_eq!(back.tracing, None);
    }
}

#[test]
fn null_optional_fields_read_as_absent() {
    // The Python client's model allows `None`; River's JS tolerates `null` here too.
    let frame = br#"{"id":"i","from":"a","to":"b","seq":0,"ack":0,"serviceName":null,"procedureName":null,"tracing":null,"streamId":"s","controlFlags":0,"payload":null}"#;
    let msg = JsonCodec.decode(frame).unwrap();
    assert_eq!(msg, message_with_seq(0, 0));
    let mp = MsgpackCodec.encode(&msg).unwrap();
    assert_eq!(MsgpackCodec.decode(&mp).unwrap(), msg);
}

fn message_with_seq(seq: u64, ack: u64) -> TransportMessage {
    TransportMessage {
        id: "i".into(),
        seq,
        ack,
        ..message(Value::Null)
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let frame = br#"{"id":"i","from":"a","to":"b","seq":0,"ack":0,"streamId":"s","controlFlags":0,"payload":null,"extra":{"deep":[1,2]},"v":"2"}"#;
    assert_eq!(JsonCodec.decode(frame).unwrap(), message_with_seq(0, 0));
}

fn json_error(frame: &[u8]) -> String {
    JsonCodec.decode(frame).unwrap_err().to_string()
}

#[test]
fn integers_must_be_integers() {
    let with = |seq: &str| {
        format!(
            r#"{{"id":"i","from":"a","to":"b","seq":{seq},"ack":0,"streamId":"s","controlFlags":0,"payload":null}}"#
        )
    };
    expect!["field `seq`: expected a non-negative integer, found a float"]
        .assert_eq(&json_error(with("1.0").as_bytes()));
    expect!["field `seq`: expected a non-negative integer, found a float"]
        .assert_eq(&json_error(with("1e0").as_bytes()));
    expect!["field `seq`: expected a non-negative integer, found integer -1"]
        .assert_eq(&json_error(with("-1").as_bytes()));
    expect!["field `seq`: expected a non-negative integer, found a string"]
        .assert_eq(&json_error(with(r#""1""#).as_bytes()));
    // Beyond u64, JSON numbers are floats.
    expect!["field `seq`: expected a non-negative integer, found a float"]
        .assert_eq(&json_error(with("18446744073709551616").as_bytes()));
    assert_eq!(
        JsonCodec
            .decode(with("18446744073709551615").as_bytes())
            .unwrap()
            .seq,
        u64::MAX
    );

    let flags = br#"{"id":"i","from":"a","to":"b","seq":0,"ack":0,"streamId":"s","controlFlags":4294967296,"payload":null}"#;
    expect![
        "field `controlFlags`: expected an integer in 0..=4294967295, found integer 4294967296"
    ]
    .assert_eq(&json_error(flags));
}

#[test]
fn msgpack_float_seq_is_refused() {
    let mut msg = message(Value::Null);
    msg.seq = 7;
    let mut raw =
        rmpv::decode::read_value(&mut MsgpackCodec.encode(&msg).unwrap().as_slice()).unwrap();
    let rmpv::Value::Map(entries) = &mut raw else {
        panic!("not a map: {raw}");
    };
    for (k, v) in entries {
        if k.as_str() == Some("seq") {
            *v = rmpv::Value::F64(7.0);
        }
    }
    let mut frame = Vec::new();
    rmpv::encode::write_value(&mut frame, &raw).unwrap();
    expect!["field `seq`: expected a non-negative integer, found a float"]
        .assert_eq(&MsgpackCodec.decode(&frame).unwrap_err().to_string());
}

#[test]
fn missing_fields_are_named() {
    expect!["missing field `payload`"].assert_eq(&json_error(
        br#"{"id":"i","from":"a","to":"b","seq":0,"ack":0,"streamId":"s","controlFlags":0}"#,
    ));
    expect!["missing field `id`"].assert_eq(&json_error(b"{}"));
    expect!["missing field `tracestate`"].assert_eq(&json_error(
        br#"{"id":"i","from":"a","to":"b","seq":0,"ack":0,"streamId":"s","controlFlags":0,"tracing":{"traceparent":""},"payload":1}"#,
    ));
}

#[test]
fn river_invalid_inputs_fail_cleanly() {
    let cases: [(&[u8], _); 5] = [
        (b"", expect!["empty frame"]),
        (
            b"[",
            expect!["invalid JSON: EOF while parsing a list at line 1 column 1"],
        ),
        (
            b"[{}",
            expect!["invalid JSON: EOF while parsing a list at line 1 column 3"],
        ),
        (
            b"{\"a\":1}[]",
            expect!["invalid JSON: trailing characters at line 1 column 8"],
        ),
        (b"[]", expect!["a message must be a map, found an array"]),
    ];
    for (frame, expected) in cases {
        expected.assert_eq(&json_error(frame));
    }
    expect!["a message must be a map, found a string"].assert_eq(&json_error(br#""x""#));
    expect!["a message must be a map, found null"].assert_eq(&json_error(b"null"));
    expect!["a message must be a map, found bytes"].assert_eq(&json_error(br#"{"$t":"AA=="}"#));
    expect!["invalid JSON: expected value at line 1 column 1"].assert_eq(&json_error(b"\x81\xa1a"));
    expect!["invalid JSON: invalid unicode code point at line 1 column 7"]
        .assert_eq(&json_error(b"{\"a\":\"\xff\"}"));
}

fn msgpack_error(frame: &[u8]) -> String {
    MsgpackCodec.decode(frame).unwrap_err().to_string()
}

#[test]
fn msgpack_invalid_inputs_fail_cleanly() {
    let good = MsgpackCodec.encode(&message(Value::Null)).unwrap();
    // Every strict prefix is truncated and must fail without panicking.
    for end in 0..good.len() {
        let err = MsgpackCodec.decode(&good[..end]).unwrap_err();
        assert!(
            matches!(err, DecodeError::Empty | DecodeError::Truncated),
            "prefix of {end} bytes: {err}"
        );
    }
    expect!["empty frame"].assert_eq(&msgpack_error(b""));
    expect!["truncated msgpack value"].assert_eq(&msgpack_error(&good[..good.len() - 1]));
    // A non-map value: the array [1].
    expect!["a message must be a map, found an array"].assert_eq(&msgpack_error(b"\x91\x01"));
    expect!["a message must be a map, found an integer"].assert_eq(&msgpack_error(b"\x01"));
    // JSON sent to the msgpack codec: `{` is the fixint 123, then trailing bytes.
    expect!["1 trailing bytes after the msgpack value"].assert_eq(&msgpack_error(b"{}"));
    let mut trailing = good.clone();
    trailing.push(0xc0);
    expect!["1 trailing bytes after the msgpack value"].assert_eq(&msgpack_error(&trailing));
    // {1: nil}: Python's msgpack refuses non-string keys by default, and so do we.
    expect!["map key must be a string, found an integer"]
        .assert_eq(&msgpack_error(b"\x81\x01\xc0"));
    // {"a": <str with invalid UTF-8>}
    expect!["msgpack string is not valid UTF-8"].assert_eq(&msgpack_error(b"\x81\xa1a\xa1\xff"));
    // The reserved marker 0xc1, which rmpv would read as nil.
    expect!["reserved msgpack marker 0xc1"].assert_eq(&msgpack_error(b"\x81\xa1a\xc1"));
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let depth = 100_000;
    let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(matches!(
        JsonCodec.decode(json.as_bytes()),
        Err(DecodeError::Json(_))
    ));
    let mut mp = vec![0x91; depth];
    mp.push(0xc0);
    assert!(matches!(
        MsgpackCodec.decode(&mp),
        Err(DecodeError::TooDeep(128))
    ));

    // Moderate nesting is fine in both.
    let mut v = Value::Null;
    for _ in 0..100 {
        v = Value::Array(vec![v]);
    }
    for codec in CODECS {
        let msg = message(v.clone());
        assert_eq!(round_trip(codec, &msg), msg, "{codec}");
    }
}

#[test]
fn json_bytes_marker_is_read_like_river() {
    let with = |payload: &str| {
        format!(
            r#"{{"id":"i","from":"a","to":"b","seq":0,"ack":0,"streamId":"s","controlFlags":0,"payload":{payload}}}"#
        )
    };
    let decode = |payload: &str| {
        JsonCodec
            .decode(with(payload).as_bytes())
            .map(|m| m.payload)
    };
    // Unpadded base64, as `atob` allows.
    assert_eq!(
        decode(r#"{"$t":"aGk"}"#).unwrap(),
        Value::Bytes(b"hi".to_vec())
    );
    // Other keys beside `$t` are dropped, as River's reviver does.
    assert_eq!(
        decode(r#"{"$t":"aGk=","x":1}"#).unwrap(),
        Value::Bytes(b"hi".to_vec())
    );
    assert_eq!(
        decode(r#"[{"$t":""}]"#).unwrap(),
        Value::Array(vec![Value::Bytes(vec![])])
    );
    expect!["invalid JSON: `$t` byte string is not valid base64: Invalid symbol 33, offset 0. at line 1 column 101"]
        .assert_eq(&decode(r#"{"$t":"!!!!"}"#).unwrap_err().to_string());
    expect!["invalid JSON: `$t` marks a byte string and must hold base64 text, found an integer at line 1 column 96"]
        .assert_eq(&decode(r#"{"$t":5}"#).unwrap_err().to_string());
    // River's BinaryCodec has no such marker: in msgpack, `$t` is an ordinary key.
    let msg = message(map(&[("$t", "aGk=".into())]));
    assert_eq!(round_trip(CodecKind::Msgpack, &msg), msg);
}

#[test]
fn json_cannot_carry_everything() {
    let cases = [
        (
            map(&[("$t", "x".into())]),
            expect![
                "cannot encode as JSON: a map with a `$t` key has no JSON representation: River's JSON codec reads it back as bytes"
            ],
        ),
        (
            Value::Float(f64::NAN),
            expect!["cannot encode as JSON: float NaN has no JSON representation"],
        ),
        (
            Value::Float(f64::INFINITY),
            expect!["cannot encode as JSON: float inf has no JSON representation"],
        ),
        (
            Value::Ext(5, vec![1]),
            expect![
                "cannot encode as JSON: msgpack extension value (type 5) has no JSON representation"
            ],
        ),
        (
            map(&[("$b", "1".into())]),
            expect![
                "cannot encode as JSON: a map with a `$b` key has no JSON representation: River's JSON codec reads it back as a big integer"
            ],
        ),
    ];
    for (payload, expected) in cases {
        expected.assert_eq(&JsonCodec.encode(&message(payload)).unwrap_err().to_string());
    }
    // msgpack carries non-finite floats and extension values, and `$b` is an ordinary key there.
    let inf = message(Value::Float(f64::NEG_INFINITY));
    assert_eq!(round_trip(CodecKind::Msgpack, &inf), inf);
    let ext = message(Value::Ext(5, vec![1, 2, 3]));
    assert_eq!(round_trip(CodecKind::Msgpack, &ext), ext);
    let b = message(map(&[("$b", "1".into())]));
    assert_eq!(round_trip(CodecKind::Msgpack, &b), b);
}

#[test]
fn msgpack_integers_take_their_smallest_form() {
    let encoded = |n: i128| {
        let frame = MsgpackCodec.encode(&message(Value::Int(n))).unwrap();
        // The payload is the last field, so its value ends the frame.
        let start = frame.windows(8).position(|w| w == b"\xa7payload").unwrap() + 8;
        frame[start..].to_vec()
    };
    assert_eq!(encoded(5), [0x05]);
    assert_eq!(encoded(200), [0xcc, 200]);
    assert_eq!(encoded(-1), [0xff]);
    assert_eq!(encoded(-33), [0xd0, 0xdf]);
    assert_eq!(encoded(70_000), [0xce, 0x00, 0x01, 0x11, 0x70]);
}

#[test]
fn duplicate_keys_keep_the_last_value() {
    let frame = br#"{"id":"first","id":"i","from":"a","to":"b","seq":0,"ack":0,"streamId":"s","controlFlags":0,"payload":{"k":1,"k":2}}"#;
    let msg = JsonCodec.decode(frame).unwrap();
    assert_eq!(msg.id, "i");
    assert_eq!(msg.payload, map(&[("k", 2.into())]));
}

#[test]
fn sniffing() {
    assert_eq!(CodecKind::sniff(b"{}"), Some(CodecKind::Json));
    assert_eq!(CodecKind::sniff(b" \t\r\n{"), Some(CodecKind::Json));
    assert_eq!(CodecKind::sniff(b"\x80"), Some(CodecKind::Msgpack));
    assert_eq!(CodecKind::sniff(b"\x8f"), Some(CodecKind::Msgpack));
    assert_eq!(CodecKind::sniff(b"\xde\x00\x10"), Some(CodecKind::Msgpack));
    assert_eq!(
        CodecKind::sniff(b"\xdf\x00\x00\x00\x10"),
        Some(CodecKind::Msgpack)
    );
    assert_eq!(CodecKind::sniff(b""), None);
    assert_eq!(CodecKind::sniff(b"   "), None);
    assert_eq!(CodecKind::sniff(b"[{}]"), None);
    assert_eq!(CodecKind::sniff(b"\x90"), None);
    assert_eq!(CodecKind::sniff(b"\xef\xbb\xbf{"), None);
    assert_eq!(CodecKind::Json.kind(), CodecKind::Json);
    assert_eq!(JsonCodec.kind(), CodecKind::Json);
    assert_eq!(MsgpackCodec.kind(), CodecKind::Msgpack);
}

#[test]
fn serde_impls_agree_with_the_codecs() {
    let msg = message(map(&[("b", Value::Bytes(vec![1, 2]))]));
    let via_serde = serde_json::to_vec(&msg).unwrap();
    assert_eq!(via_serde, JsonCodec.encode(&msg).unwrap());
    let back: TransportMessage = serde_json::from_slice(&via_serde).unwrap();
    assert_eq!(back, msg);
    assert!(serde_json::from_str::<TransportMessage>("[]").is_err());
}

/// Counts the bytes the process holds, and the most it held.
#[global_allocator]
static ALLOCATOR: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

/// Runs `f` and returns what it returned with the most bytes held at once while it ran,
/// beyond what was held before.
fn peak<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    let result = f();
    (result, ALLOCATOR.peak_usage().saturating_sub(start))
}

/// The allocator counts for the whole process, so a test that reads it runs alone: in a
/// child process of this test binary that runs only `test`. True in the child, where the
/// test's body goes on; false in the parent, once the child passed.
fn alone(test: &str) -> bool {
    const CHILD: &str = "STATEBOUND_TEST_ALONE";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .status()
        .unwrap();
    assert!(status.success(), "{test} failed in its own process");
    false
}

/// An envelope whose payload is the msgpack value `payload` (already encoded).
fn msgpack_frame_around(payload: &[u8]) -> Vec<u8> {
    let mut frame = MsgpackCodec.encode(&message(Value::Null)).unwrap();
    // The payload is the envelope's last field and encodes as nil (0xc0): splice ours in.
    assert_eq!(frame.pop(), Some(0xc0));
    frame.extend_from_slice(payload);
    frame
}

fn msgpack_array(len: u32, element: &[u8]) -> Vec<u8> {
    let mut v = vec![0xdd];
    v.extend_from_slice(&len.to_be_bytes());
    for _ in 0..len {
        v.extend_from_slice(element);
    }
    v
}

/// A msgpack map of `entries` entries `"": nil`: two bytes each, the costliest shape per byte.
fn msgpack_map_of_empty_keys(entries: u32) -> Vec<u8> {
    let mut map = vec![0xdf];
    map.extend_from_slice(&entries.to_be_bytes());
    for _ in 0..entries {
        map.extend_from_slice(&[0xa0, 0xc0]);
    }
    map
}

fn json_frame_around(payload: &str) -> Vec<u8> {
    let frame = String::from_utf8(JsonCodec.encode(&message(Value::Null)).unwrap()).unwrap();
    frame
        .replace("\"payload\":null", &format!("\"payload\":{payload}"))
        .into_bytes()
}

/// Hostile frames of about 2 MiB: the values that cost most memory per byte.
fn hostile_frames() -> Vec<(&'static str, CodecKind, Vec<u8>)> {
    let n = 2 * 1024 * 1024;
    let count = |per: usize| u32::try_from(n / per).unwrap();
    vec![
        (
            "msgpack nils",
            CodecKind::Msgpack,
            msgpack_frame_around(&msgpack_array(count(1), &[0xc0])),
        ),
        (
            "msgpack empty arrays",
            CodecKind::Msgpack,
            msgpack_frame_around(&msgpack_array(count(1), &[0x90])),
        ),
        (
            "msgpack empty strings",
            CodecKind::Msgpack,
            msgpack_frame_around(&msgpack_array(count(1), &[0xa0])),
        ),
        (
            "msgpack map of empty keys",
            CodecKind::Msgpack,
            msgpack_frame_around(&msgpack_map_of_empty_keys(count(2))),
        ),
        (
            "json zeros",
            CodecKind::Json,
            json_frame_around(&format!("[{}0]", "0,".repeat(n / 2))),
        ),
        (
            "json empty arrays",
            CodecKind::Json,
            json_frame_around(&format!("[{}[]]", "[],".repeat(n / 3))),
        ),
        (
            "json empty strings",
            CodecKind::Json,
            json_frame_around(&format!("[{}\"\"]", "\"\",".repeat(n / 3))),
        ),
    ]
}

#[test]
fn no_frame_takes_more_than_twice_its_budget() {
    if !alone("codec::no_frame_takes_more_than_twice_its_budget") {
        return;
    }
    let budget = DecodeBudget::DEFAULT;
    for (name, codec, frame) in hostile_frames() {
        let limit = budget.for_frame(frame.len());
        let (result, peak) = peak(|| codec.decode_within(&frame, budget));
        println!(
            "{name}: {} bytes, held at most {peak} ({}.{}x the frame), budget {limit}, {}",
            frame.len(),
            peak / frame.len(),
            peak * 10 / frame.len() % 10,
            if result.is_ok() { "decoded" } else { "refused" }
        );
        // Lists and maps briefly hold their old and new storage while they grow.
        assert!(
            peak <= 2 * limit,
            "{name}: decoding {} bytes held {peak} bytes at once, budget {limit}",
            frame.len()
        );
        match result {
            Ok(_) | Err(DecodeError::OverBudget { .. }) => {}
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn frames_past_their_budget_are_refused() {
    let half = DecodeBudget {
        per_byte: 16,
        ..DecodeBudget::DEFAULT
    };
    for (name, codec, frame) in hostile_frames() {
        // The default refuses maps of empty keys (56 bytes per byte); 16 per byte refuses
        // every msgpack frame of one-byte values too.
        let budget = if name.contains("map") {
            DecodeBudget::DEFAULT
        } else if codec == CodecKind::Msgpack {
            half
        } else {
            continue;
        };
        let limit = budget.for_frame(frame.len());
        let err = codec.decode_within(&frame, budget).unwrap_err();
        assert!(
            matches!(err, DecodeError::OverBudget { limit: l } if l == limit),
            "{name}: {err}"
        );
        assert_eq!(
            err.to_string(),
            format!("decoding the frame would take more than {limit} bytes (its decode budget)")
        );
        // Without a budget the same frame decodes.
        assert!(
            codec.decode_within(&frame, DecodeBudget::UNLIMITED).is_ok(),
            "{name}"
        );
    }
}

#[test]
fn ordinary_frames_fit_the_budget() {
    let record = map(&[
        ("id", Value::from("user-1234")),
        ("name", Value::from("Ada Lovelace")),
        ("age", Value::Int(36)),
        ("admin", Value::Bool(false)),
    ]);
    let payloads = [
        ("a 10 MB string", Value::from("x".repeat(10 * 1024 * 1024))),
        ("10 MB of bytes", Value::Bytes(vec![7; 10 * 1024 * 1024])),
        ("100,000 records", Value::Array(vec![record; 100_000])),
        (
            "100,000 small integers",
            Value::Array(vec![Value::Int(1); 100_000]),
        ),
    ];
    for codec in CODECS {
        for (name, payload) in &payloads {
            let msg = message(payload.clone());
            let frame = codec.encode(&msg).unwrap();
            let decoded = codec
                .decode(&frame)
                .unwrap_or_else(|e| panic!("{codec} {name} ({} bytes): {e}", frame.len()));
            assert_eq!(decoded, msg, "{codec} {name}");
        }
    }
}

#[test]
fn every_frame_up_to_16_kib_fits_the_default_budget() {
    // The costliest shape per byte: a map of one-byte keys and one-byte values.
    let frame = msgpack_frame_around(&msgpack_map_of_empty_keys(8 * 1024 - 64));
    assert!(frame.len() <= 16 * 1024);
    assert!(MsgpackCodec.decode(&frame).is_ok());
    let nils = msgpack_frame_around(&msgpack_array(16 * 1024 - 64, &[0xc0]));
    assert!(MsgpackCodec.decode(&nils).is_ok());
}
