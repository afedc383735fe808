//! Limits: the send buffer's high-water mark (advisory backpressure and waiting for acks to
//! drain it), the largest message a side sends, and the largest it accepts.

use std::sync::Arc;
use std::time::Duration;

use statebound_river::session::{SendError, SessionOptions};
use statebound_river::transport::{
    ClientOptions, ClientTransport, MemoryDialer, ServerOptions, ServerTransport, TransportError,
    TransportEvent, WsDialer, WsLimits,
};
use statebound_river::wire::{PartialMessage, ProtocolVersion, Value};
use tokio::time::timeout;

fn text(s: String) -> PartialMessage {
    PartialMessage {
        stream_id: "s".into(),
        control_flags: 0,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload: Value::String(s),
    }
}

#[tokio::test(start_paused = true)]
async fn backpressure_is_reported_and_drains_with_acks() {
    let session = SessionOptions {
        send_buffer_high_water_mark: 4,
        ..SessionOptions::default()
    };
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            session: session.clone(),
            ..ServerOptions::default()
        },
    );
    let client = ClientTransport::new(
        "client",
        Arc::new(MemoryDialer::new(server.clone())),
        ClientOptions {
            session,
            ..ClientOptions::default()
        },
    );
    let mut flags = Vec::new();
    for i in 0..6 {
        flags.push(
            client
                .send("SERVER", text(format!("m{i}")))
                .await
                .unwrap()
                .backpressured,
        );
    }
    assert_eq!(
        flags,
        [false, false, false, true, true, true],
        "the mark is 4 messages"
    );
    // Nothing has been acknowledged yet; the server's heartbeat after a second carries its ack.
    timeout(Duration::from_secs(5), client.wait_for_drain("SERVER"))
        .await
        .expect("acks drain the buffer");
    let sent = client.send("SERVER", text("after".into())).await.unwrap();
    assert!(!sent.backpressured);
    client.close().await;
    server.close().await;
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_when_sent() {
    let server = ServerTransport::new("SERVER", ServerOptions::default());
    let client = ClientTransport::new(
        "client",
        Arc::new(MemoryDialer::new(server.clone())),
        ClientOptions {
            session: SessionOptions {
                max_message_size: 1024,
                ..SessionOptions::default()
            },
            ..ClientOptions::default()
        },
    );
    let err = client
        .send("SERVER", text("x".repeat(2000)))
        .await
        .unwrap_err();
    match err {
        TransportError::Send(SendError::TooLarge { size, limit: 1024 }) => assert!(size > 2000),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let ok = client.send("SERVER", text("small".into())).await.unwrap();
    assert_eq!(ok.seq, 0, "the refused message took no seq");
    client.close().await;
    server.close().await;
}

#[tokio::test]
async fn a_frame_over_the_receivers_limit_drops_the_connection_not_the_process() {
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            limits: WsLimits {
                max_message_size: 4096,
                ..WsLimits::default()
            },
            ..ServerOptions::default()
        },
    );
    let mut server_events = server.subscribe();
    let addr = server.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = ClientTransport::new(
        "client",
        Arc::new(WsDialer::fixed(format!("ws://{addr}"))),
        ClientOptions::default(),
    );
    client.send("SERVER", text("hello".into())).await.unwrap();
    client
        .send("SERVER", text("y".repeat(10_000)))
        .await
        .unwrap();
    let mut delivered = Vec::new();
    let mut lost = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !lost {
        let event = tokio::time::timeout_at(deadline, server_events.recv())
            .await
            .expect("the server drops the connection within 10 s")
            .expect("the server is open");
        match event {
            TransportEvent::Message { msg, .. } => delivered.push(msg.payload.clone()),
            TransportEvent::SessionTransition {
                to: "NoConnection", ..
            } => lost = true,
            _ => {}
        }
    }
    assert_eq!(
        delivered,
        [Value::String("hello".into())],
        "the oversized frame is not delivered"
    );
    client.close().await;
    server.close().await;
}

/// How long a phantom-disconnected session of `version` stays on the server's books before the
/// watchdog closes its connection.
async fn silence_tolerated(version: ProtocolVersion) -> Duration {
    let server = ServerTransport::new("SERVER", ServerOptions::default());
    let mut events = server.subscribe();
    let client = ClientTransport::new(
        "client",
        Arc::new(MemoryDialer::new(server.clone())),
        ClientOptions {
            version,
            ..ClientOptions::default()
        },
    );
    client.send("SERVER", text("hello".into())).await.unwrap();
    loop {
        let event = timeout(Duration::from_secs(30), events.recv())
            .await
            .unwrap()
            .unwrap();
        if let TransportEvent::Message { .. } = event {
            break;
        }
    }
    server.set_phantom_disconnect(true);
    let silent_since = tokio::time::Instant::now();
    loop {
        let event = timeout(Duration::from_secs(30), events.recv())
            .await
            .unwrap()
            .unwrap();
        if let TransportEvent::SessionTransition {
            to: "NoConnection", ..
        } = event
        {
            let tolerated = silent_since.elapsed();
            client.close().await;
            server.close().await;
            return tolerated;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn v1_1_sessions_tolerate_their_peers_slower_heartbeats() {
    let v2 = silence_tolerated(ProtocolVersion::V2_0).await;
    let v1 = silence_tolerated(ProtocolVersion::V1_1).await;
    // The last message arrived just before the phantom disconnect began.
    assert!(v2 <= Duration::from_secs(2), "v2.0: {v2:?}");
    assert!(v2 > Duration::from_millis(1500), "v2.0: {v2:?}");
    assert!(v1 <= Duration::from_secs(10), "v1.1: {v1:?}");
    assert!(v1 > Duration::from_millis(9500), "v1.1: {v1:?}");
}
