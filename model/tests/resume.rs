//! The resume protocol, checked exhaustively: River's rules, the Python client, a proposed
//! rule that closes the hole the checker finds, planted bugs, and the tie to the declared graph.
//!
//! `cargo test -p statebound-model -- --nocapture` prints the state counts and times;
//! `cargo test --release -p statebound-model -- --ignored --nocapture` runs the larger
//! configurations.

use std::collections::BTreeSet;
use std::time::Instant;

use statebound_model::properties::{
    ACCEPTS_ONLY_SAFE, ACKED_MEANS_DELIVERED, ONE_SERVER_SESSION, QUIET_MEANS_DELIVERED,
};
use statebound_model::state::{Event, Kind, World};
use statebound_model::{Action, ClientKind, Config, Planted, ResumeModel};
use statebound_river::graph::session::GRAPH;
use stateright::{Checker, HasDiscoveries, Model, Path};

/// A finished run: the checker, and the names of the properties it found broken.
struct Run {
    checker: Box<dyn Checker<ResumeModel>>,
    broken: BTreeSet<&'static str>,
}

impl Run {
    fn path(&self, property: &'static str) -> Path<World, Action> {
        self.checker
            .discovery(property)
            .unwrap_or_else(|| panic!("no counterexample for {property:?}"))
    }

    fn model(&self) -> &ResumeModel {
        self.checker.model()
    }

    fn reached(&self, events: &[Event]) {
        for &event in events {
            assert!(self.model().reached(event), "never reached {event:?}");
        }
    }
}

fn explore(label: &str, config: Config, finish: HasDiscoveries) -> Run {
    explore_with(label, config, finish, false)
}

/// Breadth first finds the shortest counterexamples; depth first holds far fewer states in
/// memory, for the large configurations.
fn explore_with(label: &str, config: Config, finish: HasDiscoveries, depth_first: bool) -> Run {
    let started = Instant::now();
    let builder = ResumeModel::new(config).checker().finish_when(finish);
    let checker: Box<dyn Checker<ResumeModel>> = if depth_first {
        Box::new(builder.spawn_dfs().join())
    } else {
        Box::new(builder.spawn_bfs().join())
    };
    eprintln!(
        "{label}: {} states, {} unique, depth {}, {:.1} s",
        checker.state_count(),
        checker.unique_state_count(),
        checker.max_depth(),
        started.elapsed().as_secs_f64()
    );
    let broken = checker.discoveries().into_keys().collect();
    Run { checker, broken }
}

/// Explores everything; nothing may be broken.
fn holds(label: &str, config: Config) -> Run {
    let run = explore(label, config, HasDiscoveries::All);
    assert!(run.checker.is_done());
    run.checker.assert_properties();
    run
}

/// Explores until `property` breaks.
fn breaks(label: &str, config: Config, property: &'static str) -> Run {
    let finish = HasDiscoveries::AnyOf([property].into_iter().collect());
    let run = explore(label, config, finish);
    assert!(
        run.broken.contains(property),
        "{label}: expected {property:?} to break, broken: {:?}",
        run.broken
    );
    eprintln!(
        "{label}: {property:?} broken after {} steps",
        run.path(property).into_actions().len()
    );
    run
}

/// River's rules, as `decide` has them, let a handshake request left on a connection the
/// client abandoned end the client's current session (a "hard reconnect" from the past); the
/// client's next handshake, counters still at zero, then gets a brand-new server session under
/// the same id, and its first message is handled by both server sessions.
#[test]
fn river_rules_let_a_stale_handshake_split_a_session() {
    let run = explore(
        "River's rules, Rust client",
        Config::ci(ClientKind::Rust),
        HasDiscoveries::AllOf(
            [ONE_SERVER_SESSION, ACCEPTS_ONLY_SAFE]
                .into_iter()
                .collect(),
        ),
    );
    let path = run.path(ONE_SERVER_SESSION);
    let end = path.last_state();
    let generation = end.client.generation;
    let twice: Vec<_> = end
        .ghost
        .serves
        .iter()
        .zip(&end.ghost.server_received)
        .filter(|&(&g, got)| g == generation && got.contains(&Kind::App))
        .collect();
    assert_eq!(
        twice.len(),
        2,
        "two server sessions handled a message: {end:#?}"
    );
    let actions = path.into_actions();
    assert!(
        actions.contains(&Action::ClientGraceExpires),
        "the client gave up a session with a handshake in flight: {actions:?}"
    );
    run.reached(&[Event::StaleReplaced, Event::SecondServerSession]);
}

/// The same world with the server refusing the ids of sessions it ended: every promise holds,
/// and the interesting cases are all reached.
#[test]
fn refusing_ended_sessions_keeps_every_promise() {
    let run = holds(
        "ended-session rule, Rust client",
        Config::ci(ClientKind::Rust).refusing_ended_sessions(),
    );
    run.reached(&[
        Event::Resumed,
        Event::ResentDelivered,
        Event::DuplicateDropped,
        Event::UnknownSessionRefused,
        Event::EndedSessionRefused,
        Event::StaleReplaced,
        Event::NothingPendingRefusal,
    ]);
    assert!(run.checker.unique_state_count() > 100_000);
}

/// A server whose grace period ends sessions (or that restarts) and later gets a handshake
/// with counters at zero for one of them starts a new session under the old id; River's rules
/// then also accept a resume against it, and a server message is acknowledged by an ack meant
/// for the earlier session: it is lost without anyone being told.
#[test]
fn river_rules_with_a_forgetful_server_lose_a_message_silently() {
    let run = breaks(
        "River's rules, server forgets, Python client",
        Config::ci(ClientKind::Python).forgetting(),
        ACKED_MEANS_DELIVERED,
    );
    let end = run.path(ACKED_MEANS_DELIVERED).last_state().clone();
    let s = end.server.as_ref().expect("the server holds the session");
    assert!(s.incarnation > 0, "a later server session: {end:#?}");
}

#[test]
fn refusing_ended_sessions_covers_a_forgetful_server() {
    let small = Config {
        client_sends: 1,
        ..Config::ci(ClientKind::Rust).forgetting()
    };
    holds(
        "ended-session rule, server forgets, Rust",
        small.refusing_ended_sessions(),
    )
    .reached(&[Event::UnknownSessionRefused, Event::EndedSessionRefused]);
    holds(
        "ended-session rule, server forgets, Python",
        Config::ci(ClientKind::Python)
            .forgetting()
            .refusing_ended_sessions(),
    );
}

/// Refusing a resume whose `nextExpectedSeq` is above the server's next seq is not enough on
/// its own: the checker still finds a loss.
#[test]
fn refusing_clients_ahead_of_the_server_is_not_enough() {
    let config = Config {
        refuse_client_ahead_of_server: true,
        ..Config::ci(ClientKind::Python).forgetting()
    };
    breaks("client-ahead rule, Python", config, ACKED_MEANS_DELIVERED);
}

/// The Python client never writes a frame twice, so a cut that loses one puts it in the
/// future; River's rules refuse exactly those resumes. Some refusals lose only heartbeats:
/// harmless to the application, but the gap would stall the session, so they are needed.
#[test]
fn python_client_is_refused_exactly_when_a_frame_is_lost() {
    holds(
        "River's rules, Python client",
        Config::ci(ClientKind::Python),
    )
    .reached(&[
        Event::Resumed,
        Event::KnownSessionRefused,
        Event::HeartbeatOnlyRefusal,
    ]);
}

#[test]
fn planted_accepting_a_client_in_the_future_is_caught() {
    let config = Config::ci(ClientKind::Python).planting(Planted::AcceptClientInFuture);
    let run = breaks(
        "planted: accept client in future",
        config,
        ACCEPTS_ONLY_SAFE,
    );
    let end = run.path(ACCEPTS_ONLY_SAFE).last_state().clone();
    let s = end.server.as_ref().expect("the resumed session");
    assert!(
        end.client.written > s.counters.ack,
        "the client had written frames the server never got: {end:#?}"
    );
}

#[test]
fn planted_server_skipping_its_resend_is_caught() {
    let config = Config::ci(ClientKind::Rust)
        .refusing_ended_sessions()
        .planting(Planted::SkipServerResend);
    breaks(
        "planted: server skips resend",
        config,
        QUIET_MEANS_DELIVERED,
    );
}

#[test]
fn planted_client_skipping_its_resend_is_caught() {
    let config = Config::ci(ClientKind::Rust)
        .refusing_ended_sessions()
        .planting(Planted::SkipClientResend);
    breaks(
        "planted: client skips resend",
        config,
        QUIET_MEANS_DELIVERED,
    );
}

#[test]
fn planted_accepting_an_unknown_session_is_caught() {
    let config = Config::ci(ClientKind::Rust)
        .forgetting()
        .refusing_ended_sessions()
        .planting(Planted::AcceptUnknownSession);
    breaks("planted: accept unknown session", config, ACCEPTS_ONLY_SAFE);
}

/// Every transition the model takes is one `GRAPH` declares, from the same source to the same
/// target (the model looks each one up by name, so this also checks the lookup); every edge of
/// `GRAPH` is taken; and the model enters sessions where the graph's entrypoints do.
#[test]
fn the_model_walks_the_declared_graph() {
    let small = Config {
        client_sends: 1,
        ..Config::ci(ClientKind::Rust)
    };
    let run = holds("graph coverage run", small.refusing_ended_sessions());
    let taken: Vec<_> = run
        .model()
        .coverage()
        .taken()
        .into_iter()
        .map(|t| (t.from, t.name, t.to))
        .collect();
    let declared: Vec<_> = GRAPH
        .transitions
        .iter()
        .map(|t| (t.from, t.name, t.to))
        .collect();
    for edge in &taken {
        assert!(declared.contains(edge), "{edge:?} is not in GRAPH");
    }
    let out_of_scope = statebound_model::graph_tie::OUT_OF_SCOPE;
    for edge in &declared {
        assert!(
            taken.contains(edge) || out_of_scope.iter().any(|(t, _)| *t == edge.1),
            "GRAPH's {edge:?} is neither exercised nor listed as out of scope"
        );
    }
    let init = &run.model().init_states()[0];
    let entry = |role: &str| {
        GRAPH
            .entrypoints
            .iter()
            .find(|e| e.role == role)
            .unwrap()
            .state
    };
    assert_eq!(
        init.client
            .node
            .map(statebound_model::graph_tie::Node::name),
        Some(entry("client"))
    );
    assert_eq!(
        statebound_model::graph_tie::Node::entry("server").name(),
        "WaitingForHandshake"
    );
}

#[test]
#[ignore = "minutes and gigabytes: cargo test --release -p statebound-model -- --ignored"]
fn large_configurations() {
    for (label, config) in [
        (
            "large, ended-session rule, Rust",
            Config::large(ClientKind::Rust).refusing_ended_sessions(),
        ),
        (
            "large, ended-session rule, server forgets, Python",
            Config::large(ClientKind::Python)
                .forgetting()
                .refusing_ended_sessions(),
        ),
    ] {
        let run = explore_with(label, config, HasDiscoveries::All, true);
        assert!(run.checker.is_done());
        run.checker.assert_properties();
    }
}
