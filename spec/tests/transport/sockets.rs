//! Sockets are really closed: after a peer goes silent without a FIN, after dials to a server
//! that never answers, and after a transport closes. The tests count this process's TCP
//! sockets on the ports involved, from `/proc`, on loopback.
//!
//! Hostile peers, played by hand on raw sockets: too much before the handshake, no handshake,
//! too many waiting connections or sessions, long ids, a frame over its decode budget, a peer
//! that never acknowledges; each gets a closed socket or a protocol error while a well-behaved
//! client of the same server still gets through (`RELIABILITY.md`, "Hostile peers").
//!
//! They run on the wall clock with short timings (real sockets and tokio's paused clock do not
//! mix: the clock would jump past timeouts while bytes are still on their way), and every wait
//! is a bounded poll.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use statebound_river::session::{RetryOptions, SendError, SessionOptions};
use statebound_river::transport::{
    ClientOptions, ClientTransport, CodecMode, ServerOptions, ServerTransport, TransportError,
    TransportEvent, WsDialer, WsLimits,
};
use statebound_river::wire::{
    Codec, CodecKind, DecodeBudget, ExpectedSessionState, HandshakeErrorCode, HandshakeRequest,
    HandshakeResponse, MessageHeader, PartialMessage, ProtocolVersion, TransportMessage, Value,
    parse_handshake_response,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::time::{Instant, sleep};
use tokio_tungstenite::tungstenite::Message;

/// TCP sockets of this process on `port`: `(local port matches, remote port matches)` counts,
/// listeners left out.
fn sockets_on(port: u16) -> (usize, usize) {
    let (local, remote) = socket_entries_on(port);
    (local.len(), remote.len())
}

/// The `/proc/net/tcp{,6}` lines behind [`sockets_on`]'s counts, for failure messages.
fn socket_entries_on(port: u16) -> (Vec<String>, Vec<String>) {
    let ours: HashSet<u64> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| {
            let link = std::fs::read_link(entry.ok()?.path()).ok()?;
            let link = link.to_str()?;
            link.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(l), Some(r), Some(state), Some(inode)) =
                (fields.get(1), fields.get(2), fields.get(3), fields.get(9))
            else {
                continue;
            };
            // 0A is LISTEN.
            if *state == "0A" || !inode.parse().is_ok_and(|i: u64| ours.contains(&i)) {
                continue;
            }
            let port_of = |addr: &str| {
                addr.rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            };
            let entry = format!("{l} -> {r} state {state} inode {inode}");
            if port_of(l) == Some(port) {
                local.push(entry.clone());
            }
            if port_of(r) == Some(port) {
                remote.push(entry);
            }
        }
    }
    (local, remote)
}

/// Polls `done` every 10 ms for at most `limit`.
async fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

fn quick_session() -> SessionOptions {
    SessionOptions {
        heartbeat_interval: Duration::from_millis(50),
        heartbeats_until_dead: 4,
        session_disconnect_grace: Duration::from_millis(400),
        connection_timeout: Duration::from_millis(300),
        handshake_timeout: Duration::from_millis(300),
        codec: CodecKind::Json,
        ..SessionOptions::default()
    }
}

fn quick_limits() -> WsLimits {
    WsLimits {
        close_timeout: Duration::from_millis(200),
        ..WsLimits::default()
    }
}

async fn quick_server() -> (ServerTransport, SocketAddr) {
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            session: quick_session(),
            codec: CodecMode::Fixed(CodecKind::Json),
            limits: quick_limits(),
            upgrade_timeout: Duration::from_millis(300),
            ..ServerOptions::default()
        },
    );
    let addr = server.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (server, addr)
}

/// A peer that completes its handshake, then neither reads nor writes nor closes: the
/// server's watchdog ends the connection and the socket is gone within the close timeout,
/// though the peer never answers the close.
#[tokio::test]
async fn a_silent_peer_loses_its_socket() {
    let (server, addr) = quick_server().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
        .await
        .unwrap();
    let request = HandshakeRequest::new(
        ProtocolVersion::V2_0,
        "session-silent",
        ExpectedSessionState::default(),
    );
    let frame = CodecKind::Json
        .encode(
            &PartialMessage::handshake_request("hs", &request)
                .into_message(MessageHeader::handshake("m1", "silent", "SERVER")),
        )
        .unwrap();
    ws.send(Message::Binary(frame.into())).await.unwrap();
    let response = ws.next().await.expect("a response").expect("readable");
    assert!(response.is_binary(), "the handshake is answered");
    assert_eq!(
        sockets_on(addr.port()).0,
        1,
        "the server holds the connection"
    );

    // Silence: the peer keeps its socket open and reads nothing from here on.
    eventually(
        Duration::from_secs(5),
        "the server drops the silent connection's socket",
        || sockets_on(addr.port()).0 == 0,
    )
    .await;
    drop(ws);
    server.close().await;
}

/// A TCP connection that never upgrades to a WebSocket is dropped after the upgrade timeout,
/// and counted as such; one that sends something else than an upgrade request is dropped at
/// once.
#[tokio::test]
async fn a_connection_that_never_upgrades_is_dropped() {
    let metrics = metrics();
    let (server, addr) = server_with(ServerOptions {
        metrics: Some(metrics.clone()),
        ..quick_options()
    })
    .await;
    let mut garbage = tokio::net::TcpStream::connect(addr).await.unwrap();
    garbage.write_all(b"HELLO\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), garbage.read(&mut buf)).await;
    assert!(
        read.is_ok(),
        "a request that is no upgrade is answered or closed at once"
    );
    eventually(
        Duration::from_secs(3),
        "the failed upgrade is counted",
        || metrics.connections_dropped("upgrade_failed") == 1,
    )
    .await;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    eventually(
        Duration::from_secs(2),
        "the server accepts the connection",
        || sockets_on(addr.port()).0 == 1,
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "the server drops the connection",
        || sockets_on(addr.port()).0 == 0,
    )
    .await;
    assert_eq!(metrics.connections_dropped("upgrade_timeout"), 1);
    assert_eq!(metrics.connections_dropped("pending_cap"), 0);
    drop((tcp, garbage));
    server.close().await;
}

fn metrics() -> statebound_river::metrics::Metrics {
    statebound_river::metrics::Metrics::register(
        &mut prometheus_client::registry::Registry::default(),
    )
}

/// Dials to a server that accepts TCP but never answers the upgrade time out, and each one's
/// socket is closed; no more than one is ever open, and none is left once the client gives up.
#[tokio::test]
async fn dials_that_time_out_leave_no_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut accepted = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            accepted.push(tcp);
        }
    });
    let client = ClientTransport::new(
        "dialer",
        Arc::new(WsDialer::fixed(format!("ws://127.0.0.1:{port}")).with_limits(quick_limits())),
        ClientOptions {
            session: SessionOptions {
                // Long enough for every attempt the budget allows.
                session_disconnect_grace: Duration::from_secs(30),
                ..quick_session()
            },
            retry: RetryOptions {
                base_interval: Duration::from_millis(20),
                max_jitter: Duration::ZERO,
                attempt_budget_capacity: 3,
                ..RetryOptions::default()
            },
            ..ClientOptions::default()
        },
    );
    let mut events = client.subscribe_status();
    client.connect("SERVER");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut most = Vec::new();
    let mut attempts_failed = 0;
    while attempts_failed < 3 {
        assert!(
            Instant::now() < deadline,
            "three dials did not time out in 10 s"
        );
        let (_, dials) = socket_entries_on(port);
        if dials.len() > most.len() {
            most = dials;
        }
        if let Ok(Some(TransportEvent::SessionTransition {
            transition: "connection_failed",
            ..
        })) = tokio::time::timeout(Duration::from_millis(5), events.recv()).await
        {
            attempts_failed += 1;
        }
    }
    assert!(
        most.len() <= 1,
        "at most one dial's socket open at a time, saw {}: {most:#?}",
        most.len()
    );
    eventually(Duration::from_secs(2), "no dial socket is left", || {
        sockets_on(port).1 == 0
    })
    .await;
    client.close().await;
    assert_eq!(sockets_on(port).1, 0);
    held.abort();
}

/// Closing a server closes every socket it holds, and its tasks end.
#[tokio::test]
async fn closing_a_server_closes_its_sockets() {
    let (server, addr) = quick_server().await;
    let clients: Vec<ClientTransport> = (0..3)
        .map(|i| {
            ClientTransport::new(
                format!("client-{i}"),
                Arc::new(WsDialer::fixed(format!("ws://{addr}")).with_limits(quick_limits())),
                ClientOptions {
                    session: quick_session(),
                    reconnect_on_connection_drop: false,
                    ..ClientOptions::default()
                },
            )
        })
        .collect();
    for client in &clients {
        client.connect("SERVER");
    }
    eventually(Duration::from_secs(5), "three sessions", || {
        server.connection_count() == 3 && sockets_on(addr.port()).0 == 3
    })
    .await;
    server.close().await;
    assert_eq!(server.live_tasks(), 0, "no session task is left");
    eventually(Duration::from_secs(2), "the server's sockets close", || {
        sockets_on(addr.port()).0 == 0
    })
    .await;
    for client in &clients {
        client.close().await;
        assert_eq!(client.live_tasks(), 0);
    }
    eventually(Duration::from_secs(2), "the clients' sockets close", || {
        sockets_on(addr.port()).1 == 0
    })
    .await;
}

// ----- hostile peers ------------------------------------------------------------------------

type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn server_with(options: ServerOptions) -> (ServerTransport, SocketAddr) {
    let server = ServerTransport::new("SERVER", options);
    let addr = server.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (server, addr)
}

fn quick_options() -> ServerOptions {
    ServerOptions {
        session: quick_session(),
        codec: CodecMode::Fixed(CodecKind::Json),
        limits: quick_limits(),
        upgrade_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    }
}

fn data(payload: Value) -> PartialMessage {
    PartialMessage {
        stream_id: "s".into(),
        control_flags: 0,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload,
    }
}

fn frame(msg: &TransportMessage) -> Message {
    Message::Binary(CodecKind::Json.encode(msg).unwrap().into())
}

/// Sends a handshake for `session` as `client` on a new socket and returns the socket with the
/// server's answer.
async fn raw_handshake(
    addr: SocketAddr,
    client: &str,
    session: &str,
) -> (RawSocket, HandshakeResponse) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
        .await
        .unwrap();
    let request = HandshakeRequest::new(
        ProtocolVersion::V2_0,
        session,
        ExpectedSessionState::default(),
    );
    let msg = PartialMessage::handshake_request("hs", &request)
        .into_message(MessageHeader::handshake("m1", client, "SERVER"));
    ws.send(frame(&msg)).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("answered within 5 s")
        .expect("a response")
        .expect("readable");
    let decoded = CodecKind::Json.decode(&answer.into_data()).unwrap();
    (ws, parse_handshake_response(&decoded.payload).unwrap())
}

fn refusal(response: &HandshakeResponse) -> (&HandshakeErrorCode, &str) {
    match response {
        HandshakeResponse::Err { code, reason } => (code, reason.as_str()),
        HandshakeResponse::Ok { .. } => panic!("expected a refusal, got {response:?}"),
    }
}

/// Whether the server has closed `ws`: its next read ends, fails or is a close frame.
async fn closed_by_server(ws: &mut RawSocket, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_) | Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// A well-behaved client on the same server still gets its messages through.
async fn bystander_gets_through(server: &ServerTransport, addr: SocketAddr) {
    let mut events = server.subscribe();
    let client = ClientTransport::new(
        "bystander",
        Arc::new(WsDialer::fixed(format!("ws://{addr}"))),
        ClientOptions {
            session: quick_session(),
            ..ClientOptions::default()
        },
    );
    client.send("SERVER", data("hello".into())).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("the bystander's message arrives within 5 s")
            .expect("the server is open");
        if let TransportEvent::Message { from, .. } = event
            && from == "bystander"
        {
            break;
        }
    }
    client.close().await;
}

/// A frame that declares 99 MiB before any handshake, and sends part of it, closes the socket
/// as soon as the handshake size limit is passed, long before the handshake timeout (without
/// the limit the server would wait for the rest of the frame).
#[tokio::test]
async fn more_than_the_handshake_size_limit_before_a_handshake_closes_the_socket() {
    let (server, addr) = server_with(ServerOptions {
        session: SessionOptions {
            handshake_timeout: Duration::from_secs(30),
            ..quick_session()
        },
        ..quick_options()
    })
    .await;
    // A frame header for 99 MiB, then 256 KiB of its payload, written on the raw socket.
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
        .await
        .unwrap();
    let tokio_tungstenite::MaybeTlsStream::Plain(mut tcp) = ws.into_inner() else {
        unreachable!("a ws:// URL")
    };
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(99u64 * 1024 * 1024).to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]);
    let _ = tcp.write_all(&header).await;
    let _ = tcp.write_all(&vec![0u8; 256 * 1024]).await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the server closes a socket with a partial 99 MiB frame: {read:?}"
    );
    eventually(Duration::from_secs(3), "no socket left", || {
        sockets_on(addr.port()).0 == 0
    })
    .await;
    bystander_gets_through(&server, addr).await;
    server.close().await;
}

/// A peer that upgrades and never sends its handshake loses its socket after the handshake
/// timeout.
#[tokio::test]
async fn a_peer_that_upgrades_and_never_handshakes_loses_its_socket() {
    let (server, addr) = quick_server().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut ws, Duration::from_secs(3)).await,
        "closed after the 300 ms handshake timeout"
    );
    eventually(Duration::from_secs(3), "no socket left", || {
        sockets_on(addr.port()).0 == 0
    })
    .await;
    server.close().await;
}

/// Past `max_pending_connections`, a new TCP connection is closed at once; once the waiting
/// ones are gone, connections are served again.
#[tokio::test]
async fn connections_past_the_pending_cap_are_closed_at_once() {
    let metrics = metrics();
    let (server, addr) = server_with(ServerOptions {
        max_pending_connections: 2,
        upgrade_timeout: Duration::from_secs(30),
        metrics: Some(metrics.clone()),
        ..quick_options()
    })
    .await;
    let first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let second = tokio::net::TcpStream::connect(addr).await.unwrap();
    eventually(Duration::from_secs(3), "two connections wait", || {
        sockets_on(addr.port()).0 == 2
    })
    .await;
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(Duration::from_secs(3), third.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the third connection is closed at once: {read:?}"
    );
    assert_eq!(metrics.connections_dropped("pending_cap"), 1, "and counted");
    drop((first, second, third));
    eventually(
        Duration::from_secs(3),
        "the waiting connections are gone",
        || sockets_on(addr.port()).0 == 0,
    )
    .await;
    bystander_gets_through(&server, addr).await;
    server.close().await;
}

/// Past `max_sessions`, a new session is refused with the retriable `SESSION_STATE_MISMATCH`,
/// while resuming an existing session is still allowed.
#[tokio::test]
async fn sessions_past_the_cap_are_refused_and_resumes_are_not() {
    let (server, addr) = server_with(ServerOptions {
        max_sessions: 1,
        ..quick_options()
    })
    .await;
    let (first, response) = raw_handshake(addr, "one", "session-one").await;
    assert!(
        matches!(response, HandshakeResponse::Ok { .. }),
        "{response:?}"
    );
    let (_second, response) = raw_handshake(addr, "two", "session-two").await;
    let (code, reason) = refusal(&response);
    assert_eq!(*code, HandshakeErrorCode::SessionStateMismatch);
    assert!(reason.contains("maximum of 1 sessions"), "{reason}");
    // The first client's connection drops; it resumes its session within the grace period.
    drop(first);
    let (_again, response) = raw_handshake(addr, "one", "session-one").await;
    assert_eq!(
        response,
        HandshakeResponse::Ok {
            session_id: "session-one".into()
        }
    );
    server.close().await;
}

/// Client ids and session ids longer than 256 bytes are refused as `MALFORMED_HANDSHAKE`, and
/// the refusal does not repeat them.
#[tokio::test]
async fn long_ids_are_refused_as_malformed_handshakes() {
    let (server, addr) = quick_server().await;
    let long = "x".repeat(300);
    for (client, session, what) in [
        (long.as_str(), "session", "client id"),
        ("client", long.as_str(), "session id"),
    ] {
        let (_ws, response) = raw_handshake(addr, client, session).await;
        let (code, reason) = refusal(&response);
        assert_eq!(*code, HandshakeErrorCode::MalformedHandshake);
        assert_eq!(
            reason,
            format!("the {what} is 300 bytes, over the 256-byte limit")
        );
    }
    server.close().await;
}

/// A frame that would take more memory to decode than its budget ends its own session with a
/// protocol error; other sessions go on.
#[tokio::test]
async fn a_frame_over_its_decode_budget_ends_only_its_session() {
    let (server, addr) = server_with(ServerOptions {
        session: SessionOptions {
            decode_budget: DecodeBudget {
                per_byte: 8,
                floor: 64 * 1024,
            },
            // Reading a 1 MiB frame in a debug build may take longer than 200 ms of silence.
            heartbeats_until_dead: 40,
            ..quick_session()
        },
        ..quick_options()
    })
    .await;
    let mut events = server.subscribe();
    let (mut ws, response) = raw_handshake(addr, "hostile", "session-hostile").await;
    assert!(matches!(response, HandshakeResponse::Ok { .. }));
    let zeros: Vec<Value> = vec![Value::Int(0); 512 * 1024];
    let msg = data(Value::Array(zeros)).into_message(MessageHeader {
        id: "big".into(),
        from: "hostile".into(),
        to: "SERVER".into(),
        seq: 0,
        ack: 0,
    });
    ws.send(frame(&msg)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let reason = loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("a protocol error within 5 s")
            .expect("the server is open");
        if let TransportEvent::ProtocolError { error, .. } = event {
            break format!("{error:?}");
        }
    };
    assert!(reason.contains("decode budget"), "{reason}");
    assert!(closed_by_server(&mut ws, Duration::from_secs(3)).await);
    bystander_gets_through(&server, addr).await;
    server.close().await;
}

/// A peer that keeps its connection alive but never acknowledges anything: sends past the
/// buffer's cap fail with `BufferFull`, and the session ends with a protocol error once the
/// oldest message has waited the ack timeout.
#[tokio::test]
async fn a_peer_that_never_acknowledges_ends_its_session() {
    let (server, addr) = server_with(ServerOptions {
        session: SessionOptions {
            send_buffer_max_messages: 8,
            ack_timeout: Duration::from_millis(500),
            ..quick_session()
        },
        ..quick_options()
    })
    .await;
    let mut events = server.subscribe();
    let (ws, response) = raw_handshake(addr, "stingy", "session-stingy").await;
    assert!(matches!(response, HandshakeResponse::Ok { .. }));
    let (mut sink, mut stream) = ws.split();
    // The peer reads everything and sends a heartbeat every 50 ms, always with ack 0.
    let keepalive = tokio::spawn(async move {
        for seq in 0..200u64 {
            let msg = PartialMessage::heartbeat().into_message(MessageHeader {
                id: format!("hb{seq}"),
                from: "stingy".into(),
                to: "SERVER".into(),
                seq,
                ack: 0,
            });
            if sink.send(frame(&msg)).await.is_err() {
                return;
            }
            sleep(Duration::from_millis(50)).await;
        }
    });
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    let mut sent = 0;
    let err = loop {
        match server.send("stingy", data("data".into())).await {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent <= 8, "the buffer holds at most 8 messages");
    };
    assert!(
        matches!(
            err,
            TransportError::Send(SendError::BufferFull { messages: 8, .. })
        ),
        "{err:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let reason = loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("a protocol error within 5 s")
            .expect("the server is open");
        if let TransportEvent::ProtocolError { error, .. } = event {
            break format!("{error:?}");
        }
    };
    assert!(reason.contains("acknowledged none"), "{reason}");
    keepalive.abort();
    reader.abort();
    server.close().await;
}
