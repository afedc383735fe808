//! Handles refuse to act once the state that minted them is gone: after a transition, a close or
//! a drop, on any thread, and for futures guarded by them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use statebound::{Fate, Handle, StateConsumed};

#[statebound::machine]
mod door {
    use statebound::Handle;

    /// Carried by every state.
    #[context]
    #[derive(Debug, Default)]
    pub(crate) struct Door {
        /// A handle the test stores so that hooks can look at it.
        pub(crate) stored: Option<Handle>,
        /// What `stored.check()` said inside each hook.
        pub(crate) seen_in_hooks: Vec<Result<(), statebound::StateConsumed>>,
    }

    /// Shut.
    #[state(exit = leave_shut, close = close_shut)]
    #[entry(install)]
    #[transition(open -> Open)]
    #[derive(Debug)]
    pub(crate) struct Shut;

    /// Open.
    #[state(close = close_open)]
    #[transition(shut -> Shut)]
    #[derive(Debug)]
    pub(crate) struct Open {
        pub(crate) width: u32,
    }

    fn leave_shut(_: &mut Shut, door: &mut Door) {
        let seen = door.stored.as_ref().map_or(Ok(()), Handle::check);
        door.seen_in_hooks.push(seen);
    }

    #[allow(clippy::needless_pass_by_value)]
    fn close_shut(_: Shut, door: &mut Door) {
        let seen = door.stored.as_ref().map_or(Ok(()), Handle::check);
        door.seen_in_hooks.push(seen);
    }

    #[allow(clippy::needless_pass_by_value)]
    fn close_open(_: Open, door: &mut Door) {
        let seen = door.stored.as_ref().map_or(Ok(()), Handle::check);
        door.seen_in_hooks.push(seen);
    }
}

fn install() -> door::Machine<door::Shut> {
    door::Machine::install(door::Door::default(), door::Shut)
}

fn open(shut: door::Machine<door::Shut>) -> door::Machine<door::Open> {
    shut.open(|_| door::Open { width: 3 })
}

const OPENED: StateConsumed = StateConsumed {
    machine: "door",
    state: "Shut",
    fate: Fate::Transitioned {
        transition: "open",
        to: "Open",
    },
};

const SHUT_CLOSED: StateConsumed = StateConsumed {
    machine: "door",
    state: "Shut",
    fate: Fate::Closed,
};

#[test]
fn handles_are_send_sync_clone_and_their_error_is_a_std_error() {
    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    send_sync_clone::<Handle>();
    send_sync_clone::<StateConsumed>();
    error::<StateConsumed>();
}

#[test]
fn a_handle_is_live_until_its_state_is_left() {
    let shut = install();
    let handle = shut.handle();
    assert!(handle.is_live());
    assert_eq!(handle.check(), Ok(()));
    assert_eq!(handle.state(), "Shut");
    assert_eq!(handle.machine(), "door");
    assert_eq!(handle.machine_id(), shut.id());
    drop(open(shut));
}

#[test]
fn a_handle_fails_after_a_transition_naming_the_state_and_the_transition() {
    let shut = install();
    let handle = shut.handle();
    let clone = handle.clone();
    let opened = open(shut);
    assert!(!handle.is_live());
    assert_eq!(handle.check(), Err(OPENED));
    assert_eq!(clone.check(), Err(OPENED), "clones share the state's fate");
    assert_eq!(
        handle.check().unwrap_err().to_string(),
        "door state `Shut` has been consumed and is no longer valid: it moved to `Open` by \
         transition `open`"
    );
    drop(opened);
    assert_eq!(
        handle.check(),
        Err(OPENED),
        "the first fate stays: closing the machine later does not rewrite it"
    );
}

#[test]
fn a_handle_fails_after_close_with_fate_closed() {
    let shut = install();
    let handle = shut.handle();
    let _ = shut.close();
    assert_eq!(handle.check(), Err(SHUT_CLOSED));
    assert_eq!(
        handle.check().unwrap_err().to_string(),
        "door state `Shut` has been consumed and is no longer valid: the machine was closed in it"
    );
}

#[test]
fn a_handle_fails_after_its_machine_is_dropped() {
    let shut = install();
    let handle = shut.handle();
    drop(shut);
    assert_eq!(handle.check(), Err(SHUT_CLOSED));

    let any = open(install()).into_any();
    let handle = any.handle();
    drop(any);
    assert_eq!(
        handle.check(),
        Err(StateConsumed {
            machine: "door",
            state: "Open",
            fate: Fate::Closed,
        })
    );
}

#[test]
fn a_handle_from_any_state_fails_after_any_state_close() {
    let any = door::AnyState::from(install());
    let handle = any.handle();
    assert_eq!(handle.state(), "Shut");
    let _ = any.close();
    assert_eq!(handle.check(), Err(SHUT_CLOSED));
}

#[test]
fn a_handle_minted_by_the_new_state_is_live() {
    let shut = install();
    let old = shut.handle();
    let opened = open(shut);
    let new = opened.handle();
    assert_eq!(opened.width, 3, "the new state holds the data `build` made");
    assert!(new.is_live());
    assert_eq!(new.check(), Ok(()));
    assert_eq!(new.state(), "Open");
    assert_eq!(new.machine_id(), old.machine_id(), "same machine instance");
    assert!(old.check().is_err());

    let shut = opened.shut(|_| door::Shut);
    assert_eq!(
        new.check(),
        Err(StateConsumed {
            machine: "door",
            state: "Open",
            fate: Fate::Transitioned {
                transition: "shut",
                to: "Shut",
            },
        })
    );
    let again = shut.handle();
    assert!(
        again.is_live(),
        "returning to `Shut` makes a fresh live state"
    );
    assert!(
        !again.same_state(&old),
        "a second visit to `Shut` is a different state value"
    );
    assert_eq!(old.check(), Err(OPENED), "the old visit stays consumed");
}

#[test]
fn same_state_compares_the_minting_state_value() {
    let shut = install();
    let a = shut.handle();
    let b = shut.handle();
    assert!(a.same_state(&b));
    assert!(a.same_state(&a.clone()));

    let other = install();
    assert!(
        !a.same_state(&other.handle()),
        "same state name, different machine"
    );

    let any = shut.into_any();
    assert!(
        a.same_state(&any.handle()),
        "wrapping in the enum keeps the state"
    );
    let shut = door::Machine::<door::Shut>::try_from(any).unwrap();
    let opened = open(shut);
    assert!(!a.same_state(&opened.handle()));
    assert!(
        a.same_state(&b),
        "still the same (consumed) state after the transition"
    );
}

#[test]
fn call_runs_the_closure_only_while_live() {
    let runs = AtomicUsize::new(0);
    let shut = install();
    let handle = shut.handle();
    assert_eq!(
        handle.call(|| runs.fetch_add(1, Ordering::SeqCst) + 10),
        Ok(10)
    );
    let opened = open(shut);
    assert_eq!(
        handle.call(|| runs.fetch_add(1, Ordering::SeqCst)),
        Err(OPENED)
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the closure ran once, while live"
    );
    drop(opened);
}

#[test]
fn a_cloned_handle_fails_on_another_thread_after_the_transition() {
    let shut = install();
    let handle = shut.handle();
    let opened = open(shut);
    let clone = handle.clone();
    let seen = thread::spawn(move || (clone.is_live(), clone.check()))
        .join()
        .unwrap();
    assert_eq!(seen, (false, Err(OPENED)));
    drop(opened);
}

#[test]
fn a_handle_sent_before_the_transition_sees_it_from_the_other_thread() {
    let shut = install();
    let handle = shut.handle();
    let (to_worker, worker_rx) = mpsc::channel::<()>();
    let (to_main, main_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        // Before: the state is live.
        to_main.send(handle.check()).unwrap();
        worker_rx.recv().unwrap();
        // After: the main thread transitioned it.
        let ran = handle.call(|| ()).is_ok();
        (handle.check(), ran)
    });
    assert_eq!(main_rx.recv().unwrap(), Ok(()));
    let opened = open(shut);
    to_worker.send(()).unwrap();
    assert_eq!(worker.join().unwrap(), (Err(OPENED), false));
    drop(opened);
}

#[test]
fn hooks_run_after_the_state_is_sealed() {
    // Exit hook: the transition has sealed the state before the hook runs.
    let mut shut = install();
    let handle = shut.handle();
    shut.context_mut().stored = Some(handle);
    let opened = open(shut);
    assert_eq!(opened.context().seen_in_hooks, [Err(OPENED)]);

    // Close hook: likewise, `close` seals before the hook runs.
    let mut shut = install();
    let handle = shut.handle();
    shut.context_mut().stored = Some(handle);
    let door = shut.close();
    assert_eq!(door.seen_in_hooks, [Err(SHUT_CLOSED)]);
}

/// Counts wake-ups, so manual polling can tell whether a guarded future was woken.
struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future that never completes and counts its polls.
struct Never<'a>(&'a AtomicUsize);

impl Future for Never<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Poll::Pending
    }
}

#[test]
fn a_guarded_future_is_woken_and_fails_as_soon_as_the_state_closes() {
    let woken = Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    let polls = AtomicUsize::new(0);

    let shut = install();
    let mut guarded = shut.handle().guard(Never(&polls));
    assert!(Pin::new(&mut guarded).poll(&mut cx).is_pending());
    assert!(Pin::new(&mut guarded).poll(&mut cx).is_pending());
    assert_eq!(polls.load(Ordering::SeqCst), 2);
    assert_eq!(woken.0.load(Ordering::SeqCst), 0);

    let _ = shut.close();
    assert_eq!(
        woken.0.load(Ordering::SeqCst),
        1,
        "closing the state woke the guarded future once"
    );
    assert_eq!(
        Pin::new(&mut guarded).poll(&mut cx),
        Poll::Ready(Err(SHUT_CLOSED))
    );
    assert_eq!(
        polls.load(Ordering::SeqCst),
        2,
        "the inner future is not polled once the state is gone"
    );
}

#[test]
fn a_guarded_future_fails_as_soon_as_the_state_transitions() {
    let woken = Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    let polls = AtomicUsize::new(0);

    let shut = install();
    let mut guarded = shut.handle().guard(Never(&polls));
    assert!(Pin::new(&mut guarded).poll(&mut cx).is_pending());
    let opened = open(shut);
    assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    assert_eq!(
        Pin::new(&mut guarded).poll(&mut cx),
        Poll::Ready(Err(OPENED))
    );
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    drop(opened);
}

#[test]
fn a_future_guarded_by_a_stale_handle_fails_without_being_polled() {
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let polls = AtomicUsize::new(0);
    let shut = install();
    let handle = shut.handle();
    drop(shut);
    let mut guarded = handle.guard(Never(&polls));
    assert_eq!(
        Pin::new(&mut guarded).poll(&mut cx),
        Poll::Ready(Err(SHUT_CLOSED))
    );
    assert_eq!(polls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_guarded_future_that_completes_while_live_returns_its_output() {
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let shut = install();
    let mut guarded = shut.handle().guard(async { 41 + 1 });
    assert_eq!(Pin::new(&mut guarded).poll(&mut cx), Poll::Ready(Ok(42)));
    drop(shut);
}

#[test]
fn a_guarded_future_polled_on_another_thread_is_woken_by_a_transition_here() {
    let shut = install();
    let guarded = shut.handle().guard(std::future::pending::<()>());
    let (woken, mut guarded) = thread::spawn(move || {
        let woken = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&woken));
        let mut guarded = guarded;
        let first = Pin::new(&mut guarded).poll(&mut Context::from_waker(&waker));
        assert!(first.is_pending());
        (woken, guarded)
    })
    .join()
    .unwrap();
    assert_eq!(woken.0.load(Ordering::SeqCst), 0);
    let opened = open(shut);
    assert_eq!(
        woken.0.load(Ordering::SeqCst),
        1,
        "the waker registered on the other thread was woken"
    );
    assert_eq!(
        Pin::new(&mut guarded).poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(Err(OPENED))
    );
    drop(opened);
}
