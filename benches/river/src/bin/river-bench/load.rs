//! The load scenarios: many sessions heartbeating through a grace period (`heartbeats`), and
//! many sessions opened at once beside a bystander (`burst`), with the child processes that
//! hold their sessions.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use prometheus_client::registry::Registry;
use statebound_river::echo_service::Msg;
use statebound_river::metrics::Metrics;
use statebound_river::router::RiverClient;
use statebound_river::session::{
    BoxFuture, CloseCode, Connection, ConnectionClosed, ConnectionEvent, ConnectionId,
    SessionStatus,
};
use statebound_river::transport::{
    ClientOptions, ClientTransport, DialError, Dialer, TransportEvent, WsDialer,
};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::time::{Instant, sleep, timeout};

use crate::Args;
use crate::clients::{Helper, client_options, unique};
use crate::stats::{Summary, cpu_time, percentile, run_queue_wait};

/// File descriptors a process needs beyond one per session: the runtime, the pipes, the
/// listener, a bystander, and connections the server is still closing.
const FD_SLACK: u64 = 1024;

/// Raises this process's `RLIMIT_NOFILE` to at least `sessions` sockets (plus [`FD_SLACK`]),
/// or says why it cannot.
pub(crate) fn raise_fd_limit(sessions: usize) -> Result<(), String> {
    let needed = u64::try_from(sessions)
        .unwrap_or(u64::MAX)
        .saturating_add(FD_SLACK);
    let got = rlimit::increase_nofile_limit(needed)
        .map_err(|e| format!("cannot raise RLIMIT_NOFILE to {needed}: {e}"))?;
    if got < needed {
        return Err(format!(
            "{sessions} sessions need {needed} file descriptors, but RLIMIT_NOFILE can only \
             be raised to {got} (the hard limit; see `ulimit -Hn`)"
        ));
    }
    Ok(())
}

/// What one client session saw of its heartbeats, over every connection it had.
#[derive(Debug, Default)]
struct Tap {
    /// Heartbeats received since the last reset.
    beats_in: AtomicU64,
    /// Heartbeats sent (the client's answers) since the last reset.
    beats_out: AtomicU64,
    gaps: Mutex<Gaps>,
}

#[derive(Debug, Default)]
struct Gaps {
    /// When the last heartbeat arrived.
    last: Option<Instant>,
    /// Every gap between two heartbeats that ended since the last reset.
    seen: Vec<Duration>,
}

impl Tap {
    fn beat_in(&self) {
        self.beats_in.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut gaps = self.gaps.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(last) = gaps.last.replace(now) {
            gaps.seen.push(now.duration_since(last));
        }
    }

    fn reset(&self) {
        self.beats_in.store(0, Ordering::Relaxed);
        self.beats_out.store(0, Ordering::Relaxed);
        self.gaps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .clear();
    }
}

/// Whether a frame is a heartbeat: its stream id is `heartbeat`, a string no other frame of
/// an idle session holds (JSON and msgpack both carry it as is).
fn is_heartbeat(frame: &[u8]) -> bool {
    frame.windows(9).any(|w| w == b"heartbeat")
}

/// A connection that tells its session's [`Tap`] about the heartbeats passing through.
#[derive(Debug)]
struct TappedConnection {
    inner: Box<dyn Connection>,
    tap: Arc<Tap>,
}

impl Connection for TappedConnection {
    fn id(&self) -> ConnectionId {
        self.inner.id()
    }

    fn send(&mut self, frame: Bytes) -> Result<(), ConnectionClosed> {
        if is_heartbeat(&frame) {
            self.tap.beats_out.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.send(frame)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionClosed>> {
        self.inner.poll_flush(cx)
    }

    fn close(&mut self, code: CloseCode) {
        self.inner.close(code);
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionEvent> {
        let event = self.inner.poll_event(cx);
        if let Poll::Ready(ConnectionEvent::Frame(frame)) = &event {
            if is_heartbeat(frame) {
                self.tap.beat_in();
            }
        }
        event
    }

    fn lift_handshake_limit(&mut self) {
        self.inner.lift_handshake_limit();
    }
}

/// Dials over WebSocket and taps every connection.
struct TappingDialer {
    inner: WsDialer,
    tap: Arc<Tap>,
}

impl Dialer for TappingDialer {
    fn dial<'a>(&'a self, to: &'a str) -> BoxFuture<'a, Result<Box<dyn Connection>, DialError>> {
        Box::pin(async move {
            let inner = self.inner.dial(to).await?;
            let conn: Box<dyn Connection> = Box::new(TappedConnection {
                inner,
                tap: Arc::clone(&self.tap),
            });
            Ok(conn)
        })
    }
}

/// How opening a fleet of sessions went.
struct Opened {
    established: usize,
    /// Sessions that ended, or were not connected within the patience, before connecting.
    failed: usize,
    /// Sessions that needed more than one connection attempt.
    retried: usize,
    took: Duration,
}

/// Opens a session on each transport, at most `concurrency` at a time (a session counts until
/// it is connected or has failed), each given `patience` to connect.
async fn open_all(
    transports: &[ClientTransport],
    concurrency: usize,
    patience: Duration,
) -> Opened {
    let start = Instant::now();
    let outcomes: Vec<(bool, u32)> = futures_util::stream::iter(transports)
        .map(|transport| async move {
            let mut events = transport.subscribe_status();
            transport.connect("SERVER");
            let mut attempts = 0u32;
            let connected = timeout(patience, async {
                while let Some(event) = events.recv().await {
                    match event {
                        TransportEvent::SessionTransition { to, transition, .. } => {
                            if transition == "connect" {
                                attempts += 1;
                            }
                            if to == "Connected" {
                                return true;
                            }
                        }
                        TransportEvent::SessionStatus {
                            status: SessionStatus::Closed,
                            ..
                        } => return false,
                        _ => {}
                    }
                }
                false
            })
            .await
            .unwrap_or(false);
            (connected, attempts)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let established = outcomes.iter().filter(|(ok, _)| *ok).count();
    Opened {
        established,
        failed: outcomes.len() - established,
        retried: outcomes.iter().filter(|(_, n)| *n > 1).count(),
        took: start.elapsed(),
    }
}

/// Client transports to `url`, one per session, all counted in `metrics`; with a tap each when
/// `taps` is given.
fn fleet(
    args: &Args,
    prefix: &str,
    metrics: &Metrics,
    mut taps: Option<&mut Vec<Arc<Tap>>>,
) -> Vec<ClientTransport> {
    (0..args.sessions)
        .map(|i| {
            let options = ClientOptions {
                metrics: Some(metrics.clone()),
                ..client_options(args.codec)
            };
            let ws = WsDialer::fixed(args.url.clone());
            let dialer: Arc<dyn Dialer> = match taps.as_deref_mut() {
                Some(taps) => {
                    let tap = Arc::new(Tap::default());
                    taps.push(Arc::clone(&tap));
                    Arc::new(TappingDialer { inner: ws, tap })
                }
                None => Arc::new(ws),
            };
            ClientTransport::new(unique(prefix, i), dialer, options)
        })
        .collect()
}

/// `connected C lost L ended E`: client sessions connected now, connections lost by
/// connected sessions so far, and sessions that ended, of `total`.
fn fleet_status(metrics: &Metrics, total: usize) -> String {
    let alive: i64 = metrics.sessions_by_state().iter().map(|(_, n)| n).sum();
    format!(
        "connected {} lost {} ended {}",
        metrics.sessions_in("Connected"),
        metrics.transitions("Connected", "connection_lost"),
        i64::try_from(total).unwrap_or(i64::MAX) - alive
    )
}

/// Reads commands from the parent until it goes away.
fn commands() -> tokio::io::Lines<BufReader<tokio::io::Stdin>> {
    BufReader::new(tokio::io::stdin()).lines()
}

/// How long a session of a fleet may take to connect.
const PATIENCE: Duration = Duration::from_secs(120);

/// The child of `heartbeats`: opens `--sessions` tapped sessions 256 at a time, says
/// `ready E failed F in T`, then answers `reset` (start counting heartbeats anew) and `report`
/// (one line of [`fleet_status`] and heartbeat counts and gaps since the reset).
pub(crate) async fn heartbeat_clients(args: &Args) -> Result<(), String> {
    raise_fd_limit(args.sessions)?;
    let metrics = Metrics::register(&mut Registry::default());
    let mut taps = Vec::with_capacity(args.sessions);
    let transports = fleet(args, "beat", &metrics, Some(&mut taps));
    let opened = open_all(&transports, 256, PATIENCE).await;
    println!(
        "ready {} failed {} in {:.2}",
        opened.established,
        opened.failed,
        opened.took.as_secs_f64()
    );
    let mut stdin = commands();
    while let Ok(Some(line)) = stdin.next_line().await {
        match line.trim() {
            "reset" => taps.iter().for_each(|t| t.reset()),
            "report" => {
                let (mut beats_in, mut beats_out, mut gaps) = (0, 0, Vec::new());
                for tap in &taps {
                    beats_in += tap.beats_in.load(Ordering::Relaxed);
                    beats_out += tap.beats_out.load(Ordering::Relaxed);
                    gaps.extend_from_slice(
                        &tap.gaps.lock().unwrap_or_else(PoisonError::into_inner).seen,
                    );
                }
                let p99 = percentile(&mut gaps, 99.0);
                let longest = percentile(&mut gaps, 100.0);
                println!(
                    "{} in {beats_in} out {beats_out} gaps {} p99 {:.1} max {:.1}",
                    fleet_status(&metrics, transports.len()),
                    gaps.len(),
                    p99.as_secs_f64() * 1e3,
                    longest.as_secs_f64() * 1e3
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// The child of `burst`: makes `--sessions` transports, says `opening`, opens them
/// `--dials` at a time, says `opened E failed F retried R in T attempts A dial_failed D
/// handshake_lost H` (client-side counts: sessions connected, failed, that needed more than
/// one attempt, attempts in all, and how the failed attempts ended: the dial failed or timed
/// out, or the connection was lost before the handshake's answer), then answers each
/// `report` with [`fleet_status`].
pub(crate) async fn burst_clients(args: &Args) -> Result<(), String> {
    raise_fd_limit(args.sessions)?;
    let metrics = Metrics::register(&mut Registry::default());
    let transports = fleet(args, "burst", &metrics, None);
    println!("opening");
    let opened = open_all(&transports, args.dials, PATIENCE).await;
    println!(
        "opened {} failed {} retried {} in {:.3} attempts {} dial_failed {} handshake_lost {}",
        opened.established,
        opened.failed,
        opened.retried,
        opened.took.as_secs_f64(),
        metrics.transitions("BackingOff", "connect"),
        metrics.transitions("Connecting", "connection_failed"),
        metrics.transitions("Handshaking", "connection_lost"),
    );
    let mut stdin = commands();
    while let Ok(Some(line)) = stdin.next_line().await {
        if line.trim() == "report" {
            println!("{}", fleet_status(&metrics, transports.len()));
        }
    }
    Ok(())
}

/// The number after `key` in a line of `key value` pairs.
pub(crate) fn field(line: &str, key: &str) -> Result<f64, String> {
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == key {
            return words
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("no number after {key} in {line:?}"));
        }
    }
    Err(format!("no {key} in {line:?}"))
}

/// Asks a child for its `report` line.
async fn report(helper: &mut Helper) -> Result<String, String> {
    helper.tell("report").await?;
    helper.line(Duration::from_secs(60)).await
}

/// Our server, counting its sessions, reporting on request and with room for `sessions`.
pub(crate) async fn start_server(args: &Args) -> Result<(Helper, String), String> {
    let sessions = args.sessions.to_string();
    let mut command = vec!["serve", "--report", "1", "--sessions", &sessions];
    let threads = args.handshake_threads.map(|t| t.to_string());
    if let Some(threads) = &threads {
        command.extend(["--handshake-threads", threads]);
    }
    let (server, addr) = Helper::server_reporting(&command).await?;
    Ok((server, format!("ws://{addr}")))
}

/// CPU seconds a child has used so far.
fn cpu_of(helper: &Helper) -> Result<f64, String> {
    let pid = helper.pid()?;
    cpu_time(pid)
        .map(|t| t.as_secs_f64())
        .ok_or_else(|| format!("no CPU time for process {pid}"))
}

/// Seconds the threads of a child have waited for a CPU so far.
fn waited(helper: &Helper) -> Result<f64, String> {
    let pid = helper.pid()?;
    run_queue_wait(pid)
        .map(|t| t.as_secs_f64())
        .ok_or_else(|| format!("no scheduler statistics for process {pid}"))
}

/// One round of `heartbeats`.
struct BeatRound {
    established: f64,
    /// Client and server sessions that left `Connected`, and client sessions that ended.
    spurious: f64,
    sent: f64,
    received: f64,
    answered: f64,
    answers_received: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// The `heartbeats` scenario.
pub(crate) async fn heartbeats(args: &Args) -> Result<(), String> {
    println!(
        "heartbeats: {} sessions, River's default session options (heartbeat {:?}, dead after {} \
         missed, grace {:?}), held {} s x {} rounds",
        args.sessions,
        statebound_river::session::SessionOptions::default().heartbeat_interval,
        statebound_river::session::SessionOptions::default().heartbeats_until_dead,
        statebound_river::session::SessionOptions::default().session_disconnect_grace,
        args.seconds,
        args.rounds
    );
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let r = heartbeat_round(args).await?;
        println!(
            "  round {round}: established {}, spurious disconnects {}, heartbeats sent by the \
             server {}, received by clients {}, answered {}, answers received by the server {}, \
             gap p99 {:.1} ms, longest {:.1} ms",
            r.established,
            r.spurious,
            r.sent,
            r.received,
            r.answered,
            r.answers_received,
            r.p99_ms,
            r.max_ms
        );
        rounds.push(r);
    }
    let show = |f: fn(&BeatRound) -> f64, decimals| {
        Summary::of(&rounds.iter().map(f).collect::<Vec<_>>()).show(decimals)
    };
    println!(
        "sessions established:        {}",
        show(|r| r.established, 0)
    );
    println!("spurious disconnects:        {}", show(|r| r.spurious, 0));
    println!("heartbeats sent (server):    {}", show(|r| r.sent, 0));
    println!("heartbeats received:         {}", show(|r| r.received, 0));
    println!("heartbeats answered:         {}", show(|r| r.answered, 0));
    println!(
        "unanswered (clients):        {}",
        show(|r| r.received - r.answered, 0)
    );
    println!(
        "answers received (server):   {}",
        show(|r| r.answers_received, 0)
    );
    println!("heartbeat gap p99, ms:       {}", show(|r| r.p99_ms, 1));
    println!(
        "longest heartbeat gap, ms:   {} (the watchdog fires at {} ms)",
        show(|r| r.max_ms, 1),
        statebound_river::session::SessionOptions::default()
            .liveness_timeout()
            .as_millis()
    );
    Ok(())
}

async fn heartbeat_round(args: &Args) -> Result<BeatRound, String> {
    let (mut server, url) = start_server(args).await?;
    let sessions = args.sessions.to_string();
    let mut clients =
        Helper::start(&["heartbeat-clients", "--url", &url, "--sessions", &sessions])?;
    let ready = clients.line(PATIENCE * 2).await?;
    println!("  clients: {ready}");
    // Every session has had a heartbeat or two before counting starts.
    sleep(Duration::from_secs(2)).await;
    // Both children are asked at once, so their counts cover nearly the same window.
    clients.tell("reset").await?;
    let before = report(&mut server).await?;
    let (cpu, t0) = ((cpu_of(&server)?, cpu_of(&clients)?), Instant::now());
    sleep(crate::secs(args.seconds)).await;
    clients.tell("report").await?;
    let after = report(&mut server).await?;
    let seen = clients.line(Duration::from_secs(60)).await?;
    let held = t0.elapsed().as_secs_f64();
    println!(
        "  server before: {before}\n  server after:  {after}\n  clients:       {seen}\n  CPU while \
         held: server {:.0}%, clients {:.0}% of a core",
        (cpu_of(&server)? - cpu.0) / held * 100.0,
        (cpu_of(&clients)? - cpu.1) / held * 100.0
    );
    let delta = |key| Ok::<f64, String>(field(&after, key)? - field(&before, key)?);
    Ok(BeatRound {
        established: field(&ready, "ready")?,
        spurious: field(&seen, "lost")? + field(&seen, "ended")? + field(&after, "lost")?,
        sent: delta("out")?,
        received: field(&seen, "in")?,
        answered: field(&seen, "out")?,
        answers_received: delta("in")?,
        p99_ms: field(&seen, "p99")?,
        max_ms: field(&seen, "max")?,
    })
}

/// Calls `echo` once on `client` (`who`, in errors) and waits at most 10 s for the answer: its
/// session is up.
pub(crate) async fn warm_up(client: &RiverClient, who: &str) -> Result<(), String> {
    timeout(
        Duration::from_secs(10),
        client.rpc::<_, Msg>("test", "echo", &Msg { msg: "warm".into() }),
    )
    .await
    .map_err(|_| format!("{who} did not connect within 10 s"))?
    .map_err(|e| format!("{who}'s first call failed: {e}"))?;
    Ok(())
}

/// Where a scenario's load goes, for its first line: with `--apart`, a server of its own.
pub(crate) fn apart_or_not(apart: bool) -> &'static str {
    if apart {
        "a server of their own"
    } else {
        "the bystander's server"
    }
}

/// A bystander's p50, p99 and max, in ms.
pub(crate) type Tail = (f64, f64, f64);

/// The bystander's [`Tail`] before and during the load, per round: median (min-max) over the
/// rounds.
pub(crate) fn print_bystander(rounds: &[(Tail, Tail)]) {
    let show = |f: &dyn Fn(&(Tail, Tail)) -> f64| {
        Summary::of(&rounds.iter().map(f).collect::<Vec<_>>()).show(2)
    };
    println!(
        "bystander p50 ms, before:      {}  during: {}",
        show(&|r| r.0.0),
        show(&|r| r.1.0)
    );
    println!(
        "bystander p99 ms, before:      {}  during: {}",
        show(&|r| r.0.1),
        show(&|r| r.1.1)
    );
    println!(
        "bystander max ms, before:      {}  during: {}",
        show(&|r| r.0.2),
        show(&|r| r.1.2)
    );
}

/// A bystander's rpcs: when each started and how long it took (`None`: failed).
pub(crate) type Calls = Arc<Mutex<Vec<(Instant, Option<Duration>)>>>;

/// How often the bystander calls.
const BYSTANDER_PACE: Duration = Duration::from_millis(10);

/// Calls `echo` on `client` every [`BYSTANDER_PACE`] (one call at a time) until `stop`.
pub(crate) fn bystander(client: RiverClient, calls: Calls, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let msg = Msg { msg: "by".into() };
        let mut tick = tokio::time::interval(BYSTANDER_PACE);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let start = Instant::now();
            let outcome = timeout(
                Duration::from_secs(10),
                client.rpc::<_, Msg>("test", "echo", &msg),
            )
            .await;
            let took = matches!(outcome, Ok(Ok(_))).then(|| start.elapsed());
            calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((start, took));
        }
    });
}

/// The bystander's calls that started in one window of time.
pub(crate) struct Window {
    /// p50, p99 and max of the calls that succeeded.
    pub(crate) tail: Tail,
    /// Calls that succeeded.
    pub(crate) ok: usize,
    /// Calls that failed.
    pub(crate) failed: usize,
}

/// The [`Window`] of the calls that started in `[from, to)`.
pub(crate) fn latencies(calls: &Calls, from: Instant, to: Instant) -> Window {
    let calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
    let window: Vec<_> = calls
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .collect();
    let mut ok: Vec<Duration> = window.iter().filter_map(|(_, d)| *d).collect();
    let failed = window.len() - ok.len();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let tail = (
        ms(percentile(&mut ok, 50.0)),
        ms(percentile(&mut ok, 99.0)),
        ms(percentile(&mut ok, 100.0)),
    );
    Window {
        tail,
        ok: ok.len(),
        failed,
    }
}

/// One round of `burst`.
struct BurstRound {
    established: f64,
    failed: f64,
    retried: f64,
    retries: f64,
    seconds: f64,
    dropped: f64,
    /// The bystander's calls before and during the burst.
    before: Window,
    during: Window,
    /// Connections the bystander lost, and whether its session is still the one it had.
    bystander_lost: u64,
    same_session: bool,
    /// Milliseconds per second the bystander's server's threads waited for a CPU, before and
    /// during the burst.
    wait: (f64, f64),
}

/// The `burst` scenario.
pub(crate) async fn burst(args: &Args) -> Result<(), String> {
    println!(
        "burst: {} new sessions, {} dials at a time, on {}, beside a bystander calling every \
         {:?}; {} rounds; server handshake threads: {}",
        args.sessions,
        args.dials,
        apart_or_not(args.apart),
        BYSTANDER_PACE,
        args.rounds,
        args.handshake_threads
            .map_or_else(|| "default".to_owned(), |t| t.to_string()),
    );
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let r = burst_round(args).await?;
        println!(
            "  round {round}: established {} in {:.2} s, failed {}, retried {} ({} retries), \
             dropped after {}; bystander before p50/p99/max {:.2}/{:.2}/{:.2} ms ({} calls, {} \
             failed), during {:.2}/{:.2}/{:.2} ms ({} calls, {} failed), connections lost {}, \
             same session {}",
            r.established,
            r.seconds,
            r.failed,
            r.retried,
            r.retries,
            r.dropped,
            r.before.tail.0,
            r.before.tail.1,
            r.before.tail.2,
            r.before.ok,
            r.before.failed,
            r.during.tail.0,
            r.during.tail.1,
            r.during.tail.2,
            r.during.ok,
            r.during.failed,
            r.bystander_lost,
            r.same_session
        );
        rounds.push(r);
    }
    let show = |f: &dyn Fn(&BurstRound) -> f64, decimals| {
        Summary::of(&rounds.iter().map(f).collect::<Vec<_>>()).show(decimals)
    };
    println!(
        "sessions established:          {}",
        show(&|r| r.established, 0)
    );
    println!("seconds until all established: {}", show(&|r| r.seconds, 2));
    println!("sessions failed:               {}", show(&|r| r.failed, 0));
    println!("sessions that retried:         {}", show(&|r| r.retried, 0));
    println!("retries in all:                {}", show(&|r| r.retries, 0));
    println!("dropped after (held 3 s):      {}", show(&|r| r.dropped, 0));
    print_bystander(
        &rounds
            .iter()
            .map(|r| (r.before.tail, r.during.tail))
            .collect::<Vec<_>>(),
    );
    println!(
        "bystander server CPU wait ms/s, before: {}  during: {}",
        show(&|r| r.wait.0, 0),
        show(&|r| r.wait.1, 0)
    );
    #[allow(clippy::cast_precision_loss, reason = "a count of calls")]
    let failed = |r: &BurstRound| r.during.failed as f64;
    println!("bystander failed calls during: {}", show(&failed, 0));
    println!(
        "bystander kept its session:    {} of {} rounds, connections lost {}",
        rounds.iter().filter(|r| r.same_session).count(),
        rounds.len(),
        rounds.iter().map(|r| r.bystander_lost).sum::<u64>()
    );
    Ok(())
}

/// Counts the connections `transport`'s sessions lose and the sessions that end, until the
/// returned task is aborted.
fn count_losses(transport: &ClientTransport) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let mut events = transport.subscribe_status();
    let lost = Arc::new(AtomicU64::new(0));
    let watcher = {
        let lost = Arc::clone(&lost);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let gone = matches!(
                    event,
                    TransportEvent::SessionTransition {
                        transition: "connection_lost",
                        ..
                    } | TransportEvent::SessionStatus {
                        status: SessionStatus::Closed,
                        ..
                    }
                );
                if gone {
                    lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    (lost, watcher)
}

async fn burst_round(args: &Args) -> Result<BurstRound, String> {
    let (mut server, url) = start_server(&Args {
        sessions: args.sessions + 1,
        ..args.clone()
    })
    .await?;
    let transport = ClientTransport::new(
        unique("bystander", 0),
        Arc::new(WsDialer::fixed(url.clone())),
        client_options(args.codec),
    );
    let (lost, watcher) = count_losses(&transport);
    let client = RiverClient::new(transport.clone(), "SERVER");
    warm_up(&client, "the bystander").await?;
    let session = transport.session_id("SERVER");
    let (calls, stop): (Calls, _) = (Arc::default(), Arc::new(AtomicBool::new(false)));
    bystander(client, Arc::clone(&calls), Arc::clone(&stop));

    // With `--apart`, a server of their own for the new sessions (started before the quiet
    // period, so its start-up is not measured).
    let apart = if args.apart {
        Some(start_server(args).await?)
    } else {
        None
    };
    let (quiet, wait_quiet) = (Instant::now(), waited(&server)?);
    sleep(Duration::from_secs(3)).await;
    let (mut target, fleet_url) = match apart {
        Some((helper, url)) => (Some(helper), url),
        None => (None, url.clone()),
    };
    let sessions = args.sessions.to_string();
    let dials = args.dials.to_string();
    let mut fleet = Helper::start(&[
        "burst-clients",
        "--url",
        &fleet_url,
        "--sessions",
        &sessions,
        "--dials",
        &dials,
    ])?;
    fleet.expect(Duration::from_secs(60), "opening").await?;
    let start = Instant::now();
    let busy = target.as_ref().unwrap_or(&server);
    let cpu = (cpu_of(busy)?, cpu_of(&fleet)?);
    let wait_start = waited(&server)?;
    let opened = fleet.line(PATIENCE * 2).await?;
    let end = Instant::now();
    let took = end.duration_since(start).as_secs_f64();
    let wait = (
        (wait_start - wait_quiet) / start.duration_since(quiet).as_secs_f64() * 1e3,
        (waited(&server)? - wait_start) / took * 1e3,
    );
    println!(
        "  clients: {opened}\n  CPU during the burst: server {:.0}%, clients {:.0}% of a core; \
         the bystander's server's threads waited for a CPU {:.0} ms/s before, {:.0} ms/s during",
        (cpu_of(busy)? - cpu.0) / took * 100.0,
        (cpu_of(&fleet)? - cpu.1) / took * 100.0,
        wait.0,
        wait.1
    );
    sleep(Duration::from_secs(3)).await;
    let held = report(&mut fleet).await?;
    let counts = report(target.as_mut().unwrap_or(&mut server)).await?;
    println!("  clients after 3 s: {held}\n  server: {counts}");
    stop.store(true, Ordering::Relaxed);
    let same_session = transport.session_id("SERVER") == session && session.is_some();
    let bystander_lost = lost.load(Ordering::Relaxed);
    transport.close().await;
    watcher.abort();
    let established = field(&opened, "opened")?;
    Ok(BurstRound {
        established,
        failed: field(&opened, "failed")?,
        retried: field(&opened, "retried")?,
        retries: field(&opened, "attempts")? - established - field(&opened, "failed")?,
        seconds: field(&opened, "in")?,
        dropped: established - field(&held, "connected")?,
        before: latencies(&calls, quiet, start),
        during: latencies(&calls, start, end),
        bystander_lost,
        same_session,
        wait,
    })
}

#[cfg(test)]
mod tests {
    use statebound_river::wire::{Codec as _, CodecKind, MessageHeader, PartialMessage, Value};

    use super::*;

    fn frame(codec: CodecKind, msg: PartialMessage) -> Vec<u8> {
        let header = MessageHeader {
            id: "m1".into(),
            from: "client".into(),
            to: "SERVER".into(),
            seq: 3,
            ack: 4,
        };
        codec.encode(&msg.into_message(header)).unwrap()
    }

    #[test]
    fn heartbeats_are_told_from_other_frames() {
        for codec in [CodecKind::Json, CodecKind::Msgpack] {
            assert!(is_heartbeat(&frame(codec, PartialMessage::heartbeat())));
            let call = PartialMessage {
                stream_id: "s1".into(),
                control_flags: 0,
                service_name: Some("test".into()),
                procedure_name: Some("echo".into()),
                tracing: None,
                payload: Value::from("hello"),
            };
            assert!(!is_heartbeat(&frame(codec, call)), "{codec}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_tap_measures_gaps_between_heartbeats_since_its_reset() {
        let tap = Tap::default();
        tap.beat_in();
        tokio::time::advance(Duration::from_secs(1)).await;
        tap.beat_in();
        tokio::time::advance(Duration::from_millis(1500)).await;
        tap.beat_in();
        assert_eq!(tap.beats_in.load(Ordering::Relaxed), 3);
        assert_eq!(
            tap.gaps.lock().unwrap().seen,
            [Duration::from_secs(1), Duration::from_millis(1500)]
        );
        tap.reset();
        tokio::time::advance(Duration::from_millis(500)).await;
        tap.beat_in();
        assert_eq!(tap.beats_in.load(Ordering::Relaxed), 1);
        assert_eq!(tap.gaps.lock().unwrap().seen, [Duration::from_millis(500)]);
    }

    #[test]
    fn report_fields_are_read_by_key() {
        let line = "connected 10 lost 0 ended 2 in 60 out 59";
        assert!((field(line, "in").unwrap() - 60.0).abs() < f64::EPSILON);
        assert!((field(line, "ended").unwrap() - 2.0).abs() < f64::EPSILON);
        assert!(field(line, "gaps").is_err());
        assert!(field("lost x", "lost").is_err());
    }
}
