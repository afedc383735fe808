//! The session graph as declared, and the rendering committed in `GRAPH.md`.

use statebound_river::graph::session;

fn document() -> String {
    format!(
        "# River session graph\n\n\
         Rendered from `spec/src/graph.rs` by `cargo test -p statebound-river --test session \
         graph::`; regenerate with `UPDATE_EXPECT=1 cargo test -p statebound-river --test \
         session graph::`.\n\n\
         ```mermaid\n{}```\n",
        session::GRAPH.to_mermaid()
    )
}

#[test]
fn graph_md_is_in_sync() {
    expect_test::expect_file!["../../GRAPH.md"].assert_eq(&document());
}

#[test]
fn graph_has_protocol_edges() {
    let edges: Vec<(&str, &str)> = session::GRAPH
        .transitions
        .iter()
        .map(|t| (t.from, t.to))
        .collect();
    let expected = [
        ("NoConnection", "BackingOff"),
        ("BackingOff", "Connecting"),
        ("BackingOff", "NoConnection"),
        ("Connecting", "Handshaking"),
        ("Connecting", "NoConnection"),
        ("Handshaking", "Connected"),
        ("Handshaking", "NoConnection"),
        ("WaitingForHandshake", "Connected"),
        ("Connected", "NoConnection"),
    ];
    assert_eq!(edges, expected);
    let entries: Vec<(&str, &str)> = session::GRAPH
        .entrypoints
        .iter()
        .map(|e| (e.role, e.state))
        .collect();
    assert_eq!(
        entries,
        [
            ("client", "NoConnection"),
            ("server", "WaitingForHandshake")
        ]
    );
    for state in session::GRAPH.states {
        assert!(state.close.is_some(), "{state:?} lacks a close hook");
    }
    let exits: Vec<&str> = session::GRAPH
        .states
        .iter()
        .filter(|s| s.exit.is_some())
        .map(|s| s.name)
        .collect();
    assert_eq!(
        exits,
        ["Connected"],
        "only Connected releases something on exit"
    );
}

#[test]
fn client_walks_the_cycle_and_close_empties_the_buffer() {
    use statebound_river::session::{SessionContext, SessionOptions, memory_pair};
    use statebound_river::wire::{PartialMessage, ProtocolVersion};
    use tokio::time::Instant;

    let ctx = SessionContext::new(
        "s",
        "client",
        "SERVER",
        ProtocolVersion::V2_0,
        SessionOptions::default(),
    );
    let mut s = session::Session::client(ctx, session::NoConnection);
    s.context_mut()
        .sequence(PartialMessage::heartbeat())
        .unwrap();
    let now = Instant::now();
    let (conn, _server_end) = memory_pair();
    let s = s
        .back_off(|_| session::BackingOff { until: now })
        .connect(|_| session::Connecting { deadline: now })
        .connection_established(|_| session::Handshaking {
            conn: Box::new(conn),
        })
        .handshake_ok(|h| session::Connected {
            conn: h.conn,
            last_inbound: now,
        });
    assert_eq!(s.name(), "Connected");
    assert_eq!(
        s.context().send_buffer.len(),
        1,
        "transitions carry the buffer"
    );
    let ctx = s.connection_lost(|_| session::NoConnection).close();
    assert!(ctx.send_buffer.is_empty());
}
