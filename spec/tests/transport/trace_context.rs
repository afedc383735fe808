//! Trace context through OpenTelemetry (the `otel` feature; `docs/protocol.md` section 2,
//! "Trace context"): the `tracing` field of a handshake parents the server's session span, the
//! field of a call's opening frame parents the call's span (which the handler runs in and sees
//! in its context), and our client sends the context it opens a call in. The spans are read
//! back from OpenTelemetry's in-memory exporter.

use crate::transport_support::{Cell, Net, RawEvent, RawPeer, SERVER};
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use statebound_river::router::{CallContext, RiverClient, RiverError, Service, serve};
use statebound_river::trace::{format_traceparent, parse_traceparent};
use statebound_river::transport::{CodecMode, ServerOptions, ServerTransport};
use statebound_river::wire::{
    Codec, CodecKind, ExpectedSessionState, HandshakeRequest, MessageHeader, PartialMessage,
    ProtocolVersion, Tracing, TransportMessage, Value,
};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// An OpenTelemetry pipeline into memory, installed as this thread's subscriber until the
/// guard drops.
struct Exported {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Exported {
    fn install() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let guard =
            crate::scoped_subscriber::set_default(tracing_subscriber::registry().with(layer));
        Exported {
            exporter,
            provider,
            _guard: guard,
        }
    }

    /// The spans that have ended.
    fn spans(&self) -> Vec<SpanData> {
        self.provider.force_flush().expect("the spans flush");
        self.exporter
            .get_finished_spans()
            .expect("the exporter has the spans")
    }
}

/// The one ended span named `name` whose attribute `key` is `value`.
fn span<'a>(spans: &'a [SpanData], name: &str, key: &str, value: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            s.attributes
                .iter()
                .any(|kv| kv.key.as_str() == key && kv.value.as_str() == value)
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {name} span with {key}={value} among {:#?}",
        spans
            .iter()
            .map(|s| (&s.name, &s.attributes))
            .collect::<Vec<_>>()
    );
    found[0]
}

/// The trace id and span id a `traceparent` names.
fn ids(traceparent: &str) -> (TraceId, SpanId) {
    let (trace, span, _) = parse_traceparent(traceparent).expect("a valid traceparent");
    (TraceId::from(trace), SpanId::from(span))
}

/// A `trace.whoami` rpc: answers with the traceparent its opening frame carried, and whether
/// the handler runs inside the call's span.
fn trace_service() -> Service {
    Service::new("trace").rpc("whoami", |ctx: CallContext, (): ()| async move {
        let inside = tracing::Span::current().id() == ctx.span.id() && ctx.span.id().is_some();
        Ok::<_, RiverError>((ctx.trace.map(|t| t.traceparent), inside))
    })
}

const HANDSHAKE_TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const CALL_TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A hand-played peer with known contexts: the handshake's parents the server's session span,
/// the opening frame's parents the call's span, and the handler sees the latter.
#[tokio::test(start_paused = true)]
async fn remote_contexts_parent_the_session_and_call_spans() {
    let exported = Exported::install();
    let cell = Cell::new(CodecKind::Json, Net::Memory);
    let server = ServerTransport::new(
        SERVER,
        ServerOptions {
            codec: CodecMode::Fixed(CodecKind::Json),
            ..cell.server_options()
        },
    );
    let _router = serve(&server, vec![trace_service()]);
    let mut peer = RawPeer::connect(&server, None).await;
    let with = |tp: &str| Tracing {
        traceparent: tp.into(),
        tracestate: "vendor=1".into(),
    };
    let request = HandshakeRequest::new(
        ProtocolVersion::V2_0,
        "raw-session",
        ExpectedSessionState::default(),
    );
    let handshake =
        PartialMessage::handshake_request("hs", &request).with_tracing(with(HANDSHAKE_TP));
    peer.send(frame(handshake, 0)).await;
    let RawEvent::Frame(_) = peer.next(cell.patience()).await else {
        panic!("the server answers the handshake")
    };
    let mut open = PartialMessage::heartbeat();
    open.stream_id = "call-1".into();
    open.control_flags = 2 | 8;
    open.service_name = Some("trace".into());
    open.procedure_name = Some("whoami".into());
    open.payload = Value::Null;
    peer.send(frame(open.with_tracing(with(CALL_TP)), 0)).await;
    let answer = loop {
        let RawEvent::Frame(bytes) = peer.next(cell.patience()).await else {
            panic!("the connection stays open")
        };
        let msg = CodecKind::Json.decode(&bytes).expect("a frame");
        if msg.stream_id == "call-1" {
            break msg;
        }
    };
    assert_eq!(
        answer.payload.get("payload"),
        Some(&Value::Array(vec![Value::from(CALL_TP), Value::Bool(true)])),
        "the handler saw the opening frame's context, inside the call's span"
    );
    server.close().await;

    let spans = exported.spans();
    let session = span(&spans, "river.session", "role", "server");
    let (trace, parent) = ids(HANDSHAKE_TP);
    assert_eq!(session.span_context.trace_id(), trace);
    assert_eq!(session.parent_span_id, parent);
    let call_span = span(&spans, "river.call", "stream_id", "call-1");
    let (trace, parent) = ids(CALL_TP);
    assert_eq!(call_span.span_context.trace_id(), trace);
    assert_eq!(call_span.parent_span_id, parent);
    assert_eq!(
        call_span.span_context.trace_state().header(),
        "vendor=1",
        "tracestate is kept"
    );
}

/// A frame from the raw client `raw` to `SERVER`.
fn frame(msg: PartialMessage, seq: u64) -> Vec<u8> {
    let msg: TransportMessage = msg.into_message(MessageHeader {
        id: format!("raw-{seq}"),
        from: "raw".into(),
        to: SERVER.into(),
        seq,
        ack: 0,
    });
    CodecKind::Json.encode(&msg).expect("the frame encodes")
}

/// Our client sends its session span's context with the handshake and the current context with
/// a call: the server's session span is a child of the client's, and the call's span a child of
/// the span the call was made in.
#[tokio::test(start_paused = true)]
async fn our_client_sends_its_context() {
    let exported = Exported::install();
    let cell = Cell::new(CodecKind::Msgpack, Net::Memory);
    let mut p = cell.pair().await;
    let _router = serve(&p.server, vec![trace_service()]);
    let client = RiverClient::new(p.client.clone(), SERVER);
    let app = tracing::info_span!("app.request");
    let (seen, inside): (Option<String>, bool) = client
        .rpc("trace", "whoami", &())
        .instrument(app.clone())
        .await
        .expect("the call");
    assert!(inside);
    let app_context = statebound_river::trace::context_of(&app).expect("an exported span");
    assert_eq!(seen.as_deref(), Some(app_context.traceparent.as_str()));
    drop(app);
    drop(client);
    p.close().await;

    let spans = exported.spans();
    let app = spans
        .iter()
        .find(|s| s.name == "app.request")
        .expect("the app span");
    let call_span = span(&spans, "river.call", "procedure", "whoami");
    assert_eq!(
        call_span.span_context.trace_id(),
        app.span_context.trace_id()
    );
    assert_eq!(call_span.parent_span_id, app.span_context.span_id());
    let client_session = span(&spans, "river.session", "role", "client");
    let server_session = span(&spans, "river.session", "role", "server");
    assert_eq!(
        server_session.span_context.trace_id(),
        client_session.span_context.trace_id()
    );
    assert_eq!(
        server_session.parent_span_id,
        client_session.span_context.span_id()
    );
    assert_eq!(
        format_traceparent(
            u128::from_be_bytes(app.span_context.trace_id().to_bytes()),
            u64::from_be_bytes(app.span_context.span_id().to_bytes()),
            app.span_context.trace_flags().to_u8(),
        ),
        app_context.traceparent
    );
}
