//! River's session state graph, declared once.
//!
//! A client session enters at [`NoConnection`](session::NoConnection) and cycles through
//! backing off, connecting and handshaking to [`Connected`](session::Connected); a server session
//! enters at [`WaitingForHandshake`](session::WaitingForHandshake) with a fresh connection. Losing
//! a connection returns either side to `NoConnection`, where the session waits (until its grace
//! deadline) for a new connection. Ending a session is not an edge: it is the close hook of
//! whatever state the session is in. `GRAPH.md` beside this crate holds the rendered graph.
//!
//! Timers belong to states through their handles (see [`crate::session`]), so leaving a state
//! cancels them without any hook. The hooks deal with what a state owns outright: its
//! connection, and on close the undelivered send buffer.

/// The session graph: states, entrypoints, transitions and hooks.
#[statebound::machine(name = Session, any = AnySession, context = crate::session::SessionContext)]
pub mod session {
    use tokio::time::Instant;

    use crate::session::{CloseCode, Connection, SessionContext};

    /// No connection: the session waits, until its grace deadline, for one.
    #[state(close = close_no_connection)]
    #[entry(client)]
    #[transition(back_off -> BackingOff)]
    #[derive(Debug)]
    pub struct NoConnection;

    /// Waiting out the backoff before the next connection attempt (client).
    #[state(close = close_backing_off)]
    #[transition(connect -> Connecting)]
    #[transition(cancel -> NoConnection)]
    #[derive(Debug)]
    pub struct BackingOff {
        /// When the attempt starts.
        pub until: Instant,
    }

    /// Dialling the server, bounded by the connection timeout (client). The dial itself runs
    /// outside the session and reports back with this state's handle; a dial that reports after
    /// the state was left finds the handle stale and its connection is closed.
    #[state(close = close_connecting)]
    #[transition(connection_established -> Handshaking)]
    #[transition(connection_failed -> NoConnection)]
    #[derive(Debug)]
    pub struct Connecting {
        /// When the dial is given up.
        pub deadline: Instant,
    }

    /// Connected; handshake request sent, waiting for the response (client).
    #[state(close = close_handshaking)]
    #[transition(handshake_ok -> Connected)]
    #[transition(connection_lost -> NoConnection)]
    #[derive(Debug)]
    pub struct Handshaking {
        /// The connection being handshaken.
        pub conn: Box<dyn Connection>,
    }

    /// A fresh connection that has not completed its handshake yet (server).
    #[state(close = close_waiting_for_handshake)]
    #[entry(server)]
    #[transition(handshake_ok -> Connected)]
    #[derive(Debug)]
    pub struct WaitingForHandshake {
        /// The connection.
        pub conn: Box<dyn Connection>,
        /// Whether the request arrived and is being decided on; no more frames are read until
        /// the decision.
        pub request_received: bool,
    }

    /// Handshake done: messages flow, heartbeats keep the connection alive (both roles).
    #[state(exit = exit_connected, close = close_connected)]
    #[transition(connection_lost -> NoConnection)]
    #[derive(Debug)]
    pub struct Connected {
        /// The connection.
        pub conn: Box<dyn Connection>,
        /// When the last in-order message arrived; the liveness watchdog measures from here.
        pub last_inbound: Instant,
    }

    /// The only way out of `Connected` is losing the connection; whoever lost it, it is closed
    /// here, saying the session continues.
    fn exit_connected(state: &mut Connected, _: &mut SessionContext) {
        state.conn.close(CloseCode::SESSION_CONTINUES);
    }

    /// A session that ends drops what it never delivered, and closes its connection if it has
    /// one, saying the session is over.
    fn close_no_connection(_: NoConnection, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }

    fn close_backing_off(_: BackingOff, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }

    fn close_connecting(_: Connecting, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }

    fn close_handshaking(mut state: Handshaking, ctx: &mut SessionContext) {
        state.conn.close(CloseCode::SESSION_ENDED);
        ctx.send_buffer.clear();
    }

    fn close_waiting_for_handshake(mut state: WaitingForHandshake, ctx: &mut SessionContext) {
        state.conn.close(CloseCode::SESSION_ENDED);
        ctx.send_buffer.clear();
    }

    fn close_connected(mut state: Connected, ctx: &mut SessionContext) {
        state.conn.close(CloseCode::SESSION_ENDED);
        ctx.send_buffer.clear();
    }
}
