//! One session, driven: the state machine from [`crate::graph`], the timers its states own, and
//! the protocol's rules applied to what arrives.
//!
//! A [`SessionDriver`] does no I/O of its own and spawns nothing. Connections come in as
//! [`Connection`] objects (which the transport makes), dials are requested with
//! [`Output::Dial`] and answered with [`SessionDriver::dialed`], and everything the session has
//! to say comes out as [`Output`]s. Its owner polls [`SessionDriver::poll_step`] (or awaits
//! [`SessionDriver::step`]): each step handles one event, a timer of the current state or
//! something on the current state's connection, and [`SessionDriver::poll_flush`] writes what
//! the steps queued on the connection.
//!
//! Timers are entries in a small table, each tagged with the handle of the state that armed
//! it; one `tokio` sleep waits for the earliest. Entering a state replaces the table, and a
//! timer whose handle has gone stale is discarded when it comes due, so a timer can never act
//! for a state that was left. Inbound frames are read from the current state's own connection
//! only, so a frame can never be attributed to a state that has been left, and none is lost
//! when a connection passes from `Handshaking` to `Connected`.
//!
//! The protocol's steps live beside this file by role: `client` (connecting and the
//! handshake response), `server` (handshake requests and their outcomes), `connected`
//! (messages, liveness, losing a connection).

mod client;
mod connected;
mod rehandshake;
mod server;
mod timers;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use statebound::{Handle, Slot, Step};
use tokio::time::Instant;

use super::connection::{Connection, ConnectionClosed, ConnectionEvent};
use super::context::{BufferedFrame, SequenceError, SessionContext};
use super::handshake::{ParsedRequest, Rejection};
use super::options::{RetryBudget, RetryOptions};
use crate::graph::session::{AnySession, NoConnection, Session, WaitingForHandshake};
use crate::metrics::Traffic;
use crate::wire::{HandshakeErrorCode, PartialMessage, ProtocolVersion, TransportMessage, Value};
use timers::Timers;

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
    /// Time to ask the client for a rehandshake (server, `Connected`).
    Rehandshake,
    /// The client did not answer the rehandshake request in time (server, `Connected`).
    RehandshakeDeadline,
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
    /// The client could not build its handshake metadata (the reason): the session ends, as
    /// River's client ends it when its `construct` throws.
    MetadataFailed(String),
    /// Server: the client's rehandshake was refused, malformed or unanswered (the reason).
    RehandshakeFailed(String),
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
    Message(TransportMessage),
    /// A protocol error to report.
    ProtocolError(ProtocolError),
    /// Client: dial the server now and answer with [`SessionDriver::dialed`] and this handle.
    Dial(Handle),
    /// Client: the connection is up and the handshake request waits for its metadata (see
    /// [`SessionDriver::set_await_metadata`]). Build it and answer with
    /// [`SessionDriver::metadata_built`] and this handle; the handshake timeout runs meanwhile.
    BuildMetadata(Handle),
    /// Server: a valid handshake request arrived on this pending connection. Decide (see
    /// [`decide`](super::decide)) and answer with [`SessionDriver::accept`],
    /// [`SessionDriver::adopt`] or [`SessionDriver::reject`].
    HandshakeRequest(Box<ParsedRequest>),
    /// Client: the server asked for a rehandshake. Build fresh metadata and send it with
    /// [`PartialMessage::rehandshake_response`] on this session.
    RehandshakeRequested,
    /// Server: the client answered a rehandshake with this metadata. Validate it again and
    /// answer with [`SessionDriver::rehandshake_accepted`] or
    /// [`SessionDriver::fail_rehandshake`].
    RehandshakeResponse(Option<Value>),
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
    /// The send buffer is full (see
    /// [`SessionOptions::send_buffer_max_messages`](crate::session::SessionOptions)): the
    /// peer has not acknowledged what was sent. The message took no sequence number; try
    /// again once [`wait_for_drain`](crate::transport::ServerTransport::wait_for_drain)
    /// returns.
    #[error(
        "the send buffer is full: {messages} messages ({bytes} bytes) wait for the peer's acknowledgement"
    )]
    BufferFull {
        /// Messages in the buffer.
        messages: usize,
        /// Their bytes.
        bytes: u64,
    },
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

/// Where the machine's observer leaves the steps it sees, for the driver to turn into outputs.
#[derive(Debug, Default)]
struct StepSink {
    steps: Mutex<Vec<Step>>,
    /// Set while `steps` holds something, so the common case takes no lock.
    pending: AtomicBool,
}

impl StepSink {
    fn observer(self: &Arc<Self>) -> Arc<dyn statebound::Observer> {
        let sink = Arc::clone(self);
        Arc::new(move |step: &Step| {
            sink.steps
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(*step);
            sink.pending.store(true, Ordering::Release);
        })
    }

    fn drain(&self, into: &mut Vec<Output>) {
        // A plain load first: most calls find nothing, and it is cheaper than a swap.
        if !self.pending.load(Ordering::Acquire) || !self.pending.swap(false, Ordering::Acquire) {
            return;
        }
        let steps = std::mem::take(&mut *self.steps.lock().unwrap_or_else(PoisonError::into_inner));
        for step in steps {
            if let Step::Transitioned {
                from,
                to,
                transition,
                ..
            } = step
            {
                into.push(Output::Transition {
                    from,
                    to,
                    transition,
                });
            }
        }
    }
}

/// One River session and everything it owns. See the module docs.
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent settings and facts of the session; an enum would spell out their combinations"
)]
pub struct SessionDriver {
    role: Role,
    /// The machine in its current state; empty once the session has ended.
    state: Slot<AnySession>,
    outputs: Vec<Output>,
    steps: Arc<StepSink>,
    timers: Timers,
    stale_events: usize,
    budget: Option<RetryBudget>,
    reconnect: bool,
    retries_reported: bool,
    /// Client: the handshake request waits for [`SessionDriver::metadata_built`].
    await_metadata: bool,
    /// Server: when the session's credential expires, if it does.
    credential_expiry: Option<Instant>,
    /// Server: when the next rehandshake request is due.
    rehandshake_due: Option<Instant>,
    /// Server: when the rehandshake request in flight must have been answered.
    rehandshake_deadline: Option<Instant>,
    sniff_codec: bool,
    accepted_versions: Arc<[ProtocolVersion]>,
    ended: Option<EndReason>,
    /// The peer's id and the session id as last known, still there once the session ended.
    identity: (String, String),
    /// Frames and bytes moved since [`take_traffic`](Self::take_traffic) last asked.
    traffic: Traffic,
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

impl SessionDriver {
    fn new(role: Role, state: impl FnOnce(Arc<dyn statebound::Observer>) -> AnySession) -> Self {
        let steps = Arc::<StepSink>::default();
        SessionDriver {
            role,
            state: Slot::new(state(steps.observer())),
            outputs: Vec::new(),
            steps,
            timers: Timers::default(),
            stale_events: 0,
            budget: None,
            reconnect: true,
            retries_reported: false,
            await_metadata: false,
            credential_expiry: None,
            rehandshake_due: None,
            rehandshake_deadline: None,
            sniff_codec: false,
            accepted_versions: Arc::from(ProtocolVersion::ALL),
            ended: None,
            identity: (String::new(), String::new()),
            traffic: Traffic::default(),
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

    /// Client: on each new connection, ask for the handshake metadata with
    /// [`Output::BuildMetadata`] and send the request once it is built, instead of sending the
    /// context's metadata at once (off by default).
    pub fn set_await_metadata(&mut self, on: bool) {
        self.await_metadata = on;
    }

    /// Server: take the codec from the first frame of the connection (see
    /// [`CodecKind::sniff`](crate::wire::CodecKind::sniff)) instead of the configured one, so one
    /// server serves JSON and msgpack clients.
    pub fn set_sniff_codec(&mut self, on: bool) {
        self.sniff_codec = on;
    }

    /// Server: the protocol versions a handshake may ask for (both, by default).
    pub fn set_accepted_versions(&mut self, versions: &[ProtocolVersion]) {
        self.accepted_versions = Arc::from(versions);
    }

    /// Server: like [`set_accepted_versions`](Self::set_accepted_versions), sharing the list.
    pub fn share_accepted_versions(&mut self, versions: Arc<[ProtocolVersion]>) {
        self.accepted_versions = versions;
    }

    /// The current state's connection, if it has one.
    pub fn connection(&self) -> Option<&dyn Connection> {
        match self.state.get()? {
            AnySession::Handshaking(m) => Some(m.conn.as_ref()),
            AnySession::Connected(m) => Some(m.conn.as_ref()),
            AnySession::WaitingForHandshake(m) => Some(m.conn.as_ref()),
            _ => None,
        }
    }

    fn connection_mut(&mut self) -> Option<&mut Box<dyn Connection>> {
        match self.state.get_mut()? {
            AnySession::Handshaking(m) => Some(&mut m.conn),
            AnySession::Connected(m) => Some(&mut m.conn),
            AnySession::WaitingForHandshake(m) => Some(&mut m.conn),
            _ => None,
        }
    }

    /// Moves the session's connection and timers onto the runtime `to` (see
    /// [`Connection::rehome`]); the next poll registers them there.
    pub fn rehome(&mut self, to: &tokio::runtime::Handle) {
        if let Some(conn) = self.connection_mut() {
            conn.rehome(to);
        }
        self.timers.rehome();
    }

    /// Test aid: drops the current connection as if the network had cut it. The session lives
    /// on and (as a client) reconnects.
    pub fn drop_connection(&mut self) {
        match self.state.get() {
            Some(AnySession::WaitingForHandshake(_)) => self.end(EndReason::HandshakeFailed),
            _ => self.lose_connection(),
        }
    }

    /// Sets the metadata sent with the next handshakes (client).
    pub fn set_metadata(&mut self, metadata: Option<Value>) {
        if let Some(state) = self.state.get_mut() {
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
        self.state.get().map(AnySession::name)
    }

    /// The session's context, until it ends.
    pub fn context(&self) -> Option<&SessionContext> {
        self.state.get().map(AnySession::context)
    }

    /// A handle on the current state.
    pub fn handle(&self) -> Option<Handle> {
        self.state.get().map(AnySession::handle)
    }

    /// Why the session ended, once it has.
    pub fn ended(&self) -> Option<&EndReason> {
        self.ended.as_ref()
    }

    /// Timers armed by the current state.
    pub fn live_timers(&self) -> usize {
        self.timers.len()
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

    /// Frames read and messages sequenced since the last call, with their encoded sizes.
    pub fn take_traffic(&mut self) -> Traffic {
        std::mem::take(&mut self.traffic)
    }

    /// What the driver has to say since the last call, in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        self.steps.drain(&mut self.outputs);
        std::mem::take(&mut self.outputs)
    }

    /// Appends what the driver has to say since the last call to `into`, in order, keeping
    /// both vectors' allocations for reuse.
    pub fn drain_outputs(&mut self, into: &mut Vec<Output>) {
        self.steps.drain(&mut self.outputs);
        if into.is_empty() {
            std::mem::swap(&mut self.outputs, into);
        } else {
            into.append(&mut self.outputs);
        }
    }

    /// Records an output after the transitions that happened before it, so outputs come out
    /// in the order things happened.
    fn push(&mut self, output: Output) {
        self.steps.drain(&mut self.outputs);
        self.outputs.push(output);
    }

    // ----- the event loop -----------------------------------------------------------------

    /// Waits for one event (a timer of the current state, or the current connection) and
    /// handles it. Returns at once, doing nothing, once the session has ended. Cancel-safe.
    pub async fn step(&mut self) {
        core::future::poll_fn(|cx| self.poll_step(cx)).await;
    }

    /// Handles one event if one is ready: a due timer first, then the current connection's
    /// next event. `Ready` once the session has ended.
    pub fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.poll_timer(cx).is_ready() {
            return Poll::Ready(());
        }
        self.poll_connection(cx)
    }

    /// Handles a due timer of the current state, if there is one. `Ready` once the session has
    /// ended.
    pub fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.is_empty() {
            return Poll::Ready(());
        }
        match self.timers.poll_due(cx) {
            Poll::Ready((kind, owner)) => {
                self.on_timer(kind, &owner);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Handles the current connection's next event, if one is ready. `Ready` once the session
    /// has ended.
    pub fn poll_connection(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(state) = self.state.get_mut() else {
            return Poll::Ready(());
        };
        let conn = match state {
            AnySession::Handshaking(m) => &mut m.conn,
            AnySession::Connected(m) => &mut m.conn,
            AnySession::WaitingForHandshake(m) => &mut m.conn,
            _ => return Poll::Pending,
        };
        match conn.poll_event(cx) {
            Poll::Ready(event) => {
                self.on_connection_event(event);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Writes what the steps queued on the current connection. A connection that cannot write
    /// reports itself closed through its events.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionClosed>> {
        match self.connection_mut() {
            Some(conn) => conn.poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn on_timer(&mut self, kind: TimerKind, owner: &Handle) {
        if owner.check().is_err() {
            self.stale_events += 1;
            return;
        }
        match kind {
            TimerKind::Grace => self.end(EndReason::GraceExpired),
            TimerKind::Backoff => self.start_dial(),
            TimerKind::ConnectionTimeout => self.connection_failed(),
            TimerKind::HandshakeTimeout => self.handshake_timed_out(),
            TimerKind::Heartbeat => self.send_heartbeat(),
            TimerKind::Watchdog => self.check_liveness(),
            TimerKind::Rehandshake => {
                self.request_rehandshake();
            }
            TimerKind::RehandshakeDeadline => {
                self.fail_rehandshake("the client did not answer the re-handshake in time".into());
            }
        }
    }

    fn on_connection_event(&mut self, event: ConnectionEvent) {
        match event {
            ConnectionEvent::Frame(frame) => {
                self.traffic.messages_in += 1;
                self.traffic.bytes_in += frame.len() as u64;
                match self.state.get() {
                    Some(AnySession::Handshaking(_)) => self.on_handshake_response(&frame),
                    Some(AnySession::WaitingForHandshake(_)) => self.on_handshake_request(&frame),
                    Some(AnySession::Connected(_)) => self.on_message(&frame),
                    _ => {}
                }
            }
            ConnectionEvent::Closed { .. } => self.connection_lost(),
        }
    }

    /// Arms the timers of the state just entered, replacing the previous state's.
    fn arm(&mut self) {
        self.timers.clear();
        let Some(state) = self.state.get() else {
            return;
        };
        let handle = state.handle();
        let ctx = state.context();
        let opts = &ctx.options;
        let now = Instant::now();
        match state {
            AnySession::NoConnection(_) => {}
            AnySession::BackingOff(s) => {
                self.timers.arm(&handle, TimerKind::Backoff, s.until, None);
            }
            AnySession::Connecting(s) => {
                self.timers
                    .arm(&handle, TimerKind::ConnectionTimeout, s.deadline, None);
            }
            AnySession::Handshaking(_) | AnySession::WaitingForHandshake(_) => {
                self.timers.arm(
                    &handle,
                    TimerKind::HandshakeTimeout,
                    now + opts.handshake_timeout,
                    None,
                );
            }
            AnySession::Connected(m) => {
                let every = opts.heartbeat_interval;
                self.timers.arm(
                    &handle,
                    TimerKind::Watchdog,
                    m.last_inbound + opts.liveness_timeout_for(ctx.version),
                    None,
                );
                if self.role == Role::Server {
                    self.timers
                        .arm(&handle, TimerKind::Heartbeat, now + every, Some(every));
                }
            }
        }
        let without_connection = !matches!(
            state,
            AnySession::Connected(_) | AnySession::WaitingForHandshake(_)
        );
        if without_connection && let Some(deadline) = ctx.grace_deadline {
            self.timers.arm(&handle, TimerKind::Grace, deadline, None);
        }
        if self.role == Role::Server && matches!(state, AnySession::Connected(_)) {
            // A request in flight was abandoned with its connection, as River abandons it; the
            // owner reschedules from the metadata the new handshake was accepted with.
            self.rehandshake_deadline = None;
            self.arm_rehandshake_for(&handle);
        }
    }

    // ----- sending and ending -------------------------------------------------------------

    /// Sequences, buffers and (when connected) queues `msg` on the connection; the next
    /// [`poll_flush`](Self::poll_flush) writes it. While disconnected it waits in the buffer
    /// and is written after the next handshake.
    pub fn send(&mut self, msg: PartialMessage) -> Result<Sent, SendError> {
        self.enqueue(|ctx| ctx.sequence(msg))?;
        let Some(ctx) = self.context() else {
            return Err(SendError::SessionEnded);
        };
        let Some(buffered) = ctx.send_buffer.back() else {
            return Err(SendError::SessionEnded);
        };
        Ok(Sent {
            id: buffered.id.clone(),
            session_id: ctx.id.clone(),
            seq: buffered.seq,
            backpressured: ctx.is_backpressured(),
        })
    }

    /// Like [`send`](Self::send), for a sender that does not need to know more than whether
    /// the message was taken.
    pub fn send_unreported(&mut self, msg: PartialMessage) -> Result<(), SendError> {
        self.enqueue(|ctx| ctx.sequence(msg))
    }

    /// Sends a heartbeat, as [`send`](Self::send) would send [`PartialMessage::heartbeat`].
    pub(super) fn send_heartbeat(&mut self) {
        let _ = self.enqueue(SessionContext::sequence_heartbeat);
    }

    /// Sequences a message with `sequence` and queues it on the connection, if there is one.
    fn enqueue(
        &mut self,
        sequence: impl FnOnce(&mut SessionContext) -> Result<&BufferedFrame, SequenceError>,
    ) -> Result<(), SendError> {
        let Some(state) = self.state.get_mut() else {
            return Err(SendError::SessionEnded);
        };
        if matches!(state, AnySession::WaitingForHandshake(_)) {
            return Err(SendError::Invalid(
                "the connection has not completed its handshake".into(),
            ));
        }
        let frame = sequence(state.context_mut())
            .map_err(|e| match e {
                SequenceError::Encode(e) => SendError::Encode(e.to_string()),
                SequenceError::TooLarge { size, limit } => SendError::TooLarge { size, limit },
                SequenceError::BufferFull { messages, bytes } => {
                    SendError::BufferFull { messages, bytes }
                }
            })?
            .frame
            .clone();
        self.traffic.messages_out += 1;
        self.traffic.bytes_out += frame.len() as u64;
        if let AnySession::Connected(m) = state {
            // A failed write shows up as the connection closing; the message stays buffered.
            let _ = m.conn.send(frame);
        }
        Ok(())
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
        self.timers.clear();
        let ctx = state.context();
        self.identity = (ctx.to.clone(), ctx.id.clone());
        let was_session = !matches!(state, AnySession::WaitingForHandshake(_));
        if was_session {
            self.push(Output::Status(SessionStatus::Closing));
        }
        drop(state.close());
        self.steps.drain(&mut self.outputs);
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

/// Writes the whole send buffer on the connection of a state that just connected.
fn resend_buffer(m: &mut Session<crate::graph::session::Connected>) {
    // The new connection gives the peer a fresh chance to acknowledge what is buffered.
    m.context_mut().ack_wait = None;
    let frames: Vec<bytes::Bytes> = m
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
