//! Workloads shared by the benchmarks (`cargo bench -p statebound-bench`) and the cost counter
//! (`river-cost`): each runs a unit of work `count` times, so a benchmark can time it and the
//! cost counter can count what it allocates (and callgrind what it executes).

use serde::{Deserialize, Serialize};
use statebound_river::graph::session::{AnySession, BackingOff, Connecting, NoConnection, Session};
use statebound_river::session::{SessionContext, SessionOptions};
use statebound_river::wire::{
    Codec, CodecKind, Map, MessageHeader, PartialMessage, ProtocolVersion, TransportMessage, Value,
};
use std::hint::black_box;
use std::sync::{Arc, OnceLock};
use tokio::time::Instant;

/// A typical rpc request: what our client sends for `echo` with a 32-byte message.
pub fn request() -> TransportMessage {
    let mut payload = Map::new();
    payload.insert("msg", Value::String("x".repeat(32)));
    PartialMessage {
        stream_id: "Yk3sT9qLw2Pa".into(),
        control_flags: 10,
        service_name: Some("test".into()),
        procedure_name: Some("echo".into()),
        tracing: None,
        payload: Value::Map(payload),
    }
    .into_message(MessageHeader {
        id: "k2LmZp0QxR4s".into(),
        from: "client-7f3a".into(),
        to: "SERVER".into(),
        seq: 1234,
        ack: 1200,
    })
}

/// Encodes and decodes [`request`] `count` times with our codec `kind`.
pub fn codec_round_trips(kind: CodecKind, count: usize) {
    let msg = request();
    for _ in 0..count {
        let frame = kind.encode(black_box(&msg)).unwrap_or_default();
        black_box(kind.decode(black_box(&frame)).is_ok());
    }
}

/// The same envelope as a plain serde struct with a dynamic payload: what a program would
/// write with serde alone.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plain<P> {
    id: String,
    from: String,
    to: String,
    seq: u64,
    ack: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    procedure_name: Option<String>,
    stream_id: String,
    control_flags: u32,
    payload: P,
}

fn plain<P>(payload: P) -> Plain<P> {
    let msg = request();
    Plain {
        id: msg.id,
        from: msg.from,
        to: msg.to,
        seq: msg.seq,
        ack: msg.ack,
        service_name: msg.service_name,
        procedure_name: msg.procedure_name,
        stream_id: msg.stream_id,
        control_flags: msg.control_flags,
        payload,
    }
}

/// Encodes and decodes the plain envelope `count` times with rmp-serde (`rmpv` payload).
pub fn plain_msgpack_round_trips(count: usize) {
    let msg = plain(rmpv::Value::Map(vec![(
        rmpv::Value::from("msg"),
        rmpv::Value::from("x".repeat(32)),
    )]));
    for _ in 0..count {
        let frame = rmp_serde::to_vec_named(black_box(&msg)).unwrap_or_default();
        let back: Result<Plain<rmpv::Value>, _> = rmp_serde::from_slice(black_box(&frame));
        black_box(back.is_ok());
    }
}

/// Encodes and decodes the plain envelope `count` times with `serde_json` (`serde_json::Value`
/// payload).
pub fn plain_json_round_trips(count: usize) {
    let msg = plain(serde_json::json!({ "msg": "x".repeat(32) }));
    for _ in 0..count {
        let frame = serde_json::to_vec(black_box(&msg)).unwrap_or_default();
        let back: Result<Plain<serde_json::Value>, _> = serde_json::from_slice(black_box(&frame));
        black_box(back.is_ok());
    }
}

fn context() -> SessionContext {
    SessionContext::new(
        "session-1",
        "client",
        "SERVER",
        ProtocolVersion::V2_0,
        SessionOptions::default(),
    )
}

/// `count` transitions of the River graph around its client's first loop (`back_off`,
/// `connect`, `connection_failed`), minting a handle in every state and checking it.
pub fn graph_transitions(count: usize) {
    let at = Instant::now();
    let mut state = Session::client(context(), NoConnection).into_any();
    for _ in 0..count {
        let handle = state.handle();
        state = match state {
            AnySession::NoConnection(m) => m.back_off(|_| BackingOff { until: at }).into_any(),
            AnySession::BackingOff(m) => m.connect(|_| Connecting { deadline: at }).into_any(),
            AnySession::Connecting(m) => m.connection_failed(|_| NoConnection).into_any(),
            other => other,
        };
        black_box(handle.is_live());
    }
    drop(state);
}

/// The same three states written by hand as an enum and a match: the same data, the same
/// moves of the context, and handles as informative as statebound's: each knows whether its
/// state was left and, once it was, by which transition to which state. As statebound does, a
/// state makes the record its handles share when its first handle is minted.
#[allow(
    dead_code,
    reason = "the deadlines are carried like the graph's state data, not read"
)]
enum HandWritten {
    NoConnection(SessionContext),
    BackingOff(SessionContext, Instant),
    Connecting(SessionContext, Instant),
}

/// What a hand-written state's handles share: the transition and target it was left by.
#[derive(Default)]
struct Record {
    fate: OnceLock<(&'static str, &'static str)>,
}

/// A hand-written handle.
struct HandWrittenHandle(Arc<Record>);

impl HandWrittenHandle {
    fn is_live(&self) -> bool {
        self.0.fate.get().is_none()
    }
}

/// [`graph_transitions`], hand-written.
pub fn hand_written_transitions(count: usize) {
    let at = Instant::now();
    let mut state = HandWritten::NoConnection(context());
    let mut record: Option<Arc<Record>> = None;
    for _ in 0..count {
        let handle = HandWrittenHandle(Arc::clone(record.get_or_insert_with(Arc::default)));
        let (next, left_by) = match state {
            HandWritten::NoConnection(ctx) => {
                (HandWritten::BackingOff(ctx, at), ("back_off", "BackingOff"))
            }
            HandWritten::BackingOff(ctx, at) => {
                (HandWritten::Connecting(ctx, at), ("connect", "Connecting"))
            }
            HandWritten::Connecting(ctx, _) => (
                HandWritten::NoConnection(ctx),
                ("connection_failed", "NoConnection"),
            ),
        };
        if let Some(left) = record.take() {
            let _ = left.fate.set(left_by);
        }
        state = next;
        black_box(handle.is_live());
    }
    drop(state);
}
