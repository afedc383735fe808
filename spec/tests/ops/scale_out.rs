//! Three `river-echo` instances behind a real nginx (Debian's `nginx`), which keeps each client
//! on one instance by hashing the `river_client` query parameter the client's URL function
//! adds. One instance is killed while every client has a subscription running: its clients'
//! calls end with `UNEXPECTED_DISCONNECT` and they carry on in a new session on another
//! instance; the other clients' subscriptions and sessions go on untouched.
//!
//! nginx runs with its own configuration, prefix and logs in a temporary directory, on
//! loopback ports only. When nginx is missing the test tries `apt-get install nginx`, and only
//! if that fails too does it skip, saying so. A second test drains one instance with SIGTERM.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::interop_support::{Cast, Peer, RELEASED_PORTS, river_echo};
use crate::programs;
use futures_util::StreamExt as _;
use statebound_river::echo_service::{Count, CountdownInit, Msg};
use statebound_river::router::{ResponseStream, RiverClient, codes};
use statebound_river::transport::{
    ClientOptions, ClientTransport, TransportEvent, UrlFn, WsDialer,
};
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(20);
const INSTANCES: usize = 3;
const CLIENTS: usize = 12;

/// A free loopback port (bound and released; nginx binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx with the configuration of the README's deployment section, in a directory of its own.
struct Nginx {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(dir: &Path, listen: SocketAddr, upstreams: &[SocketAddr]) -> String {
    let d = dir.display();
    let mut servers = String::new();
    for u in upstreams {
        let _ = writeln!(servers, "        server {u} max_fails=1 fail_timeout=30s;");
    }
    format!(
        "# One process, no workers: killing it at the end leaves nothing behind.
master_process off;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream river {{
        # One client, one instance: the key is what the client's URL function adds.
        hash $arg_river_client consistent;
{servers}    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://river;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
            proxy_read_timeout 1h;
        }}
    }}
}}
"
    )
}

impl Nginx {
    async fn start(program: &Path, upstreams: &[SocketAddr]) -> Nginx {
        let dir = std::env::temp_dir().join(format!("river-scale-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(&dir, addr, upstreams)).unwrap();
        let child = Command::new(program)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts");
        let nginx = Nginx { child, dir, addr };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return nginx;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nginx did not listen on {addr}; its log:\n{}", nginx.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

/// A client that reaches the servers through nginx, keyed on its own id.
struct Client {
    id: String,
    river: RiverClient,
    events: Arc<Mutex<Vec<String>>>,
}

fn client(id: &str, lb: SocketAddr) -> Client {
    let url = format!("ws://{lb}/?river_client={id}");
    let url_fn: UrlFn = Arc::new(move |_| {
        let url = url.clone();
        Box::pin(async move { Ok(url) })
    });
    let transport = ClientTransport::new(
        id,
        Arc::new(WsDialer::new(url_fn)),
        ClientOptions::default(),
    );
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut rx = transport.subscribe_status();
    let log = Arc::clone(&events);
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if let TransportEvent::SessionTransition { transition, .. } = event {
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(transition.to_owned());
            }
        }
    });
    Client {
        id: id.to_owned(),
        river: RiverClient::new(transport, "SERVER"),
        events,
    }
}

impl Client {
    fn lost_connections(&self) -> usize {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|t| *t == "connection_lost")
            .count()
    }

    fn session(&self) -> Option<String> {
        self.river.transport().session_id("SERVER")
    }
}

/// The instance whose output shows `client`'s session `session_id` connecting.
fn instance_of(instances: &[Option<Peer>], client: &str, session_id: &str) -> Option<usize> {
    let line = format!("{client} {session_id}: WaitingForHandshake -> Connected");
    instances
        .iter()
        .position(|e| e.as_ref().is_some_and(|e| e.count(&line) > 0))
}

async fn next_count(stream: &mut ResponseStream<Count>) -> Option<Result<Count, String>> {
    match timeout(STEP, stream.next()).await {
        Ok(Some(Ok(count))) => Some(Ok(count)),
        Ok(Some(Err(e))) => Some(Err(e.code)),
        Ok(None) => None,
        Err(_) => Some(Err("no item within the step".into())),
    }
}

/// Waits for the instance that shows `c`'s current session connecting.
async fn home_of(instances: &[Option<Peer>], c: &Client) -> Option<usize> {
    let session = c.session()?;
    // river-echo prints the line as the session connects; give its stdout a moment.
    for _ in 0..100 {
        if let Some(home) = instance_of(instances, &c.id, &session) {
            return Some(home);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// `c` calls once and opens a long subscription, which has sent its first item.
async fn start_client(c: &Client) -> Result<ResponseStream<Count>, String> {
    let echoed: Result<Msg, _> = timeout(
        STEP,
        c.river.rpc("test", "echo", &Msg { msg: c.id.clone() }),
    )
    .await
    .map_err(|_| format!("{}: an rpc through nginx timed out", c.id))?;
    echoed.map_err(|e| format!("{}: {e:?}", c.id))?;
    let mut stream = c
        .river
        .subscribe::<_, Count>("test", "countdown", &CountdownInit { from: 10_000 })
        .await
        .map_err(|e| format!("{}: {e:?}", c.id))?;
    match next_count(&mut stream).await {
        Some(Ok(Count { n: 10_000 })) => Ok(stream),
        other => Err(format!("{}: first item {other:?}", c.id)),
    }
}

/// A client of the killed instance: its call is cut off cleanly, and it carries on in a new
/// session on another instance.
async fn check_moved(
    instances: &[Option<Peer>],
    victim: usize,
    c: &Client,
    stream: &mut ResponseStream<Count>,
    session: &str,
) -> Result<(), String> {
    let mut outcome = next_count(stream).await;
    while let Some(Ok(_)) = outcome {
        outcome = next_count(stream).await;
    }
    if outcome != Some(Err(codes::UNEXPECTED_DISCONNECT.to_owned())) {
        return Err(format!(
            "{}: the in-flight call ended with {outcome:?}",
            c.id
        ));
    }
    let again: Msg = timeout(
        STEP,
        c.river.rpc(
            "test",
            "echo",
            &Msg {
                msg: "again".into(),
            },
        ),
    )
    .await
    .map_err(|_| format!("{}: the rpc after the kill timed out", c.id))?
    .map_err(|e| format!("{}: {e:?}", c.id))?;
    if again.msg != "again" {
        return Err(format!("{}: echo answered {again:?}", c.id));
    }
    let new_session = c.session().unwrap_or_default();
    if new_session == session {
        return Err(format!(
            "{} kept session {session} on a dead instance",
            c.id
        ));
    }
    match home_of(instances, c).await {
        Some(home) if home != victim => Ok(()),
        other => Err(format!("{}'s new session is on instance {other:?}", c.id)),
    }
}

/// A client of another instance: its subscription goes on, in the same session, on the same
/// connection.
async fn check_untouched(
    c: &Client,
    stream: &mut ResponseStream<Count>,
    session: &str,
) -> Result<(), String> {
    for _ in 0..2 {
        match next_count(stream).await {
            Some(Ok(_)) => {}
            other => return Err(format!("{}'s subscription was disturbed: {other:?}", c.id)),
        }
    }
    if c.session().as_deref() != Some(session) {
        return Err(format!("{} lost its session {session}", c.id));
    }
    if c.lost_connections() != 0 {
        return Err(format!("{} lost its connection", c.id));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_moves_only_its_own_clients() {
    // nginx's port is picked free and released before nginx binds it.
    let _ports = RELEASED_PORTS.lock().await;
    let Some(program) = programs::find_or_install("scale_out", "nginx", &["nginx"]) else {
        eprintln!(
            "scale_out: SKIPPED: nginx is not installed and could not be installed \
             (apt-get install nginx); scale-out behind a load balancer was not tested"
        );
        return;
    };
    let mut instances = Vec::new();
    let mut upstreams = Vec::new();
    for _ in 0..INSTANCES {
        let (peer, addr) = river_echo(&[]).await;
        instances.push(Some(peer));
        upstreams.push(addr);
    }
    let lb = Nginx::start(&program, &upstreams).await;
    let fail = |instances: &[Option<Peer>], why: &str| -> ! {
        eprintln!("nginx log:\n{}", lb.log());
        Cast(instances.iter().flatten().collect()).fail(why)
    };

    // Every client calls once and opens a long subscription; each lands on one instance.
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|i| client(&format!("client-{i}"), lb.addr))
        .collect();
    let mut streams = Vec::new();
    let mut homes = Vec::new();
    for c in &clients {
        streams.push(
            start_client(c)
                .await
                .unwrap_or_else(|e| fail(&instances, &e)),
        );
        match home_of(&instances, c).await {
            Some(home) => homes.push(home),
            None => fail(&instances, &format!("no instance shows {}'s session", c.id)),
        }
    }
    let victim = homes[0];
    if homes.iter().all(|h| *h == victim) {
        fail(
            &instances,
            "every client landed on one instance: the hash did not spread them",
        );
    }
    let sessions: Vec<String> = clients.iter().map(|c| c.session().unwrap()).collect();

    // Kill the first client's instance mid-stream.
    drop(instances[victim].take());
    for ((c, stream), (home, session)) in clients
        .iter()
        .zip(&mut streams)
        .zip(homes.iter().zip(&sessions))
    {
        let checked = if *home == victim {
            check_moved(&instances, victim, c, stream, session).await
        } else {
            check_untouched(c, stream, session).await
        };
        if let Err(why) = checked {
            fail(&instances, &why);
        }
    }
    for c in &clients {
        c.river.transport().close().await;
    }
}

/// SIGTERM drains an instance: it refuses new connections (and, with `--metrics`, its
/// `/healthz` says so) while its sessions go on; once the last has ended it exits by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_an_instance() {
    // The drained instance's port must stay unbound while the test checks that it is refused.
    let _ports = RELEASED_PORTS.lock().await;
    let metrics = cfg!(feature = "status");
    let args: &[&str] = if metrics {
        &["--metrics", "127.0.0.1:0", "--drain-timeout", "20"]
    } else {
        &["--drain-timeout", "20"]
    };
    let (echo, addr) = river_echo(args).await;
    let health = if metrics {
        let Some(line) = echo
            .wait_for_stdout(STEP, |l| l.starts_with("status page on http://"))
            .await
        else {
            Cast(vec![&echo]).fail("no status page address");
        };
        Some(
            line["status page on http://".len()..]
                .trim_end_matches('/')
                .to_owned(),
        )
    } else {
        None
    };
    let c = client("draining-client", addr);
    let mut stream = c
        .river
        .subscribe::<_, Count>("test", "countdown", &CountdownInit { from: 30 })
        .await
        .unwrap();
    assert_eq!(next_count(&mut stream).await, Some(Ok(Count { n: 30 })));
    if let Some(http) = &health {
        assert_eq!(healthz(http).await, "200");
    }

    let killed = Command::new("kill")
        .args(["-TERM", &echo.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // "draining:", not "draining": the client's own lines (`draining-client session-..`)
    // start with "draining" too.
    if echo
        .wait_for_stdout(STEP, |l| l.starts_with("draining:"))
        .await
        .is_none()
    {
        Cast(vec![&echo]).fail("river-echo did not say it was draining");
    }
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(
        refused.is_err(),
        "a draining instance takes no new connection: {:?}",
        refused.map(|s| (s.local_addr(), s.peer_addr()))
    );
    if let Some(http) = &health {
        assert_eq!(healthz(http).await, "503");
    }
    // The session goes on to the subscription's end.
    let mut last = None;
    while let Some(item) = next_count(&mut stream).await {
        match item {
            Ok(count) => last = Some(count.n),
            Err(e) => Cast(vec![&echo]).fail(&format!("the draining session failed: {e}")),
        }
    }
    assert_eq!(last, Some(0));
    assert_eq!(c.lost_connections(), 0);
    // The client leaves; its session ends; the instance exits.
    c.river.transport().close().await;
    let status = echo.wait_for_exit(STEP).await;
    Cast(vec![&echo]).check(status.is_some_and(|s| s.success()), || {
        format!("river-echo did not exit cleanly after draining: {status:?}")
    });
    assert_eq!(echo.count("drained"), 1);
}

/// The status code `/healthz` answers on `http` (host:port).
async fn healthz(http: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(http).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).await.unwrap();
    text.split(' ').nth(1).unwrap_or_default().to_owned()
}
