//! The client transport: sessions with servers, dialled on demand, kept through connection
//! drops, renewed when the server asks for a new session.
//!
//! Each server the client talks to has one task for the transport's whole life; it holds the
//! current session with that server (one after another, when sessions end and new ones
//! start), its dial in flight, and the router client's calls.

use std::sync::Arc;

use statebound::Handle;
use tokio::sync::mpsc;

use super::command::{Command, SessionSender};
use super::dial::{DialError, Dialer};
use super::events::{DEFAULT_EVENT_CAPACITY, Subscribers};
use super::handler::SessionHandler;
use super::registry::{Entry, Registry};
use super::task::{Dial, MetadataBuild, Rebuild, SessionTask, Shared, Side};
use super::{SessionSnapshot, TransportError, TransportEvent};
use crate::metrics::Metrics;
use crate::session::{
    BoxFuture, CloseCode, Connection, EndReason, RetryOptions, Sent, SessionContext, SessionDriver,
    SessionOptions, generate_id,
};
use crate::wire::{PartialMessage, ProtocolVersion, Value};

/// Why handshake metadata could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MetadataError(pub String);

/// Builds the handshake metadata for a server id (River's `construct`), before every handshake:
/// it may take its time (fetch a fresh token, say) and may fail. A failure ends the session
/// with a `handshake_failed` protocol error; the next `connect` or send starts a new one. The
/// handshake timeout counts the time it takes once the connection is up (see
/// [`ClientOptions::eager_metadata`]).
pub type MetadataFn =
    Arc<dyn Fn(&str) -> BoxFuture<'static, Result<Option<Value>, MetadataError>> + Send + Sync>;

/// A [`MetadataFn`] from a function that builds the metadata at once and cannot fail.
pub fn metadata_fn(f: impl Fn(&str) -> Option<Value> + Send + Sync + 'static) -> MetadataFn {
    Arc::new(move |to| {
        let metadata = f(to);
        Box::pin(async move { Ok(metadata) })
    })
}

/// A client transport's settings.
#[derive(Clone)]
pub struct ClientOptions {
    /// Session timing and the codec.
    pub session: SessionOptions,
    /// Reconnection pacing.
    pub retry: RetryOptions,
    /// The protocol version to speak (v2.0; v1.1 for v1.1 servers).
    pub version: ProtocolVersion,
    /// Whether a lost connection is re-established automatically (true).
    pub reconnect_on_connection_drop: bool,
    /// Handshake metadata, if the server wants some.
    pub metadata: Option<MetadataFn>,
    /// Whether the metadata is built while the connection is dialled rather than once it is up
    /// (false; River's `eager`): a slow build then overlaps the dial, but runs for every
    /// attempt, including those that never connect.
    pub eager_metadata: bool,
    /// Events each subscriber may have waiting before sessions wait for it to read
    /// ([`DEFAULT_EVENT_CAPACITY`]).
    pub event_capacity: usize,
    /// Where sessions are counted ([`crate::metrics`]); none by default.
    pub metrics: Option<Metrics>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            session: SessionOptions::default(),
            retry: RetryOptions::default(),
            version: ProtocolVersion::V2_0,
            reconnect_on_connection_drop: true,
            metadata: None,
            eager_metadata: false,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            metrics: None,
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("session", &self.session)
            .field("retry", &self.retry)
            .field("version", &self.version)
            .field(
                "reconnect_on_connection_drop",
                &self.reconnect_on_connection_drop,
            )
            .field("metadata", &self.metadata.is_some())
            .field("eager_metadata", &self.eager_metadata)
            .field("event_capacity", &self.event_capacity)
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

/// What a client's session tasks share beyond the common parts.
pub(crate) struct ClientSide {
    dialer: Arc<dyn Dialer>,
    options: ClientOptions,
}

/// A River client transport. Cheap to clone; every clone talks to the same sessions.
#[derive(Clone)]
pub struct ClientTransport {
    shared: Arc<Shared>,
    version: ProtocolVersion,
}

impl std::fmt::Debug for ClientTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTransport")
            .field("client_id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl ClientTransport {
    /// A transport with id `client_id` that reaches servers through `dialer`. It connects
    /// nothing until asked. Must be used inside a tokio runtime.
    pub fn new(
        client_id: impl Into<String>,
        dialer: Arc<dyn Dialer>,
        options: ClientOptions,
    ) -> Self {
        let version = options.version;
        let shared = Arc::new(Shared {
            id: client_id.into(),
            registry: Arc::new(Registry::default()),
            subscribers: Subscribers::new(options.event_capacity),
            metrics: options.metrics.clone(),
            side: Side::Client(ClientSide { dialer, options }),
        });
        ClientTransport { shared, version }
    }

    /// This transport's id.
    pub fn client_id(&self) -> &str {
        &self.shared.id
    }

    /// The protocol version its sessions speak.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Events from now on, in order. Each subscriber has a bounded queue
    /// ([`ClientOptions::event_capacity`]): while it is full, sessions with events for it stop
    /// reading from their connections. Drop the receiver when done.
    pub fn subscribe(&self) -> mpsc::Receiver<TransportEvent> {
        self.shared.subscribers.subscribe(true)
    }

    /// Like [`subscribe`](Self::subscribe), without [`TransportEvent::Message`] events.
    pub fn subscribe_status(&self) -> mpsc::Receiver<TransportEvent> {
        self.shared.subscribers.subscribe(false)
    }

    /// The task for the server `to`, started if there is none yet.
    fn task(&self, to: &str) -> Result<SessionSender, TransportError> {
        let registry = &self.shared.registry;
        let mut sessions = registry.sessions();
        if let Some(entry) = sessions.get(to) {
            return Ok(entry.sender.clone());
        }
        let hwm = self.side().options.session.send_buffer_high_water_mark;
        let mut task = SessionTask::new(&self.shared, hwm).ok_or(TransportError::Closed)?;
        task.peer = Some(to.to_owned());
        let sender = task.sender.clone();
        sessions.insert(
            to.to_owned(),
            Entry {
                sender: sender.clone(),
                task: task.task,
            },
        );
        drop(sessions);
        tokio::spawn(task);
        Ok(sender)
    }

    fn side(&self) -> &ClientSide {
        match &self.shared.side {
            Side::Client(side) => side,
            Side::Server(_) => unreachable!("a client transport's side is the client's"),
        }
    }

    /// Connects to the server `to`, creating a session if there is none. Harmless while a
    /// connection is on its way or established. Does nothing on a closed transport.
    pub fn connect(&self, to: &str) {
        if let Ok(task) = self.task(to) {
            let _ = task.command(Command::Connect);
        }
    }

    /// Sends `msg` to the server `to` on its session (created and connected if needed). While
    /// disconnected the message waits in the session's buffer.
    pub async fn send(&self, to: &str, msg: PartialMessage) -> Result<Sent, TransportError> {
        self.task(to)?.send(msg, None).await
    }

    /// Ends the session with `to` at once (its buffer is dropped). A later `connect` starts a
    /// new session.
    pub fn hard_disconnect(&self, to: &str) {
        if let Some(entry) = self.shared.registry.session(to) {
            let _ = entry.sender.command(Command::HardDisconnect);
        }
    }

    /// The id of the session with `to`, if there is one.
    pub fn session_id(&self, to: &str) -> Option<String> {
        self.shared.registry.session_id(to)
    }

    /// Waits until the session with `to` has fewer buffered messages than its high-water mark
    /// (or has ended).
    pub async fn wait_for_drain(&self, to: &str) {
        self.shared.registry.wait_for_drain(to).await;
    }

    /// Every session this transport has (one per server) as it is now: state, counters,
    /// buffer, version and codec.
    pub async fn sessions(&self) -> Vec<SessionSnapshot> {
        self.shared.registry.snapshots().await
    }

    /// Test aid: how many sessions have a connection (handshaking or connected).
    pub fn connection_count(&self) -> usize {
        self.shared.registry.connection_count()
    }

    /// Test aid: tasks still running (one per server this transport has talked to, until it
    /// is closed).
    pub fn live_tasks(&self) -> usize {
        self.shared.registry.live_tasks()
    }

    /// Test aid: drops every connection as a network failure would; sessions live on.
    pub fn drop_connections(&self) {
        self.shared.registry.broadcast(|| Command::DropConnection);
    }

    /// Test aid: stops (or resumes) delivery on every connection while keeping it open.
    pub fn set_phantom_disconnect(&self, on: bool) {
        self.shared.registry.broadcast(|| Command::Phantom(on));
    }

    /// Hands the application messages of the sessions with `to` to `handler` (the router's
    /// client), and returns that task's inbox.
    pub(crate) fn install(
        &self,
        to: &str,
        handler: Box<dyn SessionHandler>,
    ) -> Result<SessionSender, TransportError> {
        let task = self.task(to)?;
        task.command(Command::Install(handler))
            .map_err(|_| TransportError::Closed)?;
        Ok(task)
    }

    /// Ends every session and stops reconnecting; later calls fail with
    /// [`TransportError::Closed`]. Returns once every session task has finished. Closing twice
    /// is harmless.
    pub async fn close(&self) {
        let first = !self.shared.registry.is_closed();
        self.shared.registry.close().await;
        if first {
            self.shared
                .subscribers
                .emit_detached(&TransportEvent::TransportClosed);
        }
    }
}

fn client_side(shared: &Shared) -> &ClientSide {
    match &shared.side {
        Side::Client(side) => side,
        Side::Server(_) => unreachable!("only client tasks call this"),
    }
}

impl SessionTask {
    /// Starts a session with the task's server if there is none.
    pub(super) fn ensure_client_session(&mut self) {
        if self.closing || self.driver.as_ref().is_some_and(|d| d.ended().is_none()) {
            return;
        }
        let side = client_side(&self.shared);
        let to = self.peer.clone().unwrap_or_default();
        let mut ctx = SessionContext::new(
            format!("session-{}", generate_id()),
            self.shared.id.clone(),
            to,
            side.options.version,
            side.options.session.clone(),
        );
        self.session_span = crate::trace::session_span("client", &ctx.to, &ctx.id, None);
        ctx.tracing = crate::trace::context_of(&self.session_span);
        let mut driver = SessionDriver::client(ctx, side.options.retry.clone());
        driver.set_reconnect(side.options.reconnect_on_connection_drop);
        driver.set_await_metadata(side.options.metadata.is_some());
        self.driver = Some(driver);
        self.after_step();
    }

    pub(super) fn client_connect(&mut self) {
        self.ensure_client_session();
        if let Some(driver) = self.driver.as_mut() {
            driver.connect();
        }
        self.after_step();
    }

    pub(super) fn client_dial(&mut self, owner: Handle) {
        let side = client_side(&self.shared);
        let to = self.peer.clone().unwrap_or_default();
        // An eager build from an earlier attempt is replaced: each attempt builds afresh.
        self.metadata_build = match &side.options.metadata {
            Some(build) if side.options.eager_metadata => Some(MetadataBuild::new(build(&to))),
            _ => None,
        };
        let dialer = Arc::clone(&side.dialer);
        self.dial = Some(Dial {
            owner,
            fut: Box::pin(async move { dialer.dial(&to).await }),
        });
    }

    /// The connection `owner` is up and its handshake waits for the metadata: the build made
    /// while dialling is handed to it, or one starts now.
    pub(super) fn client_build_metadata(&mut self, owner: Handle) {
        let side = client_side(&self.shared);
        let Some(build_fn) = &side.options.metadata else {
            // Only a client with a metadata function awaits it.
            if let Some(driver) = self.driver.as_mut() {
                driver.metadata_built(&owner, Ok(None));
            }
            self.after_step();
            return;
        };
        let to = self.peer.clone().unwrap_or_default();
        let build = self
            .metadata_build
            .get_or_insert_with(|| MetadataBuild::new(build_fn(&to)));
        build.owner = Some(owner);
    }

    /// A metadata build finished for the handshake `owner`.
    pub(super) fn client_metadata_built(
        &mut self,
        owner: &Handle,
        result: Result<Option<Value>, MetadataError>,
    ) {
        if let Err(e) = &result {
            let to = self.peer.as_deref().unwrap_or_default();
            tracing::warn!(server = %to, error = %e, "could not build handshake metadata");
        }
        if let Some(driver) = self.driver.as_mut() {
            driver.metadata_built(owner, result.map_err(|e| e.0));
        }
        self.after_step();
    }

    /// The server asked for a rehandshake: fresh metadata is built for the current session,
    /// and sent on it once built. A client without a metadata function ignores the request, as
    /// River's does (the server will end the session when its window passes).
    pub(super) fn client_rehandshake(&mut self) {
        let side = client_side(&self.shared);
        let to = self.peer.clone().unwrap_or_default();
        let Some(build) = &side.options.metadata else {
            tracing::warn!(server = %to, "rehandshake requested, but this client builds no metadata; ignored");
            return;
        };
        let Some(session_id) = self.driver.as_ref().map(|d| d.identity().1.to_owned()) else {
            return;
        };
        self.rehandshake_build = Some(Rebuild {
            session_id,
            fut: build(&to),
        });
    }

    /// The metadata for a rehandshake of `session_id` is built: it is sent, unless that
    /// session is over (a hard reconnect meanwhile must not hand it stale metadata). A build
    /// that fails is only logged, as River's client logs it.
    pub(super) fn client_rehandshake_built(
        &mut self,
        session_id: &str,
        result: Result<Option<Value>, MetadataError>,
    ) {
        let to = self.peer.clone().unwrap_or_default();
        let metadata = match result {
            Ok(metadata) => metadata,
            Err(e) => {
                tracing::error!(server = %to, error = %e, "could not build metadata for a rehandshake");
                return;
            }
        };
        let Some(driver) = self.live_driver(session_id) else {
            return;
        };
        if let Err(e) = driver.send_unreported(PartialMessage::rehandshake_response(metadata)) {
            tracing::error!(server = %to, error = %e, "could not send the rehandshake response");
        }
        self.after_step();
    }

    pub(super) fn client_dialed(
        &mut self,
        owner: &Handle,
        result: Result<Box<dyn Connection>, DialError>,
    ) {
        let Some(driver) = self.driver.as_mut() else {
            if let Ok(mut conn) = result {
                conn.close(CloseCode::SESSION_CONTINUES);
            }
            return;
        };
        match result {
            Ok(conn) => driver.dialed(owner, Ok(conn)),
            Err(e) if e.fatal && owner.is_live() => {
                let to = self.peer.as_deref().unwrap_or_default();
                tracing::warn!(server = %to, error = %e, "fatal connection error; not reconnecting");
                driver.set_reconnect(false);
                driver.dialed(owner, Err(e.message));
                driver.close();
            }
            Err(e) => driver.dialed(owner, Err(e.message)),
        }
        self.after_step();
    }

    /// The session ended: a new one starts at once when the server asked for one (or the
    /// connection dropped on a client that does not resume sessions); otherwise the task waits
    /// for the next `connect` or send.
    pub(super) fn client_session_ended(&mut self, reason: EndReason) {
        self.dial = None;
        self.metadata_build = None;
        self.rehandshake_build = None;
        if self.closing {
            return;
        }
        let reconnect = client_side(&self.shared)
            .options
            .reconnect_on_connection_drop;
        let to = self.peer.clone().unwrap_or_default();
        match reason {
            EndReason::Retry(rejection) => {
                tracing::info!(server = %to, %rejection, "server asked for a new session");
                self.driver = None;
                self.client_connect();
            }
            EndReason::ConnectionLost if reconnect => {
                self.driver = None;
                self.client_connect();
            }
            _ => {}
        }
    }
}
