//! A client and a server exchange messages in memory and over WebSocket on loopback.

use std::sync::Arc;
use std::time::Duration;

use statebound_river::session::SessionStatus;
use statebound_river::transport::{
    ClientOptions, ClientTransport, MemoryDialer, ServerOptions, ServerTransport, TransportEvent,
    WsDialer,
};
use statebound_river::wire::{PartialMessage, Value};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

fn text(s: &str) -> PartialMessage {
    PartialMessage {
        stream_id: "s1".into(),
        control_flags: 0,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload: Value::String(s.into()),
    }
}

async fn next_message(events: &mut Receiver<TransportEvent>) -> (String, Value) {
    loop {
        let event = timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .expect("the transport is open");
        if let TransportEvent::Message { from, msg, .. } = event {
            return (from, msg.payload.clone());
        }
    }
}

async fn exchange(client: &ClientTransport, server: &ServerTransport) {
    let mut server_events = server.subscribe();
    let mut client_events = client.subscribe();
    for i in 0..5 {
        client
            .send("SERVER", text(&format!("ping {i}")))
            .await
            .unwrap();
    }
    for i in 0..5 {
        let (from, payload) = next_message(&mut server_events).await;
        assert_eq!(from, "client");
        assert_eq!(payload, Value::String(format!("ping {i}")));
    }
    server.send("client", text("pong")).await.unwrap();
    let (from, payload) = next_message(&mut client_events).await;
    assert_eq!(
        (from.as_str(), payload),
        ("SERVER", Value::String("pong".into()))
    );
    let client_id = client.session_id("SERVER");
    assert!(client_id.is_some());
    assert_eq!(client_id, server.session_id("client"));
}

#[tokio::test]
async fn in_memory() {
    let server = ServerTransport::new("SERVER", ServerOptions::default());
    let client = ClientTransport::new(
        "client",
        Arc::new(MemoryDialer::new(server.clone())),
        ClientOptions::default(),
    );
    exchange(&client, &server).await;
    let mut events = server.subscribe();
    client.close().await;
    server.close().await;
    let mut closed = false;
    while let Ok(Some(event)) = timeout(Duration::from_secs(5), events.recv()).await {
        if matches!(
            event,
            TransportEvent::SessionStatus {
                status: SessionStatus::Closed,
                ..
            }
        ) {
            closed = true;
        }
        if matches!(event, TransportEvent::TransportClosed) {
            break;
        }
    }
    assert!(closed, "the server's session closed");
}

#[tokio::test]
async fn websocket_on_loopback() {
    let server = ServerTransport::new("SERVER", ServerOptions::default());
    let addr = server.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = ClientTransport::new(
        "client",
        Arc::new(WsDialer::fixed(format!("ws://{addr}"))),
        ClientOptions::default(),
    );
    exchange(&client, &server).await;
    client.close().await;
    server.close().await;
}
