//! Deterministic costs of statebound-river's hot paths: allocations, counted by a wrapping
//! allocator, and (run under `valgrind --tool=callgrind`) instructions. Everything runs on one
//! thread on tokio's paused clock over in-memory connections, so the same binary does the same
//! work every run.
//!
//! `river-cost <what> --count N` runs `N` units and prints `<what> <N> allocations <A>`, the
//! allocations made by those units after a warm-up. Instructions per unit are the difference
//! between the callgrind totals of two runs with different counts, divided by the difference of
//! the counts (`bench/cost.sh` does this).
//!
//! What:
//! - `rpc`: one rpc round trip of a 32-byte message, our client to our server.
//! - `rpc-metrics`: the same with both transports counting into Prometheus metrics
//!   (`statebound_river::metrics`).
//! - `heartbeat`: one heartbeat round trip (the server's heartbeat and the client's answer).
//! - `codec-msgpack`, `codec-json`: encoding and decoding one rpc request frame with our
//!   codecs; `plain-msgpack`, `plain-json`: the same message as a plain serde struct with a
//!   dynamic payload, through rmp-serde and `serde_json`.
//! - `transition`: one transition of the River graph (around `back_off`, `connect`,
//!   `connection_failed`), with a handle minted in every state; `transition-plain`: the same on a
//!   hand-written enum and match whose handles check a generation counter.

use std::alloc::System;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use statebound_bench::{
    codec_round_trips, graph_transitions, hand_written_transitions, plain_json_round_trips,
    plain_msgpack_round_trips,
};
use statebound_river::echo_service::Msg;
use statebound_river::metrics::Metrics;
use statebound_river::router::{RiverClient, serve};
use statebound_river::session::SessionOptions;
use statebound_river::transport::{
    ClientOptions, ClientTransport, MemoryDialer, ServerOptions, ServerTransport,
};
use statebound_river::wire::CodecKind;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tokio::time::Instant;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const USAGE: &str = "usage: river-cost rpc|rpc-metrics|heartbeat|codec-msgpack|codec-json|plain-msgpack|\
                     plain-json|transition|transition-plain --count N";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (what, count) = match args.as_slice() {
        [what, flag, n] if flag == "--count" => match n.parse::<usize>() {
            Ok(n) if n > 0 => (what.clone(), n),
            _ => {
                eprintln!("river-cost: --count needs a positive number; {USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let allocations = match what.as_str() {
        "rpc" => in_runtime(|| Box::pin(rpc(count, false))),
        "rpc-metrics" => in_runtime(|| Box::pin(rpc(count, true))),
        "heartbeat" => in_runtime(|| Box::pin(heartbeat(count))),
        "codec-msgpack" => Ok(counted(|| codec_round_trips(CodecKind::Msgpack, count))),
        "codec-json" => Ok(counted(|| codec_round_trips(CodecKind::Json, count))),
        "plain-msgpack" => Ok(counted(|| plain_msgpack_round_trips(count))),
        "plain-json" => Ok(counted(|| plain_json_round_trips(count))),
        "transition" => Ok(counted(|| graph_transitions(count))),
        "transition-plain" => Ok(counted(|| hand_written_transitions(count))),
        other => {
            eprintln!("river-cost: unknown measurement {other}; {USAGE}");
            return ExitCode::from(2);
        }
    };
    match allocations {
        Ok(n) => {
            println!("{what} {count} allocations {n}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("river-cost: {e}");
            ExitCode::FAILURE
        }
    }
}

type Measured = Result<usize, String>;

fn in_runtime(
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = Measured>>>,
) -> Measured {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())?
        .block_on(f())
}

/// Allocations made while `f` runs.
fn counted(f: impl FnOnce()) -> usize {
    let region = Region::new(GLOBAL);
    f();
    region.change().allocations
}

/// A server and a client over an in-memory pair, with heartbeats every `heartbeat`, both
/// counting into one set of metrics if `metrics`.
fn pair(heartbeat: Duration, metrics: bool) -> (ServerTransport, RiverClient) {
    let metrics = metrics.then(|| Metrics::register(&mut Registry::default()));
    let session = SessionOptions {
        heartbeat_interval: heartbeat,
        codec: CodecKind::Msgpack,
        ..SessionOptions::default()
    };
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            session: session.clone(),
            metrics: metrics.clone(),
            ..ServerOptions::default()
        },
    );
    let transport = ClientTransport::new(
        "client",
        Arc::new(MemoryDialer::new(server.clone())),
        ClientOptions {
            session,
            metrics,
            ..ClientOptions::default()
        },
    );
    (server, RiverClient::new(transport, "SERVER"))
}

async fn rpc(count: usize, metrics: bool) -> Measured {
    // No heartbeat falls inside the measured calls.
    let (server, client) = pair(Duration::from_secs(3600), metrics);
    let _router = serve(&server, vec![statebound_river::echo_service::service()]);
    let msg = Msg {
        msg: "x".repeat(32),
    };
    for _ in 0..16 {
        client
            .rpc::<_, Msg>("test", "echo", &msg)
            .await
            .map_err(|e| e.to_string())?;
    }
    let region = Region::new(GLOBAL);
    for _ in 0..count {
        client
            .rpc::<_, Msg>("test", "echo", &msg)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(region.change().allocations)
}

async fn heartbeat(count: usize) -> Measured {
    let interval = Duration::from_secs(1);
    let (server, client) = pair(interval, false);
    let _router = serve(&server, vec![statebound_river::echo_service::service()]);
    client
        .rpc::<_, Msg>("test", "echo", &Msg { msg: "up".into() })
        .await
        .map_err(|e| e.to_string())?;
    // Half an interval off the heartbeats, then a few to warm up.
    tokio::time::sleep(interval * 5 + interval / 2).await;
    let start = Instant::now();
    let region = Region::new(GLOBAL);
    tokio::time::sleep(interval * u32::try_from(count).unwrap_or(u32::MAX)).await;
    let allocations = region.change().allocations;
    if start.elapsed() < interval * u32::try_from(count).unwrap_or(u32::MAX) {
        return Err("the clock did not advance".into());
    }
    if client.transport().connection_count() != 1 {
        return Err("the session lost its connection".into());
    }
    Ok(allocations)
}
