//! Requests about the sessions a transport holds, which both transports answer the same way:
//! the handle side sends a [`Query`] to the transport's task, the task answers it from its
//! session drivers.

use tokio::sync::{mpsc, oneshot};

use crate::session::{SessionContext, SessionDriver};
use crate::wire::Value;

pub(super) enum Query {
    SessionId(String, oneshot::Sender<Option<String>>),
    Metadata(String, oneshot::Sender<Option<Value>>),
    ConnectionCount(oneshot::Sender<usize>),
    DropConnections,
    Phantom(bool),
    WaitForDrain(String, oneshot::Sender<()>),
}

/// Sends a query that expects an answer; `None` when the transport's task is gone.
pub(super) async fn ask<C: From<Query>, T>(
    commands: &mpsc::UnboundedSender<C>,
    query: impl FnOnce(oneshot::Sender<T>) -> Query,
) -> Option<T> {
    let (reply, rx) = oneshot::channel();
    commands.send(C::from(query(reply))).ok()?;
    rx.await.ok()
}

/// Sends a query that expects no answer.
pub(super) fn tell<C: From<Query>>(commands: &mpsc::UnboundedSender<C>, query: Query) {
    let _ = commands.send(C::from(query));
}

/// What a transport's task offers for answering queries.
pub(super) trait Sessions {
    /// The session with `peer`.
    fn session(&self, peer: &str) -> Option<&SessionDriver>;

    /// Every driver, pending server connections included.
    fn drivers(&self) -> Vec<&SessionDriver>;

    /// Drops every connection and reports what follows.
    fn drop_connections(&mut self);

    /// Callers of `wait_for_drain`, waiting for their session's buffer to drain.
    fn drain_waiters(&mut self) -> &mut Vec<(String, oneshot::Sender<()>)>;
}

pub(super) fn answer(sessions: &mut impl Sessions, query: Query) {
    match query {
        Query::SessionId(peer, reply) => {
            let id = sessions
                .session(&peer)
                .and_then(SessionDriver::context)
                .map(|c| c.id.clone());
            let _ = reply.send(id);
        }
        Query::Metadata(peer, reply) => {
            let _ = reply.send(sessions.session(&peer).and_then(|d| d.metadata().cloned()));
        }
        Query::ConnectionCount(reply) => {
            let n = sessions
                .drivers()
                .into_iter()
                .filter(|d| d.connection().is_some())
                .count();
            let _ = reply.send(n);
        }
        Query::DropConnections => sessions.drop_connections(),
        Query::Phantom(on) => {
            for driver in sessions.drivers() {
                if let Some(conn) = driver.connection() {
                    conn.set_phantom_disconnect(on);
                }
            }
        }
        Query::WaitForDrain(peer, reply) => sessions.drain_waiters().push((peer, reply)),
    }
}

/// Wakes the `wait_for_drain` callers whose session is below its high-water mark or gone
/// (dropping their sender is the wake-up).
pub(super) fn resolve_drain_waiters(sessions: &mut impl Sessions) {
    let mut waiters = std::mem::take(sessions.drain_waiters());
    waiters.retain(|(peer, _)| {
        sessions
            .session(peer)
            .and_then(SessionDriver::context)
            .is_some_and(SessionContext::is_backpressured)
    });
    *sessions.drain_waiters() = waiters;
}
