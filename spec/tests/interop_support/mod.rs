//! Support for the tests that start `river-echo`, `river` and the scripts of River's Python
//! package (the `interop` binary's `python` and `rehandshake`, the `ops` binary's `river_cli`
//! and `scale_out`).
//!
//! - [`Peer`]: a child process (river-echo, or a script under `interop/python/`) whose stdout
//!   and stderr are captured line by line, whose every wait is bounded, and which is killed and
//!   reaped when dropped.
//! - [`Cast`]: the peers of one test, to put all of their output in a failure message.
//! - [`Proxy`]: a loopback TCP proxy that can sever every live connection at once, lose what a
//!   client writes before a cut, and keeps each connection's HTTP upgrade request and the
//!   WebSocket messages its client sent.
//!
//! The Python interpreter is the venv that `bash interop/setup.sh` creates
//! (`interop/.venv/bin/python`), or `$RIVER_INTEROP_PYTHON`. Set `RIVER_INTEROP_VERBOSE=1` (and
//! pass `--nocapture`) to see every peer's output from passing tests too.

// Each test uses a different part of this module.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value as Json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep, timeout};

/// How often the bounded waits look again.
const POLL: Duration = Duration::from_millis(20);

/// Held by a test while it counts on a loopback port it released staying unbound (nothing may
/// answer there), and from picking a free port to a child process binding it (nginx): the tests
/// of one binary run side by side, and the port one of them releases could be the one another
/// picks next.
pub(crate) static RELEASED_PORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The workspace root.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

/// The Python that runs the scripts: `$RIVER_INTEROP_PYTHON`, else the venv that
/// `interop/setup.sh` makes. Panics (the test fails) when it is missing.
pub(crate) fn python() -> PathBuf {
    let path = match std::env::var_os("RIVER_INTEROP_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("interop/.venv/bin/python"),
    };
    assert!(
        path.exists(),
        "no Python for the interop tests at {}: run bash interop/setup.sh first \
         (or point RIVER_INTEROP_PYTHON at a python with replit-river==0.17.20)",
        path.display()
    );
    path
}

/// A script in `interop/python/`.
pub(crate) fn script(name: &str) -> PathBuf {
    let path = workspace_root().join("interop/python").join(name);
    assert!(path.exists(), "no interop script {}", path.display());
    path
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pipe {
    Out,
    Err,
}

#[derive(Default)]
struct Captured {
    lines: Vec<(Pipe, String)>,
}

/// A child process with captured output. Dropping it kills it and reaps it.
pub(crate) struct Peer {
    name: String,
    command: String,
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    captured: Arc<Mutex<Captured>>,
    readers: Vec<JoinHandle<()>>,
    status: Mutex<Option<ExitStatus>>,
}

fn read_lines(
    pipe: impl Read + Send + 'static,
    which: Pipe,
    into: Arc<Mutex<Captured>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_owned();
            into.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .lines
                .push((which, text));
        }
    })
}

impl Peer {
    /// Starts `program args` with piped stdio; `name` labels its output in failure messages.
    pub(crate) fn spawn<S: AsRef<OsStr>>(
        name: &str,
        program: impl AsRef<OsStr>,
        args: impl IntoIterator<Item = S>,
    ) -> Peer {
        Peer::spawn_with_env(name, program, args, &[])
    }

    /// Like [`spawn`](Self::spawn), with `env` added to the environment.
    pub(crate) fn spawn_with_env<S: AsRef<OsStr>>(
        name: &str,
        program: impl AsRef<OsStr>,
        args: impl IntoIterator<Item = S>,
        env: &[(&str, &str)],
    ) -> Peer {
        let mut cmd = Command::new(program.as_ref());
        cmd.envs(env.iter().copied());
        cmd.args(args)
            .current_dir(workspace_root())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let command = format!(
            "{} {}",
            cmd.get_program().to_string_lossy(),
            cmd.get_args()
                .map(OsStr::to_string_lossy)
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command}): {e}"));
        let captured = Arc::new(Mutex::new(Captured::default()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let readers = vec![
            read_lines(stdout, Pipe::Out, Arc::clone(&captured)),
            read_lines(stderr, Pipe::Err, Arc::clone(&captured)),
        ];
        let stdin = child.stdin.take();
        Peer {
            name: name.to_owned(),
            command,
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            captured,
            readers,
            status: Mutex::new(None),
        }
    }

    /// Runs `interop/python/<file>` with the interop Python.
    pub(crate) fn python_script<S: AsRef<OsStr>>(
        file: &str,
        args: impl IntoIterator<Item = S>,
    ) -> Peer {
        let mut all: Vec<std::ffi::OsString> = vec![script(file).into_os_string()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        Peer::spawn(file, python(), all)
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .id()
    }

    /// The label given at start.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Stdout so far, line by line.
    pub(crate) fn stdout(&self) -> Vec<String> {
        self.lines(Pipe::Out)
    }

    /// Stderr so far, line by line.
    pub(crate) fn stderr(&self) -> Vec<String> {
        self.lines(Pipe::Err)
    }

    fn lines(&self, which: Pipe) -> Vec<String> {
        self.lock_captured()
            .lines
            .iter()
            .filter(|(pipe, _)| *pipe == which)
            .map(|(_, line)| line.clone())
            .collect()
    }

    /// Waits up to `limit` for a stderr line containing `needle`.
    pub(crate) async fn wait_for_stderr(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.stderr().iter().any(|l| l.contains(needle)) {
                return true;
            }
            if Instant::now() >= deadline || self.exited().is_some() {
                return self.stderr().iter().any(|l| l.contains(needle));
            }
            sleep(POLL).await;
        }
    }

    /// The JSON events (`{"event": ..}` lines) printed so far.
    pub(crate) fn events(&self) -> Vec<Json> {
        self.stdout()
            .iter()
            .filter_map(|line| serde_json::from_str::<Json>(line).ok())
            .filter(|v| v.get("event").is_some())
            .collect()
    }

    /// The first event named `name` printed so far.
    pub(crate) fn event(&self, name: &str) -> Option<Json> {
        self.events().into_iter().find(|e| e["event"] == name)
    }

    /// Everything this process printed, for a failure message.
    pub(crate) fn transcript(&self) -> String {
        let status = match *self.status.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(s) => format!("exited: {s}"),
            None => "still running (killed on drop)".to_owned(),
        };
        let mut out = format!("==== {} [{status}]\n$ {}\n", self.name, self.command);
        for (pipe, line) in &self.lock_captured().lines {
            let tag = match pipe {
                Pipe::Out => "out",
                Pipe::Err => "err",
            };
            let _ = writeln!(out, "  {tag}| {line}");
        }
        out
    }

    fn lock_captured(&self) -> std::sync::MutexGuard<'_, Captured> {
        self.captured.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the process has exited (and records its status).
    pub(crate) fn exited(&self) -> Option<ExitStatus> {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        if status.is_none() {
            let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
            if let Ok(Some(s)) = child.try_wait() {
                *status = Some(s);
            }
        }
        *status
    }

    /// Waits up to `limit` for a stdout line that `matches`; `None` if none came in time or the
    /// process exited without printing one.
    pub(crate) async fn wait_for_stdout(
        &self,
        limit: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            // Look at the status first: output printed before the exit is read by then, or
            // within the readers' grace below.
            let exited = self.exited().is_some();
            if exited {
                self.wait_for_readers(Duration::from_secs(2)).await;
            }
            if let Some(line) = self.stdout().into_iter().find(|l| matches(l)) {
                return Some(line);
            }
            if exited || Instant::now() >= deadline {
                return None;
            }
            sleep(POLL).await;
        }
    }

    /// Waits up to `limit` for the event `name`.
    pub(crate) async fn wait_for_event(&self, name: &str, limit: Duration) -> Option<Json> {
        let wanted = format!("\"event\": \"{name}\"");
        self.wait_for_stdout(limit, |l| l.contains(&wanted)).await?;
        self.event(name)
    }

    /// Waits until stdout has `count` lines containing `needle`.
    pub(crate) async fn wait_for_count(&self, needle: &str, count: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.count(needle) >= count {
                return true;
            }
            if Instant::now() >= deadline || self.exited().is_some() {
                return self.count(needle) >= count;
            }
            sleep(POLL).await;
        }
    }

    /// Stdout lines containing `needle`.
    pub(crate) fn count(&self, needle: &str) -> usize {
        self.stdout().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits up to `limit` for the process to exit; `None` if it is still running.
    pub(crate) async fn wait_for_exit(&self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                self.wait_for_readers(Duration::from_secs(2)).await;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(POLL).await;
        }
    }

    async fn wait_for_readers(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.readers.iter().all(JoinHandle::is_finished) && Instant::now() < deadline {
            sleep(POLL).await;
        }
    }

    /// Writes `line` and a newline to the process's stdin.
    pub(crate) fn send_line(&self, line: &str) -> std::io::Result<()> {
        let mut stdin = self.stdin.lock().unwrap_or_else(PoisonError::into_inner);
        let pipe = stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("stdin already closed"))?;
        pipe.write_all(format!("{line}\n").as_bytes())?;
        pipe.flush()
    }

    /// Closes the process's stdin (it reads end of input).
    pub(crate) fn close_stdin(&self) {
        self.stdin
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.close_stdin();
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
        }
        // After SIGKILL this returns at once.
        let _ = child.wait();
    }
}

/// The peers of one test, so that a failure shows everything each of them printed.
pub(crate) struct Cast<'a>(pub(crate) Vec<&'a Peer>);

impl Cast<'_> {
    /// Every peer's transcript.
    pub(crate) fn report(&self) -> String {
        self.0.iter().map(|p| p.transcript()).collect()
    }

    /// Fails the test with `why` and every peer's output.
    #[track_caller]
    pub(crate) fn fail(&self, why: &str) -> ! {
        panic!("{why}\n\n{}", self.report())
    }

    /// Fails the test unless `ok`.
    #[track_caller]
    pub(crate) fn check(&self, ok: bool, why: impl FnOnce() -> String) {
        if !ok {
            self.fail(&why());
        }
    }

    /// Waits for `script` to exit successfully within `limit`; fails the test otherwise.
    pub(crate) async fn expect_success(&self, script: &Peer, limit: Duration) {
        match script.wait_for_exit(limit).await {
            Some(status) if status.success() => {}
            Some(status) => self.fail(&format!("{} failed ({status})", script.name())),
            None => self.fail(&format!(
                "{} did not finish within {limit:?}",
                script.name()
            )),
        }
    }

    /// Waits for the event `name` from `peer`; fails the test if it does not come.
    pub(crate) async fn expect_event(&self, peer: &Peer, name: &str, limit: Duration) -> Json {
        match peer.wait_for_event(name, limit).await {
            Some(event) => event,
            None => self.fail(&format!(
                "{} printed no `{name}` event within {limit:?}",
                peer.name()
            )),
        }
    }
}

impl Drop for Cast<'_> {
    /// With `RIVER_INTEROP_VERBOSE` set, prints every peer's output even when the test passes
    /// (run with `--nocapture` to see it).
    fn drop(&mut self) {
        if std::env::var_os("RIVER_INTEROP_VERBOSE").is_some() && !std::thread::panicking() {
            eprintln!("{}", self.report());
        }
    }
}

/// Starts `river-echo --listen 127.0.0.1:0 <args>` and waits for its `listening on ADDR`.
pub(crate) async fn river_echo(args: &[&str]) -> (Peer, SocketAddr) {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let label = format!("river-echo {}", args.join(" "));
    let peer = Peer::spawn(label.trim(), env!("CARGO_BIN_EXE_river-echo"), all);
    let line = peer
        .wait_for_stdout(Duration::from_secs(20), |l| l.starts_with("listening on "))
        .await;
    let Some(line) = line else {
        Cast(vec![&peer]).fail("river-echo did not print `listening on ADDR` within 20 s")
    };
    let addr = line["listening on ".len()..]
        .trim()
        .parse()
        .unwrap_or_else(|e| Cast(vec![&peer]).fail(&format!("bad address in {line:?}: {e}")));
    (peer, addr)
}

/// Starts River's Python v1.1 server (`v1_server.py`) and waits for its address.
pub(crate) async fn python_v1_server(server_id: &str) -> (Peer, SocketAddr) {
    let py = Peer::python_script(
        "v1_server.py",
        [
            "--server-id",
            server_id,
            "--heartbeat-ms",
            "500",
            "--timeout",
            "90",
        ],
    );
    let Some(line) = py
        .wait_for_stdout(Duration::from_secs(20), |l| l.starts_with("listening on "))
        .await
    else {
        Cast(vec![&py]).fail("the Python server did not print `listening on ADDR`")
    };
    let addr = line["listening on ".len()..].trim().to_owned();
    match addr.parse() {
        Ok(addr) => (py, addr),
        Err(e) => Cast(vec![&py]).fail(&format!("bad address {addr}: {e}")),
    }
}

/// A websocket URL for `addr`.
pub(crate) fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}")
}

// ----- the proxy ------------------------------------------------------------------------------

struct Link {
    sever: oneshot::Sender<()>,
    /// Set: what the client writes on this connection is read and dropped.
    swallow: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

struct ProxyState {
    upstream: Mutex<SocketAddr>,
    links: Mutex<Vec<Link>>,
    /// When bytes last went from a client to the server.
    last_upstream: Mutex<Instant>,
    accepted: AtomicUsize,
    severed: AtomicUsize,
    /// Client bytes dropped by [`Proxy::swallow_upstream`].
    swallowed: AtomicUsize,
    /// The HTTP upgrade request of each connection, in the order they were made.
    upgrade_requests: Mutex<Vec<String>>,
    /// Every complete data message clients sent through the proxy, in order, unmasked.
    client_messages: Mutex<Vec<Vec<u8>>>,
}

/// Where an HTTP request's head ends.
const END_OF_HEAD: &[u8] = b"\r\n\r\n";
/// How much of a connection's first bytes is kept while looking for the end of its head.
const MAX_HEAD: usize = 16 * 1024;

/// A loopback TCP proxy: every connection accepted on [`addr`](Proxy::addr) is forwarded to
/// the current upstream. [`sever`](Proxy::sever) drops both sockets of every live connection;
/// later connections pass through again. [`swallow_upstream`](Proxy::swallow_upstream) makes
/// the live connections lose what their clients write. Stops when dropped.
pub(crate) struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy on 127.0.0.1 (any port) in front of `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy on 127.0.0.1");
        let addr = listener.local_addr().expect("the proxy's address");
        let state = Arc::new(ProxyState {
            upstream: Mutex::new(upstream),
            links: Mutex::new(Vec::new()),
            last_upstream: Mutex::new(Instant::now()),
            accepted: AtomicUsize::new(0),
            severed: AtomicUsize::new(0),
            swallowed: AtomicUsize::new(0),
            upgrade_requests: Mutex::new(Vec::new()),
            client_messages: Mutex::new(Vec::new()),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        Proxy {
            addr,
            state,
            accept,
        }
    }

    /// Where clients connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Connections severed so far.
    pub(crate) fn severed(&self) -> usize {
        self.state.severed.load(Ordering::SeqCst)
    }

    /// From now on, every byte a client writes on a connection that is live now is read and
    /// dropped: the client's writes succeed, the server never sees them. Connections made later
    /// pass everything through. This is a frame lost in flight, as a cut connection loses it.
    pub(crate) fn swallow_upstream(&self) {
        for link in self
            .state
            .links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            link.swallow.store(true, Ordering::SeqCst);
        }
    }

    /// Client bytes dropped so far by [`swallow_upstream`](Self::swallow_upstream).
    pub(crate) fn swallowed(&self) -> usize {
        self.state.swallowed.load(Ordering::SeqCst)
    }

    /// Waits (up to `limit`) until [`swallowed`](Self::swallowed) is at least `bytes`.
    pub(crate) async fn wait_swallowed(&self, bytes: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.swallowed() < bytes {
            if Instant::now() >= deadline {
                return false;
            }
            sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// The HTTP upgrade request (request line and headers) of every connection so far.
    pub(crate) fn upgrade_requests(&self) -> Vec<String> {
        self.state
            .upgrade_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The WebSocket data messages clients have sent so far (each one's payload, unmasked and
    /// reassembled), as the server received them.
    pub(crate) fn client_messages(&self) -> Vec<Vec<u8>> {
        self.state
            .client_messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forwards connections made from now on to `upstream`.
    pub(crate) fn set_upstream(&self, upstream: SocketAddr) {
        *self
            .state
            .upstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = upstream;
    }

    /// Drops both sockets of every live connection, abruptly (no WebSocket close frame), and
    /// waits until they are gone. Returns how many there were.
    pub(crate) async fn sever(&self) -> usize {
        let links: Vec<Link> = std::mem::take(
            &mut *self
                .state
                .links
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut count = 0;
        for link in links {
            if link.task.is_finished() {
                continue;
            }
            let _ = link.sever.send(());
            let task = link.task;
            assert!(
                timeout(Duration::from_secs(5), task).await.is_ok(),
                "a proxied connection did not close within 5 s of being severed"
            );
            count += 1;
        }
        self.state.severed.fetch_add(count, Ordering::SeqCst);
        count
    }

    /// Like [`sever`](Self::sever), but first waits (up to `limit`) until no byte has gone from
    /// a client to the server for `quiet`, so that nothing the client wrote is lost in the cut.
    /// River's Python v2 client never retransmits what it wrote to a connection that then
    /// died: a lost heartbeat answer would make its resume fail with `SESSION_STATE_MISMATCH`.
    pub(crate) async fn sever_when_upstream_quiet(
        &self,
        quiet: Duration,
        limit: Duration,
    ) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let last = *self
                .state
                .last_upstream
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if now.duration_since(last) >= quiet || now >= deadline {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        self.sever().await
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for link in self
            .state
            .links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            link.task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<ProxyState>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        state.accepted.fetch_add(1, Ordering::SeqCst);
        let upstream = *state
            .upstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (sever, severed) = oneshot::channel();
        let swallow = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(forward(
            client,
            upstream,
            Arc::clone(&state),
            Arc::clone(&swallow),
            severed,
        ));
        let mut links = state.links.lock().unwrap_or_else(PoisonError::into_inner);
        links.retain(|l| !l.task.is_finished());
        links.push(Link {
            sever,
            swallow,
            task,
        });
    }
}

/// Forwards one connection until either side closes or it is severed; then both sockets are
/// dropped. The client's bytes are dropped instead while `swallow` is set.
async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    state: Arc<ProxyState>,
    swallow: Arc<AtomicBool>,
    severed: oneshot::Receiver<()>,
) {
    let Ok(Ok(server)) = timeout(Duration::from_secs(5), TcpStream::connect(upstream)).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut head = Some(Vec::new());
        let mut frames = WsReader::default();
        loop {
            match client_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    *state
                        .last_upstream
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Instant::now();
                    if let Some(bytes) = head.as_mut() {
                        bytes.extend_from_slice(&buf[..n]);
                        if let Some(end) = bytes.windows(4).position(|w| w == END_OF_HEAD) {
                            let text = String::from_utf8_lossy(&bytes[..end]).into_owned();
                            state
                                .upgrade_requests
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(text);
                            frames.feed(&bytes[end + END_OF_HEAD.len()..], &state);
                            head = None;
                        } else if bytes.len() > MAX_HEAD {
                            head = None;
                            frames.broken = true;
                        }
                    } else {
                        frames.feed(&buf[..n], &state);
                    }
                    if swallow.load(Ordering::SeqCst) {
                        state.swallowed.fetch_add(n, Ordering::SeqCst);
                        continue;
                    }
                    if server_wr.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match server_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if client_wr.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    // The first direction to end ends the connection: both sockets are dropped on return.
    tokio::select! {
        () = up => {}
        () = down => {}
        _ = severed => {}
    }
}

/// Reads the WebSocket frames a client sends (RFC 6455 section 5.2) and keeps each complete data
/// message. Client frames are masked; a message may come in several frames. A frame with a
/// reserved bit set (a compressed message) cannot be read, and the reader stops.
#[derive(Default)]
struct WsReader {
    pending: Vec<u8>,
    message: Vec<u8>,
    broken: bool,
}

impl WsReader {
    fn feed(&mut self, bytes: &[u8], state: &ProxyState) {
        if self.broken {
            return;
        }
        self.pending.extend_from_slice(bytes);
        while let Some((used, fin, opcode, payload)) = self.frame() {
            self.pending.drain(..used);
            // Continuation, text and binary frames are parts of a data message; control frames
            // (close, ping, pong) carry no River message.
            if opcode <= 0x2 {
                self.message.extend_from_slice(&payload);
                if fin {
                    state
                        .client_messages
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(std::mem::take(&mut self.message));
                }
            }
        }
    }

    /// The first complete frame in `pending`: bytes used, FIN, opcode, unmasked payload.
    fn frame(&mut self) -> Option<(usize, bool, u8, Vec<u8>)> {
        let b = &self.pending;
        if b.len() < 2 {
            return None;
        }
        if b[0] & 0x70 != 0 {
            self.broken = true;
            return None;
        }
        let (fin, opcode, masked) = (b[0] & 0x80 != 0, b[0] & 0x0f, b[1] & 0x80 != 0);
        let (len, mut at) = match b[1] & 0x7f {
            126 => (
                usize::from(u16::from_be_bytes(b.get(2..4)?.try_into().ok()?)),
                4,
            ),
            127 => (
                usize::try_from(u64::from_be_bytes(b.get(2..10)?.try_into().ok()?)).ok()?,
                10,
            ),
            n => (usize::from(n), 2),
        };
        let mask: [u8; 4] = if masked {
            let m = b.get(at..at + 4)?.try_into().ok()?;
            at += 4;
            m
        } else {
            [0; 4]
        };
        let data = b.get(at..at + len)?;
        let payload = data
            .iter()
            .enumerate()
            .map(|(i, byte)| byte ^ mask[i % 4])
            .collect();
        Some((at + len, fin, opcode, payload))
    }
}
