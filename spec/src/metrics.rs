//! Prometheus metrics of a transport's sessions and a server's calls, on
//! [`prometheus-client`](prometheus_client).
//!
//! [`Metrics::register`] adds the families below to a registry the embedder owns (and encodes,
//! serves or merges with its own metrics); give the handle to a transport in
//! [`ServerOptions::metrics`](crate::transport::ServerOptions::metrics) or
//! [`ClientOptions::metrics`](crate::transport::ClientOptions::metrics), and a server's router
//! ([`serve`](crate::router::serve)) counts its calls in the same handle.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `river_sessions` | gauge | `state`: every state of [`crate::graph::session::GRAPH`] |
//! | `river_transitions_total` | counter | `from`, `transition`, `to`: every edge of the graph |
//! | `river_handshakes_total` | counter | `outcome` (`ok`, `rejected`), `code` (the rejection's) |
//! | `river_reconnects_total` | counter | (a session connected again after losing its connection) |
//! | `river_messages_total` | counter | `direction` (`in`: frames read; `out`: messages sequenced) |
//! | `river_bytes_total` | counter | `direction`, as above, in encoded bytes |
//! | `river_send_buffer_messages` | gauge | (messages waiting for their ack, over all sessions) |
//! | `river_connections_dropped_total` | counter | `reason`: connections a server closed (or, from `accept_connection`, refused) before they could handshake: at the cap on waiting connections (`pending_cap`), or because their WebSocket upgrade failed (`upgrade_failed`) or took too long (`upgrade_timeout`) |
//! | `river_calls_total` | counter | `service`, `procedure`, `code` (`OK`, a River error code, or `CANCEL`) |
//! | `river_handler_seconds` | histogram | `service`, `procedure` |
//!
//! The states and edges come from the generated graph, so a state added to
//! [`crate::graph`] shows up with its own series, at zero, from the start.
//!
//! Every handle a session updates is resolved when the metrics are registered, so an event
//! costs an atomic add: per state change one gauge move and one counter, per turn of a session
//! task the frames and bytes it moved. A transport without metrics does none of this. With
//! metrics on both sides an rpc round trip makes no more allocations than without, and runs
//! about 3% more instructions (`rpc-metrics` against `rpc` in `bash benches/river/cost.sh`,
//! which holds both to `benches/river/baseline.txt`).

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::graph::session::GRAPH;
use crate::wire::HandshakeErrorCode;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EdgeLabels {
    from: &'static str,
    transition: &'static str,
    to: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabels {
    outcome: &'static str,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Why a server closed a TCP connection before it could send its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// [`ServerOptions::max_pending_connections`](crate::transport::ServerOptions) were waiting.
    PendingCap,
    /// The WebSocket upgrade failed.
    UpgradeFailed,
    /// The WebSocket upgrade took longer than the upgrade timeout.
    UpgradeTimeout,
}

impl Dropped {
    /// Every reason, in the order declared (a reason's index is its discriminant).
    const ALL: [Dropped; 3] = [
        Dropped::PendingCap,
        Dropped::UpgradeFailed,
        Dropped::UpgradeTimeout,
    ];

    /// The family of `river_connections_dropped_total`, and its counter for each reason.
    fn counters() -> (Family<ReasonLabels, Counter>, Vec<Counter>) {
        let family = Family::<ReasonLabels, Counter>::default();
        let counters = Dropped::ALL
            .iter()
            .map(|reason| {
                family.get_or_create_owned(&ReasonLabels {
                    reason: reason.label(),
                })
            })
            .collect();
        (family, counters)
    }

    fn label(self) -> &'static str {
        match self {
            Dropped::PendingCap => "pending_cap",
            Dropped::UpgradeFailed => "upgrade_failed",
            Dropped::UpgradeTimeout => "upgrade_timeout",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: String,
    procedure: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcedureLabels {
    service: String,
    procedure: String,
}

type IntGauge = Gauge<i64, AtomicI64>;

fn latency_histogram() -> Histogram {
    // 100 µs to about 26 s.
    Histogram::new(exponential_buckets(0.000_1, 4.0, 10))
}

/// Resolved handles of one edge.
#[derive(Debug)]
struct Edge {
    from: &'static str,
    transition: &'static str,
    to: &'static str,
    count: Counter,
}

impl Edge {
    /// The family of `river_transitions_total`, and its counter for each edge of the graph.
    fn counters() -> (Family<EdgeLabels, Counter>, Vec<Edge>) {
        let family = Family::<EdgeLabels, Counter>::default();
        let edges = GRAPH
            .transitions
            .iter()
            .map(|t| Edge {
                from: t.from,
                transition: t.name,
                to: t.to,
                count: family.get_or_create_owned(&EdgeLabels {
                    from: t.from,
                    transition: t.name,
                    to: t.to,
                }),
            })
            .collect();
        (family, edges)
    }
}

struct Inner {
    /// One gauge per state of the graph, in the graph's order.
    states: Vec<(&'static str, IntGauge)>,
    edges: Vec<Edge>,
    handshakes: Family<HandshakeLabels, Counter>,
    handshakes_ok: Counter,
    reconnects: Counter,
    messages_in: Counter,
    messages_out: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    send_buffer: IntGauge,
    /// One counter per [`Dropped`] reason, in the order of `Dropped::ALL`.
    dropped: Vec<Counter>,
    calls: Family<CallLabels, Counter>,
    latency: Family<ProcedureLabels, Histogram, fn() -> Histogram>,
}

/// The session and call metrics of one or more transports. Cheap to clone; clones update the
/// same series. See the module docs for what is measured.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers the metrics in `registry` (names start with `river_`) and returns the handle
    /// that updates them.
    pub fn register(registry: &mut Registry) -> Metrics {
        let sessions = Family::<StateLabels, IntGauge>::default();
        let states = GRAPH
            .states
            .iter()
            .map(|s| {
                (
                    s.name,
                    sessions.get_or_create_owned(&StateLabels { state: s.name }),
                )
            })
            .collect();
        let (transitions, edges) = Edge::counters();
        let handshakes = Family::<HandshakeLabels, Counter>::default();
        let handshakes_ok = handshakes.get_or_create_owned(&HandshakeLabels {
            outcome: "ok",
            code: String::new(),
        });
        let messages = Family::<DirectionLabels, Counter>::default();
        let bytes = Family::<DirectionLabels, Counter>::default();
        let direction = |family: &Family<DirectionLabels, Counter>, direction| {
            family.get_or_create_owned(&DirectionLabels { direction })
        };
        let (dropped_family, dropped) = Dropped::counters();
        let inner = Inner {
            dropped,
            states,
            edges,
            handshakes_ok,
            reconnects: Counter::default(),
            messages_in: direction(&messages, "in"),
            messages_out: direction(&messages, "out"),
            bytes_in: direction(&bytes, "in"),
            bytes_out: direction(&bytes, "out"),
            send_buffer: IntGauge::default(),
            calls: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            handshakes,
        };
        registry.register(
            "river_sessions",
            "Sessions by the state they are in",
            sessions,
        );
        registry.register(
            "river_transitions",
            "State transitions taken, by edge",
            transitions,
        );
        registry.register(
            "river_handshakes",
            "Handshakes by outcome and rejection code",
            inner.handshakes.clone(),
        );
        registry.register(
            "river_reconnects",
            "Sessions connected again after losing their connection",
            inner.reconnects.clone(),
        );
        registry.register(
            "river_messages",
            "Frames read (in) and messages sequenced (out)",
            messages,
        );
        registry.register(
            "river_bytes",
            "Encoded bytes of the frames read (in) and messages sequenced (out)",
            bytes,
        );
        registry.register(
            "river_send_buffer_messages",
            "Messages waiting for their acknowledgement, over all sessions",
            inner.send_buffer.clone(),
        );
        registry.register(
            "river_connections_dropped",
            "Connections a server closed before they could handshake, by reason",
            dropped_family,
        );
        registry.register(
            "river_calls",
            "Calls served, by procedure and result code",
            inner.calls.clone(),
        );
        registry.register(
            "river_handler_seconds",
            "Time from a call's opening frame to its handler's end",
            inner.latency.clone(),
        );
        Metrics(Arc::new(inner))
    }

    /// Sessions in `state` now, as the gauge says (0 for a state the graph does not have).
    pub fn sessions_in(&self, state: &str) -> i64 {
        self.state_index(state)
            .map_or(0, |i| self.0.states[i].1.get())
    }

    /// Every state of the graph with the sessions in it now, in the graph's order.
    pub fn sessions_by_state(&self) -> Vec<(&'static str, i64)> {
        self.0
            .states
            .iter()
            .map(|(name, gauge)| (*name, gauge.get()))
            .collect()
    }

    /// Times the edge `transition` out of `from` was taken.
    pub fn transitions(&self, from: &str, transition: &str) -> u64 {
        self.0
            .edges
            .iter()
            .find(|e| e.from == from && e.transition == transition)
            .map_or(0, |e| e.count.get())
    }

    /// Connections a server closed before they could handshake, for `reason` (a label of
    /// `river_connections_dropped_total`: `pending_cap`, `upgrade_failed`, `upgrade_timeout`;
    /// 0 for any other).
    pub fn connections_dropped(&self, reason: &str) -> u64 {
        Dropped::ALL
            .iter()
            .position(|d| d.label() == reason)
            .map_or(0, |i| self.0.dropped[i].get())
    }

    pub(crate) fn connection_dropped(&self, reason: Dropped) {
        // `Dropped::ALL` lists the reasons in the order they are declared.
        self.0.dropped[reason as usize].inc();
    }

    /// Reconnects counted so far.
    pub fn reconnects(&self) -> u64 {
        self.0.reconnects.get()
    }

    pub(crate) fn state_index(&self, state: &str) -> Option<usize> {
        self.0.states.iter().position(|(name, _)| *name == state)
    }

    /// One session moved from state `from` to state `to` (indices from
    /// [`state_index`](Self::state_index); `None` for no state).
    pub(crate) fn moved(&self, from: Option<usize>, to: Option<usize>) {
        if from == to {
            return;
        }
        if let Some(i) = from {
            self.0.states[i].1.dec();
        }
        if let Some(i) = to {
            self.0.states[i].1.inc();
        }
    }

    pub(crate) fn transition(&self, from: &str, transition: &str, to: &str) {
        if let Some(edge) = self
            .0
            .edges
            .iter()
            .find(|e| e.transition == transition && e.from == from && e.to == to)
        {
            edge.count.inc();
        }
    }

    pub(crate) fn handshake_ok(&self) {
        self.0.handshakes_ok.inc();
    }

    pub(crate) fn handshake_rejected(&self, code: &HandshakeErrorCode) {
        self.0
            .handshakes
            .get_or_create(&HandshakeLabels {
                outcome: "rejected",
                code: code.as_str().to_owned(),
            })
            .inc();
    }

    pub(crate) fn reconnected(&self) {
        self.0.reconnects.inc();
    }

    pub(crate) fn traffic(&self, traffic: Traffic) {
        let counters = [
            (&self.0.messages_in, traffic.messages_in),
            (&self.0.bytes_in, traffic.bytes_in),
            (&self.0.messages_out, traffic.messages_out),
            (&self.0.bytes_out, traffic.bytes_out),
        ];
        for (counter, n) in counters {
            if n > 0 {
                counter.inc_by(n);
            }
        }
    }

    /// The send buffers over all sessions grew by `delta` messages (or shrank, if negative).
    pub(crate) fn buffered(&self, delta: i64) {
        if delta != 0 {
            self.0.send_buffer.inc_by(delta);
        }
    }

    /// The handles one procedure's calls update.
    pub(crate) fn procedure(&self, service: &str, procedure: &str) -> ProcedureMetrics {
        ProcedureMetrics {
            ok: self.0.calls.get_or_create_owned(&CallLabels {
                service: service.to_owned(),
                procedure: procedure.to_owned(),
                code: "OK".to_owned(),
            }),
            latency: self.0.latency.get_or_create_owned(&ProcedureLabels {
                service: service.to_owned(),
                procedure: procedure.to_owned(),
            }),
            service: service.to_owned(),
            procedure: procedure.to_owned(),
            calls: self.0.calls.clone(),
        }
    }
}

/// Frames and bytes a session moved since it last said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Frames read.
    pub messages_in: u64,
    /// Their encoded bytes.
    pub bytes_in: u64,
    /// Messages sequenced (heartbeats included), each counted once however often it is
    /// written.
    pub messages_out: u64,
    /// Their encoded bytes.
    pub bytes_out: u64,
}

impl Traffic {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: Traffic) {
        self.messages_in += other.messages_in;
        self.bytes_in += other.bytes_in;
        self.messages_out += other.messages_out;
        self.bytes_out += other.bytes_out;
    }
}

/// The resolved handles of one procedure's calls.
#[derive(Debug, Clone)]
pub(crate) struct ProcedureMetrics {
    ok: Counter,
    latency: Histogram,
    service: String,
    procedure: String,
    calls: Family<CallLabels, Counter>,
}

impl ProcedureMetrics {
    /// A call ended with `code` (`None`: OK) after `took`.
    pub(crate) fn finished(&self, code: Option<&str>, took: Duration) {
        match code {
            None => {
                self.ok.inc();
            }
            Some(code) => {
                self.calls
                    .get_or_create(&CallLabels {
                        service: self.service.clone(),
                        procedure: self.procedure.clone(),
                        code: code.to_owned(),
                    })
                    .inc();
            }
        }
        self.latency.observe(took.as_secs_f64());
    }
}

/// What one session task last told the metrics, so it reports only what changed.
#[derive(Debug)]
pub(crate) struct SessionGauge {
    metrics: Metrics,
    state: Option<usize>,
    buffered: usize,
    /// The current session has been connected before: connecting again is a reconnect.
    connected_before: bool,
}

impl SessionGauge {
    pub(crate) fn new(metrics: Metrics) -> Self {
        SessionGauge {
            metrics,
            state: None,
            buffered: 0,
            connected_before: false,
        }
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The task's session is in `state` (`None`: it has none) with `buffered` messages unacked.
    pub(crate) fn publish(&mut self, state: Option<&'static str>, buffered: usize) {
        let index = state.and_then(|s| self.metrics.state_index(s));
        self.metrics.moved(self.state, index);
        self.state = index;
        if buffered != self.buffered {
            let delta = i64::try_from(buffered).unwrap_or(i64::MAX)
                - i64::try_from(self.buffered).unwrap_or(i64::MAX);
            self.metrics.buffered(delta);
            self.buffered = buffered;
        }
    }

    /// A new session started in this task.
    pub(crate) fn session_created(&mut self) {
        self.connected_before = false;
    }

    /// The task's session took `transition` from `from` to `to`.
    pub(crate) fn transition(&mut self, from: &str, transition: &str, to: &str) {
        self.metrics.transition(from, transition, to);
        if transition == "handshake_ok" {
            self.metrics.handshake_ok();
            if self.connected_before {
                self.metrics.reconnected();
            }
            self.connected_before = true;
        }
    }
}

impl Drop for SessionGauge {
    fn drop(&mut self) {
        self.publish(None, 0);
    }
}
