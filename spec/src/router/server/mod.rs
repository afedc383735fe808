//! The server side: services, typed handlers, and the dispatcher that runs them.
//!
//! [`serve`] gives every session of a [`ServerTransport`] a dispatcher of its own, which runs
//! on the session's task: a call's handler is polled there, its requests wait for it in a
//! bounded queue, and its responses join the session's one ordered queue.

mod call;
mod cancelled;
mod dispatch;
mod service;

use foldhash::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use call::{CallContext, Requests, Responses, StreamClosed};
pub use cancelled::CANCELLED_STREAMS_REMEMBERED;
pub use service::Service;

use crate::transport::{ServerTransport, SessionHandler};
use dispatch::Dispatcher;

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

/// Serves `services` to the clients of `transport`: every session accepted from now on has
/// its calls dispatched to them, until it ends.
///
/// # Panics
///
/// When two services share a name.
pub fn serve(transport: &ServerTransport, services: Vec<Service>) -> RiverServer {
    let mut table = HashMap::default();
    for mut service in services {
        if let Some(metrics) = transport.metrics() {
            for (name, procedure) in &mut service.procedures {
                procedure.metrics = Some(Arc::new(metrics.procedure(&service.name, name)));
            }
        }
        let name = service.name.clone();
        assert!(
            table.insert(name.clone(), service).is_none(),
            "service `{name}` is registered twice"
        );
    }
    let services = Arc::new(table);
    let open = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&open);
    transport.set_handler(Arc::new(move || {
        let dispatcher: Box<dyn SessionHandler> =
            Box::new(Dispatcher::new(Arc::clone(&services), Arc::clone(&calls)));
        dispatcher
    }));
    RiverServer {
        transport: transport.clone(),
        open,
    }
}
