//! The handshake, server and client side (`docs/protocol.md` sections 3 and 4;
//! `docs/conformance.md`, "Handshake", and the `WaitingForHandshake` / `Handshaking` edges of
//! "The state machine").
//!
//! The pure steps (`parse_request`, `validate_metadata`, `decide`, `evaluate_response`) are
//! tested on their own, then through `SessionDriver`s on in-memory connections, where the other
//! end of each connection is driven by hand and what it receives is decoded and checked. Every
//! async test runs on paused time: nothing here waits on the wall clock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use statebound_river::session::{
    BoxFuture, ClientOutcome, CloseCode, Connection, ConnectionEvent, Decision, EndReason,
    ExistingSession, HandshakeValidator, MemoryConnection, Output, ParsedRequest, ProtocolError,
    Rejection, RequestError, RetryOptions, SessionContext, SessionDriver, SessionOptions,
    SessionStatus, decide, evaluate_response, generate_id, memory_pair, next_event, parse_request,
    validate_metadata,
};
use statebound_river::wire::{
    Codec, CodecKind, ExpectedSessionState, HandshakeErrorCode, HandshakeRequest,
    HandshakeResponse, Map, MessageHeader, PartialMessage, ProtocolVersion, TransportMessage,
    Value, parse_handshake_request, parse_handshake_response,
};

use HandshakeErrorCode::{
    MalformedHandshake, MalformedHandshakeMeta, ProtocolVersionMismatch, RejectedByCustomHandler,
    RejectedUnsupportedClient, SessionStateMismatch,
};
use ProtocolVersion::{V1_1, V2_0};

const CODECS: [CodecKind; 2] = [CodecKind::Json, CodecKind::Msgpack];
const SERVER_ID: &str = "SERVER";
const CLIENT_ID: &str = "client-1";
const SESSION: &str = "session-1";

// ----- building frames -----------------------------------------------------------------------

fn options(codec: CodecKind) -> SessionOptions {
    SessionOptions {
        codec,
        ..SessionOptions::default()
    }
}

/// What a server knows before a handshake: its own id, options and codec.
fn server_ctx(codec: CodecKind) -> SessionContext {
    SessionContext::new("", SERVER_ID, "", ProtocolVersion::CURRENT, options(codec))
}

fn client_ctx(codec: CodecKind, version: ProtocolVersion) -> SessionContext {
    SessionContext::new(SESSION, CLIENT_ID, SERVER_ID, version, options(codec))
}

fn token(t: &str) -> Value {
    let mut map = Map::new();
    map.insert("token", t);
    Value::Map(map)
}

fn app_message(n: u64) -> PartialMessage {
    let mut payload = Map::new();
    payload.insert("n", n);
    PartialMessage {
        stream_id: "stream-1".into(),
        control_flags: 0,
        service_name: None,
        procedure_name: None,
        tracing: None,
        payload: Value::Map(payload),
    }
}

fn frame(codec: CodecKind, msg: PartialMessage, header: MessageHeader) -> Bytes {
    codec.encode(&msg.into_message(header)).unwrap().into()
}

/// A first frame from `CLIENT_ID` carrying `payload`, with a handshake's envelope.
fn first_frame(codec: CodecKind, payload: Value) -> Bytes {
    let mut msg = PartialMessage::handshake_request(generate_id(), &request(V2_0, 0, 0));
    msg.payload = payload;
    frame(
        codec,
        msg,
        MessageHeader::handshake(generate_id(), CLIENT_ID, SERVER_ID),
    )
}

fn request(
    version: ProtocolVersion,
    next_expected_seq: u64,
    next_sent_seq: u64,
) -> HandshakeRequest {
    HandshakeRequest::new(
        version,
        SESSION,
        ExpectedSessionState {
            next_expected_seq,
            next_sent_seq,
        },
    )
}

fn request_frame(codec: CodecKind, request: &HandshakeRequest) -> Bytes {
    first_frame(codec, request.to_payload())
}

/// A server's response frame to `CLIENT_ID`, with `flags` as its raw control flags.
fn response_frame(codec: CodecKind, response: &HandshakeResponse, flags: u32) -> Bytes {
    let mut msg = PartialMessage::handshake_response(generate_id(), response);
    msg.control_flags = flags;
    frame(
        codec,
        msg,
        MessageHeader::handshake(generate_id(), SERVER_ID, CLIENT_ID),
    )
}

fn ok_response(codec: CodecKind, session_id: &str) -> Bytes {
    let response = HandshakeResponse::Ok {
        session_id: session_id.into(),
    };
    response_frame(codec, &response, 0)
}

fn err_response(codec: CodecKind, code: HandshakeErrorCode) -> Bytes {
    let response = HandshakeResponse::Err {
        code,
        reason: "no".into(),
    };
    response_frame(codec, &response, 0)
}

/// An ordinary sequenced message between the client and the server.
fn sequenced(codec: CodecKind, from: &str, to: &str, seq: u64, ack: u64, n: u64) -> Bytes {
    let header = MessageHeader {
        id: generate_id(),
        from: from.into(),
        to: to.into(),
        seq,
        ack,
    };
    frame(codec, app_message(n), header)
}

// ----- reading what arrives ------------------------------------------------------------------

async fn next_frame(conn: &mut MemoryConnection) -> Bytes {
    match next_event(conn).await {
        ConnectionEvent::Frame(frame) => frame,
        other @ ConnectionEvent::Closed { .. } => panic!("expected a frame, got {other:?}"),
    }
}

async fn closed_code(conn: &mut MemoryConnection) -> Option<CloseCode> {
    match next_event(conn).await {
        ConnectionEvent::Closed { code } => code,
        ConnectionEvent::Frame(frame) => {
            panic!("expected the connection closed, got a frame {frame:?}")
        }
    }
}

/// Checks a handshake message's envelope (seq 0, ack 0, flags 0, addressed as given).
fn assert_handshake_envelope(msg: &TransportMessage, from: &str, to: &str) {
    assert_eq!(
        (msg.seq, msg.ack, msg.control_flags),
        (0, 0, 0),
        "a handshake message has seq 0, ack 0 and no flags"
    );
    assert_eq!((msg.from.as_str(), msg.to.as_str()), (from, to));
    assert!(msg.service_name.is_none() && msg.procedure_name.is_none());
}

/// Reads the server's handshake response from the client's end and checks its envelope, all
/// but `to`.
async fn response_msg(
    codec: CodecKind,
    conn: &mut MemoryConnection,
) -> (TransportMessage, HandshakeResponse) {
    let frame = next_frame(conn).await;
    assert_eq!(
        CodecKind::sniff(&frame),
        Some(codec),
        "written with the session's codec"
    );
    let msg = codec.decode(&frame).unwrap();
    assert_handshake_envelope(&msg, SERVER_ID, &msg.to);
    let response = parse_handshake_response(&msg.payload).unwrap();
    (msg, response)
}

/// Reads the server's handshake response from the client's end; it must be addressed to the
/// client.
async fn response_on(codec: CodecKind, conn: &mut MemoryConnection) -> HandshakeResponse {
    let (msg, response) = response_msg(codec, conn).await;
    assert_eq!(msg.to, CLIENT_ID, "the response is addressed to the client");
    response
}

/// Reads a rejection that the owner of a pending driver wrote with `SessionDriver::reject`
/// after `Output::HandshakeRequest`. Its `to` is not checked here but in
/// `reject_after_a_request_addresses_the_client`.
async fn rejection_on(codec: CodecKind, conn: &mut MemoryConnection) -> HandshakeResponse {
    response_msg(codec, conn).await.1
}

/// Reads a handshake request from the server's end.
async fn request_on(
    codec: CodecKind,
    conn: &mut MemoryConnection,
) -> (TransportMessage, HandshakeRequest) {
    let frame = next_frame(conn).await;
    let msg = codec.decode(&frame).unwrap();
    let request = parse_handshake_request(&msg.payload).unwrap();
    (msg, request)
}

fn rejected_code(response: &HandshakeResponse) -> &HandshakeErrorCode {
    match response {
        HandshakeResponse::Err { code, .. } => code,
        HandshakeResponse::Ok { .. } => panic!("expected a rejection, got {response:?}"),
    }
}

// ----- driver outputs, comparable ------------------------------------------------------------

/// An [`Output`] reduced to what these tests compare.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Transition(&'static str, &'static str),
    Status(SessionStatus),
    Message(u64),
    HandshakeFailed(HandshakeErrorCode),
    InvalidMessage,
    OtherError(ProtocolError),
    Dial,
    BuildMetadata,
    Rehandshake,
    HandshakeRequest,
    Ended(End),
}

#[derive(Debug, Clone, PartialEq)]
enum End {
    Retry(HandshakeErrorCode),
    Fatal(HandshakeErrorCode),
    InvalidMessage,
    HandshakeFailed,
    Other(EndReason),
}

fn summarize(outputs: Vec<Output>) -> Vec<Ev> {
    outputs
        .into_iter()
        .map(|output| match output {
            Output::Transition { from, to, .. } => Ev::Transition(from, to),
            Output::Status(status) => Ev::Status(status),
            Output::Message(msg) => Ev::Message(msg.seq),
            Output::ProtocolError(ProtocolError::HandshakeFailed { code, .. }) => {
                Ev::HandshakeFailed(code)
            }
            Output::ProtocolError(ProtocolError::InvalidMessage(_)) => Ev::InvalidMessage,
            Output::ProtocolError(other) => Ev::OtherError(other),
            Output::Dial(_) => Ev::Dial,
            Output::BuildMetadata(_) => Ev::BuildMetadata,
            Output::RehandshakeRequested | Output::RehandshakeResponse(_) => Ev::Rehandshake,
            Output::HandshakeRequest(_) => Ev::HandshakeRequest,
            Output::Ended(reason) => Ev::Ended(match reason {
                EndReason::Retry(r) => End::Retry(r.code),
                EndReason::Fatal(r) => End::Fatal(r.code),
                EndReason::InvalidMessage(_) => End::InvalidMessage,
                EndReason::HandshakeFailed => End::HandshakeFailed,
                other => End::Other(other),
            }),
        })
        .collect()
}

const CONNECTED: Ev = Ev::Transition("WaitingForHandshake", "Connected");

/// A server driver on a fresh in-memory connection, and the client's end of it.
fn pending(codec: CodecKind) -> (SessionDriver, MemoryConnection) {
    let (server_end, client_end) = memory_pair();
    let driver = SessionDriver::server(server_ctx(codec), Box::new(server_end));
    (driver, client_end)
}

/// Steps a pending server driver until its handshake request has been read.
async fn next_request(server: &mut SessionDriver) -> ParsedRequest {
    server.step().await;
    let mut outputs = server.take_outputs();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    match outputs.pop() {
        Some(Output::HandshakeRequest(parsed)) => *parsed,
        other => panic!("expected a handshake request, got {other:?}"),
    }
}

/// An accepted server session for `SESSION`, and the client's end of its connection.
async fn accepted(codec: CodecKind, metadata: Option<Value>) -> (SessionDriver, MemoryConnection) {
    let (mut server, mut client_end) = pending(codec);
    let mut req = request(V2_0, 0, 0);
    req.metadata = metadata;
    client_end.send(request_frame(codec, &req)).unwrap();
    let parsed = next_request(&mut server).await;
    assert_eq!(
        decide(&parsed.request, None, true),
        Decision::New { replaces: None }
    );
    server.accept(&parsed);
    assert_eq!(
        summarize(server.take_outputs()),
        [Ev::Status(SessionStatus::Created), CONNECTED]
    );
    let response = response_on(codec, &mut client_end).await;
    assert_eq!(
        response,
        HandshakeResponse::Ok {
            session_id: SESSION.into()
        }
    );
    (server, client_end)
}

/// Runs a client from `connect()` to its dial and answers the dial with a fresh in-memory
/// connection. Returns the server's end and the outputs seen on the way.
async fn dial(client: &mut SessionDriver) -> (MemoryConnection, Vec<Ev>) {
    client.connect();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let mut handle = None;
        for output in client.take_outputs() {
            match output {
                Output::Dial(h) => handle = Some(h),
                other => seen.extend(summarize(vec![other])),
            }
        }
        if let Some(handle) = handle {
            let (client_end, server_end) = memory_pair();
            client.dialed(&handle, Ok(Box::new(client_end)));
            seen.extend(summarize(client.take_outputs()));
            return (server_end, seen);
        }
        client.step().await;
    }
    panic!("the client never asked to dial; saw {seen:?}");
}

/// A client whose handshake request has been written, the server's end of its connection,
/// and the request.
async fn handshaking(codec: CodecKind) -> (SessionDriver, MemoryConnection, HandshakeRequest) {
    let mut client = SessionDriver::client(client_ctx(codec, V2_0), RetryOptions::default());
    let (mut server_end, seen) = dial(&mut client).await;
    assert_eq!(
        seen,
        [
            Ev::Status(SessionStatus::Created),
            Ev::Transition("NoConnection", "BackingOff"),
            Ev::Transition("BackingOff", "Connecting"),
            Ev::Transition("Connecting", "Handshaking"),
        ]
    );
    let (_, request) = request_on(codec, &mut server_end).await;
    (client, server_end, request)
}

// ----- a validation hook that counts its calls -----------------------------------------------

#[derive(Debug, Clone)]
enum Verdict {
    Accept,
    Reject(HandshakeErrorCode),
    PanicInFuture,
    PanicBeforeFuture,
}

/// Requires metadata `{"token": <string>}`; `validate` answers with its verdict.
#[derive(Debug)]
struct Hook {
    verdict: Verdict,
    schema_calls: AtomicUsize,
    validate_calls: AtomicUsize,
    previous_seen: Mutex<Vec<Option<Value>>>,
}

impl Hook {
    fn new(verdict: Verdict) -> Self {
        Hook {
            verdict,
            schema_calls: AtomicUsize::new(0),
            validate_calls: AtomicUsize::new(0),
            previous_seen: Mutex::new(Vec::new()),
        }
    }

    fn calls(&self) -> (usize, usize) {
        (
            self.schema_calls.load(Ordering::SeqCst),
            self.validate_calls.load(Ordering::SeqCst),
        )
    }
}

impl HandshakeValidator for Hook {
    fn check_schema(&self, metadata: Option<&Value>) -> Result<(), String> {
        self.schema_calls.fetch_add(1, Ordering::SeqCst);
        match metadata
            .and_then(|m| m.get("token"))
            .and_then(Value::as_str)
        {
            Some(_) => Ok(()),
            None => Err("expected `token`, a string".into()),
        }
    }

    fn validate<'a>(
        &'a self,
        _from: &'a str,
        _metadata: Option<&'a Value>,
        previous: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        self.validate_calls.fetch_add(1, Ordering::SeqCst);
        self.previous_seen.lock().unwrap().push(previous.cloned());
        assert!(
            !matches!(self.verdict, Verdict::PanicBeforeFuture),
            "the hook fails before returning its future"
        );
        Box::pin(async move {
            // Answer asynchronously, as a real hook would.
            tokio::task::yield_now().await;
            match &self.verdict {
                Verdict::Accept => Ok(()),
                Verdict::Reject(code) => Err(Rejection::new(code.clone(), "not this client")),
                Verdict::PanicInFuture => panic!("the hook fails while answering"),
                Verdict::PanicBeforeFuture => unreachable!("panicked above"),
            }
        })
    }
}

// ===== 1. server steps, in the order of protocol.md section 4 ====================================

/// protocol.md 4, step 1: a first frame that does not decode gets no response.
#[test]
fn parse_request_undecodable_first_frame() {
    for codec in CODECS {
        for garbage in [
            &b""[..],
            b"garbage",
            b"[1,2]",
            b"\x93\x01\x02\x03",
            b"{\"id\":\"x\"}",
        ] {
            let result = parse_request(codec, garbage, &ProtocolVersion::ALL);
            assert!(
                matches!(result, Err(RequestError::Undecodable(_))),
                "{codec} {garbage:?}: {result:?}"
            );
        }
    }
}

/// Garbage as a first frame: the connection is closed, no session is made, and one
/// `handshake_failed` is reported.
#[tokio::test(start_paused = true)]
async fn driver_closes_on_an_undecodable_first_frame() {
    for codec in CODECS {
        let (mut server, mut client_end) = pending(codec);
        client_end.send(Bytes::from_static(b"\x00garbage")).unwrap();
        server.step().await;
        assert_eq!(
            summarize(server.take_outputs()),
            [
                Ev::HandshakeFailed(MalformedHandshake),
                Ev::Ended(End::HandshakeFailed)
            ],
            "no response, no Status(Created)"
        );
        assert_eq!(server.ended(), Some(&EndReason::HandshakeFailed));
        assert_eq!(server.state_name(), None);
        // Nothing was written back: the next event is the close.
        closed_code(&mut client_end).await;
    }
}

/// protocol.md 4, step 2: not a handshake request (`MALFORMED_HANDSHAKE`).
#[test]
fn parse_request_rejects_a_payload_that_is_not_a_handshake_request() {
    let mut missing_session = request(V2_0, 0, 0).to_payload();
    if let Value::Map(map) = &mut missing_session {
        map.remove("sessionId");
    }
    let mut ack = Map::new();
    ack.insert("type", "ACK");
    let cases = [
        ("heartbeat payload", Value::Map(ack)),
        ("missing sessionId", missing_session),
        ("not a map", Value::from("HANDSHAKE_REQ")),
        (
            "response",
            HandshakeResponse::Ok {
                session_id: SESSION.into(),
            }
            .to_payload(),
        ),
    ];
    for codec in CODECS {
        for (what, payload) in &cases {
            match parse_request(
                codec,
                &first_frame(codec, payload.clone()),
                &ProtocolVersion::ALL,
            ) {
                Err(RequestError::Rejected { msg, rejection }) => {
                    assert_eq!(rejection.code, MalformedHandshake, "{codec} {what}");
                    assert_eq!(msg.from, CLIENT_ID, "the response goes back to the sender");
                }
                other => panic!("{codec} {what}: {other:?}"),
            }
        }
    }
}

/// protocol.md 4: the schema comes before the version: a malformed request naming `v0` is
/// malformed.
#[test]
fn parse_request_checks_the_schema_before_the_version() {
    let mut bad = request(V2_0, 0, 0);
    bad.protocol_version = "v0".into();
    let mut payload = bad.to_payload();
    if let Value::Map(map) = &mut payload {
        map.remove("expectedSessionState");
    }
    match parse_request(
        CodecKind::Json,
        &first_frame(CodecKind::Json, payload),
        &ProtocolVersion::ALL,
    ) {
        Err(RequestError::Rejected { rejection, .. }) => {
            assert_eq!(rejection.code, MalformedHandshake);
        }
        other => panic!("{other:?}"),
    }
}

/// protocol.md 4, step 2: a payload that is not a `HANDSHAKE_REQ` -> `MALFORMED_HANDSHAKE`,
/// written to the client before the connection closes.
#[tokio::test(start_paused = true)]
async fn driver_answers_a_non_request_with_malformed_handshake() {
    for codec in CODECS {
        let (mut server, mut client_end) = pending(codec);
        let mut ack = Map::new();
        ack.insert("type", "ACK");
        client_end
            .send(first_frame(codec, Value::Map(ack)))
            .unwrap();
        server.step().await;
        assert_eq!(
            summarize(server.take_outputs()),
            [
                Ev::HandshakeFailed(MalformedHandshake),
                Ev::Ended(End::HandshakeFailed)
            ]
        );
        let response = response_on(codec, &mut client_end).await;
        assert_eq!(rejected_code(&response), &MalformedHandshake, "{codec}");
        closed_code(&mut client_end).await;
    }
}

/// protocol.md 4, step 3: the version (`PROTOCOL_VERSION_MISMATCH`).
#[test]
fn parse_request_rejects_protocol_version_v0() {
    let mut v0 = request(V2_0, 0, 0);
    v0.protocol_version = "v0".into();
    for codec in CODECS {
        match parse_request(codec, &request_frame(codec, &v0), &ProtocolVersion::ALL) {
            Err(RequestError::Rejected { rejection, .. }) => {
                assert_eq!(rejection.code, ProtocolVersionMismatch, "{codec}");
            }
            other => panic!("{codec}: {other:?}"),
        }
    }
    // A known version the server does not accept is a mismatch too.
    let v1 = request(V1_1, 0, 0);
    match parse_request(
        CodecKind::Json,
        &request_frame(CodecKind::Json, &v1),
        &[V2_0],
    ) {
        Err(RequestError::Rejected { rejection, .. }) => {
            assert_eq!(rejection.code, ProtocolVersionMismatch);
        }
        other => panic!("{other:?}"),
    }
}

/// Protocol version `v0`: the connection is closed and `handshake_failed` reported with
/// `PROTOCOL_VERSION_MISMATCH`.
#[tokio::test(start_paused = true)]
async fn driver_rejects_protocol_version_v0() {
    let codec = CodecKind::Json;
    let (mut server, mut client_end) = pending(codec);
    let mut v0 = request(V2_0, 0, 0);
    v0.protocol_version = "v0".into();
    client_end.send(request_frame(codec, &v0)).unwrap();
    server.step().await;
    assert_eq!(
        summarize(server.take_outputs()),
        [
            Ev::HandshakeFailed(ProtocolVersionMismatch),
            Ev::Ended(End::HandshakeFailed)
        ]
    );
    let response = response_on(codec, &mut client_end).await;
    assert_eq!(rejected_code(&response), &ProtocolVersionMismatch);
    assert_eq!(
        closed_code(&mut client_end).await,
        Some(CloseCode::SESSION_ENDED)
    );
}

/// protocol.md 2-4: a v1.1 request is accepted, and the session remembers its version.
#[tokio::test(start_paused = true)]
async fn v1_1_requests_are_accepted() {
    for codec in CODECS {
        let req = request(V1_1, 0, 0);
        let parsed =
            parse_request(codec, &request_frame(codec, &req), &ProtocolVersion::ALL).unwrap();
        assert_eq!((parsed.version, &parsed.request), (V1_1, &req));

        let (mut server, mut client_end) = pending(codec);
        client_end.send(request_frame(codec, &req)).unwrap();
        let parsed = next_request(&mut server).await;
        server.accept(&parsed);
        assert_eq!(server.context().unwrap().version, V1_1);
        let response = response_on(codec, &mut client_end).await;
        assert!(
            matches!(response, HandshakeResponse::Ok { .. }),
            "{response:?}"
        );
    }
}

/// protocol.md 4, step 4: a client whose metadata fails the schema gets `handshake_failed`, and
/// the hook is never called.
#[tokio::test(start_paused = true)]
async fn metadata_failing_the_schema_is_malformed_meta_and_validate_is_not_called() {
    let hook = Hook::new(Verdict::Accept);
    let bad = [
        None,
        Some(Value::Null),
        Some(Value::from("token")),
        Some(Map::new().into()),
    ];
    for metadata in bad {
        let mut req = request(V2_0, 0, 0);
        req.metadata = metadata;
        let rejection = validate_metadata(Some(&hook), "client", req.metadata.as_ref(), None)
            .await
            .unwrap_err();
        assert_eq!(rejection.code, MalformedHandshakeMeta, "{:?}", req.metadata);
    }
    assert_eq!(hook.calls(), (4, 0), "validate() never ran");

    // Through a server driver: the client receives the code.
    let codec = CodecKind::Json;
    let (mut server, mut client_end) = pending(codec);
    client_end
        .send(request_frame(
            codec,
            &request(V2_0, 0, 0).with_metadata(Value::Null),
        ))
        .unwrap();
    let parsed = next_request(&mut server).await;
    let rejection = validate_metadata(
        Some(&hook),
        "client",
        parsed.request.metadata.as_ref(),
        None,
    )
    .await
    .unwrap_err();
    server.reject(&rejection);
    assert_eq!(
        summarize(server.take_outputs()),
        [
            Ev::HandshakeFailed(MalformedHandshakeMeta),
            Ev::Ended(End::HandshakeFailed)
        ]
    );
    let response = rejection_on(codec, &mut client_end).await;
    assert_eq!(rejected_code(&response), &MalformedHandshakeMeta);
    assert_eq!(hook.calls(), (5, 0));
}

/// protocol.md 4, step 4 passes and step 5 runs: metadata that fits goes to `validate()`.
#[tokio::test(start_paused = true)]
async fn metadata_fitting_the_schema_goes_to_validate() {
    let hook = Hook::new(Verdict::Accept);
    let req = request(V2_0, 0, 0).with_metadata(token("abc"));
    assert_eq!(
        validate_metadata(Some(&hook), "client", req.metadata.as_ref(), None).await,
        Ok(())
    );
    assert_eq!(hook.calls(), (1, 1));
    // Without a validator there is nothing to check.
    let odd = request(V2_0, 0, 0).with_metadata(Value::from(7u8));
    assert_eq!(
        validate_metadata(None, "client", odd.metadata.as_ref(), None).await,
        Ok(())
    );
}

/// protocol.md 4, step 5: the hook can reject with a code (`REJECTED_BY_CUSTOM_HANDLER`,
/// `REJECTED_UNSUPPORTED_CLIENT`) that the client receives.
#[tokio::test(start_paused = true)]
async fn validate_rejections_carry_their_code_to_the_client() {
    for code in [RejectedByCustomHandler, RejectedUnsupportedClient] {
        let hook = Hook::new(Verdict::Reject(code.clone()));
        let req = request(V2_0, 0, 0).with_metadata(token("abc"));
        let rejection = validate_metadata(Some(&hook), "client", req.metadata.as_ref(), None)
            .await
            .unwrap_err();
        assert_eq!(rejection, Rejection::new(code.clone(), "not this client"));

        for codec in CODECS {
            let (mut server, mut client_end) = pending(codec);
            client_end.send(request_frame(codec, &req)).unwrap();
            let parsed = next_request(&mut server).await;
            let rejection = validate_metadata(
                Some(&hook),
                "client",
                parsed.request.metadata.as_ref(),
                None,
            )
            .await
            .unwrap_err();
            server.reject(&rejection);
            assert_eq!(
                summarize(server.take_outputs()),
                [
                    Ev::HandshakeFailed(code.clone()),
                    Ev::Ended(End::HandshakeFailed)
                ]
            );
            let response = rejection_on(codec, &mut client_end).await;
            assert_eq!(
                response,
                HandshakeResponse::Err {
                    code: code.clone(),
                    reason: "not this client".into()
                }
            );
            closed_code(&mut client_end).await;
        }
        assert_eq!(hook.calls(), (3, 3));
    }
}

/// `HandshakeValidator` docs / protocol.md 4, step 5: a hook that panics refuses with
/// `REJECTED_BY_CUSTOM_HANDLER`.
#[tokio::test(start_paused = true)]
async fn a_validate_future_that_panics_rejects_by_custom_handler() {
    let hook = Hook::new(Verdict::PanicInFuture);
    let req = request(V2_0, 0, 0).with_metadata(token("abc"));
    let rejection = validate_metadata(Some(&hook), "client", req.metadata.as_ref(), None)
        .await
        .unwrap_err();
    assert_eq!(rejection.code, RejectedByCustomHandler);
    assert_eq!(hook.calls(), (1, 1));
}

/// `HandshakeValidator` docs: "a panic rejects with `REJECTED_BY_CUSTOM_HANDLER`", including a
/// panic in `validate` itself, before it returns its future.
#[tokio::test(start_paused = true)]
async fn a_validate_that_panics_before_its_future_rejects_by_custom_handler() {
    let hook = Hook::new(Verdict::PanicBeforeFuture);
    let req = request(V2_0, 0, 0).with_metadata(token("abc"));
    let rejection = validate_metadata(Some(&hook), "client", req.metadata.as_ref(), None)
        .await
        .unwrap_err();
    assert_eq!(rejection.code, RejectedByCustomHandler);
}

/// Handshake metadata is stored on the server session, and the validation hook sees the previous
/// metadata on a reconnect.
#[tokio::test(start_paused = true)]
async fn the_hook_sees_previous_metadata_on_reconnect() {
    let codec = CodecKind::Json;
    let hook = Hook::new(Verdict::Accept);
    let (mut server, mut client_end) = pending(codec);
    let first = request(V2_0, 0, 0).with_metadata(token("first"));
    client_end.send(request_frame(codec, &first)).unwrap();
    let parsed = next_request(&mut server).await;
    validate_metadata(
        Some(&hook),
        "client",
        parsed.request.metadata.as_ref(),
        None,
    )
    .await
    .unwrap();
    server.accept(&parsed);
    assert_eq!(
        server.metadata(),
        Some(&token("first")),
        "stored on the session"
    );

    let (mut next, mut client_end2) = pending(codec);
    let second = request(V2_0, 0, 0).with_metadata(token("second"));
    client_end2.send(request_frame(codec, &second)).unwrap();
    let parsed = next_request(&mut next).await;
    let previous = server.metadata().cloned();
    validate_metadata(
        Some(&hook),
        "client",
        parsed.request.metadata.as_ref(),
        previous.as_ref(),
    )
    .await
    .unwrap();
    assert_eq!(
        decide(&parsed.request, server.existing().as_ref(), true),
        Decision::Resume
    );
    server.adopt(next, &parsed);
    assert_eq!(
        *hook.previous_seen.lock().unwrap(),
        [None, Some(token("first"))]
    );
    assert_eq!(
        server.metadata(),
        Some(&token("second")),
        "the latest is kept"
    );
    drop(client_end);
}

// ===== 2. decide() ===========================================================================

fn existing(id: &str, ack: u64, next_sent_seq: u64) -> ExistingSession {
    ExistingSession {
        id: id.into(),
        ack,
        next_sent_seq,
    }
}

fn is_mismatch(decision: &Decision, replaces: Option<&str>) -> bool {
    matches!(
        decision,
        Decision::Reject { rejection, replaces: r }
            if rejection.code == SessionStateMismatch && r.as_deref() == replaces
    )
}

/// protocol.md 4, step 6: the same session id with consistent counters is a transparent
/// reconnect.
#[test]
fn decide_resumes_the_same_session_with_consistent_counters() {
    let old = existing(SESSION, 5, 3);
    // Exactly in step, client behind (it resends what the server already has), and the client
    // holding messages the server still buffers: all resumable.
    for (next_expected, next_sent) in [(3, 5), (3, 2), (4, 5), (3, 0)] {
        assert_eq!(
            decide(&request(V2_0, next_expected, next_sent), Some(&old), true),
            Decision::Resume,
            "client expects {next_expected}, would send {next_sent}"
        );
    }
}

/// protocol.md 4, step 6: a client in the future (`nextSentSeq` above the server's `ack`) is
/// refused with `SESSION_STATE_MISMATCH`.
#[test]
fn decide_rejects_a_client_in_the_future() {
    let decision = decide(&request(V2_0, 3, 6), Some(&existing(SESSION, 5, 3)), true);
    assert!(is_mismatch(&decision, None), "{decision:?}");
}

/// protocol.md 4, step 6: so is a server in the future (its oldest undelivered message above
/// `nextExpectedSeq`).
#[test]
fn decide_rejects_a_server_in_the_future() {
    let decision = decide(&request(V2_0, 2, 5), Some(&existing(SESSION, 5, 3)), true);
    assert!(is_mismatch(&decision, None), "{decision:?}");
}

/// protocol.md 4, step 6: another session id is a hard reconnect: the old session ends and a new
/// one starts.
#[test]
fn decide_replaces_a_session_with_another_id() {
    assert_eq!(
        decide(&request(V2_0, 0, 0), Some(&existing("old", 5, 3)), true),
        Decision::New {
            replaces: Some("old".into())
        }
    );
}

/// protocol.md 4, step 6: a hard reconnect, then an unknown session with counters above 0.
#[test]
fn decide_rejects_another_id_with_counters_and_still_replaces() {
    for (next_expected, next_sent) in [(1, 0), (0, 1), (5, 3)] {
        let decision = decide(
            &request(V2_0, next_expected, next_sent),
            Some(&existing("old", 5, 3)),
            true,
        );
        assert!(is_mismatch(&decision, Some("old")), "{decision:?}");
    }
}

/// protocol.md 4, step 6: an unknown session with either counter above 0 is
/// `SESSION_STATE_MISMATCH`.
#[test]
fn decide_rejects_an_unknown_session_with_counters() {
    for (next_expected, next_sent) in [(1, 0), (0, 1), (7, 7)] {
        let decision = decide(&request(V2_0, next_expected, next_sent), None, true);
        assert!(is_mismatch(&decision, None), "{decision:?}");
    }
}

/// protocol.md 4, step 6: otherwise a new session starts with the client's session id.
#[test]
fn decide_starts_a_new_session() {
    assert_eq!(
        decide(&request(V2_0, 0, 0), None, true),
        Decision::New { replaces: None }
    );
    assert_eq!(
        decide(&request(V2_0, 0, 0), None, false),
        Decision::New { replaces: None }
    );
}

/// With transparent reconnects disabled every reconnect is a new session: the same id is treated
/// as a hard reconnect.
#[test]
fn decide_without_transparent_reconnects_treats_the_same_id_as_a_hard_reconnect() {
    let old = existing(SESSION, 5, 3);
    assert_eq!(
        decide(&request(V2_0, 0, 0), Some(&old), false),
        Decision::New {
            replaces: Some(SESSION.into())
        }
    );
    // Counters that a resume would have accepted are refused, the old session still ends.
    let decision = decide(&request(V2_0, 3, 5), Some(&old), false);
    assert!(is_mismatch(&decision, Some(SESSION)), "{decision:?}");
}

// ===== 3. evaluate_response() ================================================================

/// protocol.md 4: an ok response for the client's session connects it.
#[test]
fn evaluate_ok_for_the_same_session_connects() {
    for codec in CODECS {
        assert_eq!(
            evaluate_response(codec, &ok_response(codec, SESSION), SESSION),
            ClientOutcome::Connected
        );
    }
}

/// protocol.md 4: an ok response for another session id is invalid and ends the session.
#[test]
fn evaluate_ok_for_another_session_is_invalid() {
    for codec in CODECS {
        let outcome = evaluate_response(codec, &ok_response(codec, "someone-else"), SESSION);
        assert!(matches!(outcome, ClientOutcome::Invalid(_)), "{outcome:?}");
    }
}

/// protocol.md 4, codes table: only `SESSION_STATE_MISMATCH` is retriable.
#[test]
fn evaluate_rejections_retry_only_on_session_state_mismatch() {
    for codec in CODECS {
        for code in HandshakeErrorCode::KNOWN {
            let outcome = evaluate_response(codec, &err_response(codec, code.clone()), SESSION);
            let rejection = Rejection::new(code.clone(), "no");
            let expected = if code == SessionStateMismatch {
                ClientOutcome::Retry(rejection)
            } else {
                ClientOutcome::Fatal(rejection)
            };
            assert_eq!(outcome, expected, "{codec} {code}");
        }
    }
}

/// `HandshakeErrorCode::Unknown`: "Treated as fatal" (also the code-less v1.1 Python refusal).
#[test]
fn evaluate_unknown_codes_are_fatal() {
    for codec in CODECS {
        let unknown = HandshakeErrorCode::from_wire("SOMETHING_NEW");
        let outcome = evaluate_response(codec, &err_response(codec, unknown.clone()), SESSION);
        assert_eq!(outcome, ClientOutcome::Fatal(Rejection::new(unknown, "no")));

        // `{"ok":false}` with neither code nor reason.
        let mut status = Map::new();
        status.insert("ok", false);
        let mut payload = Map::new();
        payload.insert("type", "HANDSHAKE_RESP");
        payload.insert("status", status);
        let mut msg = PartialMessage::handshake_response(
            generate_id(),
            &HandshakeResponse::Ok {
                session_id: SESSION.into(),
            },
        );
        msg.payload = Value::Map(payload);
        let bare = frame(
            codec,
            msg,
            MessageHeader::handshake("m", SERVER_ID, CLIENT_ID),
        );
        let outcome = evaluate_response(codec, &bare, SESSION);
        assert_eq!(
            outcome,
            ClientOutcome::Fatal(Rejection::new(HandshakeErrorCode::from_wire(""), ""))
        );
    }
}

/// protocol.md 4: a frame that is not a valid response ends the session.
#[test]
fn evaluate_garbage_is_invalid() {
    let heartbeat = frame(
        CodecKind::Json,
        PartialMessage::heartbeat(),
        MessageHeader::handshake("m", SERVER_ID, CLIENT_ID),
    );
    for codec in CODECS {
        for garbage in [&b""[..], b"garbage", b"\xc1", b"[]"] {
            let outcome = evaluate_response(codec, garbage, SESSION);
            assert!(
                matches!(outcome, ClientOutcome::Invalid(_)),
                "{garbage:?}: {outcome:?}"
            );
        }
    }
    let outcome = evaluate_response(CodecKind::Json, &heartbeat, SESSION);
    assert!(
        matches!(outcome, ClientOutcome::Invalid(_)),
        "a heartbeat: {outcome:?}"
    );
}

/// protocol.md 3-4: a `HANDSHAKE_RESP` has flags 0; one with control flags set is invalid.
#[test]
fn evaluate_a_response_with_control_flags_is_invalid() {
    for codec in CODECS {
        for flags in [1, 2, 4, 8, 10] {
            let response = HandshakeResponse::Ok {
                session_id: SESSION.into(),
            };
            let outcome =
                evaluate_response(codec, &response_frame(codec, &response, flags), SESSION);
            assert!(
                matches!(outcome, ClientOutcome::Invalid(_)),
                "flags {flags}: {outcome:?}"
            );
        }
    }
}

/// protocol.md 3: flags 0 means the raw number, bits no version defines included.
#[test]
fn evaluate_a_response_with_undefined_flag_bits_is_invalid() {
    let response = HandshakeResponse::Ok {
        session_id: SESSION.into(),
    };
    let frame = response_frame(CodecKind::Json, &response, 16);
    let outcome = evaluate_response(CodecKind::Json, &frame, SESSION);
    assert!(matches!(outcome, ClientOutcome::Invalid(_)), "{outcome:?}");
}

// ===== 4. the client driver ==================================================================

/// protocol.md 4, codes table: a retriable refusal makes the client drop its session and start a
/// new one; no protocol error is reported.
#[tokio::test(start_paused = true)]
async fn client_retriable_rejection_ends_with_retry() {
    for codec in CODECS {
        let (mut client, mut server_end, _) = handshaking(codec).await;
        server_end
            .send(err_response(codec, SessionStateMismatch))
            .unwrap();
        client.step().await;
        assert_eq!(
            summarize(client.take_outputs()),
            [
                Ev::Status(SessionStatus::Closing),
                Ev::Status(SessionStatus::Closed),
                Ev::Ended(End::Retry(SessionStateMismatch)),
            ]
        );
        assert!(
            matches!(client.ended(), Some(EndReason::Retry(r)) if r.code == SessionStateMismatch)
        );
        closed_code(&mut server_end).await;
    }
}

/// protocol.md 4, codes table: a fatal refusal is reported as `handshake_failed` with its code,
/// ends the session and stops reconnecting.
#[tokio::test(start_paused = true)]
async fn client_fatal_rejection_reports_handshake_failed_then_ends() {
    let fatal = HandshakeErrorCode::KNOWN
        .into_iter()
        .filter(|c| *c != SessionStateMismatch)
        .chain([HandshakeErrorCode::from_wire("SOMETHING_NEW")]);
    for code in fatal {
        let codec = CodecKind::Json;
        let (mut client, mut server_end, _) = handshaking(codec).await;
        server_end.send(err_response(codec, code.clone())).unwrap();
        client.step().await;
        assert_eq!(
            summarize(client.take_outputs()),
            [
                Ev::HandshakeFailed(code.clone()),
                Ev::Status(SessionStatus::Closing),
                Ev::Status(SessionStatus::Closed),
                Ev::Ended(End::Fatal(code.clone())),
            ],
            "{code}"
        );
        assert_eq!(client.state_name(), None);
        closed_code(&mut server_end).await;
    }
}

/// protocol.md 4: an ok response for another session id ends the session.
#[tokio::test(start_paused = true)]
async fn client_ok_for_another_session_is_an_invalid_message() {
    for codec in CODECS {
        let (mut client, mut server_end, _) = handshaking(codec).await;
        server_end.send(ok_response(codec, "someone-else")).unwrap();
        client.step().await;
        assert_eq!(
            summarize(client.take_outputs()),
            [
                Ev::InvalidMessage,
                Ev::Status(SessionStatus::Closing),
                Ev::Status(SessionStatus::Closed),
                Ev::Ended(End::InvalidMessage),
            ]
        );
        closed_code(&mut server_end).await;
    }
}

/// The Handshaking->Connected edge: an ok response for the client's session connects it, and the
/// buffer is resent (protocol.md 4 and 5).
#[tokio::test(start_paused = true)]
async fn client_ok_connects_and_resends_its_buffer() {
    for codec in CODECS {
        let mut client = SessionDriver::client(client_ctx(codec, V2_0), RetryOptions::default());
        let sent: Vec<u64> = (0..3)
            .map(|n| client.send(app_message(n)).unwrap().seq)
            .collect();
        assert_eq!(sent, [0, 1, 2], "queued while not connected");
        let (mut server_end, _) = dial(&mut client).await;
        let (_, req) = request_on(codec, &mut server_end).await;
        assert_eq!(req.expected_session_state.next_sent_seq, 0);
        server_end.send(ok_response(codec, SESSION)).unwrap();
        client.step().await;
        assert_eq!(
            summarize(client.take_outputs()),
            [Ev::Transition("Handshaking", "Connected")]
        );
        for seq in 0..3 {
            let msg = codec.decode(&next_frame(&mut server_end).await).unwrap();
            assert_eq!(
                (msg.seq, msg.payload.get("n")),
                (seq, Some(&Value::from(seq)))
            );
        }
    }
}

/// protocol.md 3: a `HANDSHAKE_REQ` has seq 0, ack 0, flags 0, the version, the session id and
/// the metadata.
#[tokio::test(start_paused = true)]
async fn client_request_carries_version_session_and_metadata() {
    for codec in CODECS {
        for version in ProtocolVersion::ALL {
            for metadata in [None, Some(token("abc"))] {
                let mut ctx = client_ctx(codec, version);
                ctx.metadata.clone_from(&metadata);
                let mut client = SessionDriver::client(ctx, RetryOptions::default());
                let (mut server_end, _) = dial(&mut client).await;
                let (msg, req) = request_on(codec, &mut server_end).await;
                assert_handshake_envelope(&msg, CLIENT_ID, SERVER_ID);
                let mut expected = request(version, 0, 0);
                expected.metadata.clone_from(&metadata);
                assert_eq!(req, expected, "{codec} {version}");
                assert_eq!(
                    msg.payload.get("metadata").is_some(),
                    metadata.is_some(),
                    "metadata is left out when the context has none"
                );
            }
        }
    }
}

/// protocol.md 3 and 5: `expectedSessionState` is the context's `ack` and `next_sent_seq` (the
/// oldest unacknowledged message), here after acks trimmed part of the buffer and the connection
/// dropped.
#[tokio::test(start_paused = true)]
async fn client_reconnect_request_carries_the_context_counters() {
    let codec = CodecKind::Msgpack;
    let mut ctx = client_ctx(codec, V2_0);
    ctx.metadata = Some(token("abc"));
    let mut client = SessionDriver::client(ctx, RetryOptions::default());
    let (mut conn1, _) = dial(&mut client).await;
    request_on(codec, &mut conn1).await;
    conn1.send(ok_response(codec, SESSION)).unwrap();
    client.step().await;
    for n in 0..3 {
        client.send(app_message(n)).unwrap();
    }
    // The server acknowledges seq 0 and 1 with a message of its own.
    conn1
        .send(sequenced(codec, SERVER_ID, CLIENT_ID, 0, 2, 9))
        .unwrap();
    client.step().await;
    let ctx = client.context().unwrap();
    assert_eq!((ctx.seq, ctx.ack, ctx.next_sent_seq()), (3, 1, 2));
    conn1.close(CloseCode::SESSION_CONTINUES);
    client.step().await;
    assert_eq!(client.state_name(), Some("BackingOff"));

    let (mut conn2, _) = dial(&mut client).await;
    let (msg, req) = request_on(codec, &mut conn2).await;
    assert_handshake_envelope(&msg, CLIENT_ID, SERVER_ID);
    assert_eq!(
        req,
        request(V2_0, 1, 2).with_metadata(token("abc")),
        "nextExpectedSeq = ack, nextSentSeq = oldest unacknowledged seq"
    );
}

// ===== 5. server drivers: accept, adopt, reject ==============================================

/// The WaitingForHandshake->Connected edge for a new session: the ok response is written and the
/// session is connected (protocol.md 4). Run over both codecs.
async fn accept_over(codec: CodecKind) {
    let (mut server, mut client_end) = pending(codec);
    let req = request(V2_0, 0, 0).with_metadata(token("abc"));
    client_end.send(request_frame(codec, &req)).unwrap();
    let parsed = next_request(&mut server).await;
    assert_eq!((&parsed.request, parsed.version), (&req, V2_0));
    assert_eq!(parsed.msg.from, CLIENT_ID);
    assert_eq!(server.state_name(), Some("WaitingForHandshake"));
    assert_eq!(
        decide(&parsed.request, None, true),
        Decision::New { replaces: None }
    );

    server.accept(&parsed);
    assert_eq!(
        summarize(server.take_outputs()),
        [Ev::Status(SessionStatus::Created), CONNECTED]
    );
    assert_eq!(server.state_name(), Some("Connected"));
    let ctx = server.context().unwrap();
    assert_eq!(
        (
            ctx.id.as_str(),
            ctx.from.as_str(),
            ctx.to.as_str(),
            ctx.version
        ),
        (SESSION, SERVER_ID, CLIENT_ID, V2_0)
    );
    assert_eq!(ctx.metadata, Some(token("abc")));
    assert_eq!((ctx.seq, ctx.ack, ctx.send_buffer.len()), (0, 0, 0));
    assert_eq!(
        ctx.grace_deadline, None,
        "a connected session has no grace deadline"
    );
    assert_eq!(ctx.codec, codec);

    let response = response_on(codec, &mut client_end).await;
    assert_eq!(
        response,
        HandshakeResponse::Ok {
            session_id: SESSION.into()
        }
    );
    // Messages now flow on the same connection, in the session's codec.
    server.send(app_message(1)).unwrap();
    let msg = codec.decode(&next_frame(&mut client_end).await).unwrap();
    assert_eq!(
        (msg.seq, msg.from.as_str(), msg.to.as_str()),
        (0, SERVER_ID, CLIENT_ID)
    );
}

#[tokio::test(start_paused = true)]
async fn accept_over_json() {
    accept_over(CodecKind::Json).await;
}

#[tokio::test(start_paused = true)]
async fn accept_over_msgpack() {
    accept_over(CodecKind::Msgpack).await;
}

/// The WaitingForHandshake->Connected edge for an existing session: the session's old
/// connection, if any, is closed, the session moves to the new one, and its buffer is resent
/// there (protocol.md 4 and 5).
#[tokio::test(start_paused = true)]
async fn adopt_moves_a_connected_session_to_the_new_connection() {
    for codec in CODECS {
        let (mut server, mut old_end) = accepted(codec, Some(token("first"))).await;
        let ids: Vec<String> = (0..3)
            .map(|n| server.send(app_message(n)).unwrap().id)
            .collect();
        let mut written = Vec::new();
        for _ in 0..3 {
            written.push(next_frame(&mut old_end).await);
        }
        // The client's first message moves the server's ack to 1; it acknowledges nothing.
        old_end
            .send(sequenced(codec, CLIENT_ID, SERVER_ID, 0, 0, 7))
            .unwrap();
        server.step().await;
        assert_eq!(summarize(server.take_outputs()), [Ev::Message(0)]);
        let before = server.context().unwrap().clone();
        assert_eq!((before.seq, before.ack, before.next_sent_seq()), (3, 1, 0));

        // The client reconnects: it has not received anything, and holds nothing unacked
        // beyond what the server already has.
        let (mut pending_driver, mut new_end) = pending(codec);
        let req = request(V2_0, 0, 1).with_metadata(token("second"));
        new_end.send(request_frame(codec, &req)).unwrap();
        let parsed = next_request(&mut pending_driver).await;
        assert_eq!(
            server.existing(),
            Some(existing(SESSION, 1, 0)),
            "what the decision is based on"
        );
        assert_eq!(
            decide(&parsed.request, server.existing().as_ref(), true),
            Decision::Resume
        );
        server.adopt(pending_driver, &parsed);

        assert_eq!(
            summarize(server.take_outputs()),
            [Ev::Transition("Connected", "NoConnection"), CONNECTED],
            "no new Status(Created)"
        );
        assert_eq!(
            closed_code(&mut old_end).await,
            Some(CloseCode::SESSION_CONTINUES),
            "the old connection is closed, saying the session goes on"
        );
        let response = response_on(codec, &mut new_end).await;
        assert_eq!(
            response,
            HandshakeResponse::Ok {
                session_id: SESSION.into()
            }
        );
        for (i, id) in ids.iter().enumerate() {
            let resent = next_frame(&mut new_end).await;
            assert_eq!(
                resent, written[i],
                "the buffer is resent as written, in order"
            );
            assert_eq!(&codec.decode(&resent).unwrap().id, id);
        }
        let after = server.context().unwrap();
        assert_eq!(server.state_name(), Some("Connected"));
        assert_eq!(
            (
                &after.id,
                &after.to,
                after.seq,
                after.ack,
                &after.send_buffer
            ),
            (
                &before.id,
                &before.to,
                before.seq,
                before.ack,
                &before.send_buffer
            )
        );
        assert_eq!(after.metadata, Some(token("second")));
        assert_eq!(after.grace_deadline, None);
    }
}

/// As above, for a session that had already lost its connection (`NoConnection`), with a message
/// sent while disconnected.
#[tokio::test(start_paused = true)]
async fn adopt_resumes_a_session_waiting_without_a_connection() {
    let codec = CodecKind::Json;
    let (mut server, mut old_end) = accepted(codec, None).await;
    server.send(app_message(0)).unwrap();
    old_end.close(CloseCode::SESSION_CONTINUES);
    server.step().await;
    assert_eq!(
        summarize(server.take_outputs()),
        [Ev::Transition("Connected", "NoConnection")]
    );
    assert!(server.context().unwrap().grace_deadline.is_some());
    assert_eq!(
        server.send(app_message(1)).unwrap().seq,
        1,
        "buffered while disconnected"
    );

    let (mut pending_driver, mut new_end) = pending(codec);
    new_end
        .send(request_frame(codec, &request(V2_0, 0, 0)))
        .unwrap();
    let parsed = next_request(&mut pending_driver).await;
    assert_eq!(
        decide(&parsed.request, server.existing().as_ref(), true),
        Decision::Resume
    );
    server.adopt(pending_driver, &parsed);
    assert_eq!(summarize(server.take_outputs()), [CONNECTED]);
    assert!(matches!(
        response_on(codec, &mut new_end).await,
        HandshakeResponse::Ok { .. }
    ));
    for seq in 0..2 {
        assert_eq!(
            codec.decode(&next_frame(&mut new_end).await).unwrap().seq,
            seq
        );
    }
    assert_eq!(server.context().unwrap().grace_deadline, None);
}

/// protocol.md 4: a refusal writes the error response, reports `handshake_failed` and closes the
/// connection; a refused resume leaves the existing session alone.
#[tokio::test(start_paused = true)]
async fn reject_writes_the_error_then_closes() {
    for codec in CODECS {
        let (mut server, mut old_end) = accepted(codec, None).await;
        let (mut pending_driver, mut new_end) = pending(codec);
        // A client in the future: it would send seq 5, the server expects 0.
        new_end
            .send(request_frame(codec, &request(V2_0, 0, 5)))
            .unwrap();
        let parsed = next_request(&mut pending_driver).await;
        let Decision::Reject {
            rejection,
            replaces,
        } = decide(&parsed.request, server.existing().as_ref(), true)
        else {
            panic!("expected a rejection");
        };
        assert_eq!((&rejection.code, replaces), (&SessionStateMismatch, None));
        pending_driver.reject(&rejection);
        assert_eq!(
            summarize(pending_driver.take_outputs()),
            [
                Ev::HandshakeFailed(SessionStateMismatch),
                Ev::Ended(End::HandshakeFailed)
            ]
        );
        let response = rejection_on(codec, &mut new_end).await;
        assert_eq!(response, rejection.response());
        closed_code(&mut new_end).await;

        // The existing session is untouched and still talks on its connection.
        assert!(server.take_outputs().is_empty());
        assert_eq!(server.state_name(), Some("Connected"));
        server.send(app_message(1)).unwrap();
        assert_eq!(
            codec.decode(&next_frame(&mut old_end).await).unwrap().seq,
            0
        );
    }
}

/// protocol.md 2: `to` is the recipient's id. A rejection decided by the server's owner (metadata,
/// hook or session state, i.e. after `Output::HandshakeRequest`) must be addressed to the
/// client that sent the request, as the rejections the driver decides itself are.
#[tokio::test(start_paused = true)]
async fn reject_after_a_request_addresses_the_client() {
    let codec = CodecKind::Json;
    let (mut server, mut client_end) = pending(codec);
    client_end
        .send(request_frame(codec, &request(V2_0, 0, 5)))
        .unwrap();
    let parsed = next_request(&mut server).await;
    let Decision::Reject { rejection, .. } = decide(&parsed.request, None, true) else {
        panic!("expected a rejection");
    };
    server.reject(&rejection);
    let (msg, response) = response_msg(codec, &mut client_end).await;
    assert_eq!(response, rejection.response());
    assert_eq!(msg.to, CLIENT_ID);
}
