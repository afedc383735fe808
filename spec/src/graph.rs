//! River's session state graph, declared once.
//!
//! A client session enters at [`NoConnection`](session::NoConnection) and cycles through
//! backing off, connecting and handshaking to [`Connected`](session::Connected); a server session
//! enters at [`WaitingForHandshake`](session::WaitingForHandshake) with a fresh connection. Losing
//! a connection returns either side to `NoConnection`, where the session waits (until its grace
//! deadline) for a new connection. Ending a session is not an edge: it is the close hook of
//! whatever state the session is in. `GRAPH.md` beside this crate holds the rendered graph.

/// The session graph: states, entrypoints, transitions and hooks.
#[statebound::machine(name = Session, any = AnySession)]
pub mod session {
    use std::collections::VecDeque;

    /// What a session carries from state to state (River's inherited properties).
    #[context]
    #[derive(Debug, Default)]
    pub struct SessionContext {
        /// The session's id, agreed in the handshake.
        pub id: String,
        /// Encoded messages sent or queued and not yet acknowledged, oldest first.
        pub send_buffer: VecDeque<Vec<u8>>,
    }

    /// No connection: the session waits, until its grace deadline, for one.
    #[state(exit = exit_no_connection, close = close_no_connection)]
    #[entry(client)]
    #[transition(back_off -> BackingOff)]
    #[derive(Debug, Default)]
    pub struct NoConnection;

    /// Waiting out the backoff before the next connection attempt (client).
    #[state(exit = exit_backing_off, close = close_backing_off)]
    #[transition(connect -> Connecting)]
    #[transition(cancel -> NoConnection)]
    #[derive(Debug, Default)]
    pub struct BackingOff;

    /// Dialling the server, bounded by the connection timeout (client).
    #[state(exit = exit_connecting, close = close_connecting)]
    #[transition(connection_established -> Handshaking)]
    #[transition(connection_failed -> NoConnection)]
    #[derive(Debug, Default)]
    pub struct Connecting;

    /// Connected; handshake request sent, waiting for the response (client).
    #[state(exit = exit_handshaking, close = close_handshaking)]
    #[transition(handshake_ok -> Connected)]
    #[transition(connection_lost -> NoConnection)]
    #[derive(Debug, Default)]
    pub struct Handshaking;

    /// A fresh connection that has not sent its handshake request yet (server).
    #[state(exit = exit_waiting_for_handshake, close = close_waiting_for_handshake)]
    #[entry(server)]
    #[transition(handshake_ok -> Connected)]
    #[derive(Debug, Default)]
    pub struct WaitingForHandshake;

    /// Handshake done: messages flow, heartbeats keep the connection alive (both roles).
    #[state(exit = exit_connected, close = close_connected)]
    #[transition(connection_lost -> NoConnection)]
    #[derive(Debug, Default)]
    pub struct Connected;

    // Timers, listeners and connections become state data with the session core; until then
    // leaving a state has nothing to release.
    fn exit_no_connection(_: &mut NoConnection, _: &mut SessionContext) {}
    fn exit_backing_off(_: &mut BackingOff, _: &mut SessionContext) {}
    fn exit_connecting(_: &mut Connecting, _: &mut SessionContext) {}
    fn exit_handshaking(_: &mut Handshaking, _: &mut SessionContext) {}
    fn exit_waiting_for_handshake(_: &mut WaitingForHandshake, _: &mut SessionContext) {}
    fn exit_connected(_: &mut Connected, _: &mut SessionContext) {}

    /// A session that ends without a connection drops what it never delivered.
    fn close_no_connection(_: NoConnection, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }
    fn close_backing_off(_: BackingOff, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }
    fn close_connecting(_: Connecting, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }
    fn close_handshaking(_: Handshaking, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }
    fn close_waiting_for_handshake(_: WaitingForHandshake, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }
    fn close_connected(_: Connected, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }
}
