//! The session graph as declared, and the rendering committed in `GRAPH.md`.

use statebound_river::graph::session;

fn document() -> String {
    format!(
        "# River session graph\n\n\
         Rendered from `spec/src/graph.rs` by `cargo test -p statebound-river --test graph`; \
         regenerate with `UPDATE_EXPECT=1 cargo test -p statebound-river --test graph`.\n\n\
         ```mermaid\n{}```\n",
        session::GRAPH.to_mermaid()
    )
}

#[test]
fn graph_md_is_in_sync() {
    expect_test::expect_file!["../GRAPH.md"].assert_eq(&document());
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
        assert!(
            state.exit.is_some() && state.close.is_some(),
            "{state:?} lacks a hook"
        );
    }
}

#[test]
fn client_walks_the_cycle_and_close_empties_the_buffer() {
    let mut s = session::Session::client(session::SessionContext::default(), session::NoConnection);
    s.context_mut().send_buffer.push_back(b"queued".to_vec());
    let s = s
        .back_off(|_| session::BackingOff)
        .connect(|_| session::Connecting)
        .connection_established(|_| session::Handshaking)
        .handshake_ok(|_| session::Connected);
    assert_eq!(s.name(), "Connected");
    assert_eq!(
        s.context().send_buffer.len(),
        1,
        "transitions carry the buffer"
    );
    let ctx = s.connection_lost(|_| session::NoConnection).close();
    assert!(ctx.send_buffer.is_empty());
}
