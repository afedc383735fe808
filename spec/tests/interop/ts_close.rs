//! Our client against a server that closes connections the way River's TypeScript transports do:
//! always with code 1000 ("normal"), even when the session continues
//! (`transport/impls/ws/connection.ts` in River). Our client must read any close as the loss of
//! a connection and resume the same session (`docs/protocol.md` sections 8 and 10).
//!
//! The server is played by hand over WebSocket on loopback; every wait is bounded.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use statebound_river::session::SessionStatus;
use statebound_river::transport::{ClientOptions, ClientTransport, TransportEvent, WsDialer};
use statebound_river::wire::{
    Codec as _, CodecKind, HandshakeRequest, HandshakeResponse, MessageHeader, PartialMessage,
    TransportMessage, Value, parse_handshake_request,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;

const PATIENCE: Duration = Duration::from_secs(10);
const CODEC: CodecKind = CodecKind::Json;

async fn accept(listener: &TcpListener) -> WebSocketStream<TcpStream> {
    let (tcp, _) = timeout(PATIENCE, listener.accept())
        .await
        .expect("the client connects in time")
        .expect("accept");
    tokio_tungstenite::accept_async(tcp)
        .await
        .expect("a WebSocket upgrade")
}

async fn next_message(ws: &mut WebSocketStream<TcpStream>) -> TransportMessage {
    loop {
        let message = timeout(PATIENCE, ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a readable frame");
        if let Message::Binary(bytes) = message {
            return CODEC.decode(&bytes).expect("the client's frame decodes");
        }
    }
}

/// Reads the client's handshake request and accepts it.
async fn handshake(ws: &mut WebSocketStream<TcpStream>) -> HandshakeRequest {
    let msg = next_message(ws).await;
    let request = parse_handshake_request(&msg.payload).expect("a handshake request");
    let response = HandshakeResponse::Ok {
        session_id: request.session_id.clone(),
    };
    let answer = PartialMessage::handshake_response("hs", &response)
        .into_message(MessageHeader::handshake("resp", "SERVER", msg.from));
    ws.send(Message::Binary(
        CODEC.encode(&answer).expect("encodes").into(),
    ))
    .await
    .expect("the socket is open");
    request
}

fn text(s: &str) -> PartialMessage {
    PartialMessage {
        stream_id: "s1".into(),
        control_flags: 0,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload: Value::from(s),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_with_1000_is_a_lost_connection_and_the_session_resumes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let client = ClientTransport::new(
        "rust-client",
        Arc::new(WsDialer::fixed(format!("ws://{addr}"))),
        ClientOptions::default(),
    );
    let mut events = client.subscribe();
    client.send("SERVER", text("one")).await.expect("buffered");

    let mut first = accept(&listener).await;
    let hello = handshake(&mut first).await;
    let sent = next_message(&mut first).await;
    assert_eq!((sent.seq, sent.payload.as_str()), (0, Some("one")));
    // Closed as River's TypeScript server closes every connection; "one" was never acked.
    first
        .send(Message::Close(Some(CloseFrame {
            code: WsCloseCode::Normal,
            reason: "".into(),
        })))
        .await
        .expect("the close goes out");

    let mut second = accept(&listener).await;
    let again = handshake(&mut second).await;
    assert_eq!(
        again.session_id, hello.session_id,
        "the same session resumes"
    );
    assert_eq!(
        (
            again.expected_session_state.next_sent_seq,
            again.expected_session_state.next_expected_seq
        ),
        (0, 0),
        "the unacknowledged message is still buffered"
    );
    let resent = next_message(&mut second).await;
    assert_eq!((resent.seq, resent.payload.as_str()), (0, Some("one")));
    assert_eq!(client.session_id("SERVER"), Some(hello.session_id));

    let mut closed = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let TransportEvent::SessionStatus {
            status: SessionStatus::Closing | SessionStatus::Closed,
            session_id,
            ..
        } = event
        {
            closed.push(session_id);
        }
    }
    assert!(closed.is_empty(), "no session ended: {closed:?}");
    client.close().await;
}
