//! The server side: services, typed handlers, and the dispatcher that runs them.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::FutureExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

use super::{
    RiverError, close_message, codes, err_result, from_payload, is_close_control, ok_result,
    stream_message, to_payload,
};
use crate::session::{BoxFuture, SessionStatus};
use crate::transport::{ServerTransport, TransportEvent};
use crate::wire::{ControlFlags, ProtocolVersion, TransportMessage, Value};

/// What a handler knows about its call.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The calling client's id.
    pub client_id: String,
    /// The session the call arrived on.
    pub session_id: String,
    /// The handshake metadata the client connected with.
    pub metadata: Option<Value>,
    cancelled: watch::Receiver<bool>,
}

impl CallContext {
    /// Whether the call was cancelled (by the client, or because its session ended).
    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.borrow()
    }

    /// Resolves once the call is cancelled. The handler's future is dropped at that point
    /// anyway; this is for work the handler started elsewhere.
    pub async fn cancelled(&self) {
        until_cancelled(&mut self.cancelled.clone()).await;
    }
}

/// Resolves once `rx` says cancelled (or its sender is gone). The borrow `wait_for` returns is
/// not `Send`, so it must not live in the caller's future.
async fn until_cancelled(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|c| *c).await;
}

/// The requests of a stream or upload call, decoded as `T`. Ends when the client closes its
/// side. A request that does not decode aborts the call with `INVALID_REQUEST`.
pub struct Requests<T> {
    rx: mpsc::UnboundedReceiver<Value>,
    abort: mpsc::UnboundedSender<RiverError>,
    _t: std::marker::PhantomData<fn() -> T>,
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
                    let _ = self.abort.send(RiverError::new(
                        codes::INVALID_REQUEST,
                        format!("request does not fit the procedure: {e}"),
                    ));
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
pub struct Responses<T> {
    tx: mpsc::UnboundedSender<Result<Value, RiverError>>,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for Responses<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responses").finish_non_exhaustive()
    }
}

impl<T: Serialize> Responses<T> {
    /// Sends one response.
    pub fn send(&self, item: Result<T, RiverError>) -> Result<(), StreamClosed> {
        let value = match item {
            Ok(item) => to_payload(&item).map_err(|e| {
                RiverError::new(
                    codes::UNCAUGHT_ERROR,
                    format!("response does not encode: {e}"),
                )
            }),
            Err(e) => Err(e),
        };
        self.tx.send(value).map_err(|_| StreamClosed)
    }
}

impl<T: Serialize> futures_util::Sink<Result<T, RiverError>> for Responses<T> {
    type Error = StreamClosed;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), StreamClosed>> {
        Poll::Ready(if self.tx.is_closed() {
            Err(StreamClosed)
        } else {
            Ok(())
        })
    }

    fn start_send(self: Pin<&mut Self>, item: Result<T, RiverError>) -> Result<(), StreamClosed> {
        self.send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), StreamClosed>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), StreamClosed>> {
        Poll::Ready(Ok(()))
    }
}

/// What a type-erased handler gets for one call.
struct Call {
    ctx: CallContext,
    init: Value,
    requests: mpsc::UnboundedReceiver<Value>,
    responses: mpsc::UnboundedSender<Result<Value, RiverError>>,
    abort: mpsc::UnboundedSender<RiverError>,
}

/// How a call ends, as far as the handler is concerned.
enum Finish {
    /// One final result (rpc, upload).
    Result(Result<Value, RiverError>),
    /// The responses are done (stream, subscription).
    Done(Result<(), RiverError>),
    /// The call is aborted with this error and the cancel bit (an init that does not fit).
    Abort(RiverError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rpc,
    Stream,
    Upload,
    Subscription,
}

impl Kind {
    fn takes_requests(self) -> bool {
        matches!(self, Kind::Stream | Kind::Upload)
    }
}

type ErasedHandler = Arc<dyn Fn(Call) -> BoxFuture<'static, Finish> + Send + Sync>;

struct Procedure {
    kind: Kind,
    handler: ErasedHandler,
}

/// A named group of procedures.
pub struct Service {
    name: String,
    procedures: HashMap<String, Procedure>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("procedures", &self.procedures.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn decode_init<I: DeserializeOwned>(init: &Value) -> Result<I, RiverError> {
    from_payload(init).map_err(|e| {
        RiverError::new(
            codes::INVALID_REQUEST,
            format!("init does not fit the procedure: {e}"),
        )
    })
}

fn encode_output<O: Serialize>(out: Result<O, RiverError>) -> Result<Value, RiverError> {
    out.and_then(|o| {
        to_payload(&o).map_err(|e| {
            RiverError::new(
                codes::UNCAUGHT_ERROR,
                format!("response does not encode: {e}"),
            )
        })
    })
}

fn requests<T>(call: &mut Call) -> Requests<T> {
    let (_, empty) = mpsc::unbounded_channel();
    Requests {
        rx: std::mem::replace(&mut call.requests, empty),
        abort: call.abort.clone(),
        _t: std::marker::PhantomData,
    }
}

fn responses<T>(call: &Call) -> Responses<T> {
    Responses {
        tx: call.responses.clone(),
        _t: std::marker::PhantomData,
    }
}

impl Service {
    /// An empty service named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Service {
            name: name.into(),
            procedures: HashMap::new(),
        }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn add(&mut self, name: &str, kind: Kind, handler: ErasedHandler) {
        let previous = self
            .procedures
            .insert(name.to_owned(), Procedure { kind, handler });
        assert!(
            previous.is_none(),
            "procedure `{name}` is registered twice in service `{}`",
            self.name
        );
    }

    /// Registers an rpc: one init, one result.
    ///
    /// # Panics
    ///
    /// When `name` is already registered in this service.
    #[must_use]
    pub fn rpc<I, O, F, Fut>(mut self, name: &str, handler: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(CallContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, RiverError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.add(
            name,
            Kind::Rpc,
            Arc::new(move |call: Call| {
                let handler = Arc::clone(&handler);
                Box::pin(async move {
                    match decode_init::<I>(&call.init) {
                        Ok(init) => Finish::Result(encode_output(handler(call.ctx, init).await)),
                        Err(e) => Finish::Abort(e),
                    }
                })
            }),
        );
        self
    }

    /// Registers an upload: one init, many requests, one result once the client closes.
    ///
    /// # Panics
    ///
    /// When `name` is already registered in this service.
    #[must_use]
    pub fn upload<I, R, O, F, Fut>(mut self, name: &str, handler: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        R: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(CallContext, I, Requests<R>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, RiverError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.add(
            name,
            Kind::Upload,
            Arc::new(move |mut call: Call| {
                let handler = Arc::clone(&handler);
                Box::pin(async move {
                    let reqs = requests(&mut call);
                    match decode_init::<I>(&call.init) {
                        Ok(init) => {
                            Finish::Result(encode_output(handler(call.ctx, init, reqs).await))
                        }
                        Err(e) => Finish::Abort(e),
                    }
                })
            }),
        );
        self
    }

    /// Registers a subscription: one init, many results; the call closes when the handler
    /// returns.
    ///
    /// # Panics
    ///
    /// When `name` is already registered in this service.
    #[must_use]
    pub fn subscription<I, O, F, Fut>(mut self, name: &str, handler: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(CallContext, I, Responses<O>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), RiverError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.add(
            name,
            Kind::Subscription,
            Arc::new(move |call: Call| {
                let handler = Arc::clone(&handler);
                Box::pin(async move {
                    let out = responses(&call);
                    match decode_init::<I>(&call.init) {
                        Ok(init) => Finish::Done(handler(call.ctx, init, out).await),
                        Err(e) => Finish::Abort(e),
                    }
                })
            }),
        );
        self
    }

    /// Registers a stream: one init, many requests, many results; the server's side closes
    /// when the handler returns.
    ///
    /// # Panics
    ///
    /// When `name` is already registered in this service.
    #[must_use]
    pub fn stream<I, R, O, F, Fut>(mut self, name: &str, handler: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        R: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(CallContext, I, Requests<R>, Responses<O>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), RiverError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.add(
            name,
            Kind::Stream,
            Arc::new(move |mut call: Call| {
                let handler = Arc::clone(&handler);
                Box::pin(async move {
                    let reqs = requests(&mut call);
                    let out = responses(&call);
                    match decode_init::<I>(&call.init) {
                        Ok(init) => Finish::Done(handler(call.ctx, init, reqs, out).await),
                        Err(e) => Finish::Abort(e),
                    }
                })
            }),
        );
        self
    }
}

/// A running router: serves its services to the clients of a [`ServerTransport`].
#[derive(Debug, Clone)]
pub struct RiverServer {
    transport: ServerTransport,
    open: Arc<AtomicUsize>,
}

impl RiverServer {
    /// The transport it serves on.
    pub fn transport(&self) -> &ServerTransport {
        &self.transport
    }

    /// Calls currently running (for tests that check nothing leaks).
    pub fn open_calls(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// Serves `services` to the clients of `transport` until the transport closes.
///
/// # Panics
///
/// When two services share a name.
pub fn serve(transport: &ServerTransport, services: Vec<Service>) -> RiverServer {
    let mut table = HashMap::new();
    for service in services {
        let name = service.name.clone();
        assert!(
            table.insert(name.clone(), service).is_none(),
            "service `{name}` is registered twice"
        );
    }
    let open = Arc::new(AtomicUsize::new(0));
    let dispatcher = Dispatcher {
        transport: transport.clone(),
        services: Arc::new(table),
        calls: HashMap::new(),
        open: Arc::clone(&open),
    };
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    tokio::spawn(dispatcher.run(transport.subscribe(), done_tx, done_rx));
    RiverServer {
        transport: transport.clone(),
        open,
    }
}

/// One running call, as the dispatcher tracks it.
struct CallEntry {
    session_id: String,
    kind: Kind,
    /// Requests go here until the client closes its side.
    requests: Option<mpsc::UnboundedSender<Value>>,
    cancel: watch::Sender<bool>,
    /// The handler is done and the server's half closed; the entry stays until the client
    /// closes its half, so late requests are dropped quietly rather than refused.
    finished: bool,
}

type CallKey = (String, String);

struct Dispatcher {
    transport: ServerTransport,
    services: Arc<HashMap<String, Service>>,
    calls: HashMap<CallKey, CallEntry>,
    open: Arc<AtomicUsize>,
}

/// Decrements the open-call count when a call's task ends, however it ends.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Dispatcher {
    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<TransportEvent>,
        done_tx: mpsc::UnboundedSender<CallKey>,
        mut done_rx: mpsc::UnboundedReceiver<CallKey>,
    ) {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(TransportEvent::Message { from, session_id, version, msg }) => {
                        self.on_message(&from, &session_id, version, &msg, &done_tx);
                    }
                    Some(TransportEvent::SessionStatus {
                        session_id,
                        status: SessionStatus::Closed,
                        ..
                    }) => self.cancel_session(&session_id),
                    Some(TransportEvent::TransportClosed) | None => {
                        self.cancel_session_all();
                        return;
                    }
                    Some(_) => {}
                },
                Some(key) = done_rx.recv() => self.finished(&key),
            }
        }
    }

    /// The call's task ended: forget the call, unless the client's half is still open.
    fn finished(&mut self, key: &CallKey) {
        match self.calls.get_mut(key) {
            Some(call) if call.requests.is_some() => call.finished = true,
            Some(_) => {
                self.calls.remove(key);
            }
            None => {}
        }
    }

    fn cancel_session(&mut self, session_id: &str) {
        self.calls.retain(|_, call| {
            if call.session_id == session_id {
                let _ = call.cancel.send(true);
                false
            } else {
                true
            }
        });
    }

    fn cancel_session_all(&mut self) {
        for (_, call) in self.calls.drain() {
            let _ = call.cancel.send(true);
        }
    }

    fn reply_error(
        &self,
        to: &str,
        session_id: &str,
        msg: &TransportMessage,
        version: ProtocolVersion,
        error: &RiverError,
    ) {
        let reply = stream_message(
            &msg.stream_id,
            ControlFlags::CANCEL,
            version,
            err_result(error),
        );
        let transport = self.transport.clone();
        let (to, session_id) = (to.to_owned(), session_id.to_owned());
        tokio::spawn(async move {
            let _ = transport.send_on_session(&to, &session_id, reply).await;
        });
    }

    fn on_message(
        &mut self,
        from: &str,
        session_id: &str,
        version: ProtocolVersion,
        msg: &TransportMessage,
        done: &mpsc::UnboundedSender<CallKey>,
    ) {
        let flags = msg.flags(version);
        let key = (from.to_owned(), msg.stream_id.clone());
        if flags.open {
            self.open_call(from, session_id, version, msg, flags, done);
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else {
            // A close or cancel for a call that already ended is the normal end of a race;
            // anything else names a stream the server never opened.
            if !(flags.closed || flags.cancel) {
                let error = RiverError::new(
                    codes::INVALID_REQUEST,
                    format!("no open stream `{}`", msg.stream_id),
                );
                self.reply_error(from, session_id, msg, version, &error);
            }
            return;
        };
        // v1.1 has no cancel bit: a v1.1 client aborts with a close that carries an error result.
        let v1_abort = version == ProtocolVersion::V1_1
            && flags.closed
            && msg.payload.get("ok").and_then(Value::as_bool) == Some(false);
        if flags.cancel || v1_abort {
            let _ = call.cancel.send(true);
            self.calls.remove(&key);
            return;
        }
        if call.finished {
            if flags.closed {
                self.calls.remove(&key);
            }
            return;
        }
        let is_close = flags.closed && is_close_control(&msg.payload);
        if !is_close {
            match (&call.requests, call.kind.takes_requests()) {
                (Some(requests), true) => {
                    let _ = requests.send(msg.payload.clone());
                }
                (None, true) => {
                    let error = RiverError::new(
                        codes::INVALID_REQUEST,
                        "request after the client closed its side",
                    );
                    self.abort(&key, from, session_id, msg, version, &error);
                    return;
                }
                (_, false) => {
                    let error = RiverError::new(
                        codes::INVALID_REQUEST,
                        "this procedure takes no requests after its init",
                    );
                    self.abort(&key, from, session_id, msg, version, &error);
                    return;
                }
            }
        }
        if flags.closed
            && let Some(call) = self.calls.get_mut(&key)
        {
            call.requests = None;
        }
    }

    fn abort(
        &mut self,
        key: &CallKey,
        from: &str,
        session_id: &str,
        msg: &TransportMessage,
        version: ProtocolVersion,
        error: &RiverError,
    ) {
        if let Some(call) = self.calls.remove(key) {
            let _ = call.cancel.send(true);
        }
        self.reply_error(from, session_id, msg, version, error);
    }

    fn open_call(
        &mut self,
        from: &str,
        session_id: &str,
        version: ProtocolVersion,
        msg: &TransportMessage,
        flags: ControlFlags,
        done: &mpsc::UnboundedSender<CallKey>,
    ) {
        let key = (from.to_owned(), msg.stream_id.clone());
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
            self.reply_error(from, session_id, msg, version, &error);
            return;
        };
        if self.calls.contains_key(&key) {
            let error = RiverError::new(
                codes::INVALID_REQUEST,
                format!("stream `{}` is already open", msg.stream_id),
            );
            self.reply_error(from, session_id, msg, version, &error);
            return;
        }
        let kind = procedure.kind;
        let handler = Arc::clone(&procedure.handler);
        let (requests_tx, requests_rx) = mpsc::unbounded_channel();
        let (responses_tx, responses_rx) = mpsc::unbounded_channel();
        let (abort_tx, abort_rx) = mpsc::unbounded_channel();
        let (cancel_tx, cancel_rx) = watch::channel(false);
        self.calls.insert(
            key.clone(),
            CallEntry {
                session_id: session_id.to_owned(),
                kind,
                requests: (!flags.closed).then_some(requests_tx),
                cancel: cancel_tx,
                finished: false,
            },
        );
        self.open.fetch_add(1, Ordering::SeqCst);
        let runner = CallRunner {
            transport: self.transport.clone(),
            to: from.to_owned(),
            session_id: session_id.to_owned(),
            stream_id: msg.stream_id.clone(),
            version,
        };
        let ctx_parts = (from.to_owned(), session_id.to_owned(), cancel_rx);
        let init = msg.payload.clone();
        let done = done.clone();
        let guard = OpenGuard(Arc::clone(&self.open));
        tokio::spawn(async move {
            let _guard = guard;
            let (client_id, session_id, cancelled) = ctx_parts;
            let metadata = runner.transport.metadata(&client_id).await;
            let call = Call {
                ctx: CallContext {
                    client_id,
                    session_id,
                    metadata,
                    cancelled: cancelled.clone(),
                },
                init,
                requests: requests_rx,
                responses: responses_tx,
                abort: abort_tx,
            };
            runner
                .run(kind, handler(call), responses_rx, abort_rx, cancelled)
                .await;
            let _ = done.send(key);
        });
    }
}

/// Sends what one call's handler produces, in order, on the call's session.
struct CallRunner {
    transport: ServerTransport,
    to: String,
    session_id: String,
    stream_id: String,
    version: ProtocolVersion,
}

impl CallRunner {
    async fn send(&self, flags: ControlFlags, payload: Value) -> bool {
        let msg = stream_message(&self.stream_id, flags, self.version, payload);
        self.transport
            .send_on_session(&self.to, &self.session_id, msg)
            .await
            .is_ok()
    }

    async fn run(
        &self,
        kind: Kind,
        handler: BoxFuture<'static, Finish>,
        mut responses: mpsc::UnboundedReceiver<Result<Value, RiverError>>,
        mut abort: mpsc::UnboundedReceiver<RiverError>,
        mut cancelled: watch::Receiver<bool>,
    ) {
        let mut handler = AssertUnwindSafe(handler).catch_unwind();
        let finish = loop {
            tokio::select! {
                biased;
                () = until_cancelled(&mut cancelled) => return,
                Some(error) = abort.recv() => {
                    self.send(ControlFlags::CANCEL, err_result(&error)).await;
                    return;
                }
                Some(item) = responses.recv() => {
                    let payload = match item {
                        Ok(v) => ok_result(v),
                        Err(e) => err_result(&e),
                    };
                    if !self.send(ControlFlags::NONE, payload).await {
                        return;
                    }
                }
                finish = &mut handler => break finish,
            }
        };
        // Responses sent just before the handler returned go out before the close.
        while let Ok(item) = responses.try_recv() {
            let payload = match item {
                Ok(v) => ok_result(v),
                Err(e) => err_result(&e),
            };
            self.send(ControlFlags::NONE, payload).await;
        }
        if let Ok(error) = abort.try_recv() {
            self.send(ControlFlags::CANCEL, err_result(&error)).await;
            return;
        }
        match finish {
            Err(_) => {
                let error = RiverError::new(codes::UNCAUGHT_ERROR, "the handler panicked");
                self.send(ControlFlags::CANCEL, err_result(&error)).await;
            }
            Ok(Finish::Result(result)) => {
                debug_assert!(matches!(kind, Kind::Rpc | Kind::Upload));
                let payload = match result {
                    Ok(v) => ok_result(v),
                    Err(e) => err_result(&e),
                };
                self.send(ControlFlags::CLOSED, payload).await;
            }
            Ok(Finish::Abort(error)) => {
                self.send(ControlFlags::CANCEL, err_result(&error)).await;
            }
            Ok(Finish::Done(result)) => {
                if let Err(e) = result {
                    self.send(ControlFlags::NONE, err_result(&e)).await;
                }
                let close = close_message(&self.stream_id, self.version);
                let _ = self
                    .transport
                    .send_on_session(&self.to, &self.session_id, close)
                    .await;
            }
        }
    }
}
