//! A load generator for statebound-river, on loopback: starts the servers it measures as child
//! processes of its own, drives them from this process (or from another child), and prints
//! every figure as median (min-max) over repeated rounds, with ratios measured in the same run.
//!
//! `cargo run --release -p statebound-bench --bin river-bench -- <scenario> [options]`
//!
//! Scenarios:
//! - `rpc [--sessions N] [--inflight K] [--payload BYTES] [--seconds S] [--rounds R]
//!   [--codec json|msgpack]`: rpc/s of our client calling our echo server, against raw
//!   tokio-tungstenite echoing the same payload over the same number of connections with the
//!   same number of messages in flight. Rounds alternate between the two.
//! - `idle [--sessions N] [--seconds S] [--rounds R]`: a server with N idle sessions (their
//!   client in another process): its CPU use and memory per session, and the rpc rate of one
//!   busy session with and without them, and how many idle sessions lost their connection
//!   while it ran; then the same number of raw tokio-tungstenite connections heartbeating the
//!   same way, and plain TCP connections doing the same without WebSocket framing: floors of
//!   what idle connections cost.
//! - `reconnect [--samples N]`: from an abrupt drop to the first message delivered after it,
//!   with no backoff.
//!
//! `--server PROGRAM` measures another server program in place of ours (one that takes
//! `--listen ADDR` and prints `listening on ADDR`, as `river-echo` does): an older build, say.
//!
//! The child processes are this binary again (`serve`, `raw-serve`, `idle-clients`,
//! `raw-idle-serve`, `raw-idle-clients`, `tcp-idle-serve`, `tcp-idle-clients`).

mod clients;
mod stats;

/// Every process of a run (ours and the raw baselines alike) allocates with mimalloc, unless
/// built without the `mimalloc` feature.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use statebound_river::router::serve;
use statebound_river::transport::{CodecMode, ServerOptions, ServerTransport};
use statebound_river::wire::CodecKind;

const USAGE: &str = "usage: river-bench rpc|idle|reconnect [options] (see the source's docs)";

/// Options shared by the scenarios, with their defaults.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) sessions: usize,
    pub(crate) inflight: usize,
    pub(crate) payload: usize,
    pub(crate) seconds: f64,
    pub(crate) rounds: usize,
    pub(crate) samples: usize,
    pub(crate) codec: CodecKind,
    pub(crate) listen: SocketAddr,
    pub(crate) url: String,
    pub(crate) batched: bool,
    /// Another server program to measure as ours (`rpc`, `idle`).
    pub(crate) server: Option<String>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        sessions: 1,
        inflight: 64,
        payload: 32,
        seconds: 3.0,
        rounds: 5,
        samples: 200,
        codec: CodecKind::Msgpack,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        url: String::new(),
        batched: false,
        server: None,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--sessions" => args.sessions = number(&value)?,
            "--inflight" => args.inflight = number(&value)?,
            "--payload" => args.payload = number(&value)?,
            "--rounds" => args.rounds = number(&value)?,
            "--samples" => args.samples = number(&value)?,
            "--seconds" => {
                args.seconds = value
                    .parse::<f64>()
                    .map_err(|e| format!("--seconds {value}: {e}"))?;
            }
            "--codec" => {
                args.codec = match value.as_str() {
                    "json" => CodecKind::Json,
                    "msgpack" => CodecKind::Msgpack,
                    other => return Err(format!("--codec: expected json or msgpack, got {other}")),
                };
            }
            "--listen" => {
                args.listen = value
                    .parse()
                    .map_err(|e| format!("--listen {value}: {e}"))?;
            }
            "--url" => args.url = value,
            "--batched" => args.batched = value == "1",
            "--server" => args.server = Some(value),
            other => return Err(format!("unknown option {other}; {USAGE}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let mut it = std::env::args().skip(1);
    let Some(scenario) = it.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let args = match parse_args(it) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("river-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("river-bench: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match scenario.as_str() {
            "rpc" => clients::rpc(&args).await,
            "idle" => clients::idle(&args).await,
            "reconnect" => clients::reconnect(&args).await,
            "serve" => serve_echo(&args).await,
            "raw-serve" => clients::raw_serve(&args).await,
            "idle-clients" => clients::idle_clients(&args).await,
            "raw-idle-serve" => clients::raw_idle_serve(&args).await,
            "raw-idle-clients" => clients::raw_idle_clients(&args).await,
            "tcp-idle-serve" => clients::tcp_idle_serve(&args).await,
            "tcp-idle-clients" => clients::tcp_idle_clients(&args).await,
            other => Err(format!("unknown scenario {other}; {USAGE}")),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("river-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Our server: the `test` service on `--listen`, until killed.
async fn serve_echo(args: &Args) -> Result<(), String> {
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            codec: CodecMode::Auto,
            ..ServerOptions::default()
        },
    );
    let _router = serve(&server, vec![statebound_river::echo_service::service()]);
    let addr = server
        .bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    println!("listening on {addr}");
    std::future::pending::<()>().await;
    Ok(())
}

/// Seconds as a `Duration`.
pub(crate) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}
