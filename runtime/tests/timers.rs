//! Timers and tasks owned by a state stop when it exits. All on paused tokio time: nothing here
//! waits on the wall clock.
//!
//! Needs the `tokio` feature: run with `cargo test -p statebound --all-features`.
#![cfg(feature = "tokio")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use statebound::{Fate, StateConsumed};
use tokio::time::{Instant, sleep};

#[statebound::machine]
mod conn {
    /// Waiting for the peer.
    #[state]
    #[entry(connect)]
    #[transition(ready -> Ready)]
    #[derive(Debug)]
    pub(crate) struct Waiting;

    /// Talking to the peer.
    #[state]
    #[derive(Debug)]
    pub(crate) struct Ready;
}

const WAITING_LEFT: StateConsumed = StateConsumed {
    machine: "conn",
    state: "Waiting",
    fate: Fate::Transitioned {
        transition: "ready",
        to: "Ready",
    },
};

const WAITING_CLOSED: StateConsumed = StateConsumed {
    machine: "conn",
    state: "Waiting",
    fate: Fate::Closed,
};

const SECOND: Duration = Duration::from_secs(1);

/// Sets its flag when dropped: shows that a cancelled task's future was dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_state_timer_fails_when_the_state_transitions_before_its_deadline() {
    let start = Instant::now();
    let waiting = conn::Machine::connect(conn::Waiting);
    let timer = waiting.handle().sleep(10 * SECOND);
    let fired = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn({
        let fired = Arc::clone(&fired);
        async move {
            let out = timer.await;
            if out.is_ok() {
                fired.fetch_add(1, Ordering::SeqCst);
            }
            (out, Instant::now())
        }
    });

    sleep(5 * SECOND).await;
    let ready = waiting.ready(|_| conn::Ready);
    let (out, resolved_at) = task.await.unwrap();
    assert_eq!(out, Err(WAITING_LEFT));
    assert_eq!(
        resolved_at - start,
        5 * SECOND,
        "resolved when the state was left, not at the deadline"
    );

    sleep(20 * SECOND).await;
    assert_eq!(fired.load(Ordering::SeqCst), 0);
    drop(ready);
}

#[tokio::test(start_paused = true)]
async fn the_continuation_of_a_cancelled_sleep_never_runs() {
    let waiting = conn::Machine::connect(conn::Waiting);
    let handle = waiting.handle();
    let continued = Arc::new(AtomicUsize::new(0));
    let task = handle.spawn({
        let continued = Arc::clone(&continued);
        async move {
            sleep(10 * SECOND).await;
            continued.fetch_add(1, Ordering::SeqCst);
        }
    });

    sleep(5 * SECOND).await;
    let ready = waiting.ready(|_| conn::Ready);
    sleep(60 * SECOND).await;
    assert_eq!(continued.load(Ordering::SeqCst), 0);
    assert!(task.is_finished(), "the task ended once its state was left");
    assert_eq!(task.await.unwrap(), Err(WAITING_LEFT));
    drop(ready);
}

#[tokio::test(start_paused = true)]
async fn a_spawned_ticker_stops_ticking_once_its_state_exits() {
    let waiting = conn::Machine::connect(conn::Waiting);
    let ticks = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let task = waiting.handle().spawn({
        let ticks = Arc::clone(&ticks);
        let on_drop = SetOnDrop(Arc::clone(&dropped));
        async move {
            let _on_drop = on_drop;
            loop {
                sleep(SECOND).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        }
    });

    sleep(Duration::from_millis(3500)).await;
    assert_eq!(ticks.load(Ordering::SeqCst), 3);
    assert!(!task.is_finished());

    let ready = waiting.ready(|_| conn::Ready);
    sleep(10 * SECOND).await;
    assert_eq!(
        ticks.load(Ordering::SeqCst),
        3,
        "no tick after the state exited"
    );
    assert_eq!(task.await.unwrap(), Err(WAITING_LEFT));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the task's future was dropped"
    );
    drop(ready);
}

#[tokio::test(start_paused = true)]
async fn a_spawned_task_is_cancelled_when_its_machine_is_dropped() {
    let waiting = conn::Machine::connect(conn::Waiting);
    let ticks = Arc::new(AtomicUsize::new(0));
    let task = waiting.handle().spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                sleep(SECOND).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    sleep(Duration::from_millis(1500)).await;
    drop(waiting);
    sleep(10 * SECOND).await;
    assert_eq!(ticks.load(Ordering::SeqCst), 1);
    assert_eq!(task.await.unwrap(), Err(WAITING_CLOSED));
}

#[tokio::test(start_paused = true)]
async fn a_spawned_task_that_finishes_while_live_returns_its_output() {
    let waiting = conn::Machine::connect(conn::Waiting);
    let task = waiting.handle().spawn(async {
        sleep(2 * SECOND).await;
        "done"
    });
    assert_eq!(task.await.unwrap(), Ok("done"));
    drop(waiting);
}

#[tokio::test(start_paused = true)]
async fn a_timer_of_a_live_state_fires_exactly_at_its_deadline() {
    let start = Instant::now();
    let waiting = conn::Machine::connect(conn::Waiting);
    let handle = waiting.handle();

    assert_eq!(handle.sleep(10 * SECOND).await, Ok(()));
    assert_eq!(Instant::now(), start + 10 * SECOND);

    let deadline = start + 25 * SECOND;
    assert_eq!(handle.sleep_until(deadline).await, Ok(()));
    assert_eq!(Instant::now(), deadline);
    assert!(handle.is_live());
    drop(waiting);
}

#[tokio::test(start_paused = true)]
async fn the_new_states_timer_is_unaffected_by_the_old_states_exit() {
    let start = Instant::now();
    let waiting = conn::Machine::connect(conn::Waiting);
    let old = tokio::spawn(waiting.handle().sleep(10 * SECOND));
    sleep(SECOND).await;
    let ready = waiting.ready(|_| conn::Ready);
    let new = ready.handle().sleep(10 * SECOND);
    assert_eq!(old.await.unwrap(), Err(WAITING_LEFT));
    assert_eq!(new.await, Ok(()));
    assert_eq!(Instant::now(), start + 11 * SECOND);
    drop(ready);
}

#[tokio::test(start_paused = true)]
async fn a_timer_from_a_stale_handle_fails_at_once() {
    let start = Instant::now();
    let waiting = conn::Machine::connect(conn::Waiting);
    let handle = waiting.handle();
    waiting.close();
    assert_eq!(handle.sleep(10 * SECOND).await, Err(WAITING_CLOSED));
    assert_eq!(
        handle
            .sleep_until(start + 10 * SECOND)
            .await
            .unwrap_err()
            .fate,
        Fate::Closed
    );
    assert_eq!(Instant::now(), start, "no time passed");
}
