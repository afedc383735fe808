//! CONFORMANCE "Procedures": the four kinds across reconnects, session ends, closed and closing
//! transports, ordering, cancellation, handler failures and the wire shapes, over both codecs.
//! In memory on paused time: timers (heartbeats, grace, the countdown's pauses) run instantly.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use statebound_river::echo_service::{Count, CountdownInit, Empty, Msg, service};
use statebound_river::router::{
    CallContext, RiverClient, RiverError, RiverServer, Service, codes, serve,
};
use statebound_river::session::SessionOptions;
use statebound_river::transport::{
    ClientOptions, ClientTransport, CodecMode, MemoryDialer, ServerOptions, ServerTransport,
    TransportEvent,
};
use statebound_river::wire::{
    CodecKind, ControlFlags, PartialMessage, ProtocolVersion, TransportMessage, Value,
};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);
const CODECS: [CodecKind; 2] = [CodecKind::Json, CodecKind::Msgpack];

fn msg(s: &str) -> Msg {
    Msg { msg: s.into() }
}

struct Setup {
    client: RiverClient,
    router: RiverServer,
    server: ServerTransport,
}

fn setup_with(
    codec: CodecKind,
    reconnect: bool,
    version: ProtocolVersion,
    extra: Vec<Service>,
) -> Setup {
    let session = SessionOptions {
        codec,
        session_disconnect_grace: Duration::from_secs(3),
        ..SessionOptions::default()
    };
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            session: session.clone(),
            codec: CodecMode::Fixed(codec),
            ..ServerOptions::default()
        },
    );
    let mut services = vec![service()];
    services.extend(extra);
    let router = serve(&server, services);
    let transport = ClientTransport::new(
        "client",
        Arc::new(MemoryDialer::new(server.clone())),
        ClientOptions {
            session,
            version,
            reconnect_on_connection_drop: reconnect,
            ..ClientOptions::default()
        },
    );
    Setup {
        client: RiverClient::new(transport, "SERVER"),
        router,
        server,
    }
}

fn setup(codec: CodecKind) -> Setup {
    setup_with(codec, true, ProtocolVersion::V2_0, Vec::new())
}

async fn settle(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within 100 s of (paused) time");
}

async fn same_session(s: &Setup, before: &str) {
    let client_id = s
        .client
        .transport()
        .session_id("SERVER")
        .await
        .expect("a client session");
    let server_id = s
        .server
        .session_id("client")
        .await
        .expect("a server session");
    assert_eq!(
        (client_id.as_str(), server_id.as_str()),
        (before, before),
        "the session survived"
    );
}

#[tokio::test(start_paused = true)]
async fn every_kind_survives_a_transparent_reconnect_mid_call() {
    for codec in CODECS {
        let s = setup(codec);
        let _: Msg = s.client.rpc("test", "echo", &msg("warm up")).await.unwrap();
        let session = s.client.transport().session_id("SERVER").await.unwrap();

        // stream: a drop between two requests
        let (writer, mut responses) = s
            .client
            .stream::<_, Msg, Msg>("test", "echoStream", &Empty {})
            .await
            .unwrap();
        writer.write(&msg("one")).await.unwrap();
        assert_eq!(
            timeout(LIMIT, responses.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
            msg("one")
        );
        s.client.transport().drop_connections();
        writer.write(&msg("two")).await.unwrap();
        s.server.drop_connections();
        writer.write(&msg("three")).await.unwrap();
        for want in ["two", "three"] {
            let got = timeout(LIMIT, responses.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(got, msg(want), "{codec}");
        }
        writer.close().await.unwrap();
        assert!(timeout(LIMIT, responses.next()).await.unwrap().is_none());

        // subscription: drops while the server is counting
        let mut counts = s
            .client
            .subscribe::<_, Count>("test", "countdown", &CountdownInit { from: 10 })
            .await
            .unwrap();
        let mut seen = Vec::new();
        while let Some(item) = timeout(LIMIT, counts.next()).await.unwrap() {
            let n = item.unwrap().n;
            seen.push(n);
            if n == 7 {
                s.client.transport().drop_connections();
            }
            if n == 3 {
                s.server.drop_connections();
            }
        }
        assert_eq!(seen, (0..=10).rev().collect::<Vec<_>>(), "{codec}");

        // upload: a drop in the middle
        let (writer, result) = s
            .client
            .upload::<_, Msg, Msg>("test", "concat", &Empty {})
            .await
            .unwrap();
        writer.write(&msg("ab")).await.unwrap();
        s.client.transport().drop_connections();
        writer.write(&msg("cd")).await.unwrap();
        writer.close().await.unwrap();
        assert_eq!(timeout(LIMIT, result).await.unwrap().unwrap(), msg("abcd"));

        same_session(&s, &session).await;
        settle("both sides finish their calls", || {
            s.client.open_calls() == 0 && s.router.open_calls() == 0
        })
        .await;
    }
}

#[tokio::test(start_paused = true)]
async fn in_flight_calls_end_with_unexpected_disconnect_when_grace_ends() {
    for codec in CODECS {
        let s = setup_with(codec, false, ProtocolVersion::V2_0, Vec::new());
        let (writer, mut responses) = s
            .client
            .stream::<_, Msg, Msg>("test", "echoStream", &Empty {})
            .await
            .unwrap();
        writer.write(&msg("x")).await.unwrap();
        assert_eq!(
            timeout(LIMIT, responses.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
            msg("x")
        );
        let mut counts = s
            .client
            .subscribe::<_, Count>("test", "countdown", &CountdownInit { from: 1_000 })
            .await
            .unwrap();
        assert!(
            timeout(LIMIT, counts.next())
                .await
                .unwrap()
                .unwrap()
                .is_ok()
        );
        s.server.drop_connections();

        let err = timeout(LIMIT, responses.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code, codes::UNEXPECTED_DISCONNECT, "{codec}");
        assert!(timeout(LIMIT, responses.next()).await.unwrap().is_none());
        let mut last = None;
        while let Some(item) = timeout(LIMIT, counts.next()).await.unwrap() {
            last = Some(item);
        }
        assert_eq!(
            last.unwrap().unwrap_err().code,
            codes::UNEXPECTED_DISCONNECT
        );
        // Writing to a stream of the ended session fails.
        let err = writer.write(&msg("late")).await.unwrap_err();
        assert_eq!(err.code, codes::UNEXPECTED_DISCONNECT);
        settle("both sides clean up", || {
            s.client.open_calls() == 0 && s.router.open_calls() == 0
        })
        .await;
    }
}

#[tokio::test(start_paused = true)]
async fn calls_on_a_closed_transport_fail_at_once() {
    for codec in CODECS {
        let s = setup(codec);
        s.client.transport().close().await;
        let started = tokio::time::Instant::now();
        let rpc = s
            .client
            .rpc::<_, Msg>("test", "echo", &msg("x"))
            .await
            .unwrap_err();
        let sub = s
            .client
            .subscribe::<_, Count>("test", "countdown", &CountdownInit { from: 1 })
            .await
            .unwrap_err();
        let up = s
            .client
            .upload::<_, Msg, Msg>("test", "concat", &Empty {})
            .await
            .unwrap_err();
        let st = s
            .client
            .stream::<_, Msg, Msg>("test", "echoStream", &Empty {})
            .await
            .unwrap_err();
        for err in [rpc, sub, up, st] {
            assert_eq!(err.code, codes::UNEXPECTED_DISCONNECT, "{codec}");
        }
        assert_eq!(started.elapsed(), Duration::ZERO, "failed without waiting");
    }
}

#[tokio::test(start_paused = true)]
async fn closing_either_transport_cleans_up_the_other_side() {
    for codec in CODECS {
        // The client closes: the server's calls end once its session ends.
        let s = setup(codec);
        let (_writer, _responses) = s
            .client
            .stream::<_, Msg, Msg>("test", "echoStream", &Empty {})
            .await
            .unwrap();
        settle("the server opens the call", || s.router.open_calls() == 1).await;
        s.client.transport().close().await;
        settle("the server drops the call", || s.router.open_calls() == 0).await;

        // The server closes: the client's calls end with UNEXPECTED_DISCONNECT.
        let s = setup(codec);
        let (_writer, mut responses) = s
            .client
            .stream::<_, Msg, Msg>("test", "echoStream", &Empty {})
            .await
            .unwrap();
        settle("the server opens the call", || s.router.open_calls() == 1).await;
        s.server.close().await;
        let err = timeout(LIMIT, responses.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code, codes::UNEXPECTED_DISCONNECT, "{codec}");
        settle("nothing left", || {
            s.client.open_calls() == 0 && s.router.open_calls() == 0
        })
        .await;
    }
}

#[tokio::test(start_paused = true)]
async fn fifty_rpcs_with_two_disconnects_keep_their_order() {
    for codec in CODECS {
        let s = setup(codec);
        for i in 0..50 {
            if i == 17 {
                s.client.transport().drop_connections();
            }
            if i == 33 {
                s.server.drop_connections();
            }
            let out: Msg = timeout(LIMIT, s.client.rpc("test", "echo", &msg(&i.to_string())))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(out, msg(&i.to_string()), "{codec}");
        }
        // Concurrently: every call gets its own answer.
        let calls = (0..50).map(|i| {
            let client = s.client.clone();
            let server = s.server.clone();
            async move {
                if i == 20 {
                    client.transport().drop_connections();
                }
                if i == 40 {
                    server.drop_connections();
                }
                client
                    .rpc::<_, Msg>("test", "echo", &msg(&i.to_string()))
                    .await
            }
        });
        let results = timeout(LIMIT, futures_util::future::join_all(calls))
            .await
            .unwrap();
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(result.unwrap(), msg(&i.to_string()));
        }
    }
}

fn failing_service() -> Service {
    Service::new("failing")
        .rpc("panics", |_: CallContext, init: Msg| async move {
            let n: u32 = init.msg.parse().expect("the handler assumes a number");
            Ok::<u32, RiverError>(n)
        })
        .rpc("mine", |_: CallContext, _: Empty| async move {
            Err::<Empty, _>(RiverError::new("MY_CODE", "mine"))
        })
}

#[tokio::test(start_paused = true)]
async fn handler_failures_become_results() {
    for codec in CODECS {
        let s = setup_with(codec, true, ProtocolVersion::V2_0, vec![failing_service()]);
        let err = s
            .client
            .rpc::<_, u32>("failing", "panics", &msg("not a number"))
            .await
            .unwrap_err();
        assert_eq!(err.code, codes::UNCAUGHT_ERROR, "{codec}");
        let err = s
            .client
            .rpc::<_, Empty>("failing", "mine", &Empty {})
            .await
            .unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.message.as_str()),
            ("MY_CODE", "mine")
        );
        // The server is still serving.
        let out: Msg = s.client.rpc("test", "echo", &msg("alive")).await.unwrap();
        assert_eq!(out, msg("alive"));
        settle("no call left", || s.router.open_calls() == 0).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_stream_stops_the_handler() {
    for codec in CODECS {
        let s = setup(codec);
        let (writer, _responses) = s
            .client
            .stream::<_, Msg, Msg>("test", "echoStream", &Empty {})
            .await
            .unwrap();
        writer.write(&msg("x")).await.unwrap();
        settle("the server opens the call", || s.router.open_calls() == 1).await;
        writer.cancel().await.unwrap();
        settle("the handler stops", || s.router.open_calls() == 0).await;
        assert_eq!(s.client.open_calls(), 0, "{codec}");
    }
}

/// Sends `msg` raw and returns the server's messages on its stream until one closes it.
async fn raw_exchange(
    transport: &ClientTransport,
    version: ProtocolVersion,
    msgs: Vec<PartialMessage>,
) -> Vec<Arc<TransportMessage>> {
    let mut events = transport.subscribe();
    let stream_id = msgs[0].stream_id.clone();
    for m in msgs {
        transport.send("SERVER", m).await.unwrap();
    }
    let mut got = Vec::new();
    loop {
        let event = timeout(LIMIT, events.recv()).await.unwrap().unwrap();
        if let TransportEvent::Message { msg, .. } = event
            && msg.stream_id == stream_id
        {
            let flags = msg.flags(version);
            got.push(msg);
            if flags.closed || flags.cancel {
                return got;
            }
        }
    }
}

fn raw(
    stream: &str,
    flags: ControlFlags,
    version: ProtocolVersion,
    payload: Value,
) -> PartialMessage {
    PartialMessage {
        stream_id: stream.into(),
        control_flags: flags.to_bits(version).unwrap(),
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload,
    }
}

fn open(
    stream: &str,
    procedure: &str,
    flags: ControlFlags,
    version: ProtocolVersion,
    payload: Value,
) -> PartialMessage {
    let mut m = raw(stream, ControlFlags::OPEN | flags, version, payload);
    m.service_name = Some("test".into());
    m.procedure_name = Some(procedure.into());
    m
}

fn map(entries: &[(&str, Value)]) -> Value {
    let mut m = statebound_river::wire::Map::new();
    for (k, v) in entries {
        m.insert(*k, v.clone());
    }
    Value::Map(m)
}

#[tokio::test(start_paused = true)]
async fn wire_shapes() {
    for codec in CODECS {
        for version in [ProtocolVersion::V2_0, ProtocolVersion::V1_1] {
            let s = setup_with(codec, true, version, Vec::new());
            let t = s.client.transport();
            let closed_bit = ControlFlags::CLOSED.to_bits(version).unwrap();
            let hello = map(&[("msg", Value::String("hi".into()))]);

            // rpc: open|closed in, one result with the closed bit out.
            let rpc = open("r1", "echo", ControlFlags::CLOSED, version, hello.clone());
            assert_eq!(
                rpc.control_flags,
                if version == ProtocolVersion::V2_0 {
                    10
                } else {
                    6
                }
            );
            let out = raw_exchange(t, version, vec![rpc]).await;
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].control_flags, closed_bit, "{codec} {version}");
            assert_eq!(
                out[0].payload,
                map(&[("ok", Value::Bool(true)), ("payload", hello.clone())])
            );

            // stream: the server's close is {"type":"CLOSE"} with the closed bit.
            let out = raw_exchange(
                t,
                version,
                vec![
                    open("s1", "echoStream", ControlFlags::NONE, version, map(&[])),
                    raw("s1", ControlFlags::NONE, version, hello.clone()),
                    raw(
                        "s1",
                        ControlFlags::CLOSED,
                        version,
                        map(&[("type", Value::String("CLOSE".into()))]),
                    ),
                ],
            )
            .await;
            assert_eq!(out.len(), 2, "{codec} {version}");
            assert_eq!(out[0].control_flags, 0);
            assert_eq!(out[1].control_flags, closed_bit);
            assert_eq!(
                out[1].payload,
                map(&[("type", Value::String("CLOSE".into()))])
            );

            // A request that does not fit: INVALID_REQUEST, aborting the stream.
            let out = raw_exchange(
                t,
                version,
                vec![
                    open("s2", "echoStream", ControlFlags::NONE, version, map(&[])),
                    raw("s2", ControlFlags::NONE, version, Value::Int(3)),
                ],
            )
            .await;
            let last = out.last().unwrap();
            let abort_bit = if version == ProtocolVersion::V2_0 {
                4
            } else {
                closed_bit
            };
            assert_eq!(last.control_flags, abort_bit, "{codec} {version}");
            let code = last
                .payload
                .get("payload")
                .and_then(|p| p.get("code"))
                .and_then(Value::as_str);
            assert_eq!(code, Some(codes::INVALID_REQUEST));
        }
    }
}
