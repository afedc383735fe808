//! A connected session: messages in order, liveness, and losing the connection.

use tokio::time::Instant;

use super::{EndReason, Output, ProtocolError, Role, SessionDriver, TimerKind};
use crate::graph::session::{AnySession, Connected, Handshaking, NoConnection, Session};
use crate::session::connection::CloseCode;
use crate::session::context::Receipt;
use crate::wire::{
    Codec, CodecKind, DecodeBudget, DecodeError, REHANDSHAKE_STREAM_ID, TransportMessage,
};

impl SessionDriver {
    pub(super) fn handshake_timed_out(&mut self) {
        match self.state.get() {
            Some(AnySession::Handshaking(_)) => self.lose_connection(),
            Some(AnySession::WaitingForHandshake(_)) => self.end(EndReason::HandshakeFailed),
            // Only the handshaking states arm a handshake timeout.
            _ => {}
        }
    }

    pub(super) fn connection_lost(&mut self) {
        match self.state.get() {
            Some(AnySession::WaitingForHandshake(_)) => self.end(EndReason::HandshakeFailed),
            _ => self.lose_connection(),
        }
    }

    /// Drops the current connection (Handshaking or Connected) and waits without one. A client
    /// that does not resume sessions ends its session instead.
    pub(super) fn lose_connection(&mut self) {
        let resumable = self
            .context()
            .is_some_and(|c| c.options.enable_transparent_reconnects);
        if self.role == Role::Client
            && !resumable
            && matches!(
                self.state.get(),
                Some(AnySession::Handshaking(_) | AnySession::Connected(_))
            )
        {
            self.end(EndReason::ConnectionLost);
            return;
        }
        let now = Instant::now();
        let lost = self.state.advance(|mut m: Session<Handshaking>| {
            m.conn.close(CloseCode::SESSION_CONTINUES);
            m.connection_lost(|_| NoConnection)
        }) || self.state.advance(|mut m: Session<Connected>| {
            let deadline = now + m.context().options.session_disconnect_grace;
            m.context_mut().grace_deadline = Some(deadline);
            m.connection_lost(|_| NoConnection)
        });
        if lost {
            self.arm();
            self.retry();
        }
    }

    /// The watchdog fired: close the connection if nothing arrived for the liveness timeout,
    /// else look again that long after the last arrival.
    pub(super) fn check_liveness(&mut self) {
        let Some(AnySession::Connected(m)) = self.state.get_mut() else {
            return;
        };
        let now = Instant::now();
        let last_inbound = m.last_inbound;
        let ctx = m.context_mut();
        let ack_timeout = ctx.options.ack_timeout;
        if ctx.ack_stalled(now, ack_timeout) {
            let reason = format!(
                "the peer acknowledged none of the {} buffered messages for {ack_timeout:?}",
                ctx.send_buffer.len()
            );
            return self.invalid(reason);
        }
        let deadline = last_inbound + ctx.options.liveness_timeout_for(ctx.version);
        if now >= deadline {
            self.lose_connection();
        } else {
            let handle = m.handle();
            self.timers
                .arm(&handle, TimerKind::Watchdog, deadline, None);
        }
    }

    /// Counts the present as a sign of life: the owner is not reading the connection for now
    /// (what arrives would have nowhere to go), so silence says nothing about the peer.
    pub fn hold_liveness(&mut self) {
        if let Some(AnySession::Connected(m)) = self.state.get_mut() {
            let now = Instant::now();
            m.last_inbound = now;
            // Acknowledgements wait unread too.
            m.context_mut().restart_ack_wait(now);
        }
    }

    pub(super) fn on_message(&mut self, frame: &[u8]) {
        let Some(AnySession::Connected(m)) = self.state.get_mut() else {
            return;
        };
        let ctx = m.context();
        let msg = match decode(ctx.codec, frame, ctx.options.decode_budget) {
            Ok(msg) => msg,
            Err(e) => {
                return self.invalid(format!("could not decode message: {e}"));
            }
        };
        match m.context_mut().receive(&msg) {
            Receipt::NotFromPeer => {
                let reason = format!(
                    "received message from {}, but the session's peer is {}",
                    crate::wire::clip(&msg.from),
                    m.context().to
                );
                self.invalid(reason);
            }
            Receipt::Duplicate => {}
            Receipt::Gap { .. } => self.lose_connection(),
            Receipt::Accepted => {
                m.last_inbound = Instant::now();
                if msg.flags(m.context().version).ack {
                    if self.role == Role::Client {
                        self.send_heartbeat();
                    }
                } else if msg.to != m.context().from {
                    // Counted and acknowledged like any other, but addressed to someone else:
                    // dropped, as River's routers drop it.
                    tracing::debug!(
                        to = %msg.to,
                        ours = %m.context().from,
                        "dropped a message addressed to another id"
                    );
                } else if msg.stream_id == REHANDSHAKE_STREAM_ID {
                    self.on_rehandshake(&msg);
                } else {
                    self.push(Output::Message(msg));
                }
            }
        }
    }

    pub(super) fn invalid(&mut self, reason: String) {
        self.push(Output::ProtocolError(ProtocolError::InvalidMessage(
            reason.clone(),
        )));
        self.end(EndReason::InvalidMessage(reason));
    }
}

/// Frames at least this large are decoded off the runtime's shared path (1 MiB).
const LARGE_FRAME: usize = 1024 * 1024;

/// Decodes one inbound frame within `budget`. On a multi-threaded runtime a large frame is
/// decoded with [`tokio::task::block_in_place`], so the worker hands its other tasks (other
/// sessions) to another thread while this one decodes.
fn decode(
    codec: CodecKind,
    frame: &[u8],
    budget: DecodeBudget,
) -> Result<TransportMessage, DecodeError> {
    let multi_thread = frame.len() >= LARGE_FRAME
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(|| codec.decode_within(frame, budget))
    } else {
        codec.decode_within(frame, budget)
    }
}
