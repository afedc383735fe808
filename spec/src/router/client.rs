//! The client side: typed calls of the four kinds over a [`ClientTransport`].
//!
//! A [`RiverClient`] installs a dispatcher in the task of its server's session. Calls are
//! registered by the very message that opens them, in that task, so a call always knows its
//! session and no response can arrive before its call is known. When a session ends, its calls
//! fail with `UNEXPECTED_DISCONNECT` in the order they were opened.

use foldhash::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use super::{
    RiverError, Written, close_message, codes, err_result, from_payload, is_close_control,
    parse_result, stream_message, to_payload,
};
use crate::session::{SendError, generate_id};
use crate::transport::{
    Attachment, ClientTransport, HandlerIo, Outgoing, SessionHandler, SessionSender, Taken,
};
use crate::wire::{ControlFlags, PartialMessage, ProtocolVersion, TransportMessage, Value};

type Item = Result<Value, RiverError>;

/// Responses of one stream or subscription that may wait for their reader.
const RESPONSE_QUEUE: usize = 64;

fn disconnected(why: &str) -> RiverError {
    RiverError::new(codes::UNEXPECTED_DISCONNECT, why)
}

/// What a call's handles (writer, reader, result) and the dispatcher share.
#[derive(Debug, Default)]
struct CallState {
    /// The session the call was opened on.
    session: OnceLock<Arc<str>>,
    /// The call is over: no more writes.
    ended: AtomicBool,
    /// The client's half is closed.
    client_closed: AtomicBool,
}

impl CallState {
    fn can_write(&self) -> bool {
        !self.ended.load(Ordering::Acquire) && !self.client_closed.load(Ordering::Acquire)
    }
}

/// Where a call's responses go.
enum Sink {
    /// The one result of an rpc or upload.
    One(oneshot::Sender<Item>),
    /// The results of a stream or subscription, through a bounded queue.
    Many(mpsc::Sender<Item>),
}

impl Sink {
    /// Ends the call with `error`, after whatever its reader has not read yet.
    fn fail(self, error: RiverError) {
        match self {
            Sink::One(tx) => {
                let _ = tx.send(Err(error));
            }
            Sink::Many(tx) => match tx.try_send(Err(error)) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(item)) => {
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        runtime.spawn(async move {
                            let _ = tx.send(item).await;
                        });
                    }
                }
            },
        }
    }
}

/// What the client's messages carry for its dispatcher.
pub(crate) enum Attach {
    /// The message opens this call.
    Open(Open),
    /// The message closes the client's half.
    Close,
    /// The message cancels the call.
    Cancel,
}

pub(crate) struct Open {
    sink: Sink,
    /// The client sends nothing after the opening message (rpc).
    closed_now: bool,
    /// Subscriptions answer the server's close with their own.
    answer_close: bool,
    state: Arc<CallState>,
    /// Told whether the opening message could be sent.
    opened: Option<oneshot::Sender<Result<(), RiverError>>>,
}

/// A call the client has open. It is forgotten once both halves are closed (or it was
/// cancelled, or its session ended).
struct Pending {
    order: u64,
    /// Where its responses go, until the server closes its half.
    sink: Option<Sink>,
    /// Whether the client has closed its half (an rpc does so when it opens).
    client_closed: bool,
    answer_close: bool,
    state: Arc<CallState>,
}

/// Room in a reader's bounded queue, once it frees up.
type Room = Pin<
    Box<dyn Future<Output = Result<mpsc::OwnedPermit<Item>, mpsc::error::SendError<()>>> + Send>,
>;

/// A response that waits for room in its reader's queue; the session reads nothing meanwhile.
struct Stalled {
    item: Item,
    room: Room,
}

/// The client router's part of a session task.
struct Dispatcher {
    calls: HashMap<String, Pending>,
    next_order: u64,
    open: Arc<AtomicUsize>,
    stalled: Option<Stalled>,
}

impl Dispatcher {
    fn forget(&mut self, stream_id: &str) -> Option<Pending> {
        let call = self.calls.remove(stream_id)?;
        call.state.ended.store(true, Ordering::Release);
        self.open.fetch_sub(1, Ordering::SeqCst);
        Some(call)
    }

    /// Ends the call with `error` (if it is still open) and forgets it.
    fn fail(&mut self, stream_id: &str, error: RiverError) {
        if let Some(call) = self.forget(stream_id)
            && let Some(sink) = call.sink
        {
            sink.fail(error);
        }
    }
}

impl SessionHandler for Dispatcher {
    fn message(&mut self, msg: TransportMessage, io: &HandlerIo<'_>) -> Option<TransportMessage> {
        let flags = msg.flags(io.version);
        if !self.calls.contains_key(&msg.stream_id) {
            return Some(msg);
        }
        let TransportMessage {
            stream_id, payload, ..
        } = msg;
        if flags.cancel {
            let error = parse_result(payload)
                .err()
                .unwrap_or_else(|| RiverError::new(codes::CANCEL, "the server cancelled the call"));
            self.fail(&stream_id, error);
            return None;
        }
        let is_close = flags.closed && is_close_control(&payload);
        let call = self.calls.get_mut(&stream_id)?;
        if !is_close {
            let item = parse_result(payload);
            match &call.sink {
                Some(Sink::One(_)) => {
                    if let Some(Sink::One(tx)) = call.sink.take() {
                        let _ = tx.send(item);
                    }
                }
                Some(Sink::Many(tx)) => match tx.try_send(item) {
                    Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                    Err(mpsc::error::TrySendError::Full(item)) => {
                        // Held until the reader makes room; the session reads nothing meanwhile.
                        self.stalled = Some(Stalled {
                            item,
                            room: Box::pin(tx.clone().reserve_owned()),
                        });
                    }
                },
                None => {}
            }
        }
        if flags.closed {
            // The server's half is closed: the reader ends; the call is forgotten once the
            // client's half is closed too. A subscription closes its half in answer.
            call.sink = None;
            if is_close && call.answer_close && !call.client_closed {
                let mut close = Outgoing::new(close_message(&stream_id, io.version));
                close.session = call.state.session.get().cloned();
                io.sender.push(close);
                call.client_closed = true;
                call.state.client_closed.store(true, Ordering::Release);
            }
            if call.client_closed {
                self.forget(&stream_id);
            }
        }
        None
    }

    fn sent(
        &mut self,
        stream_id: String,
        attach: Attachment,
        outcome: Result<Taken, SendError>,
        _: &HandlerIo<'_>,
    ) {
        match attach {
            Attach::Open(open) => {
                let Open {
                    sink,
                    closed_now,
                    answer_close,
                    state,
                    opened,
                } = open;
                match outcome {
                    Ok(taken) => {
                        let _ = state.session.set(taken.session_id);
                        self.open.fetch_add(1, Ordering::SeqCst);
                        self.next_order += 1;
                        self.calls.insert(
                            stream_id,
                            Pending {
                                order: self.next_order,
                                sink: Some(sink),
                                client_closed: closed_now,
                                answer_close,
                                state,
                            },
                        );
                        if let Some(opened) = opened {
                            let _ = opened.send(Ok(()));
                        }
                    }
                    Err(e) => {
                        state.ended.store(true, Ordering::Release);
                        let error = disconnected(&e.to_string());
                        match opened {
                            Some(opened) => {
                                let _ = opened.send(Err(error));
                            }
                            None => sink.fail(error),
                        }
                    }
                }
            }
            Attach::Close => {
                if let Some(call) = self.calls.get_mut(&stream_id) {
                    call.client_closed = true;
                    if call.sink.is_none() {
                        self.forget(&stream_id);
                    }
                }
            }
            Attach::Cancel => {
                self.fail(
                    &stream_id,
                    RiverError::new(codes::CANCEL, "cancelled by the client"),
                );
            }
        }
    }

    fn poll(&mut self, _: &mut Context<'_>, _: &HandlerIo<'_>) {}

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(stalled) = self.stalled.as_mut() else {
            return Poll::Ready(());
        };
        let permit = match stalled.room.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(permit) => permit,
        };
        if let Some(stalled) = self.stalled.take()
            && let Ok(permit) = permit
        {
            permit.send(stalled.item);
        }
        Poll::Ready(())
    }

    fn session_ended(&mut self, _: &HandlerIo<'_>) {
        let stalled = self.stalled.take();
        drop(stalled);
        let mut ended: Vec<(u64, String)> = self
            .calls
            .iter()
            .map(|(id, call)| (call.order, id.clone()))
            .collect();
        ended.sort_unstable();
        for (_, stream_id) in ended {
            self.fail(&stream_id, disconnected("the session ended"));
        }
    }
}

/// Calls procedures on one River server through a [`ClientTransport`].
#[derive(Clone)]
pub struct RiverClient {
    transport: ClientTransport,
    server: Arc<str>,
    /// The inbox of the server's session task; `None` when the transport was already closed.
    sender: Option<SessionSender>,
    open: Arc<AtomicUsize>,
}

impl std::fmt::Debug for RiverClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiverClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl RiverClient {
    /// A client of the server `server_id`, reached through `transport`. Must be called inside a
    /// tokio runtime. A transport has one router client per server: a newer one takes over the
    /// calls of the sessions that follow.
    pub fn new(transport: ClientTransport, server_id: &str) -> Self {
        let open = Arc::new(AtomicUsize::new(0));
        let dispatcher = Dispatcher {
            calls: HashMap::default(),
            next_order: 0,
            open: Arc::clone(&open),
            stalled: None,
        };
        let sender = transport.install(server_id, Box::new(dispatcher)).ok();
        RiverClient {
            transport,
            server: Arc::from(server_id),
            sender,
            open,
        }
    }

    /// The transport underneath.
    pub fn transport(&self) -> &ClientTransport {
        &self.transport
    }

    /// Calls currently waiting for responses (for tests that check nothing leaks).
    pub fn open_calls(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn version(&self) -> ProtocolVersion {
        self.transport.version()
    }

    /// Queues `msg` on the session (only on `session`, if given) with `attach` for the
    /// dispatcher. `false` when the transport is closed.
    fn push(&self, msg: PartialMessage, session: Option<Arc<str>>, attach: Attach) -> bool {
        let Some(sender) = &self.sender else {
            return false;
        };
        sender.push(Outgoing {
            msg,
            session,
            reply: None,
            attach: Some(attach),
        })
    }

    /// The message that opens a call: the init with the `StreamOpen` bit (and `StreamClosed`
    /// when the client will send nothing more).
    fn opening<I: Serialize + ?Sized>(
        &self,
        stream_id: &str,
        service: &str,
        procedure: &str,
        init: &I,
        close_now: bool,
    ) -> Result<PartialMessage, RiverError> {
        let payload = to_payload(init).map_err(|e| {
            RiverError::new(codes::INVALID_REQUEST, format!("init does not encode: {e}"))
        })?;
        let mut flags = ControlFlags::OPEN;
        if close_now {
            flags |= ControlFlags::CLOSED;
        }
        let mut msg = stream_message(stream_id, flags, self.version(), payload);
        msg.service_name = Some(service.to_owned());
        msg.procedure_name = Some(procedure.to_owned());
        msg.tracing = crate::trace::current();
        Ok(msg)
    }

    /// Opens a call whose responses are many, and waits until its opening message is sent.
    async fn open_many<I: Serialize + ?Sized>(
        &self,
        service: &str,
        procedure: &str,
        init: &I,
        answer_close: bool,
    ) -> Result<(CallHandle, mpsc::Receiver<Item>), RiverError> {
        let stream_id = generate_id();
        let msg = self.opening(&stream_id, service, procedure, init, false)?;
        let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
        let (opened_tx, opened) = oneshot::channel();
        let state = Arc::new(CallState::default());
        let open = Open {
            sink: Sink::Many(tx),
            closed_now: false,
            answer_close,
            state: Arc::clone(&state),
            opened: Some(opened_tx),
        };
        if !self.push(msg, None, Attach::Open(open)) {
            return Err(disconnected("the transport is closed"));
        }
        opened
            .await
            .unwrap_or_else(|_| Err(disconnected("the transport is closed")))?;
        Ok((self.call(stream_id, state), rx))
    }

    fn call(&self, stream_id: String, state: Arc<CallState>) -> CallHandle {
        CallHandle {
            client: self.clone(),
            stream_id,
            state,
        }
    }

    /// Calls an rpc: one init, one result.
    pub async fn rpc<I, O>(&self, service: &str, procedure: &str, init: &I) -> Result<O, RiverError>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        let stream_id = generate_id();
        let msg = self.opening(&stream_id, service, procedure, init, true)?;
        let (tx, rx) = oneshot::channel();
        let state = Arc::new(CallState::default());
        let open = Open {
            sink: Sink::One(tx),
            closed_now: true,
            answer_close: false,
            state: Arc::clone(&state),
            opened: None,
        };
        if !self.push(msg, None, Attach::Open(open)) {
            return Err(disconnected("the transport is closed"));
        }
        let guard = CancelOnDrop(Some(self.call(stream_id, state)));
        let result = decode_result(rx.await);
        guard.disarm();
        result
    }

    /// Opens a subscription: one init, then results until the server closes.
    pub async fn subscribe<I, O>(
        &self,
        service: &str,
        procedure: &str,
        init: &I,
    ) -> Result<ResponseStream<O>, RiverError>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        let (call, rx) = self.open_many(service, procedure, init, true).await?;
        Ok(ResponseStream::new(rx, CancelOnDrop(Some(call))))
    }

    /// Opens an upload: one init, then requests through the writer; closing the writer asks
    /// for the result.
    pub async fn upload<I, R, O>(
        &self,
        service: &str,
        procedure: &str,
        init: &I,
    ) -> Result<(RequestWriter<R>, UploadResult<O>), RiverError>
    where
        I: Serialize + ?Sized,
        R: Serialize,
        O: DeserializeOwned + Send + 'static,
    {
        let stream_id = generate_id();
        let msg = self.opening(&stream_id, service, procedure, init, false)?;
        let (tx, rx) = oneshot::channel();
        let (opened_tx, opened) = oneshot::channel();
        let state = Arc::new(CallState::default());
        let open = Open {
            sink: Sink::One(tx),
            closed_now: false,
            answer_close: false,
            state: Arc::clone(&state),
            opened: Some(opened_tx),
        };
        if !self.push(msg, None, Attach::Open(open)) {
            return Err(disconnected("the transport is closed"));
        }
        opened
            .await
            .unwrap_or_else(|_| Err(disconnected("the transport is closed")))?;
        let writer = RequestWriter::new(self.call(stream_id.clone(), Arc::clone(&state)));
        let result = UploadResult {
            rx,
            guard: CancelOnDrop(Some(self.call(stream_id, state))),
            _o: PhantomData,
        };
        Ok((writer, result))
    }

    /// Opens a stream: one init, then requests through the writer and results from the
    /// response stream, independently.
    pub async fn stream<I, R, O>(
        &self,
        service: &str,
        procedure: &str,
        init: &I,
    ) -> Result<(RequestWriter<R>, ResponseStream<O>), RiverError>
    where
        I: Serialize + ?Sized,
        R: Serialize,
        O: DeserializeOwned,
    {
        let (call, rx) = self.open_many(service, procedure, init, false).await?;
        let writer = RequestWriter::new(self.call(call.stream_id.clone(), Arc::clone(&call.state)));
        Ok((writer, ResponseStream::new(rx, CancelOnDrop(Some(call)))))
    }
}

fn decode_result<O: DeserializeOwned>(
    received: Result<Item, oneshot::error::RecvError>,
) -> Result<O, RiverError> {
    match received {
        Ok(Ok(value)) => decode(&value),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(disconnected("the call ended without a result")),
    }
}

fn decode<O: DeserializeOwned>(value: &Value) -> Result<O, RiverError> {
    from_payload(value).map_err(|e| {
        RiverError::new(
            codes::INVALID_REQUEST,
            format!("response does not decode: {e}"),
        )
    })
}

/// One call, as its writer, reader and result know it.
#[derive(Debug)]
struct CallHandle {
    client: RiverClient,
    stream_id: String,
    state: Arc<CallState>,
}

impl CallHandle {
    fn session(&self) -> Option<Arc<str>> {
        self.state.session.get().cloned()
    }

    /// Sends a message of the call on its session.
    fn push(&self, msg: PartialMessage, attach: Attach) -> bool {
        self.client.push(msg, self.session(), attach)
    }

    /// Cancels the call (if it is still open) without waiting. `false` if it had ended.
    fn cancel(&self) -> bool {
        if self.state.ended.swap(true, Ordering::AcqRel) {
            return false;
        }
        let error = RiverError::new(codes::CANCEL, "cancelled by the client");
        let msg = stream_message(
            &self.stream_id,
            ControlFlags::CANCEL,
            self.client.version(),
            err_result(&error),
        );
        self.push(msg, Attach::Cancel)
    }

    /// Closes the client's half (if it is still open). `false` if it was not.
    fn close(&self) -> bool {
        if !self.state.can_write() {
            return false;
        }
        self.state.client_closed.store(true, Ordering::Release);
        let msg = close_message(&self.stream_id, self.client.version());
        self.push(msg, Attach::Close)
    }
}

/// Cancels a call when the value that owns it is dropped before the call ended.
struct CancelOnDrop(Option<CallHandle>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(call) = self.0.take() {
            call.cancel();
        }
    }
}

/// The request side of an upload or stream call.
pub struct RequestWriter<R> {
    call: CallHandle,
    closed: bool,
    _r: PhantomData<fn(R)>,
}

impl<R> std::fmt::Debug for RequestWriter<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestWriter")
            .field("stream_id", &self.call.stream_id)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<R> RequestWriter<R> {
    fn new(call: CallHandle) -> Self {
        RequestWriter {
            call,
            closed: false,
            _r: PhantomData,
        }
    }

    /// Closes the client's side: the server sees the end of the requests. The close is queued
    /// behind the requests written before it.
    #[allow(
        clippy::unused_async,
        reason = "awaited like `write`, which it follows in order"
    )]
    pub async fn close(mut self) -> Result<(), RiverError> {
        self.closed = true;
        if self.call.close() {
            Ok(())
        } else {
            Err(disconnected("the call has ended"))
        }
    }

    /// Aborts the call: the server stops its handler and sends nothing more.
    #[allow(
        clippy::unused_async,
        reason = "awaited like `write`, which it follows in order"
    )]
    pub async fn cancel(mut self) -> Result<(), RiverError> {
        self.closed = true;
        if self.call.cancel() {
            Ok(())
        } else {
            Err(disconnected("the call has ended"))
        }
    }
}

/// Dropping a writer without closing it closes the client's half, as `close` would: the
/// server sees the end of the requests.
impl<R> Drop for RequestWriter<R> {
    fn drop(&mut self) {
        if !self.closed {
            self.call.close();
        }
    }
}

impl<R> RequestWriter<R> {
    /// Whether the session's send buffer, with what is queued for it, is at or above its
    /// high-water mark.
    pub fn is_backpressured(&self) -> bool {
        self.call
            .client
            .sender
            .as_ref()
            .is_some_and(|sender| sender.info().is_backpressured())
    }

    /// Resolves once the session's send buffer is below its high-water mark (at once if it is,
    /// or if the session is gone).
    pub async fn ready(&self) {
        if let Some(sender) = &self.call.client.sender {
            sender.info().drained().await;
        }
    }
}

impl<R: Serialize> RequestWriter<R> {
    /// Sends one request, and reports whether the send buffer has reached its high-water mark
    /// (River's advisory backpressure). Fails once the call has ended (its session ended, or the
    /// server finished or cancelled it). While the session's send buffer is at its high-water
    /// mark, waits for it to drain first, as [`ready`](Self::ready) does.
    pub async fn write(&self, request: &R) -> Result<Written, RiverError> {
        if !self.call.state.can_write() {
            return Err(disconnected("the call has ended"));
        }
        let payload = to_payload(request).map_err(|e| {
            RiverError::new(
                codes::INVALID_REQUEST,
                format!("request does not encode: {e}"),
            )
        })?;
        self.ready().await;
        if !self.call.state.can_write() {
            return Err(disconnected("the call has ended"));
        }
        let msg = stream_message(
            &self.call.stream_id,
            ControlFlags::NONE,
            self.call.client.version(),
            payload,
        );
        let mut out = Outgoing::new(msg);
        out.session = self.call.session();
        match &self.call.client.sender {
            Some(sender) if sender.push(out) => Ok(Written {
                backpressured: sender.info().is_backpressured(),
            }),
            _ => Err(disconnected("the transport is closed")),
        }
    }
}

/// Results of a stream or subscription call, in order; ends when the server closes its side.
/// A session that ends first yields an `UNEXPECTED_DISCONNECT` error, then the end.
pub struct ResponseStream<O> {
    rx: mpsc::Receiver<Item>,
    /// Dropping the stream before it ended cancels the call.
    guard: Option<CancelOnDrop>,
    _o: PhantomData<fn() -> O>,
}

impl<O> std::fmt::Debug for ResponseStream<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream").finish_non_exhaustive()
    }
}

impl<O> ResponseStream<O> {
    fn new(rx: mpsc::Receiver<Item>, guard: CancelOnDrop) -> Self {
        ResponseStream {
            rx,
            guard: Some(guard),
            _o: PhantomData,
        }
    }
}

impl<O: DeserializeOwned> futures_util::Stream for ResponseStream<O> {
    type Item = Result<O, RiverError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(item.and_then(|v| decode(&v)))),
            Poll::Ready(None) => {
                // The responses are over: nothing left to cancel on drop.
                if let Some(guard) = self.guard.take() {
                    guard.disarm();
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The result of an upload, available once the client closed its side and the server answered.
pub struct UploadResult<O> {
    rx: oneshot::Receiver<Item>,
    /// Dropping the result before it arrived cancels the call.
    guard: CancelOnDrop,
    _o: PhantomData<fn() -> O>,
}

impl<O> std::fmt::Debug for UploadResult<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stream_id = self.guard.0.as_ref().map(|c| c.stream_id.as_str());
        f.debug_struct("UploadResult")
            .field("stream_id", &stream_id)
            .finish_non_exhaustive()
    }
}

impl<O: DeserializeOwned> Future for UploadResult<O> {
    type Output = Result<O, RiverError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let received = match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(received) => received,
            Poll::Pending => return Poll::Pending,
        };
        self.guard.0 = None;
        Poll::Ready(decode_result(received))
    }
}
