//! Helpers for the modules of the `router` test binary.
//!
//! - [`Rig`]: a server transport serving the `test`, `probe` and `kv` ([`Kv`]) services, and a [`RiverClient`]
//!   dialling it in memory through a [`TapDialer`], all with one codec and short grace.
//! - [`Tap`]: every frame the client wrote or read, decoded independently of the crate (`serde_json`
//!   for JSON, rmpv for msgpack), for checking wire shapes and what was (not) sent.
//! - [`Probe`]: a service whose handlers count themselves while alive, notice cancellation, and
//!   record the order of the requests they saw, so tests can see handlers stop.
//! - The calls and checks the scenarios share: an echo rpc ([`Rig::echo`]), an echo stream's
//!   first round trip ([`Rig::echo_stream`]), a running `probe.ticks` ([`ticking`]), reading a
//!   stream to its end ([`read_to_end`]) and the error it ended with ([`assert_ended_with`]),
//!   and one session kept through reconnects ([`Events::assert_one_session`]).
//! - `both_codecs!`: runs a scenario `async fn name(codec: CodecKind)` over JSON and msgpack on
//!   paused time, as `name::json` and `name::msgpack`.

#![allow(dead_code, unused_macros)]

use core::task::{Context, Poll};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use statebound_river::echo_service::{Count, Empty, Msg, service as test_service};
use statebound_river::router::{
    CallContext, RequestWriter, Requests, ResponseStream, Responses, RiverClient, RiverError,
    RiverServer, Service, from_payload, serve, to_payload,
};
use statebound_river::session::{
    BoxFuture, CloseCode, Connection, ConnectionClosed, ConnectionEvent, ConnectionId,
    MemoryConnection, SessionOptions, SessionStatus, memory_pair,
};
use statebound_river::transport::{
    ClientOptions, ClientTransport, CodecMode, DialError, Dialer, ServerOptions, ServerTransport,
    TransportEvent,
};
use statebound_river::wire::{CodecKind, ProtocolVersion, Value};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

/// The server's id.
pub(crate) const SERVER: &str = "SERVER";
/// The client's id.
pub(crate) const CLIENT: &str = "client";
/// Session grace on both sides.
pub(crate) const GRACE: Duration = Duration::from_secs(2);
/// Bound on every wait, in paused time.
pub(crate) const LIMIT: Duration = Duration::from_secs(120);

/// Runs each scenario `async fn name(codec: CodecKind)` over JSON and msgpack on paused time,
/// as `name::json` and `name::msgpack`. Attributes before a name go on both tests.
macro_rules! both_codecs {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(start_paused = true)]
            $(#[$attr])*
            async fn json() {
                super::$name(::statebound_river::wire::CodecKind::Json).await;
            }

            #[tokio::test(start_paused = true)]
            $(#[$attr])*
            async fn msgpack() {
                super::$name(::statebound_river::wire::CodecKind::Msgpack).await;
            }
        }
    )*};
}

// ----- frames on the wire ---------------------------------------------------------------------

/// Which way a frame went, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dir {
    /// Client to server.
    Out,
    /// Server to client.
    In,
}

/// One frame, decoded without the crate's codecs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    pub(crate) dir: Dir,
    /// The codec the bytes are in (JSON starts with `{`, msgpack with a map marker).
    pub(crate) codec: CodecKind,
    pub(crate) msg: Json,
}

impl Frame {
    pub(crate) fn flags(&self) -> u64 {
        self.msg["controlFlags"].as_u64().expect("controlFlags")
    }

    pub(crate) fn seq(&self) -> u64 {
        self.msg["seq"].as_u64().expect("seq")
    }

    pub(crate) fn stream_id(&self) -> &str {
        self.msg["streamId"].as_str().expect("streamId")
    }

    pub(crate) fn payload(&self) -> &Json {
        &self.msg["payload"]
    }

    fn is_control(&self) -> bool {
        self.stream_id() == "heartbeat"
            || matches!(
                self.payload()["type"].as_str(),
                Some("HANDSHAKE_REQ" | "HANDSHAKE_RESP")
            )
    }
}

fn decode(bytes: &[u8]) -> (CodecKind, Json) {
    if bytes.first() == Some(&b'{') {
        let msg = serde_json::from_slice(bytes).expect("a JSON frame decodes");
        return (CodecKind::Json, msg);
    }
    let value = rmpv::decode::read_value(&mut &bytes[..]).expect("a msgpack frame decodes");
    (CodecKind::Msgpack, msgpack_to_json(&value))
}

fn msgpack_to_json(value: &rmpv::Value) -> Json {
    match value {
        rmpv::Value::Nil => Json::Null,
        rmpv::Value::Boolean(b) => Json::Bool(*b),
        rmpv::Value::Integer(i) => i
            .as_u64()
            .map(Json::from)
            .or_else(|| i.as_i64().map(Json::from))
            .expect("an integer in range"),
        rmpv::Value::F32(f) => json!(f),
        rmpv::Value::F64(f) => json!(f),
        rmpv::Value::String(s) => Json::String(s.as_str().expect("UTF-8").to_owned()),
        rmpv::Value::Binary(b) => json!({ "$bin": b }),
        rmpv::Value::Array(items) => Json::Array(items.iter().map(msgpack_to_json).collect()),
        rmpv::Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let k = k.as_str().expect("msgpack map keys are strings").to_owned();
                    (k, msgpack_to_json(v))
                })
                .collect(),
        ),
        rmpv::Value::Ext(..) => panic!("no msgpack extension types in River"),
    }
}

/// Every frame a client wrote and read, in order, across all of its connections.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tap(Arc<Mutex<Vec<Frame>>>);

impl Tap {
    fn record(&self, dir: Dir, bytes: &[u8]) {
        let (codec, msg) = decode(bytes);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Frame { dir, codec, msg });
    }

    /// Every frame so far.
    pub(crate) fn frames(&self) -> Vec<Frame> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many frames so far (a mark to look after).
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The frames of the stream `stream_id`, without resends (one per direction and seq).
    pub(crate) fn stream(&self, stream_id: &str) -> Vec<Frame> {
        self.stream_since(stream_id, 0)
    }

    /// Like [`stream`](Self::stream), only frames recorded at or after `mark`.
    pub(crate) fn stream_since(&self, stream_id: &str, mark: usize) -> Vec<Frame> {
        let mut seen = HashSet::new();
        self.frames()
            .into_iter()
            .skip(mark)
            .filter(|f| !f.is_control() && f.stream_id() == stream_id)
            .filter(|f| seen.insert((f.dir, f.seq())))
            .collect()
    }

    /// The stream id of the last call of `procedure` the client opened.
    pub(crate) fn opened(&self, procedure: &str) -> String {
        self.frames()
            .iter()
            .rev()
            .find(|f| {
                f.dir == Dir::Out
                    && f.flags() & 2 != 0
                    && f.msg["procedureName"].as_str() == Some(procedure)
            })
            .unwrap_or_else(|| panic!("no call of `{procedure}` was opened"))
            .stream_id()
            .to_owned()
    }

    /// Asserts that every frame so far was written in `codec`.
    pub(crate) fn assert_codec(&self, codec: CodecKind) {
        let frames = self.frames();
        assert!(!frames.is_empty(), "frames were exchanged");
        for f in frames {
            assert_eq!(f.codec, codec, "frame in the wrong codec: {}", f.msg);
        }
    }
}

/// One end of an in-memory pair that records what passes through it.
#[derive(Debug)]
struct TapConnection {
    inner: MemoryConnection,
    tap: Tap,
}

impl Connection for TapConnection {
    fn id(&self) -> ConnectionId {
        self.inner.id()
    }

    fn send(&mut self, frame: Bytes) -> Result<(), ConnectionClosed> {
        let bytes = frame.clone();
        self.inner.send(frame)?;
        self.tap.record(Dir::Out, &bytes);
        Ok(())
    }

    fn close(&mut self, code: CloseCode) {
        self.inner.close(code);
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionEvent> {
        let event = self.inner.poll_event(cx);
        if let Poll::Ready(ConnectionEvent::Frame(bytes)) = &event {
            self.tap.record(Dir::In, bytes);
        }
        event
    }

    fn set_phantom_disconnect(&self, on: bool) {
        self.inner.set_phantom_disconnect(on);
    }
}

/// Dials a [`ServerTransport`] in memory, recording the client's frames in a [`Tap`].
#[derive(Debug, Clone)]
pub(crate) struct TapDialer {
    server: ServerTransport,
    tap: Tap,
}

impl Dialer for TapDialer {
    fn dial<'a>(&'a self, _to: &'a str) -> BoxFuture<'a, Result<Box<dyn Connection>, DialError>> {
        Box::pin(async move {
            let (client, server) = memory_pair();
            self.server
                .accept_connection(Box::new(server))
                .map_err(|e| DialError::retriable(e.to_string()))?;
            let conn: Box<dyn Connection> = Box::new(TapConnection {
                inner: client,
                tap: self.tap.clone(),
            });
            Ok(conn)
        })
    }
}

// ----- the probe service ---------------------------------------------------------------------

/// Counters shared by the `probe` service's handlers and the test.
#[derive(Debug, Clone, Default)]
pub(crate) struct Probe {
    live: Arc<AtomicUsize>,
    started: Arc<AtomicUsize>,
    cancelled: Arc<AtomicUsize>,
    order: Arc<Mutex<Vec<u32>>>,
    requests: Arc<Mutex<Vec<Json>>>,
    dropped: Arc<Mutex<Vec<u32>>>,
    flood: Arc<Mutex<Vec<(bool, Duration)>>>,
}

/// Alive while a handler's future is.
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Records its number when dropped.
struct Recorded(u32, Arc<Mutex<Vec<u32>>>);

impl Drop for Recorded {
    fn drop(&mut self) {
        self.1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.0);
    }
}

impl Probe {
    /// Handlers of the `probe` service whose futures are alive.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Handlers of the `probe` service that were started.
    pub(crate) fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Calls whose context reported a cancellation (client cancel or session end).
    pub(crate) fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The `n`s the `add` rpc saw, in the order it saw them.
    pub(crate) fn order(&self) -> Vec<u32> {
        self.order
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The `n`s of the `held` rpcs whose handlers were dropped, in the order they were dropped.
    pub(crate) fn dropped(&self) -> Vec<u32> {
        self.dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// For each response the `flood` subscription sent: whether it reported backpressure, and
    /// when it was sent, counted from the handler's start.
    pub(crate) fn flood_log(&self) -> Vec<(bool, Duration)> {
        self.flood
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What the `anything` stream received as requests.
    pub(crate) fn requests(&self) -> Vec<Json> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Marks a handler alive and watches its context for a cancellation.
    fn enter(&self, ctx: &CallContext) -> Alive {
        self.live.fetch_add(1, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
        let ctx = ctx.clone();
        let cancelled = Arc::clone(&self.cancelled);
        tokio::spawn(async move {
            ctx.cancelled().await;
            if ctx.is_cancelled() {
                cancelled.fetch_add(1, Ordering::SeqCst);
            }
        });
        Alive(Arc::clone(&self.live))
    }

    /// The `probe` service:
    ///
    /// | procedure | kind | behaviour |
    /// |---|---|---|
    /// | `hang` | rpc | never answers |
    /// | `slow` | rpc | answers its `{"msg"}` after 200 ms |
    /// | `add` | rpc | records `{"n"}` in [`order`](Self::order) and answers it |
    /// | `echo` | stream | answers each `{"msg"}`; closes after the client closes |
    /// | `concat` | upload | joins every `{"msg"}` once the client closes |
    /// | `ticks` | subscription | `{"n": 0}`, `{"n": 1}`, ... every 10 ms, forever |
    /// | `anything` | stream | records any request in [`requests`](Self::requests), answers its count |
    /// | `held` | rpc | never answers; records its `{"n"}` in [`dropped`](Self::dropped) when dropped |
    /// | `flood` | subscription | `{"n"}`: sends `{"n": 0}` .. `{"n": n - 1}`, waiting for `ready()` whenever a send reports backpressure; logs each in [`flood_log`](Self::flood_log) |
    /// | `panics` | rpc, `panicsStream`, `panicsUpload`, `panicsSub` | panic |
    /// | `mine` | rpc | `Err(MY_CODE)` |
    /// | `mineStream` | stream | one `{"msg":"before"}`, then ends with `Err(MY_CODE)` |
    /// | `closesFirst` | stream | one `{"msg":"only"}`, then closes without reading |
    pub(crate) fn service(&self) -> Service {
        let p = self.clone();
        let hang = move |ctx: CallContext, _: Empty| {
            let alive = p.enter(&ctx);
            async move {
                let _alive = alive;
                std::future::pending::<Result<Empty, RiverError>>().await
            }
        };
        let p = self.clone();
        let slow = move |ctx: CallContext, init: Msg| {
            let alive = p.enter(&ctx);
            async move {
                let _alive = alive;
                sleep(Duration::from_millis(200)).await;
                Ok::<_, RiverError>(init)
            }
        };
        let p = self.clone();
        let add = move |_: CallContext, init: Count| {
            p.order
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(init.n);
            async move { Ok::<_, RiverError>(init) }
        };
        let p = self.clone();
        let echo = move |ctx: CallContext,
                         _: Empty,
                         mut requests: Requests<Msg>,
                         responses: Responses<Msg>| {
            let alive = p.enter(&ctx);
            async move {
                let _alive = alive;
                while let Some(request) = requests.next().await {
                    if responses.send(Ok(request)).is_err() {
                        break;
                    }
                }
                Ok(())
            }
        };
        let p = self.clone();
        let concat = move |ctx: CallContext, _: Empty, requests: Requests<Msg>| {
            let alive = p.enter(&ctx);
            async move {
                let _alive = alive;
                let parts: Vec<Msg> = requests.collect().await;
                let msg = parts.into_iter().map(|m| m.msg).collect::<String>();
                Ok::<_, RiverError>(Msg { msg })
            }
        };
        let p = self.clone();
        let ticks = move |ctx: CallContext, _: Empty, responses: Responses<Count>| {
            let alive = p.enter(&ctx);
            async move {
                let _alive = alive;
                for n in 0.. {
                    if responses.send(Ok(Count { n })).is_err() {
                        break;
                    }
                    sleep(Duration::from_millis(10)).await;
                }
                Ok(())
            }
        };
        let p = self.clone();
        let anything = move |ctx: CallContext,
                             _: Json,
                             mut requests: Requests<Json>,
                             responses: Responses<Count>| {
            let alive = p.enter(&ctx);
            let seen = Arc::clone(&p.requests);
            async move {
                let _alive = alive;
                while let Some(request) = requests.next().await {
                    let n = {
                        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                        seen.push(request);
                        u32::try_from(seen.len()).expect("few requests")
                    };
                    let _ = responses.send(Ok(Count { n }));
                }
                Ok(())
            }
        };
        let service = Service::new("probe")
            .rpc("hang", hang)
            .rpc("slow", slow)
            .rpc("add", add)
            .stream("echo", echo)
            .upload("concat", concat)
            .subscription("ticks", ticks)
            .stream("anything", anything);
        with_failures(self.with_held(service))
    }

    /// `service` with the `held` rpc and the `flood` subscription.
    fn with_held(&self, service: Service) -> Service {
        let p = self.clone();
        let held = move |ctx: CallContext, init: Count| {
            let alive = p.enter(&ctx);
            let dropped = Recorded(init.n, Arc::clone(&p.dropped));
            async move {
                let _held = (alive, dropped);
                std::future::pending::<Result<Empty, RiverError>>().await
            }
        };
        let p = self.clone();
        let flood = move |ctx: CallContext, init: Count, out: Responses<Count>| {
            let alive = p.enter(&ctx);
            let log = Arc::clone(&p.flood);
            async move {
                let _alive = alive;
                let start = Instant::now();
                for n in 0..init.n {
                    let Ok(written) = out.send(Ok(Count { n })) else {
                        break;
                    };
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((written.backpressured, start.elapsed()));
                    if written.backpressured {
                        out.ready().await;
                    }
                }
                Ok(())
            }
        };
        service.rpc("held", held).subscription("flood", flood)
    }
}

/// The `probe` procedures that fail or end early.
fn with_failures(service: Service) -> Service {
    service
        .rpc("panics", |_: CallContext, _: Empty| async move {
            panic!("the rpc handler panics");
            #[allow(unreachable_code)]
            Ok::<Empty, RiverError>(Empty {})
        })
        .stream(
            "panicsStream",
            |_: CallContext, _: Empty, _: Requests<Msg>, _: Responses<Msg>| async move {
                panic!("the stream handler panics");
            },
        )
        .upload(
            "panicsUpload",
            |_: CallContext, _: Empty, _: Requests<Msg>| async move {
                panic!("the upload handler panics");
                #[allow(unreachable_code)]
                Ok::<Msg, RiverError>(Msg { msg: String::new() })
            },
        )
        .subscription(
            "panicsSub",
            |_: CallContext, _: Empty, _: Responses<Count>| async move {
                panic!("the subscription handler panics");
            },
        )
        .stream(
            "closesFirst",
            |_: CallContext, _: Empty, _: Requests<Msg>, out: Responses<Msg>| async move {
                let _ = out.send(Ok(Msg { msg: "only".into() }));
                Ok(())
            },
        )
        .rpc("mine", |_: CallContext, _: Empty| async move {
            Err::<Empty, _>(RiverError::new("MY_CODE", "my own failure"))
        })
        .stream(
            "mineStream",
            |_: CallContext, _: Empty, _: Requests<Msg>, out: Responses<Msg>| async move {
                let _ = out.send(Ok(Msg {
                    msg: "before".into(),
                }));
                Err(RiverError::new("MY_CODE", "my own failure"))
            },
        )
}

// ----- the kv service ------------------------------------------------------------------------

/// `{"k": key, "v": value}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KvSet {
    pub(crate) k: String,
    pub(crate) v: i64,
}

/// `{"k": key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KvKey {
    pub(crate) k: String,
}

/// `{"v": value}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KvValue {
    pub(crate) v: i64,
}

/// One key: its value and the subscriptions watching it.
#[derive(Debug)]
struct Observed {
    value: i64,
    watchers: Vec<Responses<KvValue>>,
}

/// The `kv` service of River's cross-language suite (river-babel's `serviceDefs.ts`), its state
/// shared by every client of the server:
///
/// | procedure | kind | behaviour |
/// |---|---|---|
/// | `set` | rpc | `{"k", "v"}`: stores `v`, sends `{"v"}` to every `watch` of `k`, then answers `{"v"}` |
/// | `watch` | subscription | `{"k"}`: answers the current `{"v"}`, then every later one; `NOT_FOUND` for an unknown key |
#[derive(Debug, Clone, Default)]
pub(crate) struct Kv(Arc<Mutex<std::collections::HashMap<String, Observed>>>);

impl Kv {
    pub(crate) fn service(&self) -> Service {
        let kv = self.clone();
        let set = move |_: CallContext, set: KvSet| {
            {
                let mut keys = kv.0.lock().unwrap_or_else(PoisonError::into_inner);
                let observed = keys.entry(set.k).or_insert_with(|| Observed {
                    value: set.v,
                    watchers: Vec::new(),
                });
                observed.value = set.v;
                let value = KvValue { v: set.v };
                observed
                    .watchers
                    .retain(|watcher| watcher.send(Ok(value)).is_ok());
            }
            async move { Ok::<_, RiverError>(KvValue { v: set.v }) }
        };
        let kv = self.clone();
        let watch = move |ctx: CallContext, key: KvKey, out: Responses<KvValue>| {
            let found = {
                let mut keys = kv.0.lock().unwrap_or_else(PoisonError::into_inner);
                keys.get_mut(&key.k).map(|observed| {
                    let _ = out.send(Ok(KvValue { v: observed.value }));
                    observed.watchers.push(out);
                })
            };
            async move {
                if found.is_none() {
                    return Err(RiverError::new(
                        "NOT_FOUND",
                        format!("key {} wasn't found", key.k),
                    ));
                }
                ctx.cancelled().await;
                Ok(())
            }
        };
        Service::new("kv")
            .rpc("set", set)
            .subscription("watch", watch)
    }
}

// ----- the rig -------------------------------------------------------------------------------

/// How a rig's client is set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opts {
    pub(crate) codec: CodecKind,
    pub(crate) version: ProtocolVersion,
    pub(crate) reconnect: bool,
    /// Both sides' `send_buffer_high_water_mark`.
    pub(crate) high_water_mark: usize,
}

impl Opts {
    /// v2.0, reconnecting.
    pub(crate) fn new(codec: CodecKind) -> Self {
        Opts {
            codec,
            version: ProtocolVersion::V2_0,
            reconnect: true,
            high_water_mark: SessionOptions::default().send_buffer_high_water_mark,
        }
    }

    /// With `n` as both sides' send buffer high-water mark.
    pub(crate) fn high_water_mark(self, n: usize) -> Self {
        Opts {
            high_water_mark: n,
            ..self
        }
    }

    /// Without reconnecting when a connection drops.
    pub(crate) fn no_reconnect(self) -> Self {
        Opts {
            reconnect: false,
            ..self
        }
    }

    /// Speaking `version`.
    pub(crate) fn version(self, version: ProtocolVersion) -> Self {
        Opts { version, ..self }
    }
}

pub(crate) fn session_options(opts: Opts) -> SessionOptions {
    SessionOptions {
        codec: opts.codec,
        session_disconnect_grace: GRACE,
        send_buffer_high_water_mark: opts.high_water_mark,
        ..SessionOptions::default()
    }
}

/// A server serving `test` and `probe`, and one client, in memory.
pub(crate) struct Rig {
    pub(crate) client: RiverClient,
    pub(crate) router: RiverServer,
    pub(crate) server: ServerTransport,
    pub(crate) tap: Tap,
    pub(crate) probe: Probe,
    pub(crate) opts: Opts,
}

impl Rig {
    /// v2.0, reconnecting, in `codec`.
    pub(crate) fn new(codec: CodecKind) -> Self {
        Rig::with(Opts::new(codec))
    }

    pub(crate) fn with(opts: Opts) -> Self {
        let server = ServerTransport::new(
            SERVER,
            ServerOptions {
                session: session_options(opts),
                codec: CodecMode::Fixed(opts.codec),
                ..ServerOptions::default()
            },
        );
        let probe = Probe::default();
        let router = serve(
            &server,
            vec![test_service(), probe.service(), Kv::default().service()],
        );
        let (client, tap) = client_of(&server, CLIENT, opts);
        Rig {
            client,
            router,
            server,
            tap,
            probe,
            opts,
        }
    }

    /// Another client of the same server.
    pub(crate) fn add_client(&self, id: &str, opts: Opts) -> (RiverClient, Tap) {
        client_of(&self.server, id, opts)
    }

    pub(crate) fn transport(&self) -> &ClientTransport {
        self.client.transport()
    }

    /// The session ids the client and the server hold for each other.
    pub(crate) fn sessions(&self) -> (Option<String>, Option<String>) {
        (
            self.transport().session_id(SERVER),
            self.server.session_id(CLIENT),
        )
    }

    /// The one session both sides share; panics if they disagree or there is none.
    pub(crate) fn shared_session(&self) -> String {
        let (client, server) = self.sessions();
        let client = client.expect("the client has a session");
        assert_eq!(
            Some(&client),
            server.as_ref(),
            "both sides hold the same session"
        );
        client
    }

    /// Waits until no call is open on either side and no probe handler is alive.
    pub(crate) async fn no_calls_left(&self) {
        eventually("no call is left on either side", || {
            self.client.open_calls() == 0 && self.router.open_calls() == 0 && self.probe.live() == 0
        })
        .await;
    }

    /// Waits until neither side holds a session.
    pub(crate) async fn session_ended(&self) {
        eventually_async("the session ends after grace", || async {
            self.transport().session_id(SERVER).is_none()
                && self.server.session_id(CLIENT).is_none()
        })
        .await;
    }

    /// Calls `test.echo` with `text` and checks the answer is `text`.
    pub(crate) async fn echo(&self, text: &str) {
        let out: Msg = bounded(self.client.rpc("test", "echo", &msg(text)))
            .await
            .unwrap();
        assert_eq!(out, msg(text));
    }

    /// Opens the stream `service.procedure`, which echoes its requests, and checks that `first`
    /// comes back.
    pub(crate) async fn echo_stream(
        &self,
        service: &str,
        procedure: &str,
        first: &str,
    ) -> (RequestWriter<Msg>, ResponseStream<Msg>) {
        let (writer, mut responses) = self
            .client
            .stream::<_, Msg, Msg>(service, procedure, &Empty {})
            .await
            .unwrap();
        writer.write(&msg(first)).await.unwrap();
        assert_eq!(next(&mut responses).await.unwrap().unwrap(), msg(first));
        (writer, responses)
    }
}

/// `client`'s subscription to `probe.ticks`, once its first tick (0) has come.
pub(crate) async fn ticking(client: &RiverClient) -> ResponseStream<Count> {
    let mut ticks = client
        .subscribe::<_, Count>("probe", "ticks", &Empty {})
        .await
        .unwrap();
    assert_eq!(next(&mut ticks).await.unwrap().unwrap().n, 0);
    ticks
}

fn client_of(server: &ServerTransport, id: &str, opts: Opts) -> (RiverClient, Tap) {
    let tap = Tap::default();
    let dialer = TapDialer {
        server: server.clone(),
        tap: tap.clone(),
    };
    let transport = ClientTransport::new(
        id,
        Arc::new(dialer),
        ClientOptions {
            session: session_options(opts),
            version: opts.version,
            reconnect_on_connection_drop: opts.reconnect,
            ..ClientOptions::default()
        },
    );
    (RiverClient::new(transport, SERVER), tap)
}

// ----- waiting -------------------------------------------------------------------------------

/// Waits (in paused time, bounded) until `done` holds.
pub(crate) async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "{what}: not within {LIMIT:?}");
        sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (in paused time, bounded) until `done` resolves to true.
pub(crate) async fn eventually_async<F: Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < LIMIT, "{what}: not within {LIMIT:?}");
        sleep(Duration::from_millis(5)).await;
    }
}

/// The next item of `stream`, bounded.
pub(crate) async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    timeout(LIMIT, stream.next())
        .await
        .expect("the stream answers in time")
}

/// `f`, bounded.
pub(crate) async fn bounded<F: Future>(f: F) -> F::Output {
    timeout(LIMIT, f).await.expect("finishes in time")
}

/// Reads `stream` to its end; returns the items before the first error, and the error.
pub(crate) async fn read_to_end<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    stream: &mut ResponseStream<T>,
) -> (Vec<T>, Option<RiverError>) {
    let mut items = Vec::new();
    let mut error = None;
    while let Some(item) = next(stream).await {
        match item {
            Ok(item) => {
                assert!(error.is_none(), "an item after the error: {item:?}");
                items.push(item);
            }
            Err(e) => {
                assert!(error.is_none(), "a second error: {e}");
                error = Some(e);
            }
        }
    }
    (items, error)
}

/// Checks that `result` is the error `code`.
pub(crate) fn assert_code<T: std::fmt::Debug>(
    result: Result<T, RiverError>,
    code: &str,
    what: &str,
) {
    match result {
        Err(e) => assert_eq!(e.code, code, "{what}: {e}"),
        Ok(v) => panic!("{what}: expected the error {code}, got {v:?}"),
    }
}

/// Checks that a stream ended with the error `code` (`error` as [`read_to_end`] returns it).
pub(crate) fn assert_ended_with(error: Option<RiverError>, code: &str, what: &str) {
    assert_code(error.map_or(Ok(()), Err), code, what);
}

/// Counts what a transport reports from now on.
pub(crate) struct Events {
    rx: mpsc::Receiver<TransportEvent>,
    pub(crate) connected: usize,
    pub(crate) created: usize,
    pub(crate) closed: usize,
}

impl Events {
    pub(crate) fn new(rx: mpsc::Receiver<TransportEvent>) -> Self {
        Events {
            rx,
            connected: 0,
            created: 0,
            closed: 0,
        }
    }

    /// Waits (bounded) until the session has connected `n` times in all.
    pub(crate) async fn wait_connected(&mut self, n: usize) {
        let start = Instant::now();
        while self.drain().connected < n {
            assert!(
                start.elapsed() < LIMIT,
                "not connected {n} times within {LIMIT:?}"
            );
            sleep(Duration::from_millis(1)).await;
        }
    }

    /// Checks, with everything reported so far, that the client kept one session (created once,
    /// never closed) through at least `reconnects` reconnects.
    pub(crate) fn assert_one_session(&mut self, reconnects: usize) {
        let events = self.drain();
        assert!(
            events.connected > reconnects,
            "{reconnects} reconnects: connected {} times",
            events.connected
        );
        assert_eq!((events.created, events.closed), (1, 0), "one session");
    }

    /// Takes in everything reported so far.
    pub(crate) fn drain(&mut self) -> &Self {
        while let Ok(event) = self.rx.try_recv() {
            match event {
                TransportEvent::SessionTransition {
                    to: "Connected", ..
                } => self.connected += 1,
                TransportEvent::SessionStatus { status, .. } => match status {
                    SessionStatus::Created => self.created += 1,
                    SessionStatus::Closed => self.closed += 1,
                    SessionStatus::Closing => {}
                },
                _ => {}
            }
        }
        self
    }
}

// ----- payloads ------------------------------------------------------------------------------

pub(crate) fn msg(s: &str) -> Msg {
    Msg { msg: s.into() }
}

/// A payload from JSON.
pub(crate) fn payload(json: &Json) -> Value {
    to_payload(json).expect("JSON converts")
}

/// A payload as JSON.
pub(crate) fn as_json(value: &Value) -> Json {
    from_payload(value).expect("converts to JSON")
}
