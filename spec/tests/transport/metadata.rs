//! Handshake metadata through the transports (`docs/protocol.md` section 4): built
//! asynchronously and allowed to fail, built while dialling, and bound to the client's id.
//!
//! Every scenario runs in memory on tokio's paused clock, in both codecs.

use crate::principals;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::transport_support::{
    CLIENT, Cell, Events, Net, Pair, SERVER, TestValidator, Verdict, both_connected, entered,
    handshake_failed, left, meta, ms, status,
};
use statebound_river::router::{RiverClient, serve};
use statebound_river::session::{BoxFuture, Connection, HandshakeValidator, SessionStatus};
use statebound_river::transport::{
    ClientOptions, ClientTransport, DialError, Dialer, MetadataError, MetadataFn, ServerOptions,
    ServerTransport, TransportEvent, metadata_fn,
};
use statebound_river::wire::{CodecKind, HandshakeErrorCode, Value};
use tokio::time::{Instant, sleep};

paused!(
    async_metadata_is_awaited_before_the_handshake,
    failing_metadata_ends_the_session_with_handshake_failed,
    a_build_slower_than_the_handshake_timeout_is_abandoned,
    eager_metadata_overlaps_the_dial,
    lazy_metadata_follows_the_dial,
    the_hook_binds_a_client_id_to_its_principal,
    a_resume_by_another_principal_is_refused,
);

/// A metadata function that counts its calls and answers `answer(call)` after `delay`.
fn built_after(
    delay: Duration,
    calls: &Arc<AtomicUsize>,
    answer: impl Fn(usize) -> Result<Option<Value>, MetadataError> + Send + Sync + 'static,
) -> MetadataFn {
    let calls = Arc::clone(calls);
    let answer = Arc::new(answer);
    Arc::new(move |_to: &str| {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        let answer = Arc::clone(&answer);
        let fut: BoxFuture<'static, _> = Box::pin(async move {
            sleep(delay).await;
            answer(call)
        });
        fut
    })
}

/// A pair whose server wants a `token` and whose client builds its metadata with `metadata`.
async fn pair_building(
    cell: Cell,
    validator: Arc<TestValidator>,
    metadata: MetadataFn,
    eager: bool,
) -> Pair {
    let pair = cell
        .pair_with(
            ServerOptions {
                validator: Some(validator),
                ..cell.server_options()
            },
            ClientOptions {
                metadata: Some(metadata),
                eager_metadata: eager,
                ..cell.client_options()
            },
        )
        .await;
    pair.dialer.switch(Arc::new(SlowDialer {
        inner: Arc::clone(&pair.server_dialer),
        delay: Duration::ZERO,
    }));
    pair
}

/// A dialer that takes `delay` before dialling through `inner`.
struct SlowDialer {
    inner: Arc<dyn Dialer>,
    delay: Duration,
}

impl Dialer for SlowDialer {
    fn dial<'a>(&'a self, to: &'a str) -> BoxFuture<'a, Result<Box<dyn Connection>, DialError>> {
        Box::pin(async move {
            sleep(self.delay).await;
            self.inner.dial(to).await
        })
    }
}

fn slow_dials(pair: &Pair, delay: Duration) {
    pair.dialer.switch(Arc::new(SlowDialer {
        inner: Arc::clone(&pair.server_dialer),
        delay,
    }));
}

/// The id of the next session the client creates.
async fn created(p: &mut Pair) -> String {
    match p
        .client_events
        .until("the client's session", status(SessionStatus::Created))
        .await
    {
        TransportEvent::SessionStatus { session_id, .. } => session_id,
        _ => unreachable!("matched a status event"),
    }
}

fn token(n: usize) -> Value {
    meta("token", format!("t-{n}"))
}

/// A metadata function that takes a while is awaited: the handshake request carries what it
/// built, once it is built.
async fn async_metadata_is_awaited_before_the_handshake(cell: Cell) {
    let validator = TestValidator::new(Some("token"), Verdict::Accept);
    let calls = Arc::new(AtomicUsize::new(0));
    let metadata = built_after(ms(200), &calls, |n| Ok(Some(token(n))));
    let mut p = pair_building(cell, validator.clone(), metadata, false).await;
    let start = Instant::now();
    p.connect().await;
    assert!(
        start.elapsed() >= ms(200),
        "connected after {:?}, before the metadata was built",
        start.elapsed()
    );
    assert_eq!(validator.calls(), [(Some(token(1)), None)]);
    assert_eq!(p.server.metadata(CLIENT), Some(token(1)));
    p.exchange("built").await;
    p.close().await;
}

/// A metadata function that fails ends the session with a `handshake_failed` protocol error
/// (no code, as River's client reports it); nothing reaches the server, and the client does
/// not retry on its own. The next `connect` starts a new session.
async fn failing_metadata_ends_the_session_with_handshake_failed(cell: Cell) {
    let validator = TestValidator::new(Some("token"), Verdict::Accept);
    let calls = Arc::new(AtomicUsize::new(0));
    let fail = Arc::new(AtomicBool::new(true));
    let failing = Arc::clone(&fail);
    let metadata = built_after(ms(50), &calls, move |n| {
        if failing.load(Ordering::SeqCst) {
            Err(MetadataError("the token service is down".into()))
        } else {
            Ok(Some(token(n)))
        }
    });
    let mut p = pair_building(cell, validator.clone(), metadata, false).await;
    p.client.connect(SERVER);
    let first = created(&mut p).await;
    let message = p
        .client_events
        .handshake_failed_then_closed(
            "the metadata build to fail",
            HandshakeErrorCode::Unknown(String::new()),
        )
        .await;
    assert!(
        message.contains("the token service is down"),
        "the reason is reported: {message}"
    );
    p.cell.settle().await;
    p.client_events.drain();
    assert_eq!(p.dialer.calls(), 1, "a failed build is not retried");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(
        validator.calls().is_empty(),
        "no handshake reached the server"
    );
    assert_eq!(p.server.session_id(CLIENT), None);
    assert_eq!(p.client.connection_count(), 0);

    fail.store(false, Ordering::SeqCst);
    let second = p.connect().await;
    assert_ne!(second, first, "a new session");
    assert_eq!(validator.calls(), [(Some(token(2)), None)]);
    p.close().await;
}

/// A build that outlasts the handshake timeout loses its connection like a silent server
/// would; its late result is discarded and the next attempt builds afresh, for the same
/// session.
async fn a_build_slower_than_the_handshake_timeout_is_abandoned(cell: Cell) {
    let validator = TestValidator::new(Some("token"), Verdict::Accept);
    let calls = Arc::new(AtomicUsize::new(0));
    let handshake_timeout = cell.session_options().handshake_timeout;
    let calls_in = Arc::clone(&calls);
    let metadata: MetadataFn = Arc::new(move |_to: &str| {
        let attempt = calls_in.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = if attempt == 1 {
            handshake_timeout * 3
        } else {
            ms(10)
        };
        Box::pin(async move {
            sleep(delay).await;
            Ok(Some(token(attempt)))
        })
    });
    let mut p = pair_building(cell, validator.clone(), metadata, false).await;
    p.client.connect(SERVER);
    let id = Some(created(&mut p).await);
    p.client_events
        .until("the first handshake to time out", left("Handshaking"))
        .await;
    p.client_events
        .until("the client to connect", entered("Connected"))
        .await;
    assert_eq!(p.client.session_id(SERVER), id, "the same session");
    // Let the first build finish late: nothing changes.
    sleep(handshake_timeout * 3).await;
    assert_eq!(validator.calls(), [(Some(token(2)), None)]);
    assert_eq!(p.server.metadata(CLIENT), Some(token(2)));
    assert_eq!(p.client.session_id(SERVER), id);
    p.exchange("after").await;
    p.close().await;
}

/// With `eager_metadata`, the build starts with the dial: a 300 ms build and a 300 ms dial
/// connect in 300 ms.
async fn eager_metadata_overlaps_the_dial(cell: Cell) {
    let elapsed = connect_with_slow_dial_and_build(cell, true).await;
    assert!(
        elapsed >= ms(300) && elapsed < ms(400),
        "connected after {elapsed:?}"
    );
}

/// Without it, the build starts once the connection is up: 300 ms + 300 ms.
async fn lazy_metadata_follows_the_dial(cell: Cell) {
    let elapsed = connect_with_slow_dial_and_build(cell, false).await;
    assert!(elapsed >= ms(600), "connected after {elapsed:?}");
}

async fn connect_with_slow_dial_and_build(cell: Cell, eager: bool) -> Duration {
    let validator = TestValidator::new(Some("token"), Verdict::Accept);
    let calls = Arc::new(AtomicUsize::new(0));
    let metadata = built_after(ms(300), &calls, |n| Ok(Some(token(n))));
    let mut p = pair_building(cell, validator.clone(), metadata, eager).await;
    slow_dials(&p, ms(300));
    let start = Instant::now();
    p.connect().await;
    let elapsed = start.elapsed();
    assert_eq!(validator.calls(), [(Some(token(1)), None)]);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one build per attempt");
    p.exchange("connected").await;
    p.close().await;
    elapsed
}

/// A server with the example's [`principals::Principals`] (alice and bob), and its events.
async fn principals_server(
    cell: Cell,
) -> (
    ServerTransport,
    Arc<dyn Dialer>,
    Arc<principals::Principals>,
    Events,
) {
    let validator = Arc::new(principals::Principals::alice_and_bob());
    let (server, dialer) = cell
        .server(ServerOptions {
            validator: Some(Arc::clone(&validator) as Arc<dyn HandshakeValidator>),
            ..cell.server_options()
        })
        .await;
    let events = Events::new("server", cell, server.subscribe());
    (server, dialer, validator, events)
}

/// A client `id` whose metadata is the token `token()` names at each handshake.
fn principal_client(
    cell: Cell,
    dialer: &Arc<dyn Dialer>,
    id: &str,
    token: impl Fn() -> &'static str + Send + Sync + 'static,
) -> (ClientTransport, Events) {
    let client = ClientTransport::new(
        id,
        Arc::clone(dialer),
        ClientOptions {
            metadata: Some(metadata_fn(move |_| {
                Some(principals::token_metadata(token()))
            })),
            ..cell.client_options()
        },
    );
    let events = Events::new("client", cell, client.subscribe());
    (client, events)
}

/// The hook gets the client id: alice's token opens a session as `alice:laptop`, but not as
/// `bob:phone`, and the router's handler sees whose session it serves.
async fn the_hook_binds_a_client_id_to_its_principal(cell: Cell) {
    let (server, dialer, validator, mut server_events) = principals_server(cell).await;
    let _router = serve(&server, vec![principals::whoami(Arc::clone(&validator))]);

    let (alice, _alice_events) = principal_client(cell, &dialer, "alice:laptop", || "tok-alice");
    let me: String = RiverClient::new(alice.clone(), SERVER)
        .rpc("identity", "whoami", &())
        .await
        .expect("alice's call");
    assert_eq!(me, "alice");

    let (impostor, mut impostor_events) =
        principal_client(cell, &dialer, "bob:phone", || "tok-alice");
    impostor.connect(SERVER);
    let message = impostor_events
        .handshake_failed_then_closed(
            "the impostor to be refused",
            HandshakeErrorCode::RejectedByCustomHandler,
        )
        .await;
    assert!(
        message.contains("a token of alice cannot be used as client bob:phone"),
        "{message}"
    );
    server_events
        .until(
            "the server to refuse it",
            handshake_failed(HandshakeErrorCode::RejectedByCustomHandler),
        )
        .await;
    assert_eq!(server.session_id("bob:phone"), None);
    assert_eq!(validator.validations.load(Ordering::SeqCst), 2);
    impostor.close().await;
    alice.close().await;
    server.close().await;
}

/// A session bound to alice cannot be resumed with bob's token: the reconnect is refused, the
/// client ends its session, and the server keeps alice's metadata.
async fn a_resume_by_another_principal_is_refused(cell: Cell) {
    let (server, dialer, validator, mut server_events) = principals_server(cell).await;
    let stolen = Arc::new(AtomicBool::new(false));
    let swapped = Arc::clone(&stolen);
    let (client, mut client_events) = principal_client(cell, &dialer, "alice:laptop", move || {
        if swapped.load(Ordering::SeqCst) {
            "tok-bob"
        } else {
            "tok-alice"
        }
    });
    client.connect(SERVER);
    both_connected(&mut client_events, &mut server_events).await;
    let id = server.session_id("alice:laptop");
    assert!(id.is_some());

    stolen.store(true, Ordering::SeqCst);
    client.drop_connections();
    let message = client_events
        .handshake_failed_then_closed(
            "the resume to be refused",
            HandshakeErrorCode::RejectedByCustomHandler,
        )
        .await;
    assert!(
        message.contains("a token of bob cannot be used as client alice:laptop"),
        "{message}"
    );
    assert_eq!(validator.validations.load(Ordering::SeqCst), 2);
    assert_eq!(
        server.metadata("alice:laptop"),
        Some(principals::token_metadata("tok-alice")),
        "the refused metadata is not stored"
    );
    assert_eq!(client.session_id(SERVER), None);
    client.close().await;
    server.close().await;
}
