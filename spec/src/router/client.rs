//! The client side: typed calls of the four kinds over a [`ClientTransport`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use super::{
    RiverError, close_message, codes, err_result, from_payload, is_close_control, parse_result,
    stream_message, to_payload,
};
use crate::session::{SessionStatus, generate_id};
use crate::transport::{ClientTransport, TransportEvent};
use crate::wire::{ControlFlags, PartialMessage, ProtocolVersion, Value};

type Item = Result<Value, RiverError>;

/// A call the client has open. It is forgotten once both halves are closed (or it was
/// cancelled, or its session ended).
struct Pending {
    /// The session the call was opened on, once the send says which.
    session_id: Option<String>,
    /// Where its responses go, until the server closes its half.
    tx: Option<mpsc::UnboundedSender<Item>>,
    /// Whether the client has closed its half (an rpc does so when it opens).
    client_closed: bool,
    /// Subscriptions answer the server's close with their own.
    answer_close: bool,
}

/// How many ended sessions the dispatcher remembers, for calls whose session it learns late.
const RECENTLY_ENDED: usize = 16;

#[derive(Default)]
struct State {
    calls: HashMap<String, Pending>,
    /// Sessions that ended lately: a call opened on one of them ends as soon as it learns so.
    ended_sessions: std::collections::VecDeque<String>,
    closed: bool,
}

impl State {
    /// Ends the call with `error` (if it is still open) and forgets it.
    fn fail(&mut self, stream_id: &str, error: RiverError) {
        if let Some(call) = self.calls.remove(stream_id)
            && let Some(tx) = call.tx
        {
            let _ = tx.send(Err(error));
        }
    }
}

/// Calls procedures on one River server through a [`ClientTransport`].
#[derive(Clone)]
pub struct RiverClient {
    transport: ClientTransport,
    server: Arc<str>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for RiverClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiverClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

fn disconnected(why: &str) -> RiverError {
    RiverError::new(codes::UNEXPECTED_DISCONNECT, why)
}

impl RiverClient {
    /// A client of the server `server_id`, reached through `transport`. Must be called inside a
    /// tokio runtime.
    pub fn new(transport: ClientTransport, server_id: &str) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let events = transport.subscribe();
        tokio::spawn(dispatch(events, Arc::clone(&state), transport.clone()));
        RiverClient {
            transport,
            server: Arc::from(server_id),
            state,
        }
    }

    /// The transport underneath.
    pub fn transport(&self) -> &ClientTransport {
        &self.transport
    }

    /// Calls currently waiting for responses (for tests that check nothing leaks).
    pub fn open_calls(&self) -> usize {
        self.lock().calls.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn version(&self) -> ProtocolVersion {
        self.transport.version()
    }

    /// Opens a call: registers it, then sends the init with the `StreamOpen` bit (and `StreamClosed`
    /// when the client will send nothing more).
    async fn open<I: Serialize + ?Sized>(
        &self,
        service: &str,
        procedure: &str,
        init: &I,
        close_now: bool,
        answer_close: bool,
    ) -> Result<(String, mpsc::UnboundedReceiver<Item>), RiverError> {
        let payload = to_payload(init).map_err(|e| {
            RiverError::new(codes::INVALID_REQUEST, format!("init does not encode: {e}"))
        })?;
        let stream_id = generate_id();
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut state = self.lock();
            if state.closed {
                return Err(disconnected("the transport is closed"));
            }
            state.calls.insert(
                stream_id.clone(),
                Pending {
                    session_id: None,
                    tx: Some(tx),
                    client_closed: close_now,
                    answer_close,
                },
            );
        }
        let mut flags = ControlFlags::OPEN;
        if close_now {
            flags |= ControlFlags::CLOSED;
        }
        let mut msg = stream_message(&stream_id, flags, self.version(), payload);
        msg.service_name = Some(service.to_owned());
        msg.procedure_name = Some(procedure.to_owned());
        let sent = match self.transport.send(&self.server, msg).await {
            Ok(sent) => sent,
            Err(e) => {
                self.lock().calls.remove(&stream_id);
                return Err(disconnected(&e.to_string()));
            }
        };
        let mut state = self.lock();
        if state.ended_sessions.contains(&sent.session_id) {
            state.fail(&stream_id, disconnected("the session ended"));
        } else if let Some(call) = state.calls.get_mut(&stream_id) {
            call.session_id = Some(sent.session_id);
        }
        drop(state);
        Ok((stream_id, rx))
    }

    /// Calls an rpc: one init, one result.
    pub async fn rpc<I, O>(&self, service: &str, procedure: &str, init: &I) -> Result<O, RiverError>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        let (stream_id, rx) = self.open(service, procedure, init, true, false).await?;
        let guard = CancelOnDrop::new(self.clone(), stream_id);
        let result = first_result(rx).await;
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
        let (stream_id, rx) = self.open(service, procedure, init, false, true).await?;
        Ok(ResponseStream::new(
            rx,
            CancelOnDrop::new(self.clone(), stream_id),
        ))
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
        let (stream_id, rx) = self.open(service, procedure, init, false, false).await?;
        let writer = self.writer(stream_id.clone());
        let guard = CancelOnDrop::new(self.clone(), stream_id);
        let (tx, result) = oneshot::channel();
        tokio::spawn(async move {
            let _ = tx.send(first_result::<O>(rx).await);
        });
        Ok((writer, UploadResult { rx: result, guard }))
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
        let (stream_id, rx) = self.open(service, procedure, init, false, false).await?;
        let guard = CancelOnDrop::new(self.clone(), stream_id.clone());
        Ok((self.writer(stream_id), ResponseStream::new(rx, guard)))
    }

    fn writer<R>(&self, stream_id: String) -> RequestWriter<R> {
        RequestWriter {
            client: self.clone(),
            stream_id,
            closed: false,
            _r: std::marker::PhantomData,
        }
    }

    /// Whether the client's half of the call is still open for writing.
    fn can_write(&self, stream_id: &str) -> bool {
        self.lock()
            .calls
            .get(stream_id)
            .is_some_and(|call| !call.client_closed)
    }

    /// Ends the call locally with a `CANCEL` error (if it is still open) and returns the
    /// message that tells the server.
    fn cancel_locally(&self, stream_id: &str) -> Option<PartialMessage> {
        let error = RiverError::new(codes::CANCEL, "cancelled by the client");
        let mut state = self.lock();
        if !state.calls.contains_key(stream_id) {
            return None;
        }
        state.fail(stream_id, error.clone());
        drop(state);
        Some(stream_message(
            stream_id,
            ControlFlags::CANCEL,
            self.version(),
            err_result(&error),
        ))
    }

    /// Cancels the call `stream_id` (if it is still open) without waiting for the send.
    fn cancel_call(&self, stream_id: &str) {
        if let Some(msg) = self.cancel_locally(stream_id) {
            spawn_send(self.transport.clone(), self.server.clone(), msg);
        }
    }
}

/// Waits for the one result of an rpc or upload.
async fn first_result<O: DeserializeOwned>(
    mut rx: mpsc::UnboundedReceiver<Item>,
) -> Result<O, RiverError> {
    match rx.recv().await {
        Some(Ok(value)) => from_payload(&value).map_err(|e| {
            RiverError::new(
                codes::INVALID_REQUEST,
                format!("response does not decode: {e}"),
            )
        }),
        Some(Err(e)) => Err(e),
        None => Err(disconnected("the call ended without a result")),
    }
}

/// Routes the transport's events to the calls waiting for them.
async fn dispatch(
    mut events: mpsc::UnboundedReceiver<TransportEvent>,
    state: Arc<Mutex<State>>,
    transport: ClientTransport,
) {
    while let Some(event) = events.recv().await {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            TransportEvent::Message { msg, version, .. } => {
                let flags = msg.flags(version);
                let Some(call) = state.calls.get_mut(&msg.stream_id) else {
                    continue;
                };
                if flags.cancel {
                    state.fail(
                        &msg.stream_id,
                        parse_result(&msg.payload).err().unwrap_or_else(|| {
                            RiverError::new(codes::CANCEL, "the server cancelled the call")
                        }),
                    );
                    continue;
                }
                let is_close = flags.closed && is_close_control(&msg.payload);
                if !is_close && let Some(tx) = &call.tx {
                    let _ = tx.send(parse_result(&msg.payload));
                }
                if flags.closed {
                    // The server's half is closed: the reader ends; the call is forgotten once
                    // the client's half is closed too. A subscription closes its half in answer.
                    call.tx = None;
                    if is_close && call.answer_close && !call.client_closed {
                        let close = close_message(&msg.stream_id, transport.version());
                        let transport = transport.clone();
                        let server = msg.from.clone();
                        tokio::spawn(async move {
                            let _ = transport.send(&server, close).await;
                        });
                        call.client_closed = true;
                    }
                    if call.client_closed {
                        state.calls.remove(&msg.stream_id);
                    }
                }
            }
            TransportEvent::SessionStatus {
                session_id,
                status: SessionStatus::Closed,
                ..
            } => {
                let ended: Vec<String> = state
                    .calls
                    .iter()
                    .filter(|(_, call)| call.session_id.as_deref() == Some(session_id.as_str()))
                    .map(|(id, _)| id.clone())
                    .collect();
                for stream_id in ended {
                    state.fail(&stream_id, disconnected("the session ended"));
                }
                if state.ended_sessions.len() == RECENTLY_ENDED {
                    state.ended_sessions.pop_front();
                }
                state.ended_sessions.push_back(session_id);
            }
            TransportEvent::TransportClosed => {
                state.closed = true;
                let all: Vec<String> = state.calls.keys().cloned().collect();
                for stream_id in all {
                    state.fail(&stream_id, disconnected("the transport closed"));
                }
                return;
            }
            _ => {}
        }
    }
}

/// Cancels a call when the value that owns it is dropped before the call ended.
struct CancelOnDrop {
    client: Option<RiverClient>,
    stream_id: String,
}

impl CancelOnDrop {
    fn new(client: RiverClient, stream_id: String) -> Self {
        CancelOnDrop {
            client: Some(client),
            stream_id,
        }
    }

    fn disarm(mut self) {
        self.client = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            client.cancel_call(&self.stream_id);
        }
    }
}

/// The request side of an upload or stream call.
pub struct RequestWriter<R> {
    client: RiverClient,
    stream_id: String,
    closed: bool,
    _r: std::marker::PhantomData<fn(R)>,
}

impl<R> std::fmt::Debug for RequestWriter<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestWriter")
            .field("stream_id", &self.stream_id)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<R> RequestWriter<R> {
    async fn send(&self, msg: PartialMessage) -> Result<(), RiverError> {
        if !self.client.can_write(&self.stream_id) {
            return Err(disconnected("the call has ended"));
        }
        self.client
            .transport
            .send(&self.client.server, msg)
            .await
            .map(|_| ())
            .map_err(|e| disconnected(&e.to_string()))
    }

    /// Closes the client's side: the server sees the end of the requests.
    pub async fn close(mut self) -> Result<(), RiverError> {
        self.closed = true;
        let msg = close_message(&self.stream_id, self.client.version());
        let result = self.send(msg).await;
        let mut state = self.client.lock();
        if let Some(call) = state.calls.get_mut(&self.stream_id) {
            call.client_closed = true;
            if call.tx.is_none() {
                state.calls.remove(&self.stream_id);
            }
        }
        result
    }

    /// Aborts the call: the server stops its handler and sends nothing more.
    pub async fn cancel(mut self) -> Result<(), RiverError> {
        self.closed = true;
        let Some(msg) = self.client.cancel_locally(&self.stream_id) else {
            return Err(disconnected("the call has ended"));
        };
        self.client
            .transport
            .send(&self.client.server, msg)
            .await
            .map(|_| ())
            .map_err(|e| disconnected(&e.to_string()))
    }
}

/// Dropping a writer without closing it closes the client's half, as `close` would: the
/// server sees the end of the requests.
impl<R> Drop for RequestWriter<R> {
    fn drop(&mut self) {
        if self.closed || !self.client.can_write(&self.stream_id) {
            return;
        }
        let msg = close_message(&self.stream_id, self.client.version());
        let mut state = self.client.lock();
        if let Some(call) = state.calls.get_mut(&self.stream_id) {
            call.client_closed = true;
            if call.tx.is_none() {
                state.calls.remove(&self.stream_id);
            }
        }
        drop(state);
        let transport = self.client.transport.clone();
        let server = self.client.server.clone();
        spawn_send(transport, server, msg);
    }
}

impl<R: Serialize> RequestWriter<R> {
    /// Sends one request. Fails once the call has ended (its session ended, or the server
    /// finished or cancelled it).
    pub async fn write(&self, request: &R) -> Result<(), RiverError> {
        let payload = to_payload(request).map_err(|e| {
            RiverError::new(
                codes::INVALID_REQUEST,
                format!("request does not encode: {e}"),
            )
        })?;
        let msg = stream_message(
            &self.stream_id,
            ControlFlags::NONE,
            self.client.version(),
            payload,
        );
        self.send(msg).await
    }
}

/// Results of a stream or subscription call, in order; ends when the server closes its side.
/// A session that ends first yields an `UNEXPECTED_DISCONNECT` error, then the end.
pub struct ResponseStream<O> {
    rx: mpsc::UnboundedReceiver<Item>,
    /// Dropping the stream before it ended cancels the call.
    guard: Option<CancelOnDrop>,
    _o: std::marker::PhantomData<fn() -> O>,
}

impl<O> std::fmt::Debug for ResponseStream<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream").finish_non_exhaustive()
    }
}

impl<O> ResponseStream<O> {
    fn new(rx: mpsc::UnboundedReceiver<Item>, guard: CancelOnDrop) -> Self {
        ResponseStream {
            rx,
            guard: Some(guard),
            _o: std::marker::PhantomData,
        }
    }
}

impl<O: DeserializeOwned> futures_util::Stream for ResponseStream<O> {
    type Item = Result<O, RiverError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(item.and_then(|v| {
                from_payload(&v).map_err(|e| {
                    RiverError::new(
                        codes::INVALID_REQUEST,
                        format!("response does not decode: {e}"),
                    )
                })
            }))),
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
    rx: oneshot::Receiver<Result<O, RiverError>>,
    /// Dropping the result before it arrived cancels the call.
    guard: CancelOnDrop,
}

impl<O> std::fmt::Debug for UploadResult<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadResult")
            .field("stream_id", &self.guard.stream_id)
            .finish_non_exhaustive()
    }
}

impl<O> Future for UploadResult<O> {
    type Output = Result<O, RiverError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| Err(disconnected("the call ended without a result"))));
        if out.is_ready() {
            self.guard.client = None;
        }
        out
    }
}

/// Sends `msg` in the background; from a drop, that is the only way. Outside a tokio runtime
/// (a value dropped after its runtime ended) there is no transport left to send on.
fn spawn_send(transport: ClientTransport, server: Arc<str>, msg: PartialMessage) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = transport.send(&server, msg).await;
        });
    }
}
