//! One session, driven: the state machine from [`crate::graph`], the timers its states own, and
//! the rules of PROTOCOL.md applied to what arrives.
//!
//! A [`SessionDriver`] does no I/O of its own. Connections come in as [`Connection`] objects
//! (which the transport makes), dials are requested with [`Output::Dial`] and answered with
//! [`SessionDriver::dialed`], and everything the session has to say comes out as [`Output`]s.
//! Its owner calls [`SessionDriver::step`] in a loop: each call waits for one event (a timer of
//! the current state, or something on the current state's connection) and handles it.
//!
//! Timers are tasks spawned through the current state's handle. When the state is left they
//! stop; a timer event that was already queued carries the stale handle and is discarded by the
//! handle check. Inbound frames are read from the current state's own connection only, so a
//! frame can never be attributed to a state that has been left, and none is lost when a
//! connection passes from `Handshaking` to `Connected`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use statebound::{Handle, Step};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::connection::{CloseCode, Connection, ConnectionEvent, next_event};
use super::context::{Receipt, SequenceError, SessionContext, generate_id};
use super::handshake::{
    ClientOutcome, ParsedRequest, Rejection, RequestError, evaluate_response, parse_request,
};
use super::options::{RetryBudget, RetryOptions};
use crate::graph::session::{
    AnySession, BackingOff, Connected, Connecting, Handshaking, NoConnection, Session,
    WaitingForHandshake,
};
use crate::wire::{
    Codec, ExpectedSessionState, HandshakeErrorCode, HandshakeRequest, HandshakeResponse,
    PartialMessage, ProtocolVersion, TransportMessage, Value,
};

/// Which side of a session this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Dials, handshakes, answers heartbeats.
    Client,
    /// Accepts, decides handshakes, sends heartbeats.
    Server,
}

/// The kinds of timer a state owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// The session's grace deadline (every state without a working connection).
    Grace,
    /// End of the backoff (`BackingOff`).
    Backoff,
    /// The dial took too long (`Connecting`).
    ConnectionTimeout,
    /// The handshake took too long (`Handshaking`, `WaitingForHandshake`).
    HandshakeTimeout,
    /// Time to send a heartbeat (server, `Connected`).
    Heartbeat,
    /// Time to check liveness (`Connected`).
    Watchdog,
}

/// Lifecycle of a session, as River's `session_status` event reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// The session exists.
    Created,
    /// The session is ending.
    Closing,
    /// The session has ended.
    Closed,
}

/// Problems River reports as `protocol_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A handshake failed with `code`.
    HandshakeFailed {
        /// The code.
        code: HandshakeErrorCode,
        /// Detail.
        message: String,
    },
    /// The client used up its retry budget.
    RetriesExceeded,
    /// The peer sent something that breaks the protocol; the session ended.
    InvalidMessage(String),
    /// A frame could not be written.
    MessageSendFailure(String),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// Its grace deadline passed without a connection.
    GraceExpired,
    /// Its owner closed it.
    Closed,
    /// The peer broke the protocol.
    InvalidMessage(String),
    /// The server refused the handshake with a retriable code: start a new session.
    Retry(Rejection),
    /// The server refused the handshake with a fatal code: stop.
    Fatal(Rejection),
    /// The client connected with another session id, which replaces this one.
    Replaced,
    /// A client without transparent reconnects lost its connection: the session ends, and a
    /// reconnect starts a new one.
    ConnectionLost,
    /// A pending server connection failed its handshake; there never was a session.
    HandshakeFailed,
}

/// What the driver has to tell its owner.
#[derive(Debug)]
pub enum Output {
    /// The machine moved.
    Transition {
        /// State left.
        from: &'static str,
        /// State entered.
        to: &'static str,
        /// Transition taken.
        transition: &'static str,
    },
    /// The session's lifecycle changed.
    Status(SessionStatus),
    /// An application message arrived in order.
    Message(Box<TransportMessage>),
    /// A protocol error to report.
    ProtocolError(ProtocolError),
    /// Client: dial the server now and answer with [`SessionDriver::dialed`] and this handle.
    Dial(Handle),
    /// Server: a valid handshake request arrived on this pending connection. Decide (see
    /// [`decide`](super::decide)) and answer with [`SessionDriver::accept`],
    /// [`SessionDriver::adopt`] or [`SessionDriver::reject`].
    HandshakeRequest(Box<ParsedRequest>),
    /// The session ended; the driver is done.
    Ended(EndReason),
}

/// Why a message could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session has ended.
    #[error("the session has ended")]
    SessionEnded,
    /// The message could not be encoded; it took no sequence number.
    #[error("the message could not be encoded: {0}")]
    Encode(String),
    /// The message encodes to more than the session's `max_message_size`; it took no
    /// sequence number.
    #[error("the message encodes to {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The message is not valid for the session's protocol version.
    #[error("{0}")]
    Invalid(String),
}

/// A message accepted for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Its id.
    pub id: String,
    /// The session it was sent on.
    pub session_id: String,
    /// Its sequence number.
    pub seq: u64,
    /// Whether the send buffer is at or above its high-water mark.
    pub backpressured: bool,
}

struct TimerFired {
    handle: Handle,
    kind: TimerKind,
}

/// Counts the timer tasks alive; each task holds a guard that decrements on drop.
#[derive(Debug, Default)]
struct TaskCount(AtomicUsize);

struct TaskGuard(Arc<TaskCount>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One River session and everything it owns. See the module docs.
pub struct SessionDriver {
    role: Role,
    state: Option<AnySession>,
    outputs: Vec<Output>,
    steps: Arc<Mutex<Vec<Step>>>,
    timers_tx: mpsc::UnboundedSender<TimerFired>,
    timers_rx: mpsc::UnboundedReceiver<TimerFired>,
    tasks: Arc<TaskCount>,
    stale_events: usize,
    budget: Option<RetryBudget>,
    reconnect: bool,
    retries_reported: bool,
    sniff_codec: bool,
    accepted_versions: Vec<ProtocolVersion>,
    ended: Option<EndReason>,
    /// The peer's id and the session id as last known, still there once the session ended.
    identity: (String, String),
}

impl std::fmt::Debug for SessionDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionDriver")
            .field("role", &self.role)
            .field("state", &self.state_name())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

fn push_step(steps: &Mutex<Vec<Step>>, step: &Step) {
    steps
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(*step);
}

impl SessionDriver {
    fn new(role: Role, state: impl FnOnce(Arc<dyn statebound::Observer>) -> AnySession) -> Self {
        let steps: Arc<Mutex<Vec<Step>>> = Arc::default();
        let sink = Arc::clone(&steps);
        let observer: Arc<dyn statebound::Observer> =
            Arc::new(move |step: &Step| push_step(&sink, step));
        let (timers_tx, timers_rx) = mpsc::unbounded_channel();
        SessionDriver {
            role,
            state: Some(state(observer)),
            outputs: Vec::new(),
            steps,
            timers_tx,
            timers_rx,
            tasks: Arc::default(),
            stale_events: 0,
            budget: None,
            reconnect: true,
            retries_reported: false,
            sniff_codec: false,
            accepted_versions: ProtocolVersion::ALL.to_vec(),
            ended: None,
            identity: (String::new(), String::new()),
        }
    }

    /// A client session with no connection yet. Its grace deadline starts now; call
    /// [`connect`](Self::connect) to start connecting. `ctx.metadata` is sent with every
    /// handshake.
    pub fn client(mut ctx: SessionContext, retry: RetryOptions) -> Self {
        ctx.grace_deadline = Some(Instant::now() + ctx.options.session_disconnect_grace);
        let mut driver = SessionDriver::new(Role::Client, |observer| {
            Session::client_observed(ctx, NoConnection, observer).into_any()
        });
        driver.budget = Some(RetryBudget::new(retry));
        driver.outputs.push(Output::Status(SessionStatus::Created));
        driver.arm();
        driver
    }

    /// A server's pending connection, waiting for its handshake. `ctx` holds the server's id,
    /// options and codec; the session's id, peer and version come from the handshake.
    pub fn server(ctx: SessionContext, conn: Box<dyn Connection>) -> Self {
        let mut driver = SessionDriver::new(Role::Server, |observer| {
            Session::server_observed(
                ctx,
                WaitingForHandshake {
                    conn,
                    request_received: false,
                },
                observer,
            )
            .into_any()
        });
        driver.arm();
        driver
    }

    /// Whether a lost connection is followed by a new attempt (client; default true).
    pub fn set_reconnect(&mut self, on: bool) {
        self.reconnect = on;
    }

    /// Server: take the codec from the first frame of the connection (see
    /// [`CodecKind::sniff`](crate::wire::CodecKind::sniff)) instead of the configured one, so one
    /// server serves JSON and msgpack clients.
    pub fn set_sniff_codec(&mut self, on: bool) {
        self.sniff_codec = on;
    }

    /// Server: the protocol versions a handshake may ask for (both, by default).
    pub fn set_accepted_versions(&mut self, versions: &[ProtocolVersion]) {
        self.accepted_versions = versions.to_vec();
    }

    /// The current state's connection, if it has one.
    pub fn connection(&self) -> Option<&dyn Connection> {
        match self.state.as_ref()? {
            AnySession::Handshaking(m) => Some(m.conn.as_ref()),
            AnySession::Connected(m) => Some(m.conn.as_ref()),
            AnySession::WaitingForHandshake(m) => Some(m.conn.as_ref()),
            _ => None,
        }
    }

    /// Test aid: drops the current connection as if the network had cut it. The session lives
    /// on and (as a client) reconnects.
    pub fn drop_connection(&mut self) {
        match self.state {
            Some(AnySession::WaitingForHandshake(_)) => self.end(EndReason::HandshakeFailed),
            _ => self.lose_connection(),
        }
    }

    /// Sets the metadata sent with the next handshakes (client).
    pub fn set_metadata(&mut self, metadata: Option<Value>) {
        if let Some(state) = self.state.as_mut() {
            state.context_mut().metadata = metadata;
        }
    }

    /// Ends the session because the client connected with another session id.
    pub fn replace(&mut self) {
        self.end(EndReason::Replaced);
    }

    /// Which side this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current state's name, or `None` once the session has ended.
    pub fn state_name(&self) -> Option<&'static str> {
        self.state.as_ref().map(AnySession::name)
    }

    /// The session's context, until it ends.
    pub fn context(&self) -> Option<&SessionContext> {
        self.state.as_ref().map(AnySession::context)
    }

    /// A handle on the current state.
    pub fn handle(&self) -> Option<Handle> {
        self.state.as_ref().map(AnySession::handle)
    }

    /// Why the session ended, once it has.
    pub fn ended(&self) -> Option<&EndReason> {
        self.ended.as_ref()
    }

    /// Timer tasks currently alive.
    pub fn live_timers(&self) -> usize {
        self.tasks.0.load(Ordering::SeqCst)
    }

    /// Timer events and dial results discarded because their state had been left.
    pub fn stale_events(&self) -> usize {
        self.stale_events
    }

    /// The peer's id and the session's id (empty until a server connection's handshake). They
    /// stay readable after the session ended.
    pub fn identity(&self) -> (&str, &str) {
        match self.context() {
            Some(ctx) => (&ctx.to, &ctx.id),
            None => (&self.identity.0, &self.identity.1),
        }
    }

    /// What the driver has to say since the last call, in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        self.collect_steps();
        std::mem::take(&mut self.outputs)
    }

    /// Records an output after the transitions that happened before it, so outputs come out
    /// in the order things happened.
    fn push(&mut self, output: Output) {
        self.collect_steps();
        self.outputs.push(output);
    }

    fn collect_steps(&mut self) {
        let steps: Vec<Step> =
            std::mem::take(&mut *self.steps.lock().unwrap_or_else(PoisonError::into_inner));
        for step in steps {
            if let Step::Transitioned {
                from,
                to,
                transition,
                ..
            } = step
            {
                self.outputs.push(Output::Transition {
                    from,
                    to,
                    transition,
                });
            }
        }
    }

    // ----- timers -------------------------------------------------------------------------

    fn spawn_timer(
        &self,
        handle: &Handle,
        kind: TimerKind,
        first: Instant,
        every: Option<Duration>,
    ) {
        let tx = self.timers_tx.clone();
        let tasks = Arc::clone(&self.tasks);
        tasks.0.fetch_add(1, Ordering::SeqCst);
        let guard = TaskGuard(tasks);
        let owner = handle.clone();
        let task = async move {
            let _guard = guard;
            tokio::time::sleep_until(first).await;
            loop {
                let _ = tx.send(TimerFired {
                    handle: owner.clone(),
                    kind,
                });
                match every {
                    Some(every) => tokio::time::sleep(every).await,
                    None => break,
                }
            }
        };
        drop(handle.spawn(task));
    }

    /// Arms the timers of the state just entered.
    fn arm(&mut self) {
        let Some(state) = &self.state else { return };
        let handle = state.handle();
        let ctx = state.context();
        let opts = &ctx.options;
        let now = Instant::now();
        let grace = ctx.grace_deadline;
        let mut timers: Vec<(TimerKind, Instant, Option<Duration>)> = Vec::new();
        match state {
            AnySession::NoConnection(_) => {}
            AnySession::BackingOff(s) => timers.push((TimerKind::Backoff, s.until, None)),
            AnySession::Connecting(s) => {
                timers.push((TimerKind::ConnectionTimeout, s.deadline, None));
            }
            AnySession::Handshaking(_) | AnySession::WaitingForHandshake(_) => {
                timers.push((
                    TimerKind::HandshakeTimeout,
                    now + opts.handshake_timeout,
                    None,
                ));
            }
            AnySession::Connected(m) => {
                let every = opts.heartbeat_interval;
                timers.push((
                    TimerKind::Watchdog,
                    m.last_inbound + opts.liveness_timeout_for(ctx.version),
                    None,
                ));
                if self.role == Role::Server {
                    timers.push((TimerKind::Heartbeat, now + every, Some(every)));
                }
            }
        }
        let without_connection = !matches!(
            state,
            AnySession::Connected(_) | AnySession::WaitingForHandshake(_)
        );
        if without_connection && let Some(deadline) = grace {
            timers.push((TimerKind::Grace, deadline, None));
        }
        for (kind, at, every) in timers {
            self.spawn_timer(&handle, kind, at, every);
        }
    }

    // ----- the event loop -----------------------------------------------------------------

    /// Waits for one event (a timer of the current state, or the current connection) and
    /// handles it. Returns at once, doing nothing, once the session has ended. Cancel-safe.
    pub async fn step(&mut self) {
        let SessionDriver {
            state, timers_rx, ..
        } = self;
        let Some(state) = state.as_mut() else { return };
        let conn: Option<&mut Box<dyn Connection>> = match state {
            AnySession::Handshaking(m) => Some(&mut m.conn),
            AnySession::Connected(m) => Some(&mut m.conn),
            AnySession::WaitingForHandshake(m) if !m.request_received => Some(&mut m.conn),
            _ => None,
        };
        let event = async move {
            match conn {
                Some(conn) => next_event(conn.as_mut()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Some(timer) = timers_rx.recv() => self.on_timer(&timer),
            event = event => self.on_connection_event(event),
        }
    }

    fn on_timer(&mut self, timer: &TimerFired) {
        if timer.handle.check().is_err() {
            self.stale_events += 1;
            return;
        }
        match timer.kind {
            TimerKind::Grace => self.end(EndReason::GraceExpired),
            TimerKind::Backoff => self.start_dial(),
            TimerKind::ConnectionTimeout => self.connection_failed(),
            TimerKind::HandshakeTimeout => self.handshake_timed_out(),
            TimerKind::Heartbeat => {
                let _ = self.send(PartialMessage::heartbeat());
            }
            TimerKind::Watchdog => self.check_liveness(),
        }
    }

    fn on_connection_event(&mut self, event: ConnectionEvent) {
        match event {
            ConnectionEvent::Frame(frame) => self.on_frame(&frame),
            ConnectionEvent::Closed { .. } => self.connection_lost(),
        }
    }

    // ----- client: connecting -------------------------------------------------------------

    /// Starts connecting: backs off as the retry budget says, then asks for a dial. Does
    /// nothing unless the session is a client in `NoConnection` (so calling it while a
    /// connection is on its way is harmless). With no budget left, reports
    /// [`ProtocolError::RetriesExceeded`] (once) and waits for the grace deadline.
    pub fn connect(&mut self) {
        if self.role != Role::Client || !matches!(self.state, Some(AnySession::NoConnection(_))) {
            return;
        }
        let now = Instant::now();
        let Some(budget) = self.budget.as_mut() else {
            return;
        };
        if !budget.has_budget(now) {
            if !self.retries_reported {
                self.retries_reported = true;
                self.push(Output::ProtocolError(ProtocolError::RetriesExceeded));
            }
            return;
        }
        let wait = budget.backoff(now, budget.draw_jitter());
        budget.consume(now);
        let Some(AnySession::NoConnection(m)) = self.state.take() else {
            unreachable!("checked above")
        };
        self.state = Some(m.back_off(|_| BackingOff { until: now + wait }).into_any());
        self.arm();
    }

    fn start_dial(&mut self) {
        let Some(AnySession::BackingOff(m)) = self.state.take() else {
            unreachable!("only BackingOff owns a backoff timer")
        };
        let deadline = Instant::now() + m.context().options.connection_timeout;
        let m = m.connect(|_| Connecting { deadline });
        self.push(Output::Dial(m.handle()));
        self.state = Some(m.into_any());
        self.arm();
    }

    /// The answer to [`Output::Dial`]. A dial for a state that has been left (timed out, or the
    /// session ended) is discarded and its connection closed.
    pub fn dialed(&mut self, handle: &Handle, result: Result<Box<dyn Connection>, String>) {
        let current = self.handle().is_some_and(|h| h.same_state(handle));
        if !current || !matches!(self.state, Some(AnySession::Connecting(_))) {
            self.stale_events += 1;
            if let Ok(mut conn) = result {
                conn.close(CloseCode::SESSION_CONTINUES);
            }
            return;
        }
        match result {
            Ok(conn) => {
                let Some(AnySession::Connecting(m)) = self.state.take() else {
                    unreachable!("a live dial handle belongs to the current Connecting state")
                };
                let m = m.connection_established(|_| Handshaking { conn });
                self.state = Some(m.into_any());
                self.arm();
                self.send_handshake_request();
            }
            Err(_) => self.connection_failed(),
        }
    }

    fn send_handshake_request(&mut self) {
        let Some(AnySession::Handshaking(m)) = self.state.as_mut() else {
            return;
        };
        let ctx = m.context();
        let mut request = HandshakeRequest::new(
            ctx.version,
            ctx.id.clone(),
            ExpectedSessionState {
                next_expected_seq: ctx.ack,
                next_sent_seq: ctx.next_sent_seq(),
            },
        );
        if let Some(metadata) = &ctx.metadata {
            request = request.with_metadata(metadata.clone());
        }
        let msg = PartialMessage::handshake_request(generate_id(), &request);
        match ctx.encode_handshake(msg) {
            Ok(frame) => {
                // A failed write shows up as the connection closing.
                let _ = m.conn.send(frame);
            }
            Err(e) => {
                self.push(Output::ProtocolError(ProtocolError::MessageSendFailure(
                    format!("handshake request: {e}"),
                )));
                self.lose_connection();
            }
        }
    }

    fn connection_failed(&mut self) {
        let Some(AnySession::Connecting(m)) = self.state.take() else {
            unreachable!("dial failures and timeouts belong to Connecting")
        };
        self.state = Some(m.connection_failed(|_| NoConnection).into_any());
        self.arm();
        self.retry();
    }

    fn retry(&mut self) {
        if self.reconnect {
            self.connect();
        }
    }

    fn handshake_timed_out(&mut self) {
        match self.state {
            Some(AnySession::Handshaking(_)) => self.lose_connection(),
            Some(AnySession::WaitingForHandshake(_)) => self.end(EndReason::HandshakeFailed),
            _ => unreachable!("only handshaking states own a handshake timer"),
        }
    }

    // ----- connections --------------------------------------------------------------------

    fn connection_lost(&mut self) {
        match self.state {
            Some(AnySession::WaitingForHandshake(_)) => self.end(EndReason::HandshakeFailed),
            _ => self.lose_connection(),
        }
    }

    /// Drops the current connection (Handshaking or Connected) and waits without one. A client
    /// that does not resume sessions ends its session instead.
    fn lose_connection(&mut self) {
        let resumable = self
            .context()
            .is_some_and(|c| c.options.enable_transparent_reconnects);
        if self.role == Role::Client
            && !resumable
            && matches!(
                self.state,
                Some(AnySession::Handshaking(_) | AnySession::Connected(_))
            )
        {
            self.end(EndReason::ConnectionLost);
            return;
        }
        let grace = Instant::now();
        let next = match self.state.take() {
            Some(AnySession::Handshaking(mut m)) => {
                m.conn.close(CloseCode::SESSION_CONTINUES);
                m.connection_lost(|_| NoConnection)
            }
            Some(AnySession::Connected(mut m)) => {
                let deadline = grace + m.context().options.session_disconnect_grace;
                m.context_mut().grace_deadline = Some(deadline);
                m.connection_lost(|_| NoConnection)
            }
            other => {
                self.state = other;
                return;
            }
        };
        self.state = Some(next.into_any());
        self.arm();
        self.retry();
    }

    /// The watchdog fired: close the connection if nothing arrived for the liveness timeout,
    /// else look again that long after the last arrival.
    fn check_liveness(&mut self) {
        let Some(AnySession::Connected(m)) = &self.state else {
            return;
        };
        let ctx = m.context();
        let deadline = m.last_inbound + ctx.options.liveness_timeout_for(ctx.version);
        if Instant::now() >= deadline {
            self.lose_connection();
        } else {
            let handle = m.handle();
            self.spawn_timer(&handle, TimerKind::Watchdog, deadline, None);
        }
    }

    fn on_frame(&mut self, frame: &[u8]) {
        match self.state {
            Some(AnySession::Handshaking(_)) => self.on_handshake_response(frame),
            Some(AnySession::WaitingForHandshake(_)) => self.on_handshake_request(frame),
            Some(AnySession::Connected(_)) => self.on_message(frame),
            _ => {}
        }
    }

    fn on_message(&mut self, frame: &[u8]) {
        let Some(AnySession::Connected(m)) = self.state.as_mut() else {
            return;
        };
        let msg = match m.context().codec.decode(frame) {
            Ok(msg) => msg,
            Err(e) => {
                return self.invalid(format!("could not decode message: {e}"));
            }
        };
        match m.context_mut().receive(&msg) {
            Receipt::NotFromPeer => {
                let reason = format!(
                    "received message from {}, but the session's peer is {}",
                    msg.from,
                    m.context().to
                );
                self.invalid(reason);
            }
            Receipt::Duplicate => {}
            Receipt::Gap { .. } => self.lose_connection(),
            Receipt::Accepted => {
                m.last_inbound = Instant::now();
                if msg.flags(m.context().version).ack {
                    if self.role == Role::Client {
                        let _ = self.send(PartialMessage::heartbeat());
                    }
                } else {
                    self.push(Output::Message(Box::new(msg)));
                }
            }
        }
    }

    fn invalid(&mut self, reason: String) {
        self.push(Output::ProtocolError(ProtocolError::InvalidMessage(
            reason.clone(),
        )));
        self.end(EndReason::InvalidMessage(reason));
    }

    fn on_handshake_response(&mut self, frame: &[u8]) {
        let Some(AnySession::Handshaking(m)) = &self.state else {
            return;
        };
        let ctx = m.context();
        match evaluate_response(ctx.codec, frame, &ctx.id) {
            ClientOutcome::Connected => {
                let Some(AnySession::Handshaking(m)) = self.state.take() else {
                    unreachable!("matched above")
                };
                let now = Instant::now();
                let mut m = m.handshake_ok(|hs| Connected {
                    conn: hs.conn,
                    last_inbound: now,
                });
                m.context_mut().grace_deadline = None;
                resend_buffer(&mut m);
                if let Some(budget) = self.budget.as_mut() {
                    budget.start_restoring(now);
                }
                self.retries_reported = false;
                self.state = Some(m.into_any());
                self.arm();
            }
            ClientOutcome::Retry(rejection) => self.end(EndReason::Retry(rejection)),
            ClientOutcome::Fatal(rejection) => {
                self.push(Output::ProtocolError(ProtocolError::HandshakeFailed {
                    code: rejection.code.clone(),
                    message: rejection.reason.clone(),
                }));
                self.end(EndReason::Fatal(rejection));
            }
            ClientOutcome::Invalid(reason) => self.invalid(reason),
        }
    }

    // ----- server: handshakes -------------------------------------------------------------

    fn on_handshake_request(&mut self, frame: &[u8]) {
        let Some(AnySession::WaitingForHandshake(m)) = self.state.as_mut() else {
            return;
        };
        let accepted = &self.accepted_versions;
        if self.sniff_codec
            && let Some(kind) = crate::wire::CodecKind::sniff(frame)
        {
            m.context_mut().codec = kind;
        }
        match parse_request(m.context().codec, frame, accepted) {
            Ok(parsed) => {
                m.request_received = true;
                // Whatever the decision, the response goes to this client.
                m.context_mut().to.clone_from(&parsed.msg.from);
                self.push(Output::HandshakeRequest(Box::new(parsed)));
            }
            Err(RequestError::Undecodable(e)) => {
                self.push(Output::ProtocolError(ProtocolError::HandshakeFailed {
                    code: HandshakeErrorCode::MalformedHandshake,
                    message: format!("first frame does not decode: {e}"),
                }));
                self.end(EndReason::HandshakeFailed);
            }
            Err(RequestError::Rejected { msg, rejection }) => {
                m.context_mut().to.clone_from(&msg.from);
                self.reject(&rejection);
            }
        }
    }

    /// Refuses the pending handshake: writes the error response, reports `handshake_failed`
    /// and closes the connection.
    pub fn reject(&mut self, rejection: &Rejection) {
        let Some(AnySession::WaitingForHandshake(m)) = self.state.as_mut() else {
            return;
        };
        let msg = PartialMessage::handshake_response(generate_id(), &rejection.response());
        if let Ok(frame) = m.context().encode_handshake(msg) {
            let _ = m.conn.send(frame);
        }
        self.push(Output::ProtocolError(ProtocolError::HandshakeFailed {
            code: rejection.code.clone(),
            message: rejection.reason.clone(),
        }));
        self.end(EndReason::HandshakeFailed);
    }

    /// Accepts the pending handshake as a new session: the pending connection becomes the
    /// session `request.session_id` with the client `request.msg.from`.
    pub fn accept(&mut self, request: &ParsedRequest) {
        let Some(AnySession::WaitingForHandshake(mut m)) = self.state.take() else {
            return;
        };
        let ctx = m.context_mut();
        ctx.id.clone_from(&request.request.session_id);
        ctx.to.clone_from(&request.msg.from);
        ctx.version = request.version;
        ctx.metadata.clone_from(&request.request.metadata);
        self.state = Some(m.into_any());
        if self.respond_ok() {
            self.push(Output::Status(SessionStatus::Created));
            self.finish_server_handshake();
        }
    }

    /// Resumes this existing session on `pending`'s connection (a transparent reconnect).
    /// `pending` must hold the accepted request; it is consumed. This session's old connection,
    /// if any, is closed; the buffer is resent on the new one.
    pub fn adopt(&mut self, mut pending: SessionDriver, request: &ParsedRequest) {
        let Some(AnySession::WaitingForHandshake(mut incoming)) = pending.state.take() else {
            return;
        };
        if matches!(self.state, Some(AnySession::Connected(_))) {
            self.lose_connection();
            self.collect_steps();
        }
        let Some(AnySession::NoConnection(mut old)) = self.state.take() else {
            // The session ended meanwhile: the pending connection is refused.
            drop(incoming.close());
            return;
        };
        // The session's context moves to the state that owns the new connection; the old state,
        // left with the pending connection's blank context, closes without touching anything of
        // the session's.
        std::mem::swap(old.context_mut(), incoming.context_mut());
        drop(old.close());
        let ctx = incoming.context_mut();
        ctx.version = request.version;
        ctx.metadata.clone_from(&request.request.metadata);
        // The observer belongs to this driver.
        let sink = Arc::clone(&self.steps);
        let observer: Arc<dyn statebound::Observer> =
            Arc::new(move |step: &Step| push_step(&sink, step));
        self.state = Some(incoming.with_observer(observer).into_any());
        if self.respond_ok() {
            self.finish_server_handshake();
        }
    }

    /// Writes the ok response on the pending connection; on failure ends the session.
    fn respond_ok(&mut self) -> bool {
        let Some(AnySession::WaitingForHandshake(m)) = self.state.as_mut() else {
            return false;
        };
        let response = HandshakeResponse::Ok {
            session_id: m.context().id.clone(),
        };
        let msg = PartialMessage::handshake_response(generate_id(), &response);
        let written = match m.context().encode_handshake(msg) {
            Ok(frame) => m.conn.send(frame).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = written {
            self.push(Output::ProtocolError(ProtocolError::MessageSendFailure(e)));
            self.end(EndReason::HandshakeFailed);
            return false;
        }
        true
    }

    fn finish_server_handshake(&mut self) {
        let Some(AnySession::WaitingForHandshake(m)) = self.state.take() else {
            return;
        };
        let now = Instant::now();
        let mut m = m.handshake_ok(|w| Connected {
            conn: w.conn,
            last_inbound: now,
        });
        m.context_mut().grace_deadline = None;
        resend_buffer(&mut m);
        self.state = Some(m.into_any());
        self.arm();
    }

    /// What a server needs to decide on a handshake for this session.
    pub fn existing(&self) -> Option<super::ExistingSession> {
        let ctx = self.context()?;
        Some(super::ExistingSession {
            id: ctx.id.clone(),
            ack: ctx.ack,
            next_sent_seq: ctx.next_sent_seq(),
        })
    }

    // ----- sending and ending -------------------------------------------------------------

    /// Sequences, buffers and (when connected) writes `msg`. While disconnected it waits in the
    /// buffer and is written after the next handshake.
    pub fn send(&mut self, msg: PartialMessage) -> Result<Sent, SendError> {
        let Some(state) = self.state.as_mut() else {
            return Err(SendError::SessionEnded);
        };
        if matches!(state, AnySession::WaitingForHandshake(_)) {
            return Err(SendError::Invalid(
                "the connection has not completed its handshake".into(),
            ));
        }
        let ctx = state.context_mut();
        let buffered = ctx.sequence(msg).map_err(|e| match e {
            SequenceError::Encode(e) => SendError::Encode(e.to_string()),
            SequenceError::TooLarge { size, limit } => SendError::TooLarge { size, limit },
        })?;
        let (id, seq, frame) = (buffered.id.clone(), buffered.seq, buffered.frame.clone());
        let backpressured = ctx.is_backpressured();
        let session_id = ctx.id.clone();
        if let AnySession::Connected(m) = state {
            // A failed write shows up as the connection closing; the message stays buffered.
            let _ = m.conn.send(frame);
        }
        Ok(Sent {
            id,
            session_id,
            seq,
            backpressured,
        })
    }

    /// Ends the session from whatever state it is in: its close hook runs (closing the
    /// connection with 1000 and emptying the buffer), and `Closing` / `Closed` are reported.
    /// Ending twice is harmless.
    pub fn close(&mut self) {
        self.end(EndReason::Closed);
    }

    fn end(&mut self, reason: EndReason) {
        let Some(state) = self.state.take() else {
            return;
        };
        let ctx = state.context();
        self.identity = (ctx.to.clone(), ctx.id.clone());
        let was_session = !matches!(state, AnySession::WaitingForHandshake(_));
        if was_session {
            self.push(Output::Status(SessionStatus::Closing));
        }
        drop(state.close());
        self.collect_steps();
        if was_session {
            self.push(Output::Status(SessionStatus::Closed));
        }
        self.ended = Some(reason.clone());
        self.push(Output::Ended(reason));
    }

    /// The metadata a client sends with its handshakes, or a server accepted last.
    pub fn metadata(&self) -> Option<&Value> {
        self.context().and_then(|c| c.metadata.as_ref())
    }
}

fn resend_buffer(m: &mut Session<Connected>) {
    let frames: Vec<Vec<u8>> = m
        .context()
        .send_buffer
        .iter()
        .map(|f| f.frame.clone())
        .collect();
    for frame in frames {
        if m.conn.send(frame).is_err() {
            break;
        }
    }
}
