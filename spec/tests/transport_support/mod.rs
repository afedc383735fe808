//! Shared helpers for the modules of the `transport` test binary.
//!
//! - [`Cell`]: one cell of the codec x transport matrix, with the session timings every test
//!   starts from, and `matrix!` to run a scenario in all four cells.
//! - [`Pair`]: a server and a client wired together, with their events already subscribed, and
//!   the waits and checks on both sides the scenarios share (a session replaced, the counts of
//!   sessions, no protocol error), and more clients of the same server.
//! - [`Events`]: a subscription whose every wait is bounded, and which remembers what it has
//!   seen so tests can count events exactly.
//! - Test dialers ([`TestDialer`], [`FailingDialer`]) and a handshake validator
//!   ([`TestValidator`]) that count, fail, hold, rewrite or hang on demand.
//! - [`RawPeer`]: a hand-played client that writes raw frames to a server.
//!
//! In-memory cells run on tokio's paused clock (the `matrix!` tests use `start_paused`), so
//! every `sleep` and `timeout` there is virtual. WebSocket cells run on the wall clock on
//! loopback, with short timings and every wait bounded.

// Each test crate uses a different part of this module.
#![allow(dead_code, unused_macros)]

use core::task::{Context, Poll};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use statebound_river::session::{
    BoxFuture, CloseCode, Connection, ConnectionClosed, ConnectionEvent, ConnectionId,
    HandshakeValidator, MemoryConnection, ProtocolError, Rejection, RetryOptions, SessionOptions,
    SessionStatus, memory_pair, next_event,
};
use statebound_river::transport::{
    ClientOptions, ClientTransport, CodecMode, DialError, Dialer, MemoryDialer, ServerOptions,
    ServerTransport, TransportEvent, WsDialer,
};
use statebound_river::wire::{
    Codec, CodecKind, HandshakeErrorCode, HandshakeRequest, MessageHeader, PartialMessage,
    TransportMessage, Value, parse_handshake_request,
};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The server's id.
pub(crate) const SERVER: &str = "SERVER";
/// The (first) client's id.
pub(crate) const CLIENT: &str = "client";

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ----- the matrix ----------------------------------------------------------------------------

/// Which connections a cell uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Net {
    /// In-memory pairs (`MemoryDialer`), on tokio's paused clock.
    Memory,
    /// Real WebSocket on `127.0.0.1:0` (`WsDialer`), on the wall clock.
    Ws,
}

/// One cell of the codec x transport matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cell {
    pub(crate) codec: CodecKind,
    pub(crate) net: Net,
}

/// Runs each named scenario `async fn name(cell: Cell)` in the four cells: JSON and msgpack,
/// in memory (paused clock) and over WebSocket on loopback (wall clock). Each scenario becomes
/// a module holding four tests, e.g. `clean_close::json_memory`. Attributes written before a
/// name (such as `#[ignore = "..."]`) go on its four tests. Include this module with
/// `#[macro_use]`.
macro_rules! matrix {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(start_paused = true)]
            $(#[$attr])*
            async fn json_memory() {
                super::$name(Cell::new(CodecKind::Json, Net::Memory)).await;
            }

            #[tokio::test(start_paused = true)]
            $(#[$attr])*
            async fn msgpack_memory() {
                super::$name(Cell::new(CodecKind::Msgpack, Net::Memory)).await;
            }

            #[tokio::test]
            $(#[$attr])*
            async fn json_ws() {
                super::$name(Cell::new(CodecKind::Json, Net::Ws)).await;
            }

            #[tokio::test]
            $(#[$attr])*
            async fn msgpack_ws() {
                super::$name(Cell::new(CodecKind::Msgpack, Net::Ws)).await;
            }
        }
    )*};
}

/// Runs each named scenario `async fn name(cell: Cell)` in memory on the paused clock only, in
/// JSON and msgpack: a module per scenario holding `json` and `msgpack`, for scenarios whose
/// timings only the paused clock can check.
macro_rules! paused {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(start_paused = true)]
            async fn json() {
                super::$name(Cell::new(CodecKind::Json, Net::Memory)).await;
            }

            #[tokio::test(start_paused = true)]
            async fn msgpack() {
                super::$name(Cell::new(CodecKind::Msgpack, Net::Memory)).await;
            }
        }
    )*};
}

impl Cell {
    pub(crate) fn new(codec: CodecKind, net: Net) -> Self {
        Cell { codec, net }
    }

    /// Short timings so wall-clock cells stay fast: heartbeat every 50 ms, dead after 300 ms of
    /// silence (six intervals: loopback under a loaded machine still keeps up), grace 800 ms.
    pub(crate) fn session_options(self) -> SessionOptions {
        SessionOptions {
            heartbeat_interval: ms(50),
            heartbeats_until_dead: 6,
            session_disconnect_grace: ms(800),
            connection_timeout: ms(1000),
            handshake_timeout: ms(500),
            codec: self.codec,
            ..SessionOptions::default()
        }
    }

    pub(crate) fn server_options(self) -> ServerOptions {
        ServerOptions {
            session: self.session_options(),
            codec: CodecMode::Fixed(self.codec),
            ..ServerOptions::default()
        }
    }

    pub(crate) fn client_options(self) -> ClientOptions {
        ClientOptions {
            session: self.session_options(),
            // No jitter; backoff 10, 20, 40, 80 ms after the first (free) attempt; five
            // attempts.
            retry: RetryOptions {
                base_interval: ms(10),
                max_jitter: Duration::ZERO,
                max_backoff: ms(80),
                attempt_budget_capacity: 5,
                budget_restore_interval: ms(50),
            },
            ..ClientOptions::default()
        }
    }

    /// The bound on every single wait: long in virtual time (it costs nothing and only runs out
    /// when something is stuck), a few seconds on the wall clock.
    pub(crate) fn patience(self) -> Duration {
        match self.net {
            Net::Memory => Duration::from_secs(60),
            Net::Ws => Duration::from_secs(5),
        }
    }

    /// Extra time allowed on top of a protocol deadline before a test calls it late: a timer
    /// tick in virtual time, scheduling noise on the wall clock.
    pub(crate) fn slack(self) -> Duration {
        match self.net {
            Net::Memory => ms(1),
            Net::Ws => ms(400),
        }
    }

    /// Lets time pass (virtual in memory, wall clock over WebSocket).
    pub(crate) async fn pass(self, d: Duration) {
        sleep(d).await;
    }

    /// Long enough for anything already under way to show: six heartbeat intervals.
    pub(crate) async fn settle(self) {
        sleep(self.session_options().heartbeat_interval * 6).await;
    }

    /// A server with `options`, listening on loopback for WebSocket cells, and a dialer that
    /// reaches it.
    pub(crate) async fn server(self, options: ServerOptions) -> (ServerTransport, Arc<dyn Dialer>) {
        let server = ServerTransport::new(SERVER, options);
        let dialer: Arc<dyn Dialer> = match self.net {
            Net::Memory => Arc::new(MemoryDialer::new(server.clone())),
            Net::Ws => {
                let addr = server
                    .bind("127.0.0.1:0".parse().expect("a socket address"))
                    .await
                    .expect("bind a loopback port");
                Arc::new(WsDialer::fixed(format!("ws://{addr}")))
            }
        };
        (server, dialer)
    }

    /// A server and a client with the cell's default options.
    pub(crate) async fn pair(self) -> Pair {
        self.pair_with(self.server_options(), self.client_options())
            .await
    }

    /// A server and a client that both use `session` in place of the cell's session options.
    pub(crate) async fn pair_with_session(self, session: SessionOptions) -> Pair {
        self.pair_with(
            ServerOptions {
                session: session.clone(),
                ..self.server_options()
            },
            ClientOptions {
                session,
                ..self.client_options()
            },
        )
        .await
    }

    /// A server with `server` options and a client (`CLIENT`) with `client` options, dialling
    /// through a [`TestDialer`]. Nothing is connected yet.
    pub(crate) async fn pair_with(self, server: ServerOptions, client: ClientOptions) -> Pair {
        let (server, server_dialer) = self.server(server).await;
        let server_events = Events::new("server", self, server.subscribe());
        let dialer = TestDialer::new(Arc::clone(&server_dialer));
        let client = ClientTransport::new(CLIENT, dialer.clone(), client);
        let client_events = Events::new("client", self, client.subscribe());
        Pair {
            cell: self,
            server,
            server_dialer,
            server_events,
            dialer,
            client,
            client_events,
        }
    }
}

// ----- a connected pair ----------------------------------------------------------------------

/// A server and a client, with their events subscribed before anything happened.
pub(crate) struct Pair {
    pub(crate) cell: Cell,
    pub(crate) server: ServerTransport,
    /// The plain dialer that reaches `server` (for more clients).
    pub(crate) server_dialer: Arc<dyn Dialer>,
    pub(crate) server_events: Events,
    /// The client's dialer.
    pub(crate) dialer: Arc<TestDialer>,
    pub(crate) client: ClientTransport,
    pub(crate) client_events: Events,
}

impl Pair {
    /// Connects the client and waits until both sides are `Connected`; returns the session id,
    /// checked equal on both sides.
    pub(crate) async fn connect(&mut self) -> String {
        self.client.connect(SERVER);
        both_connected(&mut self.client_events, &mut self.server_events).await;
        self.agreed_id()
    }

    /// Both sides' session ids, checked present and equal.
    pub(crate) fn agreed_id(&self) -> String {
        let client = self.client.session_id(SERVER);
        let server = self.server.session_id(CLIENT);
        assert!(client.is_some(), "the client has a session");
        assert_eq!(client, server, "both sides agree on the session id");
        client.unwrap_or_default()
    }

    /// Waits until both sides are `Connected` again after losing the connection.
    pub(crate) async fn reconnected(&mut self) {
        self.client_events
            .until("the client to reconnect", entered("Connected"))
            .await;
        self.server_events
            .until("the server to take the reconnection", entered("Connected"))
            .await;
    }

    /// Waits until the client's session `old` has closed and a new one has been created and
    /// has connected.
    pub(crate) async fn client_replaced(&mut self, old: &str) {
        self.client_events
            .until(
                "the old client session to close",
                status_of(SessionStatus::Closed, old),
            )
            .await;
        self.client_events
            .until("a new client session", status(SessionStatus::Created))
            .await;
        self.client_events
            .until("the new session to connect", entered("Connected"))
            .await;
    }

    /// Waits until the session `old` has closed on both sides and a new one has taken its place
    /// (created on both sides, connected on the client's); returns the new session's id,
    /// checked equal on both sides.
    pub(crate) async fn replaced(&mut self, old: &str) -> String {
        self.client_replaced(old).await;
        self.server_events
            .until(
                "the old server session to close",
                status_of(SessionStatus::Closed, old),
            )
            .await;
        self.server_events
            .until("a new server session", status(SessionStatus::Created))
            .await;
        self.agreed_id()
    }

    /// Another client of the server, `id`, with the cell's client options and a [`TestDialer`]
    /// of its own, and its events (labelled `name`). Not connected yet.
    pub(crate) fn another_client(&self, id: &str, name: &'static str) -> (ClientTransport, Events) {
        let client = ClientTransport::new(
            id,
            TestDialer::new(Arc::clone(&self.server_dialer)),
            self.cell.client_options(),
        );
        let events = Events::new(name, self.cell, client.subscribe());
        (client, events)
    }

    /// Takes in whatever both sides have reported by now.
    pub(crate) fn drain(&mut self) {
        self.client_events.drain();
        self.server_events.drain();
    }

    /// Lets the cell settle, then takes in what both sides reported.
    pub(crate) async fn settle(&mut self) {
        self.cell.settle().await;
        self.drain();
    }

    /// Checks that neither side has reported a protocol error so far.
    pub(crate) fn assert_no_protocol_errors(&self) {
        assert_eq!(self.client_events.protocol_errors(), [], "client");
        assert_eq!(self.server_events.protocol_errors(), [], "server");
    }

    /// Checks that each side has reported `created` sessions created and `closed` closed so
    /// far.
    pub(crate) fn assert_sessions(&self, created: usize, closed: usize) {
        for events in [&self.client_events, &self.server_events] {
            assert_eq!(
                (
                    events.count(status(SessionStatus::Created)),
                    events.count(status(SessionStatus::Closed))
                ),
                (created, closed),
                "{}: sessions (created, closed)",
                events.name
            );
        }
    }

    /// One message each way, tagged `tag`, each received next and exactly as sent.
    pub(crate) async fn exchange(&mut self, tag: &str) {
        let up = format!("{tag} up");
        let down = format!("{tag} down");
        self.client
            .send(SERVER, text(&up))
            .await
            .expect("the client sends");
        self.server_events.expect_messages(&[up.as_str()]).await;
        self.server
            .send(CLIENT, text(&down))
            .await
            .expect("the server sends");
        self.client_events.expect_messages(&[down.as_str()]).await;
    }

    /// Closes both transports and waits for each to report it.
    pub(crate) async fn close(&mut self) {
        self.client.close().await;
        self.client_events
            .until("the client transport to close", is_transport_closed)
            .await;
        self.server.close().await;
        self.server_events
            .until("the server transport to close", is_transport_closed)
            .await;
    }
}

/// Waits until a client's and a server's events both say `Connected`.
pub(crate) async fn both_connected(client: &mut Events, server: &mut Events) {
    client
        .until("the client to connect", entered("Connected"))
        .await;
    server
        .until("the server to connect", entered("Connected"))
        .await;
}

/// An application message with a string payload.
pub(crate) fn text(s: &str) -> PartialMessage {
    PartialMessage {
        stream_id: "stream-1".into(),
        control_flags: 0,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload: Value::String(s.into()),
    }
}

// ----- events --------------------------------------------------------------------------------

/// A transport's events, read with bounded waits. Everything read is kept in `seen`, and
/// messages passed over while waiting for something else are kept for the next
/// [`messages`](Self::messages) call, so waiting for a transition never loses a message.
pub(crate) struct Events {
    name: &'static str,
    cell: Cell,
    rx: mpsc::Receiver<TransportEvent>,
    pub(crate) seen: Vec<TransportEvent>,
    unread: VecDeque<(String, String)>,
}

impl Events {
    pub(crate) fn new(name: &'static str, cell: Cell, rx: mpsc::Receiver<TransportEvent>) -> Self {
        Events {
            name,
            cell,
            rx,
            seen: Vec::new(),
            unread: VecDeque::new(),
        }
    }

    /// The next event, within the cell's patience.
    pub(crate) async fn next(&mut self, what: &str) -> TransportEvent {
        let patience = self.cell.patience();
        let event = match timeout(patience, self.rx.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("{}: the event stream ended waiting for {what}", self.name),
            Err(elapsed) => panic!(
                "{}: {elapsed} ({patience:?}) waiting for {what}; seen so far: {:#?}",
                self.name, self.seen
            ),
        };
        self.seen.push(event.clone());
        event
    }

    /// Reads events until one matches `pred`, and returns it. Messages passed over are kept
    /// for [`messages`](Self::messages).
    pub(crate) async fn until(
        &mut self,
        what: &str,
        pred: impl Fn(&TransportEvent) -> bool,
    ) -> TransportEvent {
        loop {
            let event = self.next(what).await;
            if pred(&event) {
                return event;
            }
            self.keep_message(&event);
        }
    }

    fn keep_message(&mut self, event: &TransportEvent) {
        if let TransportEvent::Message {
            session_id, msg, ..
        } = event
        {
            self.unread
                .push_back((session_id.clone(), payload_text(msg)));
        }
    }

    /// Reads events until a `handshake_failed` with `code`, then until a session closes;
    /// returns the error's message.
    pub(crate) async fn handshake_failed_then_closed(
        &mut self,
        what: &str,
        code: HandshakeErrorCode,
    ) -> String {
        let event = self.until(what, handshake_failed(code)).await;
        self.until("the session to close", status(SessionStatus::Closed))
            .await;
        match event {
            TransportEvent::ProtocolError {
                error: ProtocolError::HandshakeFailed { message, .. },
                ..
            } => message,
            _ => unreachable!("matched a handshake_failed event"),
        }
    }

    /// Reads events until `n` messages have arrived; returns `(session id, payload text)`.
    pub(crate) async fn messages(&mut self, n: usize) -> Vec<(String, String)> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            if let Some(kept) = self.unread.pop_front() {
                got.push(kept);
                continue;
            }
            let what = format!("message {} of {n}", got.len() + 1);
            if let TransportEvent::Message {
                session_id, msg, ..
            } = self.until(&what, is_message).await
            {
                got.push((session_id, payload_text(&msg)));
            }
        }
        got
    }

    /// Reads the next `expected.len()` messages and checks they are exactly `expected`, in
    /// order.
    pub(crate) async fn expect_messages(&mut self, expected: &[&str]) {
        let got: Vec<String> = self
            .messages(expected.len())
            .await
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        assert_eq!(got, expected, "{}: messages received", self.name);
    }

    /// Takes whatever has arrived by now into `seen`, and returns it.
    pub(crate) fn drain(&mut self) -> Vec<TransportEvent> {
        let mut fresh = Vec::new();
        while let Ok(event) = self.rx.try_recv() {
            self.seen.push(event.clone());
            self.keep_message(&event);
            fresh.push(event);
        }
        fresh
    }

    /// Lets the cell settle, then checks that no message arrived meanwhile.
    pub(crate) async fn expect_no_more_messages(&mut self) {
        self.cell.settle().await;
        self.drain();
        let late: Vec<String> = self.unread.drain(..).map(|(_, text)| text).collect();
        assert!(
            late.is_empty(),
            "{}: unexpected messages {late:?}",
            self.name
        );
    }

    /// How many events seen so far match `pred`.
    pub(crate) fn count(&self, pred: impl Fn(&TransportEvent) -> bool) -> usize {
        self.seen.iter().filter(|e| pred(e)).count()
    }

    /// Every protocol error seen so far.
    pub(crate) fn protocol_errors(&self) -> Vec<ProtocolError> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                TransportEvent::ProtocolError { error, .. } => Some(error.clone()),
                _ => None,
            })
            .collect()
    }

    /// The session ids of every `status` event seen so far, in order.
    pub(crate) fn sessions_with(&self, status: SessionStatus) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                TransportEvent::SessionStatus {
                    session_id,
                    status: s,
                    ..
                } if *s == status => Some(session_id.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A message's payload as text (the tests only send strings).
pub(crate) fn payload_text(msg: &TransportMessage) -> String {
    match &msg.payload {
        Value::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

pub(crate) fn is_message(e: &TransportEvent) -> bool {
    matches!(e, TransportEvent::Message { .. })
}

pub(crate) fn is_transport_closed(e: &TransportEvent) -> bool {
    matches!(e, TransportEvent::TransportClosed)
}

pub(crate) fn is_retries_exceeded(e: &TransportEvent) -> bool {
    matches!(
        e,
        TransportEvent::ProtocolError {
            error: ProtocolError::RetriesExceeded,
            ..
        }
    )
}

pub(crate) fn is_protocol_error(e: &TransportEvent) -> bool {
    matches!(e, TransportEvent::ProtocolError { .. })
}

/// A session transition into `state`.
pub(crate) fn entered(state: &'static str) -> impl Fn(&TransportEvent) -> bool {
    move |e| matches!(e, TransportEvent::SessionTransition { to, .. } if *to == state)
}

/// A session transition out of `state`.
pub(crate) fn left(state: &'static str) -> impl Fn(&TransportEvent) -> bool {
    move |e| matches!(e, TransportEvent::SessionTransition { from, .. } if *from == state)
}

/// A `status` event, for any session.
pub(crate) fn status(status: SessionStatus) -> impl Fn(&TransportEvent) -> bool {
    move |e| matches!(e, TransportEvent::SessionStatus { status: s, .. } if *s == status)
}

/// A `status` event for the session `id`.
pub(crate) fn status_of(status: SessionStatus, id: &str) -> impl Fn(&TransportEvent) -> bool {
    let id = id.to_owned();
    move |e| {
        matches!(e, TransportEvent::SessionStatus { status: s, session_id, .. }
            if *s == status && *session_id == id)
    }
}

/// A `handshake_failed` protocol error with `code`.
pub(crate) fn handshake_failed(code: HandshakeErrorCode) -> impl Fn(&TransportEvent) -> bool {
    move |e| {
        matches!(e, TransportEvent::ProtocolError {
            error: ProtocolError::HandshakeFailed { code: c, .. }, ..
        } if *c == code)
    }
}

/// Polls `check` once per heartbeat interval until it holds; bounded by the cell's patience.
pub(crate) async fn eventually<F, Fut>(cell: Cell, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let interval = cell.session_options().heartbeat_interval;
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < cell.patience(),
            "gave up after {:?} waiting for {what}",
            cell.patience()
        );
        sleep(interval).await;
    }
}

// ----- dialers -------------------------------------------------------------------------------

/// Changes a handshake request on its way out.
pub(crate) type Rewrite = Arc<dyn Fn(&mut HandshakeRequest) + Send + Sync>;

/// A dialer for tests: counts its calls, forwards to a dialer that can be swapped at any time,
/// can fail the next few dials, hold dials until released, and rewrite the handshake request
/// of the connections it opens.
pub(crate) struct TestDialer {
    inner: Mutex<Arc<dyn Dialer>>,
    calls: watch::Sender<usize>,
    fail_next: AtomicUsize,
    open: watch::Sender<bool>,
    rewrite_once: Mutex<Option<Rewrite>>,
    rewrite_always: Mutex<Option<Rewrite>>,
}

impl TestDialer {
    pub(crate) fn new(inner: Arc<dyn Dialer>) -> Arc<Self> {
        Arc::new(TestDialer {
            inner: Mutex::new(inner),
            calls: watch::Sender::new(0),
            fail_next: AtomicUsize::new(0),
            open: watch::Sender::new(true),
            rewrite_once: Mutex::new(None),
            rewrite_always: Mutex::new(None),
        })
    }

    /// Dials made so far (each counted when it starts).
    pub(crate) fn calls(&self) -> usize {
        *self.calls.borrow()
    }

    /// Waits (bounded) until at least `n` dials have started.
    pub(crate) async fn wait_calls(&self, cell: Cell, n: usize) {
        let mut rx = self.calls.subscribe();
        timeout(cell.patience(), rx.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| panic!("dial number {n} never started"))
            .expect("the dialer lives");
    }

    /// From now on, dials go to `dialer`.
    pub(crate) fn switch(&self, dialer: Arc<dyn Dialer>) {
        *lock(&self.inner) = dialer;
    }

    /// The next `n` dials fail (retriably) before reaching the server.
    pub(crate) fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Dials from now on wait until [`release`](Self::release).
    pub(crate) fn hold(&self) {
        self.open.send_replace(false);
    }

    pub(crate) fn release(&self) {
        self.open.send_replace(true);
    }

    /// The handshake request on the next connection opened goes out changed by `f`.
    pub(crate) fn rewrite_next_handshake(
        &self,
        f: impl Fn(&mut HandshakeRequest) + Send + Sync + 'static,
    ) {
        *lock(&self.rewrite_once) = Some(Arc::new(f));
    }

    /// Every handshake request goes out changed by `f`.
    pub(crate) fn rewrite_every_handshake(
        &self,
        f: impl Fn(&mut HandshakeRequest) + Send + Sync + 'static,
    ) {
        *lock(&self.rewrite_always) = Some(Arc::new(f));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Dialer for TestDialer {
    fn dial<'a>(&'a self, to: &'a str) -> BoxFuture<'a, Result<Box<dyn Connection>, DialError>> {
        Box::pin(async move {
            self.calls.send_modify(|c| *c += 1);
            let mut open = self.open.subscribe();
            let _ = open.wait_for(|open| *open).await;
            let fail = self
                .fail_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if fail {
                return Err(DialError::retriable("test dialer: planned failure"));
            }
            let inner = Arc::clone(&*lock(&self.inner));
            let conn = inner.dial(to).await?;
            let rewrite = lock(&self.rewrite_once)
                .take()
                .or_else(|| lock(&self.rewrite_always).clone());
            Ok(match rewrite {
                Some(rewrite) => Box::new(TapConnection {
                    inner: conn,
                    rewrite: Some(rewrite),
                }),
                None => conn,
            })
        })
    }
}

/// A dialer whose every dial fails, retriably or fatally.
#[derive(Debug)]
pub(crate) struct FailingDialer {
    pub(crate) fatal: bool,
}

impl FailingDialer {
    pub(crate) fn retriable() -> Arc<dyn Dialer> {
        Arc::new(FailingDialer { fatal: false })
    }

    pub(crate) fn fatal() -> Arc<dyn Dialer> {
        Arc::new(FailingDialer { fatal: true })
    }
}

impl Dialer for FailingDialer {
    fn dial<'a>(&'a self, _to: &'a str) -> BoxFuture<'a, Result<Box<dyn Connection>, DialError>> {
        let fatal = self.fatal;
        Box::pin(async move {
            Err(if fatal {
                DialError::fatal("test dialer: fatal failure")
            } else {
                DialError::retriable("test dialer: failure")
            })
        })
    }
}

/// A connection that rewrites the first frame it writes (the handshake request).
struct TapConnection {
    inner: Box<dyn Connection>,
    rewrite: Option<Rewrite>,
}

impl std::fmt::Debug for TapConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapConnection")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Connection for TapConnection {
    fn id(&self) -> ConnectionId {
        self.inner.id()
    }

    fn send(&mut self, frame: Bytes) -> Result<(), ConnectionClosed> {
        let frame = match self.rewrite.take() {
            Some(rewrite) => Bytes::from(rewrite_handshake(&frame, &*rewrite)),
            None => frame,
        };
        self.inner.send(frame)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionClosed>> {
        self.inner.poll_flush(cx)
    }

    fn close(&mut self, code: CloseCode) {
        self.inner.close(code);
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionEvent> {
        self.inner.poll_event(cx)
    }

    fn set_phantom_disconnect(&self, on: bool) {
        self.inner.set_phantom_disconnect(on);
    }
}

/// Decodes a handshake request frame, applies `rewrite` to the request, and encodes it again
/// in the same codec.
fn rewrite_handshake(
    frame: &[u8],
    rewrite: &(dyn Fn(&mut HandshakeRequest) + Send + Sync),
) -> Vec<u8> {
    let codec = CodecKind::sniff(frame).expect("the handshake frame is JSON or msgpack");
    let mut msg = codec.decode(frame).expect("the handshake frame decodes");
    let mut request =
        parse_handshake_request(&msg.payload).expect("the first frame is a handshake request");
    rewrite(&mut request);
    msg.payload = request.to_payload();
    codec.encode(&msg).expect("the rewritten handshake encodes")
}

// ----- validator -----------------------------------------------------------------------------

/// What [`TestValidator::validate`] answers.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    Accept,
    Reject(Rejection),
    /// Never answers.
    Hang,
}

/// A handshake validator that records every `validate` call as `(metadata, previous)`. Its
/// schema, when `required_key` is set, wants a map with that key.
#[derive(Debug)]
pub(crate) struct TestValidator {
    pub(crate) required_key: Option<&'static str>,
    pub(crate) verdict: Verdict,
    calls: Mutex<Vec<(Option<Value>, Option<Value>)>>,
}

impl TestValidator {
    pub(crate) fn new(required_key: Option<&'static str>, verdict: Verdict) -> Arc<Self> {
        Arc::new(TestValidator {
            required_key,
            verdict,
            calls: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn calls(&self) -> Vec<(Option<Value>, Option<Value>)> {
        lock(&self.calls).clone()
    }
}

impl HandshakeValidator for TestValidator {
    fn check_schema(&self, metadata: Option<&Value>) -> Result<(), String> {
        match self.required_key {
            None => Ok(()),
            Some(key) if metadata.and_then(|m| m.get(key)).is_some() => Ok(()),
            Some(key) => Err(format!("expected a map with `{key}`")),
        }
    }

    fn validate<'a>(
        &'a self,
        _from: &'a str,
        metadata: Option<&'a Value>,
        previous: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        lock(&self.calls).push((metadata.cloned(), previous.cloned()));
        let verdict = self.verdict.clone();
        Box::pin(async move {
            match verdict {
                Verdict::Accept => Ok(()),
                Verdict::Reject(rejection) => Err(rejection),
                Verdict::Hang => std::future::pending().await,
            }
        })
    }
}

/// A one-entry metadata map.
pub(crate) fn meta(key: &str, value: impl Into<Value>) -> Value {
    Value::Map([(key, value.into())].into_iter().collect())
}

// ----- a hand-played client ------------------------------------------------------------------

/// What a [`RawPeer`] sees.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawEvent {
    Frame(Vec<u8>),
    /// Closed, with the close code if one came.
    Closed(Option<u16>),
}

/// A client played by hand: raw frames in and out of a server, over an in-memory pair handed
/// to `accept_connection` or over a real WebSocket.
pub(crate) enum RawPeer {
    Memory(MemoryConnection),
    Ws(
        Box<
            tokio_tungstenite::WebSocketStream<
                tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
            >,
        >,
    ),
}

impl RawPeer {
    /// A raw connection to `server`: in memory, or over WebSocket to `addr`.
    pub(crate) async fn connect(server: &ServerTransport, addr: Option<SocketAddr>) -> RawPeer {
        match addr {
            None => {
                let (ours, theirs) = memory_pair();
                server
                    .accept_connection(Box::new(theirs))
                    .expect("the server takes the connection");
                RawPeer::Memory(ours)
            }
            Some(addr) => {
                let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
                    .await
                    .expect("a WebSocket to the server");
                RawPeer::Ws(Box::new(ws))
            }
        }
    }

    pub(crate) async fn send(&mut self, frame: Vec<u8>) {
        match self {
            RawPeer::Memory(conn) => conn.send(frame.into()).expect("the connection is open"),
            RawPeer::Ws(ws) => ws
                .send(WsMessage::Binary(frame.into()))
                .await
                .expect("the socket is open"),
        }
    }

    /// The next thing that happens on the connection.
    pub(crate) async fn next(&mut self, patience: Duration) -> RawEvent {
        let event = async {
            match self {
                RawPeer::Memory(conn) => match next_event(conn).await {
                    ConnectionEvent::Frame(frame) => RawEvent::Frame(frame.to_vec()),
                    ConnectionEvent::Closed { code } => RawEvent::Closed(code.map(|c| c.0)),
                },
                RawPeer::Ws(ws) => loop {
                    match ws.next().await {
                        Some(Ok(WsMessage::Binary(bytes))) => {
                            break RawEvent::Frame(bytes.to_vec());
                        }
                        Some(Ok(WsMessage::Close(frame))) => {
                            break RawEvent::Closed(frame.map(|f| u16::from(f.code)));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break RawEvent::Closed(None),
                    }
                },
            }
        };
        timeout(patience, event)
            .await
            .expect("the raw connection does something in time")
    }

    /// Reads (bounded) until the connection closes; returns the frames read before, and the
    /// close code.
    pub(crate) async fn until_closed(&mut self, patience: Duration) -> (Vec<Vec<u8>>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            match self.next(patience).await {
                RawEvent::Frame(frame) => {
                    frames.push(frame);
                    assert!(frames.len() < 1000, "the connection never closes");
                }
                RawEvent::Closed(code) => return (frames, code),
            }
        }
    }
}

/// A message from `from` to `SERVER` with the given counters, encoded in `codec`.
pub(crate) fn raw_frame(
    codec: CodecKind,
    from: &str,
    seq: u64,
    ack: u64,
    msg: PartialMessage,
) -> Vec<u8> {
    let header = MessageHeader {
        id: format!("raw-{seq}"),
        from: from.into(),
        to: SERVER.into(),
        seq,
        ack,
    };
    codec
        .encode(&msg.into_message(header))
        .expect("the test frame encodes")
}
