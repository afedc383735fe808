//! Services: named groups of typed procedures, and the erased form the dispatcher calls.

use foldhash::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::call::{CallContext, CallOut, Requests, Responses};
use crate::metrics::ProcedureMetrics;
use crate::router::{RiverError, codes, from_payload, to_payload};
use crate::session::BoxFuture;
use crate::wire::{Map, Value};

/// What a type-erased handler gets for one call.
pub(super) struct Call {
    pub(super) ctx: CallContext,
    pub(super) init: Value,
    /// The requests' queue, for kinds that take requests.
    pub(super) requests: Option<mpsc::Receiver<Value>>,
    pub(super) out: CallOut,
}

/// How a call ends, as far as the handler is concerned.
pub(super) enum Finish {
    /// One final result (rpc, upload).
    Result(Result<Value, RiverError>),
    /// The responses are done (stream, subscription).
    Done(Result<(), RiverError>),
    /// The call is aborted with this error and the cancel bit (an init that does not fit).
    Abort(RiverError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Rpc,
    Stream,
    Upload,
    Subscription,
}

impl Kind {
    pub(super) fn takes_requests(self) -> bool {
        matches!(self, Kind::Stream | Kind::Upload)
    }
}

type ErasedHandler = Arc<dyn Fn(Call) -> BoxFuture<'static, Finish> + Send + Sync>;

/// Whether a payload decodes as a procedure's request type.
pub(super) type FitsRequest = fn(&Value) -> bool;

pub(super) struct Procedure {
    pub(super) kind: Kind,
    pub(super) handler: ErasedHandler,
    /// For a stream or upload whose init type takes the empty map `{}`: whether a payload is
    /// one of its requests. A v1.1 session may open such a call with its first request (see
    /// the dispatcher).
    pub(super) opening_request: Option<FitsRequest>,
    /// Where its calls are counted, once served by a transport with metrics.
    pub(super) metrics: Option<Arc<ProcedureMetrics>>,
}

fn fits<T: DeserializeOwned>(payload: &Value) -> bool {
    from_payload::<T>(payload).is_ok()
}

/// [`Procedure::opening_request`] for a procedure with init `I` and requests `R`.
fn opening_request<I: DeserializeOwned, R: DeserializeOwned>() -> Option<FitsRequest> {
    fits::<I>(&Value::Map(Map::new())).then_some(fits::<R> as FitsRequest)
}

/// A named group of procedures.
pub struct Service {
    pub(super) name: String,
    pub(super) procedures: HashMap<String, Procedure>,
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
    let rx = call.requests.take().unwrap_or_else(|| mpsc::channel(1).1);
    Requests {
        rx,
        out: call.out.clone(),
        _t: PhantomData,
    }
}

fn responses<T>(call: &Call) -> Responses<T> {
    Responses {
        out: call.out.clone(),
        _t: PhantomData,
    }
}

impl Service {
    /// An empty service named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Service {
            name: name.into(),
            procedures: HashMap::default(),
        }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn add(
        &mut self,
        name: &str,
        kind: Kind,
        handler: ErasedHandler,
        opening_request: Option<FitsRequest>,
    ) {
        let procedure = Procedure {
            kind,
            handler,
            opening_request,
            metrics: None,
        };
        let previous = self.procedures.insert(name.to_owned(), procedure);
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
            None,
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
            opening_request::<I, R>(),
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
            None,
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
            opening_request::<I, R>(),
        );
        self
    }
}
