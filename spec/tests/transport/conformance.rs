//! Client and server transports together (`docs/conformance.md`, "Transports"): reconnection, session
//! identity, buffering and ordering, events, close, several clients, hard disconnects, grace,
//! lost state on either side, phantom disconnects and handshake metadata.
//!
//! Every scenario runs in the four cells of the matrix (JSON and msgpack, in memory on the
//! paused clock and WebSocket on loopback on the wall clock); see `transport_support`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::transport_support::{
    CLIENT, Cell, Events, FailingDialer, Net, Pair, SERVER, TestValidator, Verdict, entered,
    eventually, handshake_failed, is_message, is_protocol_error, is_retries_exceeded,
    is_transport_closed, left, meta, ms, payload_text, status, status_of, text,
};
use statebound_river::session::{ProtocolError, Rejection, SessionOptions, SessionStatus};
use statebound_river::transport::{
    ClientOptions, CodecMode, ServerOptions, TransportError, TransportEvent, metadata_fn,
};
use statebound_river::wire::{CodecKind, HandshakeErrorCode, Value};
use tokio::time::Instant;

matrix!(
    clean_close_is_reestablished_with_the_same_session,
    corrupted_seq_gets_new_sessions,
    idle_transport_shuts_down_cleanly,
    idle_transport_survives_a_grace_period,
    messages_interleaved_with_heartbeats_arrive,
    send_from_the_created_event_is_delivered,
    hundred_messages_survive_a_drop_at_55,
    buffering_both_ways_while_disconnected_connecting_and_reconnected,
    exact_event_counts_across_reconnect_and_grace,
    close_is_final,
    two_clients_never_cross,
    hard_disconnect_ends_the_client_session_at_once,
    connect_from_the_closed_event_makes_a_fresh_session,
    without_transparent_reconnects_every_reconnect_is_a_new_session,
    without_transparent_reconnects_the_client_starts_a_new_session_itself,
    hook_that_never_answers_times_out_and_exhausts_the_budget,
    reconnecting_before_grace_keeps_the_session,
    grace_ends_a_session_whose_reconnects_keep_failing,
    client_that_lost_all_state_gets_a_new_session,
    restarted_server_gets_new_sessions,
    phantom_disconnect_recovers_within_grace,
    metadata_is_stored_on_the_server_session,
    hook_sees_previous_metadata_on_reconnect,
    hook_rejection_code_reaches_the_client,
    metadata_failing_the_schema_never_reaches_the_hook,
);

/// A connection the client closes cleanly is re-established; messages flow; the session ids
/// are unchanged and equal on both sides.
async fn clean_close_is_reestablished_with_the_same_session(cell: Cell) {
    let mut p = cell.pair().await;
    let id = p.connect().await;
    p.exchange("before").await;

    // The client's own drop closes the connection cleanly (code 4000, "session continues").
    p.client.drop_connections();
    p.client_events
        .until("the client to lose its connection", left("Connected"))
        .await;
    p.reconnected().await;
    p.exchange("after").await;

    assert_eq!(p.agreed_id(), id, "the session survived");
    p.assert_sessions(1, 0);
    p.close().await;
}

/// A client whose seq is corrupted (+10) is rejected with `SESSION_STATE_MISMATCH`; both sides
/// get new session ids and delivery resumes.
///
/// The corruption: the client's next handshake request goes out through a connection wrapper
/// that adds 10 to `expectedSessionState.nextSentSeq`, which is exactly what River's own test
/// gets by adding 10 to the session's `seq`: the client claims messages the server never got.
async fn corrupted_seq_gets_new_sessions(cell: Cell) {
    let mut p = cell.pair().await;
    let old = p.connect().await;
    p.exchange("before").await;

    p.dialer
        .rewrite_next_handshake(|req| req.expected_session_state.next_sent_seq += 10);
    p.client.drop_connections();

    p.server_events
        .until(
            "the server to refuse the resume",
            handshake_failed(HandshakeErrorCode::SessionStateMismatch),
        )
        .await;
    let new = p.replaced(&old).await;
    assert_ne!(new, old, "a new session");
    p.exchange("after").await;
    p.close().await;
}

/// An idle transport shuts down cleanly: every session closes, both transports report closed,
/// no protocol error, no connection left.
async fn idle_transport_shuts_down_cleanly(cell: Cell) {
    let mut p = cell.pair().await;
    p.connect().await;
    p.close().await;

    for events in [&p.client_events, &p.server_events] {
        assert_eq!(events.count(status(SessionStatus::Created)), 1);
        assert_eq!(events.count(status(SessionStatus::Closing)), 1);
        assert_eq!(events.count(status(SessionStatus::Closed)), 1);
        assert_eq!(events.count(is_transport_closed), 1);
        assert_eq!(events.protocol_errors(), []);
    }
    assert_eq!(p.client.connection_count(), 0);
    assert_eq!(p.server.connection_count(), 0);
}

/// An idle transport kept alive by heartbeats keeps the same session (and connection) through
/// a whole grace period and more.
async fn idle_transport_survives_a_grace_period(cell: Cell) {
    let mut p = cell.pair().await;
    let id = p.connect().await;
    let options = cell.session_options();
    cell.pass(options.session_disconnect_grace + options.liveness_timeout() * 2)
        .await;

    assert_eq!(p.agreed_id(), id);
    assert_eq!(p.client.connection_count(), 1);
    assert_eq!(p.server.connection_count(), 1);
    p.drain();
    for events in [&p.client_events, &p.server_events] {
        assert_eq!(events.count(entered("Connected")), 1, "never reconnected");
        assert_eq!(
            events.count(left("Connected")),
            0,
            "never lost the connection"
        );
        assert_eq!(events.count(status(SessionStatus::Closed)), 0);
        assert_eq!(events.count(is_message), 0, "heartbeats are not messages");
    }
    p.close().await;
}

/// Messages interleaved with heartbeat intervals are all delivered, without a reconnect.
async fn messages_interleaved_with_heartbeats_arrive(cell: Cell) {
    let mut p = cell.pair().await;
    p.connect().await;
    let interval = cell.session_options().heartbeat_interval;
    for i in 0..5 {
        p.exchange(&format!("round {i}")).await;
        cell.pass(interval + interval / 2).await;
    }
    p.drain();
    assert_eq!(p.client_events.count(entered("Connected")), 1);
    assert_eq!(p.server_events.count(entered("Connected")), 1);
    p.assert_no_protocol_errors();
    p.close().await;
}

/// A send issued as soon as the "session created" event is seen is delivered, with no
/// protocol error. Both sides do it: the client while its session has no connection yet, the
/// server right after accepting.
async fn send_from_the_created_event_is_delivered(cell: Cell) {
    let mut p = cell.pair().await;
    p.client.connect(SERVER);
    p.client_events
        .until("the client's session", status(SessionStatus::Created))
        .await;
    p.client
        .send(SERVER, text("hello from created"))
        .await
        .expect("the client sends from the created event");
    p.server_events
        .until("the server's session", status(SessionStatus::Created))
        .await;
    p.server
        .send(CLIENT, text("welcome from created"))
        .await
        .expect("the server sends from the created event");

    p.server_events
        .expect_messages(&["hello from created"])
        .await;
    p.client_events
        .expect_messages(&["welcome from created"])
        .await;
    p.settle().await;
    p.assert_no_protocol_errors();
    p.close().await;
}

/// 100 messages with a connection drop at message 55, sends continuing while disconnected:
/// all arrive once, in order, on the same session.
async fn hundred_messages_survive_a_drop_at_55(cell: Cell) {
    let mut p = cell.pair().await;
    let id = p.connect().await;
    let expected: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    for (i, m) in expected.iter().enumerate() {
        if i == 55 {
            p.client.drop_connections();
        }
        p.client
            .send(SERVER, text(m))
            .await
            .expect("buffered or sent");
    }
    let refs: Vec<&str> = expected.iter().map(String::as_str).collect();
    p.server_events.expect_messages(&refs).await;
    p.server_events.expect_no_more_messages().await;

    // The drop really happened, and the session was resumed.
    p.client_events
        .until("the client to lose its connection", left("Connected"))
        .await;
    p.client_events
        .until("the client to reconnect", entered("Connected"))
        .await;
    assert_eq!(p.agreed_id(), id);
    assert_eq!(p.server_events.count(status(SessionStatus::Created)), 1);
    p.close().await;
}

/// Buffering in both directions while disconnected, while connecting and once reconnected:
/// every message arrives once, in order.
async fn buffering_both_ways_while_disconnected_connecting_and_reconnected(cell: Cell) {
    // The phases take several round trips each while no connection is up; on a loaded machine
    // over WebSocket that can outlast the cell's 800 ms grace, which this test is not about.
    let mut p = cell
        .pair_with_session(SessionOptions {
            session_disconnect_grace: std::time::Duration::from_secs(5),
            ..cell.session_options()
        })
        .await;
    let id = p.connect().await;

    let mut up = Vec::new();
    let mut down = Vec::new();
    send_both(&p, "connected", &mut up, &mut down).await;

    // Disconnected: the next dial is held, so both sides sit without a connection.
    p.dialer.hold();
    p.client.drop_connections();
    p.client_events
        .until("the client to lose its connection", left("Connected"))
        .await;
    p.server_events
        .until("the server to lose its connection", left("Connected"))
        .await;
    send_both(&p, "disconnected", &mut up, &mut down).await;

    // Connecting: the reconnect dial has started and is held.
    p.dialer.wait_calls(cell, 2).await;
    send_both(&p, "connecting", &mut up, &mut down).await;

    // Reconnected.
    p.dialer.release();
    p.reconnected().await;
    send_both(&p, "reconnected", &mut up, &mut down).await;

    let up: Vec<&str> = up.iter().map(String::as_str).collect();
    let down: Vec<&str> = down.iter().map(String::as_str).collect();
    p.server_events.expect_messages(&up).await;
    p.client_events.expect_messages(&down).await;
    p.server_events.expect_no_more_messages().await;
    p.client_events.expect_no_more_messages().await;
    assert_eq!(p.agreed_id(), id);
    p.close().await;
}

/// Five messages each way, tagged with `phase`, recorded in `up` and `down`.
async fn send_both(p: &Pair, phase: &str, up: &mut Vec<String>, down: &mut Vec<String>) {
    for i in 0..5 {
        let u = format!("{phase} up {i}");
        let d = format!("{phase} down {i}");
        p.client.send(SERVER, text(&u)).await.expect("client send");
        p.server.send(CLIENT, text(&d)).await.expect("server send");
        up.push(u);
        down.push(d);
    }
}

/// Exact counts of created / closing / closed events and of `Connected` transitions across a
/// transparent reconnect and a final grace expiry, on both sides.
async fn exact_event_counts_across_reconnect_and_grace(cell: Cell) {
    let mut p = cell.pair().await;
    p.connect().await;
    p.exchange("first").await;
    let counts = |e: &Events| {
        (
            e.count(status(SessionStatus::Created)),
            e.count(status(SessionStatus::Closing)),
            e.count(status(SessionStatus::Closed)),
            e.count(entered("Connected")),
        )
    };
    assert_eq!(counts(&p.client_events), (1, 0, 0, 1), "client, connected");
    assert_eq!(counts(&p.server_events), (1, 0, 0, 1), "server, connected");

    // A transparent reconnect.
    p.client.drop_connections();
    p.reconnected().await;
    p.exchange("second").await;
    assert_eq!(
        counts(&p.client_events),
        (1, 0, 0, 2),
        "client, reconnected"
    );
    assert_eq!(
        counts(&p.server_events),
        (1, 0, 0, 2),
        "server, reconnected"
    );

    // The connection drops for good: reconnects fail until grace ends both sessions.
    p.dialer.switch(FailingDialer::retriable());
    p.client.drop_connections();
    p.client_events
        .until("the client's grace to end", status(SessionStatus::Closed))
        .await;
    p.server_events
        .until("the server's grace to end", status(SessionStatus::Closed))
        .await;
    p.settle().await;
    assert_eq!(
        counts(&p.client_events),
        (1, 1, 1, 2),
        "client, after grace"
    );
    assert_eq!(
        counts(&p.server_events),
        (1, 1, 1, 2),
        "server, after grace"
    );
    p.close().await;
}

/// After `close()`: the transport reports closed, its session closes, nothing reconnects, a
/// second `close()` is harmless, and sends fail with `TransportError::Closed`. Same for the
/// server.
async fn close_is_final(cell: Cell) {
    let mut p = cell.pair().await;
    p.connect().await;
    p.exchange("open").await;

    p.client.close().await;
    p.client_events
        .until("the client transport to close", is_transport_closed)
        .await;
    assert_eq!(p.client_events.count(status(SessionStatus::Closed)), 1);
    let dials = p.dialer.calls();

    p.client.connect(SERVER);
    cell.pass(cell.session_options().session_disconnect_grace)
        .await;
    p.client.close().await;
    assert_eq!(p.dialer.calls(), dials, "nothing reconnects after close");
    assert_eq!(p.client.connection_count(), 0);
    assert_eq!(p.client.session_id(SERVER), None);
    assert_eq!(
        p.client.send(SERVER, text("late")).await,
        Err(TransportError::Closed)
    );
    p.client_events.drain();
    assert_eq!(p.client_events.count(is_transport_closed), 1, "closed once");
    assert_eq!(p.client_events.count(status(SessionStatus::Created)), 1);

    p.server.close().await;
    p.server_events
        .until("the server transport to close", is_transport_closed)
        .await;
    p.server.close().await;
    assert_eq!(
        p.server.send(CLIENT, text("late")).await,
        Err(TransportError::Closed)
    );
    assert_eq!(p.server.connection_count(), 0);
    p.server_events.drain();
    assert_eq!(p.server_events.count(is_transport_closed), 1, "closed once");
}

/// Two clients on one server: messages never cross sessions, in either direction.
async fn two_clients_never_cross(cell: Cell) {
    let mut p = cell.pair().await;
    let id_a = p.connect().await;
    let other = "client-b";
    let (client_b, mut b_events) = p.another_client(other, "client-b");
    client_b.connect(SERVER);
    b_events
        .until("client-b to connect", entered("Connected"))
        .await;
    let id_b = client_b.session_id(SERVER).expect("client-b's session");
    assert_ne!(id_a, id_b);
    assert_eq!(p.server.session_id(other).as_ref(), Some(&id_b));

    for i in 0..5 {
        p.client.send(SERVER, text(&format!("a{i}"))).await.unwrap();
        client_b.send(SERVER, text(&format!("b{i}"))).await.unwrap();
        p.server
            .send(CLIENT, text(&format!("to a{i}")))
            .await
            .unwrap();
        p.server
            .send(other, text(&format!("to b{i}")))
            .await
            .unwrap();
    }

    let mut from_a = Vec::new();
    let mut from_b = Vec::new();
    for _ in 0..10 {
        let event = p
            .server_events
            .until("a client's message", is_message)
            .await;
        let TransportEvent::Message {
            from,
            session_id,
            msg,
            ..
        } = event
        else {
            unreachable!("filtered")
        };
        let text = payload_text(&msg);
        match from.as_str() {
            CLIENT => {
                assert_eq!(session_id, id_a);
                from_a.push(text);
            }
            "client-b" => {
                assert_eq!(session_id, id_b);
                from_b.push(text);
            }
            other => panic!("a message from unknown client {other}"),
        }
    }
    assert_eq!(from_a, ["a0", "a1", "a2", "a3", "a4"]);
    assert_eq!(from_b, ["b0", "b1", "b2", "b3", "b4"]);

    p.client_events
        .expect_messages(&["to a0", "to a1", "to a2", "to a3", "to a4"])
        .await;
    b_events
        .expect_messages(&["to b0", "to b1", "to b2", "to b3", "to b4"])
        .await;
    p.client_events.expect_no_more_messages().await;
    b_events.expect_no_more_messages().await;
    client_b.close().await;
    p.close().await;
}

/// Hard disconnect from the client ends its session at once; the server's ends after liveness
/// plus grace at the latest (and not before grace).
async fn hard_disconnect_ends_the_client_session_at_once(cell: Cell) {
    let mut p = cell.pair().await;
    let id = p.connect().await;
    p.exchange("before").await;

    let start = Instant::now();
    p.client.hard_disconnect(SERVER);
    p.client_events
        .until(
            "the client's session to close",
            status_of(SessionStatus::Closed, &id),
        )
        .await;
    assert!(
        start.elapsed() <= cell.slack(),
        "the client's session closed at once, not after {:?}",
        start.elapsed()
    );
    assert_eq!(p.client.session_id(SERVER), None);
    assert_eq!(p.client.connection_count(), 0);
    assert_eq!(
        p.server.session_id(CLIENT).as_ref(),
        Some(&id),
        "the server keeps the session for now"
    );

    p.server_events
        .until(
            "the server's session to close",
            status_of(SessionStatus::Closed, &id),
        )
        .await;
    let options = cell.session_options();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= options.session_disconnect_grace,
        "the server waited out grace, not just {elapsed:?}"
    );
    assert!(
        elapsed <= options.liveness_timeout() + options.session_disconnect_grace + cell.slack(),
        "the server's session ended within liveness plus grace, not after {elapsed:?}"
    );
    assert_eq!(p.server.session_id(CLIENT), None);
    assert_eq!(p.server.connection_count(), 0);
    p.close().await;
}

/// `connect()` issued from the client's "closed" event after a hard disconnect creates a fresh
/// session, which both sides agree on and which carries messages.
async fn connect_from_the_closed_event_makes_a_fresh_session(cell: Cell) {
    let mut p = cell.pair().await;
    let old = p.connect().await;
    p.client.hard_disconnect(SERVER);
    p.client_events
        .until(
            "the client's session to close",
            status_of(SessionStatus::Closed, &old),
        )
        .await;
    p.client.connect(SERVER);
    p.client_events
        .until("a fresh client session", status(SessionStatus::Created))
        .await;
    p.client_events
        .until("the fresh session to connect", entered("Connected"))
        .await;
    p.server_events
        .until("the server's fresh session", status(SessionStatus::Created))
        .await;

    let new = p.agreed_id();
    assert_ne!(new, old);
    p.exchange("fresh").await;
    // The fresh session replaced the old one on the server.
    p.server_events.drain();
    assert_eq!(p.server_events.sessions_with(SessionStatus::Closed), [old]);
    p.close().await;
}

/// A pair with transparent reconnects disabled on both sides.
async fn pair_without_transparent_reconnects(cell: Cell) -> Pair {
    cell.pair_with_session(SessionOptions {
        enable_transparent_reconnects: false,
        ..cell.session_options()
    })
    .await
}

/// Drops the connection and waits for the new session that replaces `old` on both sides;
/// returns its id.
async fn next_session_after_drop(p: &mut Pair, old: &str) -> String {
    p.client.drop_connections();
    p.replaced(old).await
}

/// With transparent reconnects disabled (both sides), every reconnect of a session that has
/// carried traffic is a new session, on both sides, and the old one is closed on both sides.
async fn without_transparent_reconnects_every_reconnect_is_a_new_session(cell: Cell) {
    let mut p = pair_without_transparent_reconnects(cell).await;
    let mut ids = vec![p.connect().await];
    for round in 0..3 {
        p.exchange(&format!("round {round}")).await;
        let old = ids.last().cloned().unwrap_or_default();
        let new = next_session_after_drop(&mut p, &old).await;
        assert!(!ids.contains(&new), "round {round}: a new session id");
        ids.push(new);
    }
    p.exchange("last").await;
    p.close().await;
}

/// The same as River does it: with transparent reconnects disabled, the client itself drops its
/// session when the connection drops and reconnects with a new one (River's client
/// `tryReconnecting` deletes the old session). So the new session has a new id even when the
/// old one never carried traffic, and no handshake is refused on the way.
async fn without_transparent_reconnects_the_client_starts_a_new_session_itself(cell: Cell) {
    let mut p = pair_without_transparent_reconnects(cell).await;
    let old = p.connect().await;
    // No traffic: both counters are still 0 when the connection drops.
    let new = next_session_after_drop(&mut p, &old).await;
    assert_ne!(new, old, "a new session id");
    p.exchange("after").await;
    // Traffic, then another drop: the client must not try to resume.
    let newer = next_session_after_drop(&mut p, &new).await;
    assert_ne!(newer, new);
    p.server_events.drain();
    assert_eq!(
        p.server_events.protocol_errors(),
        [],
        "no handshake refused on the way"
    );
    p.close().await;
}

/// A validation hook that never answers: each handshake times out; no session or connection is
/// left on either side; the retry budget runs out into exactly one `conn_retry_exceeded`.
async fn hook_that_never_answers_times_out_and_exhausts_the_budget(cell: Cell) {
    let session = SessionOptions {
        handshake_timeout: ms(100),
        // Longer than the whole retry loop, so the budget runs out before grace.
        session_disconnect_grace: ms(1000),
        ..cell.session_options()
    };
    let validator = TestValidator::new(None, Verdict::Hang);
    let mut client = ClientOptions {
        session: session.clone(),
        ..cell.client_options()
    };
    client.retry.attempt_budget_capacity = 3;
    let mut p = cell
        .pair_with(
            ServerOptions {
                session,
                validator: Some(validator.clone()),
                ..cell.server_options()
            },
            client,
        )
        .await;
    p.client.connect(SERVER);
    p.client_events
        .until("the retry budget to run out", is_retries_exceeded)
        .await;
    assert_eq!(p.dialer.calls(), 3, "one dial per unit of budget");
    assert_eq!(validator.calls().len(), 3, "every attempt reached the hook");

    let server = p.server.clone();
    eventually(cell, "the server to drop every pending connection", || {
        let server = server.clone();
        async move { server.connection_count() == 0 }
    })
    .await;
    assert_eq!(p.client.connection_count(), 0);
    assert_eq!(p.server.session_id(CLIENT), None);

    p.client_events
        .until(
            "grace to end the client's session",
            status(SessionStatus::Closed),
        )
        .await;
    p.settle().await;
    assert_eq!(p.client_events.count(is_retries_exceeded), 1);
    assert_eq!(p.client_events.count(entered("Connected")), 0);
    assert_eq!(p.client.session_id(SERVER), None);
    assert_eq!(
        p.server_events
            .count(|e| matches!(e, TransportEvent::SessionStatus { .. })),
        0,
        "the server never had a session"
    );
    p.close().await;
}

/// Reconnecting before grace ends keeps the session, even after failed attempts.
async fn reconnecting_before_grace_keeps_the_session(cell: Cell) {
    let mut p = cell.pair().await;
    let id = p.connect().await;
    p.exchange("before").await;

    let start = Instant::now();
    p.dialer.fail_next(2);
    p.client.drop_connections();
    p.reconnected().await;
    assert!(
        start.elapsed() < cell.session_options().session_disconnect_grace,
        "reconnected within grace"
    );
    assert_eq!(
        p.dialer.calls(),
        4,
        "the first dial, two failures, one success"
    );
    assert_eq!(p.agreed_id(), id);
    p.exchange("after").await;
    assert_eq!(p.client_events.count(status(SessionStatus::Closed)), 0);
    assert_eq!(p.server_events.count(status(SessionStatus::Closed)), 0);
    p.close().await;
}

/// Grace still ends a session whose reconnect attempts keep failing, at the grace deadline
/// set when the connection was lost (attempts do not extend it).
async fn grace_ends_a_session_whose_reconnects_keep_failing(cell: Cell) {
    let mut client = cell.client_options();
    // Enough budget to keep trying until grace ends.
    client.retry.attempt_budget_capacity = 1000;
    client.retry.max_backoff = ms(40);
    let mut p = cell.pair_with(cell.server_options(), client).await;
    let id = p.connect().await;

    p.dialer.switch(FailingDialer::retriable());
    let start = Instant::now();
    p.client.drop_connections();
    p.client_events
        .until(
            "grace to end the client's session",
            status_of(SessionStatus::Closed, &id),
        )
        .await;
    let elapsed = start.elapsed();
    let grace = cell.session_options().session_disconnect_grace;
    assert!(
        elapsed >= grace && elapsed <= grace + cell.slack(),
        "the session ended at its grace deadline ({grace:?}), not after {elapsed:?}"
    );
    assert!(
        p.dialer.calls() > 3,
        "attempts kept going: {}",
        p.dialer.calls()
    );
    p.server_events
        .until(
            "grace to end the server's session",
            status_of(SessionStatus::Closed, &id),
        )
        .await;
    p.client_events.drain();
    assert_eq!(p.client_events.count(is_retries_exceeded), 0);
    assert_eq!(p.client.session_id(SERVER), None);
    p.close().await;
}

/// A client that lost all state reconnects (a new transport, same client id): a new session,
/// and what the server had buffered for the old one is not delivered.
async fn client_that_lost_all_state_gets_a_new_session(cell: Cell) {
    let mut p = cell.pair().await;
    let old = p.connect().await;
    p.exchange("before").await;

    p.client.close().await;
    p.server.drop_connections();
    p.server_events
        .until("the server to lose the connection", left("Connected"))
        .await;
    for m in ["stale 1", "stale 2"] {
        p.server
            .send(CLIENT, text(m))
            .await
            .expect("buffered for the old session");
    }

    let (fresh, mut fresh_events) = p.another_client(CLIENT, "fresh client");
    fresh.connect(SERVER);
    fresh_events
        .until("the fresh client to connect", entered("Connected"))
        .await;
    p.server_events
        .until(
            "the old server session to end",
            status_of(SessionStatus::Closed, &old),
        )
        .await;
    p.server_events
        .until("the new server session", status(SessionStatus::Created))
        .await;
    let new = fresh.session_id(SERVER).expect("a session");
    assert_ne!(new, old);
    assert_eq!(p.server.session_id(CLIENT).as_ref(), Some(&new));

    p.server.send(CLIENT, text("fresh")).await.unwrap();
    fresh_events.expect_messages(&["fresh"]).await;
    fresh_events.expect_no_more_messages().await;
    fresh.close().await;
    p.server.close().await;
}

/// A client reconnecting to a restarted server (a new server transport): new session ids on
/// both sides, and the client's old buffer is discarded.
async fn restarted_server_gets_new_sessions(cell: Cell) {
    let mut p = cell.pair().await;
    let old = p.connect().await;
    p.exchange("before").await;

    p.server.close().await;
    p.client_events
        .until("the client to lose its connection", left("Connected"))
        .await;
    for m in ["old 1", "old 2"] {
        p.client
            .send(SERVER, text(m))
            .await
            .expect("buffered for the old session");
    }

    let (server, dialer) = cell.server(cell.server_options()).await;
    let mut server_events = Events::new("restarted server", cell, server.subscribe());
    p.dialer.switch(dialer);

    p.client_replaced(&old).await;
    server_events
        .until(
            "the restarted server's session",
            status(SessionStatus::Created),
        )
        .await;
    let new = p.client.session_id(SERVER).expect("a session");
    assert_ne!(new, old);
    assert_eq!(server.session_id(CLIENT).as_ref(), Some(&new));

    p.client.send(SERVER, text("new")).await.unwrap();
    server_events.expect_messages(&["new"]).await;
    server_events.expect_no_more_messages().await;
    p.client.close().await;
    server.close().await;
}

/// Phantom disconnect (sockets open, no frames delivered): the watchdog closes the connection,
/// the client reconnects within grace, the sessions stay, and messages sent during the outage
/// arrive.
async fn phantom_disconnect_recovers_within_grace(cell: Cell) {
    let mut p = cell.pair().await;
    let id = p.connect().await;
    p.exchange("before").await;

    let start = Instant::now();
    p.client.set_phantom_disconnect(true);
    p.client
        .send(SERVER, text("during outage up"))
        .await
        .unwrap();
    p.server
        .send(CLIENT, text("during outage down"))
        .await
        .unwrap();

    p.client_events
        .until("the client's watchdog", left("Connected"))
        .await;
    p.server_events
        .until("the server's watchdog", left("Connected"))
        .await;
    let options = cell.session_options();
    assert!(
        start.elapsed() >= options.liveness_timeout(),
        "the connection was closed by a watchdog, not before {:?}",
        options.liveness_timeout()
    );
    p.reconnected().await;
    assert!(
        start.elapsed() < options.session_disconnect_grace,
        "reconnected within grace"
    );

    p.server_events.expect_messages(&["during outage up"]).await;
    p.client_events
        .expect_messages(&["during outage down"])
        .await;
    assert_eq!(p.agreed_id(), id);
    p.assert_sessions(1, 0);
    p.exchange("after").await;
    p.close().await;
}

/// A pair whose server has `validator` and whose client sends `metadata()` (consulted on each
/// attempt).
async fn pair_with_metadata(
    cell: Cell,
    validator: Arc<TestValidator>,
    metadata: impl Fn() -> Value + Send + Sync + 'static,
) -> Pair {
    cell.pair_with(
        ServerOptions {
            validator: Some(validator),
            ..cell.server_options()
        },
        ClientOptions {
            metadata: Some(metadata_fn(move |_| Some(metadata()))),
            ..cell.client_options()
        },
    )
    .await
}

/// Handshake metadata is stored on the server session.
async fn metadata_is_stored_on_the_server_session(cell: Cell) {
    let validator = TestValidator::new(Some("token"), Verdict::Accept);
    let mut p = pair_with_metadata(cell, validator.clone(), || meta("token", "t-1")).await;
    p.connect().await;
    assert_eq!(p.server.metadata(CLIENT), Some(meta("token", "t-1")));
    assert_eq!(validator.calls(), [(Some(meta("token", "t-1")), None)]);
    p.close().await;
}

/// On a reconnect, the server's validation hook sees the metadata it accepted before.
async fn hook_sees_previous_metadata_on_reconnect(cell: Cell) {
    let validator = TestValidator::new(Some("attempt"), Verdict::Accept);
    let attempts = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&attempts);
    let mut p = pair_with_metadata(cell, validator.clone(), move || {
        meta("attempt", counter.fetch_add(1, Ordering::SeqCst) + 1)
    })
    .await;
    let id = p.connect().await;
    p.client.drop_connections();
    p.reconnected().await;

    assert_eq!(p.agreed_id(), id, "a transparent reconnect");
    assert_eq!(
        validator.calls(),
        [
            (Some(meta("attempt", 1u64)), None),
            (Some(meta("attempt", 2u64)), Some(meta("attempt", 1u64))),
        ]
    );
    assert_eq!(p.server.metadata(CLIENT), Some(meta("attempt", 2u64)));
    p.close().await;
}

/// The validation hook can reject with a code, which the client receives as a
/// `handshake_failed` protocol error; the rejection is fatal, so the client stops.
async fn hook_rejection_code_reaches_the_client(cell: Cell) {
    let rejection = Rejection::new(HandshakeErrorCode::RejectedUnsupportedClient, "too old");
    let validator = TestValidator::new(None, Verdict::Reject(rejection));
    let mut p = pair_with_metadata(cell, validator.clone(), || meta("version", "0.1")).await;
    p.client.connect(SERVER);
    let event = p
        .client_events
        .until(
            "the client's handshake to fail",
            handshake_failed(HandshakeErrorCode::RejectedUnsupportedClient),
        )
        .await;
    let TransportEvent::ProtocolError {
        error: ProtocolError::HandshakeFailed { message, .. },
        ..
    } = event
    else {
        unreachable!("filtered")
    };
    assert!(message.contains("too old"), "the reason travels: {message}");
    p.server_events
        .until(
            "the server to report the rejection",
            handshake_failed(HandshakeErrorCode::RejectedUnsupportedClient),
        )
        .await;
    p.client_events
        .until("the client's session to end", status(SessionStatus::Closed))
        .await;
    p.settle().await;
    assert_eq!(p.dialer.calls(), 1, "a fatal rejection stops reconnection");
    assert_eq!(p.client_events.count(is_protocol_error), 1);
    assert_eq!(validator.calls().len(), 1);
    assert_eq!(p.server_events.count(status(SessionStatus::Created)), 0);
    p.close().await;
}

/// A client whose metadata fails the server's schema gets `handshake_failed`
/// (`MALFORMED_HANDSHAKE_META`), and the validation hook is never called.
async fn metadata_failing_the_schema_never_reaches_the_hook(cell: Cell) {
    let validator = TestValidator::new(Some("token"), Verdict::Accept);
    let mut p = pair_with_metadata(cell, validator.clone(), || meta("not a token", 1u64)).await;
    p.client.connect(SERVER);
    p.client_events
        .until(
            "the client's handshake to fail",
            handshake_failed(HandshakeErrorCode::MalformedHandshakeMeta),
        )
        .await;
    p.server_events
        .until(
            "the server to report it",
            handshake_failed(HandshakeErrorCode::MalformedHandshakeMeta),
        )
        .await;
    cell.settle().await;
    assert_eq!(validator.calls(), [], "the hook was never called");
    assert_eq!(p.dialer.calls(), 1);
    assert_eq!(p.server.session_id(CLIENT), None);
    p.close().await;
}

// ----- beyond the checklist ------------------------------------------------------------------

/// `CodecMode::Fixed(kind)` names the codec the server speaks, whatever `session.codec` says:
/// a server configured with `Fixed(Msgpack)` and a JSON `session.codec` serves a msgpack client.
#[tokio::test(start_paused = true)]
async fn fixed_codec_mode_names_the_codec() {
    let cell = Cell::new(CodecKind::Msgpack, Net::Memory);
    let server = ServerOptions {
        codec: CodecMode::Fixed(CodecKind::Msgpack),
        session: SessionOptions {
            codec: CodecKind::Json,
            ..cell.session_options()
        },
        ..ServerOptions::default()
    };
    let mut p = cell.pair_with(server, cell.client_options()).await;
    p.connect().await;
    p.exchange("msgpack").await;
    p.close().await;
}
