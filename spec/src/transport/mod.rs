//! Client and server transports: sessions bound to real connections (WebSocket on
//! tokio-tungstenite, or in-memory pairs for tests), with River's events.
//!
//! Every session runs in a task of its own, which owns its [`SessionDriver`](crate::session::SessionDriver),
//! its connection and its timers; the transport value is a cheap handle onto a registry of
//! those tasks. Work for one session never touches another, so a server with many quiet
//! sessions spends nothing on them but their heartbeats, and sessions use every worker thread
//! of the runtime.
//!
//! A server's new connections wait for their handshake on threads of their own
//! ([`ServerOptions::handshake_threads`], one by default): the TCP accept, the WebSocket
//! upgrade and the handshake's decoding, validation and decision run there, and an accepted
//! session then moves, socket and timers, to the runtime the server was bound from. A wave of
//! new connections (a reconnect storm after a deploy, say) so queues behind itself, not in
//! front of established sessions, whose threads are quiet most of the time and get the CPU
//! first from the operating system.
//!
//! # Bounds
//!
//! Whatever a peer can make us hold is bounded, and what happens at each bound is this:
//!
//! - **Inbound frames** are read from a connection only when what they produce has somewhere
//!   to go; the socket's own buffers (and TCP's flow control) hold the rest, so a peer that
//!   sends faster than its session is served is slowed down. While reading is held back, the
//!   session's liveness watchdog counts the peer as alive.
//! - **Events**: each subscriber has a bounded queue ([`DEFAULT_EVENT_CAPACITY`] events, set in
//!   the options). While a subscriber's queue is full, the sessions with events for it stop
//!   reading their connections (timers and sends go on) until it makes room. A subscriber that
//!   is dropped no longer counts. A closing transport waits two seconds for a full subscriber,
//!   then drops the events it could not deliver, with a warning.
//! - **Requests of a stream or upload call** wait in a bounded queue for the handler
//!   ([`crate::router`]); while it is full, the session stops reading, so a slow handler slows
//!   its own client down.
//! - **Responses of a stream or subscription call** wait in a bounded queue for the client's
//!   reader; while it is full, the client's session stops reading, which slows the server down.
//! - **Outbound frames** are written as the socket takes them; frames queued while a write is
//!   in flight go out together with one flush. What has not been written yet is the unacknowledged
//!   part of the send buffer, not a copy. The send buffer reports backpressure at its high-water
//!   mark ([`SessionOptions::send_buffer_high_water_mark`](crate::session::SessionOptions)):
//!   `send` says so in [`Sent::backpressured`](crate::session::Sent), and `wait_for_drain` waits
//!   (counting, besides the buffer, the messages pushed into the session's inbox and not yet
//!   taken). The router's writers report the same mark ([`crate::router::Written`]).
//! - **Connection buffers**: tungstenite reads 4 KiB at a time and gathers at most 8 KiB plus one
//!   frame before writing ([`WsLimits`]); a frame larger than `max_message_size` closes the
//!   connection.
//! - **The send buffer** holds at most
//!   [`SessionOptions::send_buffer_max_messages`](crate::session::SessionOptions) messages
//!   (16,384) and `send_buffer_max_bytes` (128 MiB); past either, `send` fails with
//!   [`SendError::BufferFull`](crate::session::SendError) and the message takes no `seq`
//!   (heartbeats still go out). A connected peer that leaves the oldest buffered message
//!   unacknowledged for `ack_timeout` (20 s) with no acknowledgement in between ends its session
//!   with a protocol error.
//! - **Decoding** one frame may take at most its
//!   [`DecodeBudget`](crate::wire::DecodeBudget) (32 bytes per byte of frame, at least 1 MiB);
//!   a frame over it ends its session with a protocol error. Frames of 1 MiB or more are
//!   decoded with `block_in_place` on a multi-threaded runtime, so the worker's other sessions
//!   move to another thread meanwhile.
//! - **Before a handshake** a server connection may receive at most
//!   [`ServerOptions::handshake_size_limit`] bytes (64 KiB: the upgrade request and the
//!   handshake frame); more closes the socket. The upgrade must finish within
//!   [`ServerOptions::upgrade_timeout`] (10 s) and the handshake within the session's
//!   `handshake_timeout` (1 s), or the socket is closed. Handshakes with a client id, session id
//!   or protocol version over [`MAX_ID_BYTES`](crate::session::MAX_ID_BYTES) (256), or a frame
//!   over [`MAX_HANDSHAKE_BYTES`](crate::session::MAX_HANDSHAKE_BYTES) (32 KiB), are refused as
//!   `MALFORMED_HANDSHAKE`; what a peer sent is clipped to 64 bytes in errors and logs.
//! - **Connections and sessions**: at most [`ServerOptions::max_pending_connections`] (1024)
//!   connections wait for a handshake at once; one more is closed as soon as it is accepted.
//!   At most [`ServerOptions::max_sessions`] (65,536) sessions are held; a handshake for one
//!   more is refused with the retriable `SESSION_STATE_MISMATCH` (resumes are always allowed),
//!   and each client id has one session. Accept errors (out of file descriptors) back off from
//!   10 ms up to 1 s instead of spinning. Connections closed before their handshake (at the cap,
//!   or for a failed or late upgrade) are counted in `river_connections_dropped_total`
//!   ([`crate::metrics`]).
//! - **Closing** a connection sends its close frame and waits at most
//!   [`WsLimits::close_timeout`] for the peer's answer before dropping the socket; a dial that
//!   outlives the connection timeout is cancelled and its socket closed; a TCP connection that
//!   does not finish its WebSocket upgrade within [`ServerOptions::upgrade_timeout`] is dropped.
//!
//! # Handshake metadata, identity and rehandshakes
//!
//! - A client builds its metadata with [`ClientOptions::metadata`] before every handshake; the
//!   function may be asynchronous and may fail, which ends the session with a `handshake_failed`
//!   protocol error. [`ClientOptions::eager_metadata`] builds it while dialling.
//! - A server's [`HandshakeValidator`](crate::session::HandshakeValidator) gets the client id,
//!   the metadata and the metadata accepted for that id before, so it can bind the id (and the
//!   session kept under it) to a principal; `spec/examples/principals.rs` shows how. Messages
//!   addressed to another id than this transport's are dropped.
//! - With [`ServerOptions::rehandshake`], a server asks connected clients for fresh metadata
//!   ([`ServerTransport::request_rehandshake`], or before the metadata's
//!   [`expiry`](crate::session::HandshakeValidator::expiry)), validates it again and stores it
//!   for the calls opened from then on; our client answers with its metadata function.
//!   `docs/protocol.md` section 4 has the details.

mod client;
mod command;
mod dial;
mod events;
mod handler;
mod registry;
mod server;
mod task;
mod ws;

use std::sync::Arc;

pub use client::{ClientOptions, ClientTransport, MetadataError, MetadataFn, metadata_fn};
pub use dial::{DialError, Dialer, MemoryDialer, UrlFn, WsDialer};
pub use events::DEFAULT_EVENT_CAPACITY;
pub use server::{CodecMode, ServerOptions, ServerTransport};
pub use ws::WsLimits;

pub(crate) use client::ClientSide;
pub(crate) use command::{Attachment, Outgoing, SessionSender};
pub(crate) use handler::{HandlerIo, SessionHandler, Taken};
pub(crate) use server::ServerSide;

use crate::session::{ProtocolError, SendError, SessionStatus};
use crate::wire::{ProtocolVersion, TransportMessage};

/// Something a transport reports. Subscribe with `subscribe()` on either transport.
#[derive(Debug, Clone)]
pub enum TransportEvent {
    /// An application message arrived, in order, exactly once.
    Message {
        /// The peer's id.
        from: String,
        /// The session it arrived on.
        session_id: String,
        /// The session's protocol version, which gives the control flags their meaning.
        version: ProtocolVersion,
        /// The message.
        msg: Arc<TransportMessage>,
    },
    /// A session was created, is closing, or closed.
    SessionStatus {
        /// The peer's id.
        peer: String,
        /// The session.
        session_id: String,
        /// What happened.
        status: SessionStatus,
    },
    /// A session changed state.
    SessionTransition {
        /// The peer's id.
        peer: String,
        /// The session.
        session_id: String,
        /// State left.
        from: &'static str,
        /// State entered.
        to: &'static str,
        /// Transition taken.
        transition: &'static str,
    },
    /// A protocol error.
    ProtocolError {
        /// The peer's id, when known.
        peer: String,
        /// The error.
        error: ProtocolError,
    },
    /// The transport closed.
    TransportClosed,
}

/// One session as its task sees it at the moment of asking (see `sessions()` on either
/// transport): what a status page lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSnapshot {
    /// The peer's id (empty on a server connection whose handshake has not arrived yet).
    pub peer: String,
    /// The session's id (empty likewise).
    pub session_id: String,
    /// The state it is in.
    pub state: &'static str,
    /// When it entered that state.
    pub since: std::time::SystemTime,
    /// The `seq` its next message takes.
    pub seq: u64,
    /// The `seq` it expects next from the peer.
    pub ack: u64,
    /// Messages in its send buffer (sent or queued, not yet acknowledged).
    pub buffered: usize,
    /// Its protocol version.
    pub version: ProtocolVersion,
    /// Its codec.
    pub codec: crate::wire::CodecKind,
}

/// Why a transport call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The transport has been closed.
    #[error("the transport is closed")]
    Closed,
    /// There is no session with that peer.
    #[error("no session with {0}")]
    NoSession(String),
    /// The session refused the message.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The server already has [`ServerOptions::max_pending_connections`] connections waiting
    /// for their handshake.
    #[error("{0} connections are already waiting for their handshake")]
    TooManyPending(usize),
}
