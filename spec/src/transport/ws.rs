//! WebSocket connections on tokio-tungstenite: one River frame per binary message.
//!
//! The session that owns a [`WsConnection`] reads and writes the socket itself: there is no
//! task or channel between them. Frames queued with `send` are handed to tungstenite when the
//! session flushes, and go out with one write and one flush. Closing hands the socket to a
//! short-lived task that writes what was queued, sends the close frame and waits a bounded
//! time for the peer's answer before the socket is dropped.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;

use crate::session::{CloseCode, Connection, ConnectionClosed, ConnectionEvent, ConnectionId};

/// Limits and buffers of WebSocket connections.
///
/// The defaults keep an idle connection small (a few KiB of buffers) while a busy one still
/// writes in large batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest message (one River frame) accepted, in bytes. Larger ones close the connection.
    /// 100 MiB by default, what River's server (the `ws` package) accepts.
    pub max_message_size: usize,
    /// How much is read from the socket at a time, and the read buffer's initial size, in
    /// bytes (4 KiB). The buffer grows only for a larger frame.
    pub read_buffer_size: usize,
    /// Frames queued together are gathered up to this many bytes before a write (8 KiB); a
    /// flush writes whatever is gathered. While the socket is full no more frames are taken,
    /// so tungstenite's write buffer holds at most this plus one frame.
    pub write_buffer_size: usize,
    /// How long a closing connection waits for the peer to answer its close frame before the
    /// socket is dropped anyway (2 s).
    pub close_timeout: Duration,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_message_size: 100 * 1024 * 1024,
            read_buffer_size: 4 * 1024,
            write_buffer_size: 8 * 1024,
            close_timeout: Duration::from_secs(2),
        }
    }
}

impl WsLimits {
    pub(crate) fn config(self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
            .read_buffer_size(self.read_buffer_size)
            .write_buffer_size(self.write_buffer_size)
    }
}

/// An open WebSocket as a [`Connection`].
///
/// Binary and text messages are both frames (River sends binary; text is read as its UTF-8
/// bytes). A close message ends the connection with its code; so does an error or the end of
/// the stream, without a code. Dropping the connection without closing it closes the socket
/// with [`CloseCode::SESSION_CONTINUES`].
pub(crate) struct WsConnection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    id: ConnectionId,
    /// `None` once closed: the socket has been handed to the closing task or dropped.
    ws: Option<WebSocketStream<S>>,
    queue: VecDeque<Bytes>,
    /// Frames were handed to tungstenite since the last completed flush.
    dirty: bool,
    peer_code: Option<CloseCode>,
    phantom: AtomicBool,
    close_timeout: Duration,
    /// What the peer may still send before its handshake is done, if the socket counts it.
    read_limit: Option<ReadLimit>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> std::fmt::Debug for WsConnection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConnection")
            .field("id", &self.id)
            .field("open", &self.ws.is_some())
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl<S> WsConnection<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub(crate) fn new(ws: WebSocketStream<S>, limits: WsLimits) -> Self {
        WsConnection {
            id: ConnectionId::next(),
            ws: Some(ws),
            queue: VecDeque::new(),
            dirty: false,
            peer_code: None,
            phantom: AtomicBool::new(false),
            close_timeout: limits.close_timeout,
            read_limit: None,
        }
    }

    /// Counts what the peer sends against `limit` until the handshake is done.
    pub(crate) fn with_read_limit(mut self, limit: ReadLimit) -> Self {
        self.read_limit = Some(limit);
        self
    }

    /// Gives up the socket at once: it is dropped, which closes it.
    fn break_off(&mut self) {
        self.ws = None;
        self.queue.clear();
    }

    /// Hands the socket to a task that writes what is queued, closes with `code` (when the
    /// close is ours to send) and waits for the peer's answer, all within the close timeout.
    fn finish(&mut self, code: Option<CloseCode>) {
        let Some(ws) = self.ws.take() else { return };
        let queue = std::mem::take(&mut self.queue);
        let timeout = self.close_timeout;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let _ = tokio::time::timeout(timeout, close_gracefully(ws, queue, code)).await;
        });
    }
}

async fn close_gracefully<S>(
    mut ws: WebSocketStream<S>,
    queue: VecDeque<Bytes>,
    code: Option<CloseCode>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for frame in queue {
        if ws.feed(Message::Binary(frame)).await.is_err() {
            return;
        }
    }
    let close = match code {
        Some(code) => ws.close(Some(CloseFrame {
            code: WsCloseCode::from(code.0),
            reason: "".into(),
        })),
        // The peer closed first: tungstenite has queued our answer; writing it is all
        // that is left.
        None => ws.close(None),
    };
    if close.await.is_err() {
        return;
    }
    // Wait for the peer's close frame (or the end of the stream) before dropping the socket.
    while let Some(Ok(_)) = ws.next().await {}
}

impl<S> Connection for WsConnection<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + Rehome + 'static,
{
    fn id(&self) -> ConnectionId {
        self.id
    }

    fn send(&mut self, frame: Bytes) -> Result<(), ConnectionClosed> {
        if self.ws.is_none() {
            return Err(ConnectionClosed(self.id));
        }
        if !self.phantom.load(Ordering::Relaxed) {
            self.queue.push_back(frame);
        }
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionClosed>> {
        let Some(ws) = self.ws.as_mut() else {
            return Poll::Ready(Err(ConnectionClosed(self.id)));
        };
        let mut ws = Pin::new(ws);
        while !self.queue.is_empty() {
            match ws.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => {
                    self.break_off();
                    return Poll::Ready(Err(ConnectionClosed(self.id)));
                }
                Poll::Pending => return Poll::Pending,
            }
            let Some(frame) = self.queue.pop_front() else {
                break;
            };
            if ws.as_mut().start_send(Message::Binary(frame)).is_err() {
                self.break_off();
                return Poll::Ready(Err(ConnectionClosed(self.id)));
            }
            self.dirty = true;
        }
        if self.dirty {
            match ws.as_mut().poll_flush(cx) {
                Poll::Ready(Ok(())) => self.dirty = false,
                Poll::Ready(Err(_)) => {
                    self.break_off();
                    return Poll::Ready(Err(ConnectionClosed(self.id)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn close(&mut self, code: CloseCode) {
        self.finish(Some(code));
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionEvent> {
        loop {
            let Some(ws) = self.ws.as_mut() else {
                return Poll::Ready(ConnectionEvent::Closed {
                    code: self.peer_code,
                });
            };
            let frame = match Pin::new(ws).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(Message::Binary(bytes)))) => bytes,
                Poll::Ready(Some(Ok(Message::Text(text)))) => Bytes::from(text),
                Poll::Ready(Some(Ok(Message::Close(frame)))) => {
                    self.peer_code =
                        Some(frame.map_or(CloseCode(1005), |f| CloseCode(u16::from(f.code))));
                    self.finish(None);
                    continue;
                }
                Poll::Ready(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => {
                    // tungstenite answers pings itself; the answer goes out with the next flush.
                    self.dirty = true;
                    continue;
                }
                Poll::Ready(Some(Err(_)) | None) => {
                    self.break_off();
                    continue;
                }
            };
            if self.phantom.load(Ordering::Relaxed) {
                continue;
            }
            return Poll::Ready(ConnectionEvent::Frame(frame));
        }
    }

    fn lift_handshake_limit(&mut self) {
        if let Some(limit) = &self.read_limit {
            limit.lift();
        }
    }

    fn set_phantom_disconnect(&self, on: bool) {
        self.phantom.store(on, Ordering::Relaxed);
    }

    fn rehome(&mut self, to: &Handle) {
        let Some(ws) = self.ws.as_mut() else { return };
        if let Err(e) = ws.get_mut().rehome(to) {
            tracing::warn!(error = %e, "could not move a connection to the sessions' runtime; closing it");
            self.break_off();
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for WsConnection<S> {
    fn drop(&mut self) {
        self.finish(Some(CloseCode::SESSION_CONTINUES));
    }
}

/// Accepts a WebSocket upgrade on `stream`.
pub(crate) async fn accept<S>(
    stream: S,
    limits: WsLimits,
) -> Result<WsConnection<S>, tokio_tungstenite::tungstenite::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = tokio_tungstenite::accept_async_with_config(stream, Some(limits.config())).await?;
    Ok(WsConnection::new(ws, limits))
}

/// The bytes a peer may still send on a socket before its handshake is done, shared between
/// the socket ([`Limited`]) and its connection, which lifts the limit once the handshake is.
#[derive(Debug, Clone)]
pub(crate) struct ReadLimit {
    left: Arc<AtomicUsize>,
    limit: usize,
}

impl ReadLimit {
    /// No limit: `left` holds this once lifted.
    const LIFTED: usize = usize::MAX;

    fn lift(&self) {
        self.left.store(Self::LIFTED, Ordering::Relaxed);
    }
}

/// A socket that fails its reads once the peer has sent more than a limit before the limit is
/// lifted: the WebSocket upgrade request and the first River frame (the handshake) must fit in
/// it, so a peer cannot make a connection hold more than that before it has a session.
#[derive(Debug)]
pub(crate) struct Limited<S> {
    inner: S,
    limit: ReadLimit,
}

impl<S> Limited<S> {
    /// `inner`, allowed to receive `limit` bytes until the returned handle lifts the limit.
    pub(crate) fn new(inner: S, limit: usize) -> (Self, ReadLimit) {
        let limit = ReadLimit {
            left: Arc::new(AtomicUsize::new(limit)),
            limit,
        };
        (
            Limited {
                inner,
                limit: limit.clone(),
            },
            limit,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let read = buf.filled().len() - before;
            let left = this.limit.left.load(Ordering::Relaxed);
            if left != ReadLimit::LIFTED {
                if read > left {
                    this.limit.left.store(0, Ordering::Relaxed);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "the peer sent more than {} bytes before its handshake",
                            this.limit.limit
                        ),
                    )));
                }
                this.limit.left.store(left - read, Ordering::Relaxed);
            }
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A socket whose I/O can move to another runtime's reactor.
pub(crate) trait Rehome {
    /// Registers the socket with the reactor of `to` instead of the one it is registered with.
    fn rehome(&mut self, to: &Handle) -> io::Result<()>;
}

impl Rehome for TcpStream {
    #[cfg(unix)]
    fn rehome(&mut self, to: &Handle) -> io::Result<()> {
        use std::os::fd::AsFd as _;
        // A second descriptor of the same socket, registered with `to`; dropping the first
        // takes it out of the old reactor and closes only that descriptor.
        let copy = std::net::TcpStream::from(self.as_fd().try_clone_to_owned()?);
        let moved = {
            let _entered = to.enter();
            TcpStream::from_std(copy)?
        };
        *self = moved;
        Ok(())
    }

    #[cfg(not(unix))]
    fn rehome(&mut self, _to: &Handle) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "sockets move between runtimes on unix only",
        ))
    }
}

impl<S: Rehome> Rehome for Limited<S> {
    fn rehome(&mut self, to: &Handle) -> io::Result<()> {
        self.inner.rehome(to)
    }
}

impl Rehome for MaybeTlsStream<TcpStream> {
    fn rehome(&mut self, to: &Handle) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.rehome(to),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "only plain TCP sockets move between runtimes",
            )),
        }
    }
}
