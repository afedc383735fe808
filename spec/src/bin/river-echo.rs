//! A River server for other River clients: server id `SERVER`, on the address given.
//!
//! `cargo run --release -p statebound-river --bin river-echo -- --listen ADDR
//! [--codec json|msgpack|auto]`
//!
//! Prints `listening on ADDR` once it accepts connections, then one line per session event.
//! Serves the service `test` (see `statebound_river::echo_service`); runs until killed.

use std::net::SocketAddr;
use std::process::ExitCode;

use statebound_river::transport::{CodecMode, ServerOptions, ServerTransport, TransportEvent};
use statebound_river::wire::CodecKind;

fn parse_args() -> Result<(SocketAddr, CodecMode), String> {
    let mut listen = None;
    let mut codec = CodecMode::Auto;
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
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: river-echo --listen ADDR [--codec json|msgpack|auto]"
                ));
            }
        }
    }
    let listen = listen.ok_or("usage: river-echo --listen ADDR [--codec json|msgpack|auto]")?;
    Ok((listen, codec))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (listen, codec) = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("river-echo: {e}");
            return ExitCode::from(2);
        }
    };
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            codec,
            ..ServerOptions::default()
        },
    );
    let mut events = server.subscribe();
    let _router =
        statebound_river::router::serve(&server, vec![statebound_river::echo_service::service()]);
    let addr = match server.bind(listen).await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("river-echo: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {addr}");
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
