//! What reaches a session task from outside: sends, and the few commands transports give.
//!
//! A session's inbox is one ordered queue. Everything that sends on the session goes through
//! it (the transport's `send`, and the router's responses from any task), so messages pushed
//! one after another go out in that order whichever call they belong to.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::handler::SessionHandler;
use super::registry::SessionInfo;
use super::{SessionSnapshot, TransportError};
use crate::session::{ParsedRequest, Sent, SessionDriver};
use crate::wire::PartialMessage;

/// What the router's client attaches to a message it sends, handed back to it once the message
/// is sent (or refused).
pub(crate) type Attachment = crate::router::client::Attach;

/// A message to send on a session.
pub(crate) struct Outgoing {
    pub(crate) msg: PartialMessage,
    /// Send only on this session (refused if the peer's session is another one by now).
    pub(crate) session: Option<Arc<str>>,
    pub(crate) reply: Option<oneshot::Sender<Result<Sent, TransportError>>>,
    pub(crate) attach: Option<Attachment>,
}

impl Outgoing {
    pub(crate) fn new(msg: PartialMessage) -> Self {
        Outgoing {
            msg,
            session: None,
            reply: None,
            attach: None,
        }
    }
}

pub(crate) enum Command {
    Send(Box<Outgoing>),
    /// Client: create the session if there is none, and connect.
    Connect,
    /// Client: end the session at once.
    HardDisconnect,
    /// Test aid: drop the connection as a network failure would.
    DropConnection,
    /// Test aid: swallow frames both ways while keeping the connection open.
    Phantom(bool),
    /// Server: a pending connection asks to resume this session.
    Adopt(Box<(SessionDriver, ParsedRequest)>),
    /// Server: the client connected with another session id; this one ends. The sender is
    /// dropped once the end is reported, so the new session is reported after it.
    Replace(oneshot::Sender<()>),
    /// Server: ask the client for a rehandshake now; the answer says whether it was asked.
    Rehandshake(oneshot::Sender<bool>),
    /// Installs the handler of application messages (client: the router of one server).
    Install(Box<dyn SessionHandler>),
    /// The transport is closing: end the session and stop.
    Close,
    /// Report what the session looks like now.
    Inspect(oneshot::Sender<SessionSnapshot>),
}

/// The sending end of a session task's inbox, with the facts the task publishes.
#[derive(Debug, Clone)]
pub(crate) struct SessionSender {
    tx: mpsc::UnboundedSender<Command>,
    info: Arc<SessionInfo>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Send(_) => "Send",
            Command::Connect => "Connect",
            Command::HardDisconnect => "HardDisconnect",
            Command::DropConnection => "DropConnection",
            Command::Phantom(_) => "Phantom",
            Command::Adopt(_) => "Adopt",
            Command::Replace(_) => "Replace",
            Command::Rehandshake(_) => "Rehandshake",
            Command::Install(_) => "Install",
            Command::Close => "Close",
            Command::Inspect(_) => "Inspect",
        })
    }
}

impl SessionSender {
    pub(crate) fn new(high_water_mark: usize) -> (Self, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let info = Arc::new(SessionInfo::new(high_water_mark));
        (SessionSender { tx, info }, rx)
    }

    pub(crate) fn info(&self) -> &Arc<SessionInfo> {
        &self.info
    }

    /// Queues `command`; gives it back when the task is gone.
    pub(crate) fn command(&self, command: Command) -> Result<(), Command> {
        self.tx.send(command).map_err(|e| e.0)
    }

    /// Queues a message without waiting for its outcome. `false` when the task is gone.
    pub(crate) fn push(&self, out: Outgoing) -> bool {
        self.info.queue();
        let pushed = self.command(Command::Send(Box::new(out))).is_ok();
        if !pushed {
            self.info.unqueue(1);
        }
        pushed
    }

    /// Sends `msg` (only on `session`, if given) and waits for the outcome.
    pub(crate) async fn send(
        &self,
        msg: PartialMessage,
        session: Option<Arc<str>>,
    ) -> Result<Sent, TransportError> {
        let (reply, rx) = oneshot::channel();
        let out = Outgoing {
            msg,
            session,
            reply: Some(reply),
            attach: None,
        };
        self.info.queue();
        if self.command(Command::Send(Box::new(out))).is_err() {
            self.info.unqueue(1);
            return Err(TransportError::Closed);
        }
        rx.await.map_err(|_| TransportError::Closed)?
    }

    /// Whether the task is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}
