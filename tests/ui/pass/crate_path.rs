//! Generated code reaches the runtime through the `crate = ..` path: here a re-export, as a
//! crate that wraps statebound (or depends on it under another name) would write it.

pub(crate) use ::statebound as sb;

#[sb::machine(crate = crate::sb)]
mod door {
    #[context]
    pub struct Door {
        pub opened: u32,
    }

    #[state(exit = count)]
    #[entry(install)]
    #[transition(open -> Open)]
    pub struct Shut;

    #[state]
    #[transition(shut -> Shut)]
    pub struct Open;

    fn count(_: &mut Shut, door: &mut Door) {
        door.opened += 1;
    }
}

fn main() {
    let mut slot: sb::Slot<door::AnyState> =
        sb::Slot::new(door::Machine::install(door::Door { opened: 0 }, door::Shut));
    assert!(slot.advance(|m: door::Machine<door::Shut>| m.open(|_| door::Open)));
    assert_eq!(slot.name(), Some("Open"));
    assert_eq!(slot.close().map(|d| d.opened), Some(1));
    assert!(door::GRAPH.to_mermaid().contains("Shut --> Open: open"));
}
