//! A River server and client in one process on loopback: a steady stream of messages while the
//! connection is cut several times (abruptly, and once as a phantom disconnect), every state
//! transition printed as it happens, and a summary that fails the run if anything was lost,
//! duplicated or reordered.
//!
//! `cargo run --release -p statebound-river --bin river-demo -- [--messages N] [--drops N]
//! [--codec json|msgpack]`

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use statebound_river::session::SessionOptions;
use statebound_river::transport::{
    ClientOptions, ClientTransport, CodecMode, ServerOptions, ServerTransport, TransportEvent,
    WsDialer,
};
use statebound_river::wire::{CodecKind, PartialMessage, Value};
use tokio::sync::mpsc::Receiver;
use tokio::time::{Instant, sleep, timeout};

struct Args {
    messages: u64,
    drops: u64,
    codec: CodecKind,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        messages: 1000,
        drops: 4,
        codec: CodecKind::Json,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--messages" => {
                args.messages = value()?.parse().map_err(|e| format!("--messages: {e}"))?;
            }
            "--drops" => args.drops = value()?.parse().map_err(|e| format!("--drops: {e}"))?,
            "--codec" => {
                args.codec = match value()?.as_str() {
                    "json" => CodecKind::Json,
                    "msgpack" => CodecKind::Msgpack,
                    other => return Err(format!("--codec: expected json or msgpack, got {other}")),
                };
            }
            "--help" | "-h" => {
                return Err(
                    "usage: river-demo [--messages N] [--drops N] [--codec json|msgpack]".into(),
                );
            }
            other => return Err(format!("unknown argument {other}; try --help")),
        }
    }
    if args.messages == 0 {
        return Err("--messages must be at least 1".into());
    }
    Ok(args)
}

fn message(n: u64) -> PartialMessage {
    PartialMessage {
        stream_id: "demo".into(),
        control_flags: 0,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload: Value::Int(i128::from(n)),
    }
}

/// Prints one side's transitions and counts what the summary needs.
#[derive(Default, Debug)]
struct Tally {
    connected: u64,
    handshake_failures: u64,
}

async fn watch(side: &'static str, mut events: Receiver<TransportEvent>) -> Tally {
    let mut tally = Tally::default();
    while let Some(event) = events.recv().await {
        match event {
            TransportEvent::SessionTransition {
                from,
                to,
                transition,
                ..
            } => {
                println!(
                    "{side:<7} {from} -> {to}  ({})",
                    transition.replace('_', " ")
                );
                if to == "Connected" {
                    tally.connected += 1;
                }
            }
            TransportEvent::ProtocolError { error, .. } => {
                println!("{side:<7} protocol error: {error:?}");
                tally.handshake_failures += 1;
            }
            TransportEvent::SessionStatus {
                status, session_id, ..
            } => println!("{side:<7} session {session_id} {status:?}"),
            TransportEvent::TransportClosed => break,
            TransportEvent::Message { .. } => {}
        }
    }
    tally
}

#[derive(Default, Debug)]
struct Delivery {
    delivered: u64,
    next: u64,
    duplicates: u64,
    reordered: u64,
}

async fn receive(mut events: Receiver<TransportEvent>, total: u64) -> Delivery {
    let mut d = Delivery::default();
    while d.next < total {
        let Ok(Some(event)) = timeout(Duration::from_secs(20), events.recv()).await else {
            break;
        };
        let TransportEvent::Message { msg, .. } = event else {
            continue;
        };
        let Value::Int(n) = msg.payload else { continue };
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        d.delivered += 1;
        match n.cmp(&d.next) {
            std::cmp::Ordering::Less => d.duplicates += 1,
            std::cmp::Ordering::Greater => {
                d.reordered += 1;
                d.next = n + 1;
            }
            std::cmp::Ordering::Equal => d.next += 1,
        }
    }
    d
}

#[tokio::main]
async fn main() -> ExitCode {
    // `RUST_LOG` filters the log on stderr (`statebound_river::logging`).
    statebound_river::logging::init("warn");
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("river-demo: {e}");
            return ExitCode::from(2);
        }
    };
    let session = SessionOptions {
        heartbeat_interval: Duration::from_millis(100),
        codec: args.codec,
        ..SessionOptions::default()
    };
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            session: session.clone(),
            codec: CodecMode::Fixed(args.codec),
            ..ServerOptions::default()
        },
    );
    let addr = match server
        .bind("127.0.0.1:0".parse().expect("a valid address"))
        .await
    {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("river-demo: cannot listen on 127.0.0.1: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "server listening on ws://{addr} ({}); sending {} messages with {} cuts",
        args.codec, args.messages, args.drops
    );
    let client = ClientTransport::new(
        "demo-client",
        Arc::new(WsDialer::fixed(format!("ws://{addr}"))),
        ClientOptions {
            session,
            ..ClientOptions::default()
        },
    );
    let server_watch = tokio::spawn(watch("server", server.subscribe()));
    let client_watch = tokio::spawn(watch("client", client.subscribe()));
    let receiver = tokio::spawn(receive(server.subscribe(), args.messages));

    let started = Instant::now();
    let cut_every = args.messages / (args.drops + 1);
    let mut cuts = 0;
    for n in 0..args.messages {
        if let Err(e) = client.send("SERVER", message(n)).await {
            eprintln!("river-demo: send {n} failed: {e}");
            return ExitCode::FAILURE;
        }
        if cut_every > 0 && n > 0 && n % cut_every == 0 && cuts < args.drops {
            cuts += 1;
            match cuts % 3 {
                1 => {
                    println!("-- cut {cuts}: the client drops its connection at message {n}");
                    client.drop_connections();
                }
                2 => {
                    println!(
                        "-- cut {cuts}: phantom disconnect at message {n} (sockets open, nothing delivered)"
                    );
                    client.set_phantom_disconnect(true);
                }
                _ => {
                    println!("-- cut {cuts}: the server drops its connection at message {n}");
                    server.drop_connections();
                }
            }
        }
        if n % 200 == 199 {
            println!("   progress: {} of {} sent", n + 1, args.messages);
        }
        sleep(Duration::from_millis(2)).await;
    }
    let delivery = receiver.await.unwrap_or_default();
    let elapsed = started.elapsed();
    client.close().await;
    server.close().await;
    let client_tally = client_watch.await.unwrap_or_default();
    let server_tally = server_watch.await.unwrap_or_default();

    report(
        &args,
        &delivery,
        cuts,
        elapsed,
        &client_tally,
        &server_tally,
    )
}

/// Prints the summary; success only if every message arrived exactly once, in order.
fn report(
    args: &Args,
    delivery: &Delivery,
    cuts: u64,
    elapsed: Duration,
    client_tally: &Tally,
    server_tally: &Tally,
) -> ExitCode {
    let missing = args.messages.saturating_sub(delivery.next);
    println!();
    println!("summary ({:.1} s)", elapsed.as_secs_f64());
    println!("  messages sent:              {}", args.messages);
    println!("  delivered:                  {}", delivery.delivered);
    println!("  duplicates:                 {}", delivery.duplicates);
    println!("  out of order:               {}", delivery.reordered);
    println!("  missing:                    {missing}");
    println!("  cuts:                       {cuts}");
    println!(
        "  reconnects (client):        {}",
        client_tally.connected.saturating_sub(1)
    );
    println!("  handshakes ok (server):     {}", server_tally.connected);
    println!(
        "  protocol errors:            {}",
        client_tally.handshake_failures + server_tally.handshake_failures
    );
    let ok = delivery.delivered == args.messages
        && delivery.duplicates == 0
        && delivery.reordered == 0
        && missing == 0;
    if ok {
        println!("every message arrived exactly once, in order");
        ExitCode::SUCCESS
    } else {
        println!("FAILED: messages were lost, duplicated or reordered");
        ExitCode::FAILURE
    }
}
