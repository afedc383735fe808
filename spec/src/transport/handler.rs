//! How the router plugs into a session task: a handler that the task hands each application
//! message to and polls for its own work, on the task that owns the session.
//!
//! Running in the session's task is what makes per-message work independent of the number of
//! sessions (no shared dispatcher), keeps every call's responses in the session's one ordered
//! queue, and lets a handler that cannot take another message hold the session's reading back.

use std::task::{Context, Poll};

use super::command::{Attachment, SessionSender};
use std::sync::Arc;

use crate::session::SendError;
use crate::wire::{ProtocolVersion, TransportMessage, Value};

/// What a handler may know and use of its session.
#[derive(Debug)]
pub(crate) struct HandlerIo<'a> {
    /// The session's inbox: everything a handler sends goes through it, in order.
    pub(crate) sender: &'a SessionSender,
    /// The peer's id.
    pub(crate) peer: &'a str,
    /// The current session's id (empty while a client task has no session).
    pub(crate) session_id: &'a str,
    /// The session's protocol version.
    pub(crate) version: ProtocolVersion,
    /// The handshake metadata the session was accepted with (server).
    pub(crate) metadata: Option<&'a Value>,
    /// The session's span ([`crate::trace`]).
    pub(crate) span: &'a tracing::Span,
}

/// What became of a message a session took.
#[derive(Debug, Clone)]
pub(crate) struct Taken {
    /// The session it went out on.
    pub(crate) session_id: Arc<str>,
}

/// Application-level work of one session task.
pub(crate) trait SessionHandler: Send + 'static {
    /// An application message arrived, in order. Returns it when it is not this handler's (it
    /// is then published as a transport event).
    fn message(&mut self, msg: TransportMessage, io: &HandlerIo<'_>) -> Option<TransportMessage>;

    /// A message from the inbox that carried an attachment was sequenced (or refused).
    fn sent(
        &mut self,
        stream_id: String,
        attach: Attachment,
        outcome: Result<Taken, SendError>,
        io: &HandlerIo<'_>,
    );

    /// Drives the handler's own futures.
    fn poll(&mut self, cx: &mut Context<'_>, io: &HandlerIo<'_>);

    /// Whether another message may be handed over; `Pending` while one waits for room.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()>;

    /// The session ended; whatever belonged to it is finished.
    fn session_ended(&mut self, io: &HandlerIo<'_>);
}
