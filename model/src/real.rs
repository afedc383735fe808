//! The model's calls into `statebound-river`: the sequencing rules of [`SessionContext`], the
//! handshake encoding, and the server's and client's handshake decisions.
//!
//! The model keeps its state small (counters and a buffer of sequence numbers), so each call
//! builds the real value from the model's, runs the real function, and reads the result back.
//! The functions are pure, and the model asks the same questions millions of times, so
//! [`Real`] remembers each answer: every distinct question is put to the real code once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

use statebound_river::session::{
    BufferedFrame, ClientOutcome, Decision, ExistingSession, Receipt, SessionContext,
    SessionOptions, decide, evaluate_response, generate_id, parse_request,
};
use statebound_river::wire::{
    CodecKind, ExpectedSessionState, HandshakeErrorCode, HandshakeRequest, HandshakeResponse,
    MessageHeader, PartialMessage, ProtocolVersion,
};

use crate::state::{Buffered, Counters, Kind};

/// The client's id on the wire.
pub(crate) const CLIENT_ID: &str = "client";
/// The server's id on the wire.
pub(crate) const SERVER_ID: &str = "SERVER";

/// The wire session id of the client's session `generation`.
pub(crate) fn session_id(generation: u8) -> String {
    format!("session-{generation}")
}

fn small(n: u64) -> u8 {
    u8::try_from(n).expect("the model's counters stay small")
}

/// The real context holding `counters`, for the side whose id is `from`.
fn context(from: &str, to: &str, counters: &Counters) -> SessionContext {
    let mut ctx = SessionContext::new(
        String::new(),
        from,
        to,
        ProtocolVersion::V2_0,
        SessionOptions::default(),
    );
    ctx.seq = u64::from(counters.seq);
    ctx.ack = u64::from(counters.ack);
    ctx.send_buffer = counters
        .buffer
        .iter()
        .map(|b| BufferedFrame {
            seq: u64::from(b.seq),
            id: String::new(),
            frame: bytes::Bytes::new(),
            bytes_through: 0,
        })
        .collect();
    ctx
}

/// Reads the real context back into `counters`; a buffered frame keeps what the model knows
/// of it.
fn read_back(ctx: &SessionContext, counters: &mut Counters) {
    counters.seq = small(ctx.seq);
    counters.ack = small(ctx.ack);
    let known = std::mem::take(&mut counters.buffer);
    counters.buffer = ctx
        .send_buffer
        .iter()
        .map(|f| {
            let seq = small(f.seq);
            *known
                .iter()
                .find(|b| b.seq == seq)
                .expect("the real buffer only keeps frames the model gave it")
        })
        .collect();
}

/// Which side is acting: its own id and its peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Side {
    fn ids(self) -> (&'static str, &'static str) {
        match self {
            Side::Client => (CLIENT_ID, SERVER_ID),
            Side::Server => (SERVER_ID, CLIENT_ID),
        }
    }
}

/// Sequences a message of `kind` with [`SessionContext::sequence`]; returns its seq and ack.
pub(crate) fn sequence(side: Side, counters: &mut Counters, kind: Kind) -> (u8, u8) {
    let (from, to) = side.ids();
    let mut ctx = context(from, to, counters);
    let frame = ctx
        .sequence(PartialMessage::heartbeat())
        .expect("a heartbeat always encodes");
    let (seq, ack) = (small(frame.seq), counters.ack);
    counters.buffer.push(Buffered { seq, ack, kind });
    read_back(&ctx, counters);
    (seq, ack)
}

/// Applies [`SessionContext::receive`] to a message `seq`/`ack` from the peer.
pub(crate) fn receive(side: Side, counters: &mut Counters, seq: u8, ack: u8) -> Receipt {
    let (from, to) = side.ids();
    let mut ctx = context(from, to, counters);
    let msg = PartialMessage::heartbeat().into_message(MessageHeader {
        id: generate_id(),
        from: to.to_owned(),
        to: from.to_owned(),
        seq: u64::from(seq),
        ack: u64::from(ack),
    });
    let receipt = ctx.receive(&msg);
    read_back(&ctx, counters);
    receipt
}

/// [`SessionContext::next_sent_seq`] of `counters`.
pub(crate) fn next_sent_seq(side: Side, counters: &Counters) -> u8 {
    let (from, to) = side.ids();
    small(context(from, to, counters).next_sent_seq())
}

/// What the server's session tells [`decide`], built as the session driver builds it.
pub(crate) fn existing(counters: &Counters, generation: u8) -> ExistingSession {
    let mut ctx = context(SERVER_ID, CLIENT_ID, counters);
    ctx.id = session_id(generation);
    ExistingSession {
        id: ctx.id.clone(),
        ack: ctx.ack,
        next_sent_seq: ctx.next_sent_seq(),
    }
}

/// The client's encoded `HANDSHAKE_REQ` for session `generation` with these counters.
pub(crate) fn handshake_request(
    generation: u8,
    next_expected_seq: u8,
    next_sent_seq: u8,
) -> Vec<u8> {
    let request = HandshakeRequest::new(
        ProtocolVersion::V2_0,
        session_id(generation),
        ExpectedSessionState {
            next_expected_seq: u64::from(next_expected_seq),
            next_sent_seq: u64::from(next_sent_seq),
        },
    );
    let ctx = context(CLIENT_ID, SERVER_ID, &Counters::default());
    ctx.encode_handshake(PartialMessage::handshake_request(generate_id(), &request))
        .expect("a handshake request always encodes")
}

/// The server reads a first frame with [`parse_request`].
pub(crate) fn parse(frame: &[u8]) -> HandshakeRequest {
    match parse_request(CodecKind::Json, frame, &[ProtocolVersion::V2_0]) {
        Ok(parsed) => parsed.request,
        Err(e) => panic!("the client's own handshake request is refused: {e:?}"),
    }
}

/// The server's session-state step, [`decide`], with transparent reconnects on.
pub(crate) fn decide_on(
    request: &HandshakeRequest,
    existing: Option<&ExistingSession>,
) -> Decision {
    decide(request, existing, true)
}

/// The generation a request names.
pub(crate) fn generation_of(request: &HandshakeRequest) -> u8 {
    request
        .session_id
        .strip_prefix("session-")
        .and_then(|g| g.parse().ok())
        .expect("the model names its sessions `session-N`")
}

/// The server's encoded `HANDSHAKE_RESP`: accepted for `generation`, or refused.
pub(crate) fn handshake_response(accepted: Option<u8>) -> Vec<u8> {
    let response = match accepted {
        Some(generation) => HandshakeResponse::Ok {
            session_id: session_id(generation),
        },
        None => HandshakeResponse::Err {
            code: HandshakeErrorCode::SessionStateMismatch,
            reason: "refused by the model's server".into(),
        },
    };
    let ctx = context(SERVER_ID, CLIENT_ID, &Counters::default());
    ctx.encode_handshake(PartialMessage::handshake_response(generate_id(), &response))
        .expect("a handshake response always encodes")
}

/// The client judges the server's first frame with [`evaluate_response`].
pub(crate) fn evaluate(frame: &[u8], generation: u8) -> ClientOutcome {
    evaluate_response(CodecKind::Json, frame, &session_id(generation))
}

/// The answers to questions already put to the real code.
struct Memo<K, V>(Mutex<HashMap<K, V>>);

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    fn get_or(&self, key: K, compute: impl FnOnce() -> V) -> V {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(key).or_insert_with(compute).clone()
    }
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo(Mutex::new(HashMap::new()))
    }
}

impl<K, V> std::fmt::Debug for Memo<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Memo")
    }
}

/// The real functions, each answer remembered.
#[derive(Debug, Default)]
pub(crate) struct Real {
    sequence: Memo<(Side, Counters, Kind), Sequenced>,
    receive: Memo<(Side, Counters, u8, u8), (Counters, Receipt)>,
    next_sent_seq: Memo<Counters, u8>,
    handshake: Memo<HandshakeKey, (u8, Decision)>,
    evaluate: Memo<(Option<u8>, u8), ClientOutcome>,
}

/// Counters after sequencing a message, and the message's seq and ack.
type Sequenced = (Counters, (u8, u8));

/// A handshake request's counters, whether to clamp its `nextSentSeq` to the server's ack
/// (a planted bug), and the server's session (its counters and generation).
type HandshakeKey = ((u8, u8, u8), bool, Option<(Counters, u8)>);

impl Real {
    /// [`sequence`], remembered.
    pub(crate) fn sequence(&self, side: Side, counters: &mut Counters, kind: Kind) -> (u8, u8) {
        let (after, stamp) = self.sequence.get_or((side, counters.clone(), kind), || {
            let mut c = counters.clone();
            let stamp = sequence(side, &mut c, kind);
            (c, stamp)
        });
        *counters = after;
        stamp
    }

    /// [`receive`], remembered.
    pub(crate) fn receive(&self, side: Side, counters: &mut Counters, seq: u8, ack: u8) -> Receipt {
        let (after, receipt) = self.receive.get_or((side, counters.clone(), seq, ack), || {
            let mut c = counters.clone();
            let receipt = receive(side, &mut c, seq, ack);
            (c, receipt)
        });
        *counters = after;
        receipt
    }

    /// The client's [`next_sent_seq`], remembered.
    pub(crate) fn client_next_sent_seq(&self, counters: &Counters) -> u8 {
        self.next_sent_seq
            .get_or(counters.clone(), || next_sent_seq(Side::Client, counters))
    }

    /// The server's reading of a handshake request and its decision: the request is encoded,
    /// parsed with [`parse_request`] and decided with [`decide`] against `existing` (the
    /// server's session: its counters and generation). With `clamp`, the planted bug lowers the
    /// request's `nextSentSeq` to the session's ack first. Returns the generation the request
    /// names and the decision.
    pub(crate) fn handshake(
        &self,
        request: (u8, u8, u8),
        clamp: bool,
        existing_session: Option<(&Counters, u8)>,
    ) -> (u8, Decision) {
        let key = (
            request,
            clamp,
            existing_session.map(|(c, g)| (c.clone(), g)),
        );
        self.handshake.get_or(key, || {
            let (generation, expected, sent) = request;
            let mut parsed = parse(&handshake_request(generation, expected, sent));
            let named = generation_of(&parsed);
            let server = existing_session.map(|(c, g)| existing(c, g));
            if clamp && let Some(s) = server.as_ref().filter(|s| s.id == parsed.session_id) {
                let wanted = &mut parsed.expected_session_state;
                wanted.next_sent_seq = wanted.next_sent_seq.min(s.ack);
            }
            (named, decide_on(&parsed, server.as_ref()))
        })
    }

    /// The client's judgement of the server's response, remembered.
    pub(crate) fn evaluate(&self, accepted: Option<u8>, generation: u8) -> ClientOutcome {
        self.evaluate.get_or((accepted, generation), || {
            evaluate(&handshake_response(accepted), generation)
        })
    }
}

/// A message as it would arrive, for tests of this module.
#[cfg(test)]
fn message(seq: u64, ack: u64) -> statebound_river::wire::TransportMessage {
    PartialMessage::heartbeat().into_message(MessageHeader {
        id: generate_id(),
        from: SERVER_ID.into(),
        to: CLIENT_ID.into(),
        seq,
        ack,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencing_and_receiving_go_through_the_real_context() {
        let mut c = Counters::default();
        assert_eq!(sequence(Side::Client, &mut c, Kind::App), (0, 0));
        assert_eq!(sequence(Side::Client, &mut c, Kind::Heartbeat), (1, 0));
        let seqs = |c: &Counters| c.buffer.iter().map(|b| (b.seq, b.kind)).collect::<Vec<_>>();
        assert_eq!(seqs(&c), [(0, Kind::App), (1, Kind::Heartbeat)]);
        assert_eq!(receive(Side::Client, &mut c, 0, 1), Receipt::Accepted);
        assert_eq!((c.ack, seqs(&c)), (1, vec![(1, Kind::Heartbeat)]));
        assert_eq!(receive(Side::Client, &mut c, 0, 2), Receipt::Duplicate);
        assert!(matches!(
            receive(Side::Client, &mut c, 3, 2),
            Receipt::Gap { .. }
        ));
        assert_eq!(next_sent_seq(Side::Client, &c), 1);
        let mut ctx = context(CLIENT_ID, SERVER_ID, &c);
        assert_eq!(ctx.receive(&message(1, 2)), Receipt::Accepted);
    }

    #[test]
    fn handshakes_round_trip_through_the_real_codec() {
        let request = parse(&handshake_request(3, 1, 2));
        assert_eq!(generation_of(&request), 3);
        assert_eq!(request.expected_session_state.next_sent_seq, 2);
        assert!(matches!(
            evaluate(&handshake_response(Some(3)), 3),
            ClientOutcome::Connected
        ));
        assert!(matches!(
            evaluate(&handshake_response(Some(3)), 4),
            ClientOutcome::Invalid(_)
        ));
        assert!(matches!(
            evaluate(&handshake_response(None), 3),
            ClientOutcome::Retry(_)
        ));
    }
}
