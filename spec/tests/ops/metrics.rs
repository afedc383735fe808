//! The Prometheus metrics of `statebound_river::metrics`, read back from the registry's text
//! encoding as a scraper would: sessions by state, edges, handshakes, reconnects, traffic, send
//! buffers, and calls by procedure and code.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use statebound_river::echo_service::{Empty, FailInit, Msg, service};
use statebound_river::graph::session::GRAPH;
use statebound_river::metrics::Metrics;
use statebound_river::router::{RiverClient, serve};
use statebound_river::transport::{
    ClientOptions, ClientTransport, MemoryDialer, ServerOptions, ServerTransport,
};
use statebound_river::wire::ProtocolVersion;

/// The value of the series `name{labels}` in `text`, or `None` when it is not there.
fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

fn scrape(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    text
}

/// Waits (on paused time) until `cond` holds, for at most ten simulated seconds.
async fn settle(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never settled: {what}");
}

struct Setup {
    server_registry: Registry,
    server_metrics: Metrics,
    client_registry: Registry,
    client_metrics: Metrics,
    server: ServerTransport,
    client: RiverClient,
}

fn setup(accepted: Vec<ProtocolVersion>) -> Setup {
    let mut server_registry = Registry::default();
    let server_metrics = Metrics::register(&mut server_registry);
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            metrics: Some(server_metrics.clone()),
            accepted_versions: accepted,
            ..ServerOptions::default()
        },
    );
    let _router = serve(&server, vec![service()]);
    let mut client_registry = Registry::default();
    let client_metrics = Metrics::register(&mut client_registry);
    let transport = ClientTransport::new(
        "client",
        Arc::new(MemoryDialer::new(server.clone())),
        ClientOptions {
            metrics: Some(client_metrics.clone()),
            ..ClientOptions::default()
        },
    );
    Setup {
        server_registry,
        server_metrics,
        client_registry,
        client_metrics,
        server,
        client: RiverClient::new(transport, "SERVER"),
    }
}

/// The server's counts after one `echo` and one `fail` call on a new session.
fn assert_calls_and_traffic(text: &str) {
    let calls = |code: &str, procedure: &str| {
        series(
            text,
            &format!(
                "river_calls_total{{service=\"test\",procedure=\"{procedure}\",code=\"{code}\"}}"
            ),
        )
    };
    assert_eq!(calls("OK", "echo"), Some(1.0), "{text}");
    assert_eq!(calls("NOPE", "fail"), Some(1.0), "{text}");
    assert_eq!(
        series(
            text,
            "river_handler_seconds_count{service=\"test\",procedure=\"echo\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        series(text, "river_handshakes_total{outcome=\"ok\",code=\"\"}"),
        Some(1.0)
    );
    assert_eq!(
        series(
            text,
            "river_transitions_total{from=\"WaitingForHandshake\",transition=\"handshake_ok\",to=\"Connected\"}"
        ),
        Some(1.0)
    );
    // The handshake request and two calls' opening frames came in; two results went out.
    let messages_in = series(text, "river_messages_total{direction=\"in\"}").unwrap();
    let bytes_in = series(text, "river_bytes_total{direction=\"in\"}").unwrap();
    let messages_out = series(text, "river_messages_total{direction=\"out\"}").unwrap();
    assert!(messages_in >= 3.0, "{text}");
    assert!(messages_out >= 2.0, "{text}");
    assert!(bytes_in > messages_in * 10.0, "{text}");
}

#[test]
fn every_state_and_edge_of_the_graph_has_a_series_from_the_start() {
    let mut registry = Registry::default();
    let _metrics = Metrics::register(&mut registry);
    let text = scrape(&registry);
    for state in GRAPH.states {
        let line = format!("river_sessions{{state=\"{}\"}}", state.name);
        assert_eq!(series(&text, &line), Some(0.0), "{line} in\n{text}");
    }
    for t in GRAPH.transitions {
        let line = format!(
            "river_transitions_total{{from=\"{}\",transition=\"{}\",to=\"{}\"}}",
            t.from, t.name, t.to
        );
        assert_eq!(series(&text, &line), Some(0.0), "{line} in\n{text}");
    }
    assert_eq!(series(&text, "river_reconnects_total"), Some(0.0));
    assert_eq!(series(&text, "river_send_buffer_messages"), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn sessions_calls_traffic_and_reconnects_are_counted() {
    let s = setup(ProtocolVersion::ALL.to_vec());
    let out: Msg = s
        .client
        .rpc("test", "echo", &Msg { msg: "hi".into() })
        .await
        .unwrap();
    assert_eq!(out.msg, "hi");
    let fail = FailInit {
        code: "NOPE".into(),
        message: "no".into(),
    };
    s.client
        .rpc::<_, Empty>("test", "fail", &fail)
        .await
        .unwrap_err();
    settle("one connected session on each side", || {
        s.server_metrics.sessions_in("Connected") == 1
            && s.client_metrics.sessions_in("Connected") == 1
    })
    .await;

    assert_calls_and_traffic(&scrape(&s.server_registry));

    let client_text = scrape(&s.client_registry);
    for edge in [
        "from=\"NoConnection\",transition=\"back_off\",to=\"BackingOff\"",
        "from=\"BackingOff\",transition=\"connect\",to=\"Connecting\"",
        "from=\"Connecting\",transition=\"connection_established\",to=\"Handshaking\"",
        "from=\"Handshaking\",transition=\"handshake_ok\",to=\"Connected\"",
    ] {
        let line = format!("river_transitions_total{{{edge}}}");
        assert_eq!(series(&client_text, &line), Some(1.0), "{line}");
    }

    // A cut: both sides lose the connection, the client reconnects, the session resumes.
    s.server.drop_connections();
    settle("both sides reconnected", || {
        s.server_metrics.reconnects() == 1 && s.client_metrics.reconnects() == 1
    })
    .await;
    settle("connected again", || {
        s.server_metrics.sessions_in("Connected") == 1
            && s.client_metrics.sessions_in("Connected") == 1
    })
    .await;
    assert_eq!(
        s.server_metrics.transitions("Connected", "connection_lost"),
        1
    );
    assert_eq!(
        s.client_metrics.transitions("Connected", "connection_lost"),
        1
    );
    let total: i64 = s
        .server_metrics
        .sessions_by_state()
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(total, 1, "{:?}", s.server_metrics.sessions_by_state());

    // Closing the client ends both sides' sessions: every gauge is back at zero.
    s.client.transport().close().await;
    settle("no sessions left", || {
        s.server_metrics
            .sessions_by_state()
            .iter()
            .all(|(_, n)| *n == 0)
            && s.client_metrics
                .sessions_by_state()
                .iter()
                .all(|(_, n)| *n == 0)
    })
    .await;
    let text = scrape(&s.server_registry);
    assert_eq!(series(&text, "river_send_buffer_messages"), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn rejected_handshakes_are_counted_by_code() {
    let s = setup(vec![ProtocolVersion::V1_1]);
    let err = s
        .client
        .rpc::<_, Msg>("test", "echo", &Msg { msg: "x".into() })
        .await
        .unwrap_err();
    assert!(!err.code.is_empty());
    let rejected =
        "river_handshakes_total{outcome=\"rejected\",code=\"PROTOCOL_VERSION_MISMATCH\"}";
    settle("the rejection counted on both sides", || {
        series(&scrape(&s.server_registry), rejected) >= Some(1.0)
            && series(&scrape(&s.client_registry), rejected) >= Some(1.0)
    })
    .await;
    settle("the refused connection is gone", || {
        s.server_metrics.sessions_in("WaitingForHandshake") == 0
    })
    .await;
    assert_eq!(s.server_metrics.sessions_in("Connected"), 0);
}
