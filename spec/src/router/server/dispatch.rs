//! The dispatcher of one session: routes its messages to calls and runs the calls' handlers,
//! on the session's own task.
//!
//! Handlers start in the order their opening frames arrive (new calls are first polled in that
//! order, before any later call's handler runs), everything they send goes through the
//! session's one ordered queue, and a session that ends stops its calls in the order they were
//! opened.

use foldhash::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::future::CatchUnwind;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::call::{CallContext, CallOut, CallShared};
use super::cancelled::{CANCELLED_STREAMS_REMEMBERED, CancelledStreams};
use super::service::{Call, Finish, FitsRequest, Kind, Service};
use crate::metrics::ProcedureMetrics;
use crate::router::{
    RiverError, close_message, codes, err_result, is_close_control, ok_result, stream_message,
};
use crate::session::{BoxFuture, SendError};
use crate::transport::{Attachment, HandlerIo, Outgoing, SessionHandler, Taken};
use crate::wire::{ControlFlags, Map, ProtocolVersion, TransportMessage, Value};

/// Requests of one stream or upload call that may wait for its handler.
pub(super) const REQUEST_QUEUE: usize = 64;

/// One running call, as the dispatcher tracks it.
struct CallEntry {
    /// Where the call stands among the session's calls, by the arrival of its opening frame.
    order: u64,
    kind: Kind,
    /// Requests go here until the client closes its side.
    requests: Option<mpsc::Sender<Value>>,
    shared: Arc<CallShared>,
    /// The handler is done and the server's half closed; the entry stays until the client
    /// closes its half, so late requests are dropped quietly rather than refused.
    finished: bool,
}

/// How a call's future ended.
enum Outcome {
    Finished(std::thread::Result<Finish>),
    Cancelled,
}

/// A call's handler, stopped at its next poll once the call is cancelled.
struct CallFuture {
    /// As [`CallEntry::order`].
    order: u64,
    stream_id: Arc<str>,
    shared: Arc<CallShared>,
    handler: CatchUnwind<AssertUnwindSafe<BoxFuture<'static, Finish>>>,
    /// The call's span, entered while the handler runs.
    span: tracing::Span,
    _open: OpenGuard,
    /// The procedure's metrics and when the call opened, when the server counts calls.
    metered: Option<(Arc<ProcedureMetrics>, Instant)>,
}

impl Future for CallFuture {
    type Output = (Arc<str>, Outcome);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.shared.register(cx);
        let outcome = if self.shared.is_cancelled() {
            Outcome::Cancelled
        } else {
            let this = &mut *self;
            let _entered = this.span.enter();
            match Pin::new(&mut this.handler).poll(cx) {
                Poll::Ready(finish) => Outcome::Finished(finish),
                Poll::Pending => return Poll::Pending,
            }
        };
        if let Some((metrics, opened)) = self.metered.take() {
            metrics.finished(outcome.code(), opened.elapsed());
        }
        Poll::Ready((Arc::clone(&self.stream_id), outcome))
    }
}

impl Drop for CallFuture {
    /// A call dropped before its end is one whose session ended under it.
    fn drop(&mut self) {
        if let Some((metrics, opened)) = self.metered.take() {
            metrics.finished(Some(codes::UNEXPECTED_DISCONNECT), opened.elapsed());
        }
    }
}

impl Outcome {
    /// The River code the call ended with, `None` for a success.
    fn code(&self) -> Option<&str> {
        match self {
            Outcome::Cancelled => Some(codes::CANCEL),
            Outcome::Finished(Err(_)) => Some(codes::UNCAUGHT_ERROR),
            Outcome::Finished(Ok(
                Finish::Result(Err(e)) | Finish::Done(Err(e)) | Finish::Abort(e),
            )) => Some(&e.code),
            Outcome::Finished(Ok(Finish::Result(Ok(_)) | Finish::Done(Ok(())))) => None,
        }
    }
}

/// Counts a running call for [`RiverServer::open_calls`](super::RiverServer::open_calls), however
/// it ends.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Room in a call's queue of requests, once it frees up.
type Room = Pin<
    Box<dyn Future<Output = Result<mpsc::OwnedPermit<Value>, mpsc::error::SendError<()>>> + Send>,
>;

/// A request that waits for room in its call's queue; the session reads nothing meanwhile.
struct Stalled {
    stream_id: String,
    payload: Value,
    /// The client's half closes once the request is in.
    then_close: bool,
    room: Room,
}

/// The init of a call and the request its opening frame carries instead, if any.
///
/// River's Python v1.1 client leaves out an init that is falsy (`{}` among others): a stream or
/// upload it opens with the init `{}` has its first request as the opening frame (or, with no
/// requests, its close). In a v1.1 session, for a stream or upload whose init type takes `{}`,
/// an opening payload that is a close control is such a close, and one that decodes as a
/// request is such a request; the init is then `{}`. A payload that fits both the init and the
/// request types counts as a request, as River's TypeScript server counts it. v2.0 sessions
/// always carry the init.
fn opening(
    payload: Value,
    opening_request: Option<FitsRequest>,
    flags: ControlFlags,
    io: &HandlerIo<'_>,
) -> (Value, Option<Value>) {
    let Some(fits_request) = opening_request.filter(|_| io.version == ProtocolVersion::V1_1) else {
        return (payload, None);
    };
    if flags.closed && is_close_control(&payload) {
        (Value::Map(Map::new()), None)
    } else if fits_request(&payload) {
        (Value::Map(Map::new()), Some(payload))
    } else {
        (payload, None)
    }
}

pub(super) struct Dispatcher {
    services: Arc<HashMap<String, Service>>,
    /// Keyed by the stream id the call's messages share. The ids are the client's, but the table
    /// is this session's alone, so a client choosing ids that collide slows only its own session;
    /// `foldhash` is seeded at random per process.
    calls: HashMap<Arc<str>, CallEntry>,
    running: FuturesUnordered<CallFuture>,
    /// The next call's [`CallEntry::order`].
    next_order: u64,
    open: Arc<AtomicUsize>,
    stalled: Option<Stalled>,
    /// Streams this side cancelled: later frames on them are dropped quietly.
    cancelled: CancelledStreams,
}

impl Dispatcher {
    pub(super) fn new(services: Arc<HashMap<String, Service>>, open: Arc<AtomicUsize>) -> Self {
        Dispatcher {
            services,
            calls: HashMap::default(),
            running: FuturesUnordered::new(),
            next_order: 0,
            open,
            stalled: None,
            cancelled: CancelledStreams::new(CANCELLED_STREAMS_REMEMBERED),
        }
    }

    /// Aborts the stream of `msg` with the cancel bit and `error`.
    fn reply_error(msg: &TransportMessage, io: &HandlerIo<'_>, error: &RiverError) {
        let reply = stream_message(
            &msg.stream_id,
            ControlFlags::CANCEL,
            io.version,
            err_result(error),
        );
        io.sender.push(Outgoing::new(reply));
    }

    /// Cancels the stream of `msg` from this side with `error`: stops its call, if any, and
    /// remembers the stream.
    fn abort(&mut self, msg: &TransportMessage, io: &HandlerIo<'_>, error: &RiverError) {
        self.remember_cancelled(&msg.stream_id);
        Self::reply_error(msg, io, error);
    }

    /// Stops the call of `stream_id`, if any, and remembers the stream as cancelled by this
    /// side.
    fn remember_cancelled(&mut self, stream_id: &str) {
        let id = match self.calls.remove_entry(stream_id) {
            Some((id, call)) => {
                call.shared.cancel();
                id
            }
            None => Arc::from(stream_id),
        };
        self.cancelled.insert(id);
    }

    fn open_call(&mut self, msg: TransportMessage, flags: ControlFlags, io: &HandlerIo<'_>) {
        if self.cancelled.contains(&msg.stream_id) {
            return;
        }
        // The call already open on this stream is left alone.
        if self.calls.contains_key(msg.stream_id.as_str()) {
            let error = RiverError::new(
                codes::INVALID_REQUEST,
                format!(
                    "stream `{}` is already open",
                    crate::wire::clip(&msg.stream_id)
                ),
            );
            Self::reply_error(&msg, io, &error);
            return;
        }
        let procedure = msg
            .service_name
            .as_deref()
            .zip(msg.procedure_name.as_deref())
            .and_then(|(s, p)| self.services.get(s).and_then(|svc| svc.procedures.get(p)));
        let Some(procedure) = procedure else {
            let error = RiverError::new(
                codes::INVALID_REQUEST,
                format!(
                    "no procedure `{}` in service `{}`",
                    msg.procedure_name.as_deref().unwrap_or_default(),
                    msg.service_name.as_deref().unwrap_or_default()
                ),
            );
            self.abort(&msg, io, &error);
            return;
        };
        let kind = procedure.kind;
        let handler = Arc::clone(&procedure.handler);
        let (init, first_request) = opening(msg.payload, procedure.opening_request, flags, io);
        let metered = procedure
            .metrics
            .as_ref()
            .map(|m| (Arc::clone(m), Instant::now()));
        let shared = Arc::new(CallShared::default());
        let stream_id: Arc<str> = Arc::from(msg.stream_id.as_str());
        let (requests_tx, requests_rx) = if kind.takes_requests() {
            let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
            if let Some(request) = first_request {
                // The queue is new and empty, so there is room.
                let _ = tx.try_send(request);
            }
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let order = self.next_order;
        self.next_order += 1;
        self.calls.insert(
            Arc::clone(&stream_id),
            CallEntry {
                order,
                kind,
                requests: requests_tx.filter(|_| !flags.closed),
                shared: Arc::clone(&shared),
                finished: false,
            },
        );
        self.open.fetch_add(1, Ordering::SeqCst);
        let span = crate::trace::call_span(
            io.span,
            msg.service_name.as_deref().unwrap_or_default(),
            msg.procedure_name.as_deref().unwrap_or_default(),
            &stream_id,
            msg.tracing.as_ref(),
        );
        let call = Call {
            ctx: CallContext {
                client_id: io.peer.to_owned(),
                session_id: io.session_id.to_owned(),
                metadata: io.metadata.cloned(),
                trace: msg.tracing,
                span: span.clone(),
                shared: Arc::clone(&shared),
            },
            init,
            requests: requests_rx,
            out: CallOut {
                sender: io.sender.clone(),
                stream_id: Arc::clone(&stream_id),
                version: io.version,
                shared: Arc::clone(&shared),
            },
        };
        let handler = span.in_scope(|| AssertUnwindSafe(handler(call)).catch_unwind());
        self.running.push(CallFuture {
            order,
            stream_id,
            shared,
            handler,
            span,
            _open: OpenGuard(Arc::clone(&self.open)),
            metered,
        });
    }

    /// A call's handler is done: send what its end says, unless the call was aborted.
    fn finished(
        &mut self,
        stream_id: &str,
        outcome: Outcome,
        version: ProtocolVersion,
        io: &HandlerIo<'_>,
    ) {
        let Some(call) = self.calls.get_mut(stream_id) else {
            return;
        };
        call.shared.close();
        if call.shared.is_aborted() {
            // A request did not fit: the call's requests cancelled it already.
            self.remember_cancelled(stream_id);
            return;
        }
        let Outcome::Finished(finish) = outcome else {
            return;
        };
        let send = |flags: ControlFlags, payload: Value| {
            io.sender.push(Outgoing::new(stream_message(
                stream_id, flags, version, payload,
            )));
        };
        let cancel = match finish {
            Err(_) => RiverError::new(codes::UNCAUGHT_ERROR, "the handler panicked"),
            Ok(Finish::Abort(error)) => error,
            Ok(Finish::Result(result)) => {
                debug_assert!(matches!(call.kind, Kind::Rpc | Kind::Upload));
                let payload = match result {
                    Ok(v) => ok_result(v),
                    Err(e) => err_result(&e),
                };
                send(ControlFlags::CLOSED, payload);
                self.half_closed(stream_id);
                return;
            }
            Ok(Finish::Done(result)) => {
                if let Err(e) = result {
                    send(ControlFlags::NONE, err_result(&e));
                }
                io.sender
                    .push(Outgoing::new(close_message(stream_id, version)));
                self.half_closed(stream_id);
                return;
            }
        };
        send(ControlFlags::CANCEL, err_result(&cancel));
        self.remember_cancelled(stream_id);
    }

    /// The server closed its half of `stream_id`; the call is over once the client's is closed
    /// too.
    fn half_closed(&mut self, stream_id: &str) {
        match self.calls.get_mut(stream_id) {
            Some(call) if call.requests.is_some() => call.finished = true,
            _ => {
                self.calls.remove(stream_id);
            }
        }
    }

    /// Hands a request to its call, or holds it (and the session's reading) until there is
    /// room.
    fn deliver(&mut self, stream_id: &str, payload: Value, then_close: bool) {
        let Some(call) = self.calls.get_mut(stream_id) else {
            return;
        };
        let Some(requests) = &call.requests else {
            return;
        };
        match requests.try_send(payload) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {
                if then_close {
                    call.requests = None;
                }
            }
            Err(mpsc::error::TrySendError::Full(payload)) => {
                self.stalled = Some(Stalled {
                    stream_id: stream_id.to_owned(),
                    payload,
                    then_close,
                    room: Box::pin(requests.clone().reserve_owned()),
                });
            }
        }
    }
}

impl SessionHandler for Dispatcher {
    fn message(&mut self, msg: TransportMessage, io: &HandlerIo<'_>) -> Option<TransportMessage> {
        let flags = msg.flags(io.version);
        if flags.open {
            self.open_call(msg, flags, io);
            return None;
        }
        let Some(call) = self.calls.get_mut(msg.stream_id.as_str()) else {
            // Frames on a stream this side cancelled were sent before the client saw the
            // cancel, and a close or cancel for a call that already ended is the normal end of
            // a race; anything else names a stream the server never opened.
            if !(flags.closed || flags.cancel || self.cancelled.contains(&msg.stream_id)) {
                let error = RiverError::new(
                    codes::INVALID_REQUEST,
                    format!("no open stream `{}`", crate::wire::clip(&msg.stream_id)),
                );
                self.abort(&msg, io, &error);
            }
            return None;
        };
        // v1.1 has no cancel bit: a v1.1 client aborts with a close that carries an error result.
        let v1_abort = io.version == ProtocolVersion::V1_1
            && flags.closed
            && msg.payload.get("ok").and_then(Value::as_bool) == Some(false);
        if flags.cancel || v1_abort {
            call.shared.cancel();
            self.calls.remove(msg.stream_id.as_str());
            return None;
        }
        if call.finished {
            if flags.closed {
                self.calls.remove(msg.stream_id.as_str());
            }
            return None;
        }
        let is_close = flags.closed && is_close_control(&msg.payload);
        if is_close {
            call.requests = None;
            return None;
        }
        match (call.requests.is_some(), call.kind.takes_requests()) {
            (true, true) => {
                let TransportMessage {
                    stream_id, payload, ..
                } = msg;
                self.deliver(&stream_id, payload, flags.closed);
            }
            (false, true) => {
                let error = RiverError::new(
                    codes::INVALID_REQUEST,
                    "request after the client closed its side",
                );
                self.abort(&msg, io, &error);
            }
            (_, false) => {
                let error = RiverError::invalid_request(
                    "this procedure takes no requests after its init",
                    [],
                );
                self.abort(&msg, io, &error);
            }
        }
        None
    }

    fn sent(&mut self, _: String, _: Attachment, _: Result<Taken, SendError>, _: &HandlerIo<'_>) {
        // The server sends nothing with an attachment.
    }

    fn poll(&mut self, cx: &mut Context<'_>, io: &HandlerIo<'_>) {
        if self.running.is_empty() {
            return;
        }
        while let Poll::Ready(Some((stream_id, outcome))) = self.running.poll_next_unpin(cx) {
            self.finished(&stream_id, outcome, io.version, io);
        }
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(stalled) = self.stalled.as_mut() else {
            return Poll::Ready(());
        };
        let permit = match stalled.room.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(permit) => permit,
        };
        let Some(stalled) = self.stalled.take() else {
            return Poll::Ready(());
        };
        if let Ok(permit) = permit {
            permit.send(stalled.payload);
        }
        if stalled.then_close
            && let Some(call) = self.calls.get_mut(stalled.stream_id.as_str())
        {
            call.requests = None;
        }
        Poll::Ready(())
    }

    fn session_ended(&mut self, _: &HandlerIo<'_>) {
        // In the order the calls were opened: each is cancelled, then each handler is dropped.
        let mut calls: Vec<CallEntry> = self.calls.drain().map(|(_, call)| call).collect();
        calls.sort_unstable_by_key(|call| call.order);
        for call in calls {
            call.shared.cancel();
        }
        self.stalled = None;
        let mut running: Vec<CallFuture> = std::mem::take(&mut self.running).into_iter().collect();
        running.sort_unstable_by_key(|call| call.order);
        for call in running {
            drop(call);
        }
    }
}
