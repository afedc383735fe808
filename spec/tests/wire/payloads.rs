//! Payloads end to end through a server: River's big integers reach a Rust handler's `i128`,
//! `i64` and `u64` fields and come back in the form River's TypeScript codecs read, and error
//! results carry `extras` (`docs/protocol.md` sections 1 and 9; `docs/conformance.md`, "Codecs"
//! and "Procedures").
//!
//! The peer here is played by hand: its frames are built the way River's TypeScript codecs write
//! them (`{"$b": "<decimal>"}` in JSON; msgpack extension type 0 holding a msgpack number for a
//! safe integer and a decimal string otherwise), and the server's answers are read with
//! `serde_json` and rmpv, independently of the crate's codecs. Runs on paused time, in memory.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use statebound_river::router::{
    CallContext, RiverClient, RiverError, RiverServer, Service, ValidationError, codes, serve,
};
use statebound_river::session::{
    Connection as _, ConnectionEvent, MemoryConnection, memory_pair, next_event,
};
use statebound_river::transport::{
    ClientOptions, ClientTransport, MemoryDialer, ServerOptions, ServerTransport,
};
use statebound_river::wire::{
    BIGINT_EXT, Codec, CodecKind, ExpectedSessionState, HandshakeRequest, Map, MessageHeader,
    PartialMessage, ProtocolVersion, Value,
};
use tokio::time::timeout;

const SERVER: &str = "SERVER";
const PEER: &str = "tsclient";
const PATIENCE: Duration = Duration::from_secs(10);

/// What the `big.echo` handler takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Numbers {
    wide: i128,
    signed: i64,
    unsigned: u64,
}

/// What `big.echo` answers: its init, and half of `wide`, which only a handler that received a
/// number can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    wide: i128,
    signed: i64,
    unsigned: u64,
    wide_half: i128,
}

fn big_service() -> Service {
    Service::new("big")
        .rpc("echo", |_: CallContext, w: Numbers| async move {
            Ok::<_, RiverError>(Answer {
                wide: w.wide,
                signed: w.signed,
                unsigned: w.unsigned,
                wide_half: w.wide / 2,
            })
        })
        .rpc("refuse", |_: CallContext, w: Numbers| async move {
            Err::<Numbers, _>(RiverError::invalid_request(
                "wide is too wide",
                [ValidationError {
                    path: "/wide".into(),
                    message: format!("{} is above the limit", w.wide),
                }],
            ))
        })
        .rpc("annotated", |_: CallContext, w: Numbers| async move {
            let extras: Map = [("limit", Value::Int(w.wide))].into_iter().collect();
            Err::<Numbers, _>(RiverError::new("TOO_BIG", "over the limit").with_extras(extras))
        })
}

/// A server transport with the `big` service; the router serves while it is held.
fn server() -> (ServerTransport, RiverServer) {
    let server = ServerTransport::new(SERVER, ServerOptions::default());
    let router = serve(&server, vec![big_service()]);
    (server, router)
}

/// A peer played by hand on an in-memory connection, after a v2.0 handshake in `codec`.
struct HandPeer {
    conn: MemoryConnection,
    codec: CodecKind,
    seq: u64,
}

impl HandPeer {
    async fn connect(server: &ServerTransport, codec: CodecKind) -> HandPeer {
        let (conn, theirs) = memory_pair();
        server
            .accept_connection(Box::new(theirs))
            .expect("the server takes the connection");
        let mut peer = HandPeer {
            conn,
            codec,
            seq: 0,
        };
        let request = HandshakeRequest::new(
            ProtocolVersion::V2_0,
            "session-hand",
            ExpectedSessionState::default(),
        );
        let hello = PartialMessage::handshake_request("hs", &request)
            .into_message(MessageHeader::handshake("hs-1", PEER, SERVER));
        peer.send(codec.encode(&hello).expect("the handshake encodes"));
        let answer = codec
            .decode(&peer.frame().await)
            .expect("a handshake answer");
        assert_eq!(
            answer.payload.get("type"),
            Some(&Value::from("HANDSHAKE_RESP"))
        );
        assert_eq!(
            answer.payload.get("status").and_then(|s| s.get("ok")),
            Some(&Value::Bool(true)),
            "{answer:?}"
        );
        peer
    }

    fn send(&mut self, frame: Vec<u8>) {
        self.conn
            .send(frame.into())
            .expect("the connection is open");
    }

    async fn frame(&mut self) -> Vec<u8> {
        match timeout(PATIENCE, next_event(&mut self.conn)).await {
            Ok(ConnectionEvent::Frame(frame)) => frame.to_vec(),
            Ok(ConnectionEvent::Closed { code }) => panic!("the server closed ({code:?})"),
            Err(elapsed) => panic!("no frame within {PATIENCE:?} ({elapsed})"),
        }
    }

    /// The envelope of this peer's next message: seq in order, nothing acknowledged (the
    /// server buffers its heartbeats until acknowledged, which does not matter here).
    fn header(&mut self) -> MessageHeader {
        let seq = self.seq;
        self.seq += 1;
        MessageHeader {
            id: format!("m{seq}"),
            from: PEER.into(),
            to: SERVER.into(),
            seq,
            ack: 0,
        }
    }

    /// Reads frames until one on `stream_id`, skipping heartbeats.
    async fn answer_on(&mut self, stream_id: &str) -> Vec<u8> {
        for _ in 0..100 {
            let frame = self.frame().await;
            let msg = self
                .codec
                .decode(&frame)
                .expect("the server's frame decodes");
            if msg.stream_id == stream_id {
                return frame;
            }
        }
        panic!("no answer on {stream_id}")
    }
}

// ----- JSON -----------------------------------------------------------------------------------

/// An rpc open as River's TypeScript client writes it through `NaiveJsonCodec`: every `BigInt`
/// is `{"$b": value.toString()}`, whatever its size.
fn ts_json_rpc(procedure: &str, stream_id: &str, init: &str, seq: u64) -> Vec<u8> {
    format!(
        r#"{{"streamId":"{stream_id}","controlFlags":10,"payload":{init},"serviceName":"big","procedureName":"{procedure}","id":"ts{seq}","to":"SERVER","from":"{PEER}","seq":{seq},"ack":0}}"#
    )
    .into_bytes()
}

/// The result payload of the server's answer on `stream_id`, read with `serde_json`.
async fn json_result(peer: &mut HandPeer, stream_id: &str) -> Json {
    let frame = peer.answer_on(stream_id).await;
    let msg: Json = serde_json::from_slice(&frame).expect("the answer is JSON");
    msg["payload"].clone()
}

#[tokio::test(start_paused = true)]
async fn ts_json_bigints_reach_the_handler_and_come_back_as_bigints() {
    let (server, _router) = server();
    let mut peer = HandPeer::connect(&server, CodecKind::Json).await;

    let init = r#"{"wide":{"$b":"-170141183460469231731687303715884105728"},"signed":{"$b":"-9223372036854775808"},"unsigned":{"$b":"18446744073709551615"}}"#;
    let seq = peer.header().seq;
    peer.send(ts_json_rpc("echo", "extremes", init, seq));
    assert_eq!(
        json_result(&mut peer, "extremes").await,
        json!({"ok": true, "payload": {
            "wide": {"$b": "-170141183460469231731687303715884105728"},
            "signed": {"$b": "-9223372036854775808"},
            "unsigned": {"$b": "18446744073709551615"},
            "wideHalf": {"$b": "-85070591730234615865843651857942052864"},
        }})
    );

    // A BigInt that a JavaScript number holds exactly comes back as a number: the server cannot
    // tell which of the two the peer's schema wants (docs/protocol.md, section 10).
    let init = r#"{"wide":{"$b":"9007199254740993"},"signed":{"$b":"-7"},"unsigned":{"$b":"9007199254740991"}}"#;
    let seq = peer.header().seq;
    peer.send(ts_json_rpc("echo", "edges", init, seq));
    assert_eq!(
        json_result(&mut peer, "edges").await,
        json!({"ok": true, "payload": {
            "wide": {"$b": "9007199254740993"},
            "signed": -7,
            "unsigned": 9_007_199_254_740_991_u64,
            "wideHalf": 4_503_599_627_370_496_u64,
        }})
    );

    // Plain JSON numbers fit the same fields.
    let seq = peer.header().seq;
    peer.send(ts_json_rpc(
        "echo",
        "plain",
        r#"{"wide":3,"signed":-3,"unsigned":3}"#,
        seq,
    ));
    assert_eq!(
        json_result(&mut peer, "plain").await,
        json!({"ok": true, "payload": {"wide": 3, "signed": -3, "unsigned": 3, "wideHalf": 1}})
    );
}

#[tokio::test(start_paused = true)]
async fn a_bigint_that_does_not_fit_the_field_is_an_invalid_request() {
    let (server, _router) = server();
    let mut peer = HandPeer::connect(&server, CodecKind::Json).await;
    let init = r#"{"wide":1,"signed":{"$b":"9223372036854775808"},"unsigned":1}"#;
    let seq = peer.header().seq;
    peer.send(ts_json_rpc("echo", "overflow", init, seq));
    let result = json_result(&mut peer, "overflow").await;
    assert_eq!(result["ok"], json!(false));
    assert_eq!(result["payload"]["code"], json!(codes::INVALID_REQUEST));
    let message = result["payload"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`/signed`") && message.contains("9223372036854775808"),
        "the message names the field and the value: {message}"
    );
}

#[tokio::test(start_paused = true)]
async fn error_results_carry_extras_in_rivers_shape() {
    let (server, _router) = server();
    let mut peer = HandPeer::connect(&server, CodecKind::Json).await;
    let init = r#"{"wide":{"$b":"100000000000000000000"},"signed":0,"unsigned":0}"#;

    let seq = peer.header().seq;
    peer.send(ts_json_rpc("refuse", "refused", init, seq));
    assert_eq!(
        json_result(&mut peer, "refused").await,
        json!({"ok": false, "payload": {
            "code": "INVALID_REQUEST",
            "message": "wide is too wide",
            "extras": {
                "totalErrors": 1,
                "firstValidationErrors": [
                    {"path": "/wide", "message": "100000000000000000000 is above the limit"},
                ],
            },
        }})
    );

    let seq = peer.header().seq;
    peer.send(ts_json_rpc("annotated", "annotated", init, seq));
    assert_eq!(
        json_result(&mut peer, "annotated").await,
        json!({"ok": false, "payload": {
            "code": "TOO_BIG",
            "message": "over the limit",
            "extras": {"limit": {"$b": "100000000000000000000"}},
        }})
    );
}

// ----- msgpack --------------------------------------------------------------------------------

/// A msgpack extension of type 0 as River's `BinaryCodec` writes a `BigInt`: its data is
/// `encode(Number(n))` for a safe integer and `encode(String(n))` otherwise.
fn ts_bigint_ext(data: &[u8]) -> Value {
    Value::Ext(BIGINT_EXT, data.to_vec())
}

/// A msgpack string of `text`, as `@msgpack/msgpack` packs one this short (fixstr or `str 8`).
fn packed_str(text: &str) -> Vec<u8> {
    let len = u8::try_from(text.len()).expect("a short string");
    let mut out = if len < 32 {
        vec![0xa0 | len]
    } else {
        vec![0xd9, len]
    };
    out.extend(text.as_bytes());
    out
}

fn rpc_open(peer: &mut HandPeer, procedure: &str, stream_id: &str, init: Value) -> Vec<u8> {
    let header = peer.header();
    let msg = PartialMessage {
        stream_id: stream_id.into(),
        control_flags: 10,
        service_name: Some("big".into()),
        procedure_name: Some(procedure.into()),
        tracing: None,
        payload: init,
    }
    .into_message(header);
    // Our encoder writes extension values as given, so the frame holds TypeScript's own bytes.
    peer.codec.encode(&msg).expect("the frame encodes")
}

/// The answer on `stream_id`, read with rmpv: its result payload's `payload` map.
async fn msgpack_result(
    peer: &mut HandPeer,
    stream_id: &str,
) -> (bool, Vec<(String, rmpv::Value)>) {
    let frame = peer.answer_on(stream_id).await;
    let msg = rmpv::decode::read_value(&mut frame.as_slice()).expect("the answer is msgpack");
    let field = |v: &rmpv::Value, k: &str| -> rmpv::Value {
        v.as_map()
            .and_then(|m| m.iter().find(|(key, _)| key.as_str() == Some(k)))
            .map_or_else(|| panic!("no `{k}` in {v}"), |(_, v)| v.clone())
    };
    let result = field(&msg, "payload");
    let ok = field(&result, "ok").as_bool().expect("`ok` is a boolean");
    let inner = field(&result, "payload");
    let entries = inner
        .as_map()
        .expect("a map")
        .iter()
        .map(|(k, v)| (k.as_str().expect("string keys").to_owned(), v.clone()))
        .collect();
    (ok, entries)
}

/// 2^100.
const TWO_100: &str = "1267650600228229401496703205376";

#[tokio::test(start_paused = true)]
async fn ts_msgpack_bigints_reach_the_handler_and_come_back() {
    let (server, _router) = server();
    let mut peer = HandPeer::connect(&server, CodecKind::Msgpack).await;

    // 2^100 (not safe: a string), -5 (safe: a negative fixint), 2^40 (safe, so `uint 64`).
    let init: Map = [
        ("wide", ts_bigint_ext(&packed_str(TWO_100))),
        ("signed", ts_bigint_ext(&[0xfb])),
        (
            "unsigned",
            ts_bigint_ext(&[0xcf, 0, 0, 0x01, 0, 0, 0, 0, 0]),
        ),
    ]
    .into_iter()
    .collect();
    let frame = rpc_open(&mut peer, "echo", "ext", Value::Map(init));
    peer.send(frame);
    let (ok, answer) = msgpack_result(&mut peer, "ext").await;
    assert!(ok);
    let two_99 = (1i128 << 99).to_string();
    assert_eq!(
        answer,
        [
            // Beyond 64 bits: extension type 0 with the decimal string, byte for byte what
            // TypeScript writes for that BigInt.
            ("wide".to_owned(), rmpv::Value::Ext(0, packed_str(TWO_100))),
            // Within 64 bits: msgpack's own integers, which every msgpack reader takes.
            ("signed".to_owned(), rmpv::Value::from(-5)),
            ("unsigned".to_owned(), rmpv::Value::from(1u64 << 40)),
            (
                "wideHalf".to_owned(),
                rmpv::Value::Ext(0, packed_str(&two_99))
            ),
        ]
    );

    // A plain msgpack `int 64` fits an `i64` field, and a bigint above `u64::MAX` is refused by
    // a `u64` field.
    let init: Map = [
        ("wide", Value::Int(-1)),
        ("signed", Value::Int(i128::from(i64::MIN))),
        (
            "unsigned",
            ts_bigint_ext(&packed_str("18446744073709551616")),
        ),
    ]
    .into_iter()
    .collect();
    let frame = rpc_open(&mut peer, "echo", "too-big", Value::Map(init));
    peer.send(frame);
    let (ok, answer) = msgpack_result(&mut peer, "too-big").await;
    assert!(!ok);
    let code = answer
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone());
    assert_eq!(code, Some(rmpv::Value::from(codes::INVALID_REQUEST)));
}

// ----- our own client -------------------------------------------------------------------------

fn client_of(server: &ServerTransport, codec: CodecKind) -> RiverClient {
    let mut options = ClientOptions::default();
    options.session.codec = codec;
    let transport = ClientTransport::new(
        "rust-client",
        std::sync::Arc::new(MemoryDialer::new(server.clone())),
        options,
    );
    RiverClient::new(transport, SERVER)
}

async fn rust_client_round_trips(codec: CodecKind) {
    let (server, _router) = server();
    let client = client_of(&server, codec);
    for wide in [i128::MIN, i128::MAX, -(1 << 53) - 1, 1 << 64, 0] {
        let sent = Numbers {
            wide,
            signed: i64::MIN,
            unsigned: u64::MAX,
        };
        let got: Answer = timeout(PATIENCE, client.rpc("big", "echo", &sent))
            .await
            .expect("an answer in time")
            .expect("an ok result");
        assert_eq!(
            got,
            Answer {
                wide,
                signed: i64::MIN,
                unsigned: u64::MAX,
                wide_half: wide / 2,
            },
            "{codec}"
        );
    }
    let err = timeout(
        PATIENCE,
        client.rpc::<_, Numbers>(
            "big",
            "refuse",
            &Numbers {
                wide: i128::MAX,
                signed: 0,
                unsigned: 0,
            },
        ),
    )
    .await
    .expect("an answer in time")
    .expect_err("an error result");
    assert_eq!(err.code, codes::INVALID_REQUEST);
    assert_eq!(
        err.validation_errors(),
        [ValidationError {
            path: "/wide".into(),
            message: format!("{} is above the limit", i128::MAX),
        }]
    );
    let err = timeout(
        PATIENCE,
        client.rpc::<_, Numbers>(
            "big",
            "annotated",
            &Numbers {
                wide: i128::MIN,
                signed: 0,
                unsigned: 0,
            },
        ),
    )
    .await
    .expect("an answer in time")
    .expect_err("an error result");
    assert_eq!(
        err.extras.as_deref().and_then(|e| e.get("limit")),
        Some(&Value::Int(i128::MIN)),
        "{codec}"
    );
}

#[tokio::test(start_paused = true)]
async fn rust_client_and_server_carry_every_i128_json() {
    rust_client_round_trips(CodecKind::Json).await;
}

#[tokio::test(start_paused = true)]
async fn rust_client_and_server_carry_every_i128_msgpack() {
    rust_client_round_trips(CodecKind::Msgpack).await;
}

// ----- the INVALID_REQUEST constructor ----------------------------------------------------------

#[test]
fn invalid_request_lists_five_errors_and_counts_all() {
    let errors = (0..7).map(|i| ValidationError {
        path: format!("/items/{i}"),
        message: "not a number".into(),
    });
    let err = RiverError::invalid_request("bad items", errors);
    assert_eq!(err.code, codes::INVALID_REQUEST);
    let extras = err.extras.as_deref().expect("extras");
    assert_eq!(extras.get("totalErrors"), Some(&Value::Int(7)));
    let listed = err.validation_errors();
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[4].path, "/items/4");
    assert!(RiverError::new("X", "y").validation_errors().is_empty());
}
