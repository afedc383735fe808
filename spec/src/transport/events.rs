//! Transport events and their subscribers.
//!
//! Every subscriber has a bounded queue. A session whose events do not fit waits for room
//! before it reads more from its connection, so a subscriber that falls behind slows the peers
//! whose events it is missing instead of growing a queue; timers and commands keep running
//! meanwhile. A subscriber is dropped from the list once its receiver is dropped.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::TransportEvent;

/// Events each subscriber may have waiting before the sessions emitting to it wait.
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

#[derive(Debug, Clone)]
struct Subscriber {
    tx: mpsc::Sender<TransportEvent>,
    /// Whether it gets [`TransportEvent::Message`] events.
    messages: bool,
}

impl Subscriber {
    fn wants(&self, event: &TransportEvent) -> bool {
        self.messages || !matches!(event, TransportEvent::Message { .. })
    }
}

/// A transport's subscribers, shared by its handle and its session tasks.
#[derive(Debug)]
pub(crate) struct Subscribers {
    list: RwLock<Arc<[Subscriber]>>,
    /// Bumped on every change of `list`, so emitters know when their copy is stale.
    generation: AtomicU64,
    /// How many subscribers there are, and how many take messages: when there are none,
    /// sessions build no events of that kind.
    count: AtomicUsize,
    taking_messages: AtomicUsize,
    capacity: usize,
}

impl Subscribers {
    pub(crate) fn new(capacity: usize) -> Self {
        Subscribers {
            list: RwLock::new(Arc::from(Vec::new())),
            generation: AtomicU64::new(0),
            count: AtomicUsize::new(0),
            taking_messages: AtomicUsize::new(0),
            capacity: capacity.max(1),
        }
    }

    /// A new subscriber; `messages` says whether it gets message events too.
    pub(crate) fn subscribe(&self, messages: bool) -> mpsc::Receiver<TransportEvent> {
        let (tx, rx) = mpsc::channel(self.capacity);
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        let mut next: Vec<Subscriber> =
            list.iter().filter(|s| !s.tx.is_closed()).cloned().collect();
        next.push(Subscriber { tx, messages });
        self.count.store(next.len(), Ordering::Relaxed);
        self.taking_messages.store(
            next.iter().filter(|s| s.messages).count(),
            Ordering::Relaxed,
        );
        *list = Arc::from(next);
        self.generation.fetch_add(1, Ordering::Release);
        rx
    }

    /// Whether anyone listens at all.
    pub(crate) fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Whether anyone takes message events.
    pub(crate) fn wants_messages(&self) -> bool {
        self.taking_messages.load(Ordering::Relaxed) > 0
    }

    fn snapshot(&self) -> (u64, Arc<[Subscriber]>) {
        let generation = self.generation.load(Ordering::Acquire);
        let list = Arc::clone(&self.list.read().unwrap_or_else(PoisonError::into_inner));
        (generation, list)
    }

    /// Gives `event` to every subscriber that has room now, and to the others once they do, in
    /// the background. For events emitted outside a session (the transport closing).
    pub(crate) fn emit_detached(&self, event: &TransportEvent) {
        let (_, list) = self.snapshot();
        for subscriber in list.iter().filter(|s| s.wants(event)) {
            match subscriber.tx.try_send(event.clone()) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    let tx = subscriber.tx.clone();
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        runtime.spawn(async move {
                            let _ = tx.send(event).await;
                        });
                    }
                }
            }
        }
    }
}

type Reserve = Pin<
    Box<
        dyn Future<Output = Result<mpsc::OwnedPermit<TransportEvent>, mpsc::error::SendError<()>>>
            + Send,
    >,
>;

/// One session's events on their way to the subscribers, in order.
#[derive(Default)]
pub(crate) struct Emitter {
    queue: VecDeque<TransportEvent>,
    generation: u64,
    list: Option<Arc<[Subscriber]>>,
    /// The subscriber of `list` the front event goes to next.
    next: usize,
    /// Waiting for room at subscriber `next`.
    waiting: Option<Reserve>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("queued", &self.queue.len())
            .field("waiting", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}

impl Emitter {
    /// Queues `event`; [`poll_emit`](Self::poll_emit) delivers it.
    pub(crate) fn push(&mut self, event: TransportEvent) {
        self.queue.push_back(event);
    }

    /// Whether events are waiting for a subscriber to make room.
    pub(crate) fn is_blocked(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Delivers queued events; `Ready` once every one is delivered.
    pub(crate) fn poll_emit(
        &mut self,
        cx: &mut Context<'_>,
        subscribers: &Subscribers,
    ) -> Poll<()> {
        while let Some(event) = self.queue.front() {
            if self.next == 0 && self.waiting.is_none() {
                let generation = subscribers.generation.load(Ordering::Acquire);
                if self.list.is_none() || generation != self.generation {
                    let (generation, list) = subscribers.snapshot();
                    self.generation = generation;
                    self.list = Some(list);
                }
            }
            let list = self.list.as_ref().map_or(&[][..], |l| &l[..]);
            while let Some(subscriber) = list.get(self.next) {
                if let Some(waiting) = self.waiting.as_mut() {
                    match waiting.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(permit) => {
                            self.waiting = None;
                            if let Ok(permit) = permit {
                                permit.send(event.clone());
                            }
                            self.next += 1;
                            continue;
                        }
                    }
                }
                if !subscriber.wants(event) {
                    self.next += 1;
                    continue;
                }
                match subscriber.tx.try_send(event.clone()) {
                    Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => self.next += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        self.waiting = Some(Box::pin(subscriber.tx.clone().reserve_owned()));
                    }
                }
            }
            self.queue.pop_front();
            self.next = 0;
        }
        Poll::Ready(())
    }

    /// Drops what could not be delivered (a transport closing past its subscribers' patience)
    /// and says how many events that was.
    pub(crate) fn abandon(&mut self) -> usize {
        self.waiting = None;
        self.next = 0;
        let n = self.queue.len();
        self.queue.clear();
        n
    }
}
