//! Everything about a River session that needs no socket: the carried context and its
//! sequencing rules, handshake decisions, options and retry budget, the connection abstraction,
//! and the driver that runs the declared graph with state-owned timers.

pub(crate) mod connection;
mod context;
mod driver;
mod handshake;
mod options;

pub use connection::{
    ChannelConnection, CloseCode, Connection, ConnectionClosed, ConnectionEvent, ConnectionId,
    MemoryConnection, memory_pair, next_event,
};
pub use context::{BufferedFrame, Receipt, SequenceError, SessionContext, generate_id};
pub use driver::{
    EndReason, Output, ProtocolError, Role, SendError, Sent, SessionDriver, SessionStatus,
    TimerKind,
};
pub use handshake::{
    BoxFuture, ClientOutcome, Decision, ExistingSession, HandshakeValidator, MAX_HANDSHAKE_BYTES,
    MAX_ID_BYTES, ParsedRequest, Rejection, RequestError, decide, evaluate_response, parse_request,
    validate_metadata,
};
pub use options::{RetryBudget, RetryOptions, SessionOptions};
