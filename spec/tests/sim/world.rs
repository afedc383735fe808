//! One run of a schedule: a server and its clients over the simulated network, on a
//! current-thread runtime with paused time, recording what each side saw.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use statebound_river::router::{
    CallContext, Requests, Responses, RiverClient, RiverError, Service,
};
use statebound_river::session::{RetryOptions, SessionOptions, SessionStatus};
use statebound_river::transport::{
    ClientOptions, ClientTransport, ServerOptions, ServerTransport, TransportEvent,
};
use statebound_river::wire::{CodecKind, PartialMessage, Value, from_payload, to_payload};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::net::{Net, SimDialer, Way};
use super::schedule::{Action, Fault, GRACE, HEARTBEAT, HEARTBEATS_UNTIL_DEAD, Schedule};

/// The server's id and address.
pub(crate) const SERVER: &str = "SERVER";
/// The service every call goes to.
const SERVICE: &str = "sim";
/// How long a run may take, in simulated time, after its last step.
const AFTERMATH: Duration = Duration::from_secs(120);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn client_id(client: usize) -> String {
    format!("client-{client}")
}

// ----- what is recorded ----------------------------------------------------------------------

/// The kind of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rpc,
    Stream,
    Upload,
    Subscribe,
}

/// How a call ended for its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    Ok,
    Err { code: String, message: String },
}

impl End {
    fn of(e: &RiverError) -> Self {
        End::Err {
            code: e.code.clone(),
            message: e.message.clone(),
        }
    }
}

/// A call as its client saw it.
#[derive(Debug, Clone)]
pub(crate) struct ClientCall {
    pub(crate) id: u64,
    pub(crate) kind: Kind,
    pub(crate) client: usize,
    /// Requests the client wrote (and the writer took), or items a subscription asked for.
    pub(crate) written: u32,
    /// Results received, in order (an upload's: the list it returned).
    pub(crate) got: Vec<u64>,
    pub(crate) end: End,
    /// Results received after the call's error.
    pub(crate) after_end: u32,
    /// The client's session when the call started and when it ended.
    pub(crate) sessions: (Option<String>, Option<String>),
    /// The session the server said it ran on (rpc).
    pub(crate) served_on: Option<String>,
}

/// A call as the server's handler saw it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerCall {
    pub(crate) client: String,
    pub(crate) session: String,
    /// How many times a handler started for this call id.
    pub(crate) runs: u32,
    /// Requests received, in order.
    pub(crate) got: Vec<u64>,
    /// Requests received while the call was already cancelled.
    pub(crate) after_cancel: u32,
}

/// One thing a transport reported.
#[derive(Debug, Clone)]
pub(crate) enum Obs {
    Message {
        session: String,
        payload: Value,
    },
    Status {
        session: String,
        status: SessionStatus,
    },
    Transition {
        session: String,
        from: &'static str,
        to: &'static str,
        transition: &'static str,
    },
    ProtocolError(String),
}

/// Everything one transport instance reported, in order.
#[derive(Debug, Clone)]
pub(crate) struct Log {
    pub(crate) name: String,
    /// The client it belongs to; `None` for a server.
    pub(crate) client: Option<usize>,
    pub(crate) events: Vec<Obs>,
    /// The transport reported itself closed.
    pub(crate) closed: bool,
}

/// A message the server pushed outside any call, and the session that took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pushed {
    pub(crate) client: usize,
    /// The server process that sent it.
    pub(crate) process: usize,
    pub(crate) session: String,
    pub(crate) push: u64,
    pub(crate) k: u32,
}

/// What is left after `close()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Leftovers {
    pub(crate) runtime_tasks: usize,
    pub(crate) transport_tasks: usize,
    pub(crate) transport_connections: usize,
    pub(crate) open_links: usize,
    pub(crate) live_ends: usize,
}

/// What a run recorded.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub(crate) calls: Vec<ClientCall>,
    /// By call id and server process (1 for the first, counting restarts).
    pub(crate) served: std::collections::BTreeMap<(u64, usize), ServerCall>,
    pub(crate) pushed: Vec<Pushed>,
    pub(crate) logs: Vec<Log>,
    /// Per client still alive at the end: the server process and session its final rpc ran
    /// on, or why it failed.
    pub(crate) recovery: Vec<Result<(usize, String), String>>,
    pub(crate) leftovers: Leftovers,
    /// Work that did not finish in time.
    pub(crate) stuck: Vec<String>,
    /// A compact account of the run, for replay comparisons.
    pub(crate) trace: Vec<String>,
    pub(crate) dials: u64,
}

/// A bug planted between the client transport and the record, to show the checks catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plant {
    /// The n-th pushed message the client reports is lost.
    LoseMessage(usize),
    /// The n-th pushed message the client reports arrives twice.
    RepeatMessage(usize),
    /// The n-th result of each stream or subscription arrives twice.
    RepeatResult(usize),
}

impl Record {
    /// The record with session ids numbered by first appearance, so two runs of a seed
    /// compare equal when they did the same things.
    pub(crate) fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        for log in &self.logs {
            for e in &log.events {
                out.push(format!("{}: {e:?}", log.name));
            }
        }
        out.extend(self.calls.iter().map(|c| format!("{c:?}")));
        out.extend(self.served.iter().map(|(id, s)| format!("{id:?}: {s:?}")));
        out.extend(self.pushed.iter().map(|p| format!("{p:?}")));
        out.push(format!(
            "{:?} {:?} {}",
            self.stuck, self.leftovers, self.dials
        ));
        let mut ids: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        out.into_iter()
            .map(|line| number_sessions(&line, &mut ids))
            .collect()
    }
}

/// `line` with each session id (`session-` and 12 characters) replaced by its number in
/// `ids`, assigned in order of first appearance.
fn number_sessions(line: &str, ids: &mut std::collections::HashMap<String, usize>) -> String {
    const PREFIX: &str = "session-";
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let id: String = rest[at..].chars().take(PREFIX.len() + 12).collect();
        let n = ids.len();
        let n = *ids.entry(id.clone()).or_insert(n);
        let _ = write!(out, "session#{n}");
        rest = &rest[at + id.len()..];
    }
    out.push_str(rest);
    out
}

type Shared = Arc<Mutex<Record>>;

// ----- the service ---------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
struct Id {
    id: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Item {
    i: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Served {
    id: u64,
    process: usize,
    session: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Sub {
    id: u64,
    items: u32,
    gap_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct PushPayload {
    process: usize,
    push: u64,
    k: u32,
    session: String,
}

fn served(rec: &Shared, server: usize, ctx: &CallContext, id: u64) {
    let mut rec = lock(rec);
    let call = rec.served.entry((id, server)).or_default();
    call.runs += 1;
    call.client.clone_from(&ctx.client_id);
    call.session.clone_from(&ctx.session_id);
}

fn received(rec: &Shared, server: usize, ctx: &CallContext, id: u64, i: u64) {
    let mut rec = lock(rec);
    let call = rec.served.entry((id, server)).or_default();
    call.got.push(i);
    if ctx.is_cancelled() {
        call.after_cancel += 1;
    }
}

/// `sim.echo` (rpc), `sim.echo_stream`, `sim.collect` (upload), `sim.count` (subscription),
/// recording what they see as server process `server`.
fn service(rec: &Shared, server: usize) -> Service {
    let (r1, r2, r3, r4) = (rec.clone(), rec.clone(), rec.clone(), rec.clone());
    Service::new(SERVICE)
        .rpc("echo", move |ctx: CallContext, id: Id| {
            served(&r1, server, &ctx, id.id);
            async move {
                Ok::<_, RiverError>(Served {
                    id: id.id,
                    process: server,
                    session: ctx.session_id,
                })
            }
        })
        .stream(
            "echo_stream",
            move |ctx: CallContext, id: Id, mut reqs: Requests<Item>, out: Responses<Item>| {
                served(&r2, server, &ctx, id.id);
                let rec = r2.clone();
                async move {
                    while let Some(item) = reqs.next().await {
                        received(&rec, server, &ctx, id.id, item.i);
                        if out.send(Ok(item)).is_err() {
                            break;
                        }
                    }
                    Ok(())
                }
            },
        )
        .upload(
            "collect",
            move |ctx: CallContext, id: Id, mut reqs: Requests<Item>| {
                served(&r3, server, &ctx, id.id);
                let rec = r3.clone();
                async move {
                    let mut all = Vec::new();
                    while let Some(item) = reqs.next().await {
                        received(&rec, server, &ctx, id.id, item.i);
                        all.push(item.i);
                    }
                    Ok::<_, RiverError>(all)
                }
            },
        )
        .subscription(
            "count",
            move |ctx: CallContext, sub: Sub, out: Responses<Item>| {
                served(&r4, server, &ctx, sub.id);
                async move {
                    for i in 0..u64::from(sub.items) {
                        sleep(Duration::from_millis(sub.gap_ms)).await;
                        if out.send(Ok(Item { i })).is_err() {
                            break;
                        }
                    }
                    Ok(())
                }
            },
        )
}

// ----- the world -----------------------------------------------------------------------------

fn session_options() -> SessionOptions {
    SessionOptions {
        heartbeat_interval: HEARTBEAT,
        heartbeats_until_dead: HEARTBEATS_UNTIL_DEAD,
        session_disconnect_grace: GRACE,
        ..SessionOptions::default()
    }
}

/// A server process.
struct ServerProc {
    number: usize,
    transport: ServerTransport,
    _router: statebound_river::router::RiverServer,
}

/// A client process.
#[derive(Clone)]
struct ClientProc {
    transport: ClientTransport,
    river: RiverClient,
}

struct World {
    net: Net,
    rec: Shared,
    server: Arc<Mutex<Option<ServerProc>>>,
    clients: Vec<ClientProc>,
    /// Transports replaced during the run (restarts, amnesia), closed at the end again.
    retired_servers: Vec<ServerTransport>,
    retired_clients: Vec<ClientTransport>,
    observers: Vec<JoinHandle<()>>,
    work: Vec<(String, JoinHandle<()>)>,
    instances: usize,
    /// Server processes started.
    servers: usize,
    /// The codec of each client.
    codecs: Vec<CodecKind>,
    plant: Option<Plant>,
}

/// Records what `rx` reports until its transport closes.
fn observe(
    rec: &Shared,
    name: String,
    client: Option<usize>,
    mut rx: tokio::sync::mpsc::Receiver<TransportEvent>,
    plant: Option<Plant>,
) -> JoinHandle<()> {
    let rec = rec.clone();
    tokio::spawn(async move {
        let mut messages = 0;
        let mut log = Log {
            name,
            client,
            events: Vec::new(),
            closed: false,
        };
        while let Some(event) = rx.recv().await {
            let obs = match event {
                TransportEvent::Message {
                    session_id, msg, ..
                } => Obs::Message {
                    session: session_id,
                    payload: msg.payload.clone(),
                },
                TransportEvent::SessionStatus {
                    session_id, status, ..
                } => Obs::Status {
                    session: session_id,
                    status,
                },
                TransportEvent::SessionTransition {
                    session_id,
                    from,
                    to,
                    transition,
                    ..
                } => Obs::Transition {
                    session: session_id,
                    from,
                    to,
                    transition,
                },
                TransportEvent::ProtocolError { error, .. } => {
                    Obs::ProtocolError(format!("{error:?}"))
                }
                TransportEvent::TransportClosed => {
                    log.closed = true;
                    break;
                }
            };
            if let Obs::Message { .. } = obs {
                messages += 1;
                match plant {
                    Some(Plant::LoseMessage(n)) if n == messages => continue,
                    Some(Plant::RepeatMessage(n)) if n == messages => log.events.push(obs.clone()),
                    _ => {}
                }
            }
            log.events.push(obs);
        }
        lock(&rec).logs.push(log);
    })
}

impl World {
    fn trace(&self, line: String) {
        lock(&self.rec).trace.push(line);
    }

    fn start_server(&mut self) -> ServerProc {
        let options = ServerOptions {
            session: session_options(),
            ..ServerOptions::default()
        };
        let transport = ServerTransport::new(SERVER, options);
        self.instances += 1;
        let rx = transport.subscribe_status();
        self.observers.push(observe(
            &self.rec,
            format!("server #{}", self.instances),
            None,
            rx,
            None,
        ));
        self.servers += 1;
        let router =
            statebound_river::router::serve(&transport, vec![service(&self.rec, self.servers)]);
        self.net.listen(SERVER, transport.clone());
        ServerProc {
            number: self.servers,
            transport,
            _router: router,
        }
    }

    fn start_client(&mut self, client: usize, codec: CodecKind) -> ClientProc {
        let id = client_id(client);
        let options = ClientOptions {
            session: SessionOptions {
                codec,
                ..session_options()
            },
            retry: RetryOptions {
                // Jitter is drawn from the process's random source; the schedule varies timing.
                max_jitter: Duration::ZERO,
                ..RetryOptions::default()
            },
            ..ClientOptions::default()
        };
        let dialer = SimDialer {
            net: self.net.clone(),
            client: id.clone(),
        };
        let transport = ClientTransport::new(id.clone(), Arc::new(dialer), options);
        self.instances += 1;
        let rx = transport.subscribe();
        self.observers.push(observe(
            &self.rec,
            format!("{id} #{}", self.instances),
            Some(client),
            rx,
            self.plant,
        ));
        let river = RiverClient::new(transport.clone(), SERVER);
        ClientProc { transport, river }
    }

    fn spawn_work(&mut self, index: usize, action: &Action) {
        let name = format!("step {index}: {action:?}");
        let caller = |client: usize| Caller {
            rec: self.rec.clone(),
            proc: self.clients[client].clone(),
            client,
            id: index as u64,
            plant: self.plant,
        };
        let handle = match *action {
            Action::Rpc { client } => tokio::spawn(caller(client).rpc()),
            Action::Stream {
                client,
                requests,
                gap,
            } => tokio::spawn(caller(client).stream(requests, gap)),
            Action::Upload {
                client,
                requests,
                gap,
            } => tokio::spawn(caller(client).upload(requests, gap)),
            Action::Subscribe { client, items, gap } => {
                tokio::spawn(caller(client).subscribe(items, gap))
            }
            Action::Push { client, count, gap } => {
                let (rec, server) = (self.rec.clone(), self.server.clone());
                tokio::spawn(push(rec, server, client, index as u64, count, gap))
            }
            Action::Fault(_) => unreachable!("faults are not work"),
        };
        self.work.push((name, handle));
    }

    /// Undoes a fault after `lasts`.
    fn for_a_while(
        &mut self,
        what: &str,
        lasts: Duration,
        undo: impl FnOnce(&Net) + Send + 'static,
    ) {
        let net = self.net.clone();
        let handle = tokio::spawn(async move {
            sleep(lasts).await;
            undo(&net);
        });
        self.work.push((format!("{what} ends"), handle));
    }

    async fn fault(&mut self, fault: &Fault) {
        const BOTH: [Way; 2] = [Way::ToServer, Way::ToClient];
        match *fault {
            Fault::Drop { client } => self.net.drop_links(Some(&client_id(client))),
            Fault::CleanClose { client } => self.net.close_links(&client_id(client)),
            Fault::BlackHole { client, lasts } => {
                let id = client_id(client);
                self.net.set_dead(&id, &BOTH, true);
                self.for_a_while("black hole", lasts, move |n| n.set_dead(&id, &BOTH, false));
            }
            Fault::HalfOpen { client, way, lasts } => {
                let id = client_id(client);
                self.net.set_dead(&id, &[way], true);
                self.for_a_while("half-open link", lasts, move |n| {
                    n.set_dead(&id, &[way], false);
                });
            }
            Fault::Delay {
                client,
                delay,
                lasts,
            } => {
                let id = client_id(client);
                self.net.set_delay(&id, delay);
                self.for_a_while("delay", lasts, move |n| n.set_delay(&id, Duration::ZERO));
            }
            Fault::Partition {
                client,
                dials,
                lasts,
            } => {
                let id = client_id(client);
                self.net.partition(&id, dials);
                self.for_a_while("partition", lasts, move |n| n.heal(&id));
            }
            Fault::RestartServer => {
                // The process dies: its sockets reset, its sessions are gone with it.
                let old = self.net.unlisten(SERVER);
                self.net.drop_links(None);
                if let Some(old) = old {
                    old.close().await;
                    self.retired_servers.push(old);
                }
                let fresh = self.start_server();
                *lock(&self.server) = Some(fresh);
            }
            Fault::ClientAmnesia { client } => {
                self.net.drop_links(Some(&client_id(client)));
                let fresh = self.start_client(client, self.codecs[client]);
                let old = std::mem::replace(&mut self.clients[client], fresh);
                old.transport.close().await;
                self.retired_clients.push(old.transport);
            }
        }
    }

    /// Runs the schedule, lets the faults heal, checks every client can still call, and
    /// closes everything.
    async fn run(mut self, schedule: &Schedule) {
        self.codecs.clone_from(&schedule.codecs);
        let start = Instant::now();
        let server = self.start_server();
        *lock(&self.server) = Some(server);
        for client in 0..schedule.clients {
            let proc = self.start_client(client, schedule.codecs[client]);
            self.clients.push(proc);
        }
        for (index, step) in schedule.steps.iter().enumerate() {
            sleep_until(start + step.at).await;
            self.trace(format!("{:?} step {index}", start.elapsed()));
            match &step.action {
                Action::Fault(fault) => self.fault(fault).await,
                action => self.spawn_work(index, action),
            }
        }
        // Everything scheduled has started: wait for the work, then heal.
        let deadline = Instant::now() + AFTERMATH;
        for (name, handle) in std::mem::take(&mut self.work) {
            if timeout(deadline - Instant::now(), handle).await.is_err() {
                lock(&self.rec).stuck.push(name);
            }
        }
        for client in 0..schedule.clients {
            let id = client_id(client);
            self.net.heal(&id);
            self.net.set_delay(&id, Duration::ZERO);
            self.net
                .set_dead(&id, &[Way::ToServer, Way::ToClient], false);
        }
        // Every client gets a call through once the network is whole again.
        for client in 0..schedule.clients {
            // A call made while a session is still ending fails with it; the next one gets
            // through on a new session.
            let river = self.clients[client].river.clone();
            let mut outcome = Err(String::new());
            for attempt in 0..3 {
                let id = u64::MAX - 3 * client as u64 - attempt;
                let answer = timeout(
                    deadline - Instant::now(),
                    river.rpc::<_, Served>(SERVICE, "echo", &Id { id }),
                )
                .await;
                outcome = match answer {
                    Ok(Ok(answer)) => Ok((answer.process, answer.session)),
                    Ok(Err(e)) => Err(format!("{e}")),
                    Err(_) => Err("no answer".into()),
                };
                if outcome.is_ok() {
                    break;
                }
            }
            lock(&self.rec).recovery.push(outcome);
        }
        self.trace(format!("{:?} recovered", start.elapsed()));
        let server = lock(&self.server)
            .as_ref()
            .map(|s| s.transport.clone())
            .expect("a server runs");
        for client in &self.clients {
            client.transport.close().await;
        }
        server.close().await;
        for old in &self.retired_servers {
            old.close().await;
        }
        for old in &self.retired_clients {
            old.close().await;
        }
        self.trace(format!("{:?} closed", start.elapsed()));
        for observer in std::mem::take(&mut self.observers) {
            if timeout(Duration::from_secs(10), observer).await.is_err() {
                lock(&self.rec).stuck.push("an observer".into());
            }
        }
        // Counted at once: `close()` has returned and the observers have seen it.
        let mut transport_tasks = server.live_tasks();
        let mut transport_connections = server.connection_count();
        for t in self
            .clients
            .iter()
            .map(|c| &c.transport)
            .chain(&self.retired_clients)
        {
            transport_tasks += t.live_tasks();
            transport_connections += t.connection_count();
        }
        for t in &self.retired_servers {
            transport_tasks += t.live_tasks();
            transport_connections += t.connection_count();
        }
        let mut rec = lock(&self.rec);
        rec.dials = self.net.dials();
        rec.leftovers = Leftovers {
            runtime_tasks: tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
            transport_tasks,
            transport_connections,
            open_links: self.net.open_links(),
            live_ends: self.net.live_ends(),
        };
    }
}

/// Runs `schedule` on a fresh current-thread runtime with paused time.
pub(crate) fn run(schedule: &Schedule) -> Record {
    run_with(schedule, None)
}

/// Runs `schedule` with `plant` planted.
pub(crate) fn run_with(schedule: &Schedule, plant: Option<Plant>) -> Record {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let rec: Shared = Arc::default();
    let world = World {
        net: Net::default(),
        rec: rec.clone(),
        server: Arc::default(),
        clients: Vec::new(),
        retired_servers: Vec::new(),
        retired_clients: Vec::new(),
        observers: Vec::new(),
        work: Vec::new(),
        instances: 0,
        servers: 0,
        codecs: Vec::new(),
        plant,
    };
    runtime.block_on(async move { world.run(schedule).await });
    drop(runtime);
    Arc::try_unwrap(rec).map_or_else(
        |rec| std::mem::take(&mut *lock(&rec)),
        |m| m.into_inner().unwrap_or_else(PoisonError::into_inner),
    )
}

// ----- the work ------------------------------------------------------------------------------

/// One call, as its client makes and records it.
struct Caller {
    rec: Shared,
    proc: ClientProc,
    client: usize,
    id: u64,
    plant: Option<Plant>,
}

/// How a call went, in the client's words.
#[derive(Default)]
struct Outcome {
    written: u32,
    got: Vec<u64>,
    after_end: u32,
    served_on: Option<String>,
}

impl Caller {
    fn session(&self) -> Option<String> {
        self.proc.transport.session_id(SERVER)
    }

    /// Makes the call `make` and records how it went.
    async fn record<F>(self, kind: Kind, make: impl FnOnce(RiverClient, u64, Option<Plant>) -> F)
    where
        F: Future<Output = (End, Outcome)>,
    {
        let before = self.session();
        let (end, outcome) = make(self.proc.river.clone(), self.id, self.plant).await;
        let after = self.session();
        lock(&self.rec).calls.push(ClientCall {
            id: self.id,
            kind,
            client: self.client,
            written: outcome.written,
            got: outcome.got,
            end,
            after_end: outcome.after_end,
            sessions: (before, after),
            served_on: outcome.served_on,
        });
    }

    async fn rpc(self) {
        self.record(Kind::Rpc, |river, id, _| async move {
            match river.rpc::<_, Served>(SERVICE, "echo", &Id { id }).await {
                Ok(served) => {
                    let outcome = Outcome {
                        got: vec![served.id],
                        served_on: Some(served.session),
                        ..Outcome::default()
                    };
                    (End::Ok, outcome)
                }
                Err(e) => (End::of(&e), Outcome::default()),
            }
        })
        .await;
    }

    async fn stream(self, requests: u32, gap: Duration) {
        self.record(Kind::Stream, |river, id, plant| async move {
            let mut outcome = Outcome::default();
            let opened = river
                .stream::<_, Item, Item>(SERVICE, "echo_stream", &Id { id })
                .await;
            let end = match opened {
                Ok((writer, results)) => {
                    let (written, end) = tokio::join!(
                        write_all(writer, requests, gap),
                        read_all(results, &mut outcome, plant)
                    );
                    outcome.written = written;
                    end
                }
                Err(e) => End::of(&e),
            };
            (end, outcome)
        })
        .await;
    }

    async fn upload(self, requests: u32, gap: Duration) {
        self.record(Kind::Upload, |river, id, _| async move {
            let mut outcome = Outcome::default();
            let opened = river
                .upload::<_, Item, Vec<u64>>(SERVICE, "collect", &Id { id })
                .await;
            let end = match opened {
                Ok((writer, result)) => {
                    outcome.written = write_all(writer, requests, gap).await;
                    match result.await {
                        Ok(all) => {
                            outcome.got = all;
                            End::Ok
                        }
                        Err(e) => End::of(&e),
                    }
                }
                Err(e) => End::of(&e),
            };
            (end, outcome)
        })
        .await;
    }

    async fn subscribe(self, items: u32, gap: Duration) {
        self.record(Kind::Subscribe, |river, id, plant| async move {
            let mut outcome = Outcome {
                written: items,
                ..Outcome::default()
            };
            let sub = Sub {
                id,
                items,
                gap_ms: u64::try_from(gap.as_millis()).unwrap_or(u64::MAX),
            };
            let end = match river.subscribe::<_, Item>(SERVICE, "count", &sub).await {
                Ok(results) => read_all(results, &mut outcome, plant).await,
                Err(e) => End::of(&e),
            };
            (end, outcome)
        })
        .await;
    }
}

/// Reads results into `outcome` until the stream ends; the first error ends the call, and
/// anything after it is counted.
async fn read_all<S>(mut results: S, outcome: &mut Outcome, plant: Option<Plant>) -> End
where
    S: futures_util::Stream<Item = Result<Item, RiverError>> + Unpin,
{
    let mut end = End::Ok;
    while let Some(item) = results.next().await {
        match (&end, item) {
            (End::Ok, Ok(item)) => {
                if plant == Some(Plant::RepeatResult(outcome.got.len() + 1)) {
                    outcome.got.push(item.i);
                }
                outcome.got.push(item.i);
            }
            (End::Ok, Err(e)) => end = End::of(&e),
            (End::Err { .. }, _) => outcome.after_end += 1,
        }
    }
    end
}

/// Writes `requests` items `gap` apart, then closes; returns how many the writer took.
async fn write_all(
    writer: statebound_river::router::RequestWriter<Item>,
    requests: u32,
    gap: Duration,
) -> u32 {
    let mut written = 0;
    for i in 0..requests {
        sleep(gap).await;
        if writer.write(&Item { i: u64::from(i) }).await.is_err() {
            break;
        }
        written += 1;
    }
    let _ = writer.close().await;
    written
}

/// Pushes `count` messages to `client` on whatever session it has with the server at the
/// time, recording the ones a session took.
async fn push(
    rec: Shared,
    server: Arc<Mutex<Option<ServerProc>>>,
    client: usize,
    id: u64,
    count: u32,
    gap: Duration,
) {
    let to = client_id(client);
    for k in 0..count {
        sleep(gap).await;
        let Some((process, transport)) = lock(&server)
            .as_ref()
            .map(|s| (s.number, s.transport.clone()))
        else {
            continue;
        };
        let Some(session) = transport.session_id(&to) else {
            continue;
        };
        let payload = PushPayload {
            process,
            push: id,
            k,
            session: session.clone(),
        };
        let msg = PartialMessage {
            stream_id: format!("push-{id}"),
            control_flags: 0,
            service_name: None,
            procedure_name: None,
            tracing: None,
            payload: to_payload(&payload).expect("a push encodes"),
        };
        if transport.send_on_session(&to, &session, msg).await.is_ok() {
            lock(&rec).pushed.push(Pushed {
                client,
                process,
                session,
                push: id,
                k,
            });
        }
    }
}

/// Reads a pushed message's payload: the server process, the push, its number, its session.
pub(crate) fn read_push(payload: &Value) -> Option<(usize, u64, u32, String)> {
    let p: PushPayload = from_payload(payload).ok()?;
    Some((p.process, p.push, p.k, p.session))
}
