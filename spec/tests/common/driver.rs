//! Shared helpers for driving a `SessionDriver` by hand under tokio's paused clock.
//!
//! Include with `mod common { pub(crate) mod driver; }` from a test crate root. Nothing here
//! sleeps on the wall clock: every wait is a `timeout` around `step()` under paused time, which
//! auto-advances to the next timer of the driver.

#![allow(dead_code)]

use core::task::{Context, Poll, Waker};
use std::time::Duration;

use statebound::{Fate, Handle};
use statebound_river::session::{
    BufferedFrame, CloseCode, Connection, ConnectionEvent, MemoryConnection, Output, ProtocolError,
    RetryOptions, SessionContext, SessionDriver, SessionOptions, SessionStatus, memory_pair,
};
use statebound_river::wire::{
    Codec, CodecKind, ExpectedSessionState, HandshakeRequest, HandshakeResponse, MessageHeader,
    PartialMessage, ProtocolVersion, TransportMessage, Value, parse_handshake_request,
    parse_handshake_response,
};
use tokio::time::{Instant, timeout};

/// The client's id.
pub(crate) const CLIENT: &str = "client";
/// The server's id.
pub(crate) const SERVER: &str = "SERVER";
/// The session id the test clients ask for.
pub(crate) const SESSION: &str = "session-1";

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// River's defaults, spelled out so the tests' arithmetic is visible: heartbeat every 1 s,
/// dead after 2, grace 5 s, connection timeout 2 s, handshake timeout 1 s.
pub(crate) fn options() -> SessionOptions {
    SessionOptions {
        heartbeat_interval: ms(1000),
        heartbeats_until_dead: 2,
        session_disconnect_grace: ms(5000),
        connection_timeout: ms(2000),
        handshake_timeout: ms(1000),
        codec: CodecKind::Json,
        ..SessionOptions::default()
    }
}

/// No jitter; backoff 100 ms, 200 ms, 400 ms ... after the first (free) attempt.
pub(crate) fn retry() -> RetryOptions {
    RetryOptions {
        base_interval: ms(100),
        max_jitter: Duration::ZERO,
        max_backoff: ms(1000),
        attempt_budget_capacity: 5,
        budget_restore_interval: ms(200),
    }
}

pub(crate) fn client_ctx(options: SessionOptions) -> SessionContext {
    SessionContext::new(SESSION, CLIENT, SERVER, ProtocolVersion::V2_0, options)
}

pub(crate) fn server_ctx(options: SessionOptions) -> SessionContext {
    SessionContext::new("", SERVER, "", ProtocolVersion::V2_0, options)
}

pub(crate) fn new_client() -> SessionDriver {
    SessionDriver::client(client_ctx(options()), retry())
}

/// An application message on stream `s` with payload `n`.
pub(crate) fn app(stream: &str, n: i64) -> PartialMessage {
    PartialMessage {
        stream_id: stream.to_owned(),
        control_flags: 0,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload: Value::from(n),
    }
}

/// A payload the JSON codec (these sessions' codec) cannot write: JSON has no NaN.
pub(crate) fn unencodable() -> PartialMessage {
    let mut msg = app("bad", 0);
    msg.payload = Value::Float(f64::NAN);
    msg
}

/// Lets spawned tasks run (timer tasks send their event, aborted ones drop) without moving
/// the paused clock.
pub(crate) async fn settle() {
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

/// Live timer tasks once the aborted ones have dropped.
pub(crate) async fn live_timers(d: &SessionDriver) -> usize {
    settle().await;
    d.live_timers()
}

/// One step, or `false` if nothing happened within `within` (of paused time).
pub(crate) async fn step_within(d: &mut SessionDriver, within: Duration) -> bool {
    timeout(within, d.step()).await.is_ok()
}

/// Steps (each bounded by an hour of paused time) until `done` holds on the driver and the
/// outputs collected so far, at most `max_steps` times. Returns the outputs.
pub(crate) async fn run_until(
    d: &mut SessionDriver,
    max_steps: usize,
    mut done: impl FnMut(&SessionDriver, &[Output]) -> bool,
) -> Vec<Output> {
    let mut log = d.take_outputs();
    for _ in 0..max_steps {
        if done(d, &log) {
            return log;
        }
        assert!(
            step_within(d, Duration::from_secs(3600)).await,
            "no event within an hour: {d:?}, outputs so far {log:?}"
        );
        log.extend(d.take_outputs());
    }
    assert!(
        done(d, &log),
        "condition not reached in {max_steps} steps: {d:?}, outputs {log:?}"
    );
    log
}

/// Steps for `span` of paused time (or until the session ends), collecting the outputs.
/// Choose spans that do not end exactly on a timer deadline.
pub(crate) async fn run_for(d: &mut SessionDriver, span: Duration) -> Vec<Output> {
    let end = Instant::now() + span;
    let mut log = d.take_outputs();
    for _ in 0..10_000 {
        let now = Instant::now();
        if now >= end || d.ended().is_some() {
            break;
        }
        let _ = timeout(end - now, d.step()).await;
        log.extend(d.take_outputs());
    }
    log
}

/// Steps until the driver is in `state`.
pub(crate) async fn run_to_state(d: &mut SessionDriver, state: &str) -> Vec<Output> {
    run_until(d, 20, |d, _| d.state_name() == Some(state)).await
}

/// Steps until the session has ended.
pub(crate) async fn run_to_end(d: &mut SessionDriver) -> Vec<Output> {
    run_until(d, 100, |d, _| d.ended().is_some()).await
}

// ----- reading outputs --------------------------------------------------------------------

pub(crate) fn transitions(log: &[Output]) -> Vec<(&'static str, &'static str, &'static str)> {
    log.iter()
        .filter_map(|o| match o {
            Output::Transition {
                from,
                to,
                transition,
            } => Some((*from, *to, *transition)),
            _ => None,
        })
        .collect()
}

pub(crate) fn statuses(log: &[Output]) -> Vec<SessionStatus> {
    log.iter()
        .filter_map(|o| match o {
            Output::Status(s) => Some(*s),
            _ => None,
        })
        .collect()
}

pub(crate) fn dials(log: &[Output]) -> Vec<Handle> {
    log.iter()
        .filter_map(|o| match o {
            Output::Dial(h) => Some(h.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn messages(log: &[Output]) -> Vec<TransportMessage> {
    log.iter()
        .filter_map(|o| match o {
            Output::Message(m) => Some((**m).clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn protocol_errors(log: &[Output]) -> Vec<ProtocolError> {
    log.iter()
        .filter_map(|o| match o {
            Output::ProtocolError(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn ended(log: &[Output]) -> Vec<statebound_river::session::EndReason> {
    log.iter()
        .filter_map(|o| match o {
            Output::Ended(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn the_dial(log: &[Output]) -> Handle {
    let dials = dials(log);
    assert_eq!(dials.len(), 1, "expected exactly one dial in {log:?}");
    dials.into_iter().next().expect("one dial")
}

// ----- what a state carries ---------------------------------------------------------------

/// The inherited session properties that every edge must carry unchanged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Carried {
    pub(crate) id: String,
    pub(crate) to: String,
    pub(crate) seq: u64,
    pub(crate) ack: u64,
    pub(crate) buffer: Vec<BufferedFrame>,
}

pub(crate) fn carried(d: &SessionDriver) -> Carried {
    let ctx = d.context().expect("the session is alive");
    Carried {
        id: ctx.id.clone(),
        to: ctx.to.clone(),
        seq: ctx.seq,
        ack: ctx.ack,
        buffer: ctx.send_buffer.iter().cloned().collect(),
    }
}

pub(crate) fn grace_deadline(d: &SessionDriver) -> Option<Instant> {
    d.context().expect("the session is alive").grace_deadline
}

/// `old` is a handle on a state that was left: every use fails, naming that state, and a
/// callback guarded by it does not run.
pub(crate) fn assert_consumed(old: &Handle, state: &str, fate: Fate) {
    assert!(!old.is_live(), "{old:?} should be stale");
    let err = old.check().expect_err("a stale handle");
    assert_eq!(err.state, state);
    assert_eq!(err.machine, "session");
    assert_eq!(err.fate, fate);
    assert!(err.to_string().contains(state), "{err}");
    let mut ran = false;
    assert!(old.call(|| ran = true).is_err());
    assert!(!ran, "a callback of a stale handle ran");
}

pub(crate) fn moved(transition: &'static str, to: &'static str) -> Fate {
    Fate::Transitioned { transition, to }
}

// ----- a peer driven by hand ---------------------------------------------------------------

/// Whether a connection is still open, as its far end sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Link {
    /// Open.
    #[default]
    Open,
    /// Closed, with the code the closer sent (if it was the other end).
    Closed(Option<CloseCode>),
}

impl Link {
    pub(crate) fn is_closed(self) -> bool {
        self != Link::Open
    }
}

/// What the far end of an in-memory connection saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) frames: Vec<Vec<u8>>,
    pub(crate) link: Link,
}

/// The other end of a session's connection, played by the test: it reads what the session
/// wrote and writes frames of its own, sequenced like a River peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) conn: MemoryConnection,
    pub(crate) me: String,
    pub(crate) them: String,
    pub(crate) seq: u64,
    pub(crate) ack: u64,
    pub(crate) codec: CodecKind,
}

impl Peer {
    pub(crate) fn new(conn: MemoryConnection, me: &str, them: &str) -> Peer {
        Peer {
            conn,
            me: me.to_owned(),
            them: them.to_owned(),
            seq: 0,
            ack: 0,
            codec: CodecKind::Json,
        }
    }

    /// A fresh in-memory pair: the session's end and a peer on the other.
    pub(crate) fn pair(me: &str, them: &str) -> (MemoryConnection, Peer) {
        let (session_end, peer_end) = memory_pair();
        (session_end, Peer::new(peer_end, me, them))
    }

    /// Everything that arrived so far, without waiting.
    pub(crate) fn drain(&mut self) -> Seen {
        let mut seen = Seen::default();
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            match self.conn.poll_event(&mut cx) {
                Poll::Ready(ConnectionEvent::Frame(f)) => seen.frames.push(f.to_vec()),
                Poll::Ready(ConnectionEvent::Closed { code }) => {
                    seen.link = Link::Closed(code);
                    return seen;
                }
                Poll::Pending => return seen,
            }
        }
    }

    /// The frames that arrived so far, decoded; panics if the connection closed.
    pub(crate) fn recv(&mut self) -> Vec<TransportMessage> {
        let seen = self.drain();
        assert_eq!(seen.link, Link::Open, "the connection closed");
        self.decode_all(&seen.frames)
    }

    pub(crate) fn decode_all(&self, frames: &[Vec<u8>]) -> Vec<TransportMessage> {
        frames
            .iter()
            .map(|f| {
                self.codec
                    .decode(f)
                    .expect("the session writes valid frames")
            })
            .collect()
    }

    /// Records an inbound in-order message from the session (moves `ack`).
    pub(crate) fn accept(&mut self, msg: &TransportMessage) {
        assert_eq!(msg.seq, self.ack, "the session sent out of order: {msg:?}");
        self.ack = msg.seq + 1;
    }

    pub(crate) fn write(&mut self, msg: &TransportMessage) {
        let frame = self.codec.encode(msg).expect("encodable");
        self.conn
            .send(frame.into())
            .expect("the connection is open");
    }

    /// Sequences `msg` like a River peer and writes it.
    pub(crate) fn send(&mut self, msg: PartialMessage) -> TransportMessage {
        let msg = msg.into_message(MessageHeader {
            id: statebound_river::session::generate_id(),
            from: self.me.clone(),
            to: self.them.clone(),
            seq: self.seq,
            ack: self.ack,
        });
        self.seq += 1;
        self.write(&msg);
        msg
    }

    pub(crate) fn heartbeat(&mut self) -> TransportMessage {
        self.send(PartialMessage::heartbeat())
    }

    /// Server role: answers a handshake with `ok` for `session_id`.
    pub(crate) fn respond_ok(&mut self, session_id: &str) {
        let response = HandshakeResponse::Ok {
            session_id: session_id.to_owned(),
        };
        let msg = PartialMessage::handshake_response("hs-stream", &response)
            .into_message(MessageHeader::handshake("hs-resp", &self.me, &self.them));
        self.write(&msg);
    }

    /// Client role: sends a handshake request.
    pub(crate) fn request(&mut self, session_id: &str, expected: ExpectedSessionState) {
        let request = HandshakeRequest::new(ProtocolVersion::V2_0, session_id, expected);
        let msg = PartialMessage::handshake_request("hs-stream", &request)
            .into_message(MessageHeader::handshake("hs-req", &self.me, &self.them));
        self.write(&msg);
    }

    /// Server role: reads the session's handshake request.
    pub(crate) fn read_request(&mut self) -> HandshakeRequest {
        let msgs = self.recv();
        assert_eq!(msgs.len(), 1, "expected one handshake request: {msgs:?}");
        let msg = &msgs[0];
        assert_eq!((msg.seq, msg.ack, msg.control_flags), (0, 0, 0));
        assert_eq!((msg.from.as_str(), msg.to.as_str()), (CLIENT, SERVER));
        parse_handshake_request(&msg.payload).expect("a handshake request")
    }

    /// Client role: reads the server's handshake response.
    pub(crate) fn read_response(&mut self) -> HandshakeResponse {
        let msgs = self.recv();
        assert_eq!(msgs.len(), 1, "expected one handshake response: {msgs:?}");
        parse_handshake_response(&msgs[0].payload).expect("a handshake response")
    }

    pub(crate) fn close(&mut self) {
        self.conn.close(CloseCode::SESSION_CONTINUES);
    }
}

// ----- getting sessions into shape --------------------------------------------------------

/// Starts connecting and waits for the dial request.
pub(crate) async fn run_to_dial(d: &mut SessionDriver) -> (Handle, Vec<Output>) {
    d.connect();
    let log = run_until(d, 20, |_, log| !dials(log).is_empty()).await;
    let dial = the_dial(&log);
    (dial, log)
}

/// A client in `Handshaking`, its request read by the peer.
pub(crate) async fn handshaking_client(d: &mut SessionDriver) -> (Peer, HandshakeRequest) {
    let (dial, _) = run_to_dial(d).await;
    let (conn, mut peer) = Peer::pair(SERVER, CLIENT);
    d.dialed(&dial, Ok(Box::new(conn)));
    assert_eq!(d.state_name(), Some("Handshaking"));
    let request = peer.read_request();
    (peer, request)
}

/// A fresh client session, connected to a peer playing the server.
pub(crate) async fn connected_client() -> (SessionDriver, Peer) {
    let mut d = new_client();
    let (mut peer, _) = handshaking_client(&mut d).await;
    peer.respond_ok(SESSION);
    run_to_state(&mut d, "Connected").await;
    drop(d.take_outputs());
    (d, peer)
}

/// A connected client whose session has history: the server sent it one message (so its ack
/// is 1) and it sent two the server has not acknowledged (seq 2, two frames buffered).
pub(crate) async fn primed_client() -> (SessionDriver, Peer) {
    let (mut d, mut peer) = connected_client().await;
    peer.send(app("s", 1));
    run_until(&mut d, 5, |_, log| !messages(log).is_empty()).await;
    d.send(app("c", 1)).expect("sent");
    d.send(app("c", 2)).expect("sent");
    for msg in peer.recv() {
        peer.accept(&msg);
    }
    let c = carried(&d);
    assert_eq!((c.seq, c.ack, c.buffer.len()), (2, 1, 2));
    (d, peer)
}

/// A server's pending connection, with the peer playing the client on the other end.
pub(crate) fn pending_server() -> (SessionDriver, Peer) {
    let (conn, peer) = Peer::pair(CLIENT, SERVER);
    (
        SessionDriver::server(server_ctx(options()), Box::new(conn)),
        peer,
    )
}

/// Steps a pending server until the handshake request is reported.
pub(crate) async fn run_to_request(
    d: &mut SessionDriver,
) -> statebound_river::session::ParsedRequest {
    let log = run_until(d, 5, |_, log| {
        log.iter().any(|o| matches!(o, Output::HandshakeRequest(_)))
    })
    .await;
    log.into_iter()
        .find_map(|o| match o {
            Output::HandshakeRequest(p) => Some(*p),
            _ => None,
        })
        .expect("a request")
}

/// A new server session for the client `SESSION`, connected.
pub(crate) async fn connected_server() -> (SessionDriver, Peer) {
    let (mut d, mut peer) = pending_server();
    peer.request(SESSION, ExpectedSessionState::default());
    let parsed = run_to_request(&mut d).await;
    d.accept(&parsed);
    assert_eq!(d.state_name(), Some("Connected"));
    assert_eq!(
        peer.read_response(),
        HandshakeResponse::Ok {
            session_id: SESSION.to_owned()
        }
    );
    drop(d.take_outputs());
    (d, peer)
}
