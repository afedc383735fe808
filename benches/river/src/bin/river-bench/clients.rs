//! The scenarios, the load they put on servers, and the child processes they start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use statebound_river::echo_service::Msg;
use statebound_river::router::RiverClient;
use statebound_river::session::{RetryOptions, SessionOptions};
use statebound_river::transport::{
    ClientOptions, ClientTransport, ServerOptions, ServerTransport, TransportEvent, WsDialer,
};
use statebound_river::wire::{PartialMessage, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

use crate::stats::{Summary, cpu_times, percentile, rss};
use crate::{Args, secs};

/// Time given to a load to reach its pace before counting starts.
const WARMUP: Duration = Duration::from_millis(500);

/// A child process of this binary, killed when dropped.
pub(crate) struct Helper {
    child: Child,
    stdin: ChildStdin,
    /// What the child prints; a server's goes to a task that discards it once it said where it
    /// listens, so a chatty server never blocks on a full pipe.
    lines: Option<tokio::io::Lines<BufReader<ChildStdout>>>,
}

impl Helper {
    pub(crate) fn start(args: &[&str]) -> Result<Helper, String> {
        let exe = std::env::current_exe().map_err(|e| format!("no path to this binary: {e}"))?;
        Helper::start_program(&exe, args)
    }

    fn start_program(exe: &std::path::Path, args: &[&str]) -> Result<Helper, String> {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {args:?}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        Ok(Helper {
            child,
            stdin,
            lines: Some(BufReader::new(stdout).lines()),
        })
    }

    pub(crate) fn pid(&self) -> Result<u32, String> {
        self.child
            .id()
            .ok_or_else(|| "the child has exited".to_owned())
    }

    /// The next line the child prints, within `patience`.
    pub(crate) async fn line(&mut self, patience: Duration) -> Result<String, String> {
        let Some(lines) = self.lines.as_mut() else {
            return Err("the child's output is not read".into());
        };
        match timeout(patience, lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => Err("the child exited".into()),
            Ok(Err(e)) => Err(format!("reading the child: {e}")),
            Err(_) => Err(format!("the child said nothing for {patience:?}")),
        }
    }

    /// Waits at most `patience` for the child's next line and fails unless it is `want`.
    pub(crate) async fn expect(&mut self, patience: Duration, want: &str) -> Result<(), String> {
        let line = self.line(patience).await?;
        if line == want {
            Ok(())
        } else {
            Err(format!("expected \"{want}\" from the child, got: {line}"))
        }
    }

    pub(crate) async fn tell(&mut self, line: &str) -> Result<(), String> {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| format!("writing to the child: {e}"))
    }

    /// Starts a server child and returns it with the address it listens on.
    async fn server(command: &[&str]) -> Result<(Helper, SocketAddr), String> {
        let mut args = command.to_vec();
        args.extend(["--listen", "127.0.0.1:0"]);
        Helper::listening(Helper::start(&args)?, &command.join(" ")).await
    }

    /// Our server: `river-bench serve`, or the program `--server` names (which takes
    /// `--listen ADDR` and says `listening on ADDR`, as `river-echo` does).
    async fn ours(args: &Args) -> Result<(Helper, SocketAddr), String> {
        match &args.server {
            None => Helper::server(&["serve"]).await,
            Some(program) => {
                let helper = Helper::start_program(
                    std::path::Path::new(program),
                    &["--listen", "127.0.0.1:0"],
                )?;
                Helper::listening(helper, program).await
            }
        }
    }

    /// Like [`server`](Self::server), keeping what the server prints after its address for
    /// [`line`](Self::line) (a server that answers `report`).
    pub(crate) async fn server_reporting(command: &[&str]) -> Result<(Helper, SocketAddr), String> {
        let mut args = command.to_vec();
        args.extend(["--listen", "127.0.0.1:0"]);
        let mut helper = Helper::start(&args)?;
        let addr = helper.address(&command.join(" ")).await?;
        Ok((helper, addr))
    }

    /// The address of the first line, `listening on ADDR`.
    async fn address(&mut self, kind: &str) -> Result<SocketAddr, String> {
        let line = self.line(Duration::from_secs(30)).await?;
        line.strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected first line from {kind}: {line}"))
    }

    async fn listening(mut helper: Helper, kind: &str) -> Result<(Helper, SocketAddr), String> {
        let addr = helper.address(kind).await?;
        if let Some(mut rest) = helper.lines.take() {
            tokio::spawn(async move { while let Ok(Some(_)) = rest.next_line().await {} });
        }
        Ok((helper, addr))
    }
}

pub(crate) fn client_options(codec: statebound_river::wire::CodecKind) -> ClientOptions {
    ClientOptions {
        session: SessionOptions {
            codec,
            ..SessionOptions::default()
        },
        ..ClientOptions::default()
    }
}

pub(crate) fn unique(prefix: &str, i: usize) -> String {
    format!("{prefix}-{}-{i}", std::process::id())
}

/// Keeps `inflight` rpcs of `payload` bytes going on each client until `stop`, counting
/// completions into `done`. Each client's calls are driven by one task, as the raw clients
/// drive their connections: a new call starts as soon as one finishes.
fn rpc_load(
    clients: &[RiverClient],
    inflight: usize,
    payload: usize,
    done: &Arc<AtomicU64>,
    stop: &Arc<AtomicBool>,
) {
    let msg = Msg {
        msg: "x".repeat(payload),
    };
    for client in clients {
        let (client, msg, done, stop) = (
            client.clone(),
            msg.clone(),
            Arc::clone(done),
            Arc::clone(stop),
        );
        tokio::spawn(async move {
            let call = || {
                let (client, msg) = (client.clone(), msg.clone());
                async move { client.rpc::<_, Msg>("test", "echo", &msg).await }
            };
            let mut calls: FuturesUnordered<_> = (0..inflight).map(|_| call()).collect();
            while let Some(result) = calls.next().await {
                if result.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                calls.push(call());
            }
        });
    }
}

/// Completions per second of `done` over `seconds`, after the warm-up.
async fn rate(done: &AtomicU64, seconds: f64) -> f64 {
    sleep(WARMUP).await;
    let (c0, t0) = (done.load(Ordering::Relaxed), Instant::now());
    sleep(secs(seconds)).await;
    let (c1, t1) = (done.load(Ordering::Relaxed), Instant::now());
    #[allow(clippy::cast_precision_loss, reason = "a count of calls")]
    let n = (c1 - c0) as f64;
    n / t1.duration_since(t0).as_secs_f64()
}

async fn connected_clients(
    addr: SocketAddr,
    args: &Args,
    prefix: &str,
) -> Result<Vec<RiverClient>, String> {
    let url = format!("ws://{addr}");
    let mut clients = Vec::with_capacity(args.sessions);
    for i in 0..args.sessions {
        let transport = ClientTransport::new(
            unique(prefix, i),
            Arc::new(WsDialer::fixed(url.clone())),
            client_options(args.codec),
        );
        clients.push(RiverClient::new(transport, "SERVER"));
    }
    let warm = Msg { msg: "warm".into() };
    for client in &clients {
        timeout(
            Duration::from_secs(10),
            client.rpc::<_, Msg>("test", "echo", &warm),
        )
        .await
        .map_err(|_| "a client did not connect within 10 s".to_owned())?
        .map_err(|e| format!("warm-up call failed: {e}"))?;
    }
    Ok(clients)
}

/// rpc/s of our client against our server.
async fn ours(addr: SocketAddr, args: &Args) -> Result<f64, String> {
    let clients = connected_clients(addr, args, "bench").await?;
    let (done, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    rpc_load(&clients, args.inflight, args.payload, &done, &stop);
    let rate = rate(&done, args.seconds).await;
    stop.store(true, Ordering::Relaxed);
    for client in &clients {
        client.transport().close().await;
    }
    Ok(rate)
}

/// Echoes per second of raw tokio-tungstenite clients against a raw echo server: each
/// connection keeps `inflight` messages going, sending a new one for every echo. `batched`
/// clients gather what arrives together and flush once; plain ones send (and flush) each
/// message on its own, as `SinkExt::send` does.
async fn raw(addr: SocketAddr, args: &Args, batched: bool) -> Result<f64, String> {
    let (done, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let payload = Bytes::from(vec![b'x'; args.payload]);
    let mut tasks = Vec::new();
    for _ in 0..args.sessions {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
            .await
            .map_err(|e| format!("raw connect: {e}"))?;
        let (done, stop, payload, inflight) = (
            Arc::clone(&done),
            Arc::clone(&stop),
            payload.clone(),
            args.inflight,
        );
        tasks.push(tokio::spawn(async move {
            for _ in 0..inflight {
                if ws.send(Message::Binary(payload.clone())).await.is_err() {
                    return;
                }
            }
            while !stop.load(Ordering::Relaxed) {
                let Some(Ok(_)) = ws.next().await else { return };
                let mut echoed = 1;
                if batched {
                    while let Some(Some(Ok(_))) = ws.next().now_or_never() {
                        echoed += 1;
                    }
                }
                done.fetch_add(echoed, Ordering::Relaxed);
                for _ in 0..echoed {
                    if ws.feed(Message::Binary(payload.clone())).await.is_err() {
                        return;
                    }
                    if !batched && ws.flush().await.is_err() {
                        return;
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
        }));
    }
    let rate = rate(&done, args.seconds).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    Ok(rate)
}

/// The `rpc` scenario.
pub(crate) async fn rpc(args: &Args) -> Result<(), String> {
    let (_ours_server, ours_addr) = Helper::ours(args).await?;
    let (_raw_server, raw_addr) = Helper::server(&["raw-serve"]).await?;
    let (_batched_server, batched_addr) = Helper::server(&["raw-serve", "--batched", "1"]).await?;
    println!(
        "rpc: {} session(s), {} in flight each, {} B payload, {} codec, {} s x {} rounds",
        args.sessions, args.inflight, args.payload, args.codec, args.seconds, args.rounds
    );
    let mut rates: [Vec<f64>; 3] = Default::default();
    let (mut ratios, mut batched_ratios) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let raw_rate = raw(raw_addr, args, false).await?;
        let ours_rate = ours(ours_addr, args).await?;
        let batched_rate = raw(batched_addr, args, true).await?;
        println!(
            "  round {round}: ours {ours_rate:.0}/s, raw {raw_rate:.0}/s, raw batched {batched_rate:.0}/s"
        );
        for (list, rate) in rates.iter_mut().zip([ours_rate, raw_rate, batched_rate]) {
            list.push(rate);
        }
        ratios.push(ours_rate / raw_rate);
        batched_ratios.push(ours_rate / batched_rate);
    }
    println!("ours rpc/s:             {}", Summary::of(&rates[0]).show(0));
    println!("raw echo/s:             {}", Summary::of(&rates[1]).show(0));
    println!("raw batched echo/s:     {}", Summary::of(&rates[2]).show(0));
    println!("ratio ours/raw:         {}", Summary::of(&ratios).show(3));
    println!(
        "ratio ours/raw batched: {}",
        Summary::of(&batched_ratios).show(3)
    );
    Ok(())
}

/// The raw tokio-tungstenite echo server: echoes every message with `send` (a write and a
/// flush each), or with `--batched 1`, everything that arrived together with one flush.
pub(crate) async fn raw_serve(args: &Args) -> Result<(), String> {
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    let batched = args.batched;
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            while let Some(Ok(first)) = ws.next().await {
                if !first.is_binary() {
                    return;
                }
                if !batched {
                    if ws.send(first).await.is_err() {
                        return;
                    }
                    continue;
                }
                if ws.feed(first).await.is_err() {
                    return;
                }
                while let Some(Some(Ok(next))) = ws.next().now_or_never() {
                    if ws.feed(next).await.is_err() {
                        return;
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The `idle` scenario.
pub(crate) async fn idle(args: &Args) -> Result<(), String> {
    let (server, addr) = Helper::ours(args).await?;
    let pid = server.pid()?;
    let busy_args = Args {
        sessions: 1,
        ..args.clone()
    };
    println!(
        "idle: {} idle sessions; busy session with {} in flight; {} s x {} rounds",
        args.sessions, args.inflight, args.seconds, args.rounds
    );
    let mut alone = Vec::new();
    let mut busy_cpu = Vec::new();
    for _ in 0..args.rounds {
        let (rate, used) = tokio::join!(ours(addr, &busy_args), pair_cpu(pid, args.seconds));
        alone.push(rate?);
        busy_cpu.push(used?);
    }
    let rss_before = rss(pid).ok_or("no RSS for the server")?;
    let cpu_alone = cpu_share(pid, args.seconds).await?;

    let sessions = args.sessions.to_string();
    let url = format!("ws://{addr}");
    let mut idle = Helper::start(&["idle-clients", "--url", &url, "--sessions", &sessions])?;
    let ready = idle.line(Duration::from_secs(600)).await?;
    println!("  idle clients: {ready}");
    sleep(Duration::from_secs(3)).await;
    let rss_after = rss(pid).ok_or("no RSS for the server")?;
    let mut cpu = Vec::new();
    let mut kernel = Vec::new();
    let mut clients_cpu = Vec::new();
    let idle_pid = idle.pid()?;
    for _ in 0..args.rounds {
        let (server_share, clients_share) = tokio::join!(
            cpu_split(pid, args.seconds),
            cpu_share(idle_pid, args.seconds)
        );
        let (all, in_kernel) = server_share?;
        cpu.push(all * 100.0);
        kernel.push(in_kernel * 100.0);
        clients_cpu.push(clients_share? * 100.0);
    }
    let mut with_idle = Vec::new();
    let mut drops = Vec::new();
    for _ in 0..args.rounds {
        with_idle.push(ours(addr, &busy_args).await?);
        idle.tell("report").await?;
        let report = idle.line(Duration::from_secs(30)).await?;
        drops.push(report);
    }
    drop(idle);
    // The machine's speed drifts: the busy session alone again once the idle sessions are
    // gone (their grace, 5 s, has passed), so that "alone" brackets "with idle".
    sleep(Duration::from_secs(7)).await;
    let mut after = Vec::new();
    for _ in 0..args.rounds {
        after.push(ours(addr, &busy_args).await?);
    }
    drop(server);
    let floor = raw_idle_floor(args, "raw").await?;
    let tcp = raw_idle_floor(args, "tcp").await?;
    #[allow(clippy::cast_precision_loss, reason = "bytes and session counts")]
    let per_session = (rss_after.saturating_sub(rss_before)) as f64 / args.sessions as f64;
    println!("busy rpc/s alone, before: {}", Summary::of(&alone).show(0));
    println!(
        "busy rpc/s with idle:     {}",
        Summary::of(&with_idle).show(0)
    );
    println!("busy rpc/s alone, after:  {}", Summary::of(&after).show(0));
    let both: Vec<f64> = alone.iter().chain(&after).copied().collect();
    println!(
        "ratio with/alone:         {:.3} (alone before and after together; {:.3} against \
         before, {:.3} against after)",
        Summary::of(&with_idle).median / Summary::of(&both).median,
        Summary::of(&with_idle).median / Summary::of(&alone).median,
        Summary::of(&with_idle).median / Summary::of(&after).median
    );
    print_cpu(cpu_alone, &cpu, &clients_cpu, &busy_cpu);
    println!(
        "server CPU in the kernel: {}% of a core (system time: syscalls and the loopback \
         network work they do)",
        Summary::of(&kernel).show(2)
    );
    print_floors(&cpu, &floor, &tcp);
    println!(
        "server RSS: {:.1} MiB before, {:.1} MiB after: {:.0} B per idle session",
        mib(rss_before),
        mib(rss_after),
        per_session
    );
    println!("idle clients after each busy round: {}", drops.join("; "));
    Ok(())
}

/// The floors `idle` compares its server with: raw tokio-tungstenite and plain TCP doing the
/// same heartbeat traffic, each in all and in the kernel.
fn print_floors(ours: &[f64], floor: &Floor, tcp: &Floor) {
    println!(
        "raw floor CPU, idle:      {}% of a core (raw tokio-tungstenite: a {RAW_BEAT}-byte frame \
         to each connection every second, echoed back)",
        Summary::of(&floor.cpu).show(2)
    );
    println!(
        "raw floor in the kernel:  {}% of a core",
        Summary::of(&floor.kernel).show(2)
    );
    println!(
        "ours / raw floor:         {:.2}",
        Summary::of(ours).median / Summary::of(&floor.cpu).median
    );
    println!(
        "raw floor RSS per connection: {:.0} B",
        floor.per_connection
    );
    println!(
        "tcp floor CPU, idle:      {}% of a core (plain TCP, no WebSocket: {RAW_BEAT} bytes \
         to each connection every second, echoed back)",
        Summary::of(&tcp.cpu).show(2)
    );
    println!(
        "tcp floor in the kernel:  {}% of a core",
        Summary::of(&tcp.kernel).show(2)
    );
}

/// The idle scenario's CPU figures: the server without sessions (`alone`, a share of a core)
/// and with the idle sessions (`server`), the idle clients' process, and the busy pair alone
/// (all three in % of a core, per round).
fn print_cpu(alone: f64, server: &[f64], clients: &[f64], busy: &[f64]) {
    println!("server CPU, no sessions:  {:.2}% of a core", alone * 100.0);
    println!(
        "server CPU, idle:         {}% of a core",
        Summary::of(server).show(2)
    );
    println!(
        "idle clients' CPU:        {}% of a core (the process holding the idle sessions)",
        Summary::of(clients).show(2)
    );
    #[allow(clippy::cast_precision_loss, reason = "a core count")]
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    let idle_cpu = Summary::of(server).median + Summary::of(clients).median;
    let busy = Summary::of(busy);
    println!(
        "busy pair's CPU alone:    {}% of a core (the server and this process, on {cores} cores)",
        busy.show(1)
    );
    println!(
        "busy pair alone and the idle sessions (server and clients) would need {:.0}% of the \
         machine together; past 100% the busy rate must fall",
        (busy.median + idle_cpu) / cores
    );
}

#[allow(clippy::cast_precision_loss, reason = "a memory size")]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The size of the raw floor's heartbeat frame: about what a River heartbeat encodes to.
const RAW_BEAT: usize = 96;

/// What the raw floor measured.
struct Floor {
    /// Server CPU, % of a core, per round.
    cpu: Vec<f64>,
    /// The part of `cpu` spent in the kernel, per round.
    kernel: Vec<f64>,
    per_connection: f64,
}

/// The least a server can spend on idle connections that heartbeat like River's: raw
/// tokio-tungstenite sending each connection a frame every second and reading its echo, with
/// as many connections as `args.sessions`.
async fn raw_idle_floor(args: &Args, kind: &str) -> Result<Floor, String> {
    let (server, addr) = Helper::server(&[&format!("{kind}-idle-serve")]).await?;
    let pid = server.pid()?;
    sleep(Duration::from_secs(1)).await;
    let rss_before = rss(pid).ok_or("no RSS for the raw server")?;
    let sessions = args.sessions.to_string();
    let url = format!("ws://{addr}");
    let clients_kind = format!("{kind}-idle-clients");
    let mut clients = Helper::start(&[&clients_kind, "--url", &url, "--sessions", &sessions])?;
    let ready = clients.line(Duration::from_secs(600)).await?;
    println!("  {kind} idle clients: {ready}");
    sleep(Duration::from_secs(3)).await;
    let rss_after = rss(pid).ok_or("no RSS for the raw server")?;
    let mut cpu = Vec::new();
    let mut kernel = Vec::new();
    for _ in 0..args.rounds {
        let (all, in_kernel) = cpu_split(pid, args.seconds).await?;
        cpu.push(all * 100.0);
        kernel.push(in_kernel * 100.0);
    }
    #[allow(clippy::cast_precision_loss, reason = "bytes and connection counts")]
    let per_connection = rss_after.saturating_sub(rss_before) as f64 / args.sessions as f64;
    Ok(Floor {
        cpu,
        kernel,
        per_connection,
    })
}

/// The raw floor's server: a frame of [`RAW_BEAT`] bytes to every connection every second.
pub(crate) async fn raw_idle_serve(args: &Args) -> Result<(), String> {
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    let beat = Bytes::from(vec![b'h'; RAW_BEAT]);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let beat = beat.clone();
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if ws.send(Message::Binary(beat.clone())).await.is_err() {
                            return;
                        }
                    }
                    echo = ws.next() => {
                        if !matches!(echo, Some(Ok(_))) {
                            return;
                        }
                    }
                }
            }
        });
    }
}

/// The TCP floor's server: [`RAW_BEAT`] bytes to every connection every second, over plain TCP
/// (no WebSocket framing), reading whatever comes back.
pub(crate) async fn tcp_idle_serve(args: &Args) -> Result<(), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let beat = [b'h'; RAW_BEAT];
            let mut echo = [0u8; RAW_BEAT];
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if tcp.write_all(&beat).await.is_err() {
                            return;
                        }
                    }
                    read = tcp.read(&mut echo) => {
                        if !matches!(read, Ok(n) if n > 0) {
                            return;
                        }
                    }
                }
            }
        });
    }
}

/// The TCP floor's clients: `--sessions` plain TCP connections that echo what they read.
pub(crate) async fn tcp_idle_clients(args: &Args) -> Result<(), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = args
        .url
        .trim_start_matches("ws://")
        .trim_start_matches("tcp://")
        .to_owned();
    let mut held = 0;
    for _ in 0..args.sessions {
        let mut tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("tcp connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = [0u8; RAW_BEAT];
            while let Ok(n) = tcp.read(&mut buf).await {
                if n == 0 || tcp.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
        held += 1;
    }
    println!("ready {held}");
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = stdin.next_line().await {}
    Ok(())
}

/// The raw floor's clients: `--sessions` connections that echo every frame.
pub(crate) async fn raw_idle_clients(args: &Args) -> Result<(), String> {
    let mut held = 0;
    for _ in 0..args.sessions {
        let (mut ws, _) = tokio_tungstenite::connect_async(args.url.as_str())
            .await
            .map_err(|e| format!("raw connect: {e}"))?;
        tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                if ws.send(frame).await.is_err() {
                    return;
                }
            }
        });
        held += 1;
    }
    println!("ready {held}");
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = stdin.next_line().await {}
    Ok(())
}

/// The share of one core process `pid` uses over `seconds`.
/// CPU of the server `pid` and this process together, % of a core, over the middle of a busy
/// round of `seconds`.
async fn pair_cpu(pid: u32, seconds: f64) -> Result<f64, String> {
    let margin = (seconds / 6.0).min(0.5);
    sleep(secs(margin)).await;
    let window = seconds - 2.0 * margin;
    let (server, this) = tokio::join!(
        cpu_share(pid, window),
        cpu_share(std::process::id(), window)
    );
    Ok((server? + this?) * 100.0)
}

async fn cpu_share(pid: u32, seconds: f64) -> Result<f64, String> {
    Ok(cpu_split(pid, seconds).await?.0)
}

/// The CPU a process uses over `seconds`, as shares of a core: in all, and in the kernel on its
/// behalf (its system time: syscalls, and the loopback network work they do).
async fn cpu_split(pid: u32, seconds: f64) -> Result<(f64, f64), String> {
    let (c0, t0) = (cpu_times(pid).ok_or("no CPU time")?, Instant::now());
    sleep(secs(seconds)).await;
    let (c1, t1) = (cpu_times(pid).ok_or("no CPU time")?, Instant::now());
    let wall = t1.duration_since(t0).as_secs_f64();
    let kernel = c1.kernel.saturating_sub(c0.kernel).as_secs_f64();
    let user = c1.user.saturating_sub(c0.user).as_secs_f64();
    Ok(((user + kernel) / wall, kernel / wall))
}

/// The child that holds idle sessions: connects them in batches, says `ready N`, then answers
/// each `report` line with how many of them lost a connection or their session so far.
pub(crate) async fn idle_clients(args: &Args) -> Result<(), String> {
    let lost = Arc::new(AtomicU64::new(0));
    let ended = Arc::new(AtomicU64::new(0));
    let mut transports = Vec::with_capacity(args.sessions);
    for batch in (0..args.sessions).collect::<Vec<_>>().chunks(256) {
        let mut pending = Vec::new();
        for &i in batch {
            let transport = ClientTransport::new(
                unique("idle", i),
                Arc::new(WsDialer::fixed(args.url.clone())),
                client_options(args.codec),
            );
            let mut events = transport.subscribe_status();
            let (lost, ended) = (Arc::clone(&lost), Arc::clone(&ended));
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    match event {
                        TransportEvent::SessionTransition {
                            transition: "connection_lost",
                            ..
                        } => {
                            lost.fetch_add(1, Ordering::Relaxed);
                        }
                        TransportEvent::SessionStatus {
                            status: statebound_river::session::SessionStatus::Closed,
                            ..
                        } => {
                            ended.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
            });
            transport.connect("SERVER");
            pending.push(transport);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while pending
            .iter()
            .any(|t| t.connection_count() == 0 || t.session_id("SERVER").is_none())
        {
            if Instant::now() > deadline {
                return Err("idle sessions did not connect within 60 s".into());
            }
            sleep(Duration::from_millis(20)).await;
        }
        transports.extend(pending);
    }
    println!("ready {}", transports.len());
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = stdin.next_line().await {
        if line.trim() == "report" {
            let connected = transports
                .iter()
                .filter(|t| t.connection_count() == 1)
                .count();
            println!(
                "connected {connected}, connections lost {}, sessions ended {}",
                lost.load(Ordering::Relaxed),
                ended.load(Ordering::Relaxed)
            );
        }
    }
    Ok(())
}

/// Waits for the message with payload `n` among `events`.
async fn arrival(
    events: &mut tokio::sync::mpsc::Receiver<TransportEvent>,
    n: i64,
) -> Result<(), String> {
    loop {
        match events.recv().await {
            Some(TransportEvent::Message { msg, .. }) if msg.payload == Value::from(n) => {
                return Ok(());
            }
            Some(_) => {}
            None => return Err("the server's events ended".to_owned()),
        }
    }
}

/// The `reconnect` scenario: from dropping every connection to the server's receipt of a
/// message sent right after, with no backoff.
pub(crate) async fn reconnect(args: &Args) -> Result<(), String> {
    let server = ServerTransport::new("SERVER", ServerOptions::default());
    let addr = server
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| e.to_string())?;
    let mut events = server.subscribe();
    let client = ClientTransport::new(
        "reconnecting",
        Arc::new(WsDialer::fixed(format!("ws://{addr}"))),
        ClientOptions {
            retry: RetryOptions {
                base_interval: Duration::ZERO,
                max_jitter: Duration::ZERO,
                attempt_budget_capacity: u32::MAX,
                ..RetryOptions::default()
            },
            ..client_options(args.codec)
        },
    );
    let message = |n: i64| PartialMessage {
        stream_id: "bench".into(),
        control_flags: 0,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload: Value::from(n),
    };
    client
        .send("SERVER", message(-1))
        .await
        .map_err(|e| e.to_string())?;
    timeout(Duration::from_secs(10), arrival(&mut events, -1))
        .await
        .map_err(|_| "the first message did not arrive")??;
    let mut samples = Vec::with_capacity(args.samples);
    for n in 0..args.samples {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let start = Instant::now();
        client.drop_connections();
        client
            .send("SERVER", message(n))
            .await
            .map_err(|e| e.to_string())?;
        timeout(Duration::from_secs(10), arrival(&mut events, n))
            .await
            .map_err(|_| format!("message {n} did not arrive after the drop"))??;
        samples.push(start.elapsed());
    }
    let p50 = percentile(&mut samples, 50.0);
    let p99 = percentile(&mut samples, 99.0);
    let max = percentile(&mut samples, 100.0);
    println!(
        "reconnect: {} drops, abrupt drop -> first delivery after it: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        args.samples,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    client.close().await;
    server.close().await;
    Ok(())
}
