//! A River server for other River clients: server id `SERVER`, on the address given.
//!
//! `cargo run --release -p statebound-river --bin river-echo -- --listen ADDR
//! [--codec json|msgpack|auto] [--accept-versions v1.1,v2.0] [--reject-handshakes CODE
//! [--reject-count N]] [--metrics ADDR] [--drain-timeout SECS] [--rehandshake-every MS]`
//!
//! Prints `listening on ADDR` once it accepts connections, then one line per session event.
//! The log goes to stderr, filtered by `RUST_LOG` (warnings by default;
//! `RUST_LOG=statebound_river=info` adds every transition inside its `river.session` span).
//! Serves the service `test` (see `statebound_river::echo_service`); runs until killed.
//!
//! `--accept-versions` narrows the protocol versions accepted (a client speaking another gets
//! `PROTOCOL_VERSION_MISMATCH`). `--reject-handshakes CODE` makes the validation hook refuse
//! handshakes with `CODE` (the first `N` only, with `--reject-count N`), to exercise clients'
//! handshake failure paths.
//!
//! On SIGTERM or SIGINT it drains: prints `draining`, stops accepting connections (its
//! `/healthz` answers 503), lets the sessions it has go on until each has ended or
//! `--drain-timeout SECS` (30) has passed, then closes what is left, prints `drained` and exits.
//!
//! `--metrics ADDR` (feature `status`) serves the status page, `/metrics`, `/events` and
//! `/healthz` on `ADDR` (see `statebound_river::status`) and prints `status page on
//! http://ADDR/`.
//!
//! `--rehandshake-every MS` turns rehandshakes on, with a credential
//! that expires `MS` after each accepted (re)handshake, so each client is asked one handshake
//! timeout before that (to show what clients that ignore the request do).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use statebound_river::session::{BoxFuture, HandshakeValidator, Rejection};
use statebound_river::transport::{CodecMode, ServerOptions, ServerTransport, TransportEvent};
use statebound_river::wire::{CodecKind, HandshakeErrorCode, ProtocolVersion, Value};

const USAGE: &str = "usage: river-echo --listen ADDR [--codec json|msgpack|auto] \
                     [--accept-versions v1.1,v2.0] [--reject-handshakes CODE [--reject-count N]] \
                     [--metrics ADDR] [--drain-timeout SECS] [--rehandshake-every MS]";

struct Args {
    listen: SocketAddr,
    codec: CodecMode,
    versions: Vec<ProtocolVersion>,
    reject: Option<(HandshakeErrorCode, Option<u64>)>,
    metrics: Option<SocketAddr>,
    drain_timeout: Duration,
    rehandshake_every: Option<Duration>,
}

fn address(flag: &str, addr: &str) -> Result<SocketAddr, String> {
    addr.parse::<SocketAddr>()
        .map_err(|e| format!("{flag} {addr}: {e}"))
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut codec = CodecMode::Auto;
    let mut versions = ProtocolVersion::ALL.to_vec();
    let mut reject_code = None;
    let mut reject_count = None;
    let mut metrics = None;
    let mut drain_timeout = Duration::from_secs(30);
    let mut rehandshake_every = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = Some(address(&flag, &value()?)?),
            "--codec" => {
                codec = match value()?.as_str() {
                    "json" => CodecMode::Fixed(CodecKind::Json),
                    "msgpack" => CodecMode::Fixed(CodecKind::Msgpack),
                    "auto" => CodecMode::Auto,
                    other => {
                        return Err(format!(
                            "--codec: expected json, msgpack or auto, got {other}"
                        ));
                    }
                };
            }
            "--accept-versions" => {
                versions = value()?
                    .split(',')
                    .map(|v| {
                        v.parse::<ProtocolVersion>()
                            .map_err(|e| format!("--accept-versions: {e}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--reject-handshakes" => reject_code = Some(HandshakeErrorCode::from_wire(&value()?)),
            "--reject-count" => {
                reject_count = Some(
                    value()?
                        .parse::<u64>()
                        .map_err(|e| format!("--reject-count: {e}"))?,
                );
            }
            "--metrics" => metrics = Some(address(&flag, &value()?)?),
            "--drain-timeout" => {
                let secs = value()?
                    .parse::<f64>()
                    .map_err(|e| format!("--drain-timeout: {e}"))?;
                drain_timeout = Duration::try_from_secs_f64(secs)
                    .map_err(|e| format!("--drain-timeout: {e}"))?;
            }
            "--rehandshake-every" => {
                let ms = value()?
                    .parse::<u64>()
                    .map_err(|e| format!("--rehandshake-every: {e}"))?;
                rehandshake_every = Some(Duration::from_millis(ms));
            }
            other => return Err(format!("unknown argument {other}; {USAGE}")),
        }
    }
    let listen = listen.ok_or(USAGE)?;
    if metrics.is_some() && !cfg!(feature = "status") {
        return Err("--metrics needs a build with the `status` feature".into());
    }
    if reject_count.is_some() && reject_code.is_none() {
        return Err("--reject-count needs --reject-handshakes".into());
    }
    if rehandshake_every.is_some() && reject_code.is_some() {
        return Err("--rehandshake-every and --reject-handshakes exclude each other".into());
    }
    Ok(Args {
        listen,
        codec,
        versions,
        reject: reject_code.map(|code| (code, reject_count)),
        metrics,
        drain_timeout,
        rehandshake_every,
    })
}

/// river-echo's validation hook: refuses with one code (the first `limit` handshakes, or all),
/// or accepts, with a credential that expires `expires_after` after each accepted handshake.
struct Hook {
    refuse: Option<(HandshakeErrorCode, Option<u64>)>,
    seen: AtomicU64,
    expires_after: Option<Duration>,
}

impl HandshakeValidator for Hook {
    fn check_schema(&self, _: Option<&Value>) -> Result<(), String> {
        Ok(())
    }

    fn validate<'a>(
        &'a self,
        _: &'a str,
        _: Option<&'a Value>,
        _: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        let refusal = self
            .refuse
            .as_ref()
            .filter(|(_, limit)| limit.is_none_or(|limit| n < limit))
            .map(|(code, _)| code.clone());
        Box::pin(async move {
            match refusal {
                Some(code) => Err(Rejection::new(
                    code,
                    "river-echo was told to refuse this handshake",
                )),
                None => Ok(()),
            }
        })
    }

    fn expiry(&self, _: Option<&Value>) -> Option<SystemTime> {
        self.expires_after.map(|after| SystemTime::now() + after)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // `RUST_LOG` filters the log on stderr (`statebound_river::logging`).
    statebound_river::logging::init("warn");
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("river-echo: {e}");
            return ExitCode::from(2);
        }
    };
    let validator = (args.reject.is_some() || args.rehandshake_every.is_some()).then(|| {
        let hook: Arc<dyn HandshakeValidator> = Arc::new(Hook {
            refuse: args.reject,
            seen: AtomicU64::new(0),
            expires_after: args.rehandshake_every,
        });
        hook
    });
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = args
        .metrics
        .map(|_| statebound_river::metrics::Metrics::register(&mut registry));
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            codec: args.codec,
            accepted_versions: args.versions,
            validator,
            metrics,
            rehandshake: args.rehandshake_every.is_some(),
            ..ServerOptions::default()
        },
    );
    let mut events = server.subscribe();
    let _router =
        statebound_river::router::serve(&server, vec![statebound_river::echo_service::service()]);
    let addr = match server.bind(args.listen).await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("river-echo: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {addr}");
    #[cfg(feature = "status")]
    if let Some(metrics_addr) = args.metrics {
        let page = statebound_river::status::StatusPage::new(&server, Arc::new(registry));
        match page.bind(metrics_addr).await {
            Ok((bound, _task)) => println!("status page on http://{bound}/"),
            Err(e) => {
                eprintln!("river-echo: cannot serve the status page on {metrics_addr}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    #[cfg(not(feature = "status"))]
    drop(registry);
    match serve_until_drained(&server, &mut events, args.drain_timeout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("river-echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the server's events until a signal says to drain, then until its sessions are gone
/// (or `drain_timeout` passed); then closes the server.
async fn serve_until_drained(
    server: &ServerTransport,
    events: &mut mpsc::Receiver<TransportEvent>,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let until =
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    if !print_event(event) {
                        break;
                    }
                }
                None => break,
            },
            _ = term.recv(), if deadline.is_none() => deadline = Some(drain(server, drain_timeout).await),
            _ = int.recv(), if deadline.is_none() => deadline = Some(drain(server, drain_timeout).await),
            () = tokio::time::sleep_until(until), if deadline.is_some() => {
                println!("drain timeout: closing the sessions left");
                break;
            }
        }
        if deadline.is_some() && server.sessions().await.is_empty() {
            break;
        }
    }
    server.close().await;
    if deadline.is_some() {
        println!("drained");
    }
    Ok(())
}

async fn drain(server: &ServerTransport, timeout: Duration) -> tokio::time::Instant {
    server.stop_accepting().await;
    let left = server.sessions().await.len();
    println!("draining: no new connections; {left} sessions left");
    tokio::time::Instant::now() + timeout
}

/// Prints one event; `false` once the transport closed.
fn print_event(event: TransportEvent) -> bool {
    match event {
        TransportEvent::SessionTransition {
            peer,
            session_id,
            from,
            to,
            transition,
        } => println!("{peer} {session_id}: {from} -> {to} ({transition})"),
        TransportEvent::SessionStatus {
            peer,
            session_id,
            status,
        } => println!("{peer} {session_id}: session {status:?}"),
        TransportEvent::ProtocolError { peer, error } => {
            println!("{peer}: protocol error {error:?}");
        }
        TransportEvent::Message { .. } => {}
        TransportEvent::TransportClosed => return false,
    }
    true
}
