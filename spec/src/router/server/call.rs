//! What a handler holds for one call: its context, its requests and its responses.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, mpsc};

use crate::router::{
    RiverError, ValidationError, Written, codes, err_result, from_payload, ok_result,
    stream_message, to_payload,
};
use crate::transport::{Outgoing, SessionSender};
use crate::wire::{ControlFlags, ProtocolVersion, Tracing, Value};

/// The state of one call that its handler's pieces and the dispatcher share.
#[derive(Debug, Default)]
pub(super) struct CallShared {
    /// The handler is to stop: the client cancelled, the session ended, or a request did not
    /// fit.
    cancelled: AtomicBool,
    /// A request did not fit: the call was aborted with `INVALID_REQUEST`.
    aborted: AtomicBool,
    /// No more responses are taken (the handler finished, or the call was cancelled).
    closed: AtomicBool,
    /// Wakes the dispatcher's poll of the call once it is cancelled.
    waker: AtomicWaker,
    /// Wakes whoever waits in [`CallContext::cancelled`].
    notify: Notify,
}

impl CallShared {
    pub(super) fn cancel(&self) {
        self.closed.store(true, Ordering::Release);
        self.cancelled.store(true, Ordering::Release);
        self.notify.notify_waiters();
        self.waker.wake();
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    pub(super) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(super) fn register(&self, cx: &Context<'_>) {
        self.waker.register(cx.waker());
    }

    /// Resolves once the call is cancelled.
    async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// What a handler knows about its call.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The calling client's id.
    pub client_id: String,
    /// The session the call arrived on.
    pub session_id: String,
    /// The handshake metadata the client connected with (or rehandshook with last) when the
    /// call opened.
    pub metadata: Option<Value>,
    /// The trace context the call's opening frame carried (W3C `traceparent` and
    /// `tracestate`), if any.
    pub trace: Option<Tracing>,
    /// The call's span, which the handler runs in; see [`crate::trace`].
    pub span: tracing::Span,
    pub(super) shared: Arc<CallShared>,
}

impl CallContext {
    /// Whether the call was cancelled (by the client, or because its session ended).
    pub fn is_cancelled(&self) -> bool {
        self.shared.is_cancelled()
    }

    /// Resolves once the call is cancelled. The handler's future is dropped at that point
    /// anyway; this is for work the handler started elsewhere.
    pub async fn cancelled(&self) {
        self.shared.cancelled().await;
    }
}

/// Where one call's messages go: the session's inbox, on the call's stream.
#[derive(Debug, Clone)]
pub(super) struct CallOut {
    pub(super) sender: SessionSender,
    pub(super) stream_id: Arc<str>,
    pub(super) version: ProtocolVersion,
    pub(super) shared: Arc<CallShared>,
}

impl CallOut {
    /// Queues one message of the call; `false` once the session's task is gone.
    pub(super) fn push(&self, flags: ControlFlags, payload: Value) -> bool {
        let msg = stream_message(&self.stream_id, flags, self.version, payload);
        self.sender.push(Outgoing::new(msg))
    }

    /// Aborts the call from the server's side: the cancel bit with `error`.
    pub(super) fn abort(&self, error: &RiverError) {
        self.push(ControlFlags::CANCEL, err_result(error));
    }
}

/// The requests of a stream or upload call, decoded as `T`. Ends when the client closes its
/// side. A request that does not decode aborts the call with `INVALID_REQUEST`.
///
/// Requests wait in a bounded queue; while it is full, the session reads nothing more from
/// its connection, so a handler that reads slowly slows its client down.
pub struct Requests<T> {
    pub(super) rx: mpsc::Receiver<Value>,
    pub(super) out: CallOut,
    pub(super) _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Requests<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests").finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> futures_util::Stream for Requests<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(value)) => match from_payload(&value) {
                Ok(item) => Poll::Ready(Some(item)),
                Err(e) => {
                    let error = RiverError::invalid_request(
                        format!("request does not fit the procedure: {e}"),
                        [ValidationError::from(&e)],
                    );
                    if !self.out.shared.is_closed() {
                        self.out.shared.aborted.store(true, Ordering::Release);
                        self.out.abort(&error);
                        self.out.shared.cancel();
                    }
                    self.rx.close();
                    Poll::Ready(None)
                }
            },
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The stream was closed or cancelled; nothing more can be sent on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stream is closed")]
pub struct StreamClosed;

/// The responses of a stream or subscription call. Each item is sent as a result, in order.
///
/// Sending never waits: the item joins the session's one ordered queue at once, so responses
/// pushed into several calls (this one and others, of any session) go out in the order they
/// were pushed, and before the result of a handler that pushed them and then returned.
///
/// Backpressure is River's, advisory: each [`send`](Self::send) reports in [`Written`] whether
/// the session's send buffer (with what is queued for it) has reached its high-water mark, and
/// [`ready`](Self::ready) waits until it is below again. The buffer holds what the client has
/// not acknowledged, so it drains as the client acknowledges (with every message it sends,
/// heartbeats included). The [`Sink`](futures_util::Sink) implementation does not wait.
pub struct Responses<T> {
    pub(super) out: CallOut,
    pub(super) _t: PhantomData<fn(T)>,
}

impl<T> Clone for Responses<T> {
    fn clone(&self) -> Self {
        Responses {
            out: self.out.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Responses<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responses").finish_non_exhaustive()
    }
}

impl<T> Responses<T> {
    /// Whether the session's send buffer, with what is queued for it, is at or above its
    /// high-water mark.
    pub fn is_backpressured(&self) -> bool {
        self.out.sender.info().is_backpressured()
    }

    /// Resolves once the session's send buffer is below its high-water mark, at once if it is;
    /// also once the call is cancelled or the session ends. A call whose handler returned meanwhile
    /// still waits for the buffer.
    pub async fn ready(&self) {
        if self.is_closed() {
            return;
        }
        let drained = self.out.sender.info().drained();
        let cancelled = self.out.shared.cancelled();
        tokio::select! {
            () = drained => {}
            () = cancelled => {}
        }
    }
}

impl<T: Serialize> Responses<T> {
    /// Sends one response, and reports whether the send buffer has reached its high-water mark.
    pub fn send(&self, item: Result<T, RiverError>) -> Result<Written, StreamClosed> {
        if self.out.shared.is_closed() {
            return Err(StreamClosed);
        }
        let payload = match item {
            Ok(item) => match to_payload(&item) {
                Ok(v) => ok_result(v),
                Err(e) => err_result(&RiverError::new(
                    codes::UNCAUGHT_ERROR,
                    format!("response does not encode: {e}"),
                )),
            },
            Err(e) => err_result(&e),
        };
        if self.out.push(ControlFlags::NONE, payload) {
            Ok(Written {
                backpressured: self.is_backpressured(),
            })
        } else {
            Err(StreamClosed)
        }
    }
}

impl<T> Responses<T> {
    /// Whether the call no longer takes responses.
    pub fn is_closed(&self) -> bool {
        self.out.shared.is_closed() || self.out.sender.is_closed()
    }
}

impl<T: Serialize> futures_util::Sink<Result<T, RiverError>> for Responses<T> {
    type Error = StreamClosed;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), StreamClosed>> {
        Poll::Ready(if self.is_closed() {
            Err(StreamClosed)
        } else {
            Ok(())
        })
    }

    fn start_send(self: Pin<&mut Self>, item: Result<T, RiverError>) -> Result<(), StreamClosed> {
        self.send(item).map(|_| ())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), StreamClosed>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), StreamClosed>> {
        Poll::Ready(Ok(()))
    }
}
