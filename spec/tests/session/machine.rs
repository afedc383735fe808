//! The session state machine, edge by edge, through `SessionDriver` (`docs/conformance.md`, "The
//! state machine"): each edge's new state, the old state's timers and handles, the connection, and
//! the carried id / seq / ack / send buffer; grace; stale handles; close from every state; and
//! codec failures while sending.
//!
//! Everything runs on tokio's paused clock with in-memory connections; the server (or client)
//! at the far end is played by hand (`crate::driver::Peer`).

use crate::driver::{
    CLIENT, Link, Peer, SERVER, SESSION, app, assert_consumed, carried, client_ctx,
    connected_client, connected_server, dials, ended, grace_deadline, handshaking_client,
    live_timers, messages, moved, ms, new_client, options, pending_server, primed_client,
    protocol_errors, retry, run_for, run_to_dial, run_to_end, run_to_request, run_to_state,
    run_until, settle, statuses, step_within, the_dial, transitions, unencodable,
};
use statebound::Fate;
use statebound_river::graph::session::{
    BackingOff, Connected, Connecting, Handshaking, NoConnection, Session, WaitingForHandshake,
};
use statebound_river::session::{
    CloseCode, Decision, EndReason, Output, ParsedRequest, ProtocolError, RetryOptions, SendError,
    SessionDriver, SessionOptions, SessionStatus, decide, memory_pair,
};
use statebound_river::wire::{ExpectedSessionState, HandshakeResponse, ProtocolVersion, Value};
use tokio::time::Instant;

/// The primed client (seq 2, ack 1, two frames buffered) after its server closed the
/// connection, waiting in `NoConnection` with reconnection off so each edge is taken by hand.
/// Its grace deadline is 5 s from now.
async fn disconnected_client() -> (SessionDriver, Peer) {
    let (mut d, mut peer) = primed_client().await;
    d.set_reconnect(false);
    peer.close();
    run_to_state(&mut d, "NoConnection").await;
    drop(d.take_outputs());
    assert_eq!(grace_deadline(&d), Some(Instant::now() + ms(5000)));
    (d, peer)
}

/// The disconnected client backing off: the retry budget has one unit used (the first
/// connection), so the wait is 100 ms.
async fn backing_off_client() -> SessionDriver {
    let (mut d, _) = disconnected_client().await;
    d.connect();
    drop(d.take_outputs());
    assert_eq!(d.state_name(), Some("BackingOff"));
    d
}

/// The disconnected client in `Connecting`, with the handle it asked to dial with.
async fn connecting_client() -> (SessionDriver, statebound::Handle) {
    let (mut d, _) = disconnected_client().await;
    let (dial, _) = run_to_dial(&mut d).await;
    assert_eq!(d.state_name(), Some("Connecting"));
    (d, dial)
}

fn is_session_continues(link: Link) -> bool {
    link == Link::Closed(Some(CloseCode::SESSION_CONTINUES))
}

// ----- entrypoints ------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn client_entrypoint_starts_in_no_connection_with_a_grace_deadline() {
    let t0 = Instant::now();
    let mut d = new_client();
    assert_eq!(d.state_name(), Some("NoConnection"));
    let log = d.take_outputs();
    assert_eq!(statuses(&log), [SessionStatus::Created]);
    assert!(transitions(&log).is_empty() && dials(&log).is_empty());
    let ctx = d.context().expect("alive");
    assert_eq!(
        (ctx.id.as_str(), ctx.from.as_str(), ctx.to.as_str()),
        (SESSION, CLIENT, SERVER)
    );
    assert_eq!((ctx.seq, ctx.ack, ctx.send_buffer.len()), (0, 0, 0));
    assert_eq!(ctx.grace_deadline, Some(t0 + ms(5000)));
    assert_eq!(live_timers(&d).await, 1, "the grace timer");
    // Nothing is dialled until connect().
    let log = run_for(&mut d, ms(4900)).await;
    assert!(log.is_empty(), "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn server_entrypoint_starts_waiting_for_handshake() {
    let (mut d, mut peer) = pending_server();
    assert_eq!(d.state_name(), Some("WaitingForHandshake"));
    assert!(d.take_outputs().is_empty(), "no session exists yet");
    let ctx = d.context().expect("alive");
    assert_eq!((ctx.id.as_str(), ctx.to.as_str()), ("", ""));
    assert_eq!(ctx.grace_deadline, None);
    assert_eq!(live_timers(&d).await, 1, "the handshake timeout");
    assert!(matches!(d.send(app("s", 1)), Err(SendError::Invalid(_))));
    assert_eq!(peer.drain().frames.len(), 0);
}

// ----- every edge through the driver ------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn edge_no_connection_to_backing_off() {
    let (mut d, _peer) = disconnected_client().await;
    let before = carried(&d);
    let grace = grace_deadline(&d);
    let old = d.handle().expect("alive");
    let t = Instant::now();

    d.connect();

    let log = d.take_outputs();
    assert_eq!(
        transitions(&log),
        [("NoConnection", "BackingOff", "back_off")]
    );
    assert_eq!(d.state_name(), Some("BackingOff"));
    assert_consumed(&old, "NoConnection", moved("back_off", "BackingOff"));
    assert_eq!(carried(&d), before);
    assert_eq!(grace_deadline(&d), grace, "backing off does not move grace");
    assert_eq!(live_timers(&d).await, 2, "backoff and grace");
    // Connecting again while a connection is on its way does nothing.
    d.connect();
    assert!(d.take_outputs().is_empty());
    // Nothing is dialled before the backoff ends.
    assert!(!step_within(&mut d, ms(99)).await);
    assert_eq!(d.state_name(), Some("BackingOff"));
    run_until(&mut d, 5, |_, log| !dials(log).is_empty()).await;
    assert_eq!(Instant::now(), t + ms(100));
    assert_eq!(d.stale_events(), 0);
}

#[tokio::test(start_paused = true)]
async fn edge_backing_off_to_connecting() {
    let mut d = backing_off_client().await;
    let before = carried(&d);
    let grace = grace_deadline(&d);
    let old = d.handle().expect("alive");
    let t = Instant::now();

    let log = run_until(&mut d, 5, |_, log| !dials(log).is_empty()).await;

    assert_eq!(Instant::now(), t + ms(100), "the backoff timer fired");
    assert_eq!(transitions(&log), [("BackingOff", "Connecting", "connect")]);
    assert_eq!(d.state_name(), Some("Connecting"));
    let dial = dials(&log).remove(0);
    assert_eq!(dial.state(), "Connecting");
    assert!(dial.is_live() && dial.same_state(&d.handle().expect("alive")));
    assert_consumed(&old, "BackingOff", moved("connect", "Connecting"));
    assert_eq!(carried(&d), before);
    assert_eq!(grace_deadline(&d), grace);
    assert_eq!(live_timers(&d).await, 2, "connection timeout and grace");
    // The backoff does not count against the connection timeout: it runs from the dial.
    let log = run_to_state(&mut d, "NoConnection").await;
    assert_eq!(Instant::now(), t + ms(100) + ms(2000));
    assert_eq!(
        transitions(&log),
        [("Connecting", "NoConnection", "connection_failed")]
    );
}

#[tokio::test(start_paused = true)]
async fn edge_connecting_to_handshaking() {
    let (mut d, dial) = connecting_client().await;
    let before = carried(&d);
    let grace = grace_deadline(&d);
    let (conn, mut peer) = Peer::pair(SERVER, CLIENT);

    d.dialed(&dial, Ok(Box::new(conn)));

    let log = d.take_outputs();
    assert_eq!(
        transitions(&log),
        [("Connecting", "Handshaking", "connection_established")]
    );
    assert_eq!(d.state_name(), Some("Handshaking"));
    assert_consumed(
        &dial,
        "Connecting",
        moved("connection_established", "Handshaking"),
    );
    assert_eq!(carried(&d), before);
    assert_eq!(grace_deadline(&d), grace, "handshaking does not move grace");
    assert_eq!(live_timers(&d).await, 2, "handshake timeout and grace");
    // The dialled connection is kept, and carries the request for the carried session.
    let request = peer.read_request();
    assert_eq!(request.session_id, SESSION);
    assert_eq!(request.version(), Ok(ProtocolVersion::V2_0));
    assert_eq!(
        request.expected_session_state,
        ExpectedSessionState {
            next_expected_seq: 1,
            next_sent_seq: 0
        }
    );
    assert_eq!(peer.drain().link, Link::Open);
    // The connection timeout no longer fires: only the handshake timeout, 1 s from now.
    let t = Instant::now();
    let log = run_to_state(&mut d, "NoConnection").await;
    assert_eq!(Instant::now(), t + ms(1000));
    assert_eq!(
        transitions(&log),
        [("Handshaking", "NoConnection", "connection_lost")]
    );
    assert_eq!(d.stale_events(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_connection_timeout_due_when_the_dial_reports_never_fires() {
    let (mut d, dial) = connecting_client().await;
    // The connection timeout is due; the dial reports before the driver gets to it, so the dial
    // wins, and the timeout, which belonged to the state that was left, is disarmed with it.
    tokio::time::advance(ms(2000)).await;
    let (conn, mut peer) = Peer::pair(SERVER, CLIENT);
    d.dialed(&dial, Ok(Box::new(conn)));
    assert_eq!(d.state_name(), Some("Handshaking"));
    drop(d.take_outputs());

    assert!(
        !step_within(&mut d, ms(1)).await,
        "nothing is due in Handshaking yet"
    );
    assert_eq!(d.stale_events(), 0, "the old timeout never fired");
    assert_eq!(d.state_name(), Some("Handshaking"));
    assert!(d.take_outputs().is_empty());
    peer.read_request();
    assert_eq!(peer.drain().link, Link::Open);
}

#[tokio::test(start_paused = true)]
async fn edge_handshaking_to_connected_resends_the_buffer() {
    let (mut d, dial) = connecting_client().await;
    let (conn, mut peer) = Peer::pair(SERVER, CLIENT);
    d.dialed(&dial, Ok(Box::new(conn)));
    peer.read_request();
    drop(d.take_outputs());
    let before = carried(&d);
    let old = d.handle().expect("alive");

    peer.respond_ok(SESSION);
    let log = run_to_state(&mut d, "Connected").await;

    assert_eq!(
        transitions(&log),
        [("Handshaking", "Connected", "handshake_ok")]
    );
    assert_consumed(&old, "Handshaking", moved("handshake_ok", "Connected"));
    assert_eq!(carried(&d), before);
    assert_eq!(grace_deadline(&d), None, "connected: no grace deadline");
    assert_eq!(live_timers(&d).await, 1, "the client's watchdog only");
    // Same connection, and the whole buffer is written again on it, byte for byte, in order.
    let seen = peer.drain();
    assert_eq!(seen.link, Link::Open);
    let resent: Vec<Vec<u8>> = before.buffer.iter().map(|f| f.frame.to_vec()).collect();
    assert_eq!(seen.frames, resent);
    // The handshake timeout no longer fires.
    let log = run_for(&mut d, ms(1500)).await;
    assert!(transitions(&log).is_empty(), "{log:?}");
    assert_eq!(d.state_name(), Some("Connected"));
    assert_eq!(d.stale_events(), 0);
}

#[tokio::test(start_paused = true)]
async fn edge_waiting_for_handshake_to_connected_as_a_new_session() {
    let (mut d, mut peer) = pending_server();
    let old = d.handle().expect("alive");
    peer.request("fresh", ExpectedSessionState::default());
    let parsed = run_to_request(&mut d).await;
    assert_eq!(parsed.request.session_id, "fresh");
    assert_eq!(
        d.state_name(),
        Some("WaitingForHandshake"),
        "waits for the owner"
    );

    d.accept(&parsed);

    let log = d.take_outputs();
    assert_eq!(statuses(&log), [SessionStatus::Created]);
    assert_eq!(
        transitions(&log),
        [("WaitingForHandshake", "Connected", "handshake_ok")]
    );
    assert_eq!(d.state_name(), Some("Connected"));
    assert_consumed(
        &old,
        "WaitingForHandshake",
        moved("handshake_ok", "Connected"),
    );
    let c = carried(&d);
    assert_eq!((c.id.as_str(), c.to.as_str()), ("fresh", CLIENT));
    assert_eq!((c.seq, c.ack, c.buffer.len()), (0, 0, 0));
    assert_eq!(live_timers(&d).await, 2, "heartbeat and watchdog");
    // The pending connection is kept: the response goes out on it.
    assert_eq!(
        peer.read_response(),
        HandshakeResponse::Ok {
            session_id: "fresh".into()
        }
    );
    // The handshake timeout no longer fires.
    let log = run_for(&mut d, ms(1500)).await;
    assert!(transitions(&log).is_empty(), "{log:?}");
    assert_eq!(d.state_name(), Some("Connected"));
    assert_eq!(d.stale_events(), 0);
}

/// A server session with history: the client sent it one message (ack 1) and it sent the
/// client two that were not acknowledged (seq 2, two frames buffered). The timers are idle.
async fn primed_server() -> (SessionDriver, Peer) {
    let (mut d, mut peer) = connected_server().await;
    peer.send(app("c", 1));
    run_until(&mut d, 5, |_, log| !messages(log).is_empty()).await;
    d.send(app("s", 1)).expect("sent");
    d.send(app("s", 2)).expect("sent");
    for msg in peer.recv() {
        peer.accept(&msg);
    }
    let c = carried(&d);
    assert_eq!((c.seq, c.ack, c.buffer.len()), (2, 1, 2));
    (d, peer)
}

/// The client of `primed_server` reconnects on a new connection; returns the pending driver
/// and the request, checked with `decide` to be a transparent reconnect.
async fn reconnect_to(existing: &SessionDriver) -> (SessionDriver, Peer, ParsedRequest) {
    let (mut pending, mut peer) = pending_server();
    // The client got nothing of the server's two messages and has sent one, acknowledged.
    peer.request(
        SESSION,
        ExpectedSessionState {
            next_expected_seq: 0,
            next_sent_seq: 1,
        },
    );
    peer.seq = 1;
    let parsed = run_to_request(&mut pending).await;
    let known = existing.existing().expect("alive");
    assert_eq!(
        decide(&parsed.request, Some(&known), true),
        Decision::Resume
    );
    (pending, peer, parsed)
}

#[tokio::test(start_paused = true)]
async fn edge_waiting_for_handshake_to_connected_adopted_by_an_existing_connected_session() {
    let (mut d, mut old_peer) = primed_server().await;
    let before = carried(&d);
    let old = d.handle().expect("alive");
    let (pending, mut peer, parsed) = reconnect_to(&d).await;
    let pending_handle = pending.handle().expect("alive");

    d.adopt(pending, &parsed);

    let log = d.take_outputs();
    assert_eq!(
        transitions(&log),
        [
            ("Connected", "NoConnection", "connection_lost"),
            ("WaitingForHandshake", "Connected", "handshake_ok"),
        ]
    );
    assert!(statuses(&log).is_empty(), "the same session, not a new one");
    assert_eq!(d.state_name(), Some("Connected"));
    assert_consumed(&old, "Connected", moved("connection_lost", "NoConnection"));
    assert_consumed(
        &pending_handle,
        "WaitingForHandshake",
        moved("handshake_ok", "Connected"),
    );
    assert_eq!(carried(&d), before, "id, seq, ack and buffer carried");
    assert_eq!(grace_deadline(&d), None);
    assert_eq!(live_timers(&d).await, 2, "heartbeat and watchdog");
    // The old connection is closed (the session continues); the new one gets the response,
    // then the inherited buffer, byte for byte.
    let seen_old = old_peer.drain();
    assert!(is_session_continues(seen_old.link), "{seen_old:?}");
    let seen = peer.drain();
    assert_eq!(seen.link, Link::Open);
    let msgs = peer.decode_all(&seen.frames);
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(
        statebound_river::wire::parse_handshake_response(&msgs[0].payload).ok(),
        Some(HandshakeResponse::Ok {
            session_id: SESSION.into()
        })
    );
    let resent: Vec<Vec<u8>> = before.buffer.iter().map(|f| f.frame.to_vec()).collect();
    assert_eq!(seen.frames[1..], resent[..]);
    // Traffic continues on the new connection, in sequence.
    peer.send(app("c", 2));
    let log = run_until(&mut d, 5, |_, log| !messages(log).is_empty()).await;
    assert_eq!(messages(&log)[0].seq, 1);
    assert_eq!(carried(&d).ack, 2);
}

#[tokio::test(start_paused = true)]
async fn edge_waiting_for_handshake_to_connected_adopted_by_a_session_without_connection() {
    let (mut d, mut old_peer) = primed_server().await;
    old_peer.close();
    run_to_state(&mut d, "NoConnection").await;
    drop(d.take_outputs());
    let before = carried(&d);
    let old = d.handle().expect("alive");
    let (pending, mut peer, parsed) = reconnect_to(&d).await;

    d.adopt(pending, &parsed);

    let log = d.take_outputs();
    assert_eq!(
        transitions(&log),
        [("WaitingForHandshake", "Connected", "handshake_ok")]
    );
    assert!(statuses(&log).is_empty());
    assert_eq!(d.state_name(), Some("Connected"));
    let err = old.check().expect_err("stale");
    assert_eq!(err.state, "NoConnection");
    assert_eq!(carried(&d), before);
    assert_eq!(grace_deadline(&d), None, "connected again: grace is off");
    assert_eq!(live_timers(&d).await, 2, "heartbeat and watchdog; no grace");
    let seen = peer.drain();
    assert_eq!(seen.frames.len(), 3);
    let resent: Vec<Vec<u8>> = before.buffer.iter().map(|f| f.frame.to_vec()).collect();
    assert_eq!(seen.frames[1..], resent[..]);
    for msg in peer.decode_all(&seen.frames[1..]) {
        peer.accept(&msg);
    }
    // The grace deadline set when the old connection was lost no longer ends the session.
    let lost_at = Instant::now();
    for _ in 0..7 {
        peer.heartbeat();
        let log = run_for(&mut d, ms(900)).await;
        assert!(
            transitions(&log).is_empty() && ended(&log).is_empty(),
            "{log:?}"
        );
        for msg in peer.recv() {
            peer.accept(&msg);
        }
    }
    assert!(Instant::now() > lost_at + ms(5000));
    assert_eq!(d.state_name(), Some("Connected"));
}

#[tokio::test(start_paused = true)]
async fn edge_connecting_to_no_connection_when_the_dial_fails() {
    let (mut d, dial) = connecting_client().await;
    let before = carried(&d);
    let grace = grace_deadline(&d);

    d.dialed(&dial, Err("connection refused".into()));

    let log = d.take_outputs();
    assert_eq!(
        transitions(&log),
        [("Connecting", "NoConnection", "connection_failed")]
    );
    assert_eq!(d.state_name(), Some("NoConnection"));
    assert_consumed(
        &dial,
        "Connecting",
        moved("connection_failed", "NoConnection"),
    );
    assert_eq!(carried(&d), before);
    assert_eq!(
        grace_deadline(&d),
        grace,
        "a failed dial does not move grace"
    );
    assert_eq!(live_timers(&d).await, 1, "grace only");
    // The connection timeout no longer fires.
    let log = run_for(&mut d, ms(3000)).await;
    assert!(log.is_empty(), "{log:?}");
    assert_eq!(d.stale_events(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_dial_is_retried_after_the_backoff() {
    let (mut d, dial) = connecting_client().await;
    d.set_reconnect(true);
    d.dialed(&dial, Err("connection refused".into()));
    let log = d.take_outputs();
    assert_eq!(
        transitions(&log),
        [
            ("Connecting", "NoConnection", "connection_failed"),
            ("NoConnection", "BackingOff", "back_off"),
        ]
    );
    let t = Instant::now();
    let log = run_until(&mut d, 5, |_, log| !dials(log).is_empty()).await;
    assert_eq!(Instant::now(), t + ms(200), "second unit of budget: 200 ms");
    assert_eq!(transitions(&log), [("BackingOff", "Connecting", "connect")]);
}

#[tokio::test(start_paused = true)]
async fn edge_connecting_to_no_connection_on_timeout_and_a_late_dial_is_closed_unused() {
    let (mut d, dial) = connecting_client().await;
    let before = carried(&d);
    let grace = grace_deadline(&d);
    let t = Instant::now();

    let log = run_to_state(&mut d, "NoConnection").await;

    assert_eq!(Instant::now(), t + ms(2000), "the connection timeout");
    assert_eq!(
        transitions(&log),
        [("Connecting", "NoConnection", "connection_failed")]
    );
    assert_consumed(
        &dial,
        "Connecting",
        moved("connection_failed", "NoConnection"),
    );
    assert_eq!(carried(&d), before);
    assert_eq!(grace_deadline(&d), grace);
    assert_eq!(live_timers(&d).await, 1);

    // The dial completes after all: the connection is closed and never used.
    let (conn, mut far) = Peer::pair(SERVER, CLIENT);
    d.dialed(&dial, Ok(Box::new(conn)));
    assert_eq!(d.stale_events(), 1);
    assert!(d.take_outputs().is_empty(), "not reported");
    assert_eq!(d.state_name(), Some("NoConnection"));
    assert_eq!(carried(&d), before);
    let seen = far.drain();
    assert!(seen.frames.is_empty(), "no handshake on a late connection");
    assert!(is_session_continues(seen.link), "{seen:?}");
    assert_eq!(live_timers(&d).await, 1);
}

#[tokio::test(start_paused = true)]
async fn edge_handshaking_to_no_connection_when_the_connection_closes() {
    let (mut d, _) = disconnected_client().await;
    let (mut peer, _) = handshaking_client(&mut d).await;
    drop(d.take_outputs());
    let before = carried(&d);
    let grace = grace_deadline(&d);
    let old = d.handle().expect("alive");

    peer.close();
    let log = run_to_state(&mut d, "NoConnection").await;

    assert_eq!(
        transitions(&log),
        [("Handshaking", "NoConnection", "connection_lost")]
    );
    assert_consumed(
        &old,
        "Handshaking",
        moved("connection_lost", "NoConnection"),
    );
    assert_eq!(carried(&d), before);
    assert_eq!(
        grace_deadline(&d),
        grace,
        "losing a handshake does not move grace"
    );
    assert_eq!(live_timers(&d).await, 1);
    // The handshake timeout no longer fires.
    let log = run_for(&mut d, ms(1500)).await;
    assert!(log.is_empty(), "{log:?}");
    assert_eq!(d.stale_events(), 0);
}

#[tokio::test(start_paused = true)]
async fn edge_handshaking_to_no_connection_on_handshake_timeout() {
    let (mut d, _) = disconnected_client().await;
    let (mut peer, _) = handshaking_client(&mut d).await;
    drop(d.take_outputs());
    let before = carried(&d);
    let grace = grace_deadline(&d);
    let old = d.handle().expect("alive");
    let t = Instant::now();

    let log = run_to_state(&mut d, "NoConnection").await;

    assert_eq!(Instant::now(), t + ms(1000));
    assert_eq!(
        transitions(&log),
        [("Handshaking", "NoConnection", "connection_lost")]
    );
    assert_consumed(
        &old,
        "Handshaking",
        moved("connection_lost", "NoConnection"),
    );
    assert_eq!(carried(&d), before);
    assert_eq!(grace_deadline(&d), grace);
    assert_eq!(live_timers(&d).await, 1);
    // The connection is closed, saying the session continues.
    let seen = peer.drain();
    assert!(seen.frames.is_empty());
    assert!(is_session_continues(seen.link), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn edge_connected_to_no_connection_client() {
    let (mut d, mut peer) = primed_client().await;
    d.set_reconnect(false);
    let before = carried(&d);
    let old = d.handle().expect("alive");

    peer.close();
    let log = run_to_state(&mut d, "NoConnection").await;
    let t = Instant::now();

    assert_eq!(
        transitions(&log),
        [("Connected", "NoConnection", "connection_lost")]
    );
    assert_consumed(&old, "Connected", moved("connection_lost", "NoConnection"));
    assert_eq!(carried(&d), before);
    assert_eq!(
        grace_deadline(&d),
        Some(t + ms(5000)),
        "losing the connection starts grace"
    );
    assert_eq!(live_timers(&d).await, 1, "grace only; no watchdog");
    // The watchdog no longer fires; grace ends the session at its deadline.
    let log = run_to_end(&mut d).await;
    assert_eq!(Instant::now(), t + ms(5000));
    assert_eq!(ended(&log), [EndReason::GraceExpired]);
    assert!(transitions(&log).is_empty());
    assert_eq!(d.stale_events(), 0);
}

#[tokio::test(start_paused = true)]
async fn edge_connected_to_no_connection_server() {
    let (mut d, mut peer) = primed_server().await;
    let before = carried(&d);
    let old = d.handle().expect("alive");

    peer.close();
    let log = run_to_state(&mut d, "NoConnection").await;
    let t = Instant::now();

    assert_eq!(
        transitions(&log),
        [("Connected", "NoConnection", "connection_lost")]
    );
    assert_consumed(&old, "Connected", moved("connection_lost", "NoConnection"));
    assert_eq!(carried(&d), before);
    assert_eq!(grace_deadline(&d), Some(t + ms(5000)));
    assert_eq!(
        live_timers(&d).await,
        1,
        "grace only; no heartbeat, no watchdog"
    );
    let log = run_for(&mut d, ms(3500)).await;
    assert!(log.is_empty(), "{log:?}");
    assert_eq!(carried(&d), before, "no heartbeat was sequenced");
    let log = run_to_end(&mut d).await;
    assert_eq!(Instant::now(), t + ms(5000));
    assert_eq!(ended(&log), [EndReason::GraceExpired]);
}

/// `BackingOff -> NoConnection` (`cancel`) is declared in the graph, but `SessionDriver` never
/// takes it: a client that backs off always goes on to `Connecting`, and ending the session is
/// the close hook, not an edge. So the edge is checked on the machine itself.
#[tokio::test(start_paused = true)]
async fn edge_backing_off_to_no_connection_exists_only_in_the_graph() {
    let mut s = Session::client(client_ctx(options()), NoConnection);
    s.context_mut().sequence(app("c", 1)).expect("encodable");
    s.context_mut().ack = 3;
    let first = s.handle();
    let until = Instant::now() + ms(100);
    let s = s.back_off(|_| BackingOff { until });
    let backing_off = s.handle();
    assert_consumed(&first, "NoConnection", moved("back_off", "BackingOff"));
    // A timer owned by BackingOff.
    let timer = backing_off.sleep(ms(100));
    let before = s.context().clone();

    let s = s.cancel(|b| {
        assert_eq!(b.until, until);
        NoConnection
    });

    assert_eq!(s.name(), "NoConnection");
    assert_consumed(&backing_off, "BackingOff", moved("cancel", "NoConnection"));
    assert!(timer.await.is_err(), "the backoff timer does not fire");
    let ctx = s.context();
    assert_eq!(
        (&ctx.id, ctx.seq, ctx.ack, &ctx.send_buffer),
        (&before.id, before.seq, before.ack, &before.send_buffer)
    );
    assert_eq!(ctx.grace_deadline, before.grace_deadline);
}

/// The close hook of each state: the buffer is dropped, and a connection the state owns is
/// closed saying the session ended. (Through the driver, `context()` is gone after a close, so
/// the emptied buffer is checked here.)
#[tokio::test(start_paused = true)]
async fn close_hooks_empty_the_buffer_and_close_the_connection_in_every_state() {
    fn buffered() -> statebound_river::session::SessionContext {
        let mut ctx = client_ctx(options());
        ctx.sequence(app("c", 1)).expect("encodable");
        ctx
    }
    let now = Instant::now();
    let no_connection = Session::client(buffered(), NoConnection);
    assert!(no_connection.close().send_buffer.is_empty());
    let backing_off =
        Session::client(buffered(), NoConnection).back_off(|_| BackingOff { until: now });
    assert!(backing_off.close().send_buffer.is_empty());
    let connecting = Session::client(buffered(), NoConnection)
        .back_off(|_| BackingOff { until: now })
        .connect(|_| Connecting { deadline: now });
    assert!(connecting.close().send_buffer.is_empty());

    let (conn, mut peer) = Peer::pair(SERVER, CLIENT);
    let handshaking = Session::client(buffered(), NoConnection)
        .back_off(|_| BackingOff { until: now })
        .connect(|_| Connecting { deadline: now })
        .connection_established(|_| Handshaking {
            conn: Box::new(conn),
        });
    assert!(handshaking.close().send_buffer.is_empty());
    assert_eq!(
        peer.drain().link,
        Link::Closed(Some(CloseCode::SESSION_ENDED))
    );

    let (conn, mut peer) = Peer::pair(SERVER, CLIENT);
    let connected = Session::client(buffered(), NoConnection)
        .back_off(|_| BackingOff { until: now })
        .connect(|_| Connecting { deadline: now })
        .connection_established(|_| Handshaking {
            conn: Box::new(conn),
        })
        .handshake_ok(|h| Connected {
            conn: h.conn,
            last_inbound: now,
        });
    assert!(connected.close().send_buffer.is_empty());
    assert_eq!(
        peer.drain().link,
        Link::Closed(Some(CloseCode::SESSION_ENDED))
    );

    let (conn, mut peer) = Peer::pair(CLIENT, SERVER);
    let waiting = Session::server(
        buffered(),
        WaitingForHandshake {
            conn: Box::new(conn),
            request_received: false,
        },
    );
    assert!(waiting.close().send_buffer.is_empty());
    assert_eq!(
        peer.drain().link,
        Link::Closed(Some(CloseCode::SESSION_ENDED))
    );
}

// ----- grace ------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn grace_ends_a_session_in_no_connection_at_its_deadline() {
    let t0 = Instant::now();
    let mut d = new_client();
    let old = d.handle().expect("alive");
    let log = run_to_end(&mut d).await;
    assert_eq!(Instant::now(), t0 + ms(5000));
    assert_eq!(
        statuses(&log),
        [
            SessionStatus::Created,
            SessionStatus::Closing,
            SessionStatus::Closed
        ]
    );
    assert_eq!(ended(&log), [EndReason::GraceExpired]);
    assert_consumed(&old, "NoConnection", Fate::Closed);
    assert_eq!(live_timers(&d).await, 0);
}

#[tokio::test(start_paused = true)]
async fn grace_deadline_does_not_move_across_reconnect_attempts_and_ends_the_session_on_time() {
    // Dials connect, but the server never answers: each attempt goes NoConnection ->
    // BackingOff -> Connecting -> Handshaking -> (handshake timeout) NoConnection.
    let t0 = Instant::now();
    let mut d = new_client();
    let deadline = grace_deadline(&d).expect("set");
    assert_eq!(deadline, t0 + ms(5000));
    d.connect();
    let mut log = Vec::new();
    let mut far_ends = Vec::new();
    for _ in 0..200 {
        let out = d.take_outputs();
        for dial in dials(&out) {
            let (conn, peer) = Peer::pair(SERVER, CLIENT);
            far_ends.push(peer);
            d.dialed(&dial, Ok(Box::new(conn)));
        }
        log.extend(out);
        log.extend(d.take_outputs());
        if d.ended().is_some() {
            break;
        }
        assert_eq!(grace_deadline(&d), Some(deadline), "grace moved");
        assert!(step_within(&mut d, ms(10_000)).await);
    }
    assert_eq!(
        Instant::now(),
        deadline,
        "ended exactly at the original deadline"
    );
    assert_eq!(ended(&log), [EndReason::GraceExpired]);
    let edges = transitions(&log);
    for edge in [
        ("NoConnection", "BackingOff", "back_off"),
        ("BackingOff", "Connecting", "connect"),
        ("Connecting", "Handshaking", "connection_established"),
        ("Handshaking", "NoConnection", "connection_lost"),
    ] {
        assert!(edges.contains(&edge), "{edge:?} not taken: {edges:?}");
    }
    assert!(far_ends.len() >= 3, "several attempts: {}", far_ends.len());
    assert_eq!(
        d.stale_events(),
        0,
        "no timer of a state already left fired"
    );
    assert_eq!(live_timers(&d).await, 0);
}

#[tokio::test(start_paused = true)]
async fn grace_ends_a_session_in_backing_off_at_its_deadline() {
    let t0 = Instant::now();
    let retry = RetryOptions {
        base_interval: ms(10_000),
        max_backoff: ms(10_000),
        ..retry()
    };
    let mut d = SessionDriver::client(client_ctx(options()), retry);
    let (dial, _) = run_to_dial(&mut d).await;
    d.dialed(&dial, Err("refused".into()));
    assert_eq!(d.state_name(), Some("BackingOff"), "a 10 s backoff");
    let log = run_to_end(&mut d).await;
    assert_eq!(Instant::now(), t0 + ms(5000));
    assert_eq!(ended(&log), [EndReason::GraceExpired]);
    assert!(dials(&log).is_empty());
    assert_eq!(live_timers(&d).await, 0);
}

#[tokio::test(start_paused = true)]
async fn grace_ends_a_session_in_connecting_at_its_deadline_and_the_dial_is_closed_unreported() {
    let t0 = Instant::now();
    let mut d = SessionDriver::client(
        client_ctx(SessionOptions {
            connection_timeout: ms(10_000),
            ..options()
        }),
        retry(),
    );
    let (dial, _) = run_to_dial(&mut d).await;
    let log = run_to_end(&mut d).await;
    assert_eq!(Instant::now(), t0 + ms(5000));
    assert_eq!(ended(&log), [EndReason::GraceExpired]);
    assert_consumed(&dial, "Connecting", Fate::Closed);
    let (conn, mut far) = Peer::pair(SERVER, CLIENT);
    d.dialed(&dial, Ok(Box::new(conn)));
    assert!(d.take_outputs().is_empty());
    let seen = far.drain();
    assert!(seen.frames.is_empty() && seen.link.is_closed(), "{seen:?}");
    assert_eq!(live_timers(&d).await, 0);
}

#[tokio::test(start_paused = true)]
async fn grace_ends_a_session_in_handshaking_at_its_deadline() {
    let t0 = Instant::now();
    let mut d = SessionDriver::client(
        client_ctx(SessionOptions {
            handshake_timeout: ms(10_000),
            ..options()
        }),
        retry(),
    );
    let (mut peer, _) = handshaking_client(&mut d).await;
    let log = run_to_end(&mut d).await;
    assert_eq!(Instant::now(), t0 + ms(5000));
    assert_eq!(ended(&log), [EndReason::GraceExpired]);
    assert_eq!(
        peer.drain().link,
        Link::Closed(Some(CloseCode::SESSION_ENDED))
    );
    assert_eq!(live_timers(&d).await, 0);
}

#[tokio::test(start_paused = true)]
async fn a_connected_session_has_no_grace_timer() {
    let t0 = Instant::now();
    let (mut d, mut peer) = connected_client().await;
    assert_eq!(grace_deadline(&d), None);
    assert_eq!(live_timers(&d).await, 1, "the watchdog, no grace");
    // Kept alive by the server's heartbeats well past the first grace deadline (t0 + 5 s).
    for _ in 0..12 {
        peer.heartbeat();
        let log = run_for(&mut d, ms(900)).await;
        assert!(
            transitions(&log).is_empty() && ended(&log).is_empty(),
            "{log:?}"
        );
        for msg in peer.recv() {
            peer.accept(&msg);
        }
    }
    assert!(Instant::now() > t0 + ms(10_000));
    assert_eq!(d.state_name(), Some("Connected"));
}

// ----- stale handles ----------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_dial_reported_with_an_old_handle_is_discarded() {
    let mut d = new_client();
    let (first, _) = run_to_dial(&mut d).await;
    d.dialed(&first, Err("refused".into()));
    let log = run_until(&mut d, 5, |_, log| !dials(log).is_empty()).await;
    let second = dials(&log).remove(0);
    assert!(!second.same_state(&first));
    assert_consumed(
        &first,
        "Connecting",
        moved("connection_failed", "NoConnection"),
    );
    let before = carried(&d);

    let (conn, mut far) = Peer::pair(SERVER, CLIENT);
    d.dialed(&first, Ok(Box::new(conn)));

    assert_eq!(d.stale_events(), 1);
    assert!(d.take_outputs().is_empty());
    assert_eq!(d.state_name(), Some("Connecting"));
    assert!(second.is_live());
    assert_eq!(carried(&d), before);
    let seen = far.drain();
    assert!(seen.frames.is_empty() && seen.link.is_closed(), "{seen:?}");
    // A stale failure is discarded as well.
    d.dialed(&first, Err("late".into()));
    assert_eq!(d.stale_events(), 2);
    assert_eq!(d.state_name(), Some("Connecting"));
    // The live dial still works.
    let (conn, mut peer) = Peer::pair(SERVER, CLIENT);
    d.dialed(&second, Ok(Box::new(conn)));
    assert_eq!(d.state_name(), Some("Handshaking"));
    peer.read_request();
}

/// A live handle from another session's `Connecting` is not this session's dial: it should be
/// discarded like a stale one (and its connection closed), not taken for this session's own.
#[tokio::test(start_paused = true)]
async fn a_dial_reported_with_another_sessions_handle_is_discarded() {
    let mut a = new_client();
    let mut b = new_client();
    let (first, _) = run_to_dial(&mut a).await;
    a.dialed(&first, Err("refused".into()));
    assert_eq!(a.state_name(), Some("BackingOff"));
    a.take_outputs();
    let (b_dial, _) = run_to_dial(&mut b).await;
    let (conn, mut far) = Peer::pair(SERVER, CLIENT);

    a.dialed(&b_dial, Ok(Box::new(conn)));

    assert_eq!(a.state_name(), Some("BackingOff"));
    assert!(a.take_outputs().is_empty());
    assert!(far.drain().link.is_closed());
    assert!(b_dial.is_live(), "b is untouched");
}

#[tokio::test(start_paused = true)]
async fn messages_sent_before_the_handshake_completes_wait_in_the_buffer() {
    let mut d = new_client();
    let (mut peer, request) = handshaking_client(&mut d).await;
    assert_eq!(request.expected_session_state.next_sent_seq, 0);
    let sent = d.send(app("c", 1)).expect("buffered");
    assert_eq!(sent.seq, 0);
    assert!(
        peer.drain().frames.is_empty(),
        "not written before the response"
    );
    assert_eq!(carried(&d).buffer.len(), 1);
    peer.respond_ok(SESSION);
    run_to_state(&mut d, "Connected").await;
    let msgs = peer.recv();
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0].seq, msgs[0].stream_id.as_str()), (0, "c"));
}

// ----- close from every state -------------------------------------------------------------

/// Closes `d` and checks what every close must do; returns nothing more to read.
async fn close_and_check(d: &mut SessionDriver, state: &str, was_session: bool) {
    assert_eq!(d.state_name(), Some(state));
    drop(d.take_outputs());
    let old = d.handle().expect("alive");
    d.close();
    let log = d.take_outputs();
    let expected_statuses: &[SessionStatus] = if was_session {
        &[SessionStatus::Closing, SessionStatus::Closed]
    } else {
        &[]
    };
    assert_eq!(statuses(&log), expected_statuses, "{log:?}");
    assert_eq!(ended(&log), [EndReason::Closed]);
    assert!(transitions(&log).is_empty() && dials(&log).is_empty());
    assert!(matches!(log.last(), Some(Output::Ended(EndReason::Closed))));
    assert_consumed(&old, state, Fate::Closed);
    assert_eq!(d.state_name(), None);
    assert!(d.context().is_none(), "the context and its buffer are gone");
    assert_eq!(d.ended(), Some(&EndReason::Closed));
    assert_eq!(d.send(app("c", 9)), Err(SendError::SessionEnded));
    assert_eq!(live_timers(d).await, 0);
    // Closing twice is harmless.
    d.close();
    assert!(d.take_outputs().is_empty());
    assert_eq!(d.ended(), Some(&EndReason::Closed));
    // Nothing happens any more.
    assert!(step_within(d, ms(1)).await, "step returns at once");
    assert!(d.take_outputs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn close_in_no_connection() {
    let (mut d, mut peer) = disconnected_client().await;
    close_and_check(&mut d, "NoConnection", true).await;
    // The old connection saw its close when it was lost, and nothing after.
    let seen = peer.drain();
    assert!(seen.frames.is_empty());
}

#[tokio::test(start_paused = true)]
async fn close_in_backing_off() {
    let mut d = backing_off_client().await;
    close_and_check(&mut d, "BackingOff", true).await;
    let log = run_for(&mut d, ms(1000)).await;
    assert!(dials(&log).is_empty(), "no dial after close");
}

#[tokio::test(start_paused = true)]
async fn close_in_connecting_then_the_dial_completes() {
    let (mut d, dial) = connecting_client().await;
    close_and_check(&mut d, "Connecting", true).await;
    let stale = d.stale_events();
    let (conn, mut far) = Peer::pair(SERVER, CLIENT);
    d.dialed(&dial, Ok(Box::new(conn)));
    assert!(d.take_outputs().is_empty(), "not reported");
    assert_eq!(d.stale_events(), stale + 1);
    let seen = far.drain();
    assert!(seen.frames.is_empty(), "no handshake after close");
    assert!(seen.link.is_closed(), "closed");
}

#[tokio::test(start_paused = true)]
async fn close_in_handshaking() {
    let (mut d, _) = disconnected_client().await;
    let (mut peer, _) = handshaking_client(&mut d).await;
    close_and_check(&mut d, "Handshaking", true).await;
    let seen = peer.drain();
    assert!(seen.frames.is_empty(), "the buffer is not written");
    assert_eq!(seen.link, Link::Closed(Some(CloseCode::SESSION_ENDED)));
}

#[tokio::test(start_paused = true)]
async fn close_in_connected() {
    let (mut d, mut peer) = primed_client().await;
    close_and_check(&mut d, "Connected", true).await;
    let seen = peer.drain();
    assert!(seen.frames.is_empty(), "nothing written on close");
    assert_eq!(seen.link, Link::Closed(Some(CloseCode::SESSION_ENDED)));
}

#[tokio::test(start_paused = true)]
async fn close_in_connected_server() {
    let (mut d, mut peer) = primed_server().await;
    close_and_check(&mut d, "Connected", true).await;
    let seen = peer.drain();
    assert!(seen.frames.is_empty());
    assert_eq!(seen.link, Link::Closed(Some(CloseCode::SESSION_ENDED)));
}

#[tokio::test(start_paused = true)]
async fn close_in_no_connection_server() {
    let (mut d, mut peer) = primed_server().await;
    peer.close();
    run_to_state(&mut d, "NoConnection").await;
    close_and_check(&mut d, "NoConnection", true).await;
}

#[tokio::test(start_paused = true)]
async fn close_in_waiting_for_handshake() {
    let (mut d, mut peer) = pending_server();
    close_and_check(&mut d, "WaitingForHandshake", false).await;
    assert_eq!(
        peer.drain().link,
        Link::Closed(Some(CloseCode::SESSION_ENDED))
    );
}

// ----- codec failures while sending -------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_message_that_cannot_be_encoded_is_refused_without_taking_a_seq() {
    let (mut d, mut peer) = primed_client().await;
    let before = carried(&d);

    let err = d.send(unencodable()).expect_err("cannot be encoded");

    assert!(matches!(err, SendError::Encode(_)), "{err:?}");
    assert_eq!(carried(&d), before, "seq and buffer untouched");
    assert!(peer.drain().frames.is_empty(), "nothing written");
    assert!(d.take_outputs().is_empty());
    assert_eq!(d.state_name(), Some("Connected"));
    let sent = d.send(app("c", 3)).expect("a later send works");
    assert_eq!(sent.seq, before.seq);
    let msgs = peer.recv();
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0].seq, msgs[0].ack), (before.seq, before.ack));
    assert_eq!(carried(&d).seq, before.seq + 1);
}

#[tokio::test(start_paused = true)]
async fn a_message_that_cannot_be_encoded_while_disconnected_takes_no_seq() {
    let (mut d, _) = disconnected_client().await;
    let before = carried(&d);
    assert!(matches!(d.send(unencodable()), Err(SendError::Encode(_))));
    assert_eq!(carried(&d), before);
    let sent = d.send(app("c", 3)).expect("a later send works");
    assert_eq!(sent.seq, before.seq);
    assert_eq!(carried(&d).buffer.len(), before.buffer.len() + 1);
}

#[tokio::test(start_paused = true)]
async fn a_handshake_that_cannot_be_encoded_does_not_corrupt_seq() {
    let mut ctx = client_ctx(options());
    // JSON, this session's codec, has no NaN.
    ctx.metadata = Some(Value::Float(f64::NAN));
    let mut d = SessionDriver::client(ctx, retry());
    d.send(app("c", 1)).expect("buffered");
    let before = carried(&d);
    let (dial, _) = run_to_dial(&mut d).await;
    d.set_reconnect(false);
    let (conn, mut far) = Peer::pair(SERVER, CLIENT);

    d.dialed(&dial, Ok(Box::new(conn)));

    let log = d.take_outputs();
    let errors = protocol_errors(&log);
    assert!(
        matches!(errors.as_slice(), [ProtocolError::MessageSendFailure(_)]),
        "{errors:?}"
    );
    assert_eq!(
        transitions(&log),
        [
            ("Connecting", "Handshaking", "connection_established"),
            ("Handshaking", "NoConnection", "connection_lost"),
        ]
    );
    assert_eq!(carried(&d), before, "seq, ack and buffer untouched");
    let seen = far.drain();
    assert!(seen.frames.is_empty());
    assert!(is_session_continues(seen.link));
    let sent = d.send(app("c", 2)).expect("a later send works");
    assert_eq!(sent.seq, before.seq);
}

// ----- output order ----------------------------------------------------------------------

/// `take_outputs` promises what the driver has to say "in order". Transitions reach the
/// outputs through the observer's step log, which is only copied over by `take_outputs` (or
/// `end`), so an output pushed directly (a dial request, a message, a protocol error) comes
/// out ahead of transitions that happened before it.
#[tokio::test(start_paused = true)]
async fn outputs_come_out_in_the_order_things_happened() {
    #[derive(Debug, PartialEq)]
    enum Seen {
        Transition(&'static str),
        Dial,
        Message,
    }
    fn summary(log: &[Output]) -> Vec<Seen> {
        log.iter()
            .filter_map(|o| match o {
                Output::Transition { to, .. } => Some(Seen::Transition(to)),
                Output::Dial(_) => Some(Seen::Dial),
                Output::Message(_) => Some(Seen::Message),
                _ => None,
            })
            .collect()
    }
    let mut d = new_client();
    drop(d.take_outputs());
    d.connect();
    // The first attempt has no backoff: connecting moves straight on to Connecting, which asks
    // for a dial, all in one call.
    let log = d.take_outputs();
    let dial = the_dial(&log);
    let order_within_a_step = summary(&log);
    let (conn, mut peer) = Peer::pair(SERVER, CLIENT);
    d.dialed(&dial, Ok(Box::new(conn)));
    peer.read_request();
    drop(d.take_outputs());
    // Two steps before taking outputs: the handshake response, then a message.
    peer.respond_ok(SESSION);
    peer.send(app("s", 1));
    assert!(step_within(&mut d, ms(1)).await);
    assert!(step_within(&mut d, ms(1)).await);
    let order_across_steps = summary(&d.take_outputs());

    assert_eq!(
        order_across_steps,
        [Seen::Transition("Connected"), Seen::Message]
    );
    assert_eq!(
        order_within_a_step,
        [
            Seen::Transition("BackingOff"),
            Seen::Transition("Connecting"),
            Seen::Dial
        ]
    );
}

// ----- nothing left behind ----------------------------------------------------------------

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(start_paused = true)]
async fn a_session_that_transitions_through_every_edge_leaves_no_running_timer_or_task_behind() {
    // Client: every client edge the driver takes.
    let mut d = SessionDriver::client(
        client_ctx(options()),
        RetryOptions {
            attempt_budget_capacity: 100,
            ..retry()
        },
    );
    let mut log = Vec::new();
    // Dial fails.
    let (dial, out) = run_to_dial(&mut d).await;
    log.extend(out);
    d.dialed(&dial, Err("refused".into()));
    // Dial times out.
    log.extend(run_until(&mut d, 5, |_, log| !dials(log).is_empty()).await);
    log.extend(run_until(&mut d, 5, |_, log| !dials(log).is_empty()).await);
    // Handshake: connection closed.
    let dial = dials(&log).pop().expect("dial");
    let (conn, mut peer) = Peer::pair(SERVER, CLIENT);
    d.dialed(&dial, Ok(Box::new(conn)));
    peer.close();
    log.extend(run_until(&mut d, 5, |_, log| !dials(log).is_empty()).await);
    // Handshake: timeout.
    let dial = dials(&log).pop().expect("dial");
    let (conn, _peer2) = Peer::pair(SERVER, CLIENT);
    d.dialed(&dial, Ok(Box::new(conn)));
    log.extend(run_until(&mut d, 5, |_, log| !dials(log).is_empty()).await);
    // Handshake ok, then the connection is lost.
    let dial = dials(&log).pop().expect("dial");
    let (conn, mut peer) = Peer::pair(SERVER, CLIENT);
    d.dialed(&dial, Ok(Box::new(conn)));
    peer.read_request();
    peer.respond_ok(SESSION);
    log.extend(run_to_state(&mut d, "Connected").await);
    peer.close();
    log.extend(run_until(&mut d, 5, |_, log| !dials(log).is_empty()).await);
    let edges = transitions(&log);
    for edge in [
        ("NoConnection", "BackingOff", "back_off"),
        ("BackingOff", "Connecting", "connect"),
        ("Connecting", "NoConnection", "connection_failed"),
        ("Connecting", "Handshaking", "connection_established"),
        ("Handshaking", "NoConnection", "connection_lost"),
        ("Handshaking", "Connected", "handshake_ok"),
        ("Connected", "NoConnection", "connection_lost"),
    ] {
        assert!(edges.contains(&edge), "{edge:?} not taken: {edges:?}");
    }
    d.close();

    // Server: WaitingForHandshake -> Connected (new), Connected -> NoConnection, adopted.
    let (mut s, mut client) = connected_server().await;
    client.close();
    run_to_state(&mut s, "NoConnection").await;
    let (mut pending, mut client) = pending_server();
    client.request(SESSION, ExpectedSessionState::default());
    let parsed = run_to_request(&mut pending).await;
    s.adopt(pending, &parsed);
    assert_eq!(s.state_name(), Some("Connected"));
    s.close();

    settle().await;
    assert_eq!(d.live_timers(), 0);
    assert_eq!(s.live_timers(), 0);
    assert_eq!(alive_tasks(), 0, "no task left on the runtime");
}

#[tokio::test(start_paused = true)]
async fn ending_by_grace_leaves_no_task_behind() {
    let mut d = new_client();
    let (dial, _) = run_to_dial(&mut d).await;
    let (conn, _far) = memory_pair();
    d.dialed(&dial, Ok(Box::new(conn)));
    run_to_end(&mut d).await;
    settle().await;
    assert_eq!(d.live_timers(), 0);
    assert_eq!(alive_tasks(), 0);
}
