//! Rehandshakes (River's credential refresh inside a connected session): the server asks with
//! `REHANDSHAKE_REQ` on the `rehandshake` stream, the client answers with freshly built
//! metadata in `REHANDSHAKE_RESP`, and the server validates it again. Both are sequenced
//! messages that the driver keeps from its owner's handler.

use tokio::time::Instant;

use super::{EndReason, Output, ProtocolError, Role, SessionDriver, TimerKind};
use crate::graph::session::AnySession;
use crate::wire::{
    HandshakeErrorCode, PartialMessage, RehandshakeResponse, TransportMessage, Value,
    parse_rehandshake_request,
};

impl SessionDriver {
    /// A message on the `rehandshake` stream arrived in order.
    pub(super) fn on_rehandshake(&mut self, msg: &TransportMessage) {
        match self.role {
            Role::Client => match parse_rehandshake_request(&msg.payload) {
                Ok(()) => self.push(Output::RehandshakeRequested),
                // River's client ignores a request it cannot read.
                Err(e) => tracing::warn!(error = %e, "ignored a malformed rehandshake request"),
            },
            Role::Server => match RehandshakeResponse::from_payload(&msg.payload) {
                Ok(response) => self.push(Output::RehandshakeResponse(response.metadata)),
                Err(e) => self.fail_rehandshake(format!(
                    "received malformed re-handshake control message: {e}"
                )),
            },
        }
    }

    /// Server: sends a rehandshake request now, in place of any scheduled one, and gives the
    /// client the handshake timeout to answer (or less, if the credential expires sooner).
    /// `false` unless the session is connected.
    pub fn request_rehandshake(&mut self) -> bool {
        if self.role != Role::Server {
            return false;
        }
        let Some(AnySession::Connected(m)) = self.state.get() else {
            return false;
        };
        let now = Instant::now();
        let mut window = m.context().options.handshake_timeout;
        if let Some(expiry) = self.credential_expiry {
            window = window.min(expiry.saturating_duration_since(now));
        }
        if self
            .send_unreported(PartialMessage::rehandshake_request())
            .is_err()
        {
            return false;
        }
        self.rehandshake_due = None;
        self.rehandshake_deadline = Some(now + window);
        self.arm_rehandshake();
        true
    }

    /// Server: the credential of the session's metadata expires at `expiry` (or never): a
    /// rehandshake is requested one handshake timeout before, and any request waiting for an
    /// answer is settled. Call after every accepted (re)handshake.
    pub fn schedule_rehandshake(&mut self, expiry: Option<Instant>) {
        self.credential_expiry = expiry;
        self.rehandshake_deadline = None;
        self.rehandshake_due = expiry.and_then(|expiry| {
            let window = self.context()?.options.handshake_timeout;
            Some(
                expiry
                    .checked_sub(window)
                    .map_or_else(Instant::now, |due| due.max(Instant::now())),
            )
        });
        self.arm_rehandshake();
    }

    /// Server: the client's rehandshake was accepted: `metadata` replaces the session's, and
    /// the next rehandshake is scheduled from `expiry`.
    pub fn rehandshake_accepted(&mut self, metadata: Option<Value>, expiry: Option<Instant>) {
        if let Some(state) = self.state.get_mut() {
            state.context_mut().metadata = metadata;
        }
        self.schedule_rehandshake(expiry);
    }

    /// Server: the rehandshake failed (refused, malformed, or unanswered): reports
    /// `handshake_failed` with `REJECTED_BY_CUSTOM_HANDLER`, as River's server does, and ends
    /// the session.
    pub fn fail_rehandshake(&mut self, reason: String) {
        if self.state.is_empty() {
            return;
        }
        self.push(Output::ProtocolError(ProtocolError::HandshakeFailed {
            code: HandshakeErrorCode::RejectedByCustomHandler,
            message: reason.clone(),
        }));
        self.end(EndReason::RehandshakeFailed(reason));
    }

    /// Replaces the rehandshake timers of a connected session with what the schedule says.
    fn arm_rehandshake(&mut self) {
        self.timers.disarm(TimerKind::Rehandshake);
        self.timers.disarm(TimerKind::RehandshakeDeadline);
        if let Some(AnySession::Connected(m)) = self.state.get() {
            let handle = m.handle();
            self.arm_rehandshake_for(&handle);
        }
    }

    /// Arms the rehandshake timers for the connected state `handle`.
    pub(super) fn arm_rehandshake_for(&mut self, handle: &statebound::Handle) {
        if let Some(deadline) = self.rehandshake_deadline {
            self.timers
                .arm(handle, TimerKind::RehandshakeDeadline, deadline, None);
        } else if let Some(due) = self.rehandshake_due {
            self.timers.arm(handle, TimerKind::Rehandshake, due, None);
        }
    }
}
