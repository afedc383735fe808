//! A River server for other River clients: server id `SERVER`, on the address given.
//!
//! `cargo run --release -p statebound-river --bin river-echo -- --listen ADDR
//! [--codec json|msgpack|auto] [--accept-versions v1.1,v2.0] [--reject-handshakes CODE
//! [--reject-count N]] [--metrics ADDR] [--rehandshake-every MS]`
//!
//! Prints `listening on ADDR` once it accepts connections, then one line per session event.
//! Serves the service `test` (see `statebound_river::echo_service`); runs until killed.
//!
//! `--accept-versions` narrows the protocol versions accepted (a client speaking another gets
//! `PROTOCOL_VERSION_MISMATCH`). `--reject-handshakes CODE` makes the validation hook refuse
//! handshakes with `CODE` (the first `N` only, with `--reject-count N`), to exercise clients'
//! handshake failure paths.
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

use statebound_river::session::{BoxFuture, HandshakeValidator, Rejection};
use statebound_river::transport::{CodecMode, ServerOptions, ServerTransport, TransportEvent};
use statebound_river::wire::{CodecKind, HandshakeErrorCode, ProtocolVersion, Value};

const USAGE: &str = "usage: river-echo --listen ADDR [--codec json|msgpack|auto] \
                     [--accept-versions v1.1,v2.0] [--reject-handshakes CODE [--reject-count N]] \
                     [--metrics ADDR] [--rehandshake-every MS]";

struct Args {
    listen: SocketAddr,
    codec: CodecMode,
    versions: Vec<ProtocolVersion>,
    reject: Option<(HandshakeErrorCode, Option<u64>)>,
    metrics: Option<SocketAddr>,
    rehandshake_every: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut codec = CodecMode::Auto;
    let mut versions = ProtocolVersion::ALL.to_vec();
    let mut reject_code = None;
    let mut reject_count = None;
    let mut metrics = None;
    let mut rehandshake_every = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let addr = value()?;
                listen = Some(
                    addr.parse::<SocketAddr>()
                        .map_err(|e| format!("--listen {addr}: {e}"))?,
                );
            }
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
            "--metrics" => {
                let addr = value()?;
                metrics = Some(
                    addr.parse::<SocketAddr>()
                        .map_err(|e| format!("--metrics {addr}: {e}"))?,
                );
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
    while let Some(event) = events.recv().await {
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
            TransportEvent::TransportClosed => break,
        }
    }
    ExitCode::SUCCESS
}
