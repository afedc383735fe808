//! The server transport: accepts connections, decides handshakes, keeps one session per client.
//!
//! Every accepted connection gets a task at once. While it waits for its handshake it is a
//! pending connection; its task validates the request and then decides, holding the registry
//! for that moment only: a new session stays in this same task, a resumed one is handed to
//! the task of the session it resumes (which checks the request against its own counters), and
//! a refused one is answered and closed.

use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::command::Command;
use super::events::{DEFAULT_EVENT_CAPACITY, Subscribers};
use super::handler::SessionHandler;
use super::registry::{Entry, Registry, lock};
use super::task::{Revalidation, SessionTask, Shared, Side, Successor, Validation};
use super::ws::{self, WsLimits};
use super::{SessionSnapshot, TransportError, TransportEvent};
use crate::metrics::{Dropped, Metrics};
use crate::session::{
    Connection, Decision, ExistingSession, HandshakeValidator, ParsedRequest, Rejection, Sent,
    SessionContext, SessionDriver, SessionOptions, decide, validate_metadata,
};
use crate::wire::{CodecKind, HandshakeErrorCode, PartialMessage, ProtocolVersion, Value};

/// How a server picks the codec of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecMode {
    /// Always this codec.
    Fixed(CodecKind),
    /// Whatever the connection's first frame is written in, so JSON (TypeScript) and msgpack
    /// (Python) clients share one server.
    Auto,
}

/// A server transport's settings.
#[derive(Clone)]
pub struct ServerOptions {
    /// Session timing. `session.codec` is not used: [`codec`](Self::codec) decides.
    pub session: SessionOptions,
    /// How each connection's codec is chosen.
    pub codec: CodecMode,
    /// Handshake metadata schema and validation, if the server has any.
    pub validator: Option<Arc<dyn HandshakeValidator>>,
    /// WebSocket limits and buffers.
    pub limits: WsLimits,
    /// Protocol versions clients may speak (v1.1 and v2.0).
    pub accepted_versions: Vec<ProtocolVersion>,
    /// How long a TCP connection may take to finish its WebSocket upgrade before it is
    /// dropped (10 s). From then on the session's `handshake_timeout` applies: a connection
    /// without a handshake by then is closed.
    pub upgrade_timeout: Duration,
    /// How many bytes a peer may send on a new socket before its handshake is accepted: the
    /// upgrade request and the handshake frame together (64 KiB). More closes the socket, so
    /// no connection holds more than this before it has a session; once the handshake is
    /// accepted, frames up to [`WsLimits::max_message_size`] are read.
    pub handshake_size_limit: usize,
    /// How many connections may wait for their handshake at once, from TCP accept to the
    /// server's answer (1024). A TCP connection over the cap is closed as soon as it is
    /// accepted; [`accept_connection`](ServerTransport::accept_connection) refuses with
    /// [`TransportError::TooManyPending`].
    pub max_pending_connections: usize,
    /// How many sessions the server holds at once (65,536). A handshake that would start
    /// one more is refused with `SESSION_STATE_MISMATCH`, which River clients take as
    /// retriable: they try again with backoff. Resuming a session is always allowed, and each
    /// client id has at most one session (a new one replaces the old).
    pub max_sessions: usize,
    /// Events each subscriber may have waiting before sessions wait for it to read
    /// ([`DEFAULT_EVENT_CAPACITY`]).
    pub event_capacity: usize,
    /// Where sessions and calls are counted ([`crate::metrics`]); none by default.
    pub metrics: Option<Metrics>,
    /// Whether this server rehandshakes (false): it then asks a client for fresh metadata when
    /// [`ServerTransport::request_rehandshake`] says so, and one handshake timeout before the
    /// [`HandshakeValidator::expiry`] of its metadata; validates the answer again (with the
    /// metadata it replaces as the previous one), and ends the session when the answer is
    /// refused, malformed, or late. Only for clients that answer: River's Python client
    /// ignores the request, so its sessions would end.
    pub rehandshake: bool,
    /// How many threads of their own serve new connections from [`bind`](ServerTransport::bind)
    /// until their handshake is accepted (1; 0 on platforms other than unix). The TCP accept,
    /// the WebSocket upgrade, the handshake's decoding, validation and decision run on a
    /// runtime with these threads; the accepted session then moves, socket and timers, to the
    /// runtime the server was bound from. Established sessions are so never queued behind a
    /// wave of new connections (a reconnect storm, say), and the operating system gives their
    /// threads, quiet most of the time, the CPU first. With 0, new connections are served where
    /// the sessions are. [`accept_connection`](ServerTransport::accept_connection) always
    /// serves a connection on the caller's runtime.
    pub handshake_threads: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            accepted_versions: ProtocolVersion::ALL.to_vec(),
            session: SessionOptions::default(),
            codec: CodecMode::Auto,
            validator: None,
            limits: WsLimits::default(),
            upgrade_timeout: Duration::from_secs(10),
            handshake_size_limit: 64 * 1024,
            max_pending_connections: 1024,
            max_sessions: 65_536,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            metrics: None,
            rehandshake: false,
            handshake_threads: usize::from(cfg!(unix)),
        }
    }
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("session", &self.session)
            .field("codec", &self.codec)
            .field("validator", &self.validator.is_some())
            .field("limits", &self.limits)
            .field("accepted_versions", &self.accepted_versions)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("handshake_size_limit", &self.handshake_size_limit)
            .field("max_pending_connections", &self.max_pending_connections)
            .field("max_sessions", &self.max_sessions)
            .field("event_capacity", &self.event_capacity)
            .field("metrics", &self.metrics.is_some())
            .field("rehandshake", &self.rehandshake)
            .field("handshake_threads", &self.handshake_threads)
            .finish()
    }
}

/// Makes the handler of each new session (the router's dispatcher).
pub(crate) type HandlerFactory = Arc<dyn Fn() -> Box<dyn SessionHandler> + Send + Sync>;

/// What a server's session tasks share beyond the common parts.
pub(crate) struct ServerSide {
    options: ServerOptions,
    accepted: Arc<[ProtocolVersion]>,
    handlers: RwLock<Option<HandlerFactory>>,
    listeners: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// Set by `stop_accepting`: no new connection is taken.
    draining: std::sync::atomic::AtomicBool,
    /// One permit per connection waiting for its handshake.
    pending_slots: Arc<Semaphore>,
    /// Where connections from `bind` wait for their handshake, once the first `bind` made it.
    handshakes: std::sync::OnceLock<Arc<Handshakes>>,
}

/// The runtime new connections are served on until their handshake is accepted
/// ([`ServerOptions::handshake_threads`]), and the runtime their sessions then move to.
struct Handshakes {
    /// Taken (and shut down) when the transport closes.
    runtime: std::sync::Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    sessions: tokio::runtime::Handle,
    /// The task on the sessions' runtime that stops this one when that runtime stops.
    watch: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Handshakes {
    fn new(threads: usize, sessions: tokio::runtime::Handle) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("river-handshakes")
            .enable_all()
            .build()?;
        Ok(Handshakes {
            handle: runtime.handle().clone(),
            runtime: std::sync::Mutex::new(Some(runtime)),
            sessions,
            watch: std::sync::Mutex::new(None),
        })
    }

    /// Stops the runtime without waiting for what still runs on it (a closing socket's last
    /// words): its tasks are dropped, which closes their sockets.
    fn shut_down(&self) {
        let runtime = lock(&self.runtime).take();
        if let Some(runtime) = runtime {
            runtime.shutdown_background();
        }
        let watch = lock(&self.watch).take();
        if let Some(watch) = watch {
            watch.abort();
        }
    }
}

/// Shuts a handshake runtime down when dropped.
struct StopHandshakesOnDrop(Arc<Handshakes>);

impl Drop for StopHandshakesOnDrop {
    fn drop(&mut self) {
        self.0.shut_down();
    }
}

impl Drop for Handshakes {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside another one.
        self.shut_down();
    }
}

/// A River server transport. Cheap to clone; every clone serves the same sessions.
#[derive(Clone)]
pub struct ServerTransport {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTransport")
            .field("server_id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

fn server_side(shared: &Shared) -> &ServerSide {
    match &shared.side {
        Side::Server(side) => side,
        Side::Client(_) => unreachable!("a server transport's side is the server's"),
    }
}

impl ServerTransport {
    /// A server with id `server_id`. It listens nowhere until [`bind`](Self::bind)
    /// (or takes connections from [`accept_connection`](Self::accept_connection)). Must be
    /// used inside a tokio runtime.
    pub fn new(server_id: impl Into<String>, options: ServerOptions) -> Self {
        let shared = Arc::new(Shared {
            id: server_id.into(),
            registry: Arc::new(Registry::default()),
            subscribers: Subscribers::new(options.event_capacity),
            metrics: options.metrics.clone(),
            side: Side::Server(ServerSide {
                accepted: Arc::from(options.accepted_versions.as_slice()),
                pending_slots: Arc::new(Semaphore::new(options.max_pending_connections)),
                options,
                handlers: RwLock::new(None),
                listeners: std::sync::Mutex::default(),
                draining: std::sync::atomic::AtomicBool::new(false),
                handshakes: std::sync::OnceLock::new(),
            }),
        });
        ServerTransport { shared }
    }

    fn side(&self) -> &ServerSide {
        server_side(&self.shared)
    }

    /// This transport's id.
    pub fn server_id(&self) -> &str {
        &self.shared.id
    }

    /// The metrics its sessions report to, from [`ServerOptions::metrics`].
    pub fn metrics(&self) -> Option<&Metrics> {
        self.shared.metrics.as_ref()
    }

    /// Events from now on, in order. Each subscriber has a bounded queue
    /// ([`ServerOptions::event_capacity`]): while it is full, sessions with events for it stop
    /// reading from their connections. Drop the receiver when done.
    pub fn subscribe(&self) -> mpsc::Receiver<TransportEvent> {
        self.shared.subscribers.subscribe(true)
    }

    /// Like [`subscribe`](Self::subscribe), without [`TransportEvent::Message`] events.
    pub fn subscribe_status(&self) -> mpsc::Receiver<TransportEvent> {
        self.shared.subscribers.subscribe(false)
    }

    /// Listens for WebSocket connections on `addr` (`127.0.0.1:0` picks a port) and returns the
    /// address bound. Connections are accepted until the transport closes.
    ///
    /// With [`ServerOptions::handshake_threads`] above 0, the first call starts the threads
    /// new connections are served on, and the sessions they become run on the runtime of the
    /// first call.
    pub async fn bind(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let shared = Arc::clone(&self.shared);
        let (local, task) = match self.handshakes()? {
            None => {
                let listener = TcpListener::bind(addr).await?;
                let local = listener.local_addr()?;
                (local, tokio::spawn(accept_loop(listener, shared)))
            }
            Some(handshakes) => {
                // Bound on the handshake runtime, so its reactor watches the listener.
                let (listener, local) = handshakes
                    .handle
                    .spawn(async move {
                        let listener = TcpListener::bind(addr).await?;
                        let local = listener.local_addr()?;
                        Ok::<_, std::io::Error>((listener, local))
                    })
                    .await
                    .map_err(|_| std::io::Error::other("the server transport is closed"))??;
                (
                    local,
                    handshakes.handle.spawn(accept_loop(listener, shared)),
                )
            }
        };
        self.side()
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
        Ok(local)
    }

    /// The handshake runtime, started on first use; `None` when new connections are served
    /// where the sessions are.
    fn handshakes(&self) -> std::io::Result<Option<&Handshakes>> {
        let side = self.side();
        let threads = side.options.handshake_threads;
        if threads == 0 || cfg!(not(unix)) {
            return Ok(None);
        }
        if side.handshakes.get().is_none() {
            let made = Arc::new(Handshakes::new(threads, tokio::runtime::Handle::current())?);
            // A bind racing this one may have set it first; this one's threads then stop.
            if side.handshakes.set(Arc::clone(&made)).is_ok() {
                // The handshake threads stop with the sessions' runtime too (its tasks are
                // dropped when it shuts down), so a server that is never closed does not
                // keep listening past the runtime that serves its sessions.
                let watch = StopHandshakesOnDrop(Arc::clone(&made));
                let task = tokio::spawn(async move {
                    let _watch = watch;
                    std::future::pending::<()>().await;
                });
                *lock(&made.watch) = Some(task);
            }
        }
        Ok(side.handshakes.get().map(|h| &**h))
    }

    /// Takes a connection to serve (a WebSocket accepted elsewhere, or one end of an in-memory
    /// pair). It must complete its handshake within the handshake timeout.
    pub fn accept_connection(&self, conn: Box<dyn Connection>) -> Result<(), TransportError> {
        if !self.is_accepting() {
            return Err(TransportError::Closed);
        }
        let side = self.side();
        let Ok(slot) = Arc::clone(&side.pending_slots).try_acquire_owned() else {
            dropped(&self.shared, Dropped::PendingCap);
            return Err(TransportError::TooManyPending(
                side.options.max_pending_connections,
            ));
        };
        let task = pending_task(&self.shared, conn, slot).ok_or(TransportError::Closed)?;
        tokio::spawn(task);
        Ok(())
    }

    /// Sends `msg` to the client `to` on its session. While the client is disconnected the
    /// message waits in the session's buffer.
    pub async fn send(&self, to: &str, msg: PartialMessage) -> Result<Sent, TransportError> {
        self.send_inner(to, None, msg).await
    }

    /// Like [`send`](Self::send), but only on the session `session_id`: if the client's session
    /// has ended (or been replaced by a new one), the message is refused rather than delivered to
    /// a session that never asked for it.
    pub async fn send_on_session(
        &self,
        to: &str,
        session_id: &str,
        msg: PartialMessage,
    ) -> Result<Sent, TransportError> {
        self.send_inner(to, Some(Arc::from(session_id)), msg).await
    }

    async fn send_inner(
        &self,
        to: &str,
        session: Option<Arc<str>>,
        msg: PartialMessage,
    ) -> Result<Sent, TransportError> {
        if self.shared.registry.is_closed() {
            return Err(TransportError::Closed);
        }
        let Some(entry) = self.shared.registry.session(to) else {
            return Err(TransportError::NoSession(to.to_owned()));
        };
        match entry.sender.send(msg, session).await {
            // The session's task ended while the message was on its way.
            Err(TransportError::Closed) if !self.shared.registry.is_closed() => {
                Err(TransportError::NoSession(to.to_owned()))
            }
            other => other,
        }
    }

    /// The id of the session with the client `to`, if there is one.
    pub fn session_id(&self, to: &str) -> Option<String> {
        self.shared.registry.session_id(to)
    }

    /// The handshake metadata the client `to` connected with last.
    pub fn metadata(&self, to: &str) -> Option<Value> {
        self.shared.registry.metadata(to)
    }

    /// Waits until the session with `to` has fewer buffered messages than its high-water mark
    /// (or has ended).
    pub async fn wait_for_drain(&self, to: &str) {
        self.shared.registry.wait_for_drain(to).await;
    }

    /// Every session (and, on a server, every connection waiting for its handshake) as it is
    /// now: state, counters, buffer, version and codec.
    pub async fn sessions(&self) -> Vec<SessionSnapshot> {
        self.shared.registry.snapshots().await
    }

    /// Asks the client `to` to rehandshake now (River's `requestRehandshake`): it builds fresh
    /// metadata and sends it, the server validates it again and, once accepted, stores it for
    /// the calls opened from then on. A refused, malformed or missing answer (within the
    /// handshake timeout) ends the session. `false` when nothing was asked: the server does
    /// not rehandshake ([`ServerOptions::rehandshake`]), or the client has no connected
    /// session.
    pub async fn request_rehandshake(&self, to: &str) -> bool {
        let Some(entry) = self.shared.registry.session(to) else {
            return false;
        };
        let (reply, asked) = oneshot::channel();
        if entry.sender.command(Command::Rehandshake(reply)).is_err() {
            return false;
        }
        asked.await.unwrap_or(false)
    }

    /// Test aid: how many connections are open (pending handshakes included).
    pub fn connection_count(&self) -> usize {
        self.shared.registry.connection_count()
    }

    /// Test aid: session and pending-connection tasks still running.
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

    /// Makes every session accepted from now on hand its application messages to a handler
    /// from `factory` (the router).
    pub(crate) fn set_handler(&self, factory: HandlerFactory) {
        *self
            .side()
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(factory);
    }

    /// Starts draining: stops listening and refuses connections from now on, while the
    /// sessions it has go on (each until its client leaves and its grace passes, or until
    /// [`close`](Self::close)). A load balancer's health check sees it in
    /// [`is_accepting`](Self::is_accepting). Returns once the listening sockets are closed,
    /// so a connection attempt from then on is refused.
    pub async fn stop_accepting(&self) {
        let side = self.side();
        side.draining
            .store(true, std::sync::atomic::Ordering::Release);
        let listeners: Vec<JoinHandle<()>> = side
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for task in listeners {
            task.abort();
            // An aborted task has dropped its listener once it is joined.
            let _ = task.await;
        }
    }

    /// Whether new connections are taken: neither draining nor closed.
    pub fn is_accepting(&self) -> bool {
        !self.shared.registry.is_closed()
            && !self
                .side()
                .draining
                .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Stops listening, ends every session and pending connection, and reports the transport
    /// closed. Returns once every session task has finished. Closing twice is harmless.
    pub async fn close(&self) {
        self.stop_accepting().await;
        let first = !self.shared.registry.is_closed();
        self.shared.registry.close().await;
        if let Some(handshakes) = self.side().handshakes.get() {
            handshakes.shut_down();
        }
        if first {
            self.shared
                .subscribers
                .emit_detached(&TransportEvent::TransportClosed);
        }
    }
}

/// Where TCP connections come from: a [`TcpListener`], or a stand-in in tests.
trait Listener: Send + 'static {
    fn poll_accept(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<(TcpStream, SocketAddr)>>;
}

impl Listener for TcpListener {
    fn poll_accept(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<(TcpStream, SocketAddr)>> {
        TcpListener::poll_accept(self, cx)
    }
}

/// The first wait after an accept error, and the longest.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Accepts TCP connections until aborted. Accept errors (out of file descriptors, say) back
/// off instead of spinning: 10 ms, doubling up to a second, reset by the next success.
async fn accept_loop(listener: impl Listener, shared: Arc<Shared>) {
    let mut backoff = ACCEPT_BACKOFF.0;
    loop {
        match std::future::poll_fn(|cx| listener.poll_accept(cx)).await {
            Ok((tcp, peer)) => {
                backoff = ACCEPT_BACKOFF.0;
                let shared = Arc::clone(&shared);
                tokio::spawn(serve_socket(tcp, peer, shared));
            }
            Err(e) => {
                tracing::warn!(error = %e, ?backoff, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
            }
        }
    }
}

/// Upgrades one TCP connection to a WebSocket within the upgrade timeout, then serves it as a
/// pending connection in this same task.
async fn serve_socket(tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let side = server_side(&shared);
    let Ok(slot) = Arc::clone(&side.pending_slots).try_acquire_owned() else {
        tracing::debug!(
            %peer,
            cap = side.options.max_pending_connections,
            "too many connections waiting for their handshake; closing this one"
        );
        dropped(&shared, Dropped::PendingCap);
        return;
    };
    let Some((upgrading, _)) = shared.registry.task() else {
        return;
    };
    let _ = tcp.set_nodelay(true);
    let limits = side.options.limits;
    let (tcp, read_limit) = ws::Limited::new(tcp, side.options.handshake_size_limit);
    let upgraded =
        tokio::time::timeout(side.options.upgrade_timeout, ws::accept(tcp, limits)).await;
    let conn = match upgraded {
        Ok(Ok(conn)) => conn.with_read_limit(read_limit),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "websocket upgrade failed");
            dropped(&shared, Dropped::UpgradeFailed);
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "websocket upgrade timed out");
            dropped(&shared, Dropped::UpgradeTimeout);
            return;
        }
    };
    drop(upgrading);
    let Some(mut task) = pending_task(&shared, Box::new(conn), slot) else {
        return;
    };
    let Some(handshakes) = side.handshakes.get() else {
        task.await;
        return;
    };
    // On the handshake runtime: serve the connection until its handshake is accepted, then
    // move the session to the sessions' runtime.
    let home = handshakes.sessions.clone();
    task.home = Some(home.clone());
    let accepted = std::future::poll_fn(|cx| match Pin::new(&mut task).poll(cx) {
        Poll::Ready(()) => Poll::Ready(false),
        Poll::Pending if task.ready_to_move() => Poll::Ready(true),
        Poll::Pending => Poll::Pending,
    })
    .await;
    if accepted {
        task.rehome(&home);
        home.spawn(task);
    }
}

/// Counts a connection closed before it could handshake, when the server has metrics.
fn dropped(shared: &Shared, reason: Dropped) {
    if let Some(metrics) = &shared.metrics {
        metrics.connection_dropped(reason);
    }
}

/// `decision`, unless it starts one more session than the `cap` a server holding `sessions`
/// may hold: then a refusal with the retriable `SESSION_STATE_MISMATCH`.
fn within_cap(decision: Decision, sessions: usize, cap: usize) -> Decision {
    if matches!(decision, Decision::New { replaces: None }) && sessions >= cap {
        return Decision::Reject {
            rejection: Rejection::new(
                HandshakeErrorCode::SessionStateMismatch,
                format!("the server holds its maximum of {cap} sessions; try again later"),
            ),
            replaces: None,
        };
    }
    decision
}

/// A task for a connection that has yet to send its handshake.
fn pending_task(
    shared: &Arc<Shared>,
    conn: Box<dyn Connection>,
    slot: OwnedSemaphorePermit,
) -> Option<SessionTask> {
    let side = server_side(shared);
    let options = &side.options;
    let mut task = SessionTask::new(shared, options.session.send_buffer_high_water_mark)?;
    let mut ctx = SessionContext::new(
        "",
        shared.id.clone(),
        "",
        ProtocolVersion::V2_0,
        options.session.clone(),
    );
    if let CodecMode::Fixed(kind) = options.codec {
        ctx.codec = kind;
    }
    let mut driver = SessionDriver::server(ctx, conn);
    driver.set_sniff_codec(options.codec == CodecMode::Auto);
    driver.share_accepted_versions(Arc::clone(&side.accepted));
    task.driver = Some(driver);
    task.pending = true;
    task.pending_slot = Some(slot);
    shared.registry.add_pending(Entry {
        sender: task.sender.clone(),
        task: task.task,
    });
    task.publish_info();
    Some(task)
}

impl SessionTask {
    /// A valid handshake request arrived: run the server's validation, then decide.
    pub(super) fn server_validate(&mut self, request: Box<ParsedRequest>) {
        let Some(owner) = self.driver.as_ref().and_then(SessionDriver::handle) else {
            return;
        };
        let side = server_side(&self.shared);
        let validator = side.options.validator.clone();
        let previous = self.shared.registry.metadata(&request.msg.from);
        self.validation = Some(Validation {
            owner,
            fut: Box::pin(async move {
                let outcome = validate_metadata(
                    validator.as_deref(),
                    &request.msg.from,
                    request.request.metadata.as_ref(),
                    previous.as_ref(),
                )
                .await;
                (request, outcome)
            }),
        });
    }

    pub(super) fn server_validated(
        &mut self,
        request: Box<ParsedRequest>,
        outcome: Result<(), Rejection>,
    ) {
        match outcome {
            Err(rejection) => {
                if let Some(driver) = self.driver.as_mut() {
                    driver.reject(&rejection);
                }
                self.after_step();
            }
            Ok(()) => self.decide(*request),
        }
    }

    /// Decides on a validated request against the sessions the registry holds now.
    fn decide(&mut self, request: ParsedRequest) {
        let transparent = server_side(&self.shared)
            .options
            .session
            .enable_transparent_reconnects;
        let registry = Arc::clone(&self.shared.registry);
        let client = request.msg.from.clone();
        let mut sessions = registry.sessions();
        let existing = sessions.get(&client).cloned();
        let existing_id = existing.as_ref().and_then(|e| e.sender.info().session_id());
        let wanted = request.request.session_id.as_str();
        if existing_id.as_deref() != Some(wanted) && registry.has_ended(&client, wanted) {
            // A session this server ended is never started again under its id.
            drop(sessions);
            let rejection = Rejection::new(
                HandshakeErrorCode::SessionStateMismatch,
                format!("session {wanted} has ended"),
            );
            self.refuse(&rejection);
            return;
        }
        if transparent
            && let Some(entry) = &existing
            && existing_id.as_deref() == Some(request.request.session_id.as_str())
        {
            // A resume: the session's own task checks the counters and takes the connection.
            let Some(mut pending) = self.driver.take() else {
                return;
            };
            if let Some(home) = &self.home {
                // The connection joins a session on the sessions' runtime.
                pending.rehome(home);
            }
            match entry
                .sender
                .command(Command::Adopt(Box::new((pending, request))))
            {
                Ok(()) => {
                    drop(sessions);
                    self.finished = true;
                }
                Err(Command::Adopt(back)) => {
                    // That task is gone without having left the registry yet; the session is
                    // over, so decide as if it never was.
                    sessions.remove(&client);
                    drop(sessions);
                    let (pending, request) = *back;
                    self.driver = Some(pending);
                    self.decide(request);
                }
                Err(_) => unreachable!("a refused command comes back as it was"),
            }
            return;
        }
        let other = existing_id.map(|id| ExistingSession {
            id,
            ack: 0,
            next_sent_seq: 0,
        });
        let decision = within_cap(
            decide(&request.request, other.as_ref(), transparent),
            sessions.len(),
            server_side(&self.shared).options.max_sessions,
        );
        let replaced = match &decision {
            Decision::New { replaces } | Decision::Reject { replaces, .. } => replaces.is_some(),
            Decision::Resume => false,
        };
        let mut reported = None;
        if replaced && let Some(old) = sessions.remove(&client) {
            let (tx, rx) = oneshot::channel();
            if old.sender.command(Command::Replace(tx)).is_ok() {
                reported = Some(rx);
            }
        }
        match decision {
            Decision::New { .. } => {
                sessions.insert(
                    client.clone(),
                    Entry {
                        sender: self.sender.clone(),
                        task: self.task,
                    },
                );
                drop(sessions);
                // Listed under the client from now on, so leaving the registry takes it out.
                self.peer = Some(client.clone());
                match reported {
                    // The replaced session reports its end first.
                    Some(reported) => {
                        // Polled next round, so that its end wakes this task.
                        self.again = true;
                        self.successor = Some(Successor {
                            reported,
                            client,
                            request: Box::new(request),
                        });
                    }
                    None => self.become_session(client, &request),
                }
            }
            Decision::Reject { rejection, .. } => {
                drop(sessions);
                self.refuse(&rejection);
            }
            Decision::Resume => unreachable!("resumes are handed to the session's task above"),
        }
    }

    /// Refuses the pending connection's handshake with `rejection`.
    fn refuse(&mut self, rejection: &Rejection) {
        if let Some(driver) = self.driver.as_mut() {
            driver.reject(rejection);
        }
        self.after_step();
    }

    /// This pending connection's task becomes the task of the new session `client`.
    pub(super) fn become_session(&mut self, client: String, request: &ParsedRequest) {
        self.shared.registry.remove_pending(self.task);
        self.pending = false;
        self.pending_slot = None;
        self.peer = Some(client);
        if self.handler.is_none() {
            let factory = server_side(&self.shared)
                .handlers
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            self.handler = factory.map(|make| make());
        }
        self.session_span = crate::trace::session_span(
            "server",
            &request.msg.from,
            &request.request.session_id,
            request.msg.tracing.as_ref(),
        );
        if let Some(driver) = self.driver.as_mut() {
            driver.accept(request);
            self.sender.info().set_metadata(driver.metadata());
        }
        self.schedule_rehandshake();
        self.after_step();
    }

    /// A pending connection asks to resume this session.
    pub(super) fn server_adopt(&mut self, mut pending: SessionDriver, request: ParsedRequest) {
        let Some(driver) = self.driver.as_mut().filter(|d| d.ended().is_none()) else {
            self.server_orphaned(pending, request);
            return;
        };
        let transparent = server_side(&self.shared)
            .options
            .session
            .enable_transparent_reconnects;
        match decide(&request.request, driver.existing().as_ref(), transparent) {
            Decision::Resume => {
                driver.adopt(pending, &request);
                self.sender.info().set_metadata(driver.metadata());
                self.schedule_rehandshake();
                self.after_step();
            }
            Decision::Reject { rejection, .. } => {
                pending.reject(&rejection);
                self.publish_foreign(pending);
            }
            Decision::New { .. } => {
                // Only a request for another session id decides so, and those never come here.
                self.server_orphaned(pending, request);
            }
        }
    }

    /// A resume request reached a session task after its session ended: it is decided again
    /// in a task of its own, as if the session never was.
    pub(super) fn server_orphaned(&mut self, pending: SessionDriver, request: ParsedRequest) {
        let Some(mut task) = SessionTask::new(
            &self.shared,
            server_side(&self.shared)
                .options
                .session
                .send_buffer_high_water_mark,
        ) else {
            return;
        };
        task.driver = Some(pending);
        task.pending = true;
        self.shared.registry.add_pending(Entry {
            sender: task.sender.clone(),
            task: task.task,
        });
        tokio::spawn(async move {
            task.decide(request);
            task.await;
        });
    }
}

/// `at` on tokio's clock (now, if it has passed).
fn instant_of(at: SystemTime) -> Instant {
    let now = Instant::now();
    at.duration_since(SystemTime::now())
        .map_or(now, |left| now + left)
}

impl SessionTask {
    /// After an accepted (re)handshake: the next rehandshake is due one handshake timeout
    /// before the metadata's credential expires.
    fn schedule_rehandshake(&mut self) {
        let options = &server_side(&self.shared).options;
        let (true, Some(validator)) = (options.rehandshake, options.validator.as_ref()) else {
            return;
        };
        if let Some(driver) = self.driver.as_mut() {
            let expiry = validator.expiry(driver.metadata()).map(instant_of);
            driver.schedule_rehandshake(expiry);
        }
    }

    /// `request_rehandshake`: whether the client was asked.
    pub(super) fn server_rehandshake(&mut self) -> bool {
        if !server_side(&self.shared).options.rehandshake {
            return false;
        }
        let asked = self
            .driver
            .as_mut()
            .is_some_and(SessionDriver::request_rehandshake);
        self.after_step();
        asked
    }

    /// The client answered a rehandshake with `metadata`: validate it again, with the metadata
    /// it would replace as the previous one. A server that does not rehandshake, or has no
    /// validator, ignores the answer (as River's server without handshake options does).
    pub(super) fn server_revalidate(&mut self, metadata: Option<Value>) {
        let options = &server_side(&self.shared).options;
        let (true, Some(validator)) = (options.rehandshake, options.validator.clone()) else {
            tracing::debug!(peer = ?self.peer, "ignored an unasked rehandshake response");
            return;
        };
        let Some(driver) = self.driver.as_ref() else {
            return;
        };
        let (from, session_id) = driver.identity();
        let (from, session_id) = (from.to_owned(), session_id.to_owned());
        let previous = driver.metadata().cloned();
        // A newer answer supersedes one still being validated.
        self.revalidation = Some(Revalidation {
            session_id,
            fut: Box::pin(async move {
                let outcome = validate_metadata(
                    Some(validator.as_ref()),
                    &from,
                    metadata.as_ref(),
                    previous.as_ref(),
                )
                .await;
                (metadata, outcome)
            }),
        });
    }

    /// A rehandshake's validation finished for `session_id`: the metadata replaces the
    /// session's, or the session ends. Nothing happens if the session is another one by now.
    pub(super) fn server_revalidated(
        &mut self,
        session_id: &str,
        metadata: Option<Value>,
        outcome: Result<(), Rejection>,
    ) {
        let validator = server_side(&self.shared).options.validator.clone();
        let peer = self.peer.clone();
        let Some(driver) = self.live_driver(session_id) else {
            return;
        };
        match outcome {
            Ok(()) => {
                let expiry = validator
                    .and_then(|v| v.expiry(metadata.as_ref()))
                    .map(instant_of);
                tracing::info!(?peer, "rehandshake accepted");
                driver.rehandshake_accepted(metadata, expiry);
                self.sender
                    .info()
                    .set_metadata(self.driver.as_ref().and_then(SessionDriver::metadata));
            }
            Err(rejection) => {
                driver.fail_rehandshake(format!(
                    "re-handshake metadata rejected by handshake handler: {rejection}"
                ));
            }
        }
        self.after_step();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    use super::*;

    /// A listener whose every accept fails as one out of file descriptors does, counting the
    /// attempts; after 100 it stops answering, so a loop that spins stops too.
    struct Exhausted(Arc<AtomicUsize>);

    impl Listener for Exhausted {
        fn poll_accept(
            &self,
            _: &mut Context<'_>,
        ) -> Poll<std::io::Result<(TcpStream, SocketAddr)>> {
            if self.0.fetch_add(1, Ordering::Relaxed) >= 100 {
                return Poll::Pending;
            }
            Poll::Ready(Err(std::io::Error::from_raw_os_error(24)))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn accept_errors_back_off_instead_of_spinning() {
        let server = ServerTransport::new("SERVER", ServerOptions::default());
        let attempts = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(
            Exhausted(Arc::clone(&attempts)),
            Arc::clone(&server.shared),
        ));
        tokio::time::sleep(Duration::from_secs(10)).await;
        // 10 ms, 20, 40, .., 640, then a second each: 8 waits take 2.55 s, 7 more fill 10 s.
        let n = attempts.load(Ordering::Relaxed);
        assert!((14..=17).contains(&n), "{n} accept attempts in 10 s");
        task.abort();
        server.close().await;
    }
}
