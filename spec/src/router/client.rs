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

/// A call the client is waiting on.
struct Pending {
    /// The session the call was opened on, once known.
    session_id: Option<String>,
    /// Where its responses go.
    tx: mpsc::UnboundedSender<Item>,
}

#[derive(Default)]
struct State {
    calls: HashMap<String, Pending>,
    closed: bool,
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
        tokio::spawn(dispatch(events, Arc::clone(&state)));
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
                    tx,
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
        if let Err(e) = self.transport.send(&self.server, msg).await {
            self.lock().calls.remove(&stream_id);
            return Err(disconnected(&e.to_string()));
        }
        let session_id = self.transport.session_id(&self.server).await;
        if let Some(call) = self.lock().calls.get_mut(&stream_id) {
            call.session_id = session_id;
        }
        Ok((stream_id, rx))
    }

    /// Calls an rpc: one init, one result.
    pub async fn rpc<I, O>(&self, service: &str, procedure: &str, init: &I) -> Result<O, RiverError>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        let (_, rx) = self.open(service, procedure, init, true).await?;
        first_result(rx).await
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
        let (stream_id, rx) = self.open(service, procedure, init, false).await?;
        let writer = self.writer::<()>(stream_id);
        Ok(ResponseStream::new(rx, Some(writer)))
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
        let (stream_id, rx) = self.open(service, procedure, init, false).await?;
        let writer = self.writer(stream_id);
        let (tx, result) = oneshot::channel();
        tokio::spawn(async move {
            let _ = tx.send(first_result::<O>(rx).await);
        });
        Ok((writer, UploadResult { rx: result }))
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
        let (stream_id, rx) = self.open(service, procedure, init, false).await?;
        Ok((self.writer(stream_id), ResponseStream::new(rx, None)))
    }

    fn writer<R>(&self, stream_id: String) -> RequestWriter<R> {
        RequestWriter {
            client: self.clone(),
            stream_id,
            closed: false,
            _r: std::marker::PhantomData,
        }
    }

    fn is_open(&self, stream_id: &str) -> bool {
        self.lock().calls.contains_key(stream_id)
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
async fn dispatch(mut events: mpsc::UnboundedReceiver<TransportEvent>, state: Arc<Mutex<State>>) {
    while let Some(event) = events.recv().await {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            TransportEvent::Message { msg, version, .. } => {
                let flags = msg.flags(version);
                let Some(call) = state.calls.get(&msg.stream_id) else {
                    continue;
                };
                let is_close = flags.closed && is_close_control(&msg.payload);
                if !is_close {
                    let _ = call.tx.send(parse_result(&msg.payload));
                }
                if flags.closed || flags.cancel {
                    state.calls.remove(&msg.stream_id);
                }
            }
            TransportEvent::SessionStatus {
                session_id,
                status: SessionStatus::Closed,
                ..
            } => {
                state.calls.retain(|_, call| {
                    let ended = call.session_id.as_deref().is_none_or(|id| id == session_id);
                    if ended {
                        let _ = call.tx.send(Err(disconnected("the session ended")));
                    }
                    !ended
                });
            }
            TransportEvent::TransportClosed => {
                state.closed = true;
                for (_, call) in state.calls.drain() {
                    let _ = call.tx.send(Err(disconnected("the transport closed")));
                }
                return;
            }
            _ => {}
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
        if !self.client.is_open(&self.stream_id) {
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
        self.send(msg).await
    }

    /// Aborts the call: the server stops its handler and sends nothing more.
    pub async fn cancel(mut self) -> Result<(), RiverError> {
        self.closed = true;
        let error = RiverError::new(codes::CANCEL, "cancelled by the client");
        let msg = stream_message(
            &self.stream_id,
            ControlFlags::CANCEL,
            self.client.version(),
            err_result(&error),
        );
        let result = self.send(msg).await;
        if let Some(call) = self.client.lock().calls.remove(&self.stream_id) {
            let _ = call.tx.send(Err(error));
        }
        result
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
    /// For subscriptions: the client's side, closed in answer to the server's close.
    answer_close: Option<RequestWriter<()>>,
    _o: std::marker::PhantomData<fn() -> O>,
}

impl<O> std::fmt::Debug for ResponseStream<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream").finish_non_exhaustive()
    }
}

impl<O> ResponseStream<O> {
    fn new(rx: mpsc::UnboundedReceiver<Item>, answer_close: Option<RequestWriter<()>>) -> Self {
        ResponseStream {
            rx,
            answer_close,
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
                // The server closed a subscription: answer with our own close, as River's
                // clients do, so both halves are closed.
                if let Some(writer) = self.answer_close.take() {
                    let msg = close_message(&writer.stream_id, writer.client.version());
                    let transport = writer.client.transport.clone();
                    let server = writer.client.server.clone();
                    tokio::spawn(async move {
                        let _ = transport.send(&server, msg).await;
                    });
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The result of an upload, available once the client closed its side and the server answered.
#[derive(Debug)]
pub struct UploadResult<O> {
    rx: oneshot::Receiver<Result<O, RiverError>>,
}

impl<O> Future for UploadResult<O> {
    type Output = Result<O, RiverError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| Err(disconnected("the call ended without a result"))))
    }
}
