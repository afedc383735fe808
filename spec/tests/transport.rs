//! Client and server transports: the conformance matrix over both codecs, in memory and over
//! WebSocket, handshake metadata and rehandshakes, refusals, limits, real sockets, and trace
//! context through OpenTelemetry (with the `otel` feature).

#[macro_use]
mod transport_support;

/// The example's validator, which binds client ids to principals.
#[allow(dead_code, reason = "the example's `main` is not called here")]
#[path = "../examples/principals.rs"]
mod principals;
#[cfg(feature = "otel")]
#[path = "common/scoped_subscriber.rs"]
mod scoped_subscriber;

#[path = "transport/conformance.rs"]
mod conformance;
#[path = "transport/limits.rs"]
mod limits;
#[path = "transport/metadata.rs"]
mod metadata;
#[path = "transport/negative.rs"]
mod negative;
#[path = "transport/rehandshake.rs"]
mod rehandshake;
#[path = "transport/runtimes.rs"]
mod runtimes;
#[path = "transport/smoke.rs"]
mod smoke;
#[path = "transport/sockets.rs"]
mod sockets;
#[cfg(feature = "otel")]
#[path = "transport/trace_context.rs"]
mod trace_context;
