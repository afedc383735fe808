//! Transports facing failure and misbehaviour (`docs/conformance.md`, "Transports" and
//! "Handshake"): closed transports,
//! dials that fail (retriably or fatally), repeated `connect()`, and a hand-played client that
//! sends garbage, a seq from the future, an unknown protocol version, or a second frame before
//! its handshake is answered.
//!
//! In-memory tests run on tokio's paused clock; WebSocket variants run on loopback on the wall
//! clock with every wait bounded (see `transport_support`).

use std::net::SocketAddr;

use crate::transport_support::{
    CLIENT, Cell, Events, FailingDialer, Net, RawEvent, RawPeer, SERVER, TestValidator, Verdict,
    entered, eventually, handshake_failed, is_message, is_protocol_error, is_retries_exceeded,
    left, raw_frame, status, text,
};
use statebound_river::session::{CloseCode, SessionStatus};
use statebound_river::transport::{
    CodecMode, ServerOptions, ServerTransport, TransportError, TransportEvent,
};
use statebound_river::wire::{
    Codec, CodecKind, ExpectedSessionState, HandshakeErrorCode, HandshakeRequest,
    HandshakeResponse, MessageHeader, PartialMessage, ProtocolVersion, parse_handshake_response,
};
use tokio::time::Instant;

// ----- closed transports ---------------------------------------------------------------------

/// Sending through a closed transport fails at once with `TransportError::Closed`, whose
/// message says so; sending to a client the server has no session with names the client.
#[tokio::test(start_paused = true)]
async fn sending_through_a_closed_transport_fails_clearly() {
    let cell = Cell::new(CodecKind::Json, Net::Memory);
    let mut p = cell.pair().await;
    p.connect().await;

    let nobody = p.server.send("nobody", text("hello")).await;
    assert_eq!(nobody, Err(TransportError::NoSession("nobody".into())));
    assert_eq!(
        nobody.unwrap_err().to_string(),
        "no session with nobody",
        "the error names the client"
    );

    p.client.close().await;
    let err = p
        .client
        .send(SERVER, text("late"))
        .await
        .expect_err("a closed client refuses to send");
    assert_eq!(err, TransportError::Closed);
    assert_eq!(err.to_string(), "the transport is closed");

    p.server.close().await;
    let err = p
        .server
        .send(CLIENT, text("late"))
        .await
        .expect_err("a closed server refuses to send");
    assert_eq!(err, TransportError::Closed);
}

// ----- dials that fail -----------------------------------------------------------------------

/// A dial that always fails produces exactly one `conn_retry_exceeded`, once the budget is
/// spent (one dial per unit), even when asked to connect again; grace then ends the session.
#[tokio::test(start_paused = true)]
async fn a_dial_that_always_fails_reports_retries_exceeded_once() {
    let cell = Cell::new(CodecKind::Json, Net::Memory);
    let mut client = cell.client_options();
    client.retry.attempt_budget_capacity = 3;
    let mut p = cell.pair_with(cell.server_options(), client).await;
    p.dialer.switch(FailingDialer::retriable());

    p.client.connect(SERVER);
    p.client_events
        .until("the budget to run out", is_retries_exceeded)
        .await;
    assert_eq!(p.dialer.calls(), 3);
    p.client.connect(SERVER);
    p.client_events
        .until("grace to end the session", status(SessionStatus::Closed))
        .await;
    cell.settle().await;
    p.client_events.drain();
    assert_eq!(p.client_events.count(is_retries_exceeded), 1);
    assert_eq!(p.client_events.count(is_protocol_error), 1);
    assert_eq!(p.dialer.calls(), 3, "no dial without budget");
    assert_eq!(p.client.session_id(SERVER), None);
    p.close().await;
}

/// A fatal connection error stops reconnection: the dialer is called once, the session ends,
/// and (as in River) no protocol error is reported.
#[tokio::test(start_paused = true)]
async fn a_fatal_dial_error_stops_reconnection() {
    let cell = Cell::new(CodecKind::Json, Net::Memory);
    let mut p = cell.pair().await;
    p.dialer.switch(FailingDialer::fatal());

    p.client.connect(SERVER);
    p.client_events
        .until("the session to end", status(SessionStatus::Closed))
        .await;
    cell.pass(cell.session_options().session_disconnect_grace * 2)
        .await;
    p.client_events.drain();
    assert_eq!(p.dialer.calls(), 1, "no second attempt");
    assert_eq!(p.client_events.protocol_errors(), []);
    assert_eq!(p.client.session_id(SERVER), None);
    p.close().await;
}

/// A fatal connection error on a reconnect (after the session was connected) stops
/// reconnection too.
#[tokio::test(start_paused = true)]
async fn a_fatal_dial_error_on_reconnect_stops_reconnection() {
    let cell = Cell::new(CodecKind::Json, Net::Memory);
    let mut p = cell.pair().await;
    p.connect().await;
    p.dialer.switch(FailingDialer::fatal());
    p.client.drop_connections();
    p.client_events
        .until("the session to end", status(SessionStatus::Closed))
        .await;
    cell.pass(cell.session_options().session_disconnect_grace * 2)
        .await;
    assert_eq!(p.dialer.calls(), 2, "the first dial and the fatal one");
    assert_eq!(p.client.session_id(SERVER), None);
    p.close().await;
}

/// Three `connect()` calls in a row dial once and make one session.
async fn three_connects_dial_once(cell: Cell) {
    let mut p = cell.pair().await;
    for _ in 0..3 {
        p.client.connect(SERVER);
    }
    p.client_events
        .until("the client to connect", entered("Connected"))
        .await;
    cell.settle().await;
    p.client_events.drain();
    assert_eq!(p.dialer.calls(), 1);
    assert_eq!(p.client_events.count(status(SessionStatus::Created)), 1);
    assert_eq!(p.client_events.count(entered("Connected")), 1);
    assert_eq!(p.client_events.protocol_errors(), []);
    assert_eq!(p.server.connection_count(), 1);
    p.close().await;
}

#[tokio::test(start_paused = true)]
async fn three_connects_dial_once_in_memory() {
    three_connects_dial_once(Cell::new(CodecKind::Json, Net::Memory)).await;
}

#[tokio::test]
async fn three_connects_dial_once_over_websocket() {
    three_connects_dial_once(Cell::new(CodecKind::Msgpack, Net::Ws)).await;
}

// ----- a hand-played client ------------------------------------------------------------------

/// A server with `codec` chosen by `mode`, its events, and (for WebSocket cells) the address it
/// listens on; a raw peer connects to it with [`RawPeer::connect`].
async fn raw_server(cell: Cell, mode: CodecMode) -> (ServerTransport, Events, Option<SocketAddr>) {
    let server = ServerTransport::new(
        SERVER,
        ServerOptions {
            codec: mode,
            ..cell.server_options()
        },
    );
    let events = Events::new("server", cell, server.subscribe());
    let addr = match cell.net {
        Net::Memory => None,
        Net::Ws => Some(
            server
                .bind("127.0.0.1:0".parse().expect("an address"))
                .await
                .expect("bind a loopback port"),
        ),
    };
    (server, events, addr)
}

/// A handshake request from the raw client `raw` for `session`, with counters at 0.
fn raw_handshake(codec: CodecKind, version: &str, session: &str) -> Vec<u8> {
    let mut request = HandshakeRequest::new(
        ProtocolVersion::V2_0,
        session,
        ExpectedSessionState::default(),
    );
    request.protocol_version = version.into();
    raw_frame(
        codec,
        "raw",
        0,
        0,
        PartialMessage::handshake_request("raw-handshake", &request),
    )
}

/// The handshake response in `frame`.
fn response(codec: CodecKind, frame: &[u8]) -> HandshakeResponse {
    let msg = codec.decode(frame).expect("the response decodes");
    parse_handshake_response(&msg.payload).expect("a handshake response")
}

/// A raw client that handshakes for the session `raw-session` (counters at 0) and is accepted.
async fn raw_session(cell: Cell, server: &ServerTransport, addr: Option<SocketAddr>) -> RawPeer {
    let codec = cell.codec;
    let mut peer = RawPeer::connect(server, addr).await;
    peer.send(raw_handshake(codec, "v2.0", "raw-session")).await;
    let RawEvent::Frame(frame) = peer.next(cell.patience()).await else {
        panic!("the server answers the handshake")
    };
    assert_eq!(
        response(codec, &frame),
        HandshakeResponse::Ok {
            session_id: "raw-session".into()
        }
    );
    peer
}

/// Garbage as a first frame: the connection is closed without an answer, no session is made,
/// and the server reports exactly one `handshake_failed` (`MALFORMED_HANDSHAKE`).
async fn garbage_first_frame(cell: Cell, mode: CodecMode) {
    let (server, mut events, addr) = raw_server(cell, mode).await;
    let mut peer = RawPeer::connect(&server, addr).await;
    peer.send(b"bad handshake".to_vec()).await;
    let (frames, _code) = peer.until_closed(cell.patience()).await;
    assert!(frames.is_empty(), "garbage gets no answer: {frames:?}");

    events
        .until(
            "the server to report the failed handshake",
            handshake_failed(HandshakeErrorCode::MalformedHandshake),
        )
        .await;
    let counted = server.clone();
    eventually(cell, "the connection to be gone", || {
        let server = counted.clone();
        async move { server.connection_count() == 0 }
    })
    .await;
    cell.settle().await;
    events.drain();
    assert_eq!(events.count(is_protocol_error), 1);
    assert_eq!(
        events.count(|e| matches!(e, TransportEvent::SessionStatus { .. })),
        0,
        "no session"
    );
    server.close().await;
}

#[tokio::test(start_paused = true)]
async fn garbage_first_frame_json_memory() {
    let cell = Cell::new(CodecKind::Json, Net::Memory);
    garbage_first_frame(cell, CodecMode::Fixed(CodecKind::Json)).await;
}

#[tokio::test(start_paused = true)]
async fn garbage_first_frame_msgpack_memory() {
    let cell = Cell::new(CodecKind::Msgpack, Net::Memory);
    garbage_first_frame(cell, CodecMode::Fixed(CodecKind::Msgpack)).await;
}

#[tokio::test(start_paused = true)]
async fn garbage_first_frame_sniffing_server() {
    let cell = Cell::new(CodecKind::Json, Net::Memory);
    garbage_first_frame(cell, CodecMode::Auto).await;
}

#[tokio::test]
async fn garbage_first_frame_over_websocket() {
    let cell = Cell::new(CodecKind::Json, Net::Ws);
    garbage_first_frame(cell, CodecMode::Fixed(CodecKind::Json)).await;
}

/// A frame with a seq from the future: the server closes the connection (with a code that
/// says the session continues, not 1000) and keeps the session, which a new connection then
/// resumes.
async fn seq_from_the_future(cell: Cell) {
    let codec = cell.codec;
    let (server, mut events, addr) = raw_server(cell, CodecMode::Fixed(codec)).await;
    let mut peer = raw_session(cell, &server, addr).await;
    events
        .until("the session", status(SessionStatus::Created))
        .await;

    // Nothing was sent yet, so the server expects seq 0.
    peer.send(raw_frame(codec, "raw", 50, 0, text("from the future")))
        .await;
    let (_, code) = peer.until_closed(cell.patience()).await;
    let code = code.expect("the server closes with a code");
    assert!(
        !CloseCode(code).ends_session(),
        "the close code says the session continues, not {code}"
    );
    events
        .until("the server to drop the connection", left("Connected"))
        .await;
    assert_eq!(
        server.session_id("raw").as_deref(),
        Some("raw-session"),
        "the session is kept"
    );

    // A new connection resumes the same session.
    let _again = raw_session(cell, &server, addr).await;
    events
        .until("the session to resume", entered("Connected"))
        .await;
    events.drain();
    assert_eq!(events.count(status(SessionStatus::Created)), 1);
    assert_eq!(events.count(status(SessionStatus::Closed)), 0);
    assert_eq!(
        events.count(is_message),
        0,
        "the future frame is not delivered"
    );
    server.close().await;
}

/// A frame addressed to another id is counted and acknowledged, but dropped (as River's routers
/// drop it): the session goes on, and the next frame is delivered.
async fn frames_addressed_to_another_id_are_dropped(cell: Cell) {
    let codec = cell.codec;
    let (server, mut events, addr) = raw_server(cell, CodecMode::Fixed(codec)).await;
    let mut peer = RawPeer::connect(&server, addr).await;
    peer.send(raw_handshake(codec, "v2.0", "raw-session")).await;
    let RawEvent::Frame(_) = peer.next(cell.patience()).await else {
        panic!("the server answers the handshake")
    };
    let stray = text("for someone else").into_message(MessageHeader {
        id: "raw-0".into(),
        from: "raw".into(),
        to: "ANOTHER-SERVER".into(),
        seq: 0,
        ack: 0,
    });
    peer.send(codec.encode(&stray).expect("the stray frame encodes"))
        .await;
    peer.send(raw_frame(codec, "raw", 1, 0, text("for us")))
        .await;
    let (_, msg) = events.messages(1).await.remove(0);
    assert_eq!(msg, "for us");
    cell.settle().await;
    events.drain();
    assert_eq!(
        events.count(is_message),
        1,
        "the stray frame is not delivered"
    );
    assert_eq!(
        events.count(is_protocol_error),
        0,
        "and is no protocol error"
    );
    assert_eq!(
        events.count(left("Connected")),
        0,
        "the connection stays up"
    );
    server.close().await;
}

#[tokio::test(start_paused = true)]
async fn frames_addressed_to_another_id_are_dropped_json_memory() {
    frames_addressed_to_another_id_are_dropped(Cell::new(CodecKind::Json, Net::Memory)).await;
}

#[tokio::test(start_paused = true)]
async fn frames_addressed_to_another_id_are_dropped_msgpack_memory() {
    frames_addressed_to_another_id_are_dropped(Cell::new(CodecKind::Msgpack, Net::Memory)).await;
}

#[tokio::test(start_paused = true)]
async fn seq_from_the_future_json_memory() {
    seq_from_the_future(Cell::new(CodecKind::Json, Net::Memory)).await;
}

#[tokio::test(start_paused = true)]
async fn seq_from_the_future_msgpack_memory() {
    seq_from_the_future(Cell::new(CodecKind::Msgpack, Net::Memory)).await;
}

#[tokio::test]
async fn seq_from_the_future_json_websocket() {
    seq_from_the_future(Cell::new(CodecKind::Json, Net::Ws)).await;
}

#[tokio::test]
async fn seq_from_the_future_msgpack_websocket() {
    seq_from_the_future(Cell::new(CodecKind::Msgpack, Net::Ws)).await;
}

/// Waits for the server to report `handshake_failed` with `code`, then checks that it was its
/// only protocol error, that no session was made for the raw client, and that no connection is
/// left.
async fn refused_without_a_session(
    cell: Cell,
    events: &mut Events,
    server: &ServerTransport,
    code: HandshakeErrorCode,
) {
    events
        .until(
            "the server to report the failed handshake",
            handshake_failed(code),
        )
        .await;
    cell.settle().await;
    events.drain();
    assert_eq!(events.count(is_protocol_error), 1);
    assert_eq!(events.count(status(SessionStatus::Created)), 0);
    assert_eq!(server.connection_count(), 0);
    assert_eq!(server.session_id("raw"), None);
}

/// A second frame on a pending connection, while its handshake is still being validated (the
/// hook never answers): the connection is closed without a response, well before the handshake
/// timeout, the server reports one `handshake_failed` (`MALFORMED_HANDSHAKE`), no session is
/// made and the frame is not delivered. A later connection that waits for its answer is served.
async fn a_second_frame_before_the_handshake_is_answered(cell: Cell) {
    let codec = cell.codec;
    let validator = TestValidator::new(None, Verdict::Hang);
    let server = ServerTransport::new(
        SERVER,
        ServerOptions {
            validator: Some(validator.clone()),
            ..cell.server_options()
        },
    );
    let mut events = Events::new("server", cell, server.subscribe());
    let addr = match cell.net {
        Net::Memory => None,
        Net::Ws => Some(
            server
                .bind("127.0.0.1:0".parse().expect("an address"))
                .await
                .expect("bind a loopback port"),
        ),
    };
    let mut peer = RawPeer::connect(&server, addr).await;
    let start = Instant::now();
    peer.send(raw_handshake(codec, "v2.0", "raw-session")).await;
    eventually(cell, "the hook to be asked", || {
        let asked = validator.calls().len();
        async move { asked == 1 }
    })
    .await;
    peer.send(raw_frame(codec, "raw", 0, 0, text("too early")))
        .await;
    let (frames, _) = peer.until_closed(cell.patience()).await;
    let closed_after = start.elapsed();
    assert!(frames.is_empty(), "no answer to either frame: {frames:?}");
    let timeout = cell.session_options().handshake_timeout;
    assert!(
        closed_after < timeout,
        "closed by the second frame after {closed_after:?}, not by the {timeout:?} timeout"
    );
    refused_without_a_session(
        cell,
        &mut events,
        &server,
        HandshakeErrorCode::MalformedHandshake,
    )
    .await;
    assert_eq!(
        events.count(is_message),
        0,
        "the early frame is not delivered"
    );
    server.close().await;

    // Without a hook, a client that waits for the answer gets its session.
    let (server, mut events, addr) = raw_server(cell, CodecMode::Fixed(codec)).await;
    let mut peer = raw_session(cell, &server, addr).await;
    peer.send(raw_frame(codec, "raw", 0, 0, text("in time")))
        .await;
    events.until("the message", is_message).await;
    server.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_second_frame_before_the_handshake_is_answered_json_memory() {
    a_second_frame_before_the_handshake_is_answered(Cell::new(CodecKind::Json, Net::Memory)).await;
}

#[tokio::test(start_paused = true)]
async fn a_second_frame_before_the_handshake_is_answered_msgpack_memory() {
    a_second_frame_before_the_handshake_is_answered(Cell::new(CodecKind::Msgpack, Net::Memory))
        .await;
}

#[tokio::test]
async fn a_second_frame_before_the_handshake_is_answered_over_websocket() {
    a_second_frame_before_the_handshake_is_answered(Cell::new(CodecKind::Msgpack, Net::Ws)).await;
}

/// Protocol version `v0` from a raw client: the server answers `PROTOCOL_VERSION_MISMATCH`,
/// closes the connection, reports one `handshake_failed` with that code, and makes no session.
async fn protocol_v0_raw(cell: Cell) {
    let codec = cell.codec;
    let (server, mut events, addr) = raw_server(cell, CodecMode::Fixed(codec)).await;
    let mut peer = RawPeer::connect(&server, addr).await;
    peer.send(raw_handshake(codec, "v0", "raw-session")).await;
    let (frames, _) = peer.until_closed(cell.patience()).await;
    let [frame] = frames.as_slice() else {
        panic!("exactly one answer before the close: {frames:?}")
    };
    match response(codec, frame) {
        HandshakeResponse::Err { code, .. } => {
            assert_eq!(code, HandshakeErrorCode::ProtocolVersionMismatch);
        }
        ok @ HandshakeResponse::Ok { .. } => panic!("v0 was accepted: {ok:?}"),
    }
    refused_without_a_session(
        cell,
        &mut events,
        &server,
        HandshakeErrorCode::ProtocolVersionMismatch,
    )
    .await;
    server.close().await;
}

#[tokio::test(start_paused = true)]
async fn protocol_v0_raw_json_memory() {
    protocol_v0_raw(Cell::new(CodecKind::Json, Net::Memory)).await;
}

#[tokio::test(start_paused = true)]
async fn protocol_v0_raw_msgpack_memory() {
    protocol_v0_raw(Cell::new(CodecKind::Msgpack, Net::Memory)).await;
}

#[tokio::test]
async fn protocol_v0_raw_msgpack_websocket() {
    protocol_v0_raw(Cell::new(CodecKind::Msgpack, Net::Ws)).await;
}

/// Protocol version `v0` from a client transport (its handshake rewritten on the way out): the
/// client gets `handshake_failed` with `PROTOCOL_VERSION_MISMATCH`, its session ends, and it does
/// not try again (the code is fatal).
async fn protocol_v0_client(cell: Cell) {
    let mut p = cell.pair().await;
    p.dialer
        .rewrite_every_handshake(|req| req.protocol_version = "v0".into());
    p.client.connect(SERVER);
    p.client_events
        .until(
            "the client's handshake to fail",
            handshake_failed(HandshakeErrorCode::ProtocolVersionMismatch),
        )
        .await;
    p.client_events
        .until("the client's session to end", status(SessionStatus::Closed))
        .await;
    p.server_events
        .until(
            "the server to report it",
            handshake_failed(HandshakeErrorCode::ProtocolVersionMismatch),
        )
        .await;
    cell.settle().await;
    assert_eq!(p.dialer.calls(), 1);
    assert_eq!(p.client.connection_count(), 0);
    assert_eq!(p.server.connection_count(), 0);
    p.close().await;
}

#[tokio::test(start_paused = true)]
async fn protocol_v0_client_in_memory() {
    protocol_v0_client(Cell::new(CodecKind::Json, Net::Memory)).await;
}

#[tokio::test]
async fn protocol_v0_client_over_websocket() {
    protocol_v0_client(Cell::new(CodecKind::Msgpack, Net::Ws)).await;
}
