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
//!   client in another process): its CPU use (in all and in the kernel) and memory per session,
//!   and the rpc rate of one
//!   busy session without them (before they connect and again after they are gone, since the
//!   machine's speed drifts) and with them, and how many idle sessions lost their connection
//!   while it ran; then the same number of raw tokio-tungstenite connections heartbeating the
//!   same way, and plain TCP connections doing the same without WebSocket framing: floors of
//!   what idle connections cost.
//! - `reconnect [--samples N]`: from an abrupt drop to the first message delivered after it,
//!   with no backoff.
//! - `heartbeats [--sessions N] [--seconds S] [--rounds R]`: N sessions (their client in
//!   another process, 256 opened at a time) on one server, all on River's default session
//!   options, held S seconds (6 by default: longer than the 5 s disconnect grace) after every
//!   session connected and had its first heartbeats: sessions established, spurious
//!   disconnects (client sessions that lost a connection or ended, server sessions that lost a
//!   connection), heartbeats sent by the server, received and answered by the clients and
//!   answers received by the server, and the p99 and longest gap between two heartbeats any
//!   client session saw, against the liveness watchdog (2 s). Every round starts a new server
//!   and client.
//! - `burst [--sessions N] [--dials D] [--rounds R] [--apart 1]`: N new sessions opened by one client
//!   process, at most D (256) dialling or handshaking at a time, against one server, while a
//!   bystander session in this process calls `echo` every 10 ms: time until all are
//!   established, sessions that failed, that needed more than one attempt (refused at the
//!   server's caps: they retry with River's backoff) and the attempts that took, sessions
//!   dropped in the 3 s after, and the bystander's latency before and during the burst and
//!   whether it kept its session. With `--apart 1` the N sessions go to a second server
//!   process of their own: what is left of the bystander's slowdown then comes from sharing
//!   the machine's cores, not the server.
//!
//! - `bigframe [--payload BYTES] [--seconds S] [--rounds R] [--apart 1]`: one session calls
//!   `echo` for S seconds (5) with inits of BYTES (8 MiB) that are lists of short strings, one
//!   call at a time, while a bystander on the same server calls `echo` every 10 ms: the
//!   bystander's latency before and during, and the large calls' rate. With `--apart 1` the
//!   large calls go to a second server: the control for what sharing the machine costs.
//!
//! `--handshake-threads T` sets `ServerOptions::handshake_threads` of our server in `serve`,
//! `heartbeats` and `burst` (its default, 1, otherwise; 0 serves new connections on the
//! sessions' runtime).
//!
//! `heartbeats` and `burst` default to 10,000 sessions; each process raises its
//! `RLIMIT_NOFILE` to what its sessions need and stops with an error if it cannot.
//!
//! `--server PROGRAM` measures another server program in place of ours (one that takes
//! `--listen ADDR` and prints `listening on ADDR`, as `river-echo` does): an older build, say.
//!
//! The child processes are this binary again (`serve`, `raw-serve`, `idle-clients`,
//! `raw-idle-serve`, `raw-idle-clients`, `tcp-idle-serve`, `tcp-idle-clients`,
//! `heartbeat-clients`, `burst-clients`, `bigframe-sender`).

mod bigframe;
mod clients;
mod load;
mod stats;

/// Every process of a run (ours and the raw baselines alike) allocates with mimalloc, unless
/// built without the `mimalloc` feature.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use statebound_river::metrics::Metrics;
use statebound_river::router::serve;
use statebound_river::transport::{CodecMode, ServerOptions, ServerTransport};
use statebound_river::wire::CodecKind;

const USAGE: &str = "usage: river-bench rpc|idle|reconnect|heartbeats|burst|bigframe [options] (see the source's docs)";

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
    /// Sessions dialling or handshaking at once (`burst`).
    pub(crate) dials: usize,
    /// Whether `burst` opens its sessions on a second server, apart from the bystander's.
    pub(crate) apart: bool,
    /// Whether `serve` counts its sessions and answers `report`.
    pub(crate) report: bool,
    /// Another server program to measure as ours (`rpc`, `idle`).
    pub(crate) server: Option<String>,
    /// Our server's `ServerOptions::handshake_threads`; its default when not given.
    pub(crate) handshake_threads: Option<usize>,
}

fn parse_args(scenario: &str, mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let load = matches!(scenario, "heartbeats" | "burst");
    let big = matches!(scenario, "bigframe" | "bigframe-sender");
    let mut args = Args {
        sessions: if load { 10_000 } else { 1 },
        inflight: 64,
        payload: if big { 8 << 20 } else { 32 },
        seconds: match scenario {
            "heartbeats" | "burst" => 6.0,
            "bigframe" | "bigframe-sender" => 5.0,
            _ => 3.0,
        },
        rounds: if big { 3 } else { 5 },
        samples: 200,
        codec: CodecKind::Msgpack,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        url: String::new(),
        batched: false,
        dials: 256,
        apart: false,
        report: false,
        server: None,
        handshake_threads: None,
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
            "--dials" => args.dials = number(&value)?,
            "--handshake-threads" => args.handshake_threads = Some(number(&value)?),
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
            "--apart" => args.apart = value == "1",
            "--report" => args.report = value == "1",
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
    let args = match parse_args(&scenario, it) {
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
            "heartbeats" => load::heartbeats(&args).await,
            "burst" => load::burst(&args).await,
            "heartbeat-clients" => load::heartbeat_clients(&args).await,
            "burst-clients" => load::burst_clients(&args).await,
            "bigframe" => bigframe::bigframe(&args).await,
            "bigframe-sender" => bigframe::bigframe_sender(&args).await,
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

/// Our server: the `test` service on `--listen`, with room for `--sessions` sockets, until
/// killed. With `--report 1` it counts its sessions in a metrics handle and answers each
/// `report` line on its stdin with `connected C lost L rejected R in I out O`: sessions
/// connected now, connections lost by connected sessions, handshakes refused, frames read and
/// messages sequenced, all since it started. Without, it has no metrics, as `river-echo`.
async fn serve_echo(args: &Args) -> Result<(), String> {
    use tokio::io::AsyncBufReadExt as _;
    load::raise_fd_limit(args.sessions)?;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Metrics::register(&mut registry);
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            codec: CodecMode::Auto,
            metrics: args.report.then(|| metrics.clone()),
            handshake_threads: args
                .handshake_threads
                .unwrap_or(ServerOptions::default().handshake_threads),
            ..ServerOptions::default()
        },
    );
    let _router = serve(&server, vec![statebound_river::echo_service::service()]);
    let addr = server
        .bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    println!("listening on {addr}");
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = stdin.next_line().await {
        if args.report && line.trim() == "report" {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry)
                .map_err(|e| format!("cannot encode the metrics: {e}"))?;
            println!(
                "connected {} lost {} rejected {} in {} out {}",
                metrics.sessions_in("Connected"),
                metrics.transitions("Connected", "connection_lost"),
                sum(&text, "river_handshakes_total", "outcome=\"rejected\""),
                sum(&text, "river_messages_total", "direction=\"in\""),
                sum(&text, "river_messages_total", "direction=\"out\""),
            );
        }
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// The sum of the samples of `metric` whose labels hold `label`, in Prometheus text.
fn sum(text: &str, metric: &str, label: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(metric) && l.contains(label))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum()
}

/// Seconds as a `Duration`.
pub(crate) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn metric_samples_are_summed_over_matching_labels() {
        let text = "# TYPE river_messages_total counter\n\
                    river_messages_total{direction=\"in\"} 7\n\
                    river_messages_total{direction=\"out\"} 5\n\
                    river_handshakes_total{outcome=\"rejected\",code=\"A\"} 2\n\
                    river_handshakes_total{outcome=\"rejected\",code=\"B\"} 3\n\
                    river_handshakes_total{outcome=\"ok\",code=\"\"} 9\n";
        assert_eq!(
            super::sum(text, "river_messages_total", "direction=\"in\""),
            7
        );
        assert_eq!(
            super::sum(text, "river_handshakes_total", "outcome=\"rejected\""),
            5
        );
        assert_eq!(super::sum(text, "river_calls_total", "code"), 0);
    }
}
