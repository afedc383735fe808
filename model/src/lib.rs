//! An exhaustive model of River's session resume protocol, checked with [stateright].
//!
//! One client and one server exchange sequenced messages over connections that can die at any
//! point: the network may cut a connection (everything in flight either way is lost), and
//! either side may give a connection up at any time (its liveness watchdog, a handshake
//! timeout, a half-open link noticed late). Sends, heartbeats, dials and new sessions are
//! bounded by a [`Config`], so the state space is finite and [`stateright`] explores all of it.
//!
//! What is River's own code and what is the model's:
//! - States and moves are the declared session graph's: the model holds
//!   [`statebound_river::graph::session::GRAPH`] states and takes its transitions by name
//!   ([`graph_tie`]), and records which ones it took.
//! - Sequencing, receiving, acks and `next_sent_seq` are [`SessionContext`]'s own `sequence`,
//!   `receive` and `next_sent_seq`; handshake requests and responses are encoded with the
//!   crate's codec, read with `parse_request`, decided with `decide`, and judged with
//!   `evaluate_response`.
//! - What the driver does around those calls (resending the buffer, answering a heartbeat,
//!   dropping the connection on a gap, adopting a new connection) is the model's, written after
//!   `spec/src/session/driver/`.
//!
//! The properties are in [`properties`]; a [`Planted`] bug shows the checker catching a
//! broken resume step, and [`ClientKind::Python`] runs River's Python client, which never
//! writes a frame twice, to show why the server must refuse a client "in the future".
//!
//! Out of the model: timing (every timer is a nondeterministic step, which covers every
//! ordering of them), more than one client, the router, frame contents beyond seq, ack and
//! kind, and protocol v1.1.
//!
//! [`SessionContext`]: statebound_river::session::SessionContext

pub mod graph_tie;
mod model;
pub mod properties;
mod real;
pub mod state;

pub use model::{Action, ClientKind, Config, Planted, ResumeModel};
