//! `Slot`: a machine held in place, advanced by state, asked whether a handle is current; and
//! what happens when the closure that advances it panics.

use std::panic::{AssertUnwindSafe, catch_unwind};

use statebound::Slot;

#[statebound::machine]
mod lamp {
    /// A log of the hooks that ran.
    #[context]
    #[derive(Debug, Default)]
    pub(crate) struct Log {
        pub(crate) lines: Vec<&'static str>,
    }

    #[state(close = close_off)]
    #[entry(install)]
    #[transition(switch_on -> On)]
    #[derive(Debug)]
    pub(crate) struct Off;

    #[state(exit = leave_on, close = close_on)]
    #[transition(switch_off -> Off)]
    #[transition(burn_out -> Broken)]
    #[derive(Debug)]
    pub(crate) struct On {
        pub(crate) watts: u32,
    }

    #[state(transient)]
    #[transition(replace -> Off)]
    #[derive(Debug)]
    pub(crate) struct Broken;

    fn close_off(_: Off, log: &mut Log) {
        log.lines.push("close Off");
    }

    fn leave_on(_: &mut On, log: &mut Log) {
        log.lines.push("exit On");
    }

    fn close_on(_: On, log: &mut Log) {
        log.lines.push("close On");
    }
}

use lamp::{AnyState, Broken, Machine, Off, On};

fn slot() -> Slot<AnyState> {
    Slot::new(Machine::install(lamp::Log::default(), Off))
}

#[test]
fn advance_runs_only_in_the_state_the_closure_takes() {
    let mut slot = slot();
    let id = slot.get().map(AnyState::id);
    assert!(!slot.advance(|m: Machine<On>| m.switch_off(|_| Off)));
    assert_eq!(
        slot.name(),
        Some("Off"),
        "a refused advance leaves the machine as it was"
    );
    assert!(slot.advance(|m: Machine<Off>| m.switch_on(|_| On { watts: 60 })));
    assert_eq!(slot.name(), Some("On"));
    assert_eq!(
        slot.get().map(AnyState::id),
        id,
        "the same machine instance"
    );
    match slot.get() {
        Some(AnyState::On(on)) => assert_eq!(on.watts, 60),
        other => panic!("expected `On`, got {other:?}"),
    }
}

#[test]
fn the_closure_may_return_the_enum_for_a_choice_of_states() {
    let mut slot = slot();
    assert!(slot.advance(|m: Machine<Off>| m.switch_on(|_| On { watts: 2_000 })));
    assert!(slot.advance(|m: Machine<On>| {
        if m.watts > 1_000 {
            m.burn_out(|_| Broken).into_any()
        } else {
            m.into_any()
        }
    }));
    assert_eq!(slot.name(), Some("Broken"));
    // A transient state leaves by its transition, as everywhere else.
    assert!(slot.advance(|m: Machine<Broken>| m.replace(|_| Off)));
    assert_eq!(
        slot.context().map(|log| log.lines.clone()),
        Some(vec!["exit On"])
    );
}

#[test]
fn replace_with_sees_whichever_state_it_is() {
    let mut slot = slot();
    let step = |any: AnyState| match any {
        AnyState::Off(m) => m.switch_on(|_| On { watts: 5 }).into_any(),
        AnyState::On(m) => m.switch_off(|_| Off).into_any(),
        AnyState::Broken(m) => m.replace(|_| Off).into_any(),
    };
    assert!(slot.replace_with(step));
    assert_eq!(slot.name(), Some("On"));
    assert!(slot.replace_with(step));
    assert_eq!(slot.name(), Some("Off"));
    let mut empty: Slot<AnyState> = Slot::empty();
    assert!(!empty.replace_with(step));
}

#[test]
fn is_current_knows_the_handles_of_the_state_held_now() {
    let mut slot = slot();
    let off = slot.handle().expect("a machine is in the slot");
    assert!(slot.is_current(&off));
    assert!(slot.advance(|m: Machine<Off>| m.switch_on(|_| On { watts: 1 })));
    assert!(!slot.is_current(&off), "the handle's state was left");
    let on = slot.handle().expect("a machine is in the slot");
    assert!(slot.is_current(&on));

    // A handle of a live state of another machine is not this slot's.
    let other = Machine::install(lamp::Log::default(), Off);
    assert!(other.handle().is_live());
    assert!(!slot.is_current(&other.handle()));

    drop(slot.close());
    assert!(!slot.is_current(&on), "an empty slot has no current state");
}

#[test]
fn close_runs_the_close_hook_once_and_empties_the_slot() {
    let mut slot = slot();
    let log = slot.close().expect("the slot held a machine");
    assert_eq!(log.lines, ["close Off"]);
    assert!(slot.is_empty());
    assert!(slot.close().is_none(), "closing an empty slot does nothing");
    assert!(!slot.advance(|m: Machine<Off>| m.switch_on(|_| On { watts: 1 })));
    assert_eq!(slot.name(), None);
}

#[test]
fn a_panicking_closure_leaves_the_slot_empty_and_the_machine_closed() {
    let mut slot = slot();
    assert!(slot.advance(|m: Machine<Off>| m.switch_on(|_| On { watts: 3 })));
    let handle = slot.handle().expect("a machine is in the slot");
    let result = catch_unwind(AssertUnwindSafe(|| {
        slot.advance(|m: Machine<On>| -> Machine<Off> {
            let _keep = m;
            panic!("the step failed");
        })
    }));
    assert!(result.is_err());
    assert!(slot.is_empty());
    // The machine was dropped while unwinding, which closed it in `On`.
    assert_eq!(
        handle.check().map_err(|e| e.fate),
        Err(statebound::Fate::Closed)
    );
}

#[test]
fn take_replace_and_the_rest_of_the_container() {
    let mut slot: Slot<AnyState> = Slot::default();
    assert!(slot.is_empty());
    assert_eq!(format!("{slot:?}"), "Slot(<empty>)");
    assert!(
        slot.replace(Machine::install(lamp::Log::default(), Off))
            .is_none()
    );
    assert!(format!("{slot:?}").contains("Off"));
    if let Some(log) = slot.context_mut() {
        log.lines.push("note");
    }
    let taken = slot.take().expect("it was put in");
    assert!(slot.is_empty());
    let slot = Slot::from(taken);
    let any = slot.into_inner().expect("it was put in");
    assert_eq!(any.close().lines, ["note", "close Off"]);
}

#[test]
fn dropping_a_slot_closes_its_machine() {
    let slot = slot();
    let handle = slot.handle().expect("a machine is in the slot");
    drop(slot);
    assert_eq!(
        handle.check().map_err(|e| e.fate),
        Err(statebound::Fate::Closed)
    );
}
