//! Procedures (`docs/protocol.md` section 9; `docs/conformance.md`, "Procedures"), checked
//! against River's stream rules (the PROTOCOL.md of River's own repository, "Streams": message
//! order per kind, half-closes, cancels), over in-memory transports on paused time. Every
//! scenario runs twice, as `scenario::json` and `scenario::msgpack`.
//!
//! | behaviour | tests |
//! |---|---|
//! | rpc, stream, upload and subscription each work, including across a transparent reconnect in the middle of a stream | `every_kind_works`, `rpc_survives_reconnects`, `stream_survives_reconnects`, `upload_survives_reconnects`, `subscription_survives_reconnects`, `stream_survives_a_phantom_disconnect` |
//! | a connection dropped with no reconnect: once grace ends, in-flight calls finish with `UNEXPECTED_DISCONNECT` and their streams are cleaned up | `grace_ends_in_flight_calls_after_a_client_drop`, `grace_ends_in_flight_calls_after_a_server_drop`, `grace_ends_only_the_dropped_clients_calls` |
//! | calling a procedure on a closed transport fails at once with `UNEXPECTED_DISCONNECT` | `calls_on_a_closed_transport_fail_at_once` |
//! | closing either transport cleans up the other side | `closing_the_client_transport_cleans_up_the_server`, `closing_the_server_transport_cleans_up_the_client` |
//! | after a session ends, writing to one of its old streams fails, and reading yields an error | `old_streams_fail_after_a_hard_disconnect`, `old_streams_do_not_reach_a_new_session`, `ending_an_ended_call_starts_no_session` |
//! | 50 rpcs with 2 forced disconnects keep their order | `fifty_sequential_rpcs_keep_their_order`, `fifty_concurrent_rpcs_keep_their_order` |
//!
//! Beyond the checklist, River's router rules: cancels (`client_cancels_a_stream`,
//! `client_cancels_an_upload`), handler failures (`panicking_handlers_are_uncaught_errors`,
//! `handler_errors_keep_their_code`), invalid requests (`requests_that_do_not_fit_are_invalid`,
//! `raw_invalid_requests_are_cancels`), v1.1 streams and uploads opened without their init
//! (`v1_1_streams_and_uploads_may_open_with_a_request`, `v2_streams_always_open_with_their_init`),
//! streams the server cancelled (`server_cancelled_streams_are_remembered`), backpressure at
//! the procedure API (`responses_report_backpressure_and_wait_for_drain`,
//! `requests_report_backpressure_and_wait_for_drain`),
//! and the wire shapes of each kind in v2.0 and v1.1
//! (`wire_rpc`, `wire_stream`, `wire_upload`, `wire_subscription`), read from the frames
//! themselves.
//!
//! At the end, the cases of bugs found by this suite and fixed since:
//! `an_ended_subscription_sends_nothing`, `v1_1_cancel_is_not_taken_for_a_request`,
//! `an_init_that_does_not_fit_is_a_cancel`,
//! `a_call_right_after_a_hard_disconnect_uses_the_new_session`, `a_server_close_is_a_half_close`,
//! `dropping_a_call_stops_it`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::router_support::{
    CLIENT, Dir, Events, Frame, GRACE, Opts, Rig, SERVER, as_json, assert_code, assert_ended_with,
    bounded, eventually, eventually_async, msg, next, payload, read_to_end, ticking,
};
use futures_util::future::join_all;
use serde_json::{Value as Json, json};
use statebound_river::echo_service::{Count, CountdownInit, Empty, FailInit, Msg};
use statebound_river::router::{
    CANCELLED_STREAMS_REMEMBERED, RequestWriter, ResponseStream, RiverError, UploadResult, codes,
};
use statebound_river::transport::TransportEvent;
use statebound_river::wire::{CodecKind, PartialMessage, ProtocolVersion, TransportMessage};
use tokio::time::{Instant, sleep};

both_codecs! {
    every_kind_works,
    rpc_survives_reconnects,
    stream_survives_reconnects,
    upload_survives_reconnects,
    subscription_survives_reconnects,
    stream_survives_a_phantom_disconnect,
    grace_ends_in_flight_calls_after_a_client_drop,
    grace_ends_in_flight_calls_after_a_server_drop,
    grace_ends_only_the_dropped_clients_calls,
    calls_on_a_closed_transport_fail_at_once,
    closing_the_client_transport_cleans_up_the_server,
    closing_the_server_transport_cleans_up_the_client,
    old_streams_fail_after_a_hard_disconnect,
    old_streams_do_not_reach_a_new_session,
    ending_an_ended_call_starts_no_session,
    fifty_sequential_rpcs_keep_their_order,
    fifty_concurrent_rpcs_keep_their_order,
    client_cancels_a_stream,
    client_cancels_an_upload,
    panicking_handlers_are_uncaught_errors,
    handler_errors_keep_their_code,
    requests_that_do_not_fit_are_invalid,
    raw_invalid_requests_are_cancels,
    wire_rpc,
    wire_stream,
    wire_upload,
    wire_subscription,
}

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V2_0, ProtocolVersion::V1_1];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

fn drop_connections(rig: &Rig, side: Side) {
    match side {
        Side::Client => rig.transport().drop_connections(),
        Side::Server => rig.server.drop_connections(),
    }
}

// ----- the four kinds, and transparent reconnects ---------------------------------------------

async fn every_kind_works(codec: CodecKind) {
    let rig = Rig::new(codec);
    rig.echo("héllo ✓").await;

    let (writer, mut responses) = rig
        .client
        .stream::<_, Msg, Msg>("test", "echoStream", &Empty {})
        .await
        .unwrap();
    for s in ["a", "b", "c"] {
        writer.write(&msg(s)).await.unwrap();
    }
    for s in ["a", "b", "c"] {
        assert_eq!(next(&mut responses).await.unwrap().unwrap(), msg(s));
    }
    writer.close().await.unwrap();
    assert!(next(&mut responses).await.is_none(), "the server closes");

    let (writer, result) = rig
        .client
        .upload::<_, Msg, Msg>("test", "concat", &Empty {})
        .await
        .unwrap();
    for s in ["ab", "cd", "ef"] {
        writer.write(&msg(s)).await.unwrap();
    }
    writer.close().await.unwrap();
    assert_eq!(bounded(result).await.unwrap(), msg("abcdef"));

    let mut counts = rig
        .client
        .subscribe::<_, Count>("test", "countdown", &CountdownInit { from: 3 })
        .await
        .unwrap();
    let (items, error) = read_to_end(&mut counts).await;
    assert_eq!(error, None);
    assert_eq!(items.iter().map(|c| c.n).collect::<Vec<_>>(), [3, 2, 1, 0]);

    rig.no_calls_left().await;
    rig.tap.assert_codec(codec);
}

async fn rpc_survives_reconnects(codec: CodecKind) {
    let rig = Rig::new(codec);
    let mut events = Events::new(rig.transport().subscribe());
    let _: Msg = bounded(rig.client.rpc("test", "echo", &msg("warm up")))
        .await
        .unwrap();
    let session = rig.shared_session();

    // The connection drops while the handler works; its answer comes on the next connection.
    for side in [Side::Client, Side::Server] {
        let client = rig.client.clone();
        let call =
            tokio::spawn(async move { client.rpc::<_, Msg>("probe", "slow", &msg("late")).await });
        eventually("the handler runs", || rig.probe.live() == 1).await;
        drop_connections(&rig, side);
        let out = bounded(call).await.unwrap();
        assert_eq!(out.unwrap(), msg("late"), "{side:?} drop");
    }
    // An rpc sent while there is no connection waits in the buffer.
    rig.transport().drop_connections();
    rig.echo("buffered").await;

    assert_eq!(rig.shared_session(), session, "the session survived");
    events.assert_one_session(3);
    rig.no_calls_left().await;
    rig.tap.assert_codec(codec);
}

async fn stream_survives_reconnects(codec: CodecKind) {
    let rig = Rig::new(codec);
    let mut events = Events::new(rig.transport().subscribe());
    let (writer, mut responses) = rig.echo_stream("test", "echoStream", "0").await;
    let session = rig.shared_session();
    // Requests and responses in flight in both directions at each drop.
    let mut read = 1;
    for i in 1..15 {
        if i == 5 {
            rig.transport().drop_connections();
        }
        if i == 10 {
            events.wait_connected(2).await;
            rig.server.drop_connections();
        }
        writer.write(&msg(&i.to_string())).await.unwrap();
        if i % 2 == 0 {
            let got = next(&mut responses).await.unwrap().unwrap();
            assert_eq!(got, msg(&read.to_string()), "in order");
            read += 1;
        }
    }
    writer.close().await.unwrap();
    let (rest, error) = read_to_end(&mut responses).await;
    assert_eq!(error, None);
    let want: Vec<Msg> = (read..15).map(|i| msg(&i.to_string())).collect();
    assert_eq!(rest, want, "the rest, once each, in order");

    assert_eq!(rig.shared_session(), session, "the session survived");
    events.assert_one_session(2);
    rig.no_calls_left().await;
}

async fn upload_survives_reconnects(codec: CodecKind) {
    let rig = Rig::new(codec);
    let mut events = Events::new(rig.transport().subscribe());
    let (writer, result) = rig
        .client
        .upload::<_, Msg, Msg>("probe", "concat", &Empty {})
        .await
        .unwrap();
    writer.write(&msg("a")).await.unwrap();
    eventually("the handler runs", || rig.probe.live() == 1).await;
    let session = rig.shared_session();
    for (i, part) in ["b", "c", "d", "e", "f"].into_iter().enumerate() {
        if i == 1 {
            rig.transport().drop_connections();
        }
        if i == 3 {
            events.wait_connected(2).await;
            rig.server.drop_connections();
        }
        writer.write(&msg(part)).await.unwrap();
    }
    writer.close().await.unwrap();
    assert_eq!(bounded(result).await.unwrap(), msg("abcdef"));

    assert_eq!(rig.shared_session(), session, "the session survived");
    events.assert_one_session(2);
    rig.no_calls_left().await;
}

async fn subscription_survives_reconnects(codec: CodecKind) {
    let rig = Rig::new(codec);
    let mut events = Events::new(rig.transport().subscribe());
    let mut counts = rig
        .client
        .subscribe::<_, Count>("test", "countdown", &CountdownInit { from: 20 })
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut session = None;
    while let Some(item) = next(&mut counts).await {
        let n = item.unwrap().n;
        seen.push(n);
        if n == 15 {
            session = Some(rig.shared_session());
            rig.transport().drop_connections();
        }
        if n == 7 {
            events.wait_connected(2).await;
            rig.server.drop_connections();
        }
    }
    assert_eq!(
        seen,
        (0..=20).rev().collect::<Vec<_>>(),
        "once each, in order"
    );

    assert_eq!(Some(rig.shared_session()), session, "the session survived");
    events.assert_one_session(2);
    rig.no_calls_left().await;
}

async fn stream_survives_a_phantom_disconnect(codec: CodecKind) {
    let rig = Rig::new(codec);
    let mut events = Events::new(rig.transport().subscribe());
    let (writer, mut responses) = rig.echo_stream("test", "echoStream", "before").await;
    let session = rig.shared_session();

    // Sockets stay open but carry nothing: the liveness watchdog closes the connection, the
    // client reconnects, and the request written into the void is resent.
    rig.transport().set_phantom_disconnect(true);
    writer.write(&msg("during")).await.unwrap();
    assert_eq!(next(&mut responses).await.unwrap().unwrap(), msg("during"));
    writer.write(&msg("after")).await.unwrap();
    assert_eq!(next(&mut responses).await.unwrap().unwrap(), msg("after"));
    writer.close().await.unwrap();
    assert!(next(&mut responses).await.is_none());

    assert_eq!(rig.shared_session(), session, "the session survived");
    events.assert_one_session(1);
    rig.no_calls_left().await;
}

// ----- sessions that end ---------------------------------------------------------------------

/// One call of each kind, in flight on the `probe` service.
struct InFlight {
    rpc: tokio::task::JoinHandle<Result<Empty, RiverError>>,
    stream: (RequestWriter<Msg>, ResponseStream<Msg>),
    upload: (RequestWriter<Msg>, UploadResult<Msg>),
    subscription: ResponseStream<Count>,
}

async fn start_in_flight(rig: &Rig) -> InFlight {
    let client = rig.client.clone();
    let rpc = tokio::spawn(async move { client.rpc::<_, Empty>("probe", "hang", &Empty {}).await });
    let (writer, responses) = rig.echo_stream("probe", "echo", "x").await;
    let upload = rig
        .client
        .upload::<_, Msg, Msg>("probe", "concat", &Empty {})
        .await
        .unwrap();
    upload.0.write(&msg("part")).await.unwrap();
    let subscription = ticking(&rig.client).await;
    eventually("four handlers run", || {
        rig.probe.live() == 4 && rig.router.open_calls() == 4
    })
    .await;
    assert_eq!(rig.client.open_calls(), 4);
    InFlight {
        rpc,
        stream: (writer, responses),
        upload,
        subscription,
    }
}

/// Every call of `calls` ends with `UNEXPECTED_DISCONNECT`, its writers refuse requests, and its
/// readers end after the error.
async fn assert_all_disconnected(calls: InFlight) {
    let InFlight {
        rpc,
        stream: (writer, mut responses),
        upload: (upload_writer, upload_result),
        mut subscription,
    } = calls;
    assert_code(
        bounded(rpc).await.unwrap(),
        codes::UNEXPECTED_DISCONNECT,
        "rpc",
    );
    let (items, error) = read_to_end(&mut responses).await;
    assert_eq!(items, [], "no more responses");
    assert_ended_with(error, codes::UNEXPECTED_DISCONNECT, "stream");
    assert_code(
        bounded(upload_result).await,
        codes::UNEXPECTED_DISCONNECT,
        "upload",
    );
    let (_, error) = read_to_end(&mut subscription).await;
    assert_ended_with(error, codes::UNEXPECTED_DISCONNECT, "subscription");
    assert_code(
        writer.write(&msg("late")).await,
        codes::UNEXPECTED_DISCONNECT,
        "writing to the stream",
    );
    assert_code(
        upload_writer.write(&msg("late")).await,
        codes::UNEXPECTED_DISCONNECT,
        "writing to the upload",
    );
    assert_code(
        upload_writer.close().await,
        codes::UNEXPECTED_DISCONNECT,
        "closing the upload",
    );
}

async fn grace_ends_in_flight_calls(codec: CodecKind, side: Side) {
    let rig = Rig::with(Opts::new(codec).no_reconnect());
    let calls = start_in_flight(&rig).await;
    let session = rig.shared_session();
    drop_connections(&rig, side);
    let dropped = Instant::now();
    // A call opened while there is no connection waits in the buffer, and ends the same way.
    let client = rig.client.clone();
    let late =
        tokio::spawn(async move { client.rpc::<_, Msg>("test", "echo", &msg("late")).await });

    // Nothing ends before grace does.
    sleep(GRACE.saturating_sub(Duration::from_millis(100))).await;
    assert_eq!(rig.client.open_calls(), 5, "every call still waits");
    assert_eq!(rig.probe.live(), 4, "every handler still runs");
    assert!(!late.is_finished());

    let out = bounded(late).await.unwrap();
    let waited = dropped.elapsed();
    assert_code(
        out,
        codes::UNEXPECTED_DISCONNECT,
        "the rpc sent while disconnected",
    );
    assert!(
        waited >= GRACE && waited <= GRACE + Duration::from_secs(1),
        "the calls end when grace ends ({GRACE:?}), not after {waited:?}"
    );
    assert_all_disconnected(calls).await;

    // Both sides let go of every call; the handlers saw the cancellation.
    rig.no_calls_left().await;
    assert_eq!(
        rig.probe.cancelled(),
        4,
        "each handler's context was cancelled"
    );
    // The server's session ended with the client's. (Whether anything reconnects afterwards is
    // `an_ended_subscription_sends_nothing`'s business.)
    let server_session = rig.server.session_id(CLIENT);
    assert_ne!(server_session, Some(session), "the old session is gone");
}

async fn grace_ends_in_flight_calls_after_a_client_drop(codec: CodecKind) {
    grace_ends_in_flight_calls(codec, Side::Client).await;
}

async fn grace_ends_in_flight_calls_after_a_server_drop(codec: CodecKind) {
    grace_ends_in_flight_calls(codec, Side::Server).await;
}

async fn grace_ends_only_the_dropped_clients_calls(codec: CodecKind) {
    let rig = Rig::new(codec);
    let (other, _) = rig.add_client("client2", Opts::new(codec).no_reconnect());
    let mut mine = ticking(&rig.client).await;
    let mut theirs = ticking(&other).await;
    let session = rig.shared_session();
    eventually("both handlers run", || rig.router.open_calls() == 2).await;

    other.transport().drop_connections();
    let dropped = Instant::now();
    // The other client's call ends once grace ends; ours keeps ticking all along.
    let (_, error) = read_to_end(&mut theirs).await;
    assert_ended_with(
        error,
        codes::UNEXPECTED_DISCONNECT,
        "the dropped client's subscription",
    );
    assert!(dropped.elapsed() >= GRACE);
    eventually("the dropped client's call ends on the server", || {
        rig.router.open_calls() == 1 && rig.probe.live() == 1
    })
    .await;
    let mut last = 0;
    while last < 400 {
        let n = next(&mut mine).await.unwrap().unwrap().n;
        assert_eq!(n, last + 1, "our ticks continue, in order");
        last = n;
    }
    assert_eq!(rig.shared_session(), session);
    assert_eq!(other.open_calls(), 0);
    assert_eq!(rig.client.open_calls(), 1);
    assert_eq!(rig.probe.cancelled(), 1, "only the dropped client's call");
}

async fn calls_on_a_closed_transport_fail_at_once(codec: CodecKind) {
    // Closed before it ever connected, and closed with a live session.
    for connect_first in [false, true] {
        let rig = Rig::new(codec);
        if connect_first {
            let _: Msg = bounded(rig.client.rpc("test", "echo", &msg("x")))
                .await
                .unwrap();
        }
        rig.transport().close().await;
        let frames = rig.tap.len();
        let started = Instant::now();
        assert_code(
            rig.client.rpc::<_, Msg>("test", "echo", &msg("x")).await,
            codes::UNEXPECTED_DISCONNECT,
            "rpc",
        );
        assert_code(
            rig.client
                .stream::<_, Msg, Msg>("test", "echoStream", &Empty {})
                .await
                .map(|_| ()),
            codes::UNEXPECTED_DISCONNECT,
            "stream",
        );
        assert_code(
            rig.client
                .upload::<_, Msg, Msg>("test", "concat", &Empty {})
                .await
                .map(|_| ()),
            codes::UNEXPECTED_DISCONNECT,
            "upload",
        );
        assert_code(
            rig.client
                .subscribe::<_, Count>("test", "countdown", &CountdownInit { from: 1 })
                .await
                .map(|_| ()),
            codes::UNEXPECTED_DISCONNECT,
            "subscription",
        );
        assert_eq!(started.elapsed(), Duration::ZERO, "failed without waiting");
        assert_eq!(rig.client.open_calls(), 0);
        assert_eq!(rig.tap.len(), frames, "nothing was written");
    }
}

async fn closing_the_client_transport_cleans_up_the_server(codec: CodecKind) {
    let rig = Rig::new(codec);
    let calls = start_in_flight(&rig).await;
    rig.transport().close().await;
    let closed = Instant::now();
    assert_all_disconnected(calls).await;
    assert_eq!(
        closed.elapsed(),
        Duration::ZERO,
        "the client's calls end at once"
    );
    assert_eq!(rig.client.open_calls(), 0);
    // The server lets go once its session with the vanished client ends.
    rig.no_calls_left().await;
    assert_eq!(
        rig.probe.cancelled(),
        4,
        "each handler's context was cancelled"
    );
    eventually_async("the server's session and connection are gone", || async {
        rig.server.session_id(CLIENT).is_none() && rig.server.connection_count() == 0
    })
    .await;
}

async fn closing_the_server_transport_cleans_up_the_client(codec: CodecKind) {
    let rig = Rig::new(codec);
    let calls = start_in_flight(&rig).await;
    rig.server.close().await;
    // The server lets go at once.
    eventually("the server's calls end", || {
        rig.router.open_calls() == 0 && rig.probe.live() == 0
    })
    .await;
    assert_eq!(
        rig.probe.cancelled(),
        4,
        "each handler's context was cancelled"
    );
    // The client cannot reach the server again: its calls end with its session.
    assert_all_disconnected(calls).await;
    rig.no_calls_left().await;
    eventually_async("the client's session and connection are gone", || async {
        rig.transport().session_id(SERVER).is_none() && rig.transport().connection_count() == 0
    })
    .await;
}

async fn old_streams_fail_after_a_hard_disconnect(codec: CodecKind) {
    let rig = Rig::new(codec);
    let _: Msg = bounded(rig.client.rpc("test", "echo", &msg("x")))
        .await
        .unwrap();
    let old = rig.shared_session();
    let calls = start_in_flight(&rig).await;
    // The subscription is left out: `an_ended_subscription_sends_nothing`.
    let ids: Vec<String> = ["hang", "echo", "concat"]
        .into_iter()
        .map(|p| rig.tap.opened(p))
        .collect();
    rig.transport().hard_disconnect(SERVER);
    let mark = rig.tap.len();
    assert_all_disconnected(calls).await;
    assert_eq!(rig.client.open_calls(), 0);

    // A new session serves new calls; the server drops the old session's calls.
    rig.echo("new").await;
    let new = rig.shared_session();
    assert_ne!(new, old, "a new session");
    rig.no_calls_left().await;
    assert_eq!(rig.probe.cancelled(), 4);
    for id in ids {
        assert_eq!(
            rig.tap.stream_since(&id, mark),
            [] as [Frame; 0],
            "nothing more on the old stream {id}"
        );
    }
}

async fn old_streams_do_not_reach_a_new_session(codec: CodecKind) {
    // River's "shouldn't send messages across stale sessions".
    let rig = Rig::with(Opts::new(codec).no_reconnect());
    let (writer, mut responses) = rig.echo_stream("probe", "echo", "1").await;
    let stream_id = rig.tap.opened("echo");
    let old = rig.shared_session();

    rig.transport().drop_connections();
    eventually_async("the session ends after grace", || async {
        rig.transport().session_id(SERVER).is_none()
    })
    .await;
    rig.no_calls_left().await;

    // Reconnect: a new session.
    rig.transport().connect(SERVER);
    eventually_async("a new session connects", || async {
        rig.transport().connection_count() == 1 && rig.server.connection_count() == 1
    })
    .await;
    let new = rig.shared_session();
    assert_ne!(new, old);
    let mark = rig.tap.len();

    assert_code(
        writer.write(&msg("2")).await,
        codes::UNEXPECTED_DISCONNECT,
        "writing to the old stream",
    );
    let (items, error) = read_to_end(&mut responses).await;
    assert_eq!(items, []);
    assert_ended_with(
        error,
        codes::UNEXPECTED_DISCONNECT,
        "reading the old stream",
    );
    sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rig.tap.stream_since(&stream_id, mark),
        [] as [Frame; 0],
        "nothing on the old stream reaches the new session"
    );
    assert_eq!(rig.router.open_calls(), 0);
    assert_eq!(rig.probe.started(), 1, "no handler was started for it");
}

async fn ending_an_ended_call_starts_no_session(codec: CodecKind) {
    // River's "cancellation after transport close": closing or cancelling a call whose session
    // is gone sends nothing and connects nothing.
    let rig = Rig::with(Opts::new(codec).no_reconnect());
    let (writer, _responses) = rig.echo_stream("probe", "echo", "1").await;
    let (upload_writer, upload_result) = rig
        .client
        .upload::<_, Msg, Msg>("probe", "concat", &Empty {})
        .await
        .unwrap();
    rig.transport().drop_connections();
    rig.session_ended().await;
    let mark = rig.tap.len();

    assert_code(
        writer.close().await,
        codes::UNEXPECTED_DISCONNECT,
        "closing the ended stream",
    );
    assert_code(
        upload_writer.cancel().await,
        codes::UNEXPECTED_DISCONNECT,
        "cancelling the ended upload",
    );
    assert_code(
        bounded(upload_result).await,
        codes::UNEXPECTED_DISCONNECT,
        "the upload's result",
    );
    sleep(Duration::from_secs(1)).await;
    assert_eq!(rig.tap.len(), mark, "nothing was written");
    assert_eq!(rig.transport().session_id(SERVER), None, "no new session");
    assert_eq!(rig.transport().connection_count(), 0);
    assert_eq!(rig.server.connection_count(), 0);
    rig.no_calls_left().await;
}

// ----- ordering ------------------------------------------------------------------------------

async fn fifty_sequential_rpcs_keep_their_order(codec: CodecKind) {
    let rig = Rig::new(codec);
    let mut events = Events::new(rig.transport().subscribe());
    for n in 0..50 {
        if n == 10 {
            rig.transport().drop_connections();
        }
        if n == 42 {
            rig.server.drop_connections();
        }
        let out: Count = bounded(rig.client.rpc("probe", "add", &Count { n }))
            .await
            .unwrap();
        assert_eq!(out.n, n);
    }
    assert_eq!(rig.probe.order(), (0..50).collect::<Vec<_>>());
    events.assert_one_session(2);
    rig.no_calls_left().await;
}

async fn fifty_concurrent_rpcs_keep_their_order(codec: CodecKind) {
    // River's "message order is preserved in the face of disconnects": 50 calls in flight at
    // once, the connection dropped at the 10th (by the client) and the 42nd (by the server).
    let rig = Rig::new(codec);
    let mut events = Events::new(rig.transport().subscribe());
    rig.transport().connect(SERVER);
    events.wait_connected(1).await;
    let mut calls = Vec::new();
    for n in 0..50 {
        if n == 10 {
            rig.transport().drop_connections();
        }
        if n == 42 {
            // Let the first reconnect happen, so that this drop has a connection to drop.
            events.wait_connected(2).await;
            rig.server.drop_connections();
        }
        let client = rig.client.clone();
        let mut call =
            Box::pin(async move { client.rpc::<_, Count>("probe", "add", &Count { n }).await });
        // Polled once: the call is sent now, in this order, and left in flight.
        assert!(poll_once(call.as_mut()).await.is_pending());
        calls.push(call);
    }
    let results = bounded(join_all(calls)).await;
    for (n, result) in (0..).zip(results) {
        assert_eq!(result.unwrap().n, n, "each call gets its own answer");
    }
    assert_eq!(rig.probe.order(), (0..50).collect::<Vec<_>>(), "in order");
    events.assert_one_session(2);
    rig.no_calls_left().await;
}

/// Polls `f` once.
async fn poll_once<F: Future>(mut f: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await
}

// ----- cancellation and failures -------------------------------------------------------------

async fn client_cancels_a_stream(codec: CodecKind) {
    let rig = Rig::new(codec);
    let (writer, mut responses) = rig.echo_stream("probe", "echo", "a").await;
    eventually("the handler runs", || rig.probe.live() == 1).await;
    let stream_id = rig.tap.opened("echo");
    let mark = rig.tap.len();

    writer.cancel().await.unwrap();
    let (items, error) = read_to_end(&mut responses).await;
    assert_eq!(items, []);
    assert_ended_with(error, codes::CANCEL, "the client's own reader");
    rig.no_calls_left().await;
    assert_eq!(
        rig.probe.cancelled(),
        1,
        "the handler's context was cancelled"
    );

    // On the wire: one cancel from the client, nothing back.
    sleep(Duration::from_secs(1)).await;
    let frames = rig.tap.stream_since(&stream_id, mark);
    assert_eq!(frames.len(), 1, "{frames:#?}");
    assert_eq!(frames[0].dir, Dir::Out);
    assert_eq!(frames[0].flags(), 4, "StreamCancel");
    assert_eq!(frames[0].payload()["ok"], json!(false));
    assert_eq!(frames[0].payload()["payload"]["code"], json!("CANCEL"));

    // The server keeps serving.
    rig.echo("alive").await;
}

async fn client_cancels_an_upload(codec: CodecKind) {
    let rig = Rig::new(codec);
    let (writer, result) = rig
        .client
        .upload::<_, Msg, Msg>("probe", "concat", &Empty {})
        .await
        .unwrap();
    writer.write(&msg("a")).await.unwrap();
    eventually("the handler runs", || rig.probe.live() == 1).await;
    writer.cancel().await.unwrap();
    assert_code(bounded(result).await, codes::CANCEL, "the upload's result");
    rig.no_calls_left().await;
    assert_eq!(
        rig.probe.cancelled(),
        1,
        "the handler's context was cancelled"
    );
}

/// The server's frames on the call of `procedure` last opened: all of them, without resends.
fn server_frames(rig: &Rig, procedure: &str) -> Vec<Frame> {
    let id = rig.tap.opened(procedure);
    rig.tap
        .stream(&id)
        .into_iter()
        .filter(|f| f.dir == Dir::In)
        .collect()
}

/// `frames` is exactly one cancel carrying `code`.
fn assert_one_cancel(frames: &[Frame], code: &str, what: &str) {
    assert_eq!(frames.len(), 1, "{what}: one message: {frames:#?}");
    assert_eq!(frames[0].flags(), 4, "{what}: StreamCancel only");
    assert_eq!(frames[0].payload()["ok"], json!(false), "{what}");
    assert_eq!(
        frames[0].payload()["payload"]["code"],
        json!(code),
        "{what}"
    );
}

async fn panicking_handlers_are_uncaught_errors(codec: CodecKind) {
    let rig = Rig::new(codec);
    assert_code(
        bounded(rig.client.rpc::<_, Empty>("probe", "panics", &Empty {})).await,
        codes::UNCAUGHT_ERROR,
        "rpc",
    );
    sleep(Duration::from_millis(100)).await;
    assert_one_cancel(&server_frames(&rig, "panics"), codes::UNCAUGHT_ERROR, "rpc");

    let (_writer, mut responses) = rig
        .client
        .stream::<_, Msg, Msg>("probe", "panicsStream", &Empty {})
        .await
        .unwrap();
    let (items, error) = read_to_end(&mut responses).await;
    assert_eq!(items, []);
    assert_ended_with(error, codes::UNCAUGHT_ERROR, "stream");
    sleep(Duration::from_millis(100)).await;
    assert_one_cancel(
        &server_frames(&rig, "panicsStream"),
        codes::UNCAUGHT_ERROR,
        "stream",
    );

    let (_writer, result) = rig
        .client
        .upload::<_, Msg, Msg>("probe", "panicsUpload", &Empty {})
        .await
        .unwrap();
    assert_code(bounded(result).await, codes::UNCAUGHT_ERROR, "upload");
    sleep(Duration::from_millis(100)).await;
    assert_one_cancel(
        &server_frames(&rig, "panicsUpload"),
        codes::UNCAUGHT_ERROR,
        "upload",
    );

    let mut responses = rig
        .client
        .subscribe::<_, Count>("probe", "panicsSub", &Empty {})
        .await
        .unwrap();
    let (items, error) = read_to_end(&mut responses).await;
    assert_eq!(items, []);
    assert_ended_with(error, codes::UNCAUGHT_ERROR, "subscription");
    sleep(Duration::from_millis(100)).await;
    assert_one_cancel(
        &server_frames(&rig, "panicsSub"),
        codes::UNCAUGHT_ERROR,
        "subscription",
    );

    // The server keeps serving, and nothing is left open.
    rig.echo("alive").await;
    rig.no_calls_left().await;
}

async fn handler_errors_keep_their_code(codec: CodecKind) {
    let rig = Rig::new(codec);
    let err = bounded(rig.client.rpc::<_, Empty>("probe", "mine", &Empty {}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        ("MY_CODE", "my own failure")
    );
    // A procedure's own error is an ordinary result: StreamClosed, not StreamCancel.
    sleep(Duration::from_millis(100)).await;
    let frames = server_frames(&rig, "mine");
    assert_eq!(frames.len(), 1, "{frames:#?}");
    assert_eq!(frames[0].flags(), 8);
    assert_eq!(
        frames[0].payload(),
        &json!({"ok": false, "payload": {"code": "MY_CODE", "message": "my own failure"}})
    );

    let init = FailInit {
        code: "NOPE".into(),
        message: "not today".into(),
    };
    let err = bounded(rig.client.rpc::<_, Empty>("test", "fail", &init))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        ("NOPE", "not today")
    );

    // A stream's handler that fails: its responses, the error, then the close.
    let (writer, mut responses) = rig
        .client
        .stream::<_, Msg, Msg>("probe", "mineStream", &Empty {})
        .await
        .unwrap();
    assert_eq!(next(&mut responses).await.unwrap().unwrap(), msg("before"));
    let err = next(&mut responses).await.unwrap().unwrap_err();
    assert_eq!(err.code, "MY_CODE");
    assert!(next(&mut responses).await.is_none());
    // The server closed its half; the call ends when the client closes its own.
    writer.close().await.unwrap();
    rig.no_calls_left().await;
}

async fn requests_that_do_not_fit_are_invalid(codec: CodecKind) {
    let rig = Rig::new(codec);
    // An init of the wrong type, an unknown procedure, an unknown service.
    assert_code(
        bounded(rig.client.rpc::<_, Msg>("test", "echo", &Count { n: 1 })).await,
        codes::INVALID_REQUEST,
        "wrong init",
    );
    assert_code(
        bounded(rig.client.rpc::<_, Msg>("test", "nope", &msg("x"))).await,
        codes::INVALID_REQUEST,
        "unknown procedure",
    );
    assert_code(
        bounded(rig.client.rpc::<_, Msg>("nope", "echo", &msg("x"))).await,
        codes::INVALID_REQUEST,
        "unknown service",
    );

    // A stream request of the wrong type: the server aborts the call, the client's reader gets
    // the error and ends, and the writer refuses (River: after a protocol error the client
    // sends nothing more on the stream).
    let (writer, mut responses) = rig
        .client
        .stream::<_, Count, Msg>("probe", "echo", &Empty {})
        .await
        .unwrap();
    writer.write(&Count { n: 1 }).await.unwrap();
    let (items, error) = read_to_end(&mut responses).await;
    assert_eq!(items, []);
    assert_ended_with(error, codes::INVALID_REQUEST, "stream");
    let frames = server_frames(&rig, "echo");
    assert_one_cancel(&frames, codes::INVALID_REQUEST, "stream");
    let id = rig.tap.opened("echo");
    let mark = rig.tap.len();
    assert_code(
        writer.write(&Count { n: 2 }).await,
        codes::UNEXPECTED_DISCONNECT,
        "writing after the abort",
    );
    assert_code(
        writer.close().await,
        codes::UNEXPECTED_DISCONNECT,
        "closing after the abort",
    );
    assert_eq!(rig.tap.stream_since(&id, mark), [] as [Frame; 0]);

    // An upload request of the wrong type.
    let (writer, result) = rig
        .client
        .upload::<_, Count, Msg>("probe", "concat", &Empty {})
        .await
        .unwrap();
    writer.write(&Count { n: 1 }).await.unwrap();
    assert_code(bounded(result).await, codes::INVALID_REQUEST, "upload");
    sleep(Duration::from_millis(100)).await;
    assert_one_cancel(
        &server_frames(&rig, "concat"),
        codes::INVALID_REQUEST,
        "upload",
    );
    rig.no_calls_left().await;
}

// ----- raw messages --------------------------------------------------------------------------

fn raw(stream_id: &str, flags: u32, payload_json: &Json) -> PartialMessage {
    PartialMessage {
        stream_id: stream_id.into(),
        control_flags: flags,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload: payload(payload_json),
    }
}

fn raw_open(
    stream_id: &str,
    service: &str,
    procedure: &str,
    flags: u32,
    init: &Json,
) -> PartialMessage {
    PartialMessage {
        service_name: Some(service.into()),
        procedure_name: Some(procedure.into()),
        ..raw(stream_id, flags, init)
    }
}

/// Sends `msgs` through the client transport itself (no router client) and returns what the
/// server sends on their stream: everything up to the message that closes or cancels it, and
/// whatever follows within a second.
async fn raw_call(rig: &Rig, msgs: Vec<PartialMessage>) -> Vec<Arc<TransportMessage>> {
    let transport = rig.transport();
    let mut events = transport.subscribe();
    let stream_id = msgs[0].stream_id.clone();
    for m in msgs {
        transport.send(SERVER, m).await.expect("sent");
    }
    let mut got = Vec::new();
    loop {
        let event = bounded(events.recv()).await.expect("the transport reports");
        if let TransportEvent::Message { msg, version, .. } = event
            && msg.stream_id == stream_id
        {
            let flags = msg.flags(version);
            got.push(msg);
            if flags.closed || flags.cancel {
                break;
            }
        }
    }
    sleep(Duration::from_secs(1)).await;
    while let Ok(event) = events.try_recv() {
        if let TransportEvent::Message { msg, .. } = event
            && msg.stream_id == stream_id
        {
            got.push(msg);
        }
    }
    got
}

/// `got` is one message with the flags `flags` and an error result with `code`.
fn assert_one_error(got: &[Arc<TransportMessage>], flags: u32, code: &str, what: &str) {
    let shapes: Vec<(u32, Json)> = got
        .iter()
        .map(|m| (m.control_flags, as_json(&m.payload)))
        .collect();
    assert_eq!(got.len(), 1, "{what}: one message: {shapes:?}");
    assert_eq!(got[0].control_flags, flags, "{what}: flags: {shapes:?}");
    let result = as_json(&got[0].payload);
    assert_eq!(result["ok"], json!(false), "{what}");
    assert_eq!(result["payload"]["code"], json!(code), "{what}");
    assert!(
        result["payload"]["message"].is_string(),
        "{what}: a message"
    );
}

async fn raw_invalid_requests_are_cancels(codec: CodecKind) {
    let rig = Rig::new(codec);
    let invalid = codes::INVALID_REQUEST;

    let got = raw_call(
        &rig,
        vec![raw_open("r-unknown", "test", "nope", 10, &json!({}))],
    )
    .await;
    assert_one_error(&got, 4, invalid, "unknown procedure");

    let got = raw_call(
        &rig,
        vec![raw_open("r-nosvc", "nope", "echo", 10, &json!({}))],
    )
    .await;
    assert_one_error(&got, 4, invalid, "unknown service");

    let got = raw_call(&rig, vec![raw("r-stray", 0, &json!({"msg": "x"}))]).await;
    assert_one_error(&got, 4, invalid, "a request on a stream never opened");

    let got = raw_call(
        &rig,
        vec![
            raw_open("r-bad-req", "probe", "echo", 2, &json!({})),
            raw("r-bad-req", 0, &json!({"msg": 5})),
        ],
    )
    .await;
    assert_one_error(&got, 4, invalid, "a stream request that does not fit");

    let got = raw_call(
        &rig,
        vec![
            raw_open("r-bad-up", "probe", "concat", 2, &json!({})),
            raw("r-bad-up", 0, &json!({"msg": "ok"})),
            raw("r-bad-up", 0, &json!("not a map")),
        ],
    )
    .await;
    assert_one_error(&got, 4, invalid, "an upload request that does not fit");

    let got = raw_call(
        &rig,
        vec![
            raw_open("r-rpc-req", "probe", "hang", 2, &json!({})),
            raw("r-rpc-req", 0, &json!({})),
        ],
    )
    .await;
    assert_one_error(&got, 4, invalid, "a request to an rpc");

    let got = raw_call(
        &rig,
        vec![
            raw_open("r-twice", "probe", "echo", 2, &json!({})),
            raw_open("r-twice", "probe", "echo", 2, &json!({})),
        ],
    )
    .await;
    assert_one_error(&got, 4, invalid, "opening an open stream again");
    rig.transport()
        .send(SERVER, raw("r-twice", 8, &json!({"type": "CLOSE"})))
        .await
        .unwrap();

    // The session is unharmed and nothing is left running.
    rig.echo("alive").await;
    rig.no_calls_left().await;
    assert_eq!(rig.probe.started(), 4, "handlers ran only for valid opens");
}

async fn an_init_that_does_not_fit_is_a_cancel(codec: CodecKind) {
    // River answers an open whose init fails validation with one INVALID_REQUEST result with the
    // StreamCancel bit and nothing else (router/server.ts: validateNewProcStream ->
    // cancelStream), whatever the kind; a protocol error always carries StreamCancel.
    let rig = Rig::new(codec);
    let cases = [
        (
            "rpc",
            raw_open("i-rpc", "test", "echo", 10, &json!({"msg": 5})),
        ),
        (
            "stream",
            raw_open("i-stream", "probe", "echo", 2, &json!(5)),
        ),
        (
            "upload",
            raw_open("i-upload", "probe", "concat", 2, &json!(5)),
        ),
        (
            "subscription",
            raw_open("i-sub", "test", "countdown", 2, &json!({"from": "x"})),
        ),
    ];
    let mut got = Vec::new();
    let mut want = Vec::new();
    for (kind, open) in cases {
        got.push((kind, summary(&raw_call(&rig, vec![open]).await)));
        want.push((
            kind,
            vec![(4, json!({"ok": false, "code": "INVALID_REQUEST"}))],
        ));
    }
    assert_eq!(got, want, "(kind, [(flags, result)]) the server sent");
    rig.no_calls_left().await;
}

/// `(flags, payload)` of each message, error results shortened to their code.
fn summary(got: &[Arc<TransportMessage>]) -> Vec<(u32, Json)> {
    got.iter()
        .map(|m| {
            let payload = as_json(&m.payload);
            let payload = if payload["ok"] == json!(false) {
                json!({"ok": false, "code": payload["payload"]["code"]})
            } else {
                payload
            };
            (m.control_flags, payload)
        })
        .collect()
}

// ----- streams the server cancelled ----------------------------------------------------------

/// Sends `msgs` through the client transport and returns what the server sent within a second
/// on their streams, as `(stream, flags, payload)` with error results shortened.
async fn answers_to(rig: &Rig, msgs: Vec<PartialMessage>) -> Vec<(String, u32, Json)> {
    let transport = rig.transport();
    let mut events = transport.subscribe();
    let streams: Vec<String> = msgs.iter().map(|m| m.stream_id.clone()).collect();
    for m in msgs {
        transport.send(SERVER, m).await.expect("sent");
    }
    sleep(Duration::from_secs(1)).await;
    let mut got = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let TransportEvent::Message { msg, .. } = event
            && streams.contains(&msg.stream_id)
        {
            let (flags, payload) = summary(std::slice::from_ref(&msg)).remove(0);
            got.push((msg.stream_id.clone(), flags, payload));
        }
    }
    got
}

async fn server_cancelled_streams_are_remembered(codec: CodecKind) {
    // River's TypeScript server remembers the last 200 streams it cancelled for each client
    // (router/server.ts, serverCancelledStreams) and drops later frames on them quietly: the
    // client may have sent them before it saw the cancel.
    let rig = Rig::new(codec);
    let invalid = json!({"ok": false, "code": "INVALID_REQUEST"});
    let late = json!({"msg": "late"});
    let close = json!({"type": "CLOSE"});
    let cancels = [
        (
            "a request that does not fit",
            vec![
                raw_open("c-bad", "probe", "echo", 2, &json!({})),
                raw("c-bad", 0, &json!({"msg": 5})),
            ],
        ),
        (
            "an unknown procedure",
            vec![raw_open("c-unknown", "probe", "nope", 2, &json!({}))],
        ),
        (
            "a panicking handler",
            vec![raw_open("c-panics", "probe", "panicsStream", 2, &json!({}))],
        ),
        (
            "a request to an rpc",
            vec![
                raw_open("c-rpc", "probe", "hang", 2, &json!({})),
                raw("c-rpc", 0, &json!({})),
            ],
        ),
        (
            "a frame on a stream never opened",
            vec![raw("c-stray", 0, &late)],
        ),
    ];
    let mut first = Vec::new();
    let mut later = Vec::new();
    for (what, msgs) in cancels {
        let id = msgs[0].stream_id.clone();
        first.push((what, raw_summary(&rig, msgs).await.len()));
        let after = answers_to(
            &rig,
            vec![raw(&id, 0, &late), raw(&id, 0, &late), raw(&id, 8, &close)],
        )
        .await;
        later.push((what, after));
    }
    // Opening a remembered stream again is dropped too: no handler starts.
    let reopened = answers_to(
        &rig,
        vec![raw_open("c-bad", "probe", "echo", 2, &json!({}))],
    )
    .await;
    assert_eq!(
        (first, later, reopened, rig.probe.started()),
        (
            vec![
                ("a request that does not fit", 1),
                ("an unknown procedure", 1),
                ("a panicking handler", 1),
                ("a request to an rpc", 1),
                ("a frame on a stream never opened", 1),
            ],
            vec![
                ("a request that does not fit", vec![]),
                ("an unknown procedure", vec![]),
                ("a panicking handler", vec![]),
                ("a request to an rpc", vec![]),
                ("a frame on a stream never opened", vec![]),
            ],
            vec![],
            2
        ),
        "(messages answering each cancelled call, answers to the frames sent on it after, \
         answers to reopening the first, probe handlers started: echo and hang)"
    );

    // The set is bounded: once as many newer streams were cancelled, the oldest are forgotten
    // and a frame on one is answered again.
    let newer: Vec<PartialMessage> = (0..CANCELLED_STREAMS_REMEMBERED)
        .map(|i| raw_open(&format!("n-{i}"), "probe", "nope", 2, &json!({})))
        .collect();
    let answered = answers_to(&rig, newer).await;
    assert_eq!(answered.len(), CANCELLED_STREAMS_REMEMBERED);
    // (The remembered one first: answering the forgotten one remembers it, in place of n-0.)
    let remembered = answers_to(&rig, vec![raw("n-0", 0, &late)]).await;
    let forgotten = answers_to(&rig, vec![raw("c-bad", 0, &late)]).await;
    assert_eq!(
        (forgotten, remembered),
        (vec![("c-bad".to_owned(), 4, invalid)], vec![]),
        "(a frame on the oldest cancelled stream, on the oldest of the newer ones)"
    );
    rig.no_calls_left().await;
}

both_codecs! {
    server_cancelled_streams_are_remembered,
}

// ----- backpressure --------------------------------------------------------------------------

/// The high-water mark of the backpressure scenarios.
const MARK: usize = 8;

/// Checks River's advisory backpressure in `log` (per write: whether it reported backpressure,
/// and when it was written): writes follow each other at once until one reports backpressure,
/// and the next comes later, once acknowledgements drained the buffer; no run of writes is
/// longer than the mark. Returns how many times backpressure was reported.
fn assert_paced(log: &[(bool, Duration)], what: &str) -> usize {
    for (i, pair) in log.windows(2).enumerate() {
        let ((pressed, at), (_, next_at)) = (pair[0], pair[1]);
        if pressed {
            assert!(
                next_at > at,
                "{what}: write {} did not wait: {log:?}",
                i + 1
            );
        } else {
            assert_eq!(next_at, at, "{what}: write {} waited: {log:?}", i + 1);
        }
    }
    let runs: Vec<usize> = log
        .split_inclusive(|(pressed, _)| *pressed)
        .map(<[_]>::len)
        .collect();
    assert!(
        runs.iter().all(|&run| run <= MARK),
        "{what}: runs of writes {runs:?} exceed the mark"
    );
    log.iter().filter(|(pressed, _)| *pressed).count()
}

/// A rig with both sides' high-water mark at [`MARK`], connected, after an rpc: what each side
/// sent before is acknowledged, or is by the next message of the other.
async fn acknowledged_rig(codec: CodecKind) -> Rig {
    let rig = Rig::with(Opts::new(codec).high_water_mark(MARK));
    rig.echo("first").await;
    rig
}

async fn responses_report_backpressure_and_wait_for_drain(codec: CodecKind) {
    // The server's send buffer drains only as the client acknowledges, which a client reading
    // a subscription does with its heartbeats: the handler writes until a send reports the
    // high-water mark, waits for `ready()`, and goes on.
    let rig = acknowledged_rig(codec).await;
    let mut flood = rig
        .client
        .subscribe::<_, Count>("probe", "flood", &Count { n: 20 })
        .await
        .unwrap();
    let (items, error) = read_to_end(&mut flood).await;
    assert_eq!(error, None);
    assert_eq!(
        items.iter().map(|c| c.n).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );
    let log = rig.probe.flood_log();
    assert_eq!(log.len(), 20);
    let waits = assert_paced(&log, "responses");
    assert!(waits >= 2, "20 responses over a mark of {MARK}: {log:?}");
    rig.no_calls_left().await;
}

async fn requests_report_backpressure_and_wait_for_drain(codec: CodecKind) {
    // The client's send buffer drains only as the server acknowledges, which a server reading
    // an upload does with its heartbeats.
    let rig = acknowledged_rig(codec).await;
    let (writer, result) = rig
        .client
        .upload::<_, Msg, Msg>("probe", "concat", &Empty {})
        .await
        .unwrap();
    let start = Instant::now();
    let mut log = Vec::new();
    let mut reported = Vec::new();
    for i in 0..20 {
        let written = bounded(writer.write(&msg(&format!("{i},")))).await.unwrap();
        log.push((written.backpressured, start.elapsed()));
        if written.backpressured {
            let before = writer.is_backpressured();
            bounded(writer.ready()).await;
            reported.push((before, writer.is_backpressured()));
        }
    }
    writer.close().await.unwrap();
    let joined = (0..20).map(|i| i.to_string()).collect::<Vec<_>>().join(",") + ",";
    assert_eq!(bounded(result).await.unwrap(), msg(&joined));
    let waits = assert_paced(&log, "requests");
    assert!(waits >= 2, "20 requests over a mark of {MARK}: {log:?}");
    assert_eq!(
        reported,
        vec![(true, false); waits],
        "(is_backpressured before ready(), after) at each report"
    );
    rig.no_calls_left().await;
}

both_codecs! {
    responses_report_backpressure_and_wait_for_drain,
    requests_report_backpressure_and_wait_for_drain,
}

// ----- v1.1 opening frames --------------------------------------------------------------------

/// What the server answered on one raw call, as `(flags, payload)` with error results shortened.
async fn raw_summary(rig: &Rig, msgs: Vec<PartialMessage>) -> Vec<(u32, Json)> {
    summary(&raw_call(rig, msgs).await)
}

async fn v1_1_streams_and_uploads_may_open_with_a_request(codec: CodecKind) {
    // River's Python v1.1 client leaves out an init of `{}`: its first request (or, with none,
    // its close) opens the call. v1.1 bits: open 2, closed 4.
    let rig = Rig::with(Opts::new(codec).version(ProtocolVersion::V1_1));
    let m = |s: &str| json!({"msg": s});
    let close = json!({"type": "CLOSE"});
    let stream = raw_summary(
        &rig,
        vec![
            raw_open("v1-stream", "test", "echoStream", 2, &m("x")),
            raw("v1-stream", 0, &m("y")),
            raw("v1-stream", 0, &m("z")),
            raw("v1-stream", 4, &close),
        ],
    )
    .await;
    let upload = raw_summary(
        &rig,
        vec![
            raw_open("v1-upload", "test", "concat", 2, &m("a")),
            raw("v1-upload", 0, &m("b")),
            raw("v1-upload", 4, &close),
        ],
    )
    .await;
    let empty_upload = raw_summary(
        &rig,
        vec![raw_open("v1-empty", "test", "concat", 6, &close)],
    )
    .await;
    let one_request_upload = raw_summary(
        &rig,
        vec![raw_open("v1-one", "test", "concat", 6, &m("only"))],
    )
    .await;
    // An init of `{}` that does not fit the requests is still the init.
    let with_init = raw_summary(
        &rig,
        vec![
            raw_open("v1-init", "test", "echoStream", 2, &json!({})),
            raw("v1-init", 0, &m("y")),
            raw("v1-init", 4, &close),
        ],
    )
    .await;
    // A procedure whose init takes `{}` and whose requests take anything: the opening payload
    // is its first request, whatever it is.
    let anything = raw_summary(
        &rig,
        vec![
            raw_open("v1-any", "probe", "anything", 2, &json!({})),
            raw("v1-any", 0, &json!({"a": 1})),
            raw("v1-any", 4, &close),
        ],
    )
    .await;
    rig.no_calls_left().await;

    let ok = |payload: Json| json!({"ok": true, "payload": payload});
    assert_eq!(
        (
            stream,
            upload,
            empty_upload,
            one_request_upload,
            with_init,
            anything
        ),
        (
            vec![
                (0, ok(m("x"))),
                (0, ok(m("y"))),
                (0, ok(m("z"))),
                (4, close.clone())
            ],
            vec![(4, ok(m("ab")))],
            vec![(4, ok(m("")))],
            vec![(4, ok(m("only")))],
            vec![(0, ok(m("y"))), (4, close.clone())],
            vec![
                (0, ok(json!({"n": 1}))),
                (0, ok(json!({"n": 2}))),
                (4, close.clone())
            ],
        ),
        "(echoStream opened with x, concat opened with a, concat opened with its close, concat \
         opened and closed with one request, echoStream opened with {{}}, anything opened with \
         {{}})"
    );
    assert_eq!(rig.probe.requests(), [json!({}), json!({"a": 1})]);
}

async fn v2_streams_always_open_with_their_init(codec: CodecKind) {
    // In v2.0 the opening payload is the init, even one that would fit a request.
    let rig = Rig::new(codec);
    let m = |s: &str| json!({"msg": s});
    let got = raw_summary(
        &rig,
        vec![
            raw_open("v2-stream", "test", "echoStream", 2, &m("x")),
            raw("v2-stream", 0, &m("y")),
            raw("v2-stream", 8, &json!({"type": "CLOSE"})),
        ],
    )
    .await;
    rig.no_calls_left().await;
    assert_eq!(
        got,
        [
            (0, json!({"ok": true, "payload": m("y")})),
            (8, json!({"type": "CLOSE"}))
        ]
    );
}

both_codecs! {
    v1_1_streams_and_uploads_may_open_with_a_request,
    v2_streams_always_open_with_their_init,
}

// ----- wire shapes ---------------------------------------------------------------------------

/// `(flags, payload)` of each frame in `frames`.
fn shapes(frames: &[Frame]) -> Vec<(u64, Json)> {
    frames
        .iter()
        .map(|f| (f.flags(), f.payload().clone()))
        .collect()
}

fn split(frames: Vec<Frame>) -> (Vec<Frame>, Vec<Frame>) {
    frames.into_iter().partition(|f| f.dir == Dir::Out)
}

/// The `StreamClosed` bit of `version`.
fn closed_bit(version: ProtocolVersion) -> u64 {
    match version {
        ProtocolVersion::V2_0 => 8,
        ProtocolVersion::V1_1 => 4,
    }
}

fn close() -> Json {
    json!({"type": "CLOSE"})
}

fn ok(payload: &Json) -> Json {
    json!({"ok": true, "payload": payload})
}

async fn wire_rpc(codec: CodecKind) {
    for version in VERSIONS {
        let rig = Rig::with(Opts::new(codec).version(version));
        let closed = closed_bit(version);
        let out: Msg = bounded(rig.client.rpc("test", "echo", &msg("hi")))
            .await
            .unwrap();
        assert_eq!(out, msg("hi"));
        sleep(Duration::from_millis(100)).await;
        let id = rig.tap.opened("echo");
        let (sent, received) = split(rig.tap.stream(&id));
        // The open carries StreamOpen|StreamClosed (10 in v2.0), the names and the init.
        assert_eq!(sent.len(), 1, "{version}: {sent:#?}");
        assert_eq!(sent[0].flags(), 2 | closed, "{version}");
        assert_eq!(sent[0].msg["serviceName"], json!("test"));
        assert_eq!(sent[0].msg["procedureName"], json!("echo"));
        assert_eq!(sent[0].payload(), &json!({"msg": "hi"}));
        // One result with StreamClosed.
        assert_eq!(
            shapes(&received),
            [(closed, ok(&json!({"msg": "hi"})))],
            "{version}"
        );
        for f in &received {
            assert_eq!(
                f.msg.get("serviceName"),
                None,
                "{version}: only opens name it"
            );
        }

        // The same through the bare transport.
        let got = raw_call(
            &rig,
            vec![raw_open(
                "raw-rpc",
                "test",
                "echo",
                u32::try_from(2 | closed).unwrap(),
                &json!({"msg": "raw"}),
            )],
        )
        .await;
        let got: Vec<(u32, Json)> = got
            .iter()
            .map(|m| (m.control_flags, as_json(&m.payload)))
            .collect();
        assert_eq!(
            got,
            [(u32::try_from(closed).unwrap(), ok(&json!({"msg": "raw"})))],
            "{version}"
        );
        let frames = rig.tap.stream("raw-rpc");
        assert_eq!(frames[0].flags(), 2 | closed, "{version}: on the wire");
        assert_eq!(frames[1].flags(), closed, "{version}: on the wire");
        rig.tap.assert_codec(codec);
        rig.no_calls_left().await;
    }
}

async fn wire_stream(codec: CodecKind) {
    for version in VERSIONS {
        let rig = Rig::with(Opts::new(codec).version(version));
        let closed = closed_bit(version);
        let (writer, mut responses) = rig
            .client
            .stream::<_, Msg, Msg>("test", "echoStream", &Empty {})
            .await
            .unwrap();
        writer.write(&msg("a")).await.unwrap();
        writer.write(&msg("b")).await.unwrap();
        assert_eq!(next(&mut responses).await.unwrap().unwrap(), msg("a"));
        assert_eq!(next(&mut responses).await.unwrap().unwrap(), msg("b"));
        writer.close().await.unwrap();
        assert!(next(&mut responses).await.is_none());
        sleep(Duration::from_millis(100)).await;

        let id = rig.tap.opened("echoStream");
        let (sent, received) = split(rig.tap.stream(&id));
        // Client: open (init), requests with no flags, then its half-close.
        assert_eq!(
            shapes(&sent),
            [
                (2, json!({})),
                (0, json!({"msg": "a"})),
                (0, json!({"msg": "b"})),
                (closed, close()),
            ],
            "{version}"
        );
        assert_eq!(sent[0].msg["procedureName"], json!("echoStream"));
        // Server: results with no flags, then its half-close.
        assert_eq!(
            shapes(&received),
            [
                (0, ok(&json!({"msg": "a"}))),
                (0, ok(&json!({"msg": "b"}))),
                (closed, close()),
            ],
            "{version}"
        );
        rig.tap.assert_codec(codec);
        rig.no_calls_left().await;
    }
}

async fn wire_upload(codec: CodecKind) {
    for version in VERSIONS {
        let rig = Rig::with(Opts::new(codec).version(version));
        let closed = closed_bit(version);
        let (writer, result) = rig
            .client
            .upload::<_, Msg, Msg>("test", "concat", &Empty {})
            .await
            .unwrap();
        writer.write(&msg("a")).await.unwrap();
        writer.write(&msg("b")).await.unwrap();
        writer.close().await.unwrap();
        assert_eq!(bounded(result).await.unwrap(), msg("ab"));
        sleep(Duration::from_millis(100)).await;

        let id = rig.tap.opened("concat");
        let (sent, received) = split(rig.tap.stream(&id));
        assert_eq!(
            shapes(&sent),
            [
                (2, json!({})),
                (0, json!({"msg": "a"})),
                (0, json!({"msg": "b"})),
                (closed, close()),
            ],
            "{version}"
        );
        // One result with StreamClosed, after the client's close.
        assert_eq!(
            shapes(&received),
            [(closed, ok(&json!({"msg": "ab"})))],
            "{version}"
        );
        rig.tap.assert_codec(codec);
        rig.no_calls_left().await;
    }
}

async fn wire_subscription(codec: CodecKind) {
    for version in VERSIONS {
        let rig = Rig::with(Opts::new(codec).version(version));
        let closed = closed_bit(version);
        let mut counts = rig
            .client
            .subscribe::<_, Count>("test", "countdown", &CountdownInit { from: 2 })
            .await
            .unwrap();
        let (items, error) = read_to_end(&mut counts).await;
        assert_eq!(error, None);
        assert_eq!(items.len(), 3);
        sleep(Duration::from_millis(100)).await;

        let id = rig.tap.opened("countdown");
        let (sent, received) = split(rig.tap.stream(&id));
        // Server: results, then its close; the client answers the close with its own.
        assert_eq!(
            shapes(&received),
            [
                (0, ok(&json!({"n": 2}))),
                (0, ok(&json!({"n": 1}))),
                (0, ok(&json!({"n": 0}))),
                (closed, close()),
            ],
            "{version}"
        );
        assert_eq!(
            shapes(&sent),
            [(2, json!({"from": 2})), (closed, close())],
            "{version}"
        );
        rig.tap.assert_codec(codec);
        rig.no_calls_left().await;
    }
}

// ----- known bugs ----------------------------------------------------------------------------

both_codecs! {
    an_ended_subscription_sends_nothing,
    v1_1_cancel_is_not_taken_for_a_request,
    an_init_that_does_not_fit_is_a_cancel,
    a_call_right_after_a_hard_disconnect_uses_the_new_session,
    a_server_close_is_a_half_close,
    dropping_a_call_stops_it,
}

async fn an_ended_subscription_sends_nothing(codec: CodecKind) {
    // River (its PROTOCOL.md, "On the client"): after a ProtocolError the client sends nothing more
    // on the stream, not even a close.
    let rig = Rig::new(codec);
    let mut responses = rig
        .client
        .subscribe::<_, Count>("probe", "panicsSub", &Empty {})
        .await
        .unwrap();
    let (_, error) = read_to_end(&mut responses).await;
    assert_ended_with(error, codes::UNCAUGHT_ERROR, "the cancel");
    sleep(Duration::from_secs(1)).await;
    let id = rig.tap.opened("panicsSub");
    let after_cancel: Vec<Json> = rig
        .tap
        .stream(&id)
        .into_iter()
        .filter(|f| f.dir == Dir::Out)
        .skip(1)
        .map(|f| json!([f.flags(), f.payload()]))
        .collect();

    // A subscription whose session ended (no reconnects, grace over): reading it to its end
    // neither writes nor dials.
    let rig = Rig::with(Opts::new(codec).no_reconnect());
    let mut ticks = ticking(&rig.client).await;
    rig.transport().drop_connections();
    rig.session_ended().await;
    let mark = rig.tap.len();
    let (_, error) = read_to_end(&mut ticks).await;
    assert_ended_with(error, codes::UNEXPECTED_DISCONNECT, "the subscription");
    sleep(Duration::from_secs(1)).await;
    let written_after_end: Vec<Json> = rig
        .tap
        .frames()
        .into_iter()
        .skip(mark)
        .filter(|f| f.dir == Dir::Out)
        .map(|f| json!([f.stream_id(), f.flags(), f.payload()]))
        .collect();
    let sessions = rig.sessions();

    assert_eq!(
        (after_cancel, written_after_end, sessions),
        (vec![], vec![], (None, None)),
        "(sent after the server's cancel, written after the session ended, (client, server) \
         sessions after that)"
    );
}

async fn v1_1_cancel_is_not_taken_for_a_request(codec: CodecKind) {
    // A handler with a strict request type: the reader must yield the client's own CANCEL.
    let rig = Rig::with(Opts::new(codec).version(ProtocolVersion::V1_1));
    let (writer, mut responses) = rig.echo_stream("probe", "echo", "a").await;
    writer.cancel().await.unwrap();
    let (_, error) = read_to_end(&mut responses).await;
    let strict = error.map(|e| e.code);

    // A handler that accepts any request must not receive the cancel as one. (Its init takes
    // `{}` and its requests take anything, so in v1.1 the opening `{}` is its first request.)
    let (writer, mut responses) = rig
        .client
        .stream::<_, Json, Count>("probe", "anything", &json!({}))
        .await
        .unwrap();
    writer.write(&json!({"a": 1})).await.unwrap();
    assert_eq!(next(&mut responses).await.unwrap().unwrap().n, 1);
    assert_eq!(next(&mut responses).await.unwrap().unwrap().n, 2);
    writer.cancel().await.unwrap();
    let (items, error) = read_to_end(&mut responses).await;
    let lenient = error.map(|e| e.code);
    let answered: Vec<u32> = items.into_iter().map(|c| c.n).collect();
    rig.no_calls_left().await;

    assert_eq!(
        (
            strict.as_deref(),
            lenient.as_deref(),
            answered,
            rig.probe.requests()
        ),
        (
            Some("CANCEL"),
            Some("CANCEL"),
            vec![],
            vec![json!({}), json!({"a": 1})]
        ),
        "(the strict reader's end, the lenient reader's end, what the lenient reader got after \
         cancelling, what the lenient handler received)"
    );
    assert_eq!(rig.probe.cancelled(), 2, "both handlers were cancelled");
}

async fn a_call_right_after_a_hard_disconnect_uses_the_new_session(codec: CodecKind) {
    let rig = Rig::new(codec);
    let _: Msg = bounded(rig.client.rpc("test", "echo", &msg("x")))
        .await
        .unwrap();
    let old = rig.shared_session();
    rig.transport().hard_disconnect(SERVER);
    let out = bounded(rig.client.rpc::<_, Msg>("test", "echo", &msg("new"))).await;
    let new = rig.shared_session();
    assert_ne!(new, old);
    // The call was written on the new session and answered there.
    let id = rig.tap.opened("echo");
    let received: Vec<u64> = rig
        .tap
        .stream(&id)
        .into_iter()
        .filter(|f| f.dir == Dir::In)
        .map(|f| f.flags())
        .collect();
    assert_eq!(
        (out, received),
        (Ok(msg("new")), vec![8]),
        "(the call's result, flags of the server's answers on its stream)"
    );
}

async fn a_server_close_is_a_half_close(codec: CodecKind) {
    // River, "Stream", server-initiated close: `client: > -- -- -- {`, `server: - -- {`. After the
    // server's close the client may still send requests, then closes its own half.
    let rig = Rig::new(codec);
    let (writer, mut responses) = rig
        .client
        .stream::<_, Msg, Msg>("probe", "closesFirst", &Empty {})
        .await
        .unwrap();
    let (items, error) = read_to_end(&mut responses).await;
    assert_eq!((items, error), (vec![msg("only")], None));
    let write = writer.write(&msg("after")).await;
    let close = writer.close().await;
    sleep(Duration::from_millis(500)).await;
    let id = rig.tap.opened("closesFirst");
    let sent: Vec<(u64, Json)> = shapes(
        &rig.tap
            .stream(&id)
            .into_iter()
            .filter(|f| f.dir == Dir::Out)
            .collect::<Vec<_>>(),
    );

    // A (River) client that goes on writing after the server's close is not refused.
    let opened = raw_call(
        &rig,
        vec![raw_open("half", "probe", "closesFirst", 2, &json!({}))],
    )
    .await;
    assert_eq!(opened.len(), 2, "a response, then the server's close");
    let transport = rig.transport();
    let mut events = transport.subscribe();
    transport
        .send(SERVER, raw("half", 0, &json!({"msg": "after"})))
        .await
        .unwrap();
    transport
        .send(SERVER, raw("half", 8, &json!({"type": "CLOSE"})))
        .await
        .unwrap();
    sleep(Duration::from_secs(1)).await;
    let mut answers = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let TransportEvent::Message { msg, .. } = event
            && msg.stream_id == "half"
        {
            answers.push(msg);
        }
    }

    assert_eq!(
        (write.map(|_| ()), close, sent, summary(&answers)),
        (
            Ok(()),
            Ok(()),
            vec![
                (2, json!({})),
                (0, json!({"msg": "after"})),
                (8, json!({"type": "CLOSE"}))
            ],
            vec![]
        ),
        "(write after the server's close, close, what the client sent, what the server answered \
         a raw client's request and close after its own close)"
    );
}

async fn dropping_a_call_stops_it(codec: CodecKind) {
    let rig = Rig::new(codec);
    let ticks = ticking(&rig.client).await;
    drop(ticks);
    let (writer, responses) = rig.echo_stream("probe", "echo", "a").await;
    drop((writer, responses));
    sleep(Duration::from_secs(3)).await;
    assert_eq!(
        (
            rig.client.open_calls(),
            rig.router.open_calls(),
            rig.probe.live()
        ),
        (0, 0, 0),
        "(client calls, server calls, live handlers) after dropping both calls"
    );
}
