//! The client transport: sessions with servers, dialled on demand, kept through connection
//! drops, renewed when the server asks for a new session.

use std::collections::HashMap;
use std::sync::Arc;

use statebound::Handle;
use tokio::sync::{mpsc, oneshot};

use super::dial::{DialError, Dialer};
use super::query::{Query, Sessions, answer, ask, tell};
use super::task::{self, Task, for_each};
use super::{Party, Subscribers, TransportError, TransportEvent, publish};
use crate::session::{
    Connection, EndReason, Output, RetryOptions, Sent, SessionContext, SessionDriver,
    SessionOptions, generate_id,
};
use crate::wire::{PartialMessage, ProtocolVersion, Value};

/// Produces the handshake metadata for a server id, consulted before every attempt.
pub type MetadataFn = Arc<dyn Fn(&str) -> Option<Value> + Send + Sync>;

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
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            session: SessionOptions::default(),
            retry: RetryOptions::default(),
            version: ProtocolVersion::V2_0,
            reconnect_on_connection_drop: true,
            metadata: None,
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
            .finish()
    }
}

enum Command {
    Connect(String),
    Send {
        to: String,
        msg: Box<PartialMessage>,
        reply: oneshot::Sender<Result<Sent, TransportError>>,
    },
    HardDisconnect(String),
    Query(Query),
    Close(oneshot::Sender<()>),
}

impl From<Query> for Command {
    fn from(query: Query) -> Self {
        Command::Query(query)
    }
}

struct Dialed {
    to: String,
    handle: Handle,
    result: Result<Box<dyn Connection>, DialError>,
}

/// A River client transport. Cheap to clone; every clone talks to the same task.
#[derive(Clone)]
pub struct ClientTransport {
    client_id: Arc<str>,
    version: ProtocolVersion,
    commands: mpsc::UnboundedSender<Command>,
    subscribers: Subscribers,
}

impl std::fmt::Debug for ClientTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTransport")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl ClientTransport {
    /// A transport with id `client_id` that reaches servers through `dialer`. It connects
    /// nothing until asked. Must be called inside a tokio runtime.
    pub fn new(
        client_id: impl Into<String>,
        dialer: Arc<dyn Dialer>,
        options: ClientOptions,
    ) -> Self {
        let client_id: Arc<str> = Arc::from(client_id.into());
        let (commands, rx) = mpsc::unbounded_channel();
        let subscribers = Subscribers::default();
        let (dialed_tx, dialed_rx) = mpsc::unbounded_channel();
        let version = options.version;
        let actor = Actor {
            client_id: client_id.to_string(),
            dialer,
            options,
            subscribers: subscribers.clone(),
            sessions: HashMap::new(),
            dialed_tx,
            drain_waiters: Vec::new(),
        };
        tokio::spawn(task::run(actor, rx, dialed_rx));
        ClientTransport {
            client_id,
            version,
            commands,
            subscribers,
        }
    }

    /// This transport's id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The protocol version its sessions speak.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Events from now on, in order.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<TransportEvent> {
        self.subscribers.subscribe()
    }

    /// Connects to the server `to`, creating a session if there is none. Harmless while a
    /// connection is on its way or established. Does nothing on a closed transport.
    pub fn connect(&self, to: &str) {
        let _ = self.commands.send(Command::Connect(to.to_owned()));
    }

    /// Sends `msg` to the server `to` on its session (created and connected if needed). While
    /// disconnected the message waits in the session's buffer.
    pub async fn send(&self, to: &str, msg: PartialMessage) -> Result<Sent, TransportError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Send {
                to: to.to_owned(),
                msg: Box::new(msg),
                reply,
            })
            .map_err(|_| TransportError::Closed)?;
        rx.await.map_err(|_| TransportError::Closed)?
    }

    /// Ends the session with `to` at once (its buffer is dropped). A later `connect` starts a
    /// new session.
    pub fn hard_disconnect(&self, to: &str) {
        let _ = self.commands.send(Command::HardDisconnect(to.to_owned()));
    }

    /// The id of the session with `to`, if there is one.
    pub async fn session_id(&self, to: &str) -> Option<String> {
        ask(&self.commands, |r| Query::SessionId(to.to_owned(), r))
            .await
            .flatten()
    }

    /// Waits until the session with `to` has fewer buffered messages than its high-water mark
    /// (or has ended).
    pub async fn wait_for_drain(&self, to: &str) {
        ask(&self.commands, |r| Query::WaitForDrain(to.to_owned(), r)).await;
    }

    /// Test aid: how many sessions have a connection (handshaking or connected).
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

    /// Ends every session and stops reconnecting; later calls fail with
    /// [`TransportError::Closed`]. Closing twice is harmless.
    pub async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Close(reply)).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Actor {
    client_id: String,
    dialer: Arc<dyn Dialer>,
    options: ClientOptions,
    subscribers: Subscribers,
    sessions: HashMap<String, SessionDriver>,
    dialed_tx: mpsc::UnboundedSender<Dialed>,
    drain_waiters: Vec<(String, oneshot::Sender<()>)>,
}

impl Actor {
    fn new_session(&mut self, to: &str) {
        let ctx = SessionContext::new(
            format!("session-{}", generate_id()),
            self.client_id.clone(),
            to,
            self.options.version,
            self.options.session.clone(),
        );
        let mut driver = SessionDriver::client(ctx, self.options.retry.clone());
        driver.set_reconnect(self.options.reconnect_on_connection_drop);
        self.sessions.insert(to.to_owned(), driver);
        self.flush(to);
    }

    fn connect(&mut self, to: &str) {
        if !self.sessions.contains_key(to) {
            self.new_session(to);
        }
        if let Some(driver) = self.sessions.get_mut(to) {
            driver.connect();
        }
        self.flush(to);
    }

    fn command(&mut self, command: Command) -> Option<oneshot::Sender<()>> {
        match command {
            Command::Connect(to) => self.connect(&to),
            Command::Send { to, msg, reply } => {
                if !self.sessions.contains_key(&to) {
                    self.connect(&to);
                }
                let result = match self.sessions.get_mut(&to) {
                    Some(driver) => driver.send(*msg).map_err(TransportError::from),
                    None => Err(TransportError::NoSession(to.clone())),
                };
                let _ = reply.send(result);
                self.flush(&to);
            }
            Command::HardDisconnect(to) => {
                if let Some(driver) = self.sessions.get_mut(&to) {
                    driver.close();
                }
                self.flush(&to);
            }
            Command::Query(query) => answer(self, query),
            Command::Close(reply) => return Some(reply),
        }
        None
    }

    fn dialed(&mut self, dialed: Dialed) {
        let Dialed { to, handle, result } = dialed;
        let Some(driver) = self.sessions.get_mut(&to) else {
            if let Ok(mut conn) = result {
                conn.close(crate::session::CloseCode::SESSION_CONTINUES);
            }
            return;
        };
        match result {
            Ok(conn) => driver.dialed(&handle, Ok(conn)),
            Err(e) if e.fatal && handle.is_live() => {
                tracing::warn!(server = %to, error = %e, "fatal connection error; not reconnecting");
                driver.set_reconnect(false);
                driver.dialed(&handle, Err(e.message));
                driver.close();
            }
            Err(e) => driver.dialed(&handle, Err(e.message)),
        }
        self.flush(&to);
    }

    /// Publishes what the driver for `to` has to say and acts on the rest.
    fn flush(&mut self, to: &str) {
        let Some(driver) = self.sessions.get_mut(to) else {
            return;
        };
        let party = Party::of(driver);
        let outputs = driver.take_outputs();
        let mut ended = None;
        for output in publish(&self.subscribers, &party, outputs) {
            match output {
                Output::Dial(handle) => {
                    if let Some(metadata) = &self.options.metadata {
                        driver.set_metadata(metadata(to));
                    }
                    let dialer = Arc::clone(&self.dialer);
                    let tx = self.dialed_tx.clone();
                    let to = to.to_owned();
                    tokio::spawn(async move {
                        let result = dialer.dial(&to).await;
                        let _ = tx.send(Dialed { to, handle, result });
                    });
                }
                Output::Ended(reason) => ended = Some(reason),
                // Servers' business; a client never sees it.
                Output::HandshakeRequest(_) => {}
                Output::Transition { .. }
                | Output::Status(_)
                | Output::Message(_)
                | Output::ProtocolError(_) => unreachable!("published"),
            }
        }
        if let Some(reason) = ended {
            self.sessions.remove(to);
            match reason {
                EndReason::Retry(rejection) => {
                    tracing::info!(server = %to, %rejection, "server asked for a new session");
                    self.connect(to);
                }
                EndReason::ConnectionLost if self.options.reconnect_on_connection_drop => {
                    self.connect(to);
                }
                _ => {}
            }
        }
    }
}

impl Sessions for Actor {
    fn session(&self, peer: &str) -> Option<&SessionDriver> {
        self.sessions.get(peer)
    }

    fn drivers(&self) -> Vec<&SessionDriver> {
        self.sessions.values().collect()
    }

    fn drop_connections(&mut self) {
        for_each(self, SessionDriver::drop_connection);
    }

    fn drain_waiters(&mut self) -> &mut Vec<(String, oneshot::Sender<()>)> {
        &mut self.drain_waiters
    }
}

impl Task for Actor {
    type Key = String;
    type Command = Command;
    type Internal = Dialed;

    fn drivers_mut(&mut self) -> &mut HashMap<String, SessionDriver> {
        &mut self.sessions
    }

    fn subscribers(&self) -> &Subscribers {
        &self.subscribers
    }

    fn command(&mut self, command: Command) -> Option<oneshot::Sender<()>> {
        Actor::command(self, command)
    }

    fn internal(&mut self, dialed: Dialed) {
        self.dialed(dialed);
    }

    fn flush(&mut self, key: &String) {
        Actor::flush(self, key);
    }
}
