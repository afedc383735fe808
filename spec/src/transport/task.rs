//! The task that owns one session: its driver, its connection, its inbox, the router's work
//! for it, and the events it owes the subscribers.
//!
//! Every session (and, on a server, every connection still waiting for its handshake) has a
//! task of its own, so an event costs work in the task it belongs to and nowhere else, and
//! sessions spread over every worker thread of the runtime. A quiet session's task sleeps
//! until its connection, its one timer, or its inbox wakes it.
//!
//! One turn of the task, repeated while anything made progress: take commands from the inbox
//! (sends, in order), poll the dial or the handshake validation in flight, poll the handler's
//! calls, let the driver handle due timers and then frames (only while the subscribers and
//! the handler have room for what the frames produce), write everything queued on the
//! connection with one flush, and deliver events. The inbox is drained before frames are read,
//! so a response pushed by a handler goes out before anything that reading further may cause.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use statebound::Handle;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Sleep;

use super::command::{Attachment, Command, Outgoing, SessionSender};
use super::dial::DialError;
use super::events::{Emitter, Subscribers};
use super::handler::{HandlerIo, SessionHandler, Taken};
use super::registry::{Registry, TaskGuard};
use super::{
    ClientSide, MetadataError, ServerSide, SessionSnapshot, TransportError, TransportEvent,
};
use crate::metrics::{Metrics, SessionGauge};
use crate::session::{
    BoxFuture, Connection, EndReason, Output, ParsedRequest, ProtocolError, Rejection, SendError,
    Sent, SessionDriver, SessionStatus,
};
use crate::wire::{ProtocolVersion, Value};

/// Rounds of a turn before the task yields to others.
const ROUNDS: usize = 32;
/// Commands, timer firings or frames handled per round.
const BATCH: usize = 64;
/// How long a closing session waits for a subscriber that does not make room.
const CLOSE_PATIENCE: Duration = Duration::from_secs(2);

/// What one transport's session tasks share.
pub(crate) struct Shared {
    /// This transport's own id.
    pub(crate) id: String,
    pub(crate) registry: Arc<Registry>,
    pub(crate) subscribers: Subscribers,
    pub(crate) side: Side,
    /// Where the sessions report their states and traffic, if anywhere.
    pub(crate) metrics: Option<Metrics>,
}

pub(crate) enum Side {
    Client(ClientSide),
    Server(ServerSide),
}

/// A dial in flight for the `Connecting` state `owner`.
pub(super) struct Dial {
    pub(super) owner: Handle,
    pub(super) fut: BoxFuture<'static, Result<Box<dyn Connection>, DialError>>,
}

/// A handshake validation in flight for the pending connection's state `owner`.
pub(super) struct Validation {
    pub(super) owner: Handle,
    pub(super) fut: BoxFuture<'static, (Box<ParsedRequest>, Result<(), Rejection>)>,
}

/// Handshake metadata being built (client).
pub(crate) struct MetadataBuild {
    /// The `Handshaking` state waiting for it; `None` while it is built ahead, during the dial.
    pub(super) owner: Option<Handle>,
    fut: Option<BoxFuture<'static, Result<Option<Value>, MetadataError>>>,
    done: Option<Result<Option<Value>, MetadataError>>,
}

impl MetadataBuild {
    pub(super) fn new(fut: BoxFuture<'static, Result<Option<Value>, MetadataError>>) -> Self {
        MetadataBuild {
            owner: None,
            fut: Some(fut),
            done: None,
        }
    }

    /// Polls the build; once it is done and a handshake waits for it, returns both.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<(Handle, Result<Option<Value>, MetadataError>)> {
        if let Some(fut) = self.fut.as_mut()
            && let Poll::Ready(result) = fut.as_mut().poll(cx)
        {
            self.fut = None;
            self.done = Some(result);
        }
        match (&self.owner, self.done.take()) {
            (Some(owner), Some(result)) => Poll::Ready((owner.clone(), result)),
            (_, done) => {
                self.done = done;
                Poll::Pending
            }
        }
    }
}

/// Metadata being built for a rehandshake of the session `session_id` (client).
pub(super) struct Rebuild {
    pub(super) session_id: String,
    pub(super) fut: BoxFuture<'static, Result<Option<Value>, MetadataError>>,
}

/// A rehandshake's metadata being validated for the session `session_id` (server).
pub(super) struct Revalidation {
    pub(super) session_id: String,
    pub(super) fut: BoxFuture<'static, (Option<Value>, Result<(), Rejection>)>,
}

/// A new session waiting for the one it replaces to report its end.
pub(super) struct Successor {
    pub(super) reported: oneshot::Receiver<()>,
    pub(super) client: String,
    pub(super) request: Box<ParsedRequest>,
}

/// One session's task. See the module docs.
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent facts of the task's life; an enum would spell out their combinations"
)]
pub(crate) struct SessionTask {
    pub(super) shared: Arc<Shared>,
    _guard: TaskGuard,
    /// Distinguishes this task's registry entries from a later task's.
    pub(super) task: u64,
    /// The registry key this task is listed under as a session (the peer's id).
    pub(super) peer: Option<String>,
    /// Listed among a server's pending connections.
    pub(super) pending: bool,
    /// Its place among the connections waiting for a handshake, given back once decided.
    pub(super) pending_slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Server, while a pending connection is served on the handshake runtime: the runtime its
    /// session moves to once the handshake is accepted.
    pub(super) home: Option<tokio::runtime::Handle>,
    inbox: mpsc::UnboundedReceiver<Command>,
    pub(super) sender: SessionSender,
    pub(super) driver: Option<SessionDriver>,
    pub(super) handler: Option<Box<dyn SessionHandler>>,
    outputs: Vec<Output>,
    emitter: Emitter,
    pub(super) dial: Option<Dial>,
    pub(super) validation: Option<Validation>,
    /// Client: the handshake metadata being built.
    pub(super) metadata_build: Option<MetadataBuild>,
    /// Client: metadata being built to answer a rehandshake request of this session.
    pub(super) rehandshake_build: Option<Rebuild>,
    /// Server: a rehandshake's metadata being validated for this session.
    pub(super) revalidation: Option<Revalidation>,
    /// Server: a new session waits for this one's end to be reported before it starts.
    pub(super) successor: Option<Successor>,
    /// Dropped once this session's end is reported (it was replaced by a new one).
    replaced: Option<oneshot::Sender<()>>,
    /// The transport is closing: end the session, deliver what is owed, stop.
    pub(super) closing: bool,
    /// This round gave work to a stage polled before the one that made it.
    pub(super) again: bool,
    /// The current session's id, shared with what the session tells its handler.
    session_id: Option<Arc<str>>,
    /// The task has nothing left to do once its events are delivered.
    pub(super) finished: bool,
    /// Sends taken from the inbox since the registry's facts were last published.
    taken_sends: usize,
    close_patience: Option<Pin<Box<Sleep>>>,
    /// What this task last told the metrics, when the transport has them.
    gauge: Option<SessionGauge>,
    /// When the session entered its current state.
    since: SystemTime,
    /// The current session's span ([`crate::trace`]); none between sessions. The task's work
    /// runs in it, and the session's transitions are events inside it.
    pub(super) session_span: tracing::Span,
}

impl SessionTask {
    /// A task with an inbox and no session yet, registered nowhere. `None` once the
    /// transport is closed.
    pub(super) fn new(shared: &Arc<Shared>, high_water_mark: usize) -> Option<Self> {
        let (guard, task) = shared.registry.task()?;
        let (sender, inbox) = SessionSender::new(high_water_mark);
        Some(SessionTask {
            shared: Arc::clone(shared),
            _guard: guard,
            task,
            peer: None,
            pending: false,
            pending_slot: None,
            home: None,
            inbox,
            sender,
            driver: None,
            handler: None,
            outputs: Vec::new(),
            emitter: Emitter::default(),
            dial: None,
            validation: None,
            metadata_build: None,
            rehandshake_build: None,
            revalidation: None,
            successor: None,
            replaced: None,
            closing: false,
            again: false,
            session_id: None,
            finished: false,
            taken_sends: 0,
            close_patience: None,
            gauge: shared.metrics.clone().map(SessionGauge::new),
            since: SystemTime::now(),
            session_span: tracing::Span::none(),
        })
    }

    /// The protocol version of the current session.
    fn version(&self) -> ProtocolVersion {
        self.driver
            .as_ref()
            .and_then(SessionDriver::context)
            .map_or(ProtocolVersion::CURRENT, |c| c.version)
    }

    /// Runs `f` with the handler (if any) and what it may know of the session.
    pub(super) fn with_handler<R>(
        &mut self,
        f: impl FnOnce(&mut dyn SessionHandler, &HandlerIo<'_>) -> R,
    ) -> Option<R> {
        let handler = self.handler.as_deref_mut()?;
        let version = self
            .driver
            .as_ref()
            .and_then(SessionDriver::context)
            .map_or(ProtocolVersion::CURRENT, |c| c.version);
        let (peer, session_id) = match &self.driver {
            Some(driver) => driver.identity(),
            None => (self.peer.as_deref().unwrap_or_default(), ""),
        };
        let io = HandlerIo {
            sender: &self.sender,
            peer,
            session_id,
            version,
            metadata: self.driver.as_ref().and_then(SessionDriver::metadata),
            span: &self.session_span,
        };
        Some(f(handler, &io))
    }

    /// The driver, while its session is `session_id` and has not ended.
    pub(super) fn live_driver(&mut self, session_id: &str) -> Option<&mut SessionDriver> {
        self.driver
            .as_mut()
            .filter(|d| d.ended().is_none() && d.identity().1 == session_id)
    }

    // ----- one turn -------------------------------------------------------------------------

    fn turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..ROUNDS {
            if self.ready_to_move() {
                // Accepted on the handshake runtime: the session goes on where it moves to,
                // whose first poll registers everything this one would.
                return Poll::Pending;
            }
            self.again = false;
            if !self.closing && self.shared.registry.is_closed() {
                self.start_closing();
            }
            self.poll_commands(cx);
            self.poll_side(cx);
            self.poll_handler(cx);
            self.poll_driver(cx);
            if let Some(driver) = self.driver.as_mut() {
                let _ = driver.poll_flush(cx);
            }
            let emitted = self.emitter.poll_emit(cx, &self.shared.subscribers);
            self.publish_info();
            if emitted.is_pending() && self.closing && self.out_of_patience(cx) {
                let dropped = self.emitter.abandon();
                tracing::warn!(
                    dropped,
                    "a subscriber did not make room while the transport closed; its events were dropped"
                );
            }
            if self.finished && !self.emitter.is_blocked() {
                self.exit();
                return Poll::Ready(());
            }
            // Every source polled above that has nothing more is registered to wake the task;
            // another round is needed only when a later stage gave an earlier one work (frames
            // for the handler, pushes into the inbox, a dial to start) or a stage stopped at
            // its batch size.
            if !self.again && self.inbox.is_empty() {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn poll_commands(&mut self, cx: &mut Context<'_>) {
        for _ in 0..BATCH {
            match self.inbox.poll_recv(cx) {
                Poll::Ready(Some(command)) => self.command(command),
                Poll::Ready(None) | Poll::Pending => return,
            }
        }
        self.again = true;
    }

    fn poll_side(&mut self, cx: &mut Context<'_>) {
        if let Some(dial) = self.dial.as_mut() {
            if !dial.owner.is_live() {
                // The attempt was given up (timed out, or the session ended): dropping the
                // future cancels the dial and closes whatever socket it had opened.
                self.dial = None;
            } else if let Poll::Ready(result) = dial.fut.as_mut().poll(cx) {
                let owner = dial.owner.clone();
                self.dial = None;
                self.dialed(&owner, result);
            }
        }
        if let Some(build) = self.metadata_build.as_mut() {
            if build.owner.as_ref().is_some_and(|owner| !owner.is_live()) {
                // The handshake it was for is over (timed out, or the session ended).
                self.metadata_build = None;
            } else if let Poll::Ready((owner, result)) = build.poll(cx) {
                self.metadata_build = None;
                self.client_metadata_built(&owner, result);
            }
        }
        if let Some(build) = self.rehandshake_build.as_mut()
            && let Poll::Ready(result) = build.fut.as_mut().poll(cx)
        {
            let session_id = build.session_id.clone();
            self.rehandshake_build = None;
            self.client_rehandshake_built(&session_id, result);
        }
        if let Some(check) = self.revalidation.as_mut()
            && let Poll::Ready((metadata, outcome)) = check.fut.as_mut().poll(cx)
        {
            let session_id = check.session_id.clone();
            self.revalidation = None;
            self.server_revalidated(&session_id, metadata, outcome);
        }
        if let Some(successor) = self.successor.as_mut()
            && Pin::new(&mut successor.reported).poll(cx).is_ready()
            && let Some(Successor {
                client, request, ..
            }) = self.successor.take()
        {
            self.become_session(client, &request);
        }
        if let Some(validation) = self.validation.as_mut() {
            if !validation.owner.is_live() {
                self.validation = None;
            } else if let Poll::Ready((request, outcome)) = validation.fut.as_mut().poll(cx) {
                self.validation = None;
                self.validated(request, outcome);
            }
        }
    }

    fn poll_handler(&mut self, cx: &mut Context<'_>) {
        // What the handler's calls send lands in the inbox, which the round's end checks.
        self.with_handler(|handler, io| handler.poll(cx, io));
    }

    fn poll_driver(&mut self, cx: &mut Context<'_>) {
        let mut timers = 0;
        while let Some(driver) = self.driver.as_mut() {
            if driver.ended().is_some() || driver.poll_timer(cx).is_pending() {
                break;
            }
            self.after_step();
            timers += 1;
            if timers == BATCH {
                self.again = true;
                break;
            }
        }
        for _ in 0..BATCH {
            if !self.can_read(cx) {
                if let Some(driver) = self.driver.as_mut() {
                    driver.hold_liveness();
                }
                return;
            }
            let Some(driver) = self.driver.as_mut() else {
                return;
            };
            if driver.ended().is_some() || driver.poll_connection(cx).is_pending() {
                return;
            }
            self.after_step();
        }
        self.again = true;
    }

    /// Whether frames may be read: what they produce must have somewhere to go.
    fn can_read(&mut self, cx: &mut Context<'_>) -> bool {
        if self.emitter.is_blocked() {
            return false;
        }
        match self.handler.as_mut() {
            Some(handler) => handler.poll_ready(cx).is_ready(),
            None => true,
        }
    }

    fn out_of_patience(&mut self, cx: &mut Context<'_>) -> bool {
        let sleep = self
            .close_patience
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(CLOSE_PATIENCE)));
        sleep.as_mut().poll(cx).is_ready()
    }

    /// Served on the handshake runtime, and its handshake is accepted: it goes on at `home`.
    pub(super) fn ready_to_move(&self) -> bool {
        self.home.is_some() && !self.pending
    }

    /// Moves what the task waits on to the runtime `to`; it must be polled there from now on.
    pub(super) fn rehome(&mut self, to: &tokio::runtime::Handle) {
        if let Some(driver) = self.driver.as_mut() {
            driver.rehome(to);
        }
        self.close_patience = None;
        self.home = None;
    }

    /// Keeps the registry's facts about this session current.
    pub(super) fn publish_info(&mut self) {
        let taken = std::mem::take(&mut self.taken_sends);
        let info = self.sender.info();
        match self.driver.as_ref() {
            Some(driver) if driver.ended().is_none() => {
                info.set_connected(driver.connection().is_some());
                let buffered = driver.context().map(|ctx| ctx.send_buffer.len());
                info.set_buffered(buffered, taken);
            }
            _ => info.set_ended(),
        }
        if let Some(gauge) = self.gauge.as_mut() {
            match self.driver.as_mut() {
                Some(driver) => {
                    gauge.metrics().traffic(driver.take_traffic());
                    let buffered = driver.context().map_or(0, |c| c.send_buffer.len());
                    gauge.publish(driver.state_name(), buffered);
                }
                None => gauge.publish(None, 0),
            }
        }
    }

    // ----- commands -------------------------------------------------------------------------

    fn command(&mut self, command: Command) {
        match command {
            Command::Send(out) => {
                self.taken_sends += 1;
                self.send(*out);
            }
            Command::Connect => self.connect(),
            Command::HardDisconnect => {
                if let Some(driver) = self.driver.as_mut() {
                    driver.close();
                }
                self.after_step();
            }
            Command::DropConnection => {
                if let Some(driver) = self.driver.as_mut() {
                    driver.drop_connection();
                }
                self.after_step();
            }
            Command::Phantom(on) => {
                if let Some(conn) = self.driver.as_ref().and_then(SessionDriver::connection) {
                    conn.set_phantom_disconnect(on);
                }
            }
            Command::Adopt(pending) => {
                let (pending, request) = *pending;
                self.adopt(pending, request);
            }
            Command::Replace(reported) => {
                self.replaced = Some(reported);
                if let Some(driver) = self.driver.as_mut() {
                    driver.replace();
                }
                self.after_step();
            }
            Command::Rehandshake(reply) => {
                let asked =
                    matches!(self.shared.side, Side::Server(_)) && self.server_rehandshake();
                let _ = reply.send(asked);
            }
            Command::Install(handler) => self.handler = Some(handler),
            Command::Close => self.start_closing(),
            Command::Inspect(reply) => {
                if let Some(snapshot) = self.snapshot() {
                    let _ = reply.send(snapshot);
                }
            }
        }
    }

    fn send(&mut self, out: Outgoing) {
        let Outgoing {
            msg,
            session,
            reply,
            attach,
        } = out;
        self.before_send();
        // Only an attachment's owner (the router's client) hears of the send, and only a reply
        // needs the full report.
        let attached = attach.map(|attach| (msg.stream_id.clone(), attach));
        let session_id = self.session_id.clone();
        let Some(driver) = self
            .driver
            .as_mut()
            .filter(|d| d.ended().is_none())
            .filter(|d| session.as_deref().is_none_or(|s| d.identity().1 == s))
        else {
            self.attached_outcome(attached, Err(SendError::SessionEnded));
            self.reply(reply, Err(SendError::SessionEnded));
            return;
        };
        let taken = |result: Result<(), &SendError>| {
            result.map_err(Clone::clone).and_then(|()| {
                session_id
                    .map(|session_id| Taken { session_id })
                    .ok_or(SendError::SessionEnded)
            })
        };
        match reply {
            None => {
                let result = driver.send_unreported(msg);
                if attached.is_some() {
                    self.attached_outcome(attached, taken(result.as_ref().copied()));
                }
            }
            Some(reply) => {
                let outcome = driver.send(msg);
                self.attached_outcome(attached, taken(outcome.as_ref().map(|_| ())));
                self.reply(Some(reply), outcome);
            }
        }
    }

    /// Tells the handler what became of a message it attached something to.
    fn attached_outcome(
        &mut self,
        attached: Option<(String, Attachment)>,
        outcome: Result<Taken, SendError>,
    ) {
        if let Some((stream_id, attach)) = attached {
            self.with_handler(|handler, io| handler.sent(stream_id, attach, outcome, io));
        }
    }

    fn reply(
        &self,
        reply: Option<oneshot::Sender<Result<Sent, TransportError>>>,
        outcome: Result<Sent, SendError>,
    ) {
        if let Some(reply) = reply {
            let peer = self.peer.clone().unwrap_or_default();
            let _ = reply.send(outcome.map_err(|e| match e {
                SendError::SessionEnded => TransportError::NoSession(peer),
                other => TransportError::Send(other),
            }));
        }
    }

    pub(super) fn start_closing(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        match self.driver.as_mut() {
            Some(driver) if driver.ended().is_none() => {
                driver.close();
                self.after_step();
            }
            _ => self.finished = true,
        }
    }

    // ----- outputs --------------------------------------------------------------------------

    /// Publishes and acts on what the driver has to say.
    pub(super) fn after_step(&mut self) {
        let Some(driver) = self.driver.as_mut() else {
            return;
        };
        driver.drain_outputs(&mut self.outputs);
        if self.outputs.is_empty() {
            return;
        }
        let mut outputs = std::mem::take(&mut self.outputs);
        for output in outputs.drain(..) {
            self.output(output);
        }
        if self.outputs.is_empty() {
            self.outputs = outputs;
        }
    }

    /// An application message: to the handler, and to subscribers if it does not claim it.
    fn output_message(&mut self, msg: crate::wire::TransportMessage) {
        let unclaimed = if self.handler.is_some() {
            // The handler's calls are polled before the frames are read.
            self.again = true;
            self.with_handler(move |handler, io| handler.message(msg, io))
                .flatten()
        } else {
            Some(msg)
        };
        if let Some(msg) = unclaimed
            && self.shared.subscribers.wants_messages()
        {
            let event = self.event(|peer, session_id, version| TransportEvent::Message {
                from: peer.to_owned(),
                session_id: session_id.to_owned(),
                version,
                msg: Arc::from(msg),
            });
            self.emitter.push(event);
        }
    }

    fn output(&mut self, output: Output) {
        let shared = Arc::clone(&self.shared);
        let subscribers = &shared.subscribers;
        match output {
            Output::Message(msg) => self.output_message(msg),
            Output::Transition {
                from,
                to,
                transition,
            } => {
                // The state just entered has armed timers and may own a connection, which
                // must be polled once to wake the task.
                self.again = true;
                self.since = SystemTime::now();
                if let Some(gauge) = self.gauge.as_mut() {
                    gauge.transition(from, transition, to);
                }
                tracing::info!(parent: &self.session_span, transition, from, to, "transition");
                if subscribers.any() {
                    let event =
                        self.event(|peer, session_id, _| TransportEvent::SessionTransition {
                            peer: peer.to_owned(),
                            session_id: session_id.to_owned(),
                            from,
                            to,
                            transition,
                        });
                    self.emitter.push(event);
                }
            }
            Output::Status(status) => {
                match status {
                    SessionStatus::Created => self.session_created(),
                    SessionStatus::Closed => self.session_id = None,
                    SessionStatus::Closing => {}
                }
                tracing::info!(parent: &self.session_span, ?status, "session status");
                if status == SessionStatus::Closed {
                    self.session_span = tracing::Span::none();
                }
                if subscribers.any() {
                    let event = self.event(|peer, session_id, _| TransportEvent::SessionStatus {
                        peer: peer.to_owned(),
                        session_id: session_id.to_owned(),
                        status,
                    });
                    self.emitter.push(event);
                }
            }
            Output::ProtocolError(error) => {
                self.count_rejection(&error);
                let (peer, _) = self.identity();
                tracing::warn!(parent: &self.session_span, %peer, ?error, "protocol error");
                if subscribers.any() {
                    let event = self.event(|peer, _, _| TransportEvent::ProtocolError {
                        peer: peer.to_owned(),
                        error,
                    });
                    self.emitter.push(event);
                }
            }
            Output::Dial(_)
            | Output::BuildMetadata(_)
            | Output::HandshakeRequest(_)
            | Output::RehandshakeRequested
            | Output::RehandshakeResponse(_) => {
                // Dials, builds and validations are polled before the driver.
                self.again = true;
                self.side_output(output);
            }
            Output::Ended(reason) => {
                self.again = true;
                self.with_handler(SessionHandler::session_ended);
                self.ended(reason);
            }
        }
    }

    /// A new session started in this task: its start, and what the registry and the metrics
    /// know of it.
    fn session_created(&mut self) {
        let (_, session) = self.identity();
        self.since = SystemTime::now();
        if let Some(gauge) = self.gauge.as_mut() {
            gauge.session_created();
        }
        self.sender.info().set_session_id(Some(&session));
        self.session_id = Some(Arc::from(session.as_str()));
    }

    /// Queues an event about the current session, made by `make(peer, session_id, version)`.
    fn event(
        &self,
        make: impl FnOnce(&str, &str, ProtocolVersion) -> TransportEvent,
    ) -> TransportEvent {
        let (peer, session_id) = match &self.driver {
            Some(driver) => driver.identity(),
            None => (self.peer.as_deref().unwrap_or_default(), ""),
        };
        make(peer, session_id, self.version())
    }

    fn identity(&self) -> (String, String) {
        match &self.driver {
            Some(driver) => {
                let (peer, session) = driver.identity();
                (peer.to_owned(), session.to_owned())
            }
            None => (self.peer.clone().unwrap_or_default(), String::new()),
        }
    }

    fn snapshot(&self) -> Option<SessionSnapshot> {
        let driver = self.driver.as_ref()?;
        let state = driver.state_name()?;
        let ctx = driver.context()?;
        Some(SessionSnapshot {
            peer: ctx.to.clone(),
            session_id: ctx.id.clone(),
            state,
            since: self.since,
            seq: ctx.seq,
            ack: ctx.ack,
            buffered: ctx.send_buffer.len(),
            version: ctx.version,
            codec: ctx.codec,
        })
    }

    /// Publishes the outputs of a driver this task holds only for a moment (a pending
    /// connection refused in another session's task).
    pub(super) fn publish_foreign(&mut self, mut driver: SessionDriver) {
        let outputs = driver.take_outputs();
        let (peer, session_id) = driver.identity();
        for output in outputs {
            let event = match output {
                Output::ProtocolError(error) => {
                    self.count_rejection(&error);
                    tracing::warn!(%peer, ?error, "protocol error");
                    TransportEvent::ProtocolError {
                        peer: peer.to_owned(),
                        error,
                    }
                }
                Output::Status(status) => TransportEvent::SessionStatus {
                    peer: peer.to_owned(),
                    session_id: session_id.to_owned(),
                    status,
                },
                _ => continue,
            };
            if self.shared.subscribers.any() {
                self.emitter.push(event);
            }
        }
    }

    fn count_rejection(&self, error: &ProtocolError) {
        if let (Some(gauge), ProtocolError::HandshakeFailed { code, .. }) = (&self.gauge, error) {
            gauge.metrics().handshake_rejected(code);
        }
    }

    fn ended(&mut self, reason: EndReason) {
        match &self.shared.side {
            Side::Client(_) => self.client_session_ended(reason),
            Side::Server(_) => {
                if !self.pending
                    && let Some(driver) = &self.driver
                    && let (client, session) = driver.identity()
                    && !session.is_empty()
                {
                    self.shared.registry.remember_ended(client, session);
                }
                // Gone from the registry at once, so nothing new is routed to it.
                self.leave_registry();
                self.finished = true;
            }
        }
        if self.closing {
            self.finished = true;
        }
    }

    /// Leaves the registry and settles what is still in the inbox.
    fn leave_registry(&mut self) {
        if let Some(peer) = &self.peer {
            self.shared.registry.remove_session(peer, self.task);
        }
        if self.pending {
            self.shared.registry.remove_pending(self.task);
            self.pending = false;
        }
        self.pending_slot = None;
    }

    fn exit(&mut self) {
        self.leave_registry();
        drop(self.replaced.take());
        self.sender.info().set_ended();
        self.inbox.close();
        while let Ok(command) = self.inbox.try_recv() {
            match command {
                Command::Send(out) => {
                    if let Some(reply) = out.reply {
                        let _ = reply.send(Err(TransportError::Closed));
                    }
                }
                Command::Adopt(pending) => {
                    let (pending, request) = *pending;
                    self.orphaned(pending, request);
                }
                _ => {}
            }
        }
    }
}

impl Future for SessionTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let task = self.get_mut();
        let span = task.session_span.clone();
        let _entered = span.enter();
        task.turn(cx)
    }
}

/// The side-specific parts of the task, as the two transports define them.
impl SessionTask {
    /// The outputs that only one side acts on.
    fn side_output(&mut self, output: Output) {
        let client = matches!(self.shared.side, Side::Client(_));
        match output {
            Output::Dial(handle) if client => self.client_dial(handle),
            Output::BuildMetadata(handle) if client => self.client_build_metadata(handle),
            Output::RehandshakeRequested if client => self.client_rehandshake(),
            Output::HandshakeRequest(request) if !client => self.server_validate(request),
            Output::RehandshakeResponse(metadata) if !client => self.server_revalidate(metadata),
            _ => {}
        }
    }

    fn connect(&mut self) {
        if matches!(self.shared.side, Side::Client(_)) {
            self.client_connect();
        }
    }

    fn before_send(&mut self) {
        let no_session = self.driver.as_ref().is_none_or(|d| d.ended().is_some());
        if matches!(self.shared.side, Side::Client(_)) && no_session {
            self.client_connect();
        }
    }

    fn dialed(&mut self, owner: &Handle, result: Result<Box<dyn Connection>, DialError>) {
        if matches!(self.shared.side, Side::Client(_)) {
            self.client_dialed(owner, result);
        }
    }

    fn validated(&mut self, request: Box<ParsedRequest>, outcome: Result<(), Rejection>) {
        if matches!(self.shared.side, Side::Server(_)) {
            self.server_validated(request, outcome);
        }
    }

    fn adopt(&mut self, pending: SessionDriver, request: ParsedRequest) {
        if matches!(self.shared.side, Side::Server(_)) {
            self.server_adopt(pending, request);
        }
    }

    fn orphaned(&mut self, pending: SessionDriver, request: ParsedRequest) {
        if matches!(self.shared.side, Side::Server(_)) {
            self.server_orphaned(pending, request);
        }
    }
}
