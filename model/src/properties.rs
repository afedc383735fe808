//! What must hold in every reachable world, and what must be reachable at all.
//!
//! Every property here is an `always` property: a promise of the protocol. That the interesting
//! cases (a resume, a resend, a refusal) happen in the explored space, so the promises are not
//! kept vacuously, is told by [`ResumeModel::reached`] and its [`Event`](crate::state::Event)s.

use stateright::Property;

use crate::model::{ClientKind, Config, ResumeModel};
use crate::state::{Kind, ServerSession, Violation, World};

/// Exactly once and in order, server side: what each server session received is a prefix of
/// what the client session it serves sent.
pub const SERVER_IN_ORDER: &str =
    "each server session receives its client session's messages in order, exactly once";
/// Exactly once and in order, client side, from one server session.
pub const CLIENT_IN_ORDER: &str =
    "each client session receives one server session's messages in order, exactly once";
/// `ack` is the count of what was received.
pub const COUNTERS_AGREE: &str = "each side's ack counts what it received";
/// A message leaves the buffer only once its receiver has it.
pub const ACKED_MEANS_DELIVERED: &str = "acked means delivered";
/// The buffer holds exactly the unacknowledged messages.
pub const BUFFERS_EXACT: &str = "a send buffer holds exactly the unacknowledged messages, in order";
/// Messages stay in their session.
pub const NO_CROSSING: &str = "nothing crosses sessions";
/// The handshake's verdict never loses or duplicates a message.
pub const ACCEPTS_ONLY_SAFE: &str =
    "a resume is accepted only when nothing can be lost or duplicated";
/// River's rules never refuse a resume that would have been safe.
pub const REFUSES_ONLY_UNSAFE: &str =
    "River's rules refuse only resumes that would lose or duplicate";
/// With nothing in flight, everything sent has arrived.
pub const QUIET_MEANS_DELIVERED: &str = "a quiet connection has delivered everything";
/// A client message is never handled by two server sessions.
pub const ONE_SERVER_SESSION: &str = "no client message reaches two server sessions";
/// Our client and our server never refuse a session both still have.
pub const NO_REFUSAL_BETWEEN_RUST_PEERS: &str =
    "our client and server never refuse a session both hold";

fn is_prefix(prefix: &[Kind], of: &[Kind]) -> bool {
    of.get(..prefix.len()) == Some(prefix)
}

fn server_in_order(_: &ResumeModel, w: &World) -> bool {
    w.ghost.server_received.iter().enumerate().all(|(i, got)| {
        let served = usize::from(w.ghost.serves[i]);
        is_prefix(got, &w.ghost.client_sent[served])
    })
}

fn client_in_order(_: &ResumeModel, w: &World) -> bool {
    w.ghost.client_received.iter().all(|got| {
        let Some(&(from, _)) = got.first() else {
            return true;
        };
        let kinds: Vec<Kind> = got.iter().map(|&(_, k)| k).collect();
        got.iter().all(|&(i, _)| i == from)
            && is_prefix(&kinds, &w.ghost.server_sent[usize::from(from)])
    })
}

fn counters_agree(_: &ResumeModel, w: &World) -> bool {
    let client = &w.client;
    let client_ok = client.node.is_none()
        || usize::from(client.counters.ack)
            == w.ghost.client_received[usize::from(client.generation)].len();
    let server_ok = w.server.as_ref().is_none_or(|s| {
        usize::from(s.counters.ack) == w.ghost.server_received[usize::from(s.incarnation)].len()
    });
    client_ok && server_ok
}

fn incarnation_index(i: usize) -> u8 {
    u8::try_from(i).expect("the model starts few server sessions")
}

/// How many messages server session `incarnation` got to the client.
fn delivered_by(w: &World, incarnation: u8) -> usize {
    w.ghost
        .client_received
        .iter()
        .flatten()
        .filter(|&&(i, _)| i == incarnation)
        .count()
}

/// The most messages any server session of client session `generation` received.
fn delivered_to_server(w: &World, generation: u8) -> usize {
    w.ghost
        .serves
        .iter()
        .zip(&w.ghost.server_received)
        .filter(|&(&g, _)| g == generation)
        .map(|(_, got)| got.len())
        .max()
        .unwrap_or(0)
}

fn acked_means_delivered(_: &ResumeModel, w: &World) -> bool {
    let client = &w.client;
    let client_ok = client.node.is_none()
        || usize::from(client.counters.unacked_from()) <= delivered_to_server(w, client.generation);
    let server_ok = w
        .server
        .as_ref()
        .is_none_or(|s| usize::from(s.counters.unacked_from()) <= delivered_by(w, s.incarnation));
    client_ok && server_ok
}

fn buffer_exact(counters: &crate::state::Counters, sent: &[Kind]) -> bool {
    let from = usize::from(counters.unacked_from());
    usize::from(counters.seq) == sent.len()
        && counters.buffer.len() == sent.len() - from
        && counters
            .buffer
            .iter()
            .zip(from..)
            .all(|(b, seq)| usize::from(b.seq) == seq && b.kind == sent[seq])
}

fn buffers_exact(_: &ResumeModel, w: &World) -> bool {
    let client = &w.client;
    let client_ok = client.node.is_none()
        || (buffer_exact(
            &client.counters,
            &w.ghost.client_sent[usize::from(client.generation)],
        ) && client.written <= client.counters.seq);
    let server_ok = w.server.as_ref().is_none_or(|s| {
        buffer_exact(
            &s.counters,
            &w.ghost.server_sent[usize::from(s.incarnation)],
        )
    });
    client_ok && server_ok
}

/// The server session and client share a live connection with nothing in flight.
fn quiet(w: &World) -> Option<&ServerSession> {
    let c = w.client.conn?;
    let s = w.server.as_ref()?;
    let conn = &w.conns[usize::from(c)];
    let both_connected = w.client.node?.is("Connected") && s.node.is("Connected");
    (both_connected
        && s.conn == Some(c)
        && s.generation == w.client.generation
        && !conn.broken
        && conn.to_server.is_empty()
        && conn.to_client.is_empty())
    .then_some(s)
}

fn quiet_means_delivered(_: &ResumeModel, w: &World) -> bool {
    let Some(s) = quiet(w) else { return true };
    let generation = usize::from(w.client.generation);
    let incarnation = usize::from(s.incarnation);
    w.ghost.server_received[incarnation].len() == w.ghost.client_sent[generation].len()
        && w.ghost.client_received[generation].len() == w.ghost.server_sent[incarnation].len()
}

fn one_server_session(_: &ResumeModel, w: &World) -> bool {
    w.ghost
        .client_sent
        .iter()
        .enumerate()
        .all(|(generation, sent)| {
            sent.iter().enumerate().all(|(seq, kind)| {
                let handled = w
                    .ghost
                    .serves
                    .iter()
                    .zip(&w.ghost.server_received)
                    .filter(|&(&g, got)| usize::from(g) == generation && got.len() > seq)
                    .count();
                *kind == Kind::Heartbeat || handled <= 1
            })
        })
}

macro_rules! never {
    ($name:expr, $finding:expr) => {
        Property::<ResumeModel>::always($name, |_, w| !w.ghost.saw($finding))
    };
}

/// Every property that applies to `config`.
pub(crate) fn all(config: &Config) -> Vec<Property<ResumeModel>> {
    let mut props: Vec<Property<ResumeModel>> = vec![
        Property::always(SERVER_IN_ORDER, server_in_order),
        Property::always(CLIENT_IN_ORDER, client_in_order),
        Property::always(COUNTERS_AGREE, counters_agree),
        Property::always(ACKED_MEANS_DELIVERED, acked_means_delivered),
        Property::always(BUFFERS_EXACT, buffers_exact),
        never!(NO_CROSSING, Violation::CrossedSessions),
        never!(ACCEPTS_ONLY_SAFE, Violation::UnsafeAccept),
        never!(REFUSES_ONLY_UNSAFE, Violation::SafeRefusal),
        Property::always(QUIET_MEANS_DELIVERED, quiet_means_delivered),
        Property::always(ONE_SERVER_SESSION, one_server_session),
    ];
    if config.client == ClientKind::Rust {
        props.push(never!(
            NO_REFUSAL_BETWEEN_RUST_PEERS,
            Violation::RustPeersRefused
        ));
    }
    props
}

/// What accepting the pending handshake would do, judged from what each side really has.
pub(crate) struct Verdict {
    /// Accepting loses and duplicates nothing.
    pub(crate) safe: bool,
    /// Accepting would lose messages, but only heartbeats.
    pub(crate) only_heartbeats_lost: bool,
    /// The server does not have the session, and nothing of it waits to be delivered.
    pub(crate) nothing_pending: bool,
}

/// Judges accepting the client's pending handshake (the client is `Handshaking` and the
/// server has not changed anything yet).
///
/// A resume loses a message when the receiver lacks it and the sender will not write it again
/// (River's receivers drop duplicates, so writing one again is harmless as long as each side's
/// ack counts what it received, which [`COUNTERS_AGREE`] checks). A handshake for a session the
/// server does not have starts a server session at seq 0 expecting seq 0: that is safe only if
/// the client will write everything from seq 0, has received nothing, and no earlier server
/// session of it handled any of its messages already.
pub(crate) fn judge_resume(model: &ResumeModel, w: &World) -> Verdict {
    let client = &w.client;
    let generation = client.generation;
    let resends_from = usize::from(model.client_resends_from(client));
    let sent = &w.ghost.client_sent[usize::from(generation)];
    let got = &w.ghost.client_received[usize::from(generation)];
    if let Some(s) = w.server.as_ref().filter(|s| s.generation == generation) {
        let incarnation = usize::from(s.incarnation);
        let server_got = w.ghost.server_received[incarnation].len();
        let server_sent = &w.ghost.server_sent[incarnation];
        let one_peer = got.iter().all(|&(i, _)| i == s.incarnation);
        let lost_to_server = sent.get(server_got..resends_from).unwrap_or_default();
        let server_resends_from = usize::from(s.counters.unacked_from());
        let lost_to_client = server_sent
            .get(got.len()..server_resends_from)
            .unwrap_or_default();
        let safe = one_peer && lost_to_server.is_empty() && lost_to_client.is_empty();
        let only_heartbeats = lost_to_server
            .iter()
            .chain(lost_to_client)
            .all(|&k| k == Kind::Heartbeat);
        Verdict {
            safe,
            only_heartbeats_lost: one_peer && !safe && only_heartbeats,
            nothing_pending: false,
        }
    } else {
        let handled_before = w
            .ghost
            .serves
            .iter()
            .zip(&w.ghost.server_received)
            .any(|(&g, got)| g == generation && got.contains(&Kind::App));
        let safe = resends_from == 0 && got.is_empty() && !handled_before;
        let all_delivered_to_server = delivered_to_server(w, generation) == sent.len();
        let all_delivered_to_client = (0..w.ghost.serves.len())
            .filter(|&i| w.ghost.serves[i] == generation)
            .all(|i| delivered_by(w, incarnation_index(i)) == w.ghost.server_sent[i].len());
        Verdict {
            safe,
            only_heartbeats_lost: false,
            nothing_pending: all_delivered_to_server
                && all_delivered_to_client
                && resends_from == sent.len(),
        }
    }
}
