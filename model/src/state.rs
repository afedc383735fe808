//! What the model's world holds: the client, the server, the connections between them, and
//! ghost records of everything sent and received that no real peer keeps, for the properties.

use crate::graph_tie::Node;

/// What a sequenced message carries, as far as the properties care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An application message: delivered to the router.
    App,
    /// A heartbeat: sequenced and buffered like any message, never delivered.
    Heartbeat,
}

/// A message in a send buffer: what its frame says, written again as is after a reconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Buffered {
    /// Its seq.
    pub seq: u8,
    /// The ack stamped on it when it was sequenced.
    pub ack: u8,
    /// What it is.
    pub kind: Kind,
}

/// A side's sequencing state: River's `seq`, `ack` and send buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// The seq the next message takes.
    pub seq: u8,
    /// The seq expected next from the peer.
    pub ack: u8,
    /// Sent or queued messages the peer has not acknowledged, in seq order.
    pub buffer: Vec<Buffered>,
}

impl Counters {
    /// The seq of the oldest unacknowledged message, or `seq` when none is waiting.
    pub fn unacked_from(&self) -> u8 {
        self.buffer.first().map_or(self.seq, |b| b.seq)
    }
}

/// A sequenced message on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Msg {
    /// Its seq.
    pub seq: u8,
    /// The ack it carries.
    pub ack: u8,
    /// What it is.
    pub kind: Kind,
    /// Ghost: the sender's session (the client's generation, or the server's incarnation).
    pub sender: u8,
    /// Ghost: whether this copy was written by a resend after a handshake.
    pub resent: bool,
}

/// A frame on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Frame {
    /// `HANDSHAKE_REQ` for the client's session `generation` with its counters.
    Request {
        /// The client session it names.
        generation: u8,
        /// `nextExpectedSeq`.
        next_expected_seq: u8,
        /// `nextSentSeq`.
        next_sent_seq: u8,
    },
    /// `HANDSHAKE_RESP`: accepted for a session, or refused with `SESSION_STATE_MISMATCH`.
    Response(Option<u8>),
    /// A sequenced message.
    Msg(Msg),
}

/// One WebSocket connection: two FIFO directions, and who still holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Conn {
    /// Frames on their way to the server, oldest first.
    pub to_server: Vec<Frame>,
    /// Frames on their way to the client, oldest first.
    pub to_client: Vec<Frame>,
    /// The network cut it: what was in flight is gone and what is written is lost.
    pub broken: bool,
    /// The client still holds it.
    pub client_open: bool,
    /// The server still holds it (as a pending connection or as its session's).
    pub server_open: bool,
}

impl Conn {
    /// A fresh connection carrying the client's first frame.
    pub(crate) fn dialed(first: Frame) -> Conn {
        Conn {
            to_server: vec![first],
            to_client: Vec::new(),
            broken: false,
            client_open: true,
            server_open: true,
        }
    }

    /// Nobody holds it any more: it carries nothing, whatever happened to it.
    pub(crate) fn settle(&mut self) {
        if !self.client_open && !self.server_open {
            self.to_server.clear();
            self.to_client.clear();
            self.broken = true;
        }
    }
}

/// The client: one session at a time, as River's client transport keeps for one server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Client {
    /// Its session's state in the graph; `None` once it may start no more sessions.
    pub node: Option<Node>,
    /// The connection it holds (`Handshaking`, `Connected`).
    pub conn: Option<u8>,
    /// Its session's generation: each new session (new id, counters at 0) is the next one.
    pub generation: u8,
    /// The session's counters and buffer.
    pub counters: Counters,
    /// The Python client: frames below this seq were written once and are never written again.
    pub written: u8,
}

/// The server's session for the client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerSession {
    /// `NoConnection` or `Connected`.
    pub node: Node,
    /// Its connection, while `Connected`.
    pub conn: Option<u8>,
    /// The client session it serves (its id).
    pub generation: u8,
    /// Ghost: which of the server's sessions this is, counting every one it created.
    pub incarnation: u8,
    /// Its counters and buffer.
    pub counters: Counters,
}

/// What the model may still do: each action that creates something spends from here.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Budget {
    /// Connections the client may still dial (successful or not).
    pub dials: u8,
    /// New sessions the client may still start after its first.
    pub client_sessions: u8,
    /// Application messages the client may still send.
    pub client_sends: u8,
    /// Application messages the server may still send.
    pub server_sends: u8,
    /// Heartbeats the server may still send.
    pub heartbeats: u8,
}

/// Records no real peer keeps, for the properties.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// What each client session sent, by seq.
    pub client_sent: Vec<Vec<Kind>>,
    /// What each client session accepted in order: the sending server session and the kind.
    pub client_received: Vec<Vec<(u8, Kind)>>,
    /// For each server session, the client session it serves.
    pub serves: Vec<u8>,
    /// What each server session sent, by seq.
    pub server_sent: Vec<Vec<Kind>>,
    /// What each server session accepted in order.
    pub server_received: Vec<Vec<Kind>>,
    /// Client sessions the server has ended (kept only for the optional rule that refuses
    /// them).
    pub ended_generations: Vec<u8>,
    /// Violations seen on the way, as [`Violation`] bits.
    pub violations: u8,
}

/// Broken promises the model notes on the step where they happen, for properties that are
/// about a step rather than a state. None is ever noted in a world that keeps its promises, so
/// they do not multiply the states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Violation {
    /// The server accepted a handshake after which a message is lost or handled twice.
    UnsafeAccept = 1 << 0,
    /// River's rules refused a handshake that could have been accepted without loss.
    SafeRefusal = 1 << 1,
    /// A message was accepted from a session other than the receiver's peer.
    CrossedSessions = 1 << 2,
    /// Our client and server refused a session both held.
    RustPeersRefused = 1 << 3,
}

impl Ghost {
    /// Notes `violation`.
    pub(crate) fn note(&mut self, violation: Violation) {
        self.violations |= violation as u8;
    }

    /// Whether `violation` was noted on the way here.
    pub fn saw(&self, violation: Violation) -> bool {
        self.violations & violation as u8 != 0
    }
}

/// Cases the model notes when it reaches them, so a test can tell that the explored space
/// holds them. They are kept beside the model, not in its states, since they would multiply
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Event {
    /// A resume of a session the server still had was accepted.
    Resumed = 1 << 0,
    /// A resume the client was waiting on, of a session the server still had, was refused.
    KnownSessionRefused = 1 << 1,
    /// A handshake the client was waiting on, for a session the server does not have, was
    /// refused.
    UnknownSessionRefused = 1 << 2,
    /// A duplicate was dropped by the sequencing rules.
    DuplicateDropped = 1 << 3,
    /// A gap closed a connection (or, for the Python client, ended its session).
    GapSeen = 1 << 4,
    /// A resent message was accepted.
    ResentDelivered = 1 << 5,
    /// A refusal after which only heartbeats, no application message, would have been lost.
    HeartbeatOnlyRefusal = 1 << 6,
    /// A refusal of an unknown session where nothing was waiting to be delivered either way.
    NothingPendingRefusal = 1 << 7,
    /// The server started a second session for one client session id.
    SecondServerSession = 1 << 8,
    /// The optional rule refused a handshake the client was waiting on, for a session id the
    /// server had ended.
    EndedSessionRefused = 1 << 9,
    /// A handshake request left on a connection the client had given up, for a session the
    /// client had ended, ended the client's current session on the server (a hard reconnect
    /// from the past).
    StaleReplaced = 1 << 10,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 11] = [
        Event::Resumed,
        Event::KnownSessionRefused,
        Event::UnknownSessionRefused,
        Event::DuplicateDropped,
        Event::GapSeen,
        Event::ResentDelivered,
        Event::HeartbeatOnlyRefusal,
        Event::NothingPendingRefusal,
        Event::SecondServerSession,
        Event::EndedSessionRefused,
        Event::StaleReplaced,
    ];
}

/// The whole world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct World {
    /// The client.
    pub client: Client,
    /// The server's session for the client, if it has one.
    pub server: Option<ServerSession>,
    /// Every connection ever dialled, by index.
    pub conns: Vec<Conn>,
    /// What may still happen.
    pub budget: Budget,
    /// Records for the properties.
    pub ghost: Ghost,
}
