//! `river`: call any procedure of any River server from a shell.
//!
//! ```text
//! river call      ws://HOST/ SERVICE PROCEDURE ['{"init":"json"}']   rpc: one result
//! river stream    ws://HOST/ SERVICE PROCEDURE [INIT]   requests: JSON lines on stdin
//! river upload    ws://HOST/ SERVICE PROCEDURE [INIT]   requests on stdin, one result
//! river subscribe ws://HOST/ SERVICE PROCEDURE [INIT]   results until the server closes
//! ```
//!
//! Results go to stdout, one JSON document per line (the `payload` of each `ok` result). An
//! error result goes to stderr as `river: error CODE: message`. The session reconnects as any
//! client's does, and says so on stderr (`river: connection lost; reconnecting`,
//! `river: reconnected, session ... resumed`). `RUST_LOG` filters the log lines on stderr.
//!
//! Exit codes: 0 every result was `ok`; 1 the server answered with an error result (for
//! streams: at least one); 2 bad arguments or a request line that is not JSON; 3 the call was
//! cut off (the session was lost or the handshake refused: `UNEXPECTED_DISCONNECT`); 4 the
//! `--timeout` passed first.

use std::io::BufRead as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use futures_util::StreamExt as _;
use serde_json::Value as Json;
use statebound_river::router::{RiverClient, RiverError, codes, to_payload};
use statebound_river::session::{ProtocolError, SessionOptions};
use statebound_river::transport::{ClientOptions, ClientTransport, TransportEvent, WsDialer};
use statebound_river::wire::{CodecKind, ProtocolVersion};
use tokio::sync::mpsc;

/// Call a procedure of a River server.
#[derive(Debug, Parser)]
#[command(name = "river", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    call: Kind,
}

const EXIT_CODES: &str = "Exit codes: 0 ok; 1 an error result (its code on stderr); 2 bad \
arguments or input; 3 cut off (session lost, handshake refused); 4 timed out.";

#[derive(Debug, Subcommand)]
enum Kind {
    /// An rpc: sends INIT, prints the one result.
    Call(Target),
    /// A stream: sends INIT, then each stdin line as a request; prints each result.
    Stream(Target),
    /// An upload: sends INIT, then each stdin line as a request; prints the one result.
    Upload(Target),
    /// A subscription: sends INIT, prints each result until the server closes.
    Subscribe(Target),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CodecArg {
    Json,
    Msgpack,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProtocolArg {
    #[value(name = "v1.1")]
    V1_1,
    #[value(name = "v2.0")]
    V2_0,
}

#[derive(Debug, Args)]
struct Target {
    /// The server's WebSocket URL, e.g. `ws://127.0.0.1:8080/`
    url: String,
    /// The service's name.
    service: String,
    /// The procedure's name.
    procedure: String,
    /// The init payload as JSON.
    #[arg(default_value = "{}")]
    init: String,
    /// The codec of the frames.
    #[arg(long, value_enum, default_value = "json")]
    codec: CodecArg,
    /// The protocol version to speak.
    #[arg(long, value_enum, default_value = "v2.0")]
    protocol: ProtocolArg,
    /// This client's id (default: `river-cli-` and a random suffix).
    #[arg(long)]
    client_id: Option<String>,
    /// The server's id.
    #[arg(long, default_value = "SERVER")]
    server_id: String,
    /// Handshake metadata as JSON.
    #[arg(long)]
    metadata: Option<String>,
    /// Give up after this many seconds (exit code 4).
    #[arg(long)]
    timeout: Option<f64>,
}

/// How a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Ok = 0,
    ErrorResult = 1,
    BadInput = 2,
    CutOff = 3,
    TimedOut = 4,
}

fn parse_json(what: &str, text: &str) -> Result<Json, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} is not JSON: {e}"))
}

/// Reports an error result on stderr and says how the run ends because of it.
fn report(error: &RiverError) -> Exit {
    eprintln!("river: error {}: {}", error.code, error.message);
    if error.code == codes::UNEXPECTED_DISCONNECT {
        Exit::CutOff
    } else {
        Exit::ErrorResult
    }
}

fn print(value: &Json) {
    println!("{value}");
}

/// Stdin's lines, read on a thread of their own so the runtime never blocks on them.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Says on stderr what the session goes through after its first handshake.
fn narrate(mut events: mpsc::Receiver<TransportEvent>) {
    tokio::spawn(async move {
        let mut connected_once = false;
        let mut session: Option<String> = None;
        while let Some(event) = events.recv().await {
            match event {
                TransportEvent::SessionTransition {
                    to,
                    transition,
                    session_id,
                    ..
                } => {
                    if transition == "connection_lost" {
                        eprintln!("river: connection lost; reconnecting");
                    } else if to == "Connected" {
                        if connected_once && session.as_deref() == Some(session_id.as_str()) {
                            eprintln!("river: reconnected, session {session_id} resumed");
                        } else if connected_once {
                            eprintln!("river: reconnected with a new session {session_id}");
                        }
                        connected_once = true;
                        session = Some(session_id);
                    }
                }
                TransportEvent::ProtocolError { error, .. } => match error {
                    ProtocolError::HandshakeFailed { code, message } => {
                        eprintln!("river: handshake refused: {}: {message}", code.as_str());
                    }
                    ProtocolError::RetriesExceeded => eprintln!(
                        "river: cannot reach the server; no more attempts until the session's grace ends"
                    ),
                    ProtocolError::InvalidMessage(why) => {
                        eprintln!("river: the server broke the protocol: {why}");
                    }
                    ProtocolError::MessageSendFailure(why) => {
                        eprintln!("river: a frame could not be written: {why}");
                    }
                },
                TransportEvent::TransportClosed => break,
                TransportEvent::SessionStatus { .. } | TransportEvent::Message { .. } => {}
            }
        }
    });
}

fn client(target: &Target) -> Result<RiverClient, String> {
    let metadata = match &target.metadata {
        Some(text) => {
            let json = parse_json("--metadata", text)?;
            Some(to_payload(&json).map_err(|e| format!("--metadata: {e}"))?)
        }
        None => None,
    };
    let codec = match target.codec {
        CodecArg::Json => CodecKind::Json,
        CodecArg::Msgpack => CodecKind::Msgpack,
    };
    let version = match target.protocol {
        ProtocolArg::V1_1 => ProtocolVersion::V1_1,
        ProtocolArg::V2_0 => ProtocolVersion::V2_0,
    };
    let client_id = target
        .client_id
        .clone()
        .unwrap_or_else(|| format!("river-cli-{}", statebound_river::session::generate_id()));
    let options = ClientOptions {
        version,
        session: SessionOptions {
            codec,
            ..SessionOptions::default()
        },
        metadata: metadata
            .map(|m| statebound_river::transport::metadata_fn(move |_| Some(m.clone()))),
        ..ClientOptions::default()
    };
    let transport =
        ClientTransport::new(client_id, Arc::new(WsDialer::fixed(&target.url)), options);
    narrate(transport.subscribe_status());
    Ok(RiverClient::new(transport, &target.server_id))
}

/// Writes stdin's lines as requests until it ends; `Err` for a line that is not JSON.
async fn write_requests(
    writer: &statebound_river::router::RequestWriter<Json>,
) -> Result<(), Exit> {
    let mut lines = stdin_lines();
    while let Some(line) = lines.recv().await {
        let request = parse_json("a request line", &line).map_err(|e| {
            eprintln!("river: {e}");
            Exit::BadInput
        })?;
        if let Err(e) = writer.write(&request).await {
            return Err(report(&e));
        }
    }
    Ok(())
}

/// Makes the call `kind` names and prints what it answers.
async fn perform(kind: &Kind, client: &RiverClient, target: &Target, init: &Json) -> Exit {
    let (service, procedure) = (target.service.as_str(), target.procedure.as_str());
    match kind {
        Kind::Call(_) => match client.rpc::<Json, Json>(service, procedure, init).await {
            Ok(out) => {
                print(&out);
                Exit::Ok
            }
            Err(e) => report(&e),
        },
        Kind::Upload(_) => {
            let (writer, result) = match client
                .upload::<Json, Json, Json>(service, procedure, init)
                .await
            {
                Ok(call) => call,
                Err(e) => return report(&e),
            };
            if let Err(exit) = write_requests(&writer).await {
                return exit;
            }
            if let Err(e) = writer.close().await {
                return report(&e);
            }
            match result.await {
                Ok(out) => {
                    print(&out);
                    Exit::Ok
                }
                Err(e) => report(&e),
            }
        }
        Kind::Stream(_) => {
            let (writer, responses) = match client
                .stream::<Json, Json, Json>(service, procedure, init)
                .await
            {
                Ok(call) => call,
                Err(e) => return report(&e),
            };
            let requests = async {
                let written = write_requests(&writer).await;
                if written.is_ok()
                    && let Err(e) = writer.close().await
                {
                    return Err(report(&e));
                }
                written
            };
            let (written, read) = tokio::join!(requests, read_all(responses));
            match written {
                Err(exit) => exit,
                Ok(()) => read,
            }
        }
        Kind::Subscribe(_) => {
            match client
                .subscribe::<Json, Json>(service, procedure, init)
                .await
            {
                Ok(responses) => read_all(responses).await,
                Err(e) => report(&e),
            }
        }
    }
}

async fn run(kind: &Kind) -> Exit {
    let target = match kind {
        Kind::Call(t) | Kind::Stream(t) | Kind::Upload(t) | Kind::Subscribe(t) => t,
    };
    let init = match parse_json("INIT", &target.init) {
        Ok(init) => init,
        Err(e) => {
            eprintln!("river: {e}");
            return Exit::BadInput;
        }
    };
    let client = match client(target) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("river: {e}");
            return Exit::BadInput;
        }
    };
    let work = perform(kind, &client, target, &init);
    let exit = match target.timeout {
        Some(secs) if secs.is_finite() && secs >= 0.0 => {
            match tokio::time::timeout(Duration::from_secs_f64(secs), work).await {
                Ok(exit) => exit,
                Err(_) => {
                    eprintln!("river: no answer within {secs} s");
                    Exit::TimedOut
                }
            }
        }
        Some(secs) => {
            eprintln!("river: --timeout {secs} is not a number of seconds");
            Exit::BadInput
        }
        None => work.await,
    };
    client.transport().close().await;
    exit
}

/// Prints every result of a stream or subscription; the worst outcome decides the exit.
async fn read_all(mut responses: statebound_river::router::ResponseStream<Json>) -> Exit {
    let mut exit = Exit::Ok;
    while let Some(item) = responses.next().await {
        match item {
            Ok(value) => print(&value),
            Err(e) => {
                let this = report(&e);
                if this as u8 > exit as u8 {
                    exit = this;
                }
            }
        }
    }
    exit
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // What goes wrong is said on stderr in the narration above; the log adds detail on demand.
    statebound_river::logging::init("error");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("river: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exit = runtime.block_on(run(&cli.call));
    ExitCode::from(exit as u8)
}
