//! Handles: cheap, cloneable witnesses of one state's life.
//!
//! Every state value owns a *life*. A [`Handle`] shares that life, so it can find out at any time,
//! from any thread, whether the state that minted it is still the live one. Leaving the state (by
//! a transition or by closing the machine) seals the life: from then on every use of the handle
//! fails with [`StateConsumed`], and work guarded by the handle stops at its next poll.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What happened to a state that is no longer live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fate {
    /// The state was left by a transition.
    Transitioned {
        /// Name of the transition that was taken.
        transition: &'static str,
        /// Name of the state the machine moved to.
        to: &'static str,
    },
    /// The machine was closed while in this state (explicitly or by dropping it).
    Closed,
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fate::Transitioned { transition, to } => {
                write!(f, "it moved to `{to}` by transition `{transition}`")
            }
            Fate::Closed => f.write_str("the machine was closed in it"),
        }
    }
}

/// The error every use of a stale [`Handle`] returns.
///
/// It names the machine and the state that minted the handle, and what became of that state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateConsumed {
    /// Name of the machine (the annotated module).
    pub machine: &'static str,
    /// Name of the state that minted the handle.
    pub state: &'static str,
    /// What happened to that state.
    pub fate: Fate,
}

impl fmt::Display for StateConsumed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} state `{}` has been consumed and is no longer valid: {}",
            self.machine, self.state, self.fate
        )
    }
}

impl std::error::Error for StateConsumed {}

/// Unique id of one machine instance, kept across all of its transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MachineId(u64);

impl MachineId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        MachineId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[derive(Debug)]
pub(crate) struct Life {
    machine: &'static str,
    state: &'static str,
    id: MachineId,
    /// Fast path for `is_live`; `inner.fate` is the source of truth.
    sealed: AtomicBool,
    inner: Mutex<LifeInner>,
}

#[derive(Debug, Default)]
struct LifeInner {
    fate: Option<Fate>,
    next_key: u64,
    /// Wakers of guarded futures that wait on this life, keyed so each future keeps one entry.
    wakers: Vec<(u64, Waker)>,
}

impl Life {
    pub(crate) fn new(machine: &'static str, state: &'static str, id: MachineId) -> Arc<Self> {
        Arc::new(Life {
            machine,
            state,
            id,
            sealed: AtomicBool::new(false),
            inner: Mutex::new(LifeInner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LifeInner> {
        // The lock guards plain data that every writer leaves consistent, so a panic elsewhere
        // while it was held does not make it unusable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seals the life with `fate` and wakes every guarded future. Sealing twice keeps the first
    /// fate: a state is consumed once.
    pub(crate) fn seal(&self, fate: Fate) {
        let wakers = {
            let mut inner = self.lock();
            if inner.fate.is_some() {
                return;
            }
            inner.fate = Some(fate);
            self.sealed.store(true, Ordering::Release);
            core::mem::take(&mut inner.wakers)
        };
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    fn check(&self) -> Result<(), StateConsumed> {
        if !self.sealed.load(Ordering::Acquire) {
            return Ok(());
        }
        let fate = self.lock().fate.unwrap_or(Fate::Closed);
        Err(StateConsumed {
            machine: self.machine,
            state: self.state,
            fate,
        })
    }

    /// Registers `waker` under `key` (allocating a key on first use) unless the life is sealed.
    fn register(&self, key: &mut Option<u64>, waker: &Waker) -> Result<(), StateConsumed> {
        let mut inner = self.lock();
        if let Some(fate) = inner.fate {
            return Err(StateConsumed {
                machine: self.machine,
                state: self.state,
                fate,
            });
        }
        let k = *key.get_or_insert_with(|| {
            inner.next_key += 1;
            inner.next_key
        });
        match inner.wakers.iter_mut().find(|(wk, _)| *wk == k) {
            Some((_, old)) => old.clone_from(waker),
            None => inner.wakers.push((k, waker.clone())),
        }
        Ok(())
    }

    fn unregister(&self, key: u64) {
        self.lock().wakers.retain(|(k, _)| *k != key);
    }

    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.lock().wakers.len()
    }
}

/// A cheap, cloneable, `Send + Sync` witness of one state of one machine.
///
/// Mint one with `handle()` on a machine value. While that state is live, [`Handle::check`]
/// succeeds; once the machine leaves the state or is closed, every use fails with
/// [`StateConsumed`]. Timers, listeners and tasks that belong to a state should hold its handle:
/// when they report back, a stale handle says the report is from the past and must be dropped.
#[derive(Clone)]
pub struct Handle {
    life: Arc<Life>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("machine", &self.life.machine)
            .field("state", &self.life.state)
            .field("id", &self.life.id)
            .field("live", &self.is_live())
            .finish()
    }
}

impl Handle {
    pub(crate) fn new(life: Arc<Life>) -> Self {
        Handle { life }
    }

    /// Whether this handle was minted by the state that owns `life`.
    pub(crate) fn is_of(&self, life: &Arc<Life>) -> bool {
        Arc::ptr_eq(&self.life, life)
    }

    /// Name of the state that minted this handle.
    pub fn state(&self) -> &'static str {
        self.life.state
    }

    /// Name of the machine the state belongs to.
    pub fn machine(&self) -> &'static str {
        self.life.machine
    }

    /// Id of the machine instance the state belongs to.
    pub fn machine_id(&self) -> MachineId {
        self.life.id
    }

    /// Whether the minting state is still the live one.
    pub fn is_live(&self) -> bool {
        !self.life.sealed.load(Ordering::Acquire)
    }

    /// Succeeds while the minting state is live; afterwards says what became of it.
    pub fn check(&self) -> Result<(), StateConsumed> {
        self.life.check()
    }

    /// Whether two handles were minted by the same state of the same machine.
    pub fn same_state(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.life, &other.life)
    }

    /// Runs `f` if the minting state is still live.
    pub fn call<R>(&self, f: impl FnOnce() -> R) -> Result<R, StateConsumed> {
        self.check().map(|()| f())
    }

    /// Wraps `future` so that it is only polled while the minting state is live.
    ///
    /// The wrapped future resolves to `Ok` with the inner output, or to `Err` as soon as the state
    /// is left: leaving the state wakes it, and the inner future is never polled again (a poll
    /// already running on another thread finishes its step). Dropping the inner future is what
    /// cancels it, so timers and I/O it holds are released when the wrapper is dropped.
    pub fn guard<F: Future>(&self, future: F) -> Guarded<F> {
        Guarded {
            life: Arc::clone(&self.life),
            key: None,
            future: Box::pin(future),
        }
    }

    /// Spawns `future` on the current tokio runtime, guarded by this handle (see
    /// [`Handle::guard`]): the task ends at its next poll once the minting state is left.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime, as `tokio::spawn` does.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<Result<F::Output, StateConsumed>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(self.guard(future))
    }

    /// A timer owned by the minting state: resolves `Ok` after `duration` if the state is still
    /// live then, and `Err` as soon as the state is left.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn sleep(&self, duration: core::time::Duration) -> Guarded<tokio::time::Sleep> {
        self.guard(tokio::time::sleep(duration))
    }

    /// Like [`Handle::sleep`], until an instant.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn sleep_until(&self, deadline: tokio::time::Instant) -> Guarded<tokio::time::Sleep> {
        self.guard(tokio::time::sleep_until(deadline))
    }
}

/// A future that runs only while the state behind a [`Handle`] is live. See [`Handle::guard`].
#[must_use = "futures do nothing unless polled"]
pub struct Guarded<F> {
    life: Arc<Life>,
    key: Option<u64>,
    future: Pin<Box<F>>,
}

impl<F> fmt::Debug for Guarded<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("state", &self.life.state)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Guarded<F> {
    type Output = Result<F::Output, StateConsumed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Register before polling the inner future, so a seal that lands during the inner poll
        // still wakes this task and the next poll sees it.
        this.life.register(&mut this.key, cx.waker())?;
        match this.future.as_mut().poll(cx) {
            Poll::Ready(out) => {
                if let Some(key) = this.key.take() {
                    this.life.unregister(key);
                }
                Poll::Ready(Ok(out))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> Drop for Guarded<F> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.life.unregister(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn sealing_wakes_guarded_futures_and_they_stop() {
        let life = Life::new("m", "S", MachineId::next());
        let handle = Handle::new(Arc::clone(&life));
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let polled = Arc::new(AtomicBool::new(false));
        let p = Arc::clone(&polled);
        let mut fut = Box::pin(handle.guard(core::future::poll_fn(move |_| {
            p.store(true, Ordering::SeqCst);
            Poll::<()>::Pending
        })));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(
            life.waiting(),
            1,
            "one entry per future, however often it is polled"
        );
        polled.store(false, Ordering::SeqCst);
        life.seal(Fate::Closed);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(e.fate, Fate::Closed),
            other => panic!("expected the consumed error, got {other:?}"),
        }
        assert!(
            !polled.load(Ordering::SeqCst),
            "inner future polled after seal"
        );
        drop(fut);
        assert_eq!(life.waiting(), 0);
    }

    #[test]
    fn first_fate_wins() {
        let life = Life::new("m", "S", MachineId::next());
        life.seal(Fate::Transitioned {
            transition: "t",
            to: "T",
        });
        life.seal(Fate::Closed);
        let err = Handle::new(life).check().unwrap_err();
        assert_eq!(
            err.to_string(),
            "m state `S` has been consumed and is no longer valid: it moved to `T` by transition `t`"
        );
    }
}
