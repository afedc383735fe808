//! What a session needs from a connection: write a frame, close with a code, and hear what
//! arrives. WebSocket and in-memory connections both implement it.

use core::fmt;
use core::task::{Context, Poll};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

/// A WebSocket close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the session this connection carried has ended.
    pub const SESSION_ENDED: CloseCode = CloseCode(1000);
    /// 4000: the connection is dropped but its session lives on and may be resumed. River's
    /// Python client gives a session up on 1000, 1001 and 1005, so those are never used here.
    pub const SESSION_CONTINUES: CloseCode = CloseCode(4000);

    /// Whether a River client treats this code as the end of its session.
    pub fn ends_session(self) -> bool {
        matches!(self.0, 1000 | 1001 | 1005)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Process-unique id of a connection, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

impl ConnectionId {
    /// A fresh id.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Something that happened on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// One binary frame arrived.
    Frame(Bytes),
    /// The connection is closed (by either side, or broken). Every later poll says the same.
    Closed {
        /// The close code, when the peer sent one.
        code: Option<CloseCode>,
    },
}

/// The connection was closed before the frame could be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection {0} is closed")]
pub struct ConnectionClosed(pub ConnectionId);

/// A bidirectional frame connection owned by one session state at a time.
///
/// `send` queues a frame without waiting and `poll_flush` writes what is queued, so frames
/// queued together go out with one flush; `close` is idempotent and also writes what was queued
/// before it; `poll_event` yields inbound frames in order and then, forever,
/// [`ConnectionEvent::Closed`]. A connection that fails to write reports itself closed.
pub trait Connection: Send + fmt::Debug + 'static {
    /// This connection's id.
    fn id(&self) -> ConnectionId;

    /// Queues one frame for writing.
    fn send(&mut self, frame: Bytes) -> Result<(), ConnectionClosed>;

    /// Writes the queued frames. Pending while the peer is not reading fast enough.
    /// Connections that write as they queue (in-memory pairs) are always ready.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionClosed>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }

    /// Closes the connection with `code`. Closing twice does nothing more.
    fn close(&mut self, code: CloseCode);

    /// The next inbound event.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionEvent>;

    /// The handshake is done: lifts the smaller limit on what the peer may send before it
    /// (see [`ServerOptions::handshake_size_limit`](crate::transport::ServerOptions)).
    /// Connections without such a limit ignore it.
    fn lift_handshake_limit(&mut self) {}

    /// Moves the connection's I/O onto the runtime `to`: from now on its socket is watched by
    /// that runtime's reactor. A server whose handshakes run on a runtime of their own
    /// ([`ServerOptions::handshake_threads`](crate::transport::ServerOptions)) calls it when a
    /// connection's handshake is accepted. A connection that cannot move ends (its next event
    /// is `Closed`). Connections not bound to a runtime ignore it.
    fn rehome(&mut self, to: &tokio::runtime::Handle) {
        let _ = to;
    }

    /// Test aid: while on, frames are accepted but not delivered in either direction, and the
    /// connection stays open (a "phantom disconnect"). Connections that cannot do this ignore it.
    fn set_phantom_disconnect(&self, on: bool) {
        let _ = on;
    }
}

/// Waits for the next inbound event of `conn`.
pub async fn next_event(conn: &mut dyn Connection) -> ConnectionEvent {
    core::future::poll_fn(|cx| conn.poll_event(cx)).await
}

/// What travels through the channels behind a [`ChannelConnection`].
#[derive(Debug)]
enum Wire {
    Frame(Bytes),
    Close(CloseCode),
}

/// Switches shared by both ends of an in-memory pair, for tests that break the link.
#[derive(Debug, Default)]
struct Link {
    /// While set, frames are accepted but never delivered: a phantom disconnect.
    black_hole: AtomicBool,
}

/// A connection over two channels: frames out go to whatever holds the other end of the
/// outbound channel, frames in come from the inbound channel. In-memory pairs are made of it.
///
/// The channels are unbounded: both ends live in one process, for tests and for servers and
/// clients in the same program. Connections to other processes are `WebSocket`s, whose socket
/// buffers bound what a peer can queue.
pub struct ChannelConnection {
    id: ConnectionId,
    tx: Option<mpsc::UnboundedSender<Wire>>,
    rx: mpsc::UnboundedReceiver<Wire>,
    link: Arc<Link>,
    /// Set once closed, by either side.
    closed: bool,
    /// The code the peer closed with, if it sent one.
    peer_code: Option<CloseCode>,
}

impl fmt::Debug for ChannelConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelConnection")
            .field("id", &self.id)
            .field("closed", &self.closed)
            .field("peer_code", &self.peer_code)
            .finish_non_exhaustive()
    }
}

/// One end of an in-memory connection pair.
pub type MemoryConnection = ChannelConnection;

/// Two connected in-memory ends: what one sends, the other receives, in order.
pub fn memory_pair() -> (MemoryConnection, MemoryConnection) {
    let (a_tx, b_rx) = mpsc::unbounded_channel();
    let (b_tx, a_rx) = mpsc::unbounded_channel();
    let link = Arc::new(Link::default());
    let a = ChannelConnection {
        id: ConnectionId::next(),
        tx: Some(a_tx),
        rx: a_rx,
        link: Arc::clone(&link),
        closed: false,
        peer_code: None,
    };
    let b = ChannelConnection {
        id: ConnectionId::next(),
        tx: Some(b_tx),
        rx: b_rx,
        link,
        closed: false,
        peer_code: None,
    };
    (a, b)
}

impl Connection for ChannelConnection {
    fn id(&self) -> ConnectionId {
        self.id
    }

    fn send(&mut self, frame: Bytes) -> Result<(), ConnectionClosed> {
        if self.closed {
            return Err(ConnectionClosed(self.id));
        }
        if self.link.black_hole.load(Ordering::SeqCst) {
            return Ok(());
        }
        match &self.tx {
            Some(tx) => tx
                .send(Wire::Frame(frame))
                .map_err(|_| ConnectionClosed(self.id)),
            None => Err(ConnectionClosed(self.id)),
        }
    }

    fn close(&mut self, code: CloseCode) {
        self.closed = true;
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Wire::Close(code));
        }
        self.rx.close();
    }

    fn set_phantom_disconnect(&self, on: bool) {
        self.link.black_hole.store(on, Ordering::SeqCst);
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionEvent> {
        loop {
            if self.closed {
                // Frames already received before our own close are dropped: a closed connection
                // delivers nothing more.
                return Poll::Ready(ConnectionEvent::Closed {
                    code: self.peer_code,
                });
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(Wire::Frame(frame))) => {
                    if self.link.black_hole.load(Ordering::SeqCst) {
                        continue;
                    }
                    return Poll::Ready(ConnectionEvent::Frame(frame));
                }
                Poll::Ready(Some(Wire::Close(code))) => {
                    self.closed = true;
                    self.peer_code = Some(code);
                    self.tx = None;
                }
                Poll::Ready(None) => {
                    self.closed = true;
                    self.tx = None;
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_flow_in_order_and_close_is_seen_with_its_code() {
        let (mut a, mut b) = memory_pair();
        a.send(Bytes::from_static(b"one")).unwrap();
        a.send(Bytes::from_static(b"two")).unwrap();
        a.close(CloseCode::SESSION_CONTINUES);
        assert_eq!(
            next_event(&mut b).await,
            ConnectionEvent::Frame(Bytes::from_static(b"one"))
        );
        assert_eq!(
            next_event(&mut b).await,
            ConnectionEvent::Frame(Bytes::from_static(b"two"))
        );
        let closed = ConnectionEvent::Closed {
            code: Some(CloseCode::SESSION_CONTINUES),
        };
        assert_eq!(next_event(&mut b).await, closed);
        assert_eq!(next_event(&mut b).await, closed, "closed stays closed");
        assert!(b.send(Bytes::from_static(b"late")).is_err());
        assert!(a.send(Bytes::from_static(b"late")).is_err());
        assert_eq!(
            next_event(&mut a).await,
            ConnectionEvent::Closed { code: None }
        );
    }

    #[tokio::test]
    async fn dropping_an_end_closes_the_other() {
        let (a, mut b) = memory_pair();
        drop(a);
        assert_eq!(
            next_event(&mut b).await,
            ConnectionEvent::Closed { code: None }
        );
    }

    #[tokio::test]
    async fn phantom_disconnect_swallows_frames_both_ways() {
        let (mut a, mut b) = memory_pair();
        a.set_phantom_disconnect(true);
        a.send(Bytes::from_static(b"lost")).unwrap();
        b.send(Bytes::from_static(b"lost too")).unwrap();
        b.set_phantom_disconnect(false);
        a.send(Bytes::from_static(b"kept")).unwrap();
        assert_eq!(
            next_event(&mut b).await,
            ConnectionEvent::Frame(Bytes::from_static(b"kept"))
        );
    }

    #[test]
    fn close_codes() {
        assert!(CloseCode::SESSION_ENDED.ends_session());
        assert!(!CloseCode::SESSION_CONTINUES.ends_session());
        assert!(CloseCode(1001).ends_session() && CloseCode(1005).ends_session());
    }
}
