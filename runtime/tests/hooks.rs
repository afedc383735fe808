//! Exit and close hooks run exactly once: across transitions, on `close`, on drop (of a machine,
//! of an `AnyState`, on another thread), and when a transition's build closure panics.
//!
//! Every hook appends a line to a log shared through the context, so each test owns its log and
//! the tests can run in parallel.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::thread;

use statebound::{Fate, StateConsumed};

/// An append-only record of what hooks and destructors saw.
#[derive(Debug, Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    /// The name of the thread each close hook ran on.
    close_threads: Mutex<Vec<Option<String>>>,
}

impl Log {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
    }

    fn closed_on_this_thread(&self) {
        self.close_threads
            .lock()
            .unwrap()
            .push(std::thread::current().name().map(str::to_owned));
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn close_threads(&self) -> Vec<Option<String>> {
        self.close_threads.lock().unwrap().clone()
    }

    /// How many lines start with `prefix`.
    fn count(&self, prefix: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

/// Logs its own drop, to show a value is dropped exactly once (not leaked, not twice).
#[derive(Debug)]
struct DropToken {
    name: &'static str,
    log: Arc<Log>,
}

impl Drop for DropToken {
    fn drop(&mut self) {
        self.log.push(format!("drop {}", self.name));
    }
}

#[statebound::machine]
mod link {
    use super::{DropToken, Log};
    use std::sync::Arc;

    /// Carried across every state.
    #[context]
    #[derive(Debug)]
    pub(crate) struct Ctx {
        pub(crate) log: Arc<Log>,
        pub(crate) note: String,
        pub(crate) exits: u32,
        pub(crate) _token: Option<DropToken>,
    }

    /// Not connected.
    #[state(exit = leave_idle, close = close_idle)]
    #[entry(start)]
    #[transition(dial -> Dialing)]
    #[derive(Debug)]
    pub(crate) struct Idle {
        pub(crate) attempts: u32,
        pub(crate) _token: Option<DropToken>,
    }

    /// Dialing: must end in `Up` or back in `Idle`, but dropping it still closes the machine.
    #[state(exit = leave_dialing, close = close_dialing, transient)]
    #[transition(connected -> Up)]
    #[transition(fail -> Idle)]
    #[derive(Debug)]
    pub(crate) struct Dialing {
        pub(crate) addr: String,
    }

    /// Connected.
    #[state(exit = leave_up, close = close_up)]
    #[transition(hang_up -> Idle)]
    #[derive(Debug)]
    pub(crate) struct Up {
        pub(crate) peer: String,
        pub(crate) bytes: u64,
    }

    fn leave_idle(state: &mut Idle, ctx: &mut Ctx) {
        ctx.exits += 1;
        ctx.log.push(format!(
            "exit Idle attempts={} note={} exits={}",
            state.attempts, ctx.note, ctx.exits
        ));
        // Visible to the build closure, which runs after the exit hook.
        state.attempts += 100;
    }

    #[allow(clippy::needless_pass_by_value)]
    fn close_idle(state: Idle, ctx: &mut Ctx) {
        ctx.log.closed_on_this_thread();
        ctx.log.push(format!(
            "close Idle attempts={} note={} exits={}",
            state.attempts, ctx.note, ctx.exits
        ));
    }

    fn leave_dialing(state: &mut Dialing, ctx: &mut Ctx) {
        ctx.exits += 1;
        ctx.log.push(format!(
            "exit Dialing addr={} note={} exits={}",
            state.addr, ctx.note, ctx.exits
        ));
    }

    #[allow(clippy::needless_pass_by_value)]
    fn close_dialing(state: Dialing, ctx: &mut Ctx) {
        ctx.log.closed_on_this_thread();
        ctx.log.push(format!(
            "close Dialing addr={} note={} exits={}",
            state.addr, ctx.note, ctx.exits
        ));
    }

    fn leave_up(state: &mut Up, ctx: &mut Ctx) {
        ctx.exits += 1;
        ctx.log.push(format!(
            "exit Up peer={} bytes={} note={} exits={}",
            state.peer, state.bytes, ctx.note, ctx.exits
        ));
    }

    #[allow(clippy::needless_pass_by_value)]
    fn close_up(state: Up, ctx: &mut Ctx) {
        ctx.log.closed_on_this_thread();
        ctx.log.push(format!(
            "close Up peer={} bytes={} note={} exits={}",
            state.peer, state.bytes, ctx.note, ctx.exits
        ));
    }
}

fn start(log: &Arc<Log>) -> link::Machine<link::Idle> {
    link::Machine::start(
        link::Ctx {
            log: Arc::clone(log),
            note: "n0".to_owned(),
            exits: 0,
            _token: None,
        },
        link::Idle {
            attempts: 1,
            _token: None,
        },
    )
}

fn dial(idle: link::Machine<link::Idle>) -> link::Machine<link::Dialing> {
    idle.dial(|_| link::Dialing {
        addr: "a:1".to_owned(),
    })
}

fn up(dialing: link::Machine<link::Dialing>) -> link::Machine<link::Up> {
    dialing.connected(|d| link::Up {
        peer: d.addr,
        bytes: 0,
    })
}

#[test]
fn each_transition_runs_the_exit_hook_of_the_left_state_once_and_no_close_hook() {
    let log = Arc::new(Log::default());
    let idle = start(&log);
    assert!(log.lines().is_empty(), "entering runs no hook");

    let dialing = dial(idle);
    assert_eq!(log.lines(), ["exit Idle attempts=1 note=n0 exits=1"]);

    let connected = up(dialing);
    let idle = connected.hang_up(|_| link::Idle {
        attempts: 2,
        _token: None,
    });
    let dialing = dial(idle);
    let idle = dialing.fail(|_| link::Idle {
        attempts: 3,
        _token: None,
    });
    assert_eq!(
        log.lines(),
        [
            "exit Idle attempts=1 note=n0 exits=1",
            "exit Dialing addr=a:1 note=n0 exits=2",
            "exit Up peer=a:1 bytes=0 note=n0 exits=3",
            "exit Idle attempts=2 note=n0 exits=4",
            "exit Dialing addr=a:1 note=n0 exits=5",
        ]
    );
    assert_eq!(log.count("close"), 0, "no transition closes the machine");
    assert_eq!(
        idle.context().exits,
        5,
        "the context moved across every step"
    );
    std::mem::forget(idle.close());
}

#[test]
fn the_build_closure_sees_the_state_after_its_exit_hook() {
    let log = Arc::new(Log::default());
    let mut idle = start(&log);
    idle.attempts = 7;
    let mut seen = None;
    let dialing = idle.dial(|old| {
        seen = Some(old.attempts);
        link::Dialing {
            addr: format!("after {}", old.attempts),
        }
    });
    assert_eq!(
        seen,
        Some(107),
        "exit hook ran before build and its edit stuck"
    );
    assert_eq!(dialing.addr, "after 107");
    assert_eq!(log.lines(), ["exit Idle attempts=7 note=n0 exits=1"]);
    drop(dialing);
}

#[test]
fn explicit_close_runs_the_close_hook_once_and_no_exit_hook() {
    let log = Arc::new(Log::default());
    let mut idle = start(&log);
    idle.context_mut().note = "set-before-close".to_owned();
    idle.attempts = 9;
    let ctx = idle.close();
    assert_eq!(
        log.lines(),
        ["close Idle attempts=9 note=set-before-close exits=0"]
    );
    assert_eq!(ctx.note, "set-before-close", "close returns the context");
    drop(ctx);
    assert_eq!(
        log.lines().len(),
        1,
        "dropping the returned context closes nothing"
    );
}

#[test]
fn close_after_transitions_runs_only_the_current_states_close_hook() {
    let log = Arc::new(Log::default());
    let mut connected = up(dial(start(&log)));
    connected.bytes += 5;
    connected.context_mut().note = "late".to_owned();
    let ctx = connected.close();
    assert_eq!(
        log.lines(),
        [
            "exit Idle attempts=1 note=n0 exits=1",
            "exit Dialing addr=a:1 note=n0 exits=2",
            "close Up peer=a:1 bytes=5 note=late exits=2",
        ]
    );
    assert_eq!(ctx.exits, 2);
}

#[test]
fn dropping_a_machine_that_was_never_moved_runs_the_close_hook_once() {
    let log = Arc::new(Log::default());
    let mut idle = start(&log);
    idle.context_mut().note = "dropped".to_owned();
    drop(idle);
    assert_eq!(log.lines(), ["close Idle attempts=1 note=dropped exits=0"]);
}

#[test]
fn dropping_a_transient_state_still_closes_the_machine_once() {
    let log = Arc::new(Log::default());
    let dialing = dial(start(&log));
    drop(dialing);
    assert_eq!(log.count("exit"), 1);
    assert_eq!(log.count("close Dialing addr=a:1 note=n0 exits=1"), 1);
    assert_eq!(log.count("close"), 1);
}

#[test]
fn dropping_an_any_state_closes_the_machine_once() {
    let log = Arc::new(Log::default());
    let any: link::AnyState = up(dial(start(&log))).into();
    assert_eq!(any.name(), "Up");
    drop(any);
    assert_eq!(log.count("exit"), 2);
    assert_eq!(log.count("close Up peer=a:1 bytes=0"), 1);
    assert_eq!(log.count("close"), 1);
}

#[test]
fn any_state_close_runs_the_close_hook_once_even_for_a_transient_state() {
    let log = Arc::new(Log::default());
    let mut any = dial(start(&log)).into_any();
    any.context_mut().note = "via-any".to_owned();
    let ctx = any.close();
    assert_eq!(
        log.lines(),
        [
            "exit Idle attempts=1 note=n0 exits=1",
            "close Dialing addr=a:1 note=via-any exits=1",
        ]
    );
    assert_eq!(ctx.note, "via-any");
}

#[test]
fn any_state_round_trips_without_running_hooks() {
    let log = Arc::new(Log::default());
    let any = link::AnyState::from(start(&log));
    // The wrong state hands the enum back intact: nothing is closed.
    let any = link::Machine::<link::Up>::try_from(any).unwrap_err();
    assert_eq!(any.name(), "Idle");
    assert!(log.lines().is_empty(), "a failed conversion ran a hook");
    let idle = link::Machine::<link::Idle>::try_from(any).expect("it is `Idle`");
    assert!(log.lines().is_empty(), "a conversion ran a hook");
    drop(dial(idle));
    assert_eq!(log.count("exit Idle"), 1);
    assert_eq!(log.count("close Dialing"), 1);
    assert_eq!(log.lines().len(), 2);
}

#[test]
fn a_machine_moved_to_another_thread_closes_once_there() {
    let log = Arc::new(Log::default());
    let mut connected = up(dial(start(&log)));
    connected.bytes = 42;
    let worker = thread::Builder::new()
        .name("worker".to_owned())
        .spawn(move || drop(connected))
        .unwrap();
    worker.join().unwrap();
    assert_eq!(
        log.lines().last().map(String::as_str),
        Some("close Up peer=a:1 bytes=42 note=n0 exits=2")
    );
    assert_eq!(log.count("close"), 1);
    assert_eq!(log.close_threads(), [Some("worker".to_owned())]);
}

#[test]
fn an_any_state_moved_to_another_thread_closes_once_there() {
    let log = Arc::new(Log::default());
    let any = dial(start(&log)).into_any();
    thread::Builder::new()
        .name("other".to_owned())
        .spawn(move || drop(any))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(
        log.lines(),
        [
            "exit Idle attempts=1 note=n0 exits=1",
            "close Dialing addr=a:1 note=n0 exits=1",
        ]
    );
    assert_eq!(log.close_threads(), [Some("other".to_owned())]);
}

/// A panic inside `build` unwinds out of the transition after the old state was sealed and its
/// exit hook ran. What must hold: the exit hook ran once, the old handle reports the transition,
/// the old state's data and the context are each dropped exactly once, and no close hook runs at
/// all (the old state was already left, and the new one never existed).
#[test]
fn a_panic_in_build_runs_exit_once_seals_the_old_state_and_runs_no_close_hook() {
    let log = Arc::new(Log::default());
    let ctx = link::Ctx {
        log: Arc::clone(&log),
        note: "p".to_owned(),
        exits: 0,
        _token: Some(DropToken {
            name: "ctx",
            log: Arc::clone(&log),
        }),
    };
    let idle = link::Machine::start(
        ctx,
        link::Idle {
            attempts: 1,
            _token: Some(DropToken {
                name: "idle",
                log: Arc::clone(&log),
            }),
        },
    );
    let handle = idle.handle();
    let result = catch_unwind(AssertUnwindSafe(move || {
        idle.dial(|_old| -> link::Dialing { panic!("build failed") })
    }));
    let payload = result.expect_err("the panic propagates to the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"build failed"));

    let lines = log.lines();
    assert_eq!(lines[0], "exit Idle attempts=1 note=p exits=1");
    assert_eq!(log.count("exit"), 1);
    assert_eq!(log.count("close"), 0);
    assert_eq!(
        log.count("drop idle"),
        1,
        "the old state's data is dropped once"
    );
    assert_eq!(log.count("drop ctx"), 1, "the context is dropped once");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        handle.check(),
        Err(StateConsumed {
            machine: "link",
            state: "Idle",
            fate: Fate::Transitioned {
                transition: "dial",
                to: "Dialing",
            },
        })
    );
}

/// A panic in `build` on another thread behaves the same; the machine is gone with the thread.
#[test]
fn a_panic_in_build_on_another_thread_runs_no_hook_twice() {
    let log = Arc::new(Log::default());
    let idle = start(&log);
    let handle = idle.handle();
    let joined = thread::spawn(move || {
        let _ = idle.dial(|_| -> link::Dialing { panic!("boom") });
    })
    .join();
    assert!(joined.is_err());
    assert_eq!(log.lines(), ["exit Idle attempts=1 note=n0 exits=1"]);
    assert!(!handle.is_live());
}

#[statebound::machine]
mod bare {
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) static EXITS: AtomicUsize = AtomicUsize::new(0);
    pub(crate) static CLOSES: AtomicUsize = AtomicUsize::new(0);
    pub(crate) static LAST_CLOSED: AtomicUsize = AtomicUsize::new(0);

    /// First.
    #[state(exit = leave_a, close = close_a)]
    #[entry(begin)]
    #[transition(next -> B)]
    pub(crate) struct A(pub(crate) usize);

    /// Second.
    #[state(close = close_b)]
    pub(crate) struct B(pub(crate) usize);

    fn leave_a(a: &mut A) {
        EXITS.fetch_add(a.0, Ordering::SeqCst);
    }

    #[allow(clippy::needless_pass_by_value)]
    fn close_a(a: A) {
        CLOSES.fetch_add(1, Ordering::SeqCst);
        LAST_CLOSED.store(a.0, Ordering::SeqCst);
    }

    #[allow(clippy::needless_pass_by_value)]
    fn close_b(b: B) {
        CLOSES.fetch_add(1, Ordering::SeqCst);
        LAST_CLOSED.store(b.0, Ordering::SeqCst);
    }
}

/// The only test that uses `bare`, so its static counters are not shared with another test.
#[test]
fn hooks_of_a_machine_without_context_run_once_each() {
    use std::sync::atomic::Ordering::SeqCst;

    let a = bare::Machine::begin(bare::A(3));
    let b = a.next(|a| bare::B(a.0 + 1));
    assert_eq!(
        bare::EXITS.load(SeqCst),
        3,
        "exit hook ran once, with A's data"
    );
    assert_eq!(bare::CLOSES.load(SeqCst), 0);
    let () = b.close();
    assert_eq!(bare::CLOSES.load(SeqCst), 1);
    assert_eq!(bare::LAST_CLOSED.load(SeqCst), 4);

    drop(bare::Machine::begin(bare::A(11)));
    assert_eq!(bare::EXITS.load(SeqCst), 3);
    assert_eq!(bare::CLOSES.load(SeqCst), 2);
    assert_eq!(bare::LAST_CLOSED.load(SeqCst), 11);
}
