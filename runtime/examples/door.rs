//! A small machine walked through its transitions, each step printed by an observer, and its
//! graph printed as Mermaid.
//!
//! Run with `cargo run -p statebound --example door`.

use std::sync::Arc;

use statebound::{Observer, Step};

#[statebound::machine]
mod door {
    /// Carried by every state of a door.
    #[context]
    #[derive(Debug)]
    pub(crate) struct Door {
        /// How often it was opened.
        pub opened: u32,
    }

    /// Shut, not locked.
    #[state(exit = leave_shut)]
    #[entry(install)]
    #[transition(open -> Open)]
    #[transition(lock -> Locked)]
    #[derive(Debug)]
    pub(crate) struct Shut;

    /// Open since some tick.
    #[state]
    #[transition(shut -> Shut)]
    #[derive(Debug)]
    pub(crate) struct Open {
        /// The tick it opened at.
        pub since: u64,
    }

    /// Locked with a code.
    #[state(close = close_locked)]
    #[transition(unlock -> Shut)]
    #[derive(Debug)]
    pub(crate) struct Locked {
        /// The code that unlocks it.
        pub code: u32,
    }

    fn leave_shut(_state: &mut Shut, door: &mut Door) {
        door.opened += 1;
    }

    #[allow(
        clippy::needless_pass_by_value,
        reason = "close hooks own the state they end"
    )]
    fn close_locked(state: Locked, door: &mut Door) {
        println!(
            "  close hook: door locked with code {} after {} openings",
            state.code, door.opened
        );
    }
}

struct Print;

impl Observer for Print {
    fn on_step(&self, step: &Step) {
        match step {
            Step::Entered {
                role, state, id, ..
            } => println!("door {id}  enters {state} via `{role}`"),
            Step::Transitioned {
                from,
                to,
                transition,
                id,
                ..
            } => {
                println!("door {id}  {from} -> {to}  ({transition})");
            }
            Step::Closed { state, id, .. } => println!("door {id}  closed in {state}"),
        }
    }
}

fn main() {
    let shut =
        door::Machine::install_observed(door::Door { opened: 0 }, door::Shut, Arc::new(Print));
    let stale = shut.handle();
    let open = shut.open(|_| door::Open { since: 7 });
    println!(
        "  open since tick {}; opened {} time(s)",
        open.since,
        open.context().opened
    );
    println!(
        "  a handle from Shut now says: {}",
        stale.check().unwrap_err()
    );
    let shut = open.shut(|_| door::Shut);
    let locked = shut.lock(|_| door::Locked { code: 1234 });
    let ctx = locked.close();
    println!("  final context: {ctx:?}");
    println!();
    print!("{}", door::GRAPH.to_mermaid());
}
