//! The model: its configuration, its actions, and how each action changes the world.

use std::sync::atomic::{AtomicU32, Ordering};

use statebound_river::session::{ClientOutcome, Decision, Receipt};
use stateright::{Model, Property};

use crate::graph_tie::{Coverage, Node};
use crate::properties;
use crate::real::{Real, Side};
use crate::state::{
    Budget, Client, Conn, Counters, Event, Frame, Ghost, Kind, Msg, ServerSession, Violation, World,
};

/// Which client the model runs against the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// This crate's client: it resends its whole buffer after every handshake.
    Rust,
    /// River's Python v2 client (`replit-river` 0.17): it writes each frame once and never
    /// again, its heartbeat echoes are sequenced, a gap ends its session, and it has no grace
    /// period of its own (`docs/protocol.md` section 10).
    Python,
}

/// A bug planted in the model on purpose, to show the checker finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planted {
    /// No bug: the model runs River's rules.
    None,
    /// The server ignores a client that is in the future (`nextSentSeq` above its ack).
    AcceptClientInFuture,
    /// The server takes a handshake for a session it does not have, whatever its counters, as
    /// a new session.
    AcceptUnknownSession,
    /// The server does not resend its buffer after accepting a resume.
    SkipServerResend,
    /// The client does not resend its buffer after its handshake is accepted.
    SkipClientResend,
}

/// The model's bounds and options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The client.
    pub client: ClientKind,
    /// Connections the client may dial, successful or not.
    pub dials: u8,
    /// New sessions the client may start after its first (after a refusal, a gap that ends a
    /// Python session, or its grace running out).
    pub client_sessions: u8,
    /// Application messages the client sends in all.
    pub client_sends: u8,
    /// Application messages the server sends in all.
    pub server_sends: u8,
    /// Heartbeats the server sends in all; each one the client accepts it answers.
    pub heartbeats: u8,
    /// Whether the server's grace period may end a session that has no connection (so the
    /// server forgets it, as it also does when it restarts).
    pub server_forgets: bool,
    /// Not a River rule: the server remembers the ids of sessions it ended and refuses a
    /// handshake for one with `SESSION_STATE_MISMATCH`, so a client never resumes a session
    /// the server has forgotten as if nothing had happened.
    pub refuse_ended_sessions: bool,
    /// Not a River rule: the server also refuses a resume whose `nextExpectedSeq` is above its
    /// own next seq, since such a client has received messages this session never sent (it
    /// talked to an earlier server session of the same id).
    pub refuse_client_ahead_of_server: bool,
    /// A planted bug, or none.
    pub planted: Planted,
}

impl Config {
    /// The configuration CI checks for each option: three dials, a second session, two
    /// client messages, one server message and one heartbeat.
    pub fn ci(client: ClientKind) -> Config {
        Config {
            client,
            dials: 3,
            client_sessions: 1,
            client_sends: 2,
            server_sends: 1,
            heartbeats: 1,
            server_forgets: false,
            refuse_ended_sessions: false,
            refuse_client_ahead_of_server: false,
            planted: Planted::None,
        }
    }

    /// A larger configuration for a longer run: a fourth dial and a third client message.
    pub fn large(client: ClientKind) -> Config {
        Config {
            dials: 4,
            client_sends: 3,
            ..Config::ci(client)
        }
    }

    /// This configuration with the server's grace period able to end sessions.
    #[must_use]
    pub fn forgetting(self) -> Config {
        Config {
            server_forgets: true,
            ..self
        }
    }

    /// This configuration with the server refusing the ids of sessions it ended.
    #[must_use]
    pub fn refusing_ended_sessions(self) -> Config {
        Config {
            refuse_ended_sessions: true,
            ..self
        }
    }

    /// This configuration with `bug` planted.
    #[must_use]
    pub fn planting(self, bug: Planted) -> Config {
        Config {
            planted: bug,
            ..self
        }
    }
}

/// One step of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Client, `NoConnection`: start the backoff before an attempt (`back_off`).
    ClientBacksOff,
    /// Client, `BackingOff`: the attempt is called off (`cancel`).
    ClientCancels,
    /// Client, `BackingOff`: the backoff is over; dial (`connect`).
    ClientConnects,
    /// Client, `Connecting`: the dial succeeded; send the handshake request
    /// (`connection_established`).
    ClientDialed,
    /// Client, `Connecting`: the dial failed or timed out (`connection_failed`).
    ClientDialFails,
    /// Client: read the next frame on its connection.
    ClientReads,
    /// Client: its connection closed, its watchdog or handshake timeout fired
    /// (`connection_lost`).
    ClientDrops,
    /// Client without a working connection: the session's grace period ends (the close hook).
    ClientGraceExpires,
    /// Client: the application sends a message.
    ClientSends,
    /// Server: read the next frame on this connection.
    ServerReads(u8),
    /// Server: close this connection (its watchdog, a handshake timeout, or the peer's close).
    ServerDrops(u8),
    /// Server: the application sends a message.
    ServerSends,
    /// Server, `Connected`: the heartbeat timer fires.
    ServerHeartbeat,
    /// Server, `NoConnection`: the session's grace period ends (the close hook).
    ServerGraceExpires,
    /// The network cuts this connection: everything in flight either way is lost.
    Cut(u8),
}

/// River's session protocol between one client and one server, with connections that may die
/// at any point.
#[derive(Debug)]
pub struct ResumeModel {
    /// Bounds and options.
    pub config: Config,
    coverage: Coverage,
    reached: Reached,
    real: Real,
}

/// The [`Event`]s reached by the steps computed so far.
#[derive(Debug, Default)]
struct Reached(AtomicU32);

impl Reached {
    fn note(&self, event: Event) {
        self.0.fetch_or(event as u32, Ordering::Relaxed);
    }
}

impl ResumeModel {
    /// The model under `config`.
    pub fn new(config: Config) -> ResumeModel {
        ResumeModel {
            config,
            coverage: Coverage::default(),
            reached: Reached::default(),
            real: Real::default(),
        }
    }

    /// Whether a step computed so far reached `event`.
    pub fn reached(&self, event: Event) -> bool {
        self.reached.0.load(Ordering::Relaxed) & event as u32 != 0
    }

    /// The graph transitions taken by every step computed so far.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }
}

fn client_has(world: &World, name: &str) -> bool {
    world.client.node.is_some_and(|n| n.is(name))
}

fn index(conn: usize) -> u8 {
    u8::try_from(conn).expect("the model dials few connections")
}

impl Model for ResumeModel {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
        let c = &self.config;
        vec![World {
            client: Client {
                node: Some(Node::entry("client")),
                conn: None,
                generation: 0,
                counters: Counters::default(),
                written: 0,
            },
            server: None,
            conns: Vec::new(),
            budget: Budget {
                dials: c.dials,
                client_sessions: c.client_sessions,
                client_sends: c.client_sends,
                server_sends: c.server_sends,
                heartbeats: c.heartbeats,
            },
            ghost: Ghost {
                client_sent: vec![Vec::new()],
                client_received: vec![Vec::new()],
                ..Ghost::default()
            },
        }]
    }

    fn actions(&self, w: &World, actions: &mut Vec<Action>) {
        let b = &w.budget;
        if client_has(w, "NoConnection") && b.dials > 0 {
            actions.push(Action::ClientBacksOff);
        }
        if client_has(w, "BackingOff") {
            actions.push(Action::ClientCancels);
            actions.push(Action::ClientConnects);
        }
        if client_has(w, "Connecting") {
            actions.push(Action::ClientDialed);
            actions.push(Action::ClientDialFails);
        }
        if let Some(c) = w.client.conn {
            if !w.conns[usize::from(c)].to_client.is_empty() {
                actions.push(Action::ClientReads);
            }
            actions.push(Action::ClientDrops);
        }
        let has_grace = ["NoConnection", "BackingOff", "Connecting", "Handshaking"]
            .iter()
            .any(|s| client_has(w, s));
        if self.config.client == ClientKind::Rust && has_grace {
            actions.push(Action::ClientGraceExpires);
        }
        if w.client.node.is_some() && b.client_sends > 0 {
            actions.push(Action::ClientSends);
        }
        for (i, conn) in w.conns.iter().enumerate() {
            let i = index(i);
            if conn.server_open {
                if !conn.to_server.is_empty() {
                    actions.push(Action::ServerReads(i));
                }
                actions.push(Action::ServerDrops(i));
            }
        }
        if let Some(s) = &w.server {
            if b.server_sends > 0 {
                actions.push(Action::ServerSends);
            }
            if s.node.is("Connected") && b.heartbeats > 0 {
                actions.push(Action::ServerHeartbeat);
            }
            if s.node.is("NoConnection") && self.config.server_forgets {
                actions.push(Action::ServerGraceExpires);
            }
        }
        for (i, conn) in w.conns.iter().enumerate() {
            if !conn.broken && (conn.client_open || conn.server_open) {
                actions.push(Action::Cut(index(i)));
            }
        }
    }

    fn next_state(&self, w: &World, action: Action) -> Option<World> {
        let mut w = w.clone();
        match action {
            Action::ClientBacksOff => self.client_moves(&mut w, "back_off"),
            Action::ClientCancels => self.client_moves(&mut w, "cancel"),
            Action::ClientConnects => self.client_moves(&mut w, "connect"),
            Action::ClientDialed => self.client_dialed(&mut w),
            Action::ClientDialFails => {
                w.budget.dials -= 1;
                self.client_moves(&mut w, "connection_failed");
            }
            Action::ClientReads => self.client_reads(&mut w),
            Action::ClientDrops => self.client_loses_connection(&mut w),
            Action::ClientGraceExpires => Self::client_session_ends(&mut w),
            Action::ClientSends => {
                w.budget.client_sends -= 1;
                self.client_sends(&mut w, Kind::App);
            }
            Action::ServerReads(c) => self.server_reads(&mut w, c),
            Action::ServerDrops(c) => self.server_drops(&mut w, c),
            Action::ServerSends => {
                w.budget.server_sends -= 1;
                self.server_sends(&mut w, Kind::App);
            }
            Action::ServerHeartbeat => {
                w.budget.heartbeats -= 1;
                self.server_sends(&mut w, Kind::Heartbeat);
            }
            Action::ServerGraceExpires => self.server_session_ends(&mut w),
            Action::Cut(c) => {
                let conn = &mut w.conns[usize::from(c)];
                conn.broken = true;
                conn.to_server.clear();
                conn.to_client.clear();
            }
        }
        Some(w)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all(&self.config)
    }
}

// ----- the client -----------------------------------------------------------------------------

impl ResumeModel {
    fn client_moves(&self, w: &mut World, transition: &str) {
        let from = w.client.node.expect("only a live session moves");
        w.client.node = Some(self.coverage.step(from, transition));
    }

    /// The seq from which this client writes its buffer again after a handshake.
    pub(crate) fn client_resends_from(&self, client: &Client) -> u8 {
        match self.config.client {
            ClientKind::Rust => client.counters.unacked_from(),
            ClientKind::Python => client.written,
        }
    }

    fn client_dialed(&self, w: &mut World) {
        w.budget.dials -= 1;
        let c = &w.client;
        // The Rust client asks with its context's `next_sent_seq`; the Python client with
        // the oldest frame it has not written, since it never writes one twice.
        let next_sent_seq = match self.config.client {
            ClientKind::Rust => self.real.client_next_sent_seq(&c.counters),
            ClientKind::Python => c.written,
        };
        let request = Frame::Request {
            generation: c.generation,
            next_expected_seq: c.counters.ack,
            next_sent_seq,
        };
        w.conns.push(Conn::dialed(request));
        w.client.conn = Some(index(w.conns.len() - 1));
        self.client_moves(w, "connection_established");
    }

    fn client_write(w: &mut World, frame: Frame) {
        let c = w.client.conn.expect("the client writes on its connection");
        let conn = &mut w.conns[usize::from(c)];
        if !conn.broken && conn.server_open {
            conn.to_server.push(frame);
        }
    }

    fn client_sends(&self, w: &mut World, kind: Kind) {
        let (seq, ack) = self
            .real
            .sequence(Side::Client, &mut w.client.counters, kind);
        let generation = w.client.generation;
        w.ghost.client_sent[usize::from(generation)].push(kind);
        if client_has(w, "Connected") {
            let msg = Msg {
                seq,
                ack,
                kind,
                sender: generation,
                resent: false,
            };
            Self::client_write(w, Frame::Msg(msg));
            w.client.written = w.client.counters.seq;
        }
    }

    fn client_reads(&self, w: &mut World) {
        let c = usize::from(w.client.conn.expect("the client reads its connection"));
        let frame = w.conns[c].to_client.remove(0);
        let in_handshake = client_has(w, "Handshaking");
        match frame {
            Frame::Response(accepted) if in_handshake => {
                match self.real.evaluate(accepted, w.client.generation) {
                    ClientOutcome::Connected => self.client_connected(w),
                    ClientOutcome::Retry(_)
                    | ClientOutcome::Fatal(_)
                    | ClientOutcome::Invalid(_) => {
                        Self::client_session_ends(w);
                    }
                }
            }
            Frame::Msg(msg) if !in_handshake => self.client_receives(w, msg),
            other => panic!("the client read {other:?} in {:?}", w.client.node),
        }
    }

    fn client_connected(&self, w: &mut World) {
        self.client_moves(w, "handshake_ok");
        let generation = w.client.generation;
        let from = self.client_resends_from(&w.client);
        if self.config.planted == Planted::SkipClientResend {
            w.client.written = w.client.counters.seq;
            return;
        }
        let again: Vec<Msg> = w
            .client
            .counters
            .buffer
            .iter()
            .filter(|b| b.seq >= from)
            .map(|b| Msg {
                seq: b.seq,
                ack: b.ack,
                kind: b.kind,
                sender: generation,
                resent: b.seq < w.client.written,
            })
            .collect();
        for msg in again {
            Self::client_write(w, Frame::Msg(msg));
        }
        w.client.written = w.client.counters.seq;
    }

    fn client_receives(&self, w: &mut World, msg: Msg) {
        match self
            .real
            .receive(Side::Client, &mut w.client.counters, msg.seq, msg.ack)
        {
            Receipt::Accepted => {
                let generation = w.client.generation;
                if w.ghost.serves.get(usize::from(msg.sender)) != Some(&generation) {
                    w.ghost.note(Violation::CrossedSessions);
                }
                if msg.resent {
                    self.reached.note(Event::ResentDelivered);
                }
                w.ghost.client_received[usize::from(generation)].push((msg.sender, msg.kind));
                if msg.kind == Kind::Heartbeat {
                    self.client_sends(w, Kind::Heartbeat);
                }
            }
            Receipt::Duplicate => self.reached.note(Event::DuplicateDropped),
            Receipt::Gap { .. } => {
                self.reached.note(Event::GapSeen);
                match self.config.client {
                    ClientKind::Rust => self.client_loses_connection(w),
                    ClientKind::Python => Self::client_session_ends(w),
                }
            }
            Receipt::NotFromPeer => unreachable!("every message in the model is from the peer"),
        }
    }

    fn client_closes_conn(w: &mut World) {
        if let Some(c) = w.client.conn.take() {
            let conn = &mut w.conns[usize::from(c)];
            conn.client_open = false;
            conn.to_client.clear();
            conn.settle();
        }
    }

    fn client_loses_connection(&self, w: &mut World) {
        Self::client_closes_conn(w);
        self.client_moves(w, "connection_lost");
    }

    /// The session ends from whatever state it is in (its close hook: the connection closes
    /// and the buffer is dropped); the client transport starts a new session, if it may.
    fn client_session_ends(w: &mut World) {
        Self::client_closes_conn(w);
        let client = &mut w.client;
        if w.budget.client_sessions == 0 {
            client.node = None;
            client.counters = Counters::default();
            return;
        }
        w.budget.client_sessions -= 1;
        client.generation += 1;
        client.node = Some(Node::entry("client"));
        client.counters = Counters::default();
        client.written = 0;
        w.ghost.client_sent.push(Vec::new());
        w.ghost.client_received.push(Vec::new());
    }
}

// ----- the server -----------------------------------------------------------------------------

impl ResumeModel {
    fn server_write(w: &mut World, c: u8, frame: Frame) {
        let conn = &mut w.conns[usize::from(c)];
        if !conn.broken && conn.client_open {
            conn.to_client.push(frame);
        }
    }

    fn server_closes_conn(w: &mut World, c: u8) {
        let conn = &mut w.conns[usize::from(c)];
        conn.server_open = false;
        conn.to_server.clear();
        conn.settle();
    }

    fn server_sends(&self, w: &mut World, kind: Kind) {
        let s = w.server.as_mut().expect("only a session sends");
        let (seq, ack) = self.real.sequence(Side::Server, &mut s.counters, kind);
        let incarnation = s.incarnation;
        w.ghost.server_sent[usize::from(incarnation)].push(kind);
        if let Some(c) = s.conn {
            let msg = Msg {
                seq,
                ack,
                kind,
                sender: incarnation,
                resent: false,
            };
            Self::server_write(w, c, Frame::Msg(msg));
        }
    }

    fn server_drops(&self, w: &mut World, c: u8) {
        if w.server.as_ref().is_some_and(|s| s.conn == Some(c)) {
            self.server_loses_connection(w);
        } else {
            // A pending connection's handshake timeout: it never became a session.
            Self::server_closes_conn(w, c);
        }
    }

    fn server_loses_connection(&self, w: &mut World) {
        let s = w
            .server
            .as_mut()
            .expect("only a session loses its connection");
        let c = s.conn.take().expect("a connected session has a connection");
        s.node = self.coverage.step(s.node, "connection_lost");
        Self::server_closes_conn(w, c);
    }

    /// The server's session ends (its close hook closes its connection, if any).
    fn server_session_ends(&self, w: &mut World) {
        if let Some(s) = w.server.take() {
            if let Some(c) = s.conn {
                Self::server_closes_conn(w, c);
            }
            if self.config.refuse_ended_sessions {
                w.ghost.ended_generations.push(s.generation);
            }
        }
    }

    fn server_reads(&self, w: &mut World, c: u8) {
        let frame = w.conns[usize::from(c)].to_server.remove(0);
        let on_session = w.server.as_ref().is_some_and(|s| s.conn == Some(c));
        match frame {
            Frame::Msg(msg) if on_session => self.server_receives(w, msg),
            Frame::Request {
                generation,
                next_expected_seq,
                next_sent_seq,
            } if !on_session => {
                self.server_decides(w, c, generation, next_expected_seq, next_sent_seq);
            }
            other => panic!("the server read {other:?} on connection {c}"),
        }
    }

    fn server_receives(&self, w: &mut World, msg: Msg) {
        let s = w.server.as_mut().expect("a session reads its connection");
        match self
            .real
            .receive(Side::Server, &mut s.counters, msg.seq, msg.ack)
        {
            Receipt::Accepted => {
                let (generation, incarnation) = (s.generation, s.incarnation);
                if msg.sender != generation {
                    w.ghost.note(Violation::CrossedSessions);
                }
                if msg.resent {
                    self.reached.note(Event::ResentDelivered);
                }
                w.ghost.server_received[usize::from(incarnation)].push(msg.kind);
            }
            Receipt::Duplicate => self.reached.note(Event::DuplicateDropped),
            Receipt::Gap { .. } => {
                self.reached.note(Event::GapSeen);
                self.server_loses_connection(w);
            }
            Receipt::NotFromPeer => unreachable!("every message in the model is from the peer"),
        }
    }

    /// A handshake request on a pending connection: the real parser and `decide`, then the
    /// driver's accept, adopt or reject.
    fn server_decides(&self, w: &mut World, c: u8, generation: u8, expected: u8, sent: u8) {
        let clamp = self.config.planted == Planted::AcceptClientInFuture;
        let existing = w.server.as_ref().map(|s| (&s.counters, s.generation));
        let (generation, mut decision) =
            self.real
                .handshake((generation, expected, sent), clamp, existing);
        let same = w.server.as_ref().filter(|s| s.generation == generation);
        // Whether a rule beyond River's refused it, and whether that was the ended-session rule.
        let mut by_extra_rule = false;
        let mut by_ended_rule = false;
        if self.config.refuse_ended_sessions
            && w.ghost.ended_generations.contains(&generation)
            && let Decision::New { replaces } = decision
        {
            decision = Decision::Reject {
                rejection: statebound_river::session::Rejection::new(
                    statebound_river::wire::HandshakeErrorCode::SessionStateMismatch,
                    "the server ended this session",
                ),
                replaces,
            };
            by_extra_rule = true;
            by_ended_rule = true;
        }
        if self.config.refuse_client_ahead_of_server
            && let (Decision::Resume, Some(s)) = (&decision, same)
            && expected > s.counters.seq
        {
            decision = Decision::Reject {
                rejection: statebound_river::session::Rejection::new(
                    statebound_river::wire::HandshakeErrorCode::SessionStateMismatch,
                    "the client has seen messages this session never sent",
                ),
                replaces: None,
            };
            by_extra_rule = true;
        }
        if self.config.planted == Planted::AcceptUnknownSession
            && same.is_none()
            && let Decision::Reject { replaces, .. } = decision
        {
            decision = Decision::New { replaces };
        }
        self.judge(w, c, generation, &decision, (by_extra_rule, by_ended_rule));
        let replaced = matches!(
            &decision,
            Decision::New { replaces: Some(_) }
                | Decision::Reject {
                    replaces: Some(_),
                    ..
                }
        );
        let current = w.client.generation;
        if replaced
            && generation != current
            && w.server.as_ref().is_some_and(|s| s.generation == current)
        {
            self.reached.note(Event::StaleReplaced);
        }
        match decision {
            Decision::Resume => self.server_resumes(w, c),
            Decision::New { replaces } => {
                if replaces.is_some() {
                    self.server_session_ends(w);
                }
                self.server_creates(w, c, generation);
            }
            Decision::Reject { replaces, .. } => {
                if replaces.is_some() {
                    self.server_session_ends(w);
                }
                Self::server_write(w, c, Frame::Response(None));
                Self::server_closes_conn(w, c);
            }
        }
    }

    fn server_resumes(&self, w: &mut World, c: u8) {
        self.reached.note(Event::Resumed);
        if w.server.as_ref().is_some_and(|s| s.conn.is_some()) {
            self.server_loses_connection(w);
        }
        let s = w.server.as_mut().expect("a resumed session exists");
        // The pending connection's state takes the session's context and completes the
        // handshake, as the driver's `adopt` does.
        debug_assert!(s.node.is("NoConnection"));
        s.node = self.coverage.step(Node::entry("server"), "handshake_ok");
        s.conn = Some(c);
        let generation = s.generation;
        let incarnation = s.incarnation;
        let again: Vec<Msg> = s
            .counters
            .buffer
            .iter()
            .map(|b| Msg {
                seq: b.seq,
                ack: b.ack,
                kind: b.kind,
                sender: incarnation,
                resent: true,
            })
            .collect();
        Self::server_write(w, c, Frame::Response(Some(generation)));
        if self.config.planted != Planted::SkipServerResend {
            for msg in again {
                Self::server_write(w, c, Frame::Msg(msg));
            }
        }
    }

    fn server_creates(&self, w: &mut World, c: u8, generation: u8) {
        if w.ghost.serves.contains(&generation) {
            self.reached.note(Event::SecondServerSession);
        }
        let incarnation = index(w.ghost.serves.len());
        w.ghost.serves.push(generation);
        w.ghost.server_sent.push(Vec::new());
        w.ghost.server_received.push(Vec::new());
        let node = self.coverage.step(Node::entry("server"), "handshake_ok");
        w.server = Some(ServerSession {
            node,
            conn: Some(c),
            generation,
            incarnation,
            counters: Counters::default(),
        });
        Self::server_write(w, c, Frame::Response(Some(generation)));
    }

    /// Notes whether the verdict on this handshake was right, from what the ghost records say
    /// each side really received. Only a handshake the client is still waiting on is judged:
    /// one the client has given up on changes nothing it will see. `by_extra_rule` says a rule
    /// beyond River's refused it, `by_ended_rule` that it was the ended-session rule.
    fn judge(
        &self,
        w: &mut World,
        c: u8,
        generation: u8,
        decision: &Decision,
        (by_extra_rule, by_ended_rule): (bool, bool),
    ) {
        let client = &w.client;
        let waiting = client.conn == Some(c)
            && client_has(w, "Handshaking")
            && client.generation == generation;
        if !waiting {
            return;
        }
        let verdict = properties::judge_resume(self, w);
        let accepted = !matches!(decision, Decision::Reject { .. });
        if !accepted {
            let known = w
                .server
                .as_ref()
                .is_some_and(|s| s.generation == generation);
            if known {
                self.reached.note(Event::KnownSessionRefused);
                // The server's session is the one the client has been talking to, not a later
                // one under the same id.
                let first = !w
                    .ghost
                    .serves
                    .iter()
                    .skip_while(|&&g| g != generation)
                    .skip(1)
                    .any(|&g| g == generation);
                if self.config.client == ClientKind::Rust && first {
                    w.ghost.note(Violation::RustPeersRefused);
                }
            } else {
                self.reached.note(Event::UnknownSessionRefused);
            }
            if by_ended_rule {
                self.reached.note(Event::EndedSessionRefused);
            }
        }
        if accepted && !verdict.safe {
            w.ghost.note(Violation::UnsafeAccept);
        }
        if !accepted && verdict.safe && !by_extra_rule {
            w.ghost.note(Violation::SafeRefusal);
        }
        if !accepted && !verdict.safe && verdict.only_heartbeats_lost {
            self.reached.note(Event::HeartbeatOnlyRefusal);
        }
        if !accepted && !verdict.safe && verdict.nothing_pending {
            self.reached.note(Event::NothingPendingRefusal);
        }
    }
}
