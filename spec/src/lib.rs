//! River's session protocol on statebound: a Rust server that River's clients can call, and a
//! Rust client that can call River servers, with sessions that survive connection drops.
//! The repository's `docs/protocol.md` describes the protocol as this crate implements it and
//! where River's own peers differ; `docs/conformance.md` lists each behaviour and its tests.
//!
//! - [`graph`]: the session state graph, declared with `#[statebound::machine]`.
//! - [`wire`]: the envelope, control payloads, flags, and the JSON and msgpack codecs.
//! - [`session`]: sequencing, handshakes, timers: one session, without I/O.
//! - [`transport`]: client and server transports over WebSocket (or in memory).
//! - [`router`]: services of rpc, stream, upload and subscription procedures, and typed calls.
//! - [`metrics`]: Prometheus metrics of sessions and calls.
//! - `status` (feature `status`): an HTTP status page with the graph, the live sessions and
//!   `/metrics`.
//! - [`trace`]: River's trace context and the `tracing` spans of sessions and calls (with the
//!   `otel` feature, their OpenTelemetry parents).
//! - [`echo_service`]: the `test` service the `river-echo` binary serves.
//!
//! Cargo feature `otel`: the trace context River peers send becomes the OpenTelemetry parent
//! of the session and call spans, and our client sends its own ([`trace`]).
//!
//! A server with one rpc, and a client calling it (in memory here; `ServerTransport::bind` and
//! `WsDialer` do the same over WebSocket):
//!
//! ```
//! use std::sync::Arc;
//!
//! use serde::{Deserialize, Serialize};
//! use statebound_river::router::{CallContext, RiverClient, RiverError, Service, serve};
//! use statebound_river::transport::{
//!     ClientOptions, ClientTransport, MemoryDialer, ServerOptions, ServerTransport,
//! };
//!
//! #[derive(Serialize, Deserialize)]
//! struct Add {
//!     a: i64,
//!     b: i64,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = ServerTransport::new("SERVER", ServerOptions::default());
//! let math = Service::new("math").rpc("add", |_: CallContext, add: Add| async move {
//!     Ok::<i64, RiverError>(add.a + add.b)
//! });
//! let _router = serve(&server, vec![math]);
//!
//! let transport = ClientTransport::new(
//!     "client",
//!     Arc::new(MemoryDialer::new(server.clone())),
//!     ClientOptions::default(),
//! );
//! let client = RiverClient::new(transport, "SERVER");
//! let sum: i64 = client.rpc("math", "add", &Add { a: 2, b: 3 }).await.unwrap();
//! assert_eq!(sum, 5);
//! # }
//! ```

pub mod echo_service;
pub mod graph;
#[cfg(feature = "cli")]
pub mod logging;
pub mod metrics;
pub mod router;
pub mod session;
#[cfg(feature = "status")]
pub mod status;
pub mod trace;
pub mod transport;
pub mod wire;
