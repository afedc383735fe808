//! The client's side of a session: backing off, dialling, the handshake request and its
//! response.

use statebound::Handle;
use tokio::time::Instant;

use super::{EndReason, Output, ProtocolError, Role, SessionDriver, resend_buffer};
use crate::graph::session::{
    AnySession, BackingOff, Connected, Connecting, Handshaking, NoConnection, Session,
};
use crate::session::connection::{CloseCode, Connection};
use crate::session::context::generate_id;
use crate::session::handshake::{ClientOutcome, evaluate_response};
use crate::wire::{
    ExpectedSessionState, HandshakeErrorCode, HandshakeRequest, PartialMessage, Value,
};

impl SessionDriver {
    /// Starts connecting: backs off as the retry budget says, then asks for a dial. Does
    /// nothing unless the session is a client in `NoConnection` (so calling it while a
    /// connection is on its way is harmless). With no budget left, reports
    /// [`ProtocolError::RetriesExceeded`] (once) and waits for the grace deadline.
    pub fn connect(&mut self) {
        if self.role != Role::Client
            || !matches!(self.state.get(), Some(AnySession::NoConnection(_)))
        {
            return;
        }
        let now = Instant::now();
        let Some(budget) = self.budget.as_mut() else {
            return;
        };
        if !budget.has_budget(now) {
            if !self.retries_reported {
                self.retries_reported = true;
                self.push(Output::ProtocolError(ProtocolError::RetriesExceeded));
            }
            return;
        }
        let wait = budget.backoff(now, budget.draw_jitter());
        budget.consume(now);
        let until = now + wait;
        if self
            .state
            .advance(|m: Session<NoConnection>| m.back_off(|_| BackingOff { until }))
        {
            if wait.is_zero() {
                // Nothing to wait for: dial now rather than at the timer wheel's next tick.
                self.start_dial();
            } else {
                self.arm();
            }
        }
    }

    pub(super) fn start_dial(&mut self) {
        let mut dial = None;
        self.state.advance(|m: Session<BackingOff>| {
            let deadline = Instant::now() + m.context().options.connection_timeout;
            let m = m.connect(|_| Connecting { deadline });
            dial = Some(m.handle());
            m
        });
        if let Some(handle) = dial {
            self.push(Output::Dial(handle));
            self.arm();
        }
    }

    /// The answer to [`Output::Dial`]. A dial for a state that has been left (timed out, or the
    /// session ended) is discarded and its connection closed.
    pub fn dialed(&mut self, handle: &Handle, result: Result<Box<dyn Connection>, String>) {
        if !self.state.is_current(handle)
            || !matches!(self.state.get(), Some(AnySession::Connecting(_)))
        {
            self.stale_events += 1;
            if let Ok(mut conn) = result {
                conn.close(CloseCode::SESSION_CONTINUES);
            }
            return;
        }
        match result {
            Ok(conn) => {
                if self.state.advance(|m: Session<Connecting>| {
                    m.connection_established(|_| Handshaking { conn })
                }) {
                    self.arm();
                    if self.await_metadata {
                        if let Some(handle) = self.handle() {
                            self.push(Output::BuildMetadata(handle));
                        }
                    } else {
                        self.send_handshake_request();
                    }
                }
            }
            Err(_) => self.connection_failed(),
        }
    }

    /// The answer to [`Output::BuildMetadata`]: sends the handshake request with `result`'s
    /// metadata, or, when it could not be built, reports `handshake_failed` (with no code, as
    /// River's client does) and ends the session. An answer for a state that has been left
    /// (the handshake timed out, or the session ended) is discarded.
    pub fn metadata_built(&mut self, handle: &Handle, result: Result<Option<Value>, String>) {
        if !self.state.is_current(handle)
            || !matches!(self.state.get(), Some(AnySession::Handshaking(_)))
        {
            self.stale_events += 1;
            return;
        }
        match result {
            Ok(metadata) => {
                self.set_metadata(metadata);
                self.send_handshake_request();
            }
            Err(reason) => {
                self.push(Output::ProtocolError(ProtocolError::HandshakeFailed {
                    code: HandshakeErrorCode::Unknown(String::new()),
                    message: format!("failed to construct handshake metadata: {reason}"),
                }));
                self.end(EndReason::MetadataFailed(reason));
            }
        }
    }

    fn send_handshake_request(&mut self) {
        let Some(AnySession::Handshaking(m)) = self.state.get_mut() else {
            return;
        };
        let ctx = m.context();
        let mut request = HandshakeRequest::new(
            ctx.version,
            ctx.id.clone(),
            ExpectedSessionState {
                next_expected_seq: ctx.ack,
                next_sent_seq: ctx.next_sent_seq(),
            },
        );
        if let Some(metadata) = &ctx.metadata {
            request = request.with_metadata(metadata.clone());
        }
        let mut msg = PartialMessage::handshake_request(generate_id(), &request);
        msg.tracing.clone_from(&ctx.tracing);
        match ctx.encode_handshake(msg) {
            Ok(frame) => {
                // A failed write shows up as the connection closing.
                let _ = m.conn.send(frame.into());
            }
            Err(e) => {
                self.push(Output::ProtocolError(ProtocolError::MessageSendFailure(
                    format!("handshake request: {e}"),
                )));
                self.lose_connection();
            }
        }
    }

    pub(super) fn connection_failed(&mut self) {
        if self
            .state
            .advance(|m: Session<Connecting>| m.connection_failed(|_| NoConnection))
        {
            self.arm();
            self.retry();
        }
    }

    pub(super) fn retry(&mut self) {
        if self.reconnect {
            self.connect();
        }
    }

    pub(super) fn on_handshake_response(&mut self, frame: &[u8]) {
        let Some(AnySession::Handshaking(m)) = self.state.get() else {
            return;
        };
        let ctx = m.context();
        match evaluate_response(ctx.codec, frame, &ctx.id) {
            ClientOutcome::Connected => {
                let now = Instant::now();
                self.state.advance(|m: Session<Handshaking>| {
                    let mut m = m.handshake_ok(|hs| Connected {
                        conn: hs.conn,
                        last_inbound: now,
                    });
                    m.context_mut().grace_deadline = None;
                    resend_buffer(&mut m);
                    m
                });
                if let Some(budget) = self.budget.as_mut() {
                    budget.start_restoring(now);
                }
                self.retries_reported = false;
                self.arm();
            }
            ClientOutcome::Retry(rejection) => self.end(EndReason::Retry(rejection)),
            ClientOutcome::Fatal(rejection) => {
                self.push(Output::ProtocolError(ProtocolError::HandshakeFailed {
                    code: rejection.code.clone(),
                    message: rejection.reason.clone(),
                }));
                self.end(EndReason::Fatal(rejection));
            }
            ClientOutcome::Invalid(reason) => self.invalid(reason),
        }
    }
}
