//! Random event sequences against one [`SessionDriver`], on paused time.
//!
//! This target is written against the driver's public API as it is on `main`
//! (`client`/`server`, `step`, `take_outputs`, `connect`/`dialed`, `accept`/`reject`, `send`,
//! `drop_connection`, `close`); a rewrite of that API has to be followed here.

use std::time::Duration;

use futures_util::FutureExt as _;
use statebound_river::graph::session::GRAPH;
use statebound_river::session::{
    CloseCode, Connection, Decision, MemoryConnection, Output, RetryOptions, Role, SessionContext,
    SessionDriver, SessionOptions, SessionStatus, decide, memory_pair,
};
use statebound_river::wire::{
    Codec, CodecKind, ExpectedSessionState, HandshakeErrorCode, HandshakeRequest,
    HandshakeResponse, MessageHeader, PartialMessage, ProtocolVersion, Value,
};

use crate::input::Input;

const CLIENT: &str = "client";
const SERVER: &str = "SERVER";
const SESSION: &str = "session-fuzz";

/// Steps the driver may take at one instant before it must be waiting; more means it spins.
const MAX_STEPS_AT_ONE_INSTANT: usize = 10_000;

/// Drives one session, client or server by the first byte, through the events the rest of the
/// input spells: frames from the peer (well-formed messages, handshakes, raw bytes), the peer
/// closing or going silent, time passing, sends, dropped connections, and `close`.
///
/// Checks, after every event: transitions are edges of the declared graph; delivered messages
/// come from the peer in increasing seq; the send buffer is a run of consecutive seqs ending
/// just before `seq`; `ack` never goes back; statuses come in order, the session ends at most
/// once and delivers nothing after; the driver never spins. After `close`: no state, no timer.
///
/// # Panics
///
/// When a check fails: that is what the fuzzer looks for.
pub fn session_events(data: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(run(data));
}

async fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mut h = Harness::new(input.byte() & 1 == 0);
    h.settle().await;
    while !input.is_empty() {
        h.event(&mut input).await;
        h.settle().await;
        h.check();
    }
    h.driver.close();
    h.settle().await;
    h.check();
    assert!(h.driver.state_name().is_none(), "close leaves no state");
    assert!(h.ended, "close ends the session");
    assert_eq!(h.driver.live_timers(), 0, "close leaves no timer behind");
}

struct Harness {
    driver: SessionDriver,
    role: Role,
    /// The fuzzer's end of the current connection.
    peer: Option<MemoryConnection>,
    fail_next_dial: bool,
    last_delivered: Option<u64>,
    last_ack: u64,
    last_status: Option<SessionStatus>,
    ended: bool,
}

impl Harness {
    fn new(server: bool) -> Harness {
        let options = SessionOptions::default();
        let (driver, peer) = if server {
            let ctx = SessionContext::new("", SERVER, "", ProtocolVersion::V2_0, options);
            let (ours, theirs) = memory_pair();
            (SessionDriver::server(ctx, Box::new(ours)), Some(theirs))
        } else {
            let ctx = SessionContext::new(SESSION, CLIENT, SERVER, ProtocolVersion::V2_0, options);
            let mut driver = SessionDriver::client(ctx, RetryOptions::default());
            driver.connect();
            (driver, None)
        };
        Harness {
            driver,
            role: if server { Role::Server } else { Role::Client },
            peer,
            fail_next_dial: false,
            last_delivered: None,
            last_ack: 0,
            last_status: None,
            ended: false,
        }
    }

    fn peer_id(&self) -> &'static str {
        match self.role {
            Role::Server => CLIENT,
            Role::Client => SERVER,
        }
    }

    fn our_id(&self) -> &'static str {
        match self.role {
            Role::Server => SERVER,
            Role::Client => CLIENT,
        }
    }

    fn send_to_driver(&mut self, frame: Vec<u8>) {
        if let Some(peer) = self.peer.as_mut() {
            let _ = peer.send(bytes::Bytes::from(frame));
        }
    }

    async fn event(&mut self, input: &mut Input<'_>) {
        match input.byte() % 10 {
            0 => {
                let (seq, ack, flags) = (input.byte(), input.byte(), input.byte());
                let from = if flags & 0x80 == 0 {
                    self.peer_id()
                } else {
                    "stranger"
                };
                let mut msg = if flags & 1 == 0 {
                    PartialMessage::heartbeat()
                } else {
                    let mut m = PartialMessage::close_stream("s", ProtocolVersion::V2_0);
                    m.payload = Value::Int(i128::from(input.byte()));
                    m
                };
                if flags & 2 != 0 {
                    msg.control_flags = u32::from(flags & 0x0F);
                }
                let header = MessageHeader {
                    id: format!("m{seq}"),
                    from: from.into(),
                    to: self.our_id().into(),
                    seq: u64::from(seq % 16),
                    ack: u64::from(ack % 16),
                };
                let frame = CodecKind::Json
                    .encode(&msg.into_message(header))
                    .expect("a small message encodes");
                self.send_to_driver(frame);
            }
            1 => {
                let len = usize::from(input.byte());
                let raw = input.bytes(len).to_vec();
                self.send_to_driver(raw);
            }
            2 => {
                let frame = self.handshake_frame(input);
                self.send_to_driver(frame);
            }
            3 => {
                let code = if input.byte() & 1 == 0 {
                    CloseCode::SESSION_CONTINUES
                } else {
                    CloseCode::SESSION_ENDED
                };
                if let Some(mut peer) = self.peer.take() {
                    peer.close(code);
                }
            }
            4 => {
                let ms = u64::from(input.byte()) * 37;
                tokio::time::advance(Duration::from_millis(ms)).await;
            }
            5 => {
                let mut msg = PartialMessage::close_stream("app", ProtocolVersion::V2_0);
                msg.payload = Value::Int(i128::from(input.byte()));
                let _ = self.driver.send(msg);
            }
            6 => self.driver.drop_connection(),
            7 => self.driver.close(),
            8 => {
                self.fail_next_dial = input.byte() & 1 == 1;
                self.driver.connect();
            }
            _ => {
                if let Some(peer) = self.peer.as_ref() {
                    peer.set_phantom_disconnect(input.byte() & 1 == 1);
                }
            }
        }
    }

    /// A handshake request (to a server) or response (to a client), from the input.
    fn handshake_frame(&self, input: &mut Input<'_>) -> Vec<u8> {
        let choice = input.byte();
        let id = if choice & 1 == 0 { SESSION } else { "another" };
        let payload = if self.role == Role::Server {
            let version = if choice & 2 == 0 {
                ProtocolVersion::V2_0
            } else {
                ProtocolVersion::V1_1
            };
            let state = ExpectedSessionState {
                next_expected_seq: u64::from(input.byte() % 4),
                next_sent_seq: u64::from(input.byte() % 4),
            };
            PartialMessage::handshake_request("hs", &HandshakeRequest::new(version, id, state))
        } else {
            let response = match (choice >> 1) % 3 {
                0 => HandshakeResponse::Ok {
                    session_id: id.into(),
                },
                1 => HandshakeResponse::Err {
                    code: HandshakeErrorCode::SessionStateMismatch,
                    reason: "fuzz".into(),
                },
                _ => HandshakeResponse::Err {
                    code: HandshakeErrorCode::RejectedByCustomHandler,
                    reason: "fuzz".into(),
                },
            };
            PartialMessage::handshake_response("hs", &response)
        };
        let header = MessageHeader::handshake("h", self.peer_id(), self.our_id());
        CodecKind::Json
            .encode(&payload.into_message(header))
            .expect("a handshake encodes")
    }

    /// Lets timer tasks run, then steps the driver until it waits (or has ended), handling
    /// what it says.
    async fn settle(&mut self) {
        for _ in 0..MAX_STEPS_AT_ONE_INSTANT {
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            self.absorb();
            // An ended driver's `step` returns at once, doing nothing.
            if self.driver.state_name().is_none() {
                return;
            }
            let stepped = self.driver.step().now_or_never().is_some();
            // Connections queue what the driver writes until it flushes them.
            let _ = std::future::poll_fn(|cx| self.driver.poll_flush(cx)).now_or_never();
            if !stepped {
                self.absorb();
                return;
            }
        }
        panic!("the driver keeps stepping at one instant");
    }

    fn absorb(&mut self) {
        for output in self.driver.take_outputs() {
            self.output(output);
        }
    }

    fn output(&mut self, output: Output) {
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("{:?} {output:?}", tokio::time::Instant::now());
        }
        match output {
            Output::Transition {
                from,
                to,
                transition,
            } => {
                assert!(
                    GRAPH
                        .transitions
                        .iter()
                        .any(|t| (t.from, t.to, t.name) == (from, to, transition)),
                    "{from} --{transition}--> {to} is not in the graph"
                );
            }
            Output::Status(status) => {
                let before = match status {
                    SessionStatus::Created => None,
                    SessionStatus::Closing => Some(SessionStatus::Created),
                    SessionStatus::Closed => Some(SessionStatus::Closing),
                };
                assert_eq!(self.last_status, before, "{status:?} out of order");
                self.last_status = Some(status);
            }
            Output::Message(msg) => {
                assert!(!self.ended, "a message after the end");
                assert_eq!(msg.from, self.peer_id(), "a message from a stranger");
                assert!(
                    self.last_delivered.is_none_or(|last| msg.seq > last),
                    "delivered out of order: {} after {:?}",
                    msg.seq,
                    self.last_delivered
                );
                self.last_delivered = Some(msg.seq);
            }
            // Peers that never rehandshake: a request is ignored, as by a client that builds no
            // metadata.
            Output::ProtocolError(_)
            | Output::RehandshakeRequested
            | Output::RehandshakeResponse(_) => {}
            Output::Dial(handle) => {
                if self.fail_next_dial {
                    self.driver.dialed(&handle, Err("fuzz: dial failed".into()));
                } else {
                    let (ours, theirs) = memory_pair();
                    self.peer = Some(theirs);
                    self.driver.dialed(&handle, Ok(Box::new(ours)));
                }
            }
            Output::BuildMetadata(handle) => self.driver.metadata_built(&handle, Ok(None)),
            Output::HandshakeRequest(parsed) => match decide(&parsed.request, None, true) {
                Decision::Reject { rejection, .. } => self.driver.reject(&rejection),
                Decision::New { .. } | Decision::Resume => self.driver.accept(&parsed),
            },
            Output::Ended(_) => {
                assert!(!self.ended, "the session ended twice");
                self.ended = true;
            }
        }
    }

    fn check(&mut self) {
        let Some(ctx) = self.driver.context() else {
            assert!(self.driver.state_name().is_none());
            return;
        };
        assert!(!self.ended, "a context after the end");
        let seqs: Vec<u64> = ctx.send_buffer.iter().map(|f| f.seq).collect();
        for pair in seqs.windows(2) {
            assert_eq!(pair[0] + 1, pair[1], "a hole in the send buffer: {seqs:?}");
        }
        if let Some(last) = seqs.last() {
            assert_eq!(last + 1, ctx.seq, "the buffer does not end at seq");
        }
        assert!(ctx.ack >= self.last_ack, "ack went back");
        self.last_ack = ctx.ack;
    }
}
