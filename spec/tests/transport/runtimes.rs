//! Where a server's work runs: new connections on its handshake threads until their handshake
//! is accepted, sessions (resumed ones too) on the runtime the server was bound from, and no
//! handshake thread left once the server is closed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use statebound_river::echo_service::{Empty, Msg};
use statebound_river::router::{CallContext, RiverClient, RiverError, Service, serve};
use statebound_river::session::{HandshakeValidator, Rejection, SessionOptions};
use statebound_river::transport::{
    ClientOptions, ClientTransport, ServerOptions, ServerTransport, WsDialer,
};
use statebound_river::wire::Value;
use tokio::time::{Instant, sleep};

/// The name of the calling thread and its id in the kernel (`/proc/thread-self`).
fn this_thread() -> (String, String) {
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned();
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    let tid = link
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a thread id")
        .to_owned();
    (name, tid)
}

/// Accepts every handshake and notes the thread each validation ran on.
#[derive(Default)]
struct Where {
    threads: Mutex<Vec<(String, String)>>,
}

impl HandshakeValidator for Where {
    fn check_schema(&self, _metadata: Option<&Value>) -> Result<(), String> {
        Ok(())
    }

    fn validate<'a>(
        &'a self,
        _from: &'a str,
        _metadata: Option<&'a Value>,
        _previous: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        self.threads.lock().unwrap().push(this_thread());
        Box::pin(async { Ok(()) })
    }
}

/// A service whose `thread` rpc answers with the name of the thread it ran on.
fn thread_service() -> Service {
    Service::new("where").rpc("thread", |_: CallContext, _: Empty| async move {
        Ok::<_, RiverError>(Msg {
            msg: this_thread().0,
        })
    })
}

fn quick_session() -> SessionOptions {
    SessionOptions {
        heartbeat_interval: Duration::from_millis(50),
        heartbeats_until_dead: 4,
        session_disconnect_grace: Duration::from_secs(2),
        ..SessionOptions::default()
    }
}

/// Calls `where.thread` within 5 s.
async fn thread_of_call(client: &RiverClient) -> String {
    tokio::time::timeout(
        Duration::from_secs(5),
        client.rpc::<_, Msg>("where", "thread", &Empty {}),
    )
    .await
    .expect("answered within 5 s")
    .expect("the call succeeds")
    .msg
}

/// A server with `handshake_threads`, a client that connects, calls, loses its connection,
/// resumes and calls again. Returns the threads the two validations ran on, the threads the
/// two calls ran on, and whether the session was the same after the resume.
async fn connect_call_resume_call(
    handshake_threads: usize,
) -> (ServerTransport, Vec<(String, String)>, [String; 2], bool) {
    let validator = Arc::new(Where::default());
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            session: quick_session(),
            validator: Some(Arc::clone(&validator) as Arc<dyn HandshakeValidator>),
            handshake_threads,
            ..ServerOptions::default()
        },
    );
    let _router = serve(&server, vec![thread_service()]);
    let addr = server.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let transport = ClientTransport::new(
        "client",
        Arc::new(WsDialer::fixed(format!("ws://{addr}"))),
        ClientOptions {
            session: quick_session(),
            ..ClientOptions::default()
        },
    );
    let client = RiverClient::new(transport.clone(), "SERVER");
    let first = thread_of_call(&client).await;
    let session = transport.session_id("SERVER");
    transport.drop_connections();
    let second = thread_of_call(&client).await;
    let resumed = session.is_some() && transport.session_id("SERVER") == session;
    transport.close().await;
    let threads = validator.threads.lock().unwrap().clone();
    (server, threads, [first, second], resumed)
}

/// By default, each handshake is validated on the server's handshake thread, and the session
/// it starts, and the one it resumes after a lost connection, runs where the server was bound
/// (this test's thread, on its current-thread runtime).
#[tokio::test]
async fn handshakes_run_on_their_own_thread_and_sessions_where_the_server_was_bound() {
    let (here, _) = this_thread();
    let (server, validations, calls, resumed) = connect_call_resume_call(1).await;
    assert!(resumed, "the client resumed its session");
    assert_eq!(validations.len(), 2, "one validation per handshake");
    for (name, _) in &validations {
        assert_eq!(name, "river-handshakes", "validated on a handshake thread");
    }
    assert_eq!(
        calls,
        [here.clone(), here],
        "both calls ran on the sessions' runtime"
    );
    server.close().await;
}

/// With no handshake threads, handshakes are validated where the sessions run.
#[tokio::test]
async fn without_handshake_threads_everything_runs_where_the_server_was_bound() {
    let (here, _) = this_thread();
    let (server, validations, calls, resumed) = connect_call_resume_call(0).await;
    assert!(resumed, "the client resumed its session");
    assert_eq!(validations.len(), 2, "one validation per handshake");
    for (name, _) in &validations {
        assert_eq!(name, &here, "validated on the sessions' runtime");
    }
    assert_eq!(calls, [here.clone(), here]);
    server.close().await;
}

/// Closing the server stops its handshake threads.
#[tokio::test]
async fn closing_a_server_stops_its_handshake_threads() {
    let (server, validations, _, _) = connect_call_resume_call(1).await;
    let tids: Vec<String> = validations.into_iter().map(|(_, tid)| tid).collect();
    let alive = |tid: &String| std::path::Path::new(&format!("/proc/self/task/{tid}")).exists();
    assert!(
        tids.iter().all(alive),
        "the handshake thread runs while the server is open"
    );
    server.close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while tids.iter().any(alive) {
        assert!(
            Instant::now() < deadline,
            "the handshake threads stop within 5 s of close"
        );
        sleep(Duration::from_millis(10)).await;
    }
    let again = server.bind("127.0.0.1:0".parse().unwrap()).await;
    assert!(again.is_err(), "a closed server binds no more: {again:?}");
}

/// A server that is never closed stops listening when the runtime it was bound from shuts
/// down: its handshake threads stop with it.
#[test]
fn a_server_left_open_stops_listening_with_its_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (server, addr) = runtime.block_on(async {
        let server = ServerTransport::new("SERVER", ServerOptions::default());
        let addr = server.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        (server, addr)
    });
    assert!(
        std::net::TcpStream::connect(addr).is_ok(),
        "the server listens while its runtime runs"
    );
    drop(runtime);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the listener is closed within 5 s of the runtime's end"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(server);
}
