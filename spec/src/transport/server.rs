//! The server transport: accepts connections, decides handshakes, keeps one session per client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::query::{Query, Sessions, answer, ask, tell};
use super::task::{self, Task, for_each};
use super::ws::{self, WsLimits};
use super::{Party, Subscribers, TransportError, TransportEvent, publish};
use crate::session::{
    Connection, Decision, HandshakeValidator, Output, ParsedRequest, Rejection, Sent,
    SessionContext, SessionDriver, SessionOptions, decide, validate_metadata,
};
use crate::wire::{CodecKind, PartialMessage, ProtocolVersion, Value};

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
    /// WebSocket limits.
    pub limits: WsLimits,
    /// Protocol versions clients may speak (v1.1 and v2.0).
    pub accepted_versions: Vec<ProtocolVersion>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            accepted_versions: ProtocolVersion::ALL.to_vec(),
            session: SessionOptions::default(),
            codec: CodecMode::Auto,
            validator: None,
            limits: WsLimits::default(),
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
            .finish()
    }
}

enum Command {
    Accept(Box<dyn Connection>),
    Send {
        to: String,
        session: Option<String>,
        msg: Box<PartialMessage>,
        reply: oneshot::Sender<Result<Sent, TransportError>>,
    },
    Query(Query),
    Close(oneshot::Sender<()>),
}

impl From<Query> for Command {
    fn from(query: Query) -> Self {
        Command::Query(query)
    }
}

struct Validated {
    pending: u64,
    request: Box<ParsedRequest>,
    outcome: Result<(), Rejection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pending(u64),
    Session(String),
}

/// A River server transport. Cheap to clone; every clone talks to the same task.
#[derive(Clone)]
pub struct ServerTransport {
    server_id: Arc<str>,
    commands: mpsc::UnboundedSender<Command>,
    subscribers: Subscribers,
    limits: WsLimits,
    listeners: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for ServerTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTransport")
            .field("server_id", &self.server_id)
            .finish_non_exhaustive()
    }
}

impl ServerTransport {
    /// A server with id `server_id`. It listens nowhere until [`bind`](Self::bind)
    /// (or takes connections from [`accept_connection`](Self::accept_connection)). Must be
    /// called inside a tokio runtime.
    pub fn new(server_id: impl Into<String>, options: ServerOptions) -> Self {
        let server_id: Arc<str> = Arc::from(server_id.into());
        let (commands, rx) = mpsc::unbounded_channel();
        let subscribers = Subscribers::default();
        let (validated_tx, validated_rx) = mpsc::unbounded_channel();
        let limits = options.limits;
        let actor = Actor {
            server_id: server_id.to_string(),
            options,
            subscribers: subscribers.clone(),
            drivers: HashMap::new(),
            next_pending: 0,
            validated_tx,
            drain_waiters: Vec::new(),
        };
        tokio::spawn(task::run(actor, rx, validated_rx));
        ServerTransport {
            server_id,
            commands,
            subscribers,
            limits,
            listeners: Arc::default(),
        }
    }

    /// This transport's id.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// Events from now on, in order.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<TransportEvent> {
        self.subscribers.subscribe()
    }

    /// Listens for WebSocket connections on `addr` (`127.0.0.1:0` picks a port) and returns the
    /// address bound. Connections are accepted until the transport closes.
    pub async fn bind(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let server = self.clone();
        let config = self.limits.config();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let server = server.clone();
                tokio::spawn(async move {
                    match tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await {
                        Ok(ws) => {
                            let _ = server.accept_connection(Box::new(ws::spawn(ws)));
                        }
                        Err(e) => tracing::debug!(%peer, error = %e, "websocket upgrade failed"),
                    }
                });
            }
        });
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(task);
        Ok(local)
    }

    /// Takes a connection to serve (a WebSocket accepted elsewhere, or one end of an in-memory
    /// pair). It must complete its handshake within the handshake timeout.
    pub fn accept_connection(&self, conn: Box<dyn Connection>) -> Result<(), TransportError> {
        self.commands
            .send(Command::Accept(conn))
            .map_err(|_| TransportError::Closed)
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
        self.send_inner(to, Some(session_id.to_owned()), msg).await
    }

    async fn send_inner(
        &self,
        to: &str,
        session: Option<String>,
        msg: PartialMessage,
    ) -> Result<Sent, TransportError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Send {
                to: to.to_owned(),
                session,
                msg: Box::new(msg),
                reply,
            })
            .map_err(|_| TransportError::Closed)?;
        rx.await.map_err(|_| TransportError::Closed)?
    }

    /// The id of the session with the client `to`, if there is one.
    pub async fn session_id(&self, to: &str) -> Option<String> {
        ask(&self.commands, |r| Query::SessionId(to.to_owned(), r))
            .await
            .flatten()
    }

    /// The handshake metadata the client `to` connected with last.
    pub async fn metadata(&self, to: &str) -> Option<Value> {
        ask(&self.commands, |r| Query::Metadata(to.to_owned(), r))
            .await
            .flatten()
    }

    /// Waits until the session with `to` has fewer buffered messages than its high-water mark
    /// (or has ended).
    pub async fn wait_for_drain(&self, to: &str) {
        ask(&self.commands, |r| Query::WaitForDrain(to.to_owned(), r)).await;
    }

    /// Test aid: how many connections are open (pending handshakes included).
    pub async fn connection_count(&self) -> usize {
        ask(&self.commands, Query::ConnectionCount)
            .await
            .unwrap_or(0)
    }

    /// Test aid: drops every connection as a network failure would; sessions live on.
    pub fn drop_connections(&self) {
        tell(&self.commands, Query::DropConnections);
    }

    /// Test aid: stops (or resumes) delivery on every connection while keeping it open.
    pub fn set_phantom_disconnect(&self, on: bool) {
        tell(&self.commands, Query::Phantom(on));
    }

    /// Stops listening, ends every session and pending connection, and reports the transport
    /// closed. Closing twice is harmless.
    pub async fn close(&self) {
        for task in self
            .listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Close(reply)).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Actor {
    server_id: String,
    options: ServerOptions,
    subscribers: Subscribers,
    drivers: HashMap<Key, SessionDriver>,
    next_pending: u64,
    validated_tx: mpsc::UnboundedSender<Validated>,
    drain_waiters: Vec<(String, oneshot::Sender<()>)>,
}

impl Actor {
    fn command(&mut self, command: Command) -> Option<oneshot::Sender<()>> {
        match command {
            Command::Accept(conn) => {
                let mut ctx = SessionContext::new(
                    "",
                    self.server_id.clone(),
                    "",
                    ProtocolVersion::V2_0,
                    self.options.session.clone(),
                );
                if let CodecMode::Fixed(kind) = self.options.codec {
                    ctx.codec = kind;
                }
                let mut driver = SessionDriver::server(ctx, conn);
                driver.set_sniff_codec(self.options.codec == CodecMode::Auto);
                driver.set_accepted_versions(&self.options.accepted_versions);
                self.next_pending += 1;
                let key = Key::Pending(self.next_pending);
                self.drivers.insert(key.clone(), driver);
                self.flush(&key);
            }
            Command::Send {
                to,
                session,
                msg,
                reply,
            } => {
                let key = Key::Session(to.clone());
                let result = match self.drivers.get_mut(&key) {
                    Some(driver)
                        if session
                            .as_deref()
                            .is_none_or(|id| driver.identity().1 == id) =>
                    {
                        driver.send(*msg).map_err(TransportError::from)
                    }
                    Some(_) | None => Err(TransportError::NoSession(to)),
                };
                let _ = reply.send(result);
                self.flush(&key);
            }
            Command::Query(query) => answer(self, query),
            Command::Close(reply) => return Some(reply),
        }
        None
    }

    /// Publishes what the driver under `key` has to say and acts on the rest.
    fn flush(&mut self, key: &Key) {
        let Some(driver) = self.drivers.get_mut(key) else {
            return;
        };
        let party = Party::of(driver);
        let outputs = driver.take_outputs();
        let mut ended = false;
        for output in publish(&self.subscribers, &party, outputs) {
            match output {
                Output::HandshakeRequest(request) => {
                    let Key::Pending(pending) = *key else {
                        continue;
                    };
                    self.start_validation(pending, request);
                }
                Output::Ended(_) => ended = true,
                // Clients' business; a server never sees it.
                Output::Dial(_) => {}
                Output::Transition { .. }
                | Output::Status(_)
                | Output::Message(_)
                | Output::ProtocolError(_) => unreachable!("published"),
            }
        }
        if ended {
            self.drivers.remove(key);
        }
    }

    fn start_validation(&self, pending: u64, request: Box<ParsedRequest>) {
        let validator = self.options.validator.clone();
        let previous = self
            .session(&request.msg.from)
            .and_then(|d| d.metadata().cloned());
        let tx = self.validated_tx.clone();
        tokio::spawn(async move {
            let outcome =
                validate_metadata(validator.as_deref(), &request.request, previous.as_ref()).await;
            let _ = tx.send(Validated {
                pending,
                request,
                outcome,
            });
        });
    }

    fn validated(&mut self, validated: Validated) {
        let Validated {
            pending,
            request,
            outcome,
        } = validated;
        let pending_key = Key::Pending(pending);
        // The pending connection may have timed out or closed while the hook ran.
        let Some(mut driver) = self.drivers.remove(&pending_key) else {
            return;
        };
        let client = request.msg.from.clone();
        let session_key = Key::Session(client.clone());
        if let Err(rejection) = outcome {
            driver.reject(&rejection);
            self.drivers.insert(pending_key.clone(), driver);
            self.flush(&pending_key);
            return;
        }
        let existing = self.session(&client).and_then(SessionDriver::existing);
        let transparent = self.options.session.enable_transparent_reconnects;
        match decide(&request.request, existing.as_ref(), transparent) {
            Decision::Resume => {
                let Some(session) = self.drivers.get_mut(&session_key) else {
                    unreachable!("resume is decided on an existing session")
                };
                session.adopt(driver, &request);
                self.flush(&session_key);
            }
            Decision::New { replaces } => {
                if replaces.is_some() {
                    self.end_replaced(&session_key);
                }
                driver.accept(&request);
                self.drivers.insert(session_key.clone(), driver);
                self.flush(&session_key);
            }
            Decision::Reject {
                rejection,
                replaces,
            } => {
                if replaces.is_some() {
                    self.end_replaced(&session_key);
                }
                driver.reject(&rejection);
                self.drivers.insert(pending_key.clone(), driver);
                self.flush(&pending_key);
            }
        }
    }

    fn end_replaced(&mut self, key: &Key) {
        if let Some(old) = self.drivers.get_mut(key) {
            old.replace();
        }
        self.flush(key);
    }
}

impl Sessions for Actor {
    fn session(&self, peer: &str) -> Option<&SessionDriver> {
        self.drivers.get(&Key::Session(peer.to_owned()))
    }

    fn drivers(&self) -> Vec<&SessionDriver> {
        self.drivers.values().collect()
    }

    fn drop_connections(&mut self) {
        for_each(self, SessionDriver::drop_connection);
    }

    fn drain_waiters(&mut self) -> &mut Vec<(String, oneshot::Sender<()>)> {
        &mut self.drain_waiters
    }
}

impl Task for Actor {
    type Key = Key;
    type Command = Command;
    type Internal = Validated;

    fn drivers_mut(&mut self) -> &mut HashMap<Key, SessionDriver> {
        &mut self.drivers
    }

    fn subscribers(&self) -> &Subscribers {
        &self.subscribers
    }

    fn command(&mut self, command: Command) -> Option<oneshot::Sender<()>> {
        Actor::command(self, command)
    }

    fn internal(&mut self, validated: Validated) {
        self.validated(validated);
    }

    fn flush(&mut self, key: &Key) {
        Actor::flush(self, key);
    }
}
