//! Sockets are really closed: after a peer goes silent without a FIN, after dials to a server
//! that never answers, and after a transport closes. The tests count this process's TCP
//! sockets on the ports involved, from `/proc`, on loopback.
//!
//! They run on the wall clock with short timings (real sockets and tokio's paused clock do not
//! mix: the clock would jump past timeouts while bytes are still on their way), and every wait
//! is a bounded poll.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use statebound_river::session::{RetryOptions, SessionOptions};
use statebound_river::transport::{
    ClientOptions, ClientTransport, CodecMode, ServerOptions, ServerTransport, TransportEvent,
    WsDialer, WsLimits,
};
use statebound_river::wire::{
    Codec, CodecKind, ExpectedSessionState, HandshakeRequest, MessageHeader, PartialMessage,
    ProtocolVersion,
};
use tokio::net::TcpListener;
use tokio::time::{Instant, sleep};
use tokio_tungstenite::tungstenite::Message;

/// TCP sockets of this process on `port`: `(local port matches, remote port matches)` counts,
/// listeners left out.
fn sockets_on(port: u16) -> (usize, usize) {
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
    let (mut local, mut remote) = (0, 0);
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
            if port_of(l) == Some(port) {
                local += 1;
            }
            if port_of(r) == Some(port) {
                remote += 1;
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

/// A TCP connection that never upgrades to a WebSocket is dropped after the upgrade timeout.
#[tokio::test]
async fn a_connection_that_never_upgrades_is_dropped() {
    let (server, addr) = quick_server().await;
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
    drop(tcp);
    server.close().await;
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
    let mut most = 0;
    let mut attempts_failed = 0;
    while attempts_failed < 3 {
        assert!(
            Instant::now() < deadline,
            "three dials did not time out in 10 s"
        );
        most = most.max(sockets_on(port).1);
        if let Ok(Some(TransportEvent::SessionTransition {
            transition: "connection_failed",
            ..
        })) = tokio::time::timeout(Duration::from_millis(5), events.recv()).await
        {
            attempts_failed += 1;
        }
    }
    assert!(
        most <= 1,
        "at most one dial's socket open at a time, saw {most}"
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
