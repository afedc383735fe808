//! Interop with River's real Python package (`replit-river==0.17.20` from `PyPI`), on loopback.
//!
//! Our `river-echo` against River's Python clients (v2 `replit_river.v2.Client` and v1.1
//! `replit_river.Client`), and our Rust client against River's Python v1.1 server. The Python
//! side is the scripts in `interop/python/`, run with the venv that `bash interop/setup.sh`
//! makes (or `$RIVER_INTEROP_PYTHON`); without it every test here fails and says so.
//!
//! Every process is started here, killed when its test ends, and waited on with a bound; a
//! failure prints what every process printed. Connection cuts go through a loopback proxy
//! ([`Proxy`]) that drops both sockets of every live connection.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::interop_support::{Cast, Peer, Proxy, python_v1_server, river_echo, ws_url};
use serde_json::Value as Json;
use statebound_river::echo_service::{Empty, FailInit, Msg};
use statebound_river::router::RiverClient;
use statebound_river::session::SessionOptions;
use statebound_river::transport::{ClientOptions, ClientTransport, TransportEvent, WsDialer};
use statebound_river::wire::{Codec as _, CodecKind, ProtocolVersion};
use tokio::time::{sleep, timeout};

/// How long any one script may run, as the test sees it (the scripts time out sooner).
const SCRIPT_LIMIT: Duration = Duration::from_secs(60);
/// How long a script is given for one step the test waits on.
const STEP: Duration = Duration::from_secs(20);
/// The scripts' own whole-run timeout, in seconds.
const SCRIPT_TIMEOUT: &str = "45";

/// river-echo's line for a session of `client` entering `Connected` after a handshake.
fn handshake_ok(client: &str, session_id: &str) -> String {
    format!("{client} {session_id}: WaitingForHandshake -> Connected (handshake_ok)")
}

fn connection_lost(client: &str, session_id: &str) -> String {
    format!("{client} {session_id}: Connected -> NoConnection (connection_lost)")
}

fn str_field<'a>(event: &'a Json, field: &str) -> &'a str {
    event[field].as_str().unwrap_or_default()
}

fn codec_flag(codec: &str) -> Vec<&str> {
    vec!["--codec", codec]
}

/// Writes `line` to a script waiting for it on stdin; fails the test if it cannot.
fn tell(cast: &Cast<'_>, script: &Peer, line: &str) {
    if let Err(e) = script.send_line(line) {
        cast.fail(&format!("cannot tell {} `{line}`: {e}", script.name()));
    }
}

/// Tells a script that holds its session (`holding`) to close it and finish.
fn release(cast: &Cast<'_>, script: &Peer) {
    tell(cast, script, "close");
}

/// Starts a v2 client script against `uri` as `client_id`, with the scripts' usual timeout and
/// `extra` arguments.
fn v2_script(file: &str, uri: &str, client_id: &str, extra: &[&str]) -> Peer {
    let mut args = vec![
        "--uri",
        uri,
        "--client-id",
        client_id,
        "--timeout",
        SCRIPT_TIMEOUT,
    ];
    args.extend_from_slice(extra);
    Peer::python_script(file, args)
}

// ----- v2 client: handshake and liveness ------------------------------------------------------

async fn v2_handshake_and_heartbeats(codec: &str) {
    let client_id = format!("py-v2-alive-{codec}");
    let (echo, addr) = river_echo(&codec_flag(codec)).await;
    let py = v2_script(
        "v2_handshake.py",
        &ws_url(addr),
        &client_id,
        &["--hold", "3.5", "--min-heartbeats", "2"],
    );
    let cast = Cast(vec![&echo, &py]);
    let connected = cast.expect_event(&py, "connected", STEP).await;
    let session_id = str_field(&connected, "session_id").to_owned();
    let ok_line = handshake_ok(&client_id, &session_id);
    if !echo.wait_for_count(&ok_line, 1, STEP).await {
        cast.fail(&format!("river-echo never printed `{ok_line}`"));
    }
    let alive = cast.expect_event(&py, "alive", STEP).await;
    cast.expect_event(&py, "holding", STEP).await;
    // While the script held the session, the connection was never lost.
    cast.check(
        echo.count(&connection_lost(&client_id, &session_id)) == 0,
        || "river-echo lost the connection while the client held it".into(),
    );
    release(&cast, &py);
    cast.expect_success(&py, SCRIPT_LIMIT).await;
    cast.check(echo.count(&ok_line) == 1, || {
        "the session handshook more than once".into()
    });
    cast.check(alive["server_seq_seen"].as_u64() >= Some(2), || {
        "fewer than two server heartbeats reached the client".into()
    });
    cast.check(alive["client_seq_sent"].as_u64() >= Some(2), || {
        "the client answered fewer than two heartbeats".into()
    });
}

/// The v2 client handshakes with river-echo (msgpack) and the session stays connected through
/// several heartbeats, each answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_handshakes_and_stays_alive_msgpack() {
    v2_handshake_and_heartbeats("msgpack").await;
}

/// The same with the codec read from the client's first frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_handshakes_and_stays_alive_auto() {
    v2_handshake_and_heartbeats("auto").await;
}

// ----- v2 client: the five procedures ---------------------------------------------------------

/// Checks that `v2_procedures.py` reported every procedure and kept its session.
fn expect_procedure_events(cast: &Cast<'_>, py: &Peer) {
    for event in [
        "rpc",
        "stream",
        "upload",
        "subscription",
        "rpc_error",
        "same_session",
    ] {
        cast.check(py.event(event).is_some(), || format!("no `{event}` event"));
    }
}

async fn v2_procedures(codec: &str) {
    let (echo, addr) = river_echo(&codec_flag(codec)).await;
    let client_id = format!("py-v2-procs-{codec}");
    let py = v2_script("v2_procedures.py", &ws_url(addr), &client_id, &[]);
    let cast = Cast(vec![&echo, &py]);
    cast.expect_success(&py, SCRIPT_LIMIT).await;
    expect_procedure_events(&cast, &py);
    let session_id = str_field(&py.event("connected").unwrap_or_default(), "session_id").to_owned();
    cast.check(
        echo.count(&handshake_ok(&client_id, &session_id)) == 1,
        || "river-echo did not show exactly one handshake for the session".into(),
    );
}

/// rpc, stream, upload, subscription and an error result, from the v2 client (msgpack).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_calls_all_five_procedures_msgpack() {
    v2_procedures("msgpack").await;
}

/// The same with `--codec auto`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_calls_all_five_procedures_auto() {
    v2_procedures("auto").await;
}

// ----- v2 client with an active OpenTelemetry trace --------------------------------------------

/// What a server saw of one message that carried `tracing`.
#[derive(Debug, Clone)]
struct Traced {
    stream_id: String,
    /// The procedure, on the frame that opened the stream.
    opened: Option<String>,
    traceparent: String,
}

/// The value of header `name` (any case) in an HTTP request head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Every message the client sent with `tracing`, read from the WebSocket messages the proxy
/// passed to the server and decoded with our msgpack codec, as the server decodes them.
fn traced_messages(proxy: &Proxy) -> Vec<Traced> {
    proxy
        .client_messages()
        .iter()
        .filter_map(|frame| CodecKind::Msgpack.decode(frame).ok())
        .filter_map(|msg| {
            let tracing = msg.tracing.as_ref()?;
            Some(Traced {
                stream_id: msg.stream_id.clone(),
                opened: msg
                    .flags(ProtocolVersion::V2_0)
                    .open
                    .then(|| msg.procedure_name.clone().unwrap_or_default()),
                traceparent: tracing.traceparent.clone(),
            })
        })
        .collect()
}

/// Checks that the call of `procedure` opened with the traceparent of its client span (named
/// `river.client.<kind>.test.<procedure>` in the script's `spans`), and that every other frame
/// of the call that carried `tracing` names the same span.
fn check_call_traced(
    cast: &Cast<'_>,
    seen: &[Traced],
    spans: &Json,
    trace_id: &str,
    (kind, procedure): (&str, &str),
) {
    let name = format!("river.client.{kind}.test.{procedure}");
    let span = spans["spans"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == name.as_str()))
        .map(|s| str_field(s, "span_id").to_owned());
    let Some(span) = span else {
        cast.fail(&format!("the script recorded no span {name}: {spans}"))
    };
    let expected = format!("00-{trace_id}-{span}-01");
    let opens: Vec<&Traced> = seen
        .iter()
        .filter(|t| t.opened.as_deref() == Some(procedure))
        .collect();
    cast.check(opens.len() == 1 && opens[0].traceparent == expected, || {
        format!("{procedure} opened with {opens:?}; wanted traceparent {expected}")
    });
    let stream_id = &opens[0].stream_id;
    cast.check(
        seen.iter()
            .filter(|t| &t.stream_id == stream_id)
            .all(|t| t.traceparent == expected),
        || format!("frames of {procedure} carry other trace contexts: {seen:?}"),
    );
}

/// A v2 client calling every procedure kind inside an active OpenTelemetry span (SDK tracer
/// provider) is served as usual by river-echo. It sends `traceparent` in the WebSocket upgrade
/// request and `tracing` on the frames of each call; the frames the proxy passed on to the server
/// decode, with our codec, to messages whose `tracing` names the client's span for that call, in
/// the client's trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_with_an_active_trace_sends_trace_context() {
    let (echo, addr) = river_echo(&["--codec", "msgpack"]).await;
    let proxy = Proxy::start(addr).await;
    let py = v2_script(
        "v2_procedures.py",
        &ws_url(proxy.addr()),
        "py-v2-traced",
        &["--trace"],
    );
    let cast = Cast(vec![&echo, &py]);
    cast.expect_success(&py, SCRIPT_LIMIT).await;
    expect_procedure_events(&cast, &py);
    let trace = py.event("trace").unwrap_or_default();
    let trace_id = str_field(&trace, "trace_id").to_owned();
    cast.check(trace_id.len() == 32, || {
        "no trace id from the script".into()
    });

    // The upgrade request carries the active span's context.
    let requests = proxy.upgrade_requests();
    cast.check(requests.len() == 1, || {
        format!("expected one connection, saw {requests:?}")
    });
    let upgrade = header(&requests[0], "traceparent").unwrap_or_default();
    cast.check(
        upgrade == format!("00-{trace_id}-{}-01", str_field(&trace, "span_id")),
        || {
            format!(
                "the upgrade request's traceparent is {upgrade:?}: {}",
                requests[0]
            )
        },
    );

    // Each call's frames carry its own client span, in the same trace.
    let seen = traced_messages(&proxy);
    let spans = py.event("spans").unwrap_or_default();
    for call in [
        ("rpc", "echo"),
        ("stream", "echoStream"),
        ("upload", "concat"),
        ("subscription", "countdown"),
        ("rpc", "fail"),
    ] {
        check_call_traced(&cast, &seen, &spans, &trace_id, call);
    }
}

// ----- v2 client: connection cuts -------------------------------------------------------------

/// Runs `v2_reconnect.py --mode mode` through a proxy, cuts the connection when the script
/// says it is ready, and checks that the session carried on: the same session id reconnected.
async fn v2_survives_cut(codec: &str, mode: &str, extra: &[&str]) -> Vec<Json> {
    let (echo, addr) = river_echo(&codec_flag(codec)).await;
    let proxy = Proxy::start(addr).await;
    let client_id = format!("py-v2-cut-{mode}-{codec}");
    let py = v2_script(
        "v2_reconnect.py",
        &ws_url(proxy.addr()),
        &client_id,
        &[&["--mode", mode], extra].concat(),
    );
    let cast = Cast(vec![&echo, &py]);
    let ready = cast.expect_event(&py, "ready_for_cut", STEP).await;
    let session_id = str_field(&ready, "session_id").to_owned();
    let severed = proxy
        .sever_when_upstream_quiet(Duration::from_millis(150), Duration::from_secs(5))
        .await;
    cast.check(severed == 1, || {
        format!("the proxy severed {severed} connections, expected 1")
    });
    tell(&cast, &py, "cut done");
    cast.expect_success(&py, SCRIPT_LIMIT).await;
    let same = py.event("same_session").unwrap_or_default();
    cast.check(str_field(&same, "session_id") == session_id, || {
        "the script ended on another session".into()
    });
    cast.check(proxy.accepted() >= 2, || {
        format!(
            "the client made {} connections; it should have reconnected",
            proxy.accepted()
        )
    });
    let lost = connection_lost(&client_id, &session_id);
    cast.check(echo.count(&lost) >= 1, || {
        format!("river-echo never printed `{lost}` for the cut")
    });
    let reconnected = format!("{client_id} {session_id}: ");
    let connects = echo
        .stdout()
        .iter()
        .filter(|l| l.starts_with(&reconnected) && l.contains("-> Connected"))
        .count();
    cast.check(connects >= 2, || {
        format!("river-echo shows {connects} connects of session {session_id}; wanted the first and the resume")
    });
    cast.check(
        echo.count(&format!("{session_id}: session Closed")) == 0,
        || "river-echo closed the session".into(),
    );
    py.events()
}

/// The v2 client's session survives an abrupt cut with nothing in flight: it reconnects
/// through the proxy with the same session id and receives heartbeats again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_session_resumes_after_connection_cut() {
    v2_survives_cut("msgpack", "session", &[]).await;
}

/// A v2 stream (`echoStream`) keeps echoing in order on the same session after a cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_stream_survives_connection_cut_msgpack() {
    v2_survives_cut("msgpack", "stream", &[]).await;
}

/// The same with `--codec auto` (the codec is read again on the new connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_stream_survives_connection_cut_auto() {
    v2_survives_cut("auto", "stream", &[]).await;
}

/// A v2 subscription (`countdown` from 40, 50 ms apart) is cut mid-way and delivers every
/// value exactly once, in order, on the same session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_subscription_survives_connection_cut() {
    let events = v2_survives_cut("auto", "subscription", &["--from", "40"]).await;
    let before = events
        .iter()
        .find(|e| e["event"] == "received_before_cut")
        .and_then(|e| e["count"].as_u64());
    // Values 40..=0 are 41; the cut must have come while some were still to be sent.
    assert!(
        before.is_some_and(|n| n < 35),
        "the cut came too late to test anything: {before:?} of 41 values were in before it"
    );
}

/// The server forgot the session (the proxy now leads to a fresh river-echo): the client's
/// resume is refused with `SESSION_STATE_MISMATCH`, its session ends, and the next connect makes
/// a new session that works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_starts_a_new_session_when_the_server_forgot_it() {
    let (first, first_addr) = river_echo(&["--codec", "msgpack"]).await;
    let (second, second_addr) = river_echo(&["--codec", "msgpack"]).await;
    let proxy = Proxy::start(first_addr).await;
    let client_id = "py-v2-forgotten";
    let py = v2_script("v2_session_lost.py", &ws_url(proxy.addr()), client_id, &[]);
    let cast = Cast(vec![&first, &second, &py]);
    let ready = cast.expect_event(&py, "ready_for_cut", STEP).await;
    let old_id = str_field(&ready, "session_id").to_owned();
    proxy.set_upstream(second_addr);
    proxy
        .sever_when_upstream_quiet(Duration::from_millis(150), Duration::from_secs(5))
        .await;
    tell(&cast, &py, "cut done");
    cast.expect_success(&py, SCRIPT_LIMIT).await;
    let new = py.event("new_session").unwrap_or_default();
    let new_id = str_field(&new, "session_id").to_owned();
    cast.check(!new_id.is_empty() && new_id != old_id, || {
        "the client did not start a new session".into()
    });
    cast.check(second.count("SessionStateMismatch") >= 1, || {
        "the second river-echo never refused the resume with SESSION_STATE_MISMATCH".into()
    });
    cast.check(second.count(&handshake_ok(client_id, &new_id)) == 1, || {
        "the second river-echo did not establish the new session".into()
    });
    cast.check(second.count(&handshake_ok(client_id, &old_id)) == 0, || {
        "the second river-echo accepted the old session".into()
    });
}

/// A frame the client wrote is lost in flight (the proxy drops it), then the connection is cut.
/// River's Python v2 client never resends a written frame, so it resumes "in the future": the
/// server must refuse the resume with `SESSION_STATE_MISMATCH`, the lost call must fail, and the
/// client's next session must work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_frame_lost_in_flight_then_cut_gets_a_new_session() {
    let (echo, addr) = river_echo(&["--codec", "msgpack"]).await;
    let proxy = Proxy::start(addr).await;
    let client_id = "py-v2-lost-frame";
    let py = v2_script("v2_frame_lost.py", &ws_url(proxy.addr()), client_id, &[]);
    let cast = Cast(vec![&echo, &py]);
    let ready = cast.expect_event(&py, "ready_to_lose", STEP).await;
    let old_id = str_field(&ready, "session_id").to_owned();
    proxy.swallow_upstream();
    tell(&cast, &py, "swallowing");
    cast.expect_event(&py, "sent_doomed", STEP).await;
    // The rpc's frame (a WebSocket frame of a few dozen bytes) went into the proxy and no further.
    cast.check(proxy.wait_swallowed(20, STEP).await, || {
        format!("the proxy swallowed only {} bytes", proxy.swallowed())
    });
    let severed = proxy.sever().await;
    cast.check(severed == 1, || {
        format!("the proxy severed {severed} connections, expected 1")
    });
    tell(&cast, &py, "cut done");
    cast.expect_success(&py, SCRIPT_LIMIT).await;

    let new_id = str_field(&py.event("new_session").unwrap_or_default(), "session_id").to_owned();
    cast.check(!new_id.is_empty() && new_id != old_id, || {
        "the client did not start a new session".into()
    });
    cast.check(
        py.event("doomed_call").is_some_and(|e| e["failed"] == true),
        || "the lost rpc did not fail".into(),
    );
    cast.check(echo.count("SessionStateMismatch") >= 1, || {
        "river-echo never refused the resume with SESSION_STATE_MISMATCH".into()
    });
    cast.check(echo.count(&handshake_ok(client_id, &old_id)) == 1, || {
        "river-echo accepted the old session again after the loss".into()
    });
    cast.check(echo.count(&handshake_ok(client_id, &new_id)) == 1, || {
        "river-echo did not establish the new session once".into()
    });
    cast.check(proxy.accepted() >= 2, || {
        format!("the client made {} connections", proxy.accepted())
    });
}

// ----- v2 / v1.1 clients: refused handshakes --------------------------------------------------

async fn refused(echo_args: &[&str], script_args: &[&str], expect_attempts: u64) -> Json {
    let (echo, addr) = river_echo(echo_args).await;
    let uri = ws_url(addr);
    let mut args = vec!["--uri", uri.as_str(), "--timeout", SCRIPT_TIMEOUT];
    args.extend_from_slice(script_args);
    let py = Peer::python_script("handshake_refused.py", args);
    let cast = Cast(vec![&echo, &py]);
    cast.expect_success(&py, SCRIPT_LIMIT).await;
    let outcome = py
        .event("refused")
        .or_else(|| py.event("connected"))
        .unwrap_or_else(|| cast.fail("the script printed neither `refused` nor `connected`"));
    cast.check(
        outcome["attempts"].as_u64() == Some(expect_attempts),
        || {
            format!(
                "the client made {} attempts, expected {expect_attempts}",
                outcome["attempts"]
            )
        },
    );
    let refusals = echo.count("protocol error HandshakeFailed");
    cast.check(refusals as u64 >= expect_attempts.min(1), || {
        "river-echo reported no refused handshake".into()
    });
    outcome
}

/// river-echo's validation hook refuses every handshake (`REJECTED_BY_CUSTOM_HANDLER`): the v2
/// client retries until its budget (5 attempts) is spent, then fails with that code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_gives_up_when_every_handshake_is_refused() {
    let out = refused(
        &[
            "--codec",
            "msgpack",
            "--reject-handshakes",
            "REJECTED_BY_CUSTOM_HANDLER",
        ],
        &[
            "--client",
            "v2",
            "--expect-code",
            "REJECTED_BY_CUSTOM_HANDLER",
        ],
        5,
    )
    .await;
    assert_eq!(out["event"], "refused");
}

/// The hook refuses the first two handshakes only: the v2 client retries and connects on its
/// third attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_retries_refused_handshakes_until_accepted() {
    let out = refused(
        &[
            "--codec",
            "msgpack",
            "--reject-handshakes",
            "REJECTED_BY_CUSTOM_HANDLER",
            "--reject-count",
            "2",
        ],
        &["--client", "v2", "--connects-after", "2"],
        3,
    )
    .await;
    assert_eq!(out["event"], "connected");
}

/// A server that speaks only v1.1 refuses the v2 client with `PROTOCOL_VERSION_MISMATCH`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_client_gives_up_on_protocol_version_mismatch() {
    let out = refused(
        &["--codec", "auto", "--accept-versions", "v1.1"],
        &[
            "--client",
            "v2",
            "--expect-code",
            "PROTOCOL_VERSION_MISMATCH",
        ],
        5,
    )
    .await;
    assert_eq!(out["event"], "refused");
}

/// A server that speaks only v2.0 refuses the v1.1 client with `PROTOCOL_VERSION_MISMATCH`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_client_gives_up_on_protocol_version_mismatch() {
    let out = refused(
        &["--codec", "auto", "--accept-versions", "v2.0"],
        &[
            "--client",
            "v1",
            "--expect-code",
            "PROTOCOL_VERSION_MISMATCH",
        ],
        5,
    )
    .await;
    assert_eq!(out["event"], "refused");
}

// ----- v1.1 client ----------------------------------------------------------------------------

/// The v1.1 client handshakes (protocol v1.1) and stays connected through heartbeats both ways
/// (its own every 500 ms: its 2500 ms default is longer than river-echo's 2 s liveness window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_client_handshakes_and_stays_alive() {
    let (echo, addr) = river_echo(&["--codec", "auto"]).await;
    let client_id = "py-v1-alive";
    let py = Peer::python_script(
        "v1_handshake.py",
        [
            "--uri",
            ws_url(addr).as_str(),
            "--client-id",
            client_id,
            // Longer than the v2.0 liveness window and two of the client's own 2.5 s heartbeats.
            "--hold",
            "5.5",
            "--timeout",
            SCRIPT_TIMEOUT,
        ],
    );
    let cast = Cast(vec![&echo, &py]);
    let alive = cast.expect_event(&py, "alive", STEP).await;
    let session_id = str_field(&alive, "session_id").to_owned();
    cast.expect_event(&py, "holding", STEP).await;
    cast.check(
        echo.count(&connection_lost(client_id, &session_id)) == 0,
        || "river-echo lost the connection while the v1.1 client held it".into(),
    );
    release(&cast, &py);
    cast.expect_success(&py, SCRIPT_LIMIT).await;
    cast.check(
        echo.count(&handshake_ok(client_id, &session_id)) == 1,
        || "river-echo did not show exactly one handshake for the session".into(),
    );
}

/// The v1.1 client calls rpc `echo`, stream `echoStream` and upload `concat` (twice, the second
/// time with no requests) on river-echo, the stream and uploads with the init `{}`, which that
/// client leaves out: each call opens with its first request, or its close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_client_rpc_stream_and_upload_with_empty_inits() {
    let (echo, addr) = river_echo(&["--codec", "msgpack"]).await;
    let py = Peer::python_script(
        "v1_procedures.py",
        [
            "--uri",
            ws_url(addr).as_str(),
            "--client-id",
            "py-v1-procs",
            "--timeout",
            SCRIPT_TIMEOUT,
        ],
    );
    let cast = Cast(vec![&echo, &py]);
    cast.expect_success(&py, SCRIPT_LIMIT).await;
    for event in ["rpc", "stream", "upload", "empty_upload", "same_session"] {
        cast.check(py.event(event).is_some(), || format!("no `{event}` event"));
    }
}

// ----- our Rust client against River's Python v1.1 server -------------------------------------

/// Keeps a transport's events as text, for failure messages.
fn record(mut events: tokio::sync::mpsc::Receiver<TransportEvent>) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let line = match &event {
                TransportEvent::Message { .. } => continue,
                other => format!("{other:?}"),
            };
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    });
    log
}

/// Calls `test.echo` with `text` and checks the answer.
async fn expect_echo(client: &RiverClient, text: &str) -> Result<(), String> {
    let sent = Msg { msg: text.into() };
    match timeout(STEP, client.rpc::<_, Msg>("test", "echo", &sent)).await {
        Ok(Ok(got)) if got == sent => Ok(()),
        Ok(other) => Err(format!("echo of {text:?} answered {other:?}")),
        Err(_) => Err(format!("echo of {text:?} did not answer within {STEP:?}")),
    }
}

/// Our `RiverClient` (protocol v1.1, msgpack) calls `test.echo` and `test.fail` on River's
/// Python v1.1 server, keeps the session through a few heartbeats, calls again, and after the
/// TCP connection is cut (through a loopback proxy) reconnects to the same session and calls
/// once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_calls_python_v1_server() {
    let server_id = "PYSERVER";
    let (py, upstream) = python_v1_server(server_id).await;
    let proxy = Proxy::start(upstream).await;
    let transport = ClientTransport::new(
        "rust-client",
        Arc::new(WsDialer::fixed(format!("ws://{}", proxy.addr()))),
        ClientOptions {
            version: ProtocolVersion::V1_1,
            session: SessionOptions {
                codec: CodecKind::Msgpack,
                ..SessionOptions::default()
            },
            ..ClientOptions::default()
        },
    );
    let log = record(transport.subscribe());
    let client = RiverClient::new(transport.clone(), server_id);
    let fail = |why: String| -> ! {
        let events = log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n  ");
        Cast(vec![&py]).fail(&format!("{why}\n\nRust client events:\n  {events}"))
    };

    if let Err(why) = expect_echo(&client, "from rust").await {
        fail(why);
    }
    let session_id = transport.session_id(server_id);

    let init = FailInit {
        code: "NOPE".into(),
        message: "as asked".into(),
    };
    match timeout(STEP, client.rpc::<_, Empty>("test", "fail", &init)).await {
        Ok(Err(e)) if e.code == "NOPE" && e.message == "as asked" => {}
        Ok(other) => fail(format!("fail answered {other:?}")),
        Err(_) => fail("fail did not answer within 20 s".into()),
    }

    // Several heartbeat periods on both sides, then the same session still works.
    sleep(Duration::from_secs(3)).await;
    if let Err(why) = expect_echo(&client, "still here").await {
        fail(why);
    }
    let now = transport.session_id(server_id);
    if session_id.is_none() || now != session_id {
        fail(format!("the session changed: {session_id:?} -> {now:?}"));
    }
    // The TCP connection is cut: the client reconnects through the proxy and resumes the same
    // session (our client resends what the cut may have lost).
    if proxy.sever().await == 0 {
        fail("the proxy had no connection to sever".into());
    }
    if let Err(why) = expect_echo(&client, "after the cut").await {
        fail(why);
    }
    let resumed = transport.session_id(server_id);
    if resumed != session_id {
        fail(format!(
            "the cut changed the session: {session_id:?} -> {resumed:?}"
        ));
    }
    let connects = log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|l| l.contains("to: \"Connected\""))
        .count();
    if connects != 2 {
        fail(format!(
            "the client connected {connects} times; expected twice (once more after the cut)"
        ));
    }
    if py.count("\"handled\"") != 4 {
        fail("the Python server did not handle exactly four calls".into());
    }
    if timeout(STEP, transport.close()).await.is_err() {
        fail("the Rust client transport did not close within 20 s".into());
    }
    let _ = py.send_line("stop");
    if py.wait_for_exit(Duration::from_secs(10)).await.is_none() {
        fail("the Python server did not stop within 10 s of `stop`".into());
    }
}
