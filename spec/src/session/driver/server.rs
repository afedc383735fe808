//! The server's side of a session: handshake requests on pending connections, and what
//! becomes of them (a new session, a resumed one, or a refusal).

use tokio::time::Instant;

use super::{EndReason, Output, ProtocolError, SessionDriver, SessionStatus, resend_buffer};
use crate::graph::session::{AnySession, Connected, Session, WaitingForHandshake};
use crate::session::context::generate_id;
use crate::session::handshake::{
    ExistingSession, ParsedRequest, Rejection, RequestError, parse_request,
};
use crate::wire::{HandshakeErrorCode, HandshakeResponse, PartialMessage};

impl SessionDriver {
    pub(super) fn on_handshake_request(&mut self, frame: &[u8]) {
        let Some(AnySession::WaitingForHandshake(m)) = self.state.get_mut() else {
            return;
        };
        if m.request_received {
            // River's clients send nothing before the response; a second frame would otherwise
            // be taken for the session's first message.
            self.push(Output::ProtocolError(ProtocolError::HandshakeFailed {
                code: HandshakeErrorCode::MalformedHandshake,
                message: "a second frame arrived before the handshake was answered".into(),
            }));
            self.end(EndReason::HandshakeFailed);
            return;
        }
        let accepted = &self.accepted_versions;
        if self.sniff_codec
            && let Some(kind) = crate::wire::CodecKind::sniff(frame)
        {
            m.context_mut().codec = kind;
        }
        match parse_request(m.context().codec, frame, accepted) {
            Ok(parsed) => {
                m.request_received = true;
                // Whatever the decision, the response goes to this client.
                m.context_mut().to.clone_from(&parsed.msg.from);
                self.push(Output::HandshakeRequest(Box::new(parsed)));
            }
            Err(RequestError::Undecodable(e)) => {
                self.push(Output::ProtocolError(ProtocolError::HandshakeFailed {
                    code: HandshakeErrorCode::MalformedHandshake,
                    message: format!("first frame does not decode: {e}"),
                }));
                self.end(EndReason::HandshakeFailed);
            }
            Err(RequestError::Rejected { msg, rejection }) => {
                m.context_mut().to.clone_from(&msg.from);
                self.reject(&rejection);
            }
        }
    }

    /// Refuses the pending handshake: writes the error response, reports `handshake_failed`
    /// and closes the connection.
    pub fn reject(&mut self, rejection: &Rejection) {
        let Some(AnySession::WaitingForHandshake(m)) = self.state.get_mut() else {
            return;
        };
        let msg = PartialMessage::handshake_response(generate_id(), &rejection.response());
        if let Ok(frame) = m.context().encode_handshake(msg) {
            let _ = m.conn.send(frame.into());
        }
        self.push(Output::ProtocolError(ProtocolError::HandshakeFailed {
            code: rejection.code.clone(),
            message: rejection.reason.clone(),
        }));
        self.end(EndReason::HandshakeFailed);
    }

    /// Accepts the pending handshake as a new session: the pending connection becomes the
    /// session `request.session_id` with the client `request.msg.from`.
    pub fn accept(&mut self, request: &ParsedRequest) {
        let Some(AnySession::WaitingForHandshake(m)) = self.state.get_mut() else {
            return;
        };
        let ctx = m.context_mut();
        ctx.id.clone_from(&request.request.session_id);
        ctx.to.clone_from(&request.msg.from);
        ctx.version = request.version;
        ctx.metadata.clone_from(&request.request.metadata);
        if self.respond_ok() {
            self.push(Output::Status(SessionStatus::Created));
            self.finish_server_handshake();
        }
    }

    /// Resumes this existing session on `pending`'s connection (a transparent reconnect).
    /// `pending` must hold the accepted request; it is consumed. This session's old connection,
    /// if any, is closed; the buffer is resent on the new one.
    pub fn adopt(&mut self, mut pending: SessionDriver, request: &ParsedRequest) {
        self.traffic.add(pending.take_traffic());
        let Some(AnySession::WaitingForHandshake(mut incoming)) = pending.state.take() else {
            return;
        };
        if matches!(self.state.get(), Some(AnySession::Connected(_))) {
            self.lose_connection();
            self.steps.drain(&mut self.outputs);
        }
        let Some(AnySession::NoConnection(mut old)) = self.state.take() else {
            // The session ended meanwhile: the pending connection is refused.
            drop(incoming.close());
            return;
        };
        // The session's context moves to the state that owns the new connection; the old state,
        // left with the pending connection's blank context, closes without touching anything of
        // the session's.
        std::mem::swap(old.context_mut(), incoming.context_mut());
        drop(old.close());
        let ctx = incoming.context_mut();
        ctx.version = request.version;
        ctx.metadata.clone_from(&request.request.metadata);
        // The observer belongs to this driver.
        let observer = self.steps.observer();
        self.state.replace(incoming.with_observer(observer));
        if self.respond_ok() {
            self.finish_server_handshake();
        }
    }

    /// Writes the ok response on the pending connection; on failure ends the session.
    fn respond_ok(&mut self) -> bool {
        let Some(AnySession::WaitingForHandshake(m)) = self.state.get_mut() else {
            return false;
        };
        let response = HandshakeResponse::Ok {
            session_id: m.context().id.clone(),
        };
        let msg = PartialMessage::handshake_response(generate_id(), &response);
        let written = match m.context().encode_handshake(msg) {
            Ok(frame) => m.conn.send(frame.into()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        m.conn.lift_handshake_limit();
        if let Err(e) = written {
            self.push(Output::ProtocolError(ProtocolError::MessageSendFailure(e)));
            self.end(EndReason::HandshakeFailed);
            return false;
        }
        true
    }

    fn finish_server_handshake(&mut self) {
        let now = Instant::now();
        if self.state.advance(|m: Session<WaitingForHandshake>| {
            let mut m = m.handshake_ok(|w| Connected {
                conn: w.conn,
                last_inbound: now,
            });
            m.context_mut().grace_deadline = None;
            resend_buffer(&mut m);
            m
        }) {
            self.arm();
        }
    }

    /// What a server needs to decide on a handshake for this session.
    pub fn existing(&self) -> Option<ExistingSession> {
        let ctx = self.context()?;
        Some(ExistingSession {
            id: ctx.id.clone(),
            ack: ctx.ack,
            next_sent_seq: ctx.next_sent_seq(),
        })
    }
}
