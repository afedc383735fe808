//! What a transport knows about its sessions without asking them: one entry per peer (and, on
//! a server, per connection still waiting for its handshake), each with the session task's
//! inbox and a few facts the task keeps up to date. Both transports answer their queries from
//! here the same way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, oneshot};

use super::SessionSnapshot;
use super::command::{Command, SessionSender};
use crate::wire::Value;

/// Facts about one session task, written by the task, read by anyone.
#[derive(Debug, Default)]
pub(crate) struct SessionInfo {
    session_id: Mutex<Option<String>>,
    metadata: Mutex<Option<Value>>,
    /// The session has a connection (handshaking, or connected, or waiting for a handshake).
    connected: AtomicBool,
    /// Messages in the send buffer.
    buffered: AtomicUsize,
    /// Messages pushed into the inbox that the task has not yet counted in `buffered`.
    queued: AtomicUsize,
    high_water_mark: AtomicUsize,
    /// Woken when `buffered` falls below the high-water mark or the session ends.
    drained: Notify,
}

/// Locks `m`, going on past a thread that panicked holding it (what it guards stays usable).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SessionInfo {
    pub(crate) fn new(high_water_mark: usize) -> Self {
        let info = SessionInfo::default();
        info.high_water_mark
            .store(high_water_mark, Ordering::Relaxed);
        info
    }

    pub(crate) fn session_id(&self) -> Option<String> {
        lock(&self.session_id).clone()
    }

    pub(crate) fn set_session_id(&self, id: Option<&str>) {
        let mut current = lock(&self.session_id);
        if current.as_deref() != id {
            *current = id.map(str::to_owned);
        }
    }

    pub(crate) fn metadata(&self) -> Option<Value> {
        lock(&self.metadata).clone()
    }

    pub(crate) fn set_metadata(&self, metadata: Option<&Value>) {
        *lock(&self.metadata) = metadata.cloned();
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub(crate) fn set_connected(&self, on: bool) {
        self.connected.store(on, Ordering::Relaxed);
    }

    /// A message was pushed into the inbox.
    pub(crate) fn queue(&self) {
        self.queued.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes back [`queue`](Self::queue) for messages the task will never see, or `taken` ones
    /// it has now counted in the buffer.
    pub(crate) fn unqueue(&self, taken: usize) {
        if taken == 0 {
            return;
        }
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(taken))
            });
    }

    /// Records the send buffer's length (`None`: unchanged) after the task took `taken` messages
    /// from the inbox, waking drain waiters when the messages buffered and queued fall below the
    /// mark. The buffer is updated first, so that meanwhile they are counted twice, never
    /// missed.
    pub(crate) fn set_buffered(&self, n: Option<usize>, taken: usize) {
        let queued = self.queued.load(Ordering::Acquire);
        let before = match n {
            Some(n) => self.buffered.swap(n, Ordering::AcqRel),
            None => self.buffered.load(Ordering::Acquire),
        };
        self.unqueue(taken);
        let mark = self.high_water_mark.load(Ordering::Relaxed);
        if before + queued >= mark && !self.is_backpressured() {
            self.drained.notify_waiters();
        }
    }

    /// The session is gone: nothing is buffered or queued for it any more.
    pub(crate) fn set_ended(&self) {
        self.set_connected(false);
        self.set_session_id(None);
        self.buffered.store(0, Ordering::Release);
        self.queued.store(0, Ordering::Release);
        self.drained.notify_waiters();
    }

    /// Whether the messages in the send buffer and those pushed for it are at or above the
    /// high-water mark.
    pub(crate) fn is_backpressured(&self) -> bool {
        let pending = self.buffered.load(Ordering::Acquire) + self.queued.load(Ordering::Acquire);
        pending >= self.high_water_mark.load(Ordering::Relaxed)
    }

    /// Waits until the send buffer is below its high-water mark.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_backpressured() {
                return;
            }
            notified.await;
        }
    }
}

/// One session task as the registry knows it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) sender: SessionSender,
    /// Distinguishes this task from a later one under the same key.
    pub(crate) task: u64,
}

/// Counts a transport's live tasks, so closing can wait for every one to finish.
#[derive(Debug, Default)]
pub(crate) struct TaskCount {
    live: AtomicUsize,
    idle: Notify,
}

/// Held by a task for its whole life.
#[derive(Debug)]
pub(crate) struct TaskGuard(Arc<Registry>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.tasks.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.tasks.idle.notify_waiters();
        }
    }
}

/// How many ended sessions a server remembers (by client and session id), the oldest forgotten
/// first.
pub(crate) const ENDED_SESSIONS_REMEMBERED: usize = 8192;

/// The ids of sessions a server ended, so that a handshake for one is refused instead of
/// starting a new session under that id: a client that resumed it would resend calls the
/// ended session already ran, and would miss what the ended session had buffered for it,
/// without ever being told (RELIABILITY.md, "Random faults").
#[derive(Debug, Default)]
struct Ended {
    order: VecDeque<String>,
    set: HashSet<String>,
}

fn ended_key(client: &str, session: &str) -> String {
    format!("{}:{client}{session}", client.len())
}

/// The sessions of one transport.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    sessions: Mutex<HashMap<String, Entry>>,
    pending: Mutex<HashMap<u64, Entry>>,
    ended: Mutex<Ended>,
    next_task: AtomicU64,
    tasks: TaskCount,
    closed: AtomicBool,
}

impl Registry {
    /// A guard counting one more live task, and that task's number. `None` once closed.
    pub(crate) fn task(self: &Arc<Self>) -> Option<(TaskGuard, u64)> {
        self.tasks.live.fetch_add(1, Ordering::AcqRel);
        let guard = TaskGuard(Arc::clone(self));
        if self.is_closed() {
            return None;
        }
        Some((guard, self.next_task.fetch_add(1, Ordering::Relaxed) + 1))
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The sessions, for deciding on a handshake while nothing else changes them.
    pub(crate) fn sessions(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        lock(&self.sessions)
    }

    pub(crate) fn session(&self, peer: &str) -> Option<Entry> {
        lock(&self.sessions).get(peer).cloned()
    }

    /// Removes the entry of `peer` if it still belongs to task `task`.
    pub(crate) fn remove_session(&self, peer: &str, task: u64) {
        let mut sessions = lock(&self.sessions);
        if sessions.get(peer).is_some_and(|e| e.task == task) {
            sessions.remove(peer);
        }
    }

    /// Remembers that the session `session` with `client` has ended.
    pub(crate) fn remember_ended(&self, client: &str, session: &str) {
        let key = ended_key(client, session);
        let mut ended = lock(&self.ended);
        if ended.set.insert(key.clone()) {
            ended.order.push_back(key);
            if ended.order.len() > ENDED_SESSIONS_REMEMBERED
                && let Some(old) = ended.order.pop_front()
            {
                ended.set.remove(&old);
            }
        }
    }

    /// Whether the session `session` with `client` has ended (as far as it is remembered).
    pub(crate) fn has_ended(&self, client: &str, session: &str) -> bool {
        lock(&self.ended).set.contains(&ended_key(client, session))
    }

    pub(crate) fn add_pending(&self, entry: Entry) {
        lock(&self.pending).insert(entry.task, entry);
    }

    pub(crate) fn remove_pending(&self, task: u64) {
        lock(&self.pending).remove(&task);
    }

    /// Every task, in the order the tasks started, so what is sent to all of them (closing
    /// above all) reaches them in an order that does not depend on hashing.
    fn all(&self) -> Vec<Entry> {
        let mut all: Vec<Entry> = lock(&self.sessions).values().cloned().collect();
        all.extend(lock(&self.pending).values().cloned());
        all.sort_unstable_by_key(|e| e.task);
        all
    }

    /// Sends `command()` to every task.
    pub(crate) fn broadcast(&self, command: impl Fn() -> Command) {
        for entry in self.all() {
            let _ = entry.sender.command(command());
        }
    }

    // ----- queries both transports answer ------------------------------------------------

    pub(crate) fn session_id(&self, peer: &str) -> Option<String> {
        self.session(peer)?.sender.info().session_id()
    }

    pub(crate) fn metadata(&self, peer: &str) -> Option<Value> {
        self.session(peer)?.sender.info().metadata()
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.all()
            .iter()
            .filter(|e| e.sender.info().is_connected())
            .count()
    }

    /// What every session task says of its session now; tasks without one say nothing.
    pub(crate) async fn snapshots(&self) -> Vec<SessionSnapshot> {
        let replies: Vec<_> = self
            .all()
            .into_iter()
            .filter_map(|entry| {
                let (tx, rx) = oneshot::channel();
                entry.sender.command(Command::Inspect(tx)).ok().map(|()| rx)
            })
            .collect();
        let mut snapshots = Vec::with_capacity(replies.len());
        for reply in replies {
            if let Ok(snapshot) = reply.await {
                snapshots.push(snapshot);
            }
        }
        snapshots.sort_by(|a, b| (&a.peer, &a.session_id).cmp(&(&b.peer, &b.session_id)));
        snapshots
    }

    pub(crate) async fn wait_for_drain(&self, peer: &str) {
        let Some(entry) = self.session(peer) else {
            return;
        };
        entry.sender.info().drained().await;
    }

    /// Marks the transport closed (no task starts from now on), tells every task to close, and
    /// waits until all of them have finished.
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.broadcast(|| Command::Close);
        loop {
            let idle = self.tasks.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.tasks.live.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Tasks alive now (for tests that check nothing is left).
    pub(crate) fn live_tasks(&self) -> usize {
        self.tasks.live.load(Ordering::Acquire)
    }
}
