//! An HTTP status page for a server transport, with its Prometheus metrics (feature `status`).
//!
//! [`StatusPage::router`] serves, on one address:
//!
//! - `/`: the session graph drawn from [`GRAPH`] (an SVG made on
//!   the server), each state labelled with the sessions in it now; a table of the live sessions
//!   (peer, session id, state, since, seq/ack, buffer depth, protocol version, codec); and the
//!   last transitions. The page follows `/events` and redraws as sessions move. Everything it
//!   needs is in the binary: no script, style or font comes from anywhere else.
//! - `/events`: server-sent events, one `status` event with the JSON of `/api/status` after
//!   every change (at most ten a second) and at least once a second.
//! - `/api/status`: `{"states": [{"name", "count"}], "sessions": [...], "transitions": [...]}`.
//! - `/metrics`: the registry in the `OpenMetrics` text format, for Prometheus.
//! - `/healthz`: `ok` while the transport takes connections, 503 (`draining` or `closed`) once
//!   it [stops accepting](ServerTransport::stop_accepting) or is closed.
//!
//! `river-echo --metrics ADDR` serves this page for its server.

mod graph_svg;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use prometheus_client::registry::Registry;
use serde_json::{Value as Json, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::graph::session::GRAPH;
use crate::transport::{ServerTransport, SessionSnapshot, TransportEvent};

/// Transitions the page lists, newest first.
pub const RECENT_TRANSITIONS: usize = 50;

const PAGE: &str = include_str!("page.html");

/// One transition as the page lists it.
#[derive(Debug, Clone)]
struct Recent {
    at: SystemTime,
    peer: String,
    session_id: String,
    from: &'static str,
    to: &'static str,
    transition: &'static str,
}

struct Shared {
    server: ServerTransport,
    registry: Arc<Registry>,
    recent: Mutex<VecDeque<Recent>>,
    /// Bumped on every event the page may want to show.
    changed: watch::Sender<u64>,
    closed: std::sync::atomic::AtomicBool,
}

/// The status page of one server transport. See the module docs.
#[derive(Clone)]
pub struct StatusPage {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StatusPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusPage")
            .field("server", &self.shared.server)
            .finish_non_exhaustive()
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl StatusPage {
    /// A page for `server`, serving `registry` at `/metrics` (the one its
    /// [`Metrics`](crate::metrics::Metrics) were registered in, with anything else the embedder
    /// added). It follows the server's status events from now on. Must be called inside a
    /// tokio runtime.
    pub fn new(server: &ServerTransport, registry: Arc<Registry>) -> Self {
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            server: server.clone(),
            registry,
            recent: Mutex::new(VecDeque::with_capacity(RECENT_TRANSITIONS)),
            changed,
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        let mut events = server.subscribe_status();
        let follower = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    TransportEvent::SessionTransition {
                        peer,
                        session_id,
                        from,
                        to,
                        transition,
                    } => {
                        let mut recent = follower
                            .recent
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        if recent.len() == RECENT_TRANSITIONS {
                            recent.pop_back();
                        }
                        recent.push_front(Recent {
                            at: SystemTime::now(),
                            peer,
                            session_id,
                            from,
                            to,
                            transition,
                        });
                    }
                    TransportEvent::TransportClosed => {
                        follower
                            .closed
                            .store(true, std::sync::atomic::Ordering::Release);
                    }
                    _ => {}
                }
                follower.changed.send_modify(|n| *n += 1);
            }
        });
        StatusPage { shared }
    }

    /// The routes of the module docs.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/events", get(events))
            .route("/api/status", get(status))
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .with_state(Arc::clone(&self.shared))
    }

    /// Serves the page on `addr` (`127.0.0.1:0` picks a port) until the task is aborted;
    /// returns the address bound.
    pub async fn bind(&self, addr: SocketAddr) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let router = self.router();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "the status page stopped serving");
            }
        });
        Ok((local, task))
    }

    /// What `/api/status` answers now.
    pub async fn snapshot(&self) -> Json {
        snapshot(&self.shared).await
    }
}

fn session_json(s: &SessionSnapshot) -> Json {
    json!({
        "peer": s.peer,
        "session_id": s.session_id,
        "state": s.state,
        "since_ms": millis(s.since),
        "seq": s.seq,
        "ack": s.ack,
        "buffered": s.buffered,
        "version": s.version.as_str(),
        "codec": s.codec.as_str(),
    })
}

/// Sessions in each state of the graph, counted from the sessions' own answers, so the
/// counts and the table agree.
fn counts(sessions: &[SessionSnapshot]) -> Vec<(&'static str, i64)> {
    GRAPH
        .states
        .iter()
        .map(|s| {
            let n = sessions.iter().filter(|x| x.state == s.name).count();
            (s.name, i64::try_from(n).unwrap_or(i64::MAX))
        })
        .collect()
}

async fn snapshot(shared: &Shared) -> Json {
    let sessions = shared.server.sessions().await;
    let recent: Vec<Json> = shared
        .recent
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|r| {
            json!({
                "at_ms": millis(r.at),
                "peer": r.peer,
                "session_id": r.session_id,
                "from": r.from,
                "to": r.to,
                "transition": r.transition,
            })
        })
        .collect();
    json!({
        "server_id": shared.server.server_id(),
        "now_ms": millis(SystemTime::now()),
        "states": counts(&sessions)
            .into_iter()
            .map(|(name, count)| json!({"name": name, "count": count}))
            .collect::<Vec<_>>(),
        "sessions": sessions.iter().map(session_json).collect::<Vec<_>>(),
        "transitions": recent,
    })
}

async fn page(State(shared): State<Arc<Shared>>) -> Html<String> {
    let sessions = shared.server.sessions().await;
    let counts = counts(&sessions);
    let svg = graph_svg::render(&GRAPH, |state| {
        counts
            .iter()
            .find(|(name, _)| *name == state)
            .map_or(0, |(_, n)| *n)
    });
    Html(
        PAGE.replace(
            "{{SERVER_ID}}",
            &shared.server.server_id().replace('<', "&lt;"),
        )
        .replace("{{GRAPH}}", &svg),
    )
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        snapshot(&shared).await.to_string(),
    )
        .into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &shared.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.closed.load(std::sync::atomic::Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "closed\n").into_response()
    } else if !shared.server.is_accepting() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

/// Changes come at most this often.
const EVENT_GAP: Duration = Duration::from_millis(100);
/// A snapshot goes out at least this often.
const EVENT_REFRESH: Duration = Duration::from_secs(1);

async fn events(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changed = shared.changed.subscribe();
    let stream = futures_util::stream::unfold(
        (shared, changed, true),
        |(shared, mut changed, first)| async move {
            if !first {
                // A change (or the refresh) and then a short gap, so a burst of transitions
                // is one event and the sessions have published their state.
                let _ = tokio::time::timeout(EVENT_REFRESH, changed.changed()).await;
                tokio::time::sleep(EVENT_GAP).await;
                changed.mark_unchanged();
            }
            let data = snapshot(&shared).await.to_string();
            let event = Event::default().event("status").data(data);
            Some((Ok(event), (shared, changed, false)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
