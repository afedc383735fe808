//! An observer sees a machine's entry, each transition in order, and its close, all tagged with
//! one machine id.

use std::sync::{Arc, Mutex};

use statebound::{MachineId, Observer, Step};

/// Records every step it sees, in order.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<Step>>);

impl Recorder {
    fn steps(&self) -> Vec<Step> {
        self.0.lock().unwrap().clone()
    }
}

impl Observer for Recorder {
    fn on_step(&self, step: &Step) {
        self.0.lock().unwrap().push(*step);
    }
}

#[statebound::machine]
mod lamp {
    use std::sync::{Arc, Mutex};

    /// Carried across states: a log shared with the observer, to check who runs first.
    #[context]
    #[derive(Debug, Default)]
    pub(crate) struct Wiring {
        pub(crate) log: Arc<Mutex<Vec<String>>>,
    }

    /// Off.
    #[state(exit = leave_off, close = close_off)]
    #[entry(plug)]
    #[transition(switch_on -> On)]
    #[derive(Debug)]
    pub(crate) struct Off;

    /// On.
    #[state(exit = leave_on, close = close_on)]
    #[entry(plug_lit)]
    #[transition(switch_off -> Off)]
    #[derive(Debug)]
    pub(crate) struct On;

    fn leave_off(_: &mut Off, w: &mut Wiring) {
        w.log.lock().unwrap().push("exit Off".to_owned());
    }

    #[allow(clippy::needless_pass_by_value)]
    fn close_off(_: Off, w: &mut Wiring) {
        w.log.lock().unwrap().push("close Off".to_owned());
    }

    fn leave_on(_: &mut On, w: &mut Wiring) {
        w.log.lock().unwrap().push("exit On".to_owned());
    }

    #[allow(clippy::needless_pass_by_value)]
    fn close_on(_: On, w: &mut Wiring) {
        w.log.lock().unwrap().push("close On".to_owned());
    }
}

fn entered(id: MachineId, role: &'static str, state: &'static str) -> Step {
    Step::Entered {
        machine: "lamp",
        id,
        role,
        state,
    }
}

fn moved(id: MachineId, from: &'static str, transition: &'static str, to: &'static str) -> Step {
    Step::Transitioned {
        machine: "lamp",
        id,
        from,
        to,
        transition,
    }
}

fn closed(id: MachineId, state: &'static str) -> Step {
    Step::Closed {
        machine: "lamp",
        id,
        state,
    }
}

#[test]
fn an_observer_sees_entry_every_transition_in_order_and_close() {
    let rec = Arc::new(Recorder::default());
    let off = lamp::Machine::plug_observed(lamp::Wiring::default(), lamp::Off, rec.clone());
    let id = off.id();
    assert_eq!(rec.steps(), [entered(id, "plug", "Off")]);

    let on = off.switch_on(|_| lamp::On);
    assert_eq!(on.id(), id, "the id survives transitions");
    let off = on.switch_off(|_| lamp::Off);
    let on = off.switch_on(|_| lamp::On);
    let _ = on.close();
    assert_eq!(
        rec.steps(),
        [
            entered(id, "plug", "Off"),
            moved(id, "Off", "switch_on", "On"),
            moved(id, "On", "switch_off", "Off"),
            moved(id, "Off", "switch_on", "On"),
            closed(id, "On"),
        ]
    );
    assert!(rec.steps().iter().all(|s| s.id() == id));
}

#[test]
fn an_observer_sees_the_close_when_the_machine_is_dropped() {
    let rec = Arc::new(Recorder::default());
    let on = lamp::Machine::plug_lit_observed(lamp::Wiring::default(), lamp::On, rec.clone());
    let id = on.id();
    let off = on.switch_off(|_| lamp::Off);
    drop(off);
    assert_eq!(
        rec.steps(),
        [
            entered(id, "plug_lit", "On"),
            moved(id, "On", "switch_off", "Off"),
            closed(id, "Off"),
        ]
    );
}

#[test]
fn an_observer_sees_the_close_when_an_any_state_is_dropped_or_closed() {
    let rec = Arc::new(Recorder::default());
    let a = lamp::Machine::plug_observed(lamp::Wiring::default(), lamp::Off, rec.clone());
    let b = lamp::Machine::plug_lit_observed(lamp::Wiring::default(), lamp::On, rec.clone());
    let (ida, idb) = (a.id(), b.id());
    let a = a.into_any();
    assert_eq!(a.id(), ida);
    drop(a);
    let _ = lamp::AnyState::from(b).close();
    assert_eq!(
        rec.steps(),
        [
            entered(ida, "plug", "Off"),
            entered(idb, "plug_lit", "On"),
            closed(ida, "Off"),
            closed(idb, "On"),
        ]
    );
}

#[test]
fn two_machines_have_different_ids_and_each_observer_sees_only_its_own() {
    let rec_a = Arc::new(Recorder::default());
    let rec_b = Arc::new(Recorder::default());
    let a = lamp::Machine::plug_observed(lamp::Wiring::default(), lamp::Off, rec_a.clone());
    let b = lamp::Machine::plug_observed(lamp::Wiring::default(), lamp::Off, rec_b.clone());
    assert_ne!(a.id(), b.id());
    let (ida, idb) = (a.id(), b.id());
    let b = b.switch_on(|_| lamp::On);
    drop(a);
    drop(b);
    assert_eq!(
        rec_a.steps(),
        [entered(ida, "plug", "Off"), closed(ida, "Off")]
    );
    assert_eq!(
        rec_b.steps(),
        [
            entered(idb, "plug", "Off"),
            moved(idb, "Off", "switch_on", "On"),
            closed(idb, "On"),
        ]
    );
}

#[test]
fn an_observer_installed_mid_life_sees_only_later_steps() {
    let rec = Arc::new(Recorder::default());
    let off = lamp::Machine::plug(lamp::Wiring::default(), lamp::Off);
    let id = off.id();
    let on = off.switch_on(|_| lamp::On);
    let on = on.with_observer(rec.clone());
    assert!(rec.steps().is_empty(), "installing is not a step");
    let off = on.switch_off(|_| lamp::Off);
    drop(off);
    assert_eq!(
        rec.steps(),
        [moved(id, "On", "switch_off", "Off"), closed(id, "Off")]
    );
}

#[test]
fn with_observer_replaces_the_previous_observer() {
    let first = Arc::new(Recorder::default());
    let second = Arc::new(Recorder::default());
    let off = lamp::Machine::plug_observed(lamp::Wiring::default(), lamp::Off, first.clone());
    let id = off.id();
    let off = off.with_observer(second.clone());
    let on = off.switch_on(|_| lamp::On);
    drop(on);
    assert_eq!(first.steps(), [entered(id, "plug", "Off")]);
    assert_eq!(
        second.steps(),
        [moved(id, "Off", "switch_on", "On"), closed(id, "On")]
    );
}

#[test]
fn a_closure_is_an_observer() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let observer: Arc<dyn Observer> = Arc::new({
        let seen = Arc::clone(&seen);
        move |step: &Step| {
            let line = match *step {
                Step::Entered { role, state, .. } => format!("enter {state} as {role}"),
                Step::Transitioned {
                    from,
                    to,
                    transition,
                    ..
                } => format!("{from} -{transition}-> {to}"),
                Step::Closed { state, .. } => format!("closed in {state}"),
            };
            seen.lock().unwrap().push(line);
        }
    });
    let off = lamp::Machine::plug_observed(lamp::Wiring::default(), lamp::Off, observer);
    let _ = off.switch_on(|_| lamp::On).close();
    assert_eq!(
        *seen.lock().unwrap(),
        ["enter Off as plug", "Off -switch_on-> On", "closed in On"]
    );
}

#[test]
fn the_observer_hears_of_a_step_after_its_hooks_ran() {
    let wiring = lamp::Wiring::default();
    let log = Arc::clone(&wiring.log);
    let observer: Arc<dyn Observer> = Arc::new({
        let log = Arc::clone(&log);
        move |step: &Step| {
            let line = match step {
                Step::Entered { .. } => "step entered",
                Step::Transitioned { .. } => "step transitioned",
                Step::Closed { .. } => "step closed",
            };
            log.lock().unwrap().push(line.to_owned());
        }
    });
    let off = lamp::Machine::plug_observed(wiring, lamp::Off, observer);
    drop(off.switch_on(|_| lamp::On));
    assert_eq!(
        *log.lock().unwrap(),
        [
            "step entered",
            "exit Off",
            "step transitioned",
            "close On",
            "step closed"
        ]
    );
}

#[test]
fn an_observer_sees_steps_taken_on_other_threads() {
    let rec = Arc::new(Recorder::default());
    let off = lamp::Machine::plug_observed(lamp::Wiring::default(), lamp::Off, rec.clone());
    let id = off.id();
    std::thread::spawn(move || drop(off.switch_on(|_| lamp::On)))
        .join()
        .unwrap();
    assert_eq!(
        rec.steps(),
        [
            entered(id, "plug", "Off"),
            moved(id, "Off", "switch_on", "On"),
            closed(id, "On"),
        ]
    );
}

/// A panic in a transition's `build` closure unwinds after the old state was left (its exit hook
/// ran) and before the new state exists, so there is no state to close. The observer hears
/// neither a transition nor a close: this test pins that, so a change to it is deliberate.
#[test]
fn a_panic_in_build_reports_neither_a_transition_nor_a_close() {
    let rec = Arc::new(Recorder::default());
    let wiring = lamp::Wiring::default();
    let log = Arc::clone(&wiring.log);
    let off = lamp::Machine::plug_observed(wiring, lamp::Off, rec.clone());
    let id = off.id();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        off.switch_on(|_| -> lamp::On { panic!("no bulb") })
    }));
    assert!(unwound.is_err());
    assert_eq!(rec.steps(), [entered(id, "plug", "Off")]);
    assert_eq!(*log.lock().unwrap(), ["exit Off"]);
}
