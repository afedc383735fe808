//! What the sessions log, seen through a capturing `tracing` subscriber: one `river.session`
//! span per session (role, peer, session id; `crate::trace`), the session's transitions as
//! events inside it naming their edge, and `RUST_LOG`-style filtering (`EnvFilter`) deciding
//! what is kept.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use statebound_river::echo_service::{Msg, service};
use statebound_river::router::{RiverClient, serve};
use statebound_river::transport::{
    ClientOptions, ClientTransport, MemoryDialer, ServerOptions, ServerTransport,
};
use statebound_river::wire::ProtocolVersion;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

type Fields = HashMap<String, String>;

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// One event as captured, with the fields of the span it belongs to.
#[derive(Debug, Clone)]
struct Seen {
    level: Level,
    fields: Fields,
    span: Option<(u64, String, Fields)>,
}

impl Seen {
    fn message(&self) -> &str {
        self.fields.get("message").map_or("", String::as_str)
    }

    fn span_field(&self, name: &str) -> &str {
        self.span
            .as_ref()
            .and_then(|(_, _, f)| f.get(name))
            .map_or("", String::as_str)
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Seen>>>);

struct SpanFields(Fields);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Visitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(SpanFields(fields)) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut Visitor(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        let span = ctx.event_span(event).map(|s| {
            let recorded = s
                .extensions()
                .get::<SpanFields>()
                .map(|f| f.0.clone())
                .unwrap_or_default();
            (s.id().into_u64(), s.name().to_owned(), recorded)
        });
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                level: *event.metadata().level(),
                fields,
                span,
            });
    }
}

impl Capture {
    /// A capture behind `filter` (`RUST_LOG` syntax), the default subscriber of this thread
    /// until the guard is dropped.
    fn install(filter: &str) -> (Capture, tracing::subscriber::DefaultGuard) {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new(filter))
            .with(capture.clone());
        (capture, crate::scoped_subscriber::set_default(subscriber))
    }

    fn seen(&self) -> Vec<Seen> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn transitions(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.message() == "transition")
            .collect()
    }
}

fn setup(accepted: Vec<ProtocolVersion>) -> (ServerTransport, RiverClient) {
    let server = ServerTransport::new(
        "SERVER",
        ServerOptions {
            accepted_versions: accepted,
            ..ServerOptions::default()
        },
    );
    let _router = serve(&server, vec![service()]);
    let transport = ClientTransport::new(
        "span-client",
        Arc::new(MemoryDialer::new(server.clone())),
        ClientOptions::default(),
    );
    (server, RiverClient::new(transport, "SERVER"))
}

async fn echo(client: &RiverClient) {
    let out: Msg = client
        .rpc("test", "echo", &Msg { msg: "x".into() })
        .await
        .unwrap();
    assert_eq!(out.msg, "x");
}

/// The span ids that carry `role`'s transitions of `session`.
fn spans_of(seen: &[Seen], role: &str, session: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = seen
        .iter()
        .filter(|s| s.span_field("role") == role && s.span_field("session_id") == session)
        .filter_map(|s| s.span.as_ref().map(|(id, _, _)| *id))
        .collect();
    ids.dedup();
    ids
}

#[tokio::test(start_paused = true)]
async fn each_session_has_one_span_holding_its_transitions() {
    let (capture, _guard) = Capture::install("statebound_river=info");
    let (server, client) = setup(ProtocolVersion::ALL.to_vec());
    echo(&client).await;
    let first = server.session_id("span-client").unwrap();
    // A cut: the same session resumes on a new connection.
    server.drop_connections();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    echo(&client).await;
    assert_eq!(server.session_id("span-client").as_ref(), Some(&first));
    // A new session.
    client.transport().hard_disconnect("SERVER");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    echo(&client).await;
    let second = server.session_id("span-client").unwrap();
    assert_ne!(first, second);

    let transitions = capture.transitions();
    for t in &transitions {
        assert_eq!(t.level, Level::INFO);
        let (_, name, _) = t.span.as_ref().expect("a transition is inside a span");
        assert_eq!(name, "river.session");
        for field in ["transition", "from", "to"] {
            assert!(t.fields.contains_key(field), "{t:?} has {field}");
        }
        assert!(!t.span_field("session_id").is_empty(), "{t:?}");
    }
    let edges = |role: &str, session: &str| -> Vec<String> {
        transitions
            .iter()
            .filter(|t| t.span_field("role") == role && t.span_field("session_id") == session)
            .map(|t| t.fields["transition"].clone())
            .collect()
    };
    assert_eq!(
        edges("server", &first),
        [
            "handshake_ok",
            "connection_lost",
            "handshake_ok",
            "connection_lost"
        ],
        "the server's first session: connected, cut, resumed, ended by the client's disconnect"
    );
    assert_eq!(edges("server", &second), ["handshake_ok"]);
    let client_edges = edges("client", &first);
    assert_eq!(
        &client_edges[..4],
        [
            "back_off",
            "connect",
            "connection_established",
            "handshake_ok"
        ]
    );
    assert!(client_edges.contains(&"connection_lost".to_owned()));
    for t in &transitions {
        let peer = t.span_field("peer");
        match t.span_field("role") {
            "server" => assert_eq!(peer, "span-client"),
            "client" => assert_eq!(peer, "SERVER"),
            other => panic!("role {other:?}"),
        }
    }
    let seen = capture.seen();
    for (role, session) in [("server", &first), ("client", &first), ("server", &second)] {
        assert_eq!(
            spans_of(&seen, role, session).len(),
            1,
            "one {role} span for session {session}"
        );
    }
    assert_ne!(
        spans_of(&seen, "client", &first),
        spans_of(&seen, "client", &second),
        "a new session, a new span"
    );
}

#[tokio::test(start_paused = true)]
async fn the_filter_keeps_warnings_and_drops_transitions() {
    let (capture, _guard) = Capture::install("statebound_river=warn");
    let (_server, client) = setup(vec![ProtocolVersion::V1_1]);
    client
        .rpc::<_, Msg>("test", "echo", &Msg { msg: "x".into() })
        .await
        .unwrap_err();
    let seen = capture.seen();
    assert!(capture.transitions().is_empty(), "{seen:?}");
    assert!(
        seen.iter().any(|s| s.level == Level::WARN
            && s.message() == "protocol error"
            && s.fields["error"].contains("ProtocolVersionMismatch")),
        "{seen:?}"
    );
    assert!(seen.iter().all(|s| s.level <= Level::WARN));
}
