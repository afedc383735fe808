//! The timers of the current state: a few entries and one sleep for the earliest.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use statebound::Handle;
use tokio::time::{Instant, Sleep};

use super::TimerKind;

/// One armed timer, tagged with the state that armed it.
#[derive(Debug)]
struct Armed {
    kind: TimerKind,
    at: Instant,
    /// Periodic timers come due again this long after each firing.
    every: Option<Duration>,
    owner: Handle,
}

/// The current state's timers. A state arms at most three, so finding the earliest is a scan;
/// the sleep is allocated once per session and moved to each new earliest deadline.
#[derive(Debug, Default)]
pub(super) struct Timers {
    armed: Vec<Armed>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The deadline the sleep was last left waiting for, and the waker it holds: while neither
    /// changes and the sleep has not elapsed, polling it again would only register the same
    /// waker again.
    waiting: Option<(Instant, Waker)>,
}

impl Timers {
    /// Disarms every timer.
    pub(super) fn clear(&mut self) {
        self.armed.clear();
        self.waiting = None;
    }

    /// Lets go of the sleep, which belongs to the runtime it was made on: the next poll makes
    /// one on the runtime polling it. The timers stay armed.
    pub(super) fn rehome(&mut self) {
        self.sleep = None;
        self.waiting = None;
    }

    /// Disarms the timers of `kind`.
    pub(super) fn disarm(&mut self, kind: TimerKind) {
        let before = self.armed.len();
        self.armed.retain(|a| a.kind != kind);
        if self.armed.len() != before {
            self.waiting = None;
        }
    }

    /// Arms a timer that comes due at `at` (and, with `every`, again after each firing).
    pub(super) fn arm(
        &mut self,
        owner: &Handle,
        kind: TimerKind,
        at: Instant,
        every: Option<Duration>,
    ) {
        self.armed.push(Armed {
            kind,
            at,
            every,
            owner: owner.clone(),
        });
    }

    /// How many timers are armed.
    pub(super) fn len(&self) -> usize {
        self.armed.len()
    }

    /// The earliest timer, once it is due: its kind and the handle of the state that armed it.
    /// A one-shot timer is disarmed as it fires; a periodic one moves to its next time. Timers
    /// due at the same instant fire in the order they were armed.
    pub(super) fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<(TimerKind, Handle)> {
        let Some((index, at)) = self
            .armed
            .iter()
            .enumerate()
            .min_by_key(|(i, a)| (a.at, *i))
            .map(|(i, a)| (i, a.at))
        else {
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if let Some((deadline, waker)) = &self.waiting
            && *deadline == at
            && waker.will_wake(cx.waker())
            && !sleep.is_elapsed()
        {
            return Poll::Pending;
        }
        if sleep.deadline() != at {
            sleep.as_mut().reset(at);
        }
        if sleep.as_mut().poll(cx).is_pending() {
            self.waiting = Some((at, cx.waker().clone()));
            return Poll::Pending;
        }
        self.waiting = None;
        let armed = &mut self.armed[index];
        let fired = (armed.kind, armed.owner.clone());
        match armed.every {
            Some(every) => {
                let now = Instant::now();
                armed.at += every;
                if armed.at <= now {
                    armed.at = now + every;
                }
            }
            None => {
                self.armed.remove(index);
            }
        }
        Poll::Ready(fired)
    }
}
