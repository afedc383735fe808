//! One session without I/O: handshakes, liveness and the state machine, through
//! `SessionDriver` on tokio's paused clock; and the session graph as declared.

/// Fixtures for driving one `SessionDriver` by hand.
#[path = "common/driver.rs"]
mod driver;

#[path = "session/graph.rs"]
mod graph;
#[path = "session/handshake.rs"]
mod handshake;
#[path = "session/liveness.rs"]
mod liveness;
#[path = "session/machine.rs"]
mod machine;
