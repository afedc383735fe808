//! Client and server transports: sessions bound to real connections (WebSocket on
//! tokio-tungstenite, or in-memory pairs for tests), with River's events.
//!
//! Each transport runs one task that owns all of its sessions ([`SessionDriver`]s); the
//! transport value is a cheap handle that talks to that task through a channel. Events reach
//! every subscriber in order through unbounded channels, so none is dropped.

mod client;
mod dial;
mod query;
mod server;
mod task;
mod ws;

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::select_all;
use tokio::sync::mpsc;

pub use client::{ClientOptions, ClientTransport, MetadataFn};
pub use dial::{DialError, Dialer, MemoryDialer, UrlFn, WsDialer};
pub use server::{CodecMode, ServerOptions, ServerTransport};
pub use ws::WsLimits;

use crate::session::{Output, ProtocolError, SendError, SessionDriver, SessionStatus};
use crate::wire::{ProtocolVersion, TransportMessage};

/// Something a transport reports. Subscribe with `subscribe()` on either transport.
#[derive(Debug, Clone)]
pub enum TransportEvent {
    /// An application message arrived, in order, exactly once.
    Message {
        /// The peer's id.
        from: String,
        /// The session it arrived on.
        session_id: String,
        /// The session's protocol version, which gives the control flags their meaning.
        version: ProtocolVersion,
        /// The message.
        msg: Arc<TransportMessage>,
    },
    /// A session was created, is closing, or closed.
    SessionStatus {
        /// The peer's id.
        peer: String,
        /// The session.
        session_id: String,
        /// What happened.
        status: SessionStatus,
    },
    /// A session changed state.
    SessionTransition {
        /// The peer's id.
        peer: String,
        /// The session.
        session_id: String,
        /// State left.
        from: &'static str,
        /// State entered.
        to: &'static str,
        /// Transition taken.
        transition: &'static str,
    },
    /// A protocol error.
    ProtocolError {
        /// The peer's id, when known.
        peer: String,
        /// The error.
        error: ProtocolError,
    },
    /// The transport closed.
    TransportClosed,
}

/// Why a transport call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The transport has been closed.
    #[error("the transport is closed")]
    Closed,
    /// There is no session with that peer.
    #[error("no session with {0}")]
    NoSession(String),
    /// The session refused the message.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// The list of event subscribers, shared by a transport's handle and its task.
#[derive(Debug, Clone, Default)]
struct Subscribers(Arc<Mutex<Vec<mpsc::UnboundedSender<TransportEvent>>>>);

impl Subscribers {
    fn subscribe(&self) -> mpsc::UnboundedReceiver<TransportEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }

    fn emit(&self, event: &TransportEvent) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|tx| tx.send(event.clone()).is_ok());
    }
}

/// Who a driver's outputs are about.
#[derive(Debug, Clone)]
struct Party {
    peer: String,
    session_id: String,
    version: ProtocolVersion,
}

impl Party {
    fn of(driver: &SessionDriver) -> Self {
        let (peer, session_id) = driver.identity();
        Party {
            peer: peer.to_owned(),
            session_id: session_id.to_owned(),
            version: driver
                .context()
                .map_or(ProtocolVersion::CURRENT, |c| c.version),
        }
    }
}

/// Publishes the outputs every transport reports the same way, and returns the ones that need
/// the transport's own handling (dials, handshake requests, ends).
fn publish(subscribers: &Subscribers, party: &Party, outputs: Vec<Output>) -> Vec<Output> {
    let mut rest = Vec::new();
    for output in outputs {
        let event = match output {
            Output::Transition {
                from,
                to,
                transition,
            } => {
                tracing::info!(
                    peer = %party.peer,
                    session = %party.session_id,
                    from,
                    to,
                    transition,
                    "session transition"
                );
                TransportEvent::SessionTransition {
                    peer: party.peer.clone(),
                    session_id: party.session_id.clone(),
                    from,
                    to,
                    transition,
                }
            }
            Output::Status(status) => {
                tracing::info!(peer = %party.peer, session = %party.session_id, ?status, "session status");
                TransportEvent::SessionStatus {
                    peer: party.peer.clone(),
                    session_id: party.session_id.clone(),
                    status,
                }
            }
            Output::Message(msg) => TransportEvent::Message {
                from: party.peer.clone(),
                session_id: party.session_id.clone(),
                version: party.version,
                msg: Arc::from(msg),
            },
            Output::ProtocolError(error) => {
                tracing::warn!(peer = %party.peer, ?error, "protocol error");
                TransportEvent::ProtocolError {
                    peer: party.peer.clone(),
                    error,
                }
            }
            other => {
                rest.push(other);
                continue;
            }
        };
        subscribers.emit(&event);
    }
    rest
}

/// Waits until one of `drivers` has handled an event and returns its key; never returns when
/// there are none.
async fn step_any<K: Clone>(drivers: impl Iterator<Item = (K, &mut SessionDriver)>) -> K {
    let steps: Vec<_> = drivers
        .map(|(key, driver)| {
            Box::pin(async move {
                driver.step().await;
                key
            })
        })
        .collect();
    if steps.is_empty() {
        return std::future::pending().await;
    }
    select_all(steps).await.0
}
