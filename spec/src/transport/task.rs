//! The loop both transports' tasks run: take a command, an event of the task's own, or the
//! next event any session driver handled, and act on it.

use std::collections::HashMap;
use std::hash::Hash;

use tokio::sync::{mpsc, oneshot};

use super::query::{Sessions, resolve_drain_waiters};
use super::{Subscribers, TransportEvent, step_any};
use crate::session::SessionDriver;

/// A transport's task: session drivers under keys, commands from the handle, and events of its
/// own (dial results, validation outcomes).
pub(super) trait Task: Sessions + Send + Sized + 'static {
    type Key: Clone + Eq + Hash + Send;
    type Command: Send;
    type Internal: Send;

    fn drivers_mut(&mut self) -> &mut HashMap<Self::Key, SessionDriver>;

    fn subscribers(&self) -> &Subscribers;

    /// Handles a command. A close command returns its reply, and the loop then ends.
    fn command(&mut self, command: Self::Command) -> Option<oneshot::Sender<()>>;

    fn internal(&mut self, event: Self::Internal);

    /// Publishes and acts on what the driver under `key` has to say.
    fn flush(&mut self, key: &Self::Key);
}

enum Event<T: Task> {
    Command(Option<T::Command>),
    Internal(T::Internal),
    Stepped(T::Key),
}

/// Runs `task` until it is closed (or its handles are all gone), then ends every session and
/// reports the transport closed.
pub(super) async fn run<T: Task>(
    mut task: T,
    mut commands: mpsc::UnboundedReceiver<T::Command>,
    mut internal: mpsc::UnboundedReceiver<T::Internal>,
) {
    let closer = loop {
        let event = tokio::select! {
            command = commands.recv() => Event::<T>::Command(command),
            Some(event) = internal.recv() => Event::Internal(event),
            key = step_any(task.drivers_mut().iter_mut().map(|(k, d)| (k.clone(), d))) => {
                Event::Stepped(key)
            }
        };
        match event {
            Event::Command(None) => break None,
            Event::Command(Some(command)) => {
                if let Some(reply) = task.command(command) {
                    break Some(reply);
                }
            }
            Event::Internal(event) => task.internal(event),
            Event::Stepped(key) => task.flush(&key),
        }
        resolve_drain_waiters(&mut task);
    };
    for_each(&mut task, SessionDriver::close);
    task.subscribers().emit(&TransportEvent::TransportClosed);
    drop(closer);
}

/// Applies `f` to every driver, publishing what each has to say right after.
pub(super) fn for_each<T: Task>(task: &mut T, f: impl Fn(&mut SessionDriver)) {
    let keys: Vec<T::Key> = task.drivers_mut().keys().cloned().collect();
    for key in keys {
        if let Some(driver) = task.drivers_mut().get_mut(&key) {
            f(driver);
        }
        task.flush(&key);
    }
}
