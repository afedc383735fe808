//! Rehandshakes through the transports (`docs/protocol.md` section 4, "Rehandshakes"): our
//! server asks, our client answers with fresh metadata, the server validates it again and
//! stores it, or ends the session when it is refused, malformed or late; an expiry computed
//! from the metadata schedules them; nothing on the `rehandshake` stream reaches a handler.
//!
//! Every scenario runs in memory on tokio's paused clock, in both codecs.

use crate::principals;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::transport_support::{
    CLIENT, Cell, Events, Net, Pair, RawEvent, RawPeer, SERVER, both_connected, eventually,
    raw_frame, status,
};
use statebound_river::router::{CallContext, RiverClient, RiverError, Service, serve};
use statebound_river::session::{
    BoxFuture, Connection, HandshakeValidator, MemoryConnection, Rejection, SessionStatus,
    memory_pair,
};
use statebound_river::transport::{
    ClientOptions, ClientTransport, DialError, Dialer, MetadataFn, ServerOptions, TransportEvent,
    metadata_fn,
};
use statebound_river::wire::{
    Codec, CodecKind, HandshakeErrorCode, PartialMessage, REHANDSHAKE_STREAM_ID, Value,
};
use tokio::time::{Instant, sleep};

paused!(
    a_requested_rehandshake_replaces_the_metadata,
    handlers_see_the_new_metadata,
    a_refused_rehandshake_ends_the_session,
    a_silent_client_is_torn_down_after_the_handshake_timeout,
    a_malformed_response_ends_the_session,
    expiry_schedules_rehandshakes_one_window_early,
    without_the_option_nothing_is_asked,
    a_rehandshake_by_another_principal_is_refused,
    a_request_lost_with_its_connection_is_answered_after_the_resume,
    a_credential_expiring_within_the_window_is_asked_at_once_and_torn_down_at_expiry,
);

#[tokio::test(start_paused = true)]
async fn our_client_answers_a_typescript_servers_request_json() {
    our_client_answers_a_typescript_servers_request(Cell::new(CodecKind::Json, Net::Memory)).await;
}

/// Metadata `{"token": "t-n"}`, with `ttl_ms` when the credential expires.
fn token(n: usize, ttl_ms: Option<u64>) -> Value {
    let mut map = statebound_river::wire::Map::new();
    map.insert("token", format!("t-{n}"));
    if let Some(ttl) = ttl_ms {
        map.insert("ttl_ms", ttl);
    }
    Value::Map(map)
}

/// A validator that records `(metadata, previous)`, wants a `token`, refuses every validation
/// after the first `accept` ones, and reads the credential's lifetime from `ttl_ms`.
#[derive(Debug)]
struct Refresher {
    accept: usize,
    calls: Mutex<Vec<(Option<Value>, Option<Value>)>>,
}

impl Refresher {
    fn new(accept: usize) -> Arc<Self> {
        Arc::new(Refresher {
            accept,
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<(Option<Value>, Option<Value>)> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl HandshakeValidator for Refresher {
    fn check_schema(&self, metadata: Option<&Value>) -> Result<(), String> {
        match metadata.and_then(|m| m.get("token")) {
            Some(_) => Ok(()),
            None => Err("expected a `token`".into()),
        }
    }

    fn validate<'a>(
        &'a self,
        _from: &'a str,
        metadata: Option<&'a Value>,
        previous: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.push((metadata.cloned(), previous.cloned()));
        let refuse = calls.len() > self.accept;
        Box::pin(async move {
            if refuse {
                Err(Rejection::new(
                    HandshakeErrorCode::RejectedByCustomHandler,
                    "this token is revoked",
                ))
            } else {
                Ok(())
            }
        })
    }

    fn expiry(&self, metadata: Option<&Value>) -> Option<SystemTime> {
        let ttl = metadata?.get("ttl_ms")?.as_u64()?;
        Some(SystemTime::now() + Duration::from_millis(ttl))
    }
}

/// A metadata function answering `token(n, ttl)` on its n-th build.
fn counting(builds: &Arc<AtomicUsize>, ttl_ms: Option<u64>) -> MetadataFn {
    let builds = Arc::clone(builds);
    metadata_fn(move |_| Some(token(builds.fetch_add(1, Ordering::SeqCst) + 1, ttl_ms)))
}

/// A pair whose server rehandshakes (when `rehandshake`) with `validator`, and whose client
/// builds its metadata with `metadata` (none if `None`).
async fn pair_with(
    cell: Cell,
    validator: Option<Arc<dyn HandshakeValidator>>,
    metadata: Option<MetadataFn>,
    rehandshake: bool,
) -> Pair {
    cell.pair_with(
        ServerOptions {
            validator,
            rehandshake,
            ..cell.server_options()
        },
        ClientOptions {
            metadata,
            ..cell.client_options()
        },
    )
    .await
}

/// A pair whose server uses a [`Refresher`] accepting `accept` validations (and rehandshakes
/// when `rehandshake`), and whose client builds `token(n, ttl_ms)` on its n-th build.
async fn refreshing_pair(
    cell: Cell,
    accept: usize,
    ttl_ms: Option<u64>,
    rehandshake: bool,
) -> (Pair, Arc<Refresher>, Arc<AtomicUsize>) {
    let validator = Refresher::new(accept);
    let builds = Arc::new(AtomicUsize::new(0));
    let p = pair_with(
        cell,
        Some(validator.clone()),
        Some(counting(&builds, ttl_ms)),
        rehandshake,
    )
    .await;
    (p, validator, builds)
}

/// Waits until the server stores `metadata` for the client.
async fn stored(p: &Pair, metadata: Value) {
    let server = p.server.clone();
    eventually(p.cell, "the new metadata to be stored", || {
        let server = server.clone();
        let metadata = metadata.clone();
        async move { server.metadata(CLIENT) == Some(metadata) }
    })
    .await;
}

/// A message on the `rehandshake` stream, as either side would report it.
fn is_rehandshake_message(e: &TransportEvent) -> bool {
    matches!(e, TransportEvent::Message { msg, .. } if msg.stream_id == REHANDSHAKE_STREAM_ID)
}

/// `request_rehandshake`: the client answers with freshly built metadata, the server validates
/// it with the old metadata as the previous one and stores it; the session goes on, and neither
/// side reports the rehandshake's frames as messages.
async fn a_requested_rehandshake_replaces_the_metadata(cell: Cell) {
    let (mut p, validator, builds) = refreshing_pair(cell, usize::MAX, None, true).await;
    let id = p.connect().await;
    assert_eq!(p.server.metadata(CLIENT), Some(token(1, None)));

    assert!(p.server.request_rehandshake(CLIENT).await, "asked");
    stored(&p, token(2, None)).await;
    assert_eq!(builds.load(Ordering::SeqCst), 2, "built once more");
    assert_eq!(
        validator.calls(),
        [
            (Some(token(1, None)), None),
            (Some(token(2, None)), Some(token(1, None))),
        ]
    );
    // Well past the handshake timeout: the answered request ends nothing.
    p.cell
        .pass(p.cell.session_options().handshake_timeout * 4)
        .await;
    p.exchange("after").await;
    assert_eq!(p.agreed_id(), id);
    p.client_events.drain();
    p.server_events.drain();
    for events in [&p.client_events, &p.server_events] {
        assert_eq!(events.count(is_rehandshake_message), 0);
        assert_eq!(events.count(status(SessionStatus::Closed)), 0);
        assert!(events.protocol_errors().is_empty());
    }
    p.close().await;
}

/// Calls opened after a rehandshake see the new metadata in their context.
async fn handlers_see_the_new_metadata(cell: Cell) {
    let (mut p, _, _) = refreshing_pair(cell, usize::MAX, None, true).await;
    let meta = Service::new("meta").rpc("get", |ctx: CallContext, (): ()| async move {
        Ok::<_, RiverError>(ctx.metadata)
    });
    let _router = serve(&p.server, vec![meta]);
    let client = RiverClient::new(p.client.clone(), SERVER);
    let before: Option<Value> = client.rpc("meta", "get", &()).await.expect("a call");
    assert_eq!(before, Some(token(1, None)));

    assert!(p.server.request_rehandshake(CLIENT).await);
    stored(&p, token(2, None)).await;
    let after: Option<Value> = client.rpc("meta", "get", &()).await.expect("a call");
    assert_eq!(after, Some(token(2, None)));
    p.close().await;
}

/// The server's `handshake_failed` with `REJECTED_BY_CUSTOM_HANDLER`, and its session's end.
async fn server_tears_down(events: &mut Events) -> String {
    events
        .handshake_failed_then_closed(
            "the server to fail the rehandshake",
            HandshakeErrorCode::RejectedByCustomHandler,
        )
        .await
}

/// A refused rehandshake ends the session; the refused metadata is never stored.
async fn a_refused_rehandshake_ends_the_session(cell: Cell) {
    let (mut p, validator, _) = refreshing_pair(cell, 1, None, true).await;
    let id = p.connect().await;
    assert!(p.server.request_rehandshake(CLIENT).await);
    let message = server_tears_down(&mut p.server_events).await;
    assert!(message.contains("this token is revoked"), "{message}");
    assert_eq!(validator.calls().len(), 2);
    assert_ne!(p.server.session_id(CLIENT), Some(id));
    p.close().await;
}

/// A client that does not answer (ours without a metadata function, like River's Python
/// client) is torn down when the handshake timeout has passed since the request.
async fn a_silent_client_is_torn_down_after_the_handshake_timeout(cell: Cell) {
    let mut p = pair_with(cell, None, None, true).await;
    p.connect().await;
    let asked = Instant::now();
    assert!(p.server.request_rehandshake(CLIENT).await);
    server_tears_down(&mut p.server_events).await;
    let window = cell.session_options().handshake_timeout;
    let elapsed = asked.elapsed();
    assert!(
        elapsed >= window && elapsed <= window + cell.slack(),
        "torn down after {elapsed:?}, not {window:?}"
    );
    p.close().await;
}

/// A response the server cannot read ends the session at once.
async fn a_malformed_response_ends_the_session(cell: Cell) {
    let codec = cell.codec;
    let (server, _) = cell
        .server(ServerOptions {
            validator: Some(Refresher::new(usize::MAX)),
            rehandshake: true,
            ..cell.server_options()
        })
        .await;
    let mut events = Events::new("server", cell, server.subscribe());
    let mut peer = RawPeer::connect(&server, None).await;
    let mut request = statebound_river::wire::HandshakeRequest::new(
        statebound_river::wire::ProtocolVersion::V2_0,
        "raw-session",
        statebound_river::wire::ExpectedSessionState::default(),
    );
    request.metadata = Some(token(1, None));
    peer.send(raw_frame(
        codec,
        "raw",
        0,
        0,
        PartialMessage::handshake_request("raw-handshake", &request),
    ))
    .await;
    let RawEvent::Frame(_) = peer.next(cell.patience()).await else {
        panic!("the server answers the handshake")
    };
    events
        .until("the session", status(SessionStatus::Created))
        .await;
    let mut bad = PartialMessage::rehandshake_response(None);
    bad.payload = Value::from("not a map");
    peer.send(raw_frame(codec, "raw", 0, 0, bad)).await;
    let message = server_tears_down(&mut events).await;
    assert!(message.contains("malformed"), "{message}");
    server.close().await;
}

/// With an expiry, the server asks one handshake timeout before it, and again before the
/// expiry of each refreshed credential.
async fn expiry_schedules_rehandshakes_one_window_early(cell: Cell) {
    let ttl = 3000;
    let (mut p, validator, _) = refreshing_pair(cell, usize::MAX, Some(ttl), true).await;
    p.connect().await;
    let window = cell.session_options().handshake_timeout;
    let lead = Duration::from_millis(ttl).saturating_sub(window);
    let margin = Duration::from_millis(100);
    sleep(lead.saturating_sub(margin)).await;
    assert_eq!(p.server.metadata(CLIENT), Some(token(1, Some(ttl))));
    sleep(margin * 2).await;
    assert_eq!(p.server.metadata(CLIENT), Some(token(2, Some(ttl))));
    sleep(lead.saturating_sub(margin * 2)).await;
    assert_eq!(p.server.metadata(CLIENT), Some(token(2, Some(ttl))));
    sleep(margin * 2).await;
    assert_eq!(p.server.metadata(CLIENT), Some(token(3, Some(ttl))));
    assert_eq!(validator.calls().len(), 3);
    p.exchange("refreshed").await;
    p.close().await;
}

/// A server without `rehandshake` asks nothing, even with an expiry, and `request_rehandshake`
/// says so; a client it never asked stays connected with its first metadata.
async fn without_the_option_nothing_is_asked(cell: Cell) {
    let (mut p, validator, builds) = refreshing_pair(cell, usize::MAX, Some(600), false).await;
    let id = p.connect().await;
    assert!(!p.server.request_rehandshake(CLIENT).await, "nothing asked");
    p.cell.pass(Duration::from_secs(3)).await;
    assert_eq!(builds.load(Ordering::SeqCst), 1);
    assert_eq!(validator.calls().len(), 1);
    assert_eq!(p.server.metadata(CLIENT), Some(token(1, Some(600))));
    p.exchange("still").await;
    assert_eq!(p.agreed_id(), id);
    assert!(!p.server.request_rehandshake("nobody").await);
    p.close().await;
}

/// A rehandshake is validated with the client id too: alice's session cannot be refreshed
/// with bob's token.
async fn a_rehandshake_by_another_principal_is_refused(cell: Cell) {
    let principals = Arc::new(principals::Principals::alice_and_bob());
    let (server, dialer) = cell
        .server(ServerOptions {
            validator: Some(Arc::clone(&principals) as Arc<dyn HandshakeValidator>),
            rehandshake: true,
            ..cell.server_options()
        })
        .await;
    let mut server_events = Events::new("server", cell, server.subscribe());
    let builds = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&builds);
    let client = ClientTransport::new(
        "alice:laptop",
        dialer,
        ClientOptions {
            metadata: Some(metadata_fn(move |_| {
                let token = match counter.fetch_add(1, Ordering::SeqCst) {
                    0 => "tok-alice",
                    _ => "tok-bob",
                };
                Some(principals::token_metadata(token))
            })),
            ..cell.client_options()
        },
    );
    let mut client_events = Events::new("client", cell, client.subscribe());
    client.connect(SERVER);
    both_connected(&mut client_events, &mut server_events).await;
    assert!(server.request_rehandshake("alice:laptop").await);
    let message = server_tears_down(&mut server_events).await;
    assert!(
        message.contains("a token of bob cannot be used as client alice:laptop"),
        "{message}"
    );
    assert_eq!(principals.validations.load(Ordering::SeqCst), 2);
    client.close().await;
    server.close().await;
}

/// A request whose connection dies before the client reads it waits in the send buffer, like
/// any message: after the resume the client answers it, and the session goes on.
async fn a_request_lost_with_its_connection_is_answered_after_the_resume(cell: Cell) {
    let (mut p, validator, _) = refreshing_pair(cell, usize::MAX, None, true).await;
    let id = p.connect().await;
    p.client.set_phantom_disconnect(true);
    assert!(p.server.request_rehandshake(CLIENT).await);
    p.server_events
        .until(
            "the server's watchdog",
            crate::transport_support::left("Connected"),
        )
        .await;
    // The resume's handshake builds `t-2`; the answer to the resent request, `t-3`.
    stored(&p, token(3, None)).await;
    assert_eq!(
        validator.calls(),
        [
            (Some(token(1, None)), None),
            (Some(token(2, None)), Some(token(1, None))),
            (Some(token(3, None)), Some(token(2, None))),
        ]
    );
    p.cell
        .pass(cell.session_options().handshake_timeout * 2)
        .await;
    p.exchange("after").await;
    assert_eq!(p.agreed_id(), id);
    assert!(p.server_events.protocol_errors().is_empty());
    p.close().await;
}

/// Hands the server end of each dialled in-memory connection to the test.
struct HandOver(tokio::sync::mpsc::UnboundedSender<MemoryConnection>);

impl Dialer for HandOver {
    fn dial<'a>(&'a self, _to: &'a str) -> BoxFuture<'a, Result<Box<dyn Connection>, DialError>> {
        Box::pin(async move {
            let (ours, theirs) = memory_pair();
            self.0
                .send(theirs)
                .map_err(|_| DialError::fatal("the test is over"))?;
            let conn: Box<dyn Connection> = Box::new(ours);
            Ok(conn)
        })
    }
}

/// Our client against River's TypeScript server, played by hand with the bytes it writes: it
/// answers `REHANDSHAKE_REQ` with freshly built metadata on the `rehandshake` stream, and
/// reports neither frame as a message.
async fn our_client_answers_a_typescript_servers_request(cell: Cell) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let builds = Arc::new(AtomicUsize::new(0));
    let client = ClientTransport::new(
        CLIENT,
        Arc::new(HandOver(tx)),
        ClientOptions {
            metadata: Some(counting(&builds, None)),
            ..cell.client_options()
        },
    );
    let mut events = Events::new("client", cell, client.subscribe());
    client.connect(SERVER);
    let mut server = RawPeer::Memory(rx.recv().await.expect("a dial"));
    let RawEvent::Frame(request) = server.next(cell.patience()).await else {
        panic!("the client sends its handshake")
    };
    let request = CodecKind::Json.decode(&request).expect("a handshake");
    let request = statebound_river::wire::parse_handshake_request(&request.payload)
        .expect("a handshake request");
    assert_eq!(request.metadata, Some(token(1, None)));
    // transport/server.ts `handshakeResponseMessage`, then `rehandshakeRequestMessage` sent
    // as the session's first message.
    let response = format!(
        r#"{{"id":"hR1d0sXqPz2m","from":"SERVER","to":"client","seq":0,"ack":0,"streamId":"kQ8vL2nB5cXe","controlFlags":0,"payload":{{"type":"HANDSHAKE_RESP","status":{{"ok":true,"sessionId":"{}"}}}}}}"#,
        request.session_id
    );
    server.send(response.into_bytes()).await;
    server
        .send(br#"{"streamId":"rehandshake","controlFlags":0,"payload":{"type":"REHANDSHAKE_REQ"},"id":"Rq7Lm2Xc9vBn","to":"client","from":"SERVER","seq":0,"ack":0}"#.to_vec())
        .await;
    let RawEvent::Frame(answer) = server.next(cell.patience()).await else {
        panic!("the client answers")
    };
    let answer = CodecKind::Json.decode(&answer).expect("a frame");
    assert_eq!(
        (
            answer.stream_id.as_str(),
            answer.control_flags,
            answer.seq,
            answer.ack
        ),
        (REHANDSHAKE_STREAM_ID, 0, 0, 1)
    );
    assert_eq!(
        statebound_river::wire::RehandshakeResponse::from_payload(&answer.payload),
        Ok(statebound_river::wire::RehandshakeResponse {
            metadata: Some(token(2, None)),
        })
    );
    cell.settle().await;
    events.drain();
    assert_eq!(events.count(is_rehandshake_message), 0);
    assert!(events.protocol_errors().is_empty());
    client.close().await;
}

/// A credential that expires sooner than a handshake timeout from now is asked for at once,
/// and the answer is due by the expiry, not a whole window later.
async fn a_credential_expiring_within_the_window_is_asked_at_once_and_torn_down_at_expiry(
    cell: Cell,
) {
    let ttl = 200;
    let window = cell.session_options().handshake_timeout;
    assert!(Duration::from_millis(ttl) < window);
    let builds = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&builds);
    // The first build answers at once; later ones never do.
    let metadata: MetadataFn = Arc::new(move |_to: &str| {
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        Box::pin(async move {
            if !first {
                std::future::pending::<()>().await;
            }
            Ok(Some(token(1, Some(ttl))))
        })
    });
    let mut p = pair_with(cell, Some(Refresher::new(usize::MAX)), Some(metadata), true).await;
    p.connect().await;
    let connected = Instant::now();
    server_tears_down(&mut p.server_events).await;
    let elapsed = connected.elapsed();
    assert!(
        elapsed <= Duration::from_millis(ttl) + cell.slack(),
        "torn down {elapsed:?} after connecting, not by the expiry ({ttl} ms)"
    );
    // The client was asked (its second build started) before the teardown; the builds after it
    // belong to the client's reconnection.
    assert!(builds.load(Ordering::SeqCst) >= 2, "asked");
    p.close().await;
}
