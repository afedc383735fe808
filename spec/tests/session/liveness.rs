//! Heartbeats and liveness through `SessionDriver` (`docs/conformance.md`, "Sequencing, heartbeats
//! and liveness"), plus the receive rules of `docs/protocol.md` section 5 that decide what is
//! delivered:
//! a frame from a stranger, duplicates and gaps.
//!
//! Default timing: a heartbeat every 1 s, a connection dead after 2 s of silence. Everything
//! runs on tokio's paused clock with in-memory connections.

use crate::driver::{
    CLIENT, Link, SERVER, app, carried, connected_client, connected_server, dials, ended,
    live_timers, messages, ms, protocol_errors, run_for, run_to_end, run_to_state, run_until,
    statuses, transitions,
};
use statebound_river::session::{CloseCode, EndReason, ProtocolError, SessionStatus};
use statebound_river::wire::{
    ControlFlags, HEARTBEAT_STREAM_ID, MessageHeader, ProtocolVersion, TransportMessage,
    ack_payload,
};
use tokio::time::Instant;

fn assert_heartbeat(msg: &TransportMessage, from: &str, to: &str) {
    assert_eq!(msg.stream_id, HEARTBEAT_STREAM_ID, "{msg:?}");
    assert_eq!(
        msg.flags(ProtocolVersion::V2_0),
        ControlFlags::ACK,
        "{msg:?}"
    );
    assert_eq!(msg.payload, ack_payload(), "{msg:?}");
    assert_eq!((msg.from.as_str(), msg.to.as_str()), (from, to));
    assert_eq!((&msg.service_name, &msg.procedure_name), (&None, &None));
}

fn count_lost(log: &[statebound_river::session::Output]) -> usize {
    transitions(log)
        .iter()
        .filter(|t| **t == ("Connected", "NoConnection", "connection_lost"))
        .count()
}

// ----- the server heartbeats ---------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn server_sends_one_heartbeat_per_interval_while_connected() {
    let (mut d, mut peer) = connected_server().await;
    let t0 = Instant::now();
    for k in 1..=10u32 {
        // Step until the heartbeat is on the wire, and note when that was.
        let mut got = Vec::new();
        run_until(&mut d, 5, |_, _| {
            got.extend(peer.recv());
            !got.is_empty()
        })
        .await;
        assert_eq!(Instant::now(), t0 + ms(1000) * k, "heartbeat {k} on time");
        assert_eq!(got.len(), 1, "exactly one heartbeat per interval: {got:?}");
        let beat = &got[0];
        assert_heartbeat(beat, SERVER, CLIENT);
        assert_eq!(beat.seq, u64::from(k) - 1, "heartbeats are sequenced");
        assert_eq!(beat.ack, peer.seq, "and acknowledge what the client sent");
        peer.accept(beat);
        // The client answers, which keeps the connection alive.
        peer.heartbeat();
        // Nothing more until the next interval.
        let log = run_for(&mut d, ms(900)).await;
        assert!(
            transitions(&log).is_empty() && messages(&log).is_empty(),
            "{log:?}"
        );
        assert!(peer.recv().is_empty(), "a second frame within interval {k}");
    }
    assert_eq!(d.state_name(), Some("Connected"));
    assert_eq!(
        carried(&d).buffer.len(),
        0,
        "every heartbeat was acknowledged"
    );
}

#[tokio::test(start_paused = true)]
async fn server_sends_no_heartbeat_after_leaving_connected() {
    let (mut d, mut peer) = connected_server().await;
    let log = run_for(&mut d, ms(1500)).await;
    assert!(transitions(&log).is_empty());
    assert_eq!(peer.recv().len(), 1, "one heartbeat while connected");
    peer.close();
    run_to_state(&mut d, "NoConnection").await;
    let before = carried(&d);
    assert_eq!(live_timers(&d).await, 1, "grace only");

    let log = run_for(&mut d, ms(4500)).await;

    assert!(log.is_empty(), "{log:?}");
    assert_eq!(
        carried(&d),
        before,
        "no heartbeat was sequenced or buffered"
    );
    let log = run_to_end(&mut d).await;
    assert_eq!(ended(&log), [EndReason::GraceExpired]);
}

// ----- the client answers ------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn client_sends_nothing_unprompted() {
    let (mut d, mut peer) = connected_client().await;
    assert_eq!(live_timers(&d).await, 1, "a watchdog, no heartbeat timer");
    let log = run_for(&mut d, ms(1900)).await;
    assert!(log.is_empty(), "{log:?}");
    let seen = peer.drain();
    assert!(seen.frames.is_empty(), "the client wrote {:?}", seen.frames);
    assert_eq!(carried(&d).seq, 0, "nothing was sequenced");
}

#[tokio::test(start_paused = true)]
async fn client_answers_each_heartbeat_with_exactly_one() {
    let (mut d, mut peer) = connected_client().await;
    for k in 0..8u64 {
        let beat = peer.heartbeat();
        assert_eq!(beat.seq, k);
        let mut got = Vec::new();
        run_until(&mut d, 3, |_, _| {
            got.extend(peer.recv());
            !got.is_empty()
        })
        .await;
        // Only that answer, and nothing until the next heartbeat.
        run_for(&mut d, ms(900)).await;
        got.extend(peer.recv());
        assert_eq!(got.len(), 1, "one answer to heartbeat {k}: {got:?}");
        let answer = &got[0];
        assert_heartbeat(answer, CLIENT, SERVER);
        assert_eq!(answer.seq, k, "the client's own sequence");
        assert_eq!(answer.ack, k + 1, "acknowledges the heartbeat it answers");
        peer.accept(answer);
    }
    assert_eq!(d.state_name(), Some("Connected"));
}

#[tokio::test(start_paused = true)]
async fn client_answers_a_burst_of_heartbeats_one_for_one() {
    let (mut d, mut peer) = connected_client().await;
    for _ in 0..3 {
        peer.heartbeat();
    }
    let mut got = Vec::new();
    run_until(&mut d, 6, |_, _| {
        got.extend(peer.recv());
        got.len() >= 3
    })
    .await;
    run_for(&mut d, ms(500)).await;
    got.extend(peer.recv());
    let acks: Vec<(u64, u64)> = got.iter().map(|m| (m.seq, m.ack)).collect();
    assert_eq!(acks, [(0, 1), (1, 2), (2, 3)]);
}

// ----- the watchdog ------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn silence_closes_the_server_connection_exactly_once() {
    let (mut d, mut peer) = connected_server().await;
    let t0 = Instant::now();
    // The client never answers.
    let mut log = run_to_state(&mut d, "NoConnection").await;
    assert_eq!(
        Instant::now(),
        t0 + ms(2000),
        "heartbeats_until_dead * interval"
    );
    let seen = peer.drain();
    assert!(!seen.frames.is_empty(), "heartbeats were sent");
    assert_eq!(seen.link, Link::Closed(Some(CloseCode::SESSION_CONTINUES)));
    assert_eq!(d.ended(), None, "the session stays");
    log.extend(run_for(&mut d, ms(4500)).await);
    assert_eq!(count_lost(&log), 1, "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn silence_closes_the_client_connection_exactly_once() {
    let (mut d, mut peer) = connected_client().await;
    let t0 = Instant::now();
    // The server never sends anything.
    let mut log = run_until(&mut d, 10, |_, log| count_lost(log) > 0).await;
    assert_eq!(
        Instant::now(),
        t0 + ms(2000),
        "heartbeats_until_dead * interval"
    );
    let seen = peer.drain();
    assert!(seen.frames.is_empty(), "the client sent nothing unprompted");
    assert_eq!(seen.link, Link::Closed(Some(CloseCode::SESSION_CONTINUES)));
    assert_eq!(d.ended(), None, "the session stays");
    // It reconnects (the dial is left unanswered); the lost connection is counted once.
    log.extend(run_for(&mut d, ms(1000)).await);
    assert_eq!(count_lost(&log), 1, "{log:?}");
    assert!(!dials(&log).is_empty(), "the client dials again");
}

#[tokio::test(start_paused = true)]
async fn silence_is_measured_from_the_last_message_within_one_interval() {
    let (mut d, mut peer) = connected_server().await;
    // The client speaks once, half an interval in, then falls silent.
    run_for(&mut d, ms(500)).await;
    peer.send(app("c", 1));
    run_until(&mut d, 3, |_, log| !messages(log).is_empty()).await;
    let last = Instant::now();
    let log = run_to_state(&mut d, "NoConnection").await;
    let closed_after = Instant::now() - last;
    assert!(
        closed_after >= ms(2000) && closed_after < ms(3000),
        "closed {closed_after:?} after the last message"
    );
    assert_eq!(count_lost(&log), 1);
}

/// River resets its miss timeout on every accepted message, so a connection is closed exactly
/// `heartbeats_until_dead * heartbeat_interval` after the last one. The driver's watchdog only
/// looks once per interval, from the moment the connection was established, so it closes up
/// to one interval late.
#[tokio::test(start_paused = true)]
async fn watchdog_closes_exactly_the_liveness_timeout_after_the_last_message() {
    let (mut d, mut peer) = connected_server().await;
    run_for(&mut d, ms(500)).await;
    peer.send(app("c", 1));
    run_until(&mut d, 3, |_, log| !messages(log).is_empty()).await;
    let last = Instant::now();
    run_to_state(&mut d, "NoConnection").await;
    assert_eq!(Instant::now() - last, ms(2000));
}

#[tokio::test(start_paused = true)]
async fn in_order_traffic_keeps_the_server_connection_open() {
    let (mut d, mut peer) = connected_server().await;
    // The client never answers heartbeats, but sends a message every 900 ms.
    for n in 0..12 {
        peer.send(app("c", n));
        let log = run_for(&mut d, ms(900)).await;
        assert!(transitions(&log).is_empty(), "{log:?}");
        assert_eq!(messages(&log).len(), 1);
        for msg in peer.recv() {
            peer.accept(&msg);
        }
    }
    assert_eq!(d.state_name(), Some("Connected"));
}

#[tokio::test(start_paused = true)]
async fn in_order_traffic_keeps_the_client_connection_open() {
    let (mut d, mut peer) = connected_client().await;
    // The server sends heartbeats every second, as it should.
    for _ in 0..10 {
        peer.heartbeat();
        let log = run_for(&mut d, ms(1000)).await;
        assert!(transitions(&log).is_empty(), "{log:?}");
        for msg in peer.recv() {
            peer.accept(&msg);
        }
    }
    assert_eq!(d.state_name(), Some("Connected"));
}

// ----- what is delivered -------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn heartbeats_are_never_delivered_as_messages() {
    let (mut server, mut client_end) = connected_server().await;
    client_end.heartbeat();
    client_end.send(app("c", 1));
    client_end.heartbeat();
    let log = run_for(&mut server, ms(1500)).await;
    let got = messages(&log);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].stream_id, "c");
    assert!(got.iter().all(|m| !m.is_heartbeat()));
    assert_eq!(carried(&server).ack, 3, "all three were accepted");

    let (mut client, mut server_end) = connected_client().await;
    server_end.heartbeat();
    server_end.send(app("s", 1));
    server_end.heartbeat();
    let log = run_for(&mut client, ms(500)).await;
    let got = messages(&log);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].stream_id, "s");
    assert_eq!(carried(&client).ack, 3);
}

#[tokio::test(start_paused = true)]
async fn a_frame_from_a_stranger_is_invalid_ends_the_session_and_is_not_delivered() {
    for server_side in [true, false] {
        let (mut d, mut peer) = if server_side {
            connected_server().await
        } else {
            connected_client().await
        };
        let stranger = app("x", 1).into_message(MessageHeader {
            id: "m1".into(),
            from: "mallory".into(),
            to: peer.them.clone(),
            seq: 0,
            ack: 0,
        });
        peer.write(&stranger);
        let log = run_to_end(&mut d).await;
        assert!(messages(&log).is_empty(), "delivered: {log:?}");
        let errors = protocol_errors(&log);
        assert!(
            matches!(errors.as_slice(), [ProtocolError::InvalidMessage(reason)] if reason.contains("mallory")),
            "{errors:?}"
        );
        assert!(matches!(
            ended(&log).as_slice(),
            [EndReason::InvalidMessage(_)]
        ));
        assert_eq!(
            statuses(&log),
            [SessionStatus::Closing, SessionStatus::Closed]
        );
        let seen = peer.drain();
        assert_eq!(seen.link, Link::Closed(Some(CloseCode::SESSION_ENDED)));
        assert_eq!(live_timers(&d).await, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn duplicate_frames_are_dropped() {
    let (mut d, mut peer) = connected_client().await;
    let first = peer.send(app("s", 1));
    peer.write(&first);
    let log = run_for(&mut d, ms(500)).await;
    assert_eq!(messages(&log).len(), 1, "{log:?}");
    // A resend of an old message (as after a reconnect) is dropped too.
    peer.write(&first);
    let second = peer.send(app("s", 2));
    let log = run_for(&mut d, ms(500)).await;
    let got = messages(&log);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0], second);
    assert!(transitions(&log).is_empty());
    assert_eq!(d.state_name(), Some("Connected"));
    assert_eq!(carried(&d).ack, 2);
}

#[tokio::test(start_paused = true)]
async fn a_gap_closes_the_connection_but_keeps_the_session() {
    for server_side in [true, false] {
        let (mut d, mut peer) = if server_side {
            connected_server().await
        } else {
            connected_client().await
        };
        let id = carried(&d).id;
        peer.send(app("p", 0));
        peer.seq += 1; // seq 1 never arrives
        peer.send(app("p", 2));
        let log = run_until(&mut d, 5, |_, log| count_lost(log) == 1).await;
        let got = messages(&log);
        assert_eq!(got.len(), 1, "only the in-order message: {got:?}");
        assert_eq!(got[0].seq, 0);
        assert!(ended(&log).is_empty(), "the session stays: {log:?}");
        assert!(protocol_errors(&log).is_empty(), "{log:?}");
        let c = carried(&d);
        assert_eq!((c.id, c.ack), (id, 1));
        let seen = peer.drain();
        assert_eq!(seen.link, Link::Closed(Some(CloseCode::SESSION_CONTINUES)));
    }
}
