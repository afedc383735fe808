//! A `tracing` subscriber for one test's thread, in a test binary whose other tests run beside
//! it on other threads.
//!
//! tracing-core caches whether each callsite is enabled, for the whole process, when the
//! callsite is first reached. While a single dispatcher is registered it asks only the default
//! subscriber of the thread that reaches the callsite: one that another test reaches first, on
//! a thread without a subscriber, is cached as disabled, and the test whose thread has the
//! subscriber loses its events. With two or more registered it asks each of them.
//! [`set_default`] keeps a second dispatcher registered for the life of the process: one that
//! is nobody's default and enables nothing.

use std::sync::OnceLock;

use tracing::subscriber::{DefaultGuard, NoSubscriber};
use tracing::{Dispatch, Subscriber};

/// Makes `subscriber` this thread's default until the guard drops, with every callsite's
/// interest asked of every registered dispatcher.
pub(crate) fn set_default(subscriber: impl Subscriber + Send + Sync + 'static) -> DefaultGuard {
    static IDLE: OnceLock<Dispatch> = OnceLock::new();
    IDLE.get_or_init(|| Dispatch::new(NoSubscriber::default()));
    tracing::subscriber::set_default(subscriber)
}
